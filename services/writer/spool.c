/*
 * spool: batches in SQLite, oldest first; totals kept in memory so that
 * /metrics and the size cap never scan the table.
 */
#include "spool.h"
#include "hb_log.h"
#include "hb_sqlite.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/*
 * The last few batches committed stay in memory until they are first sent,
 * so that the normal path never reads back from SQLite what it just wrote.
 */
#define RECENT 2

struct spool {
	sqlite3 *db;
	struct spool_batch recent[RECENT];	/* id 0: empty */
	size_t recent_next;
	sqlite3_stmt *st_next_id;
	sqlite3_stmt *st_insert;
	sqlite3_stmt *st_next;
	sqlite3_stmt *st_delete;
	sqlite3_stmt *st_size;
	sqlite3_stmt *st_replace;
	sqlite3_stmt *st_attempt;
	sqlite3_stmt *st_dead;
	int64_t batches;
	int64_t points;
	int64_t bytes;
};

struct spool *
hb_spool_open(const char *path, char *err, size_t errlen)
{
	struct spool *sp = hb_xcalloc(1, sizeof(*sp));
	const struct hb_sqlite_stmt stmts[] = {
		{ &sp->st_insert,
		    "INSERT INTO batch (created_ms, points, body) VALUES (?, ?, ?)" },
		{ &sp->st_next_id,
		    "SELECT id FROM batch WHERE id > ? ORDER BY id LIMIT 1" },
		{ &sp->st_next, "SELECT id, created_ms, points, attempts, body "
		    "FROM batch WHERE id > ? ORDER BY id LIMIT 1" },
		{ &sp->st_delete, "DELETE FROM batch WHERE id = ?" },
		{ &sp->st_size, "SELECT points, length(body) FROM batch WHERE id = ?" },
		{ &sp->st_replace,
		    "UPDATE batch SET body = ?, points = ? WHERE id = ?" },
		{ &sp->st_attempt,
		    "UPDATE batch SET attempts = attempts + 1 WHERE id = ?" },
		{ &sp->st_dead, "INSERT INTO dead_letter (created_ms, points, "
		    "status, reason, body) VALUES (?, ?, ?, ?, ?)" },
	};

	sp->db = hb_sqlite_open(path, migrations, HB_ARRAY_LEN(migrations), err,
	    errlen);
	if (sp->db == NULL)
		goto err;
	if (hb_sqlite_prepare_all(sp->db, stmts, HB_ARRAY_LEN(stmts), err,
	    errlen) != 0)
		goto err;
	sp->batches = hb_sqlite_scalar(sp->db, "SELECT count(*) FROM batch", 0);
	sp->points = hb_sqlite_scalar(sp->db, "SELECT sum(points) FROM batch", 0);
	sp->bytes = hb_sqlite_scalar(sp->db, "SELECT sum(length(body)) FROM batch", 0);
	return sp;
err:
	hb_spool_close(sp);
	return NULL;
}

void
hb_spool_close(struct spool *sp)
{
	if (sp == NULL)
		return;
	for (size_t i = 0; i < RECENT; i++)
		hb_buf_free(&sp->recent[i].body);
	sqlite3_finalize(sp->st_insert);
	sqlite3_finalize(sp->st_next_id);
	sqlite3_finalize(sp->st_next);
	sqlite3_finalize(sp->st_delete);
	sqlite3_finalize(sp->st_size);
	sqlite3_finalize(sp->st_replace);
	sqlite3_finalize(sp->st_attempt);
	sqlite3_finalize(sp->st_dead);
	hb_sqlite_close(sp->db);
	free(sp);
}

