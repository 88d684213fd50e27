/*
 * spool: batches on disk (the store), oldest first, and in memory when
 * the disk refuses them (the hold); the ids InfluxDB took that a full disk
 * kept (<spool>-sent); what to do when SQLite cannot write, the cap, and
 * totals kept in memory so that /metrics never scans the table.
 */
#include "spool.h"
#include "hb_log.h"
#include "hb_sqlite.h"
#include "hb_util.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/stat.h>
#include <unistd.h>

/* ================ the store: the SQLite file ================ */

/*
 * The store: the spool's SQLite file and nothing else: the batch and
 * dead_letter tables, their prepared statements, the WAL's size. It logs
 * nothing and decides nothing: a write that fails returns -1 and leaves
 * SQLite's words and the operation in the store (error, op), for the
 * spool to report and to hold what the disk did not take.
 */

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
static int store_open(struct spool_store *st, const char *path,
    int64_t max_bytes, char *err, size_t errlen);
static void store_close(struct spool_store *st);
/* Counts what the batch table holds (at open: the totals are kept in memory). */
static void store_totals(struct spool_store *st, struct store_totals *out);

/* Rows of the batch table. Writes return 0, or -1 (error and op set). */
static int store_insert(struct spool_store *st, const struct spool_batch *b,
    const char *body, size_t len);
static int store_delete(struct spool_store *st, int64_t id);
/* Deletes the rows with lo <= id <= hi. */
static int store_delete_range(struct spool_store *st, int64_t lo, int64_t hi);
static int store_replace(struct spool_store *st, int64_t id, const char *body,
    size_t len, int64_t points);
static int store_attempt(struct spool_store *st, int64_t id);
/*
 * Replaces row id by two rows, first (body[0, cut)) and second (the rest),
 * in one transaction: all or nothing.
 */
static int store_split(struct spool_store *st, int64_t id,
    const struct spool_batch *first, const struct spool_batch *second,
    const char *body, size_t len, size_t cut);

/* The first row id > after: the id, 0 if none, -1 on a read error (error set). */
static int64_t store_next(struct spool_store *st, int64_t after);
/* A row's points, created_ms and attempts into *out, its body's size into *bytes; -1 if none. */
static int store_info(struct spool_store *st, int64_t id,
    struct spool_batch *out, int64_t *bytes);
/* A whole row into *out (its body replaces out->body's content); 1, or -1 (error set). */
static int store_read(struct spool_store *st, int64_t id,
    struct spool_batch *out);

/* Dead letters: stored with the server's reason and status, oldest dropped first. */
static int store_dead_letter(struct spool_store *st, const char *body,
    size_t len, int64_t points, int status, const char *reason, int64_t now_ms);
/* The oldest dead letter: 1 (its id and points), 0 if none, -1 (error set). */
static int store_oldest_dead_letter(struct spool_store *st, int64_t *id,
    int64_t *points);
static int store_delete_dead_letter(struct spool_store *st, int64_t id);
static int64_t store_dead_letters(struct spool_store *st);

/* Bytes of the file in use: pages less free pages. */
static int64_t store_file_bytes(struct spool_store *st);
/* Bytes of the WAL on disk. */
static int64_t store_wal_bytes(const struct spool_store *st);
/*
 * Truncates the WAL when it has outgrown its limit. 0, or -1 (error set)
 * if the checkpoint failed.
 */
static int store_checkpoint(struct spool_store *st);
/* Copies what the WAL holds into the file, if the disk has room for it. */
static void store_checkpoint_passive(struct spool_store *st);

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
static int store_rebuild(struct spool_store *st, int64_t last_id,
    int64_t keep_bytes, int64_t *dead_points_dropped);

static const char *const migrations[] = {
	/* 1 */
	"CREATE TABLE batch ("
	"  id INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  created_ms INTEGER NOT NULL,"
	"  points INTEGER NOT NULL,"
	"  attempts INTEGER NOT NULL DEFAULT 0,"
	"  body BLOB NOT NULL);"
	"CREATE TABLE dead_letter ("
	"  id INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  created_ms INTEGER NOT NULL,"
	"  points INTEGER NOT NULL,"
	"  status INTEGER NOT NULL,"
	"  reason TEXT NOT NULL,"
	"  body BLOB NOT NULL);",
};

/* Keeps SQLite's words while they are still the last error's. */
static int
failed(struct spool_store *st, const char *op)
{
	snprintf(st->error, sizeof(st->error), "%s", sqlite3_errmsg(st->db));
	st->op = op;
	return -1;
}

static int
step_done(struct spool_store *st, sqlite3_stmt *stmt, const char *op)
{
	int rc = sqlite3_step(stmt);

	sqlite3_reset(stmt);
	sqlite3_clear_bindings(stmt);
	return rc == SQLITE_DONE ? 0 : failed(st, op);
}

static int
exec_quiet(struct spool_store *st, const char *sql, const char *op)
{
	if (sqlite3_exec(st->db, sql, NULL, NULL, NULL) != SQLITE_OK)
		return failed(st, op);
	return 0;
}

static int64_t
pragma_int(sqlite3_stmt *stmt)
{
	int64_t v = 0;

	if (sqlite3_step(stmt) == SQLITE_ROW)
		v = sqlite3_column_int64(stmt, 0);
	sqlite3_reset(stmt);
	return v;
}

/* ---------------- open, close ---------------- */

/*
 * The WAL is the spool's too: a quarter of the cap at most (8 MB, SQLite's
 * default), checkpointed by SQLite past that and truncated by
 * store_checkpoint() when the spool empties.
 */
static int
limit_wal(struct spool_store *st, int64_t max_bytes, char *err, size_t errlen)
{
	int64_t pages;
	char sql[160];

	st->wal_limit = max_bytes / 4 < 8 * 1024 * 1024 ? max_bytes / 4 :
	    8 * 1024 * 1024;
	/* SQLite checkpoints at half the limit, so that the WAL is reused
	 * before it reaches it; store_checkpoint() truncates what a large
	 * batch carried past it */
	pages = st->wal_limit / st->page_size / 2;
	if (pages < 1)
		pages = 1;
	snprintf(sql, sizeof(sql), "PRAGMA journal_size_limit=%lld; "
	    "PRAGMA wal_autocheckpoint=%lld;", (long long)st->wal_limit,
	    (long long)(pages < 1000 ? pages : 1000));
	if (sqlite3_exec(st->db, sql, NULL, NULL, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "cannot set up the WAL of %s: %s", st->path,
		    sqlite3_errmsg(st->db));
		return -1;
	}
	return 0;
}

