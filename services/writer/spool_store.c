/*
 * spool_store: the batch and dead_letter tables of the spool file, through
 * statements prepared once at open.
 */
#include "spool_store.h"
#include "hb_sqlite.h"
#include "hb_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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

int
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

void
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

void
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

int
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

int
store_delete(struct spool_store *st, int64_t id)
{
	sqlite3_bind_int64(st->st_delete, 1, id);
	return step_done(st, st->st_delete, "delete");
}

int
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

int
store_replace(struct spool_store *st, int64_t id, const char *body, size_t len,
    int64_t points)
{
	sqlite3_bind_blob64(st->st_replace, 1, body, len, SQLITE_STATIC);
	sqlite3_bind_int64(st->st_replace, 2, points);
	sqlite3_bind_int64(st->st_replace, 3, id);
	return step_done(st, st->st_replace, "replace");
}

int
store_attempt(struct spool_store *st, int64_t id)
{
	sqlite3_bind_int64(st->st_attempt, 1, id);
	return step_done(st, st->st_attempt, "attempt");
}

int
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

int64_t
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

int
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

int
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

int
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

int
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

int
store_delete_dead_letter(struct spool_store *st, int64_t id)
{
	sqlite3_bind_int64(st->st_dead_delete, 1, id);
	return step_done(st, st->st_dead_delete, "drop dead letter");
}

int64_t
store_dead_letters(struct spool_store *st)
{
	return hb_sqlite_scalar(st->db, "SELECT count(*) FROM dead_letter", 0);
}

/* ---------------- the file and its WAL ---------------- */

int64_t
store_file_bytes(struct spool_store *st)
{
	return (pragma_int(st->st_pages) - pragma_int(st->st_free_pages)) *
	    st->page_size;
}

int64_t
store_wal_bytes(const struct spool_store *st)
{
	struct stat sb;

	return st->standin || stat(st->wal_path, &sb) != 0 ? 0 :
	    (int64_t)sb.st_size;
}

int
store_checkpoint(struct spool_store *st)
{
	if (store_wal_bytes(st) <= st->wal_limit)
		return 0;
	if (sqlite3_wal_checkpoint_v2(st->db, NULL, SQLITE_CHECKPOINT_TRUNCATE,
	    NULL, NULL) != SQLITE_OK)
		return failed(st, "checkpoint");
	return 0;
}

void
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

int
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
