/*
 * spool: the writer's write-ahead spool in SQLite. Every batch is committed
 * here before it is sent to InfluxDB and deleted after InfluxDB took it, so
 * that an outage or a crash costs nothing but time. Batches that InfluxDB
 * refuses for good go to the dead-letter table with the server's reason.
 */
#ifndef WRITER_SPOOL_H
#define WRITER_SPOOL_H

#include <stddef.h>
#include <stdint.h>

#include "hb_util.h"

struct spool;

struct spool_batch {
	int64_t id;
	int64_t created_ms;
	int64_t points;
	int attempts;		/* failed sends so far */
	struct hb_buf body;	/* line protocol, one line per point */
};

/* Opens or creates the spool; NULL with a message naming the file in err. */
struct spool *hb_spool_open(const char *path, char *err, size_t errlen);
void hb_spool_close(struct spool *sp);

/* Commits a batch; returns its id, or -1 (logged) if SQLite failed. */
int64_t hb_spool_commit(struct spool *sp, const char *body, size_t len,
    int64_t points);
/*
 * The same, taking the body: *body is committed, kept in memory until first
 * sent, and replaced by an empty buffer.
 */
int64_t hb_spool_commit_buf(struct spool *sp, struct hb_buf *body,
    int64_t points);
/*
 * Loads the oldest batch with id > after into *out (body appended to an empty
 * buffer the caller frees). Returns 1 if found, 0 if none, -1 on error.
 */
int hb_spool_next(struct spool *sp, int64_t after, struct spool_batch *out);
/* Removes a batch that InfluxDB took (or that was dead-lettered). */
int hb_spool_delete(struct spool *sp, int64_t id);
/* Replaces a batch's body (after bad lines were taken out). */
int hb_spool_replace(struct spool *sp, int64_t id, const char *body, size_t len,
    int64_t points);
/* Splits a batch in two batches (413); the halves get new ids. */
int hb_spool_split(struct spool *sp, int64_t id, const char *body, size_t len,
    size_t cut, int64_t points_first, int64_t points_second);
int hb_spool_note_attempt(struct spool *sp, int64_t id);

/*
 * Drops the oldest batches (never those in `keep`, ids of batches in flight)
 * until the spool is under max_bytes. Reports what was dropped.
 */
void hb_spool_enforce_cap(struct spool *sp, int64_t max_bytes,
    const int64_t *keep, size_t nkeep, int64_t *dropped_batches,
    int64_t *dropped_points);

/* Stores refused lines with the server's reason and status. */
int hb_spool_dead_letter(struct spool *sp, const char *body, size_t len,
    int64_t points, int status, const char *reason);

int64_t hb_spool_batches(const struct spool *sp);
int64_t hb_spool_points(const struct spool *sp);
int64_t hb_spool_bytes(const struct spool *sp);
int64_t hb_spool_dead_letters(struct spool *sp);
/* Creation time of the oldest batch waiting, or 0. */
int64_t hb_spool_oldest_ms(struct spool *sp);

#endif