static int
store_open(struct spool_store *st, const char *path, int64_t max_bytes,
    char *err, size_t errlen)
{
	const struct hb_sqlite_stmt stmts[] = {
		{ &st->st_next_id,
		    "SELECT id FROM batch WHERE id > ? ORDER BY id LIMIT 1" },
		{ &st->st_get, "SELECT created_ms, points, attempts, body "
		    "FROM batch WHERE id = ?" },
		/* ids come from the spool, so that a batch held in memory keeps
		 * its place when it is written later */
		{ &st->st_insert, "INSERT OR REPLACE INTO batch (id, created_ms, "
		    "points, attempts, body) VALUES (?, ?, ?, ?, ?)" },
		{ &st->st_delete, "DELETE FROM batch WHERE id = ?" },
		{ &st->st_size, "SELECT points, length(body), created_ms, attempts "
		    "FROM batch WHERE id = ?" },
		{ &st->st_replace,
		    "UPDATE batch SET body = ?, points = ? WHERE id = ?" },
		{ &st->st_attempt,
		    "UPDATE batch SET attempts = attempts + 1 WHERE id = ?" },
		{ &st->st_dead, "INSERT INTO dead_letter (created_ms, points, "
		    "status, reason, body) VALUES (?, ?, ?, ?, ?)" },
		{ &st->st_dead_oldest,
		    "SELECT id, points FROM dead_letter ORDER BY id LIMIT 1" },
		{ &st->st_dead_delete, "DELETE FROM dead_letter WHERE id = ?" },
		{ &st->st_pages, "PRAGMA page_count" },
		{ &st->st_free_pages, "PRAGMA freelist_count" },
	};

	snprintf(st->path, sizeof(st->path), "%s", path);
	snprintf(st->wal_path, sizeof(st->wal_path), "%s-wal", path);
	st->max_bytes = max_bytes;
	st->db = hb_sqlite_open(path, migrations, HB_ARRAY_LEN(migrations), err,
	    errlen);
	if (st->db == NULL)
		return -1;
	if (hb_sqlite_prepare_all(st->db, stmts, HB_ARRAY_LEN(stmts), err,
	    errlen) != 0)
		return -1;
	st->page_size = hb_sqlite_scalar(st->db, "PRAGMA page_size", 4096);
	return limit_wal(st, max_bytes, err, errlen);
}

static void
store_close(struct spool_store *st)
{
	sqlite3_finalize(st->st_next_id);
	sqlite3_finalize(st->st_get);
	sqlite3_finalize(st->st_insert);
	sqlite3_finalize(st->st_delete);
	sqlite3_finalize(st->st_size);
	sqlite3_finalize(st->st_replace);
	sqlite3_finalize(st->st_attempt);
	sqlite3_finalize(st->st_dead);
	sqlite3_finalize(st->st_dead_oldest);
	sqlite3_finalize(st->st_dead_delete);
	sqlite3_finalize(st->st_pages);
	sqlite3_finalize(st->st_free_pages);
	hb_sqlite_close(st->db);
	st->db = NULL;
}

static void
store_totals(struct spool_store *st, struct store_totals *out)
{
	out->batches = hb_sqlite_scalar(st->db, "SELECT count(*) FROM batch", 0);
	out->points = hb_sqlite_scalar(st->db, "SELECT sum(points) FROM batch", 0);
	out->bytes = hb_sqlite_scalar(st->db,
	    "SELECT sum(length(body)) FROM batch", 0);
	/* AUTOINCREMENT's sequence: an id is never given twice, even after the
	 * rows that had it were deleted */
	out->last_id = hb_sqlite_scalar(st->db, "SELECT max(coalesce((SELECT seq "
	    "FROM sqlite_sequence WHERE name = 'batch'), 0), coalesce((SELECT "
	    "max(id) FROM batch), 0))", 0);
}

/* ---------------- batch rows ---------------- */

static int
store_insert(struct spool_store *st, const struct spool_batch *b,
    const char *body, size_t len)
{
	sqlite3_bind_int64(st->st_insert, 1, b->id);
	sqlite3_bind_int64(st->st_insert, 2, b->created_ms);
	sqlite3_bind_int64(st->st_insert, 3, b->points);
	sqlite3_bind_int(st->st_insert, 4, b->attempts);
	sqlite3_bind_blob64(st->st_insert, 5, body, len, SQLITE_STATIC);
	return step_done(st, st->st_insert, "commit");
}

static int
store_delete(struct spool_store *st, int64_t id)
{
	sqlite3_bind_int64(st->st_delete, 1, id);
	return step_done(st, st->st_delete, "delete");
}

static int
store_delete_range(struct spool_store *st, int64_t lo, int64_t hi)
{
	sqlite3_stmt *stmt = hb_sqlite_prepare(st->db,
	    "DELETE FROM batch WHERE id BETWEEN ? AND ?");
	int rc;

	if (stmt == NULL)
		return failed(st, "delete");
	sqlite3_bind_int64(stmt, 1, lo);
	sqlite3_bind_int64(stmt, 2, hi);
	rc = sqlite3_step(stmt);
	sqlite3_finalize(stmt);
	return rc == SQLITE_DONE ? 0 : failed(st, "delete");
}

static int
store_replace(struct spool_store *st, int64_t id, const char *body, size_t len,
    int64_t points)
{
	sqlite3_bind_blob64(st->st_replace, 1, body, len, SQLITE_STATIC);
	sqlite3_bind_int64(st->st_replace, 2, points);
	sqlite3_bind_int64(st->st_replace, 3, id);
	return step_done(st, st->st_replace, "replace");
}

static int
store_attempt(struct spool_store *st, int64_t id)
{
	sqlite3_bind_int64(st->st_attempt, 1, id);
	return step_done(st, st->st_attempt, "attempt");
}

static int
store_split(struct spool_store *st, int64_t id, const struct spool_batch *first,
    const struct spool_batch *second, const char *body, size_t len, size_t cut)
{
	if (exec_quiet(st, "BEGIN", "split") == 0 &&
	    store_insert(st, first, body, cut) == 0 &&
	    store_insert(st, second, body + cut, len - cut) == 0 &&
	    store_delete(st, id) == 0 && exec_quiet(st, "COMMIT", "split") == 0)
		return 0;
	if (!sqlite3_get_autocommit(st->db))
		sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
	return -1;
}

static int64_t
store_next(struct spool_store *st, int64_t after)
{
	int64_t id = 0;
	int rc;

	sqlite3_bind_int64(st->st_next_id, 1, after);
	rc = sqlite3_step(st->st_next_id);
	if (rc == SQLITE_ROW)
		id = sqlite3_column_int64(st->st_next_id, 0);
	else if (rc != SQLITE_DONE)
		id = failed(st, "read");
	sqlite3_reset(st->st_next_id);
	return id;
}

static int
store_info(struct spool_store *st, int64_t id, struct spool_batch *out,
    int64_t *bytes)
{
	int rc;

	sqlite3_bind_int64(st->st_size, 1, id);
	rc = sqlite3_step(st->st_size);
	if (rc == SQLITE_ROW) {
		out->id = id;
		out->points = sqlite3_column_int64(st->st_size, 0);
		*bytes = sqlite3_column_int64(st->st_size, 1);
		out->created_ms = sqlite3_column_int64(st->st_size, 2);
		out->attempts = sqlite3_column_int(st->st_size, 3);
	}
	sqlite3_reset(st->st_size);
	return rc == SQLITE_ROW ? 0 : -1;
}

static int
store_read(struct spool_store *st, int64_t id, struct spool_batch *out)
{
	int rc;

	sqlite3_bind_int64(st->st_get, 1, id);
	rc = sqlite3_step(st->st_get);
	if (rc == SQLITE_ROW) {
		const void *blob = sqlite3_column_blob(st->st_get, 3);
		int n = sqlite3_column_bytes(st->st_get, 3);

		out->id = id;
		out->created_ms = sqlite3_column_int64(st->st_get, 0);
		out->points = sqlite3_column_int64(st->st_get, 1);
		out->attempts = sqlite3_column_int(st->st_get, 2);
		hb_buf_reset(&out->body);
		hb_buf_append(&out->body, blob, (size_t)n);
		rc = 1;
	} else
		rc = failed(st, "read");
	sqlite3_reset(st->st_get);
	return rc;
}