static int
step_done(sqlite3 *db, sqlite3_stmt *st, const char *what)
{
	int rc = sqlite3_step(st);

	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (rc != SQLITE_DONE) {
		hb_error("spool %s failed: %s", what, sqlite3_errmsg(db));
		return -1;
	}
	return 0;
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

int64_t
hb_spool_commit_buf(struct spool *sp, struct hb_buf *body, int64_t points)
{
	int64_t id = hb_spool_commit(sp, body->data, body->len, points);
	struct spool_batch *slot;
	struct hb_buf spare;

	if (id < 0)
		return id;
	slot = &sp->recent[sp->recent_next];
	sp->recent_next = (sp->recent_next + 1) % RECENT;
	spare = slot->body;
	slot->id = id;
	slot->created_ms = hb_wall_ms();
	slot->points = points;
	slot->attempts = 0;
	slot->body = *body;
	hb_buf_reset(&spare);
	*body = spare;
	return id;
}

int64_t
hb_spool_commit(struct spool *sp, const char *body, size_t len, int64_t points)
{
	sqlite3_bind_int64(sp->st_insert, 1, hb_wall_ms());
	sqlite3_bind_int64(sp->st_insert, 2, points);
	sqlite3_bind_blob64(sp->st_insert, 3, body, len, SQLITE_STATIC);
	if (step_done(sp->db, sp->st_insert, "commit") != 0)
		return -1;
	sp->batches++;
	sp->points += points;
	sp->bytes += (int64_t)len;
	return sqlite3_last_insert_rowid(sp->db);
}

int
hb_spool_next(struct spool *sp, int64_t after, struct spool_batch *out)
{
	int64_t id = 0;
	int rc;

	sqlite3_bind_int64(sp->st_next_id, 1, after);
	rc = sqlite3_step(sp->st_next_id);
	if (rc == SQLITE_ROW)
		id = sqlite3_column_int64(sp->st_next_id, 0);
	sqlite3_reset(sp->st_next_id);
	if (rc == SQLITE_DONE)
		return 0;
	for (size_t i = 0; id && i < RECENT; i++) {
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
	sqlite3_bind_int64(sp->st_next, 1, after);
	rc = sqlite3_step(sp->st_next);
	if (rc == SQLITE_ROW) {
		const void *blob = sqlite3_column_blob(sp->st_next, 4);
		int n = sqlite3_column_bytes(sp->st_next, 4);

		out->id = sqlite3_column_int64(sp->st_next, 0);
		out->created_ms = sqlite3_column_int64(sp->st_next, 1);
		out->points = sqlite3_column_int64(sp->st_next, 2);
		out->attempts = sqlite3_column_int(sp->st_next, 3);
		hb_buf_reset(&out->body);
		hb_buf_append(&out->body, blob, (size_t)n);
		rc = 1;
	} else if (rc == SQLITE_DONE) {
		rc = 0;
	} else {
		hb_error("spool read failed: %s", sqlite3_errmsg(sp->db));
		rc = -1;
	}
	sqlite3_reset(sp->st_next);
	return rc;
}

/* Looks up a batch's points and size, to keep the totals right. */
static int
batch_size(struct spool *sp, int64_t id, int64_t *points, int64_t *bytes)
{
	int rc;

	sqlite3_bind_int64(sp->st_size, 1, id);
	rc = sqlite3_step(sp->st_size);
	if (rc == SQLITE_ROW) {
		*points = sqlite3_column_int64(sp->st_size, 0);
		*bytes = sqlite3_column_int64(sp->st_size, 1);
	}
	sqlite3_reset(sp->st_size);
	return rc == SQLITE_ROW ? 0 : -1;
}

int
hb_spool_delete(struct spool *sp, int64_t id)
{
	int64_t points, bytes;

	forget(sp, id);
	if (batch_size(sp, id, &points, &bytes) != 0)
		return 0;	/* already gone */
	sqlite3_bind_int64(sp->st_delete, 1, id);
	if (step_done(sp->db, sp->st_delete, "delete") != 0)
		return -1;
	sp->batches--;
	sp->points -= points;
	sp->bytes -= bytes;
	return 0;
}

int
hb_spool_replace(struct spool *sp, int64_t id, const char *body, size_t len,
    int64_t points)
{
	int64_t old_points, old_bytes;

	forget(sp, id);
	if (batch_size(sp, id, &old_points, &old_bytes) != 0)
		return -1;
	sqlite3_bind_blob64(sp->st_replace, 1, body, len, SQLITE_STATIC);
	sqlite3_bind_int64(sp->st_replace, 2, points);
	sqlite3_bind_int64(sp->st_replace, 3, id);
	if (step_done(sp->db, sp->st_replace, "replace") != 0)
		return -1;
	sp->points += points - old_points;
	sp->bytes += (int64_t)len - old_bytes;
	return 0;
}

int
hb_spool_split(struct spool *sp, int64_t id, const char *body, size_t len,
    size_t cut, int64_t points_first, int64_t points_second)
{
	if (hb_sqlite_exec(sp->db, "BEGIN") != 0)
		return -1;
	if (hb_spool_delete(sp, id) != 0 ||
	    hb_spool_commit(sp, body, cut, points_first) < 0 ||
	    hb_spool_commit(sp, body + cut, len - cut, points_second) < 0) {
		hb_sqlite_exec(sp->db, "ROLLBACK");
		/* Totals may be off until restart; the data is intact. */
		return -1;
	}
	return hb_sqlite_exec(sp->db, "COMMIT");
}

int
hb_spool_note_attempt(struct spool *sp, int64_t id)
{
	sqlite3_bind_int64(sp->st_attempt, 1, id);
	return step_done(sp->db, sp->st_attempt, "attempt");
}

void
hb_spool_enforce_cap(struct spool *sp, int64_t max_bytes, const int64_t *keep,
    size_t nkeep, int64_t *dropped_batches, int64_t *dropped_points)
{
	int64_t after = 0;
	struct spool_batch b = { 0 };

	*dropped_batches = *dropped_points = 0;
	while (sp->bytes > max_bytes && hb_spool_next(sp, after, &b) == 1) {
		bool kept = false;

		after = b.id;
		for (size_t i = 0; i < nkeep; i++)
			if (keep[i] == b.id)
				kept = true;
		if (kept)
			continue;
		if (hb_spool_delete(sp, b.id) != 0)
			break;
		(*dropped_batches)++;
		*dropped_points += b.points;
	}
	hb_buf_free(&b.body);
}

int
hb_spool_dead_letter(struct spool *sp, const char *body, size_t len,
    int64_t points, int status, const char *reason)
{
	sqlite3_bind_int64(sp->st_dead, 1, hb_wall_ms());
	sqlite3_bind_int64(sp->st_dead, 2, points);
	sqlite3_bind_int(sp->st_dead, 3, status);
	sqlite3_bind_text(sp->st_dead, 4, reason, -1, SQLITE_STATIC);
	sqlite3_bind_blob64(sp->st_dead, 5, body, len, SQLITE_STATIC);
	return step_done(sp->db, sp->st_dead, "dead-letter");
}

int64_t
hb_spool_batches(const struct spool *sp)
{
	return sp->batches;
}

int64_t
hb_spool_points(const struct spool *sp)
{
	return sp->points;
}

int64_t
hb_spool_bytes(const struct spool *sp)
{
	return sp->bytes;
}

int64_t
hb_spool_dead_letters(struct spool *sp)
{
	return hb_sqlite_scalar(sp->db, "SELECT count(*) FROM dead_letter", 0);
}

int64_t
hb_spool_oldest_ms(struct spool *sp)
{
	return hb_sqlite_scalar(sp->db,
	    "SELECT created_ms FROM batch ORDER BY id LIMIT 1", 0);
}
