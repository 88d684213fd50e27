/*
 * spool: the writer's spool in SQLite. A batch is committed here before it
 * is sent to InfluxDB, or staged (kept in memory and sent) and committed
 * only if InfluxDB has not taken it by the time it is due; it is deleted
 * after InfluxDB took it, so that an outage or a crash costs nothing but
 * time, within the writer's commit bound. Batches that InfluxDB refuses for
 * good go to the dead-letter table with the server's reason.
 *
 * When SQLite cannot write (a full disk, a file size limit, a broken file)
 * the spool does not stop the writer: a batch it cannot commit is held in
 * memory and handed out like the others, a batch it cannot delete is
 * remembered and never handed out again, and spool_retry() puts things
 * right once the disk takes writes again.
 */
#ifndef WRITER_SPOOL_H
#define WRITER_SPOOL_H

#include <stdbool.h>
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

/*
 * Opens or creates the spool; NULL with a message naming the file in err.
 * max_bytes caps the file (batches, dead letters and SQLite's own pages);
 * the WAL beside it is kept to about a quarter of that.
 */
struct spool *spool_open(const char *path, int64_t max_bytes, char *err,
    size_t errlen);
/*
 * Commits what is staged, then closes the spool; batches held in memory are
 * gone (see spool_state).
 */
void spool_close(struct spool *sp);

/*
 * Commits a batch and returns its id (ids grow in commit order). Never
 * fails: a batch SQLite does not take is held in memory (the spool is then
 * failing, see spool_state).
 */
int64_t spool_commit(struct spool *sp, const char *body, size_t len,
    int64_t points);
/*
 * The same, taking the body: *body is committed, kept in memory until first
 * sent, and replaced by an empty buffer.
 */
int64_t spool_commit_buf(struct spool *sp, struct hb_buf *body,
    int64_t points);
/*
 * The same, staged: the batch is handed out like the others at once, and
 * written to SQLite only if it is still here at due_ms (monotonic, by
 * spool_write_due()). A batch InfluxDB takes before then never touches the
 * disk: a steady stream into a healthy InfluxDB costs no SQLite transaction.
 */
int64_t spool_stage_buf(struct spool *sp, struct hb_buf *body, int64_t points,
    int64_t due_ms);
/*
 * Commits up to max_batches of the staged batches due at now_ms (every one
 * with INT64_MAX, INT64_MAX), oldest first, to disk or, if SQLite refuses,
 * to memory as spool_commit does. Returns when the next staged batch is due
 * (at or before now_ms if one due was left), or 0 if none is staged.
 */
int64_t spool_write_due(struct spool *sp, int64_t now_ms,
    int64_t max_batches);
/* Staged batches waiting (not on disk yet). */
int64_t spool_staged_batches(const struct spool *sp);

/*
 * Loads the oldest batch with id > after, on disk or held, into *out (body
 * appended to an empty buffer the caller frees). Returns 1 if found, 0 if
 * none, -1 on a read error (logged).
 */
int spool_next(struct spool *sp, int64_t after, struct spool_batch *out);
/*
 * Removes a batch that InfluxDB took (or that was dead-lettered). A row
 * SQLite cannot delete is never handed out again and is deleted by
 * spool_retry(). Returns 0.
 */
int spool_delete(struct spool *sp, int64_t id);
/* Replaces a batch's body (after bad lines were taken out). 0, or -1 if unknown. */
int spool_replace(struct spool *sp, int64_t id, const char *body, size_t len,
    int64_t points);
/* Splits a batch in two batches (413); the halves get new ids. Returns 0. */
int spool_split(struct spool *sp, int64_t id, const char *body, size_t len,
    size_t cut, int64_t points_first, int64_t points_second);
int spool_note_attempt(struct spool *sp, int64_t id);

/*
 * While the spool is not whole on disk (failing, or batches held, or rows
 * to delete), call this about once a second: it deletes what is left to
 * delete, then moves held batches to disk (a few MB a call, so that the
 * loop stays responsive). Returns 0 when the spool is whole on disk, 1 if
 * not yet.
 */
int spool_retry(struct spool *sp);

struct spool_state {
	bool failing;		/* the last write failed; writes wait for retry */
	const char *error;	/* SQLite's words for it ("database or disk is full") */
	int64_t since_ms;	/* wall time it started failing */
	int64_t held_batches, held_points, held_bytes;	/* in memory only */
	size_t undeleted;	/* rows sent but not yet deleted */
};

void spool_state(const struct spool *sp, struct spool_state *out);
/* Not failing, nothing held, nothing left to delete. */
bool spool_whole(const struct spool *sp);

struct spool_drops {
	int64_t batches, points;	/* batches dropped */
	int64_t dead_points;		/* dead-lettered points removed */
};

/*
 * Keeps the file under max_bytes: drops the oldest dead letters first, then
 * the oldest batches (never those in `keep`, ids of batches in flight), and
 * checkpoints the WAL after a drop. Reports what was dropped.
 */
void spool_enforce_cap(struct spool *sp, const int64_t *keep, size_t nkeep,
    struct spool_drops *out);
/*
 * Keeps the batches held in memory under max_bytes: drops the oldest held
 * batches not in `keep`. Reports what was dropped in out->batches/points.
 */
void spool_enforce_held(struct spool *sp, int64_t max_bytes,
    const int64_t *keep, size_t nkeep, struct spool_drops *out);

/* Stores refused lines with the server's reason and status. 0 or -1 (logged). */
int spool_dead_letter(struct spool *sp, const char *body, size_t len,
    int64_t points, int status, const char *reason);

/* What waits to be sent, on disk and held. */
int64_t spool_batches(const struct spool *sp);
int64_t spool_points(const struct spool *sp);
int64_t spool_bytes(const struct spool *sp);
/* Bytes of the file in use (what max_bytes caps). */
int64_t spool_file_bytes(struct spool *sp);
int64_t spool_dead_letters(struct spool *sp);
/* Creation time of the oldest batch waiting, or 0. */
int64_t spool_oldest_ms(struct spool *sp);

#endif