/* ---------------- dead letters ---------------- */

static int
store_dead_letter(struct spool_store *st, const char *body, size_t len,
    int64_t points, int status, const char *reason, int64_t now_ms)
{
	sqlite3_bind_int64(st->st_dead, 1, now_ms);
	sqlite3_bind_int64(st->st_dead, 2, points);
	sqlite3_bind_int(st->st_dead, 3, status);
	sqlite3_bind_text(st->st_dead, 4, reason, -1, SQLITE_STATIC);
	sqlite3_bind_blob64(st->st_dead, 5, body, len, SQLITE_STATIC);
	return step_done(st, st->st_dead, "dead-letter");
}

static int
store_oldest_dead_letter(struct spool_store *st, int64_t *id, int64_t *points)
{
	int rc = sqlite3_step(st->st_dead_oldest);

	if (rc == SQLITE_ROW) {
		*id = sqlite3_column_int64(st->st_dead_oldest, 0);
		*points = sqlite3_column_int64(st->st_dead_oldest, 1);
	}
	sqlite3_reset(st->st_dead_oldest);
	if (rc == SQLITE_ROW)
		return 1;
	return rc == SQLITE_DONE ? 0 : failed(st, "read");
}

static int
store_delete_dead_letter(struct spool_store *st, int64_t id)
{
	sqlite3_bind_int64(st->st_dead_delete, 1, id);
	return step_done(st, st->st_dead_delete, "drop dead letter");
}

static int64_t
store_dead_letters(struct spool_store *st)
{
	return hb_sqlite_scalar(st->db, "SELECT count(*) FROM dead_letter", 0);
}

/* ---------------- the file and its WAL ---------------- */

static int64_t
store_file_bytes(struct spool_store *st)
{
	return (pragma_int(st->st_pages) - pragma_int(st->st_free_pages)) *
	    st->page_size;
}

static int64_t
store_wal_bytes(const struct spool_store *st)
{
	struct stat sb;

	return st->standin || stat(st->wal_path, &sb) != 0 ? 0 :
	    (int64_t)sb.st_size;
}

static int
store_checkpoint(struct spool_store *st)
{
	if (store_wal_bytes(st) <= st->wal_limit)
		return 0;
	if (sqlite3_wal_checkpoint_v2(st->db, NULL, SQLITE_CHECKPOINT_TRUNCATE,
	    NULL, NULL) != SQLITE_OK)
		return failed(st, "checkpoint");
	return 0;
}

static void
store_checkpoint_passive(struct spool_store *st)
{
	sqlite3_wal_checkpoint_v2(st->db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL,
	    NULL);
}

/* ---------------- starting afresh ---------------- */

struct kept_dead {
	int64_t created_ms, points;
	int status;
	char *reason;
	struct hb_buf body;
};

/* The newest dead letters, up to keep_bytes, newest first; *n of them. */
static struct kept_dead *
read_dead(struct spool_store *st, int64_t keep_bytes, size_t *n,
    int64_t *dropped_points)
{
	sqlite3_stmt *stmt = hb_sqlite_prepare(st->db, "SELECT created_ms, "
	    "points, status, reason, body FROM dead_letter ORDER BY id DESC");
	struct kept_dead *kept = NULL;
	size_t cap = 0;
	int64_t bytes = 0;

	*n = 0;
	while (stmt && sqlite3_step(stmt) == SQLITE_ROW) {
		int len = sqlite3_column_bytes(stmt, 4);
		const char *reason = (const char *)sqlite3_column_text(stmt, 3);
		struct kept_dead *k;

		if (bytes + len > keep_bytes) {
			*dropped_points += sqlite3_column_int64(stmt, 1);
			continue;
		}
		if (*n == cap) {
			cap = cap ? cap * 2 : 16;
			kept = hb_xrealloc(kept, cap * sizeof(*kept));
		}
		k = &kept[(*n)++];
		memset(k, 0, sizeof(*k));
		k->created_ms = sqlite3_column_int64(stmt, 0);
		k->points = sqlite3_column_int64(stmt, 1);
		k->status = sqlite3_column_int(stmt, 2);
		k->reason = hb_xstrdup(reason ? reason : "");
		hb_buf_append(&k->body, sqlite3_column_blob(stmt, 4), (size_t)len);
		bytes += len;
	}
	sqlite3_finalize(stmt);
	return kept;
}

/* The ids after a rebuild go on from last_id: AUTOINCREMENT's record. */
static int
set_last_id(struct spool_store *st, int64_t last_id)
{
	char sql[128];

	snprintf(sql, sizeof(sql), "INSERT INTO sqlite_sequence (name, seq) "
	    "VALUES ('batch', %lld)", (long long)last_id);
	return exec_quiet(st, sql, "rebuild");
}

static int
store_rebuild(struct spool_store *st, int64_t last_id, int64_t keep_bytes,
    int64_t *dead_points_dropped)
{
	char path[PATH_MAX], shm[PATH_MAX + 8], err[256];
	int64_t max_bytes = st->max_bytes;
	struct kept_dead *kept;
	size_t n;
	int rc = 0;

	*dead_points_dropped = 0;
	kept = read_dead(st, keep_bytes, &n, dead_points_dropped);
	snprintf(path, sizeof(path), "%s", st->path);
	snprintf(shm, sizeof(shm), "%s-shm", path);
	store_close(st);
	unlink(st->wal_path);
	unlink(shm);
	unlink(path);
	if (store_open(st, path, max_bytes, err, sizeof(err)) != 0) {
		/* someone else took the room: an empty stand-in until the next try */
		store_close(st);
		if (store_open(st, ":memory:", max_bytes, err, sizeof(err)) != 0)
			abort();	/* out of memory */
		snprintf(st->path, sizeof(st->path), "%s", path);
		snprintf(st->wal_path, sizeof(st->wal_path), "%s-wal", path);
		st->standin = true;
		snprintf(st->error, sizeof(st->error), "cannot make the file again: %s",
		    err);
		st->op = "rebuild";
		rc = -1;
	} else
		st->standin = false;
	if (rc == 0 && set_last_id(st, last_id) != 0)
		rc = -1;
	while (n > 0) {
		struct kept_dead *k = &kept[--n];

		if (rc == 0 && store_dead_letter(st, k->body.data, k->body.len,
		    k->points, k->status, k->reason, k->created_ms) != 0)
			rc = -1;
		free(k->reason);
		hb_buf_free(&k->body);
	}
	free(kept);
	return rc;
}

/* ================ the hold: in memory ================ */

/*
 * The hold: what the spool keeps in memory while its file refuses
 * writes: the batches SQLite did not take (in id order, handed out like
 * the others and written when the disk has room) and the ids of rows sent
 * but not yet deleted (never handed out again). The spool's staged batches
 * (sent from memory, written when due) are a list of the same kind. No
 * SQLite here.
 */

struct spool_totals {
	int64_t batches, points, bytes;
};

static inline void
spool_totals_add(struct spool_totals *t, int64_t batches, int64_t points,
    int64_t bytes)
{
	t->batches += batches;
	t->points += points;
	t->bytes += bytes;
}

