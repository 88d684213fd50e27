/*
 * spool_store: the spool's SQLite file and nothing else: the batch and
 * dead_letter tables, their prepared statements, the WAL's size. It logs
 * nothing and decides nothing: a write that fails returns -1 and leaves
 * SQLite's words and the operation in the store (error, op), for spool.c
 * to report and to hold what the disk did not take.
 */
#ifndef WRITER_SPOOL_STORE_H
#define WRITER_SPOOL_STORE_H

#include <limits.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "spool.h"

struct spool_store {
	sqlite3 *db;
	char path[PATH_MAX];
	char wal_path[PATH_MAX + 8];
	int64_t wal_limit;
	int64_t page_size;
	int64_t max_bytes;	/* the cap the store was opened with */
	bool standin;		/* a rebuild could not reopen the file: this is
				 * an empty database in memory until it can */
	char error[256];	/* SQLite's words for the last failure */
	const char *op;		/* and what it was doing: "commit", "delete", ... */

	sqlite3_stmt *st_next_id;
	sqlite3_stmt *st_get;
	sqlite3_stmt *st_insert;
	sqlite3_stmt *st_delete;
	sqlite3_stmt *st_size;
	sqlite3_stmt *st_replace;
	sqlite3_stmt *st_attempt;
	sqlite3_stmt *st_dead;
	sqlite3_stmt *st_dead_oldest;
	sqlite3_stmt *st_dead_delete;
	sqlite3_stmt *st_pages;
	sqlite3_stmt *st_free_pages;
};

/* What waits in the batch table. */
struct store_totals {
	int64_t batches, points, bytes;
	int64_t last_id;	/* the largest id ever given, 0 if none */
};

/*
 * Opens or creates the file; 0, or -1 with a message naming it in err
 * (then store_close() frees what was opened). The WAL is kept to a quarter
 * of max_bytes (8 MB at most).
 */
int store_open(struct spool_store *st, const char *path, int64_t max_bytes,
    char *err, size_t errlen);
void store_close(struct spool_store *st);
/* Counts what the batch table holds (at open: the totals are kept in memory). */
void store_totals(struct spool_store *st, struct store_totals *out);

/* Rows of the batch table. Writes return 0, or -1 (error and op set). */
int store_insert(struct spool_store *st, const struct spool_batch *b,
    const char *body, size_t len);
int store_delete(struct spool_store *st, int64_t id);
/* Deletes the rows with lo <= id <= hi. */
int store_delete_range(struct spool_store *st, int64_t lo, int64_t hi);
int store_replace(struct spool_store *st, int64_t id, const char *body,
    size_t len, int64_t points);
int store_attempt(struct spool_store *st, int64_t id);
/*
 * Replaces row id by two rows, first (body[0, cut)) and second (the rest),
 * in one transaction: all or nothing.
 */
int store_split(struct spool_store *st, int64_t id, const struct spool_batch *first,
    const struct spool_batch *second, const char *body, size_t len, size_t cut);

/* The first row id > after: the id, 0 if none, -1 on a read error (error set). */
int64_t store_next(struct spool_store *st, int64_t after);
/* A row's points, created_ms and attempts into *out, its body's size into *bytes; -1 if none. */
int store_info(struct spool_store *st, int64_t id, struct spool_batch *out,
    int64_t *bytes);
/* A whole row into *out (its body replaces out->body's content); 1, or -1 (error set). */
int store_read(struct spool_store *st, int64_t id, struct spool_batch *out);

/* Dead letters: stored with the server's reason and status, oldest dropped first. */
int store_dead_letter(struct spool_store *st, const char *body, size_t len,
    int64_t points, int status, const char *reason, int64_t now_ms);
/* The oldest dead letter: 1 (its id and points), 0 if none, -1 (error set). */
int store_oldest_dead_letter(struct spool_store *st, int64_t *id,
    int64_t *points);
int store_delete_dead_letter(struct spool_store *st, int64_t id);
int64_t store_dead_letters(struct spool_store *st);

/* Bytes of the file in use: pages less free pages. */
int64_t store_file_bytes(struct spool_store *st);
/* Bytes of the WAL on disk. */
int64_t store_wal_bytes(const struct spool_store *st);
/*
 * Truncates the WAL when it has outgrown its limit. 0, or -1 (error set)
 * if the checkpoint failed.
 */
int store_checkpoint(struct spool_store *st);
/* Copies what the WAL holds into the file, if the disk has room for it. */
void store_checkpoint_passive(struct spool_store *st);

/*
 * Starts the file afresh with no batches, for a spool whose WAL filled its
 * disk when no batch on it is needed any more: the WAL cannot be copied
 * into the file (that needs room) nor dropped alone (a checkpoint that
 * failed half way left the file needing it), so the file, its WAL and
 * shared memory are removed and made again. The newest dead letters are
 * kept, up to keep_bytes (the points of those left out in
 * *dead_points_dropped), and ids go on after last_id. 0, or -1 (error set)
 * when the file cannot be made again: then the store is a stand-in in
 * memory (standin) and a later call tries again.
 */
int store_rebuild(struct spool_store *st, int64_t last_id, int64_t keep_bytes,
    int64_t *dead_points_dropped);

#endif