/*
 * A batch SQLite did not take; sent from here, written when it can be. The
 * spool keeps its staged batches (spool_stage_buf) in a list of the same
 * kind, each with the time it is due on disk.
 */
struct held {
	TAILQ_ENTRY(held) entry;
	struct spool_batch b;
	int64_t due_ms;		/* staged: monotonic time it must be on disk */
};

struct spool_hold {
	TAILQ_HEAD(held_head, held) held;	/* ordered by id */
	struct spool_totals mem;		/* what the held batches make */
	/* rows already sent or superseded that SQLite did not delete yet */
	int64_t *undeleted;
	size_t nundeleted, undeleted_cap;
};

static void hold_init(struct spool_hold *h);
/* Frees every held batch and the undeleted ids. */
static void hold_clear(struct spool_hold *h);

static struct held *hold_find(const struct spool_hold *h, int64_t id);
/* The first held batch with an id > after, or NULL. */
static struct held *hold_after(const struct spool_hold *h, int64_t after);
/* Takes *body (left empty) into a held batch, in id order. */
static struct held *hold_add(struct spool_hold *h, int64_t id,
    int64_t created_ms, int64_t points, int attempts, struct hb_buf *body);
/* The same with a copy of body[0, len). */
static void hold_copy(struct spool_hold *h, int64_t id, int64_t created_ms,
    int64_t points, int attempts, const char *body, size_t len);
/* Replaces a held batch's body and points. */
static void hold_replace(struct spool_hold *h, struct held *hd,
    const char *body, size_t len, int64_t points);
/* Removes and frees one held batch. */
static void hold_drop(struct spool_hold *h, struct held *hd);

/*
 * Keeps the held batches under max_bytes: drops the oldest not in keep
 * (batches in flight). Adds what it dropped to out->batches and points.
 */
static void hold_enforce(struct spool_hold *h, int64_t max_bytes,
    const int64_t *keep, size_t nkeep, struct spool_drops *out);

static bool hold_undeleted_has(const struct spool_hold *h, int64_t id);
static void hold_undeleted_add(struct spool_hold *h, int64_t id);
static void hold_undeleted_remove(struct spool_hold *h, int64_t id);

/* True when id is one of keep[0, nkeep). */
static bool hold_kept(const int64_t *keep, size_t nkeep, int64_t id);

static void
hold_init(struct spool_hold *h)
{
	memset(h, 0, sizeof(*h));
	TAILQ_INIT(&h->held);
}

static void
hold_clear(struct spool_hold *h)
{
	struct held *hd;

	while ((hd = TAILQ_FIRST(&h->held)) != NULL)
		hold_drop(h, hd);
	free(h->undeleted);
	h->undeleted = NULL;
	h->nundeleted = h->undeleted_cap = 0;
}

static struct held *
hold_find(const struct spool_hold *h, int64_t id)
{
	struct held *hd;

	TAILQ_FOREACH(hd, &h->held, entry)
		if (hd->b.id == id)
			return hd;
	return NULL;
}

static struct held *
hold_after(const struct spool_hold *h, int64_t after)
{
	struct held *hd;

	TAILQ_FOREACH(hd, &h->held, entry)
		if (hd->b.id > after)
			return hd;
	return NULL;
}

static struct held *
hold_add(struct spool_hold *h, int64_t id, int64_t created_ms, int64_t points,
    int attempts, struct hb_buf *body)
{
	struct held *hd = hb_xcalloc(1, sizeof(*hd)), *at;

	hd->b.id = id;
	hd->b.created_ms = created_ms;
	hd->b.points = points;
	hd->b.attempts = attempts;
	hd->b.body = *body;
	memset(body, 0, sizeof(*body));
	/* new batches go last; only a batch replaced in memory goes further up */
	at = TAILQ_LAST(&h->held, held_head);
	while (at && at->b.id > id)
		at = TAILQ_PREV(at, held_head, entry);
	if (at)
		TAILQ_INSERT_AFTER(&h->held, at, hd, entry);
	else
		TAILQ_INSERT_HEAD(&h->held, hd, entry);
	spool_totals_add(&h->mem, 1, points, (int64_t)hd->b.body.len);
	return hd;
}

static void
hold_copy(struct spool_hold *h, int64_t id, int64_t created_ms, int64_t points,
    int attempts, const char *body, size_t len)
{
	struct hb_buf copy = { 0 };

	hb_buf_append(&copy, body, len);
	hold_add(h, id, created_ms, points, attempts, &copy);
}

static void
hold_replace(struct spool_hold *h, struct held *hd, const char *body,
    size_t len, int64_t points)
{
	spool_totals_add(&h->mem, 0, points - hd->b.points,
	    (int64_t)len - (int64_t)hd->b.body.len);
	hb_buf_reset(&hd->b.body);
	hb_buf_append(&hd->b.body, body, len);
	hd->b.points = points;
}

static void
hold_drop(struct spool_hold *h, struct held *hd)
{
	TAILQ_REMOVE(&h->held, hd, entry);
	spool_totals_add(&h->mem, -1, -hd->b.points, -(int64_t)hd->b.body.len);
	hb_buf_free(&hd->b.body);
	free(hd);
}

static void
hold_enforce(struct spool_hold *h, int64_t max_bytes, const int64_t *keep,
    size_t nkeep, struct spool_drops *out)
{
	struct held *hd, *next;

	for (hd = TAILQ_FIRST(&h->held); hd && h->mem.bytes > max_bytes; hd = next) {
		next = TAILQ_NEXT(hd, entry);
		if (hold_kept(keep, nkeep, hd->b.id))
			continue;
		out->batches++;
		out->points += hd->b.points;
		hold_drop(h, hd);
	}
}

/* ---------------- rows to delete ---------------- */

static bool
hold_undeleted_has(const struct spool_hold *h, int64_t id)
{
	for (size_t i = 0; i < h->nundeleted; i++)
		if (h->undeleted[i] == id)
			return true;
	return false;
}

static void
hold_undeleted_add(struct spool_hold *h, int64_t id)
{
	if (hold_undeleted_has(h, id))
		return;
	if (h->nundeleted == h->undeleted_cap) {
		h->undeleted_cap = h->undeleted_cap ? h->undeleted_cap * 2 : 16;
		h->undeleted = hb_xrealloc(h->undeleted, h->undeleted_cap *
		    sizeof(*h->undeleted));
	}
	h->undeleted[h->nundeleted++] = id;
}

static void
hold_undeleted_remove(struct spool_hold *h, int64_t id)
{
	for (size_t i = 0; i < h->nundeleted; i++)
		if (h->undeleted[i] == id) {
			h->undeleted[i] = h->undeleted[--h->nundeleted];
			return;
		}
}

static bool
hold_kept(const int64_t *keep, size_t nkeep, int64_t id)
{
	for (size_t i = 0; i < nkeep; i++)
		if (keep[i] == id)
			return true;
	return false;
}

/* ================ <spool>-sent ================ */

/*
 * The -sent file: the ids of batches InfluxDB took whose rows the spool could
 * not delete (a full disk), in a small file beside the spool
 * (<spool>-sent) that is written once at open and only overwritten in
 * place afterwards, so that noting a delivery needs no room on the disk.
 * A restart reads it and sends none of them again. No SQLite here.
 */

/* What fits in the file's one block: id ranges, merged as they touch. */
#define SENT_MAX_RANGES 255

struct sent_range {
	int64_t lo, hi;
};

struct spool_sent {
	int fd;				/* -1: no file (then a restart resends) */
	char path[PATH_MAX + 8];
	struct sent_range ranges[SENT_MAX_RANGES];
	size_t n;
	bool full_told;
};

/*
 * Opens or creates spool_path-sent and reads the ranges it holds. Never
 * fails: without the file (a disk full before it was ever made) nothing is
 * noted, and what InfluxDB took is sent again after a restart; err says
 * why (empty when all is well).
 */
static void sent_open(struct spool_sent *s, const char *spool_path, char *err,
    size_t errlen);
static void sent_close(struct spool_sent *s);

/*
 * Notes that InfluxDB took batch id. Returns 0, or -1 if it could not be
 * noted (no file, or more ranges than fit): then a restart sends it again,
 * which InfluxDB takes as the same points.
 */
static int sent_add(struct spool_sent *s, int64_t id);
/* Nothing is left undeleted: the file says so. */
static void sent_clear(struct spool_sent *s);

#define BLOCK 4096
#define MAGIC "HBSENT1\n"

struct block {
	char magic[8];
	uint32_t n;
	uint32_t reserved;
	struct sent_range ranges[SENT_MAX_RANGES];
};

_Static_assert(sizeof(struct block) <= BLOCK, "the ranges fit one block");

static int
store(struct spool_sent *s)
{
	char buf[BLOCK];
	struct block *b = (struct block *)(void *)buf;

	if (s->fd < 0)
		return -1;
	memset(buf, 0, sizeof(buf));
	memcpy(b->magic, MAGIC, sizeof(b->magic));
	b->n = (uint32_t)s->n;
	memcpy(b->ranges, s->ranges, s->n * sizeof(s->ranges[0]));
	return pwrite(s->fd, buf, sizeof(buf), 0) == (ssize_t)sizeof(buf) ? 0 : -1;
}

static void
sent_open(struct spool_sent *s, const char *spool_path, char *err,
    size_t errlen)
{
	char buf[BLOCK];
	struct block *b = (struct block *)(void *)buf;
	struct stat st;

	memset(s, 0, sizeof(*s));
	err[0] = '\0';
	snprintf(s->path, sizeof(s->path), "%s-sent", spool_path);
	s->fd = open(s->path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (s->fd < 0 || fstat(s->fd, &st) != 0)
		goto err;
	if (st.st_size >= BLOCK && pread(s->fd, buf, sizeof(buf), 0) == BLOCK &&
	    memcmp(b->magic, MAGIC, sizeof(b->magic)) == 0 &&
	    b->n <= SENT_MAX_RANGES) {
		s->n = b->n;
		memcpy(s->ranges, b->ranges, s->n * sizeof(s->ranges[0]));
		return;
	}
	/* new (or not ours): its one block is written now, while there is room */
	if (store(s) == 0 && fsync(s->fd) == 0)
		return;
err:
	snprintf(err, errlen, "cannot keep %s: %s", s->path, strerror(errno));
	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
	s->n = 0;
}

static void
sent_close(struct spool_sent *s)
{
	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
}

/* Joins range i with the next when they touch. */
static void
join_next(struct spool_sent *s, size_t i)
{
	if (i + 1 < s->n && s->ranges[i].hi + 1 >= s->ranges[i + 1].lo) {
		if (s->ranges[i + 1].hi > s->ranges[i].hi)
			s->ranges[i].hi = s->ranges[i + 1].hi;
		memmove(&s->ranges[i + 1], &s->ranges[i + 2],
		    (s->n - i - 2) * sizeof(s->ranges[0]));
		s->n--;
	}
}

static int
sent_add(struct spool_sent *s, int64_t id)
{
	size_t i;

	if (s->fd < 0)
		return -1;
	for (i = 0; i < s->n && s->ranges[i].hi + 1 < id; i++)
		;
	if (i < s->n && id >= s->ranges[i].lo - 1) {
		/* in, or touching, range i */
		if (id < s->ranges[i].lo)
			s->ranges[i].lo = id;
		if (id > s->ranges[i].hi)
			s->ranges[i].hi = id;
		join_next(s, i);
		return store(s);
	}
	if (s->n == SENT_MAX_RANGES)
		return -1;
	memmove(&s->ranges[i + 1], &s->ranges[i], (s->n - i) * sizeof(s->ranges[0]));
	s->ranges[i].lo = s->ranges[i].hi = id;
	s->n++;
	return store(s);
}

static void
sent_clear(struct spool_sent *s)
{
	if (s->n == 0)
		return;
	s->n = 0;
	s->full_told = false;
	store(s);
}

/* ================ the spool ================ */

/*
 * The last few batches committed stay in memory until they are first sent,
 * so that the normal path never reads back from SQLite what it just wrote.
 */
#define RECENT 2

/* Held batches moved to disk per spool_retry(): the loop stays free. */
#define RETRY_BUDGET (4 * 1024 * 1024)

struct spool {
	struct spool_store store;
	struct spool_hold hold;
	struct spool_hold staged;	/* sent from memory, on disk when due */
	struct spool_sent sent;		/* taken by InfluxDB, still on disk */
	int64_t max_bytes;
	int64_t largest;		/* bytes of the largest batch on disk */
	struct spool_batch recent[RECENT];	/* id 0: empty */
	size_t recent_next;
	int64_t next_id;

	bool failing;
	int64_t failing_since_ms;
	char error[256];
	struct hb_ratelimit log;

	/* waiting to be sent on disk, not counting undeleted rows */
	struct spool_totals disk;
};

/* ---------------- what SQLite could not do ---------------- */

/*
 * Notes that SQLite refused a write (the store holds its words): said once
 * when it starts, then at a limited rate, since a full disk refuses every
 * write until it has room.
 */
static void
spool_failed(struct spool *sp)
{
	snprintf(sp->error, sizeof(sp->error), "%s", sp->store.error);
	if (!sp->failing) {
		sp->failing = true;
		sp->failing_since_ms = hb_wall_ms();
		hb_error("spool cannot write path=%s op=%s reason=\"%s\": batches are "
		    "held in memory (writer.spool.memory_max_mb) and sent from there; "
		    "the disk is tried again every second", sp->store.path,
		    sp->store.op, sp->error);
		return;
	}
	hb_log_limited(&sp->log, HB_LOG_ERROR, "spool still cannot write path=%s "
	    "op=%s reason=\"%s\" held_points=%lld", sp->store.path, sp->store.op,
	    sp->error, (long long)sp->hold.mem.points);
}

/* A write to the store: 0, or -1 and the spool is failing. */
static int
written(struct spool *sp, int rc)
{
	if (rc != 0)
		spool_failed(sp);
	return rc;
}

static void
read_failed(struct spool *sp)
{
	hb_log_limited(&sp->log, HB_LOG_ERROR, "spool read failed path=%s "
	    "reason=\"%s\"", sp->store.path, sp->store.error);
}

/*
 * Truncates the WAL when it has outgrown its limit (a large batch, a
 * checkpoint that could not finish): after every write to disk, so that
 * the file and its WAL stay under the cap. Only a stat() when it has not.
 */
static void
checkpoint(struct spool *sp)
{
	if (store_checkpoint(&sp->store) != 0)
		hb_log_limited(&sp->log, HB_LOG_WARN, "spool checkpoint failed "
		    "path=%s reason=\"%s\"", sp->store.wal_path, sp->store.error);
}

/* len bytes went to disk, in a batch or a dead letter. */
static void
grew(struct spool *sp, size_t len)
{
	if ((int64_t)len > sp->largest)
		sp->largest = (int64_t)len;
	checkpoint(sp);
}

/* A batch went to disk. */
static void
added(struct spool *sp, int64_t points, size_t len)
{
	spool_totals_add(&sp->disk, 1, points, (int64_t)len);
	grew(sp, len);
}

static void
forget(struct spool *sp, int64_t id)
{
	for (size_t i = 0; i < RECENT; i++)
		if (sp->recent[i].id == id) {
			sp->recent[i].id = 0;
			hb_buf_reset(&sp->recent[i].body);
		}
}

/* ---------------- open, close ---------------- */

/*
 * At open: the rows InfluxDB took before the restart are deleted, or, on a
 * disk still full, left out of the queue and the totals, to be deleted by
 * spool_retry().
 */
static void
forget_sent(struct spool *sp)
{
	struct spool_batch info;
	int64_t bytes;
	size_t i;

	if (sp->sent.n == 0)
		return;
	for (i = 0; i < sp->sent.n; i++)
		if (written(sp, store_delete_range(&sp->store, sp->sent.ranges[i].lo,
		    sp->sent.ranges[i].hi)) != 0)
			break;
	if (i == sp->sent.n) {
		struct store_totals t;

		sent_clear(&sp->sent);
		store_totals(&sp->store, &t);
		sp->disk = (struct spool_totals){ t.batches, t.points, t.bytes };
		return;
	}
	for (i = 0; i < sp->sent.n; i++) {
		int64_t id = sp->sent.ranges[i].lo - 1;

		while ((id = store_next(&sp->store, id)) > 0 &&
		    id <= sp->sent.ranges[i].hi) {
			if (store_info(&sp->store, id, &info, &bytes) != 0)
				continue;
			hold_undeleted_add(&sp->hold, id);
			spool_totals_add(&sp->disk, -1, -info.points, -bytes);
		}
	}
}

struct spool *
spool_open(const char *path, int64_t max_bytes, char *err, size_t errlen)
{
	struct spool *sp = hb_xcalloc(1, sizeof(*sp));
	struct store_totals t;

	hold_init(&sp->hold);
	hold_init(&sp->staged);
	sp->sent.fd = -1;
	sp->max_bytes = max_bytes;
	hb_ratelimit_init(&sp->log, 6, 3);
	if (store_open(&sp->store, path, max_bytes, err, errlen) != 0)
		goto err;
	sent_open(&sp->sent, path, err, errlen);
	if (err[0])
		hb_warn("spool %s: a batch InfluxDB took while the disk was full "
		    "is sent again after a restart", err);
	err[0] = '\0';
	store_totals(&sp->store, &t);
	sp->disk.batches = t.batches;
	sp->disk.points = t.points;
	sp->disk.bytes = t.bytes;
	sp->next_id = t.last_id + 1;
	forget_sent(sp);
	return sp;
err:
	spool_close(sp);
	return NULL;
}

void
spool_close(struct spool *sp)
{
	if (sp == NULL)
		return;
	spool_write_due(sp, INT64_MAX, INT64_MAX);
	for (size_t i = 0; i < RECENT; i++)
		hb_buf_free(&sp->recent[i].body);
	hold_clear(&sp->staged);
	hold_clear(&sp->hold);
	sent_close(&sp->sent);
	store_close(&sp->store);
	free(sp);
}

/* ---------------- batches ---------------- */

int64_t
spool_commit(struct spool *sp, const char *body, size_t len, int64_t points)
{
	struct spool_batch b = { .id = sp->next_id++, .created_ms = hb_wall_ms(),
	    .points = points };

	if (!sp->failing &&
	    written(sp, store_insert(&sp->store, &b, body, len)) == 0) {
		added(sp, points, len);
		return b.id;
	}
	hold_copy(&sp->hold, b.id, b.created_ms, points, 0, body, len);
	return b.id;
}

int64_t
spool_commit_buf(struct spool *sp, struct hb_buf *body, int64_t points)
{
	struct spool_batch b = { .id = sp->next_id++, .created_ms = hb_wall_ms(),
	    .points = points };
	struct spool_batch *slot;
	struct hb_buf spare;

	if (sp->failing ||
	    written(sp, store_insert(&sp->store, &b, body->data, body->len)) != 0) {
		hold_add(&sp->hold, b.id, b.created_ms, points, 0, body);
		return b.id;
	}
	added(sp, points, body->len);
	slot = &sp->recent[sp->recent_next];
	sp->recent_next = (sp->recent_next + 1) % RECENT;
	spare = slot->body;
	b.body = *body;
	*slot = b;
	hb_buf_reset(&spare);
	*body = spare;
	return b.id;
}

/* ---------------- staged batches ---------------- */

int64_t
spool_stage_buf(struct spool *sp, struct hb_buf *body, int64_t points,
    int64_t due_ms)
{
	int64_t id = sp->next_id++;
	struct held *h = hold_add(&sp->staged, id, hb_wall_ms(), points, 0, body);

	h->due_ms = due_ms;
	return id;
}

/* A staged batch goes where spool_commit_buf would have put it. */
static void
unstage(struct spool *sp, struct held *h)
{
	struct spool_batch *b = &h->b;

	TAILQ_REMOVE(&sp->staged.held, h, entry);
	spool_totals_add(&sp->staged.mem, -1, -b->points, -(int64_t)b->body.len);
	if (!sp->failing &&
	    written(sp, store_insert(&sp->store, b, b->body.data, b->body.len)) == 0)
		added(sp, b->points, b->body.len);
	else
		hold_add(&sp->hold, b->id, b->created_ms, b->points, b->attempts,
		    &b->body);
	hb_buf_free(&b->body);
	free(h);
}

/* A staged batch about to be changed in place is committed first. */
static void
unstage_id(struct spool *sp, int64_t id)
{
	struct held *h = hold_find(&sp->staged, id);

	if (h)
		unstage(sp, h);
}

int64_t
spool_write_due(struct spool *sp, int64_t now_ms, int64_t max_batches)
{
	struct held *h, *next;
	int64_t next_due = 0;

	for (h = TAILQ_FIRST(&sp->staged.held); h; h = next) {
		next = TAILQ_NEXT(h, entry);
		if (h->due_ms <= now_ms && max_batches-- > 0)
			unstage(sp, h);
		else if (next_due == 0 || h->due_ms < next_due)
			next_due = h->due_ms;
	}
	return next_due;
}

int64_t
spool_staged_batches(const struct spool *sp)
{
	return sp->staged.mem.batches;
}

/* ---------------- on disk ---------------- */

/* The oldest row with id > after that is still to be sent; 0 if none, -1. */
static int64_t
next_row(struct spool *sp, int64_t after)
{
	/* nothing waits on disk: no query (rows sent and not deleted are
	 * not handed out anyway) */
	if (sp->disk.batches == 0)
		return 0;
	for (;;) {
		int64_t id = store_next(&sp->store, after);

		if (id < 0)
			read_failed(sp);
		if (id <= 0 || !hold_undeleted_has(&sp->hold, id))
			return id;
		after = id;
	}
}

static int
read_row(struct spool *sp, int64_t id, struct spool_batch *out)
{
	for (size_t i = 0; i < RECENT; i++) {
		struct spool_batch *r = &sp->recent[i];
		struct hb_buf swap;

		if (r->id != id)
			continue;
		/* hand the body over; the slot keeps the caller's old buffer */
		swap = out->body;
		*out = *r;
		r->body = swap;
		hb_buf_reset(&r->body);
		r->id = 0;
		return 1;
	}
	if (store_read(&sp->store, id, out) == 1)
		return 1;
	read_failed(sp);
	return -1;
}

int
spool_next(struct spool *sp, int64_t after, struct spool_batch *out)
{
	int64_t row = next_row(sp, after);
	struct held *h, *st;

	if (row < 0)
		return -1;
	h = hold_after(&sp->hold, after);
	st = hold_after(&sp->staged, after);
	if (st && (h == NULL || st->b.id < h->b.id))
		h = st;
	if (h && (row == 0 || h->b.id < row)) {
		out->id = h->b.id;
		out->created_ms = h->b.created_ms;
		out->points = h->b.points;
		out->attempts = h->b.attempts;
		hb_buf_reset(&out->body);
		hb_buf_append(&out->body, h->b.body.data, h->b.body.len);
		return 1;
	}
	if (row == 0)
		return 0;
	return read_row(sp, row, out);
}

/*
 * Removes a batch; delivered: InfluxDB has its points (else they live on
 * in memory, as the halves of a split do), so a restart must not send it.
 */
static void
remove_batch(struct spool *sp, int64_t id, bool delivered)
{
	struct held *h = hold_find(&sp->staged, id);
	struct spool_batch info;
	int64_t bytes;

	if (h) {
		hold_drop(&sp->staged, h);	/* taken before it was due: no disk */
		return;
	}
	h = hold_find(&sp->hold, id);
	forget(sp, id);
	if (h)
		hold_drop(&sp->hold, h);
	if (store_info(&sp->store, id, &info, &bytes) != 0)
		return;	/* held only, or gone already */
	if (hold_undeleted_has(&sp->hold, id)) {
		/* superseded, out of the totals already */
		if (written(sp, store_delete(&sp->store, id)) == 0)
			hold_undeleted_remove(&sp->hold, id);
		else if (delivered)
			sent_add(&sp->sent, id);
		return;
	}
	spool_totals_add(&sp->disk, -1, -info.points, -bytes);
	/* Deleting is worth trying even while commits wait: it makes room. A
	 * row left behind is sent no more (nor after a restart: sent), and
	 * deleted by spool_retry(). */
	if (written(sp, store_delete(&sp->store, id)) != 0) {
		hold_undeleted_add(&sp->hold, id);
		if (delivered && sent_add(&sp->sent, id) != 0 && !sp->sent.full_told) {
			sp->sent.full_told = true;
			hb_warn("spool cannot note more batches taken while the disk "
			    "is full path=%s: a restart before the disk has room sends "
			    "them again", sp->sent.path);
		}
	} else
		checkpoint(sp);
}

int
spool_delete(struct spool *sp, int64_t id)
{
	remove_batch(sp, id, true);
	return 0;
}

int
spool_replace(struct spool *sp, int64_t id, const char *body, size_t len,
    int64_t points)
{
	struct held *h = hold_find(&sp->staged, id);
	struct spool_batch info;
	int64_t old_bytes;

	if (h) {
		hold_replace(&sp->staged, h, body, len, points);
		return 0;
	}
	h = hold_find(&sp->hold, id);
	forget(sp, id);
	if (h) {
		hold_replace(&sp->hold, h, body, len, points);
		return 0;
	}
	if (hold_undeleted_has(&sp->hold, id) ||
	    store_info(&sp->store, id, &info, &old_bytes) != 0)
		return -1;
	if (!sp->failing && written(sp, store_replace(&sp->store, id, body, len,
	    points)) == 0) {
		spool_totals_add(&sp->disk, 0, points - info.points,
		    (int64_t)len - old_bytes);
		return 0;
	}
	/* The disk said no: the row is superseded by a copy in memory. */
	spool_totals_add(&sp->disk, -1, -info.points, -old_bytes);
	hold_undeleted_add(&sp->hold, id);
	hold_copy(&sp->hold, id, info.created_ms, points, info.attempts, body, len);
	return 0;
}

int
spool_split(struct spool *sp, int64_t id, const char *body, size_t len,
    size_t cut, int64_t points_first, int64_t points_second)
{
	struct spool_batch first = { .id = sp->next_id++, .created_ms = hb_wall_ms(),
	    .points = points_first };
	struct spool_batch second = { .id = sp->next_id++,
	    .created_ms = first.created_ms, .points = points_second };
	struct spool_batch info;
	int64_t old_bytes;

	unstage_id(sp, id);	/* a 413: rare, and split on disk as ever */
	forget(sp, id);
	if (!sp->failing && hold_find(&sp->hold, id) == NULL &&
	    !hold_undeleted_has(&sp->hold, id) &&
	    store_info(&sp->store, id, &info, &old_bytes) == 0 &&
	    written(sp, store_split(&sp->store, id, &first, &second, body, len,
	    cut)) == 0) {
		spool_totals_add(&sp->disk, 1, points_first + points_second -
		    info.points, (int64_t)len - old_bytes);
		return 0;
	}
	/* In memory already, or the disk said no: the halves are held. */
	remove_batch(sp, id, false);
	hold_copy(&sp->hold, first.id, first.created_ms, points_first, 0, body, cut);
	hold_copy(&sp->hold, second.id, second.created_ms, points_second, 0,
	    body + cut, len - cut);
	return 0;
}

int
spool_note_attempt(struct spool *sp, int64_t id)
{
	struct held *h;

	/* InfluxDB did not take it: it waits on disk from now on */
	unstage_id(sp, id);
	h = hold_find(&sp->hold, id);

	if (h) {
		h->b.attempts++;
		return 0;
	}
	if (sp->failing)
		return -1;
	return written(sp, store_attempt(&sp->store, id));
}

/* ---------------- back to disk ---------------- */

/* Dead letters kept when the file starts afresh: they are read into memory. */
#define AFRESH_DEAD_MAX (16 * 1024 * 1024)

/*
 * The spool's WAL filled its disk and nothing on disk is needed any more
 * but the dead letters (every batch was delivered): the file starts
 * afresh. 0 when it did; 1 if it could not be made again (still failing).
 */
static int
start_afresh(struct spool *sp)
{
	int64_t keep = sp->max_bytes / 2 < AFRESH_DEAD_MAX ? sp->max_bytes / 2 :
	    AFRESH_DEAD_MAX;
	int64_t dropped = 0, undeleted = (int64_t)sp->hold.nundeleted;
	int rc = store_rebuild(&sp->store, sp->next_id - 1, keep, &dropped);

	/* whatever came of it, the old rows are gone */
	sp->hold.nundeleted = 0;
	sp->disk = (struct spool_totals){ 0 };
	for (size_t i = 0; i < RECENT; i++)
		forget(sp, sp->recent[i].id);
	sent_clear(&sp->sent);
	if (rc != 0) {
		spool_failed(sp);
		return 1;
	}
	hb_warn("spool started afresh path=%s: the disk had no room to delete "
	    "batches=%lld InfluxDB took; the file and its WAL were made again, "
	    "dead letters kept%s%lld", sp->store.path, (long long)undeleted,
	    dropped ? ", all but the oldest points=" : "", (long long)dropped);
	return 0;
}

int
spool_retry(struct spool *sp)
{
	size_t moved = 0;
	int64_t moved_points = 0;
	struct held *h;

	/* a file that could not be made again: try again */
	if (sp->store.standin && start_afresh(sp) != 0)
		return 1;
	/* A WAL that filled the disk holds the rows to delete: copied into the
	 * database (if the disk has room for that), it is written from its
	 * start again, and the deletes below fit. */
	if (sp->failing)
		store_checkpoint_passive(&sp->store);
	/* what was sent first: deleting makes room for the rest */
	while (sp->hold.nundeleted > 0) {
		if (written(sp, store_delete(&sp->store,
		    sp->hold.undeleted[sp->hold.nundeleted - 1])) == 0) {
			sp->hold.nundeleted--;
			continue;
		}
		/* A delete needs room in the WAL, and the WAL the room the
		 * disk has not got: if nothing on disk is needed, start afresh. */
		if (!TAILQ_EMPTY(&sp->hold.held) || sp->disk.batches > 0 ||
		    start_afresh(sp) != 0)
			return 1;
	}
	sent_clear(&sp->sent);
	while ((h = TAILQ_FIRST(&sp->hold.held)) != NULL && moved < RETRY_BUDGET) {
		int64_t points = h->b.points, bytes = (int64_t)h->b.body.len;

		if (written(sp, store_insert(&sp->store, &h->b, h->b.body.data,
		    h->b.body.len)) != 0)
			return 1;
		moved += h->b.body.len;
		moved_points += points;
		hold_drop(&sp->hold, h);
		added(sp, points, (size_t)bytes);
	}
	if (sp->failing) {
		sp->failing = false;
		hb_info("spool writes again path=%s moved_to_disk_points=%lld "
		    "held_points=%lld", sp->store.path, (long long)moved_points,
		    (long long)sp->hold.mem.points);
		checkpoint(sp);
	}
	return TAILQ_EMPTY(&sp->hold.held) ? 0 : 1;
}

void
spool_state(const struct spool *sp, struct spool_state *out)
{
	out->failing = sp->failing;
	out->error = sp->failing ? sp->error : NULL;
	out->since_ms = sp->failing ? sp->failing_since_ms : 0;
	out->held_batches = sp->hold.mem.batches;
	out->held_points = sp->hold.mem.points;
	out->held_bytes = sp->hold.mem.bytes;
	out->undeleted = sp->hold.nundeleted;
}

bool
spool_whole(const struct spool *sp)
{
	return !sp->failing && TAILQ_EMPTY(&sp->hold.held) &&
	    sp->hold.nundeleted == 0;
}

/* ---------------- caps ---------------- */

int64_t
spool_file_bytes(struct spool *sp)
{
	return store_file_bytes(&sp->store) + store_wal_bytes(&sp->store);
}

/* Deletes the oldest dead letter: 1 (its points in *points), 0 none, -1. */
static int
drop_dead_letter(struct spool *sp, int64_t *points)
{
	int64_t id = 0;
	int r = store_oldest_dead_letter(&sp->store, &id, points);

	if (r != 1)
		return r;
	return written(sp, store_delete_dead_letter(&sp->store, id)) == 0 ? 1 : -1;
}

/* Drops the oldest batch on disk not in keep: 1 (what it held in *out), 0, -1. */
static int
drop_oldest_batch(struct spool *sp, const int64_t *keep, size_t nkeep,
    struct spool_drops *out)
{
	struct spool_batch info;
	int64_t after = 0, id, bytes;

	while ((id = next_row(sp, after)) > 0 && hold_kept(keep, nkeep, id))
		after = id;
	if (id <= 0 || store_info(&sp->store, id, &info, &bytes) != 0)
		return 0;
	forget(sp, id);
	if (written(sp, store_delete(&sp->store, id)) != 0)
		return -1;
	spool_totals_add(&sp->disk, -1, -info.points, -bytes);
	out->batches++;
	out->points += info.points;
	return 1;
}

void
spool_enforce_cap(struct spool *sp, const int64_t *keep, size_t nkeep,
    struct spool_drops *out)
{
	/*
	 * The cap covers the file and its WAL: the WAL is kept to its quarter
	 * (checkpoint()), and the file in use to the rest less the largest
	 * batch, so that the next one to come does not carry the file on disk
	 * past it (free pages are reused, but not given back).
	 */
	int64_t budget = sp->max_bytes - sp->store.wal_limit - sp->largest;

	memset(out, 0, sizeof(*out));
	/* a failing disk takes no writes, so the file does not grow */
	if (sp->failing)
		return;
	if (budget < sp->max_bytes / 4)
		budget = sp->max_bytes / 4;
	while (store_file_bytes(&sp->store) > budget) {
		int64_t points;
		int r;

		/* refused lines go first: what can still be delivered is worth more */
		if ((r = drop_dead_letter(sp, &points)) == 1) {
			out->dead_points += points;
			continue;
		}
		if (r < 0 || drop_oldest_batch(sp, keep, nkeep, out) != 1)
			break;
	}
	if (out->batches > 0 || out->dead_points > 0)
		checkpoint(sp);
}

void
spool_enforce_held(struct spool *sp, int64_t max_bytes, const int64_t *keep,
    size_t nkeep, struct spool_drops *out)
{
	memset(out, 0, sizeof(*out));
	hold_enforce(&sp->hold, max_bytes, keep, nkeep, out);
}

int
spool_dead_letter(struct spool *sp, const char *body, size_t len,
    int64_t points, int status, const char *reason)
{
	if (sp->failing) {
		hb_log_limited(&sp->log, HB_LOG_ERROR, "spool cannot keep dead "
		    "letters path=%s reason=\"%s\": points=%lld refused by InfluxDB "
		    "are counted but not kept", sp->store.path, sp->error,
		    (long long)points);
		return -1;
	}
	if (written(sp, store_dead_letter(&sp->store, body, len, points, status,
	    reason, hb_wall_ms())) != 0)
		return -1;
	grew(sp, len);
	return 0;
}

/* ---------------- totals ---------------- */

int64_t
spool_batches(const struct spool *sp)
{
	return sp->disk.batches + sp->hold.mem.batches + sp->staged.mem.batches;
}

int64_t
spool_points(const struct spool *sp)
{
	return sp->disk.points + sp->hold.mem.points + sp->staged.mem.points;
}

int64_t
spool_bytes(const struct spool *sp)
{
	return sp->disk.bytes + sp->hold.mem.bytes + sp->staged.mem.bytes;
}

int64_t
spool_dead_letters(struct spool *sp)
{
	return store_dead_letters(&sp->store);
}

int64_t
spool_oldest_ms(struct spool *sp)
{
	int64_t row = next_row(sp, 0), disk = 0, bytes;
	struct held *h = TAILQ_FIRST(&sp->hold.held);
	struct held *st = TAILQ_FIRST(&sp->staged.held);
	struct spool_batch info;

	if (row > 0 && store_info(&sp->store, row, &info, &bytes) == 0)
		disk = info.created_ms;
	if (st && (h == NULL || st->b.created_ms < h->b.created_ms))
		h = st;

	if (h && (disk == 0 || h->b.created_ms < disk))
		return h->b.created_ms;
	return disk;
}
