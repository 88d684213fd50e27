/*
 * spool: batches in SQLite, oldest first, and in memory when SQLite cannot
 * write; totals kept in memory so that /metrics never scans the table.
 */
#include "spool.h"
#include "hb_log.h"
#include "hb_sqlite.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/stat.h>

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

/* Held batches moved to disk per spool_retry(): the loop stays free. */
#define RETRY_BUDGET (4 * 1024 * 1024)

/* A batch SQLite did not take; sent from here, written when it can be. */
struct held {
	TAILQ_ENTRY(held) entry;
	struct spool_batch b;
};

struct totals {
	int64_t batches, points, bytes;
};

struct spool {
	sqlite3 *db;
	char path[PATH_MAX];
	char wal_path[PATH_MAX + 8];
	int64_t max_bytes;
	int64_t wal_limit;
	int64_t page_size;
	struct spool_batch recent[RECENT];	/* id 0: empty */
	size_t recent_next;
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
	int64_t next_id;

	/* ordered by id */
	TAILQ_HEAD(held_head, held) held;
	/* rows already sent or superseded that SQLite did not delete yet */
	int64_t *undeleted;
	size_t nundeleted, undeleted_cap;
	bool failing;
	int64_t failing_since_ms;
	char error[256];
	struct hb_ratelimit log;

	/* waiting to be sent: rows on disk (not counting undeleted ones), held */
	struct totals disk, mem;
};

static void
totals_add(struct totals *t, int64_t batches, int64_t points, int64_t bytes)
{
	t->batches += batches;
	t->points += points;
	t->bytes += bytes;
}

/* ---------------- what SQLite could not do ---------------- */

/*
 * Notes that SQLite refused a write: said once when it starts, then at a
 * limited rate, since a full disk refuses every write until it has room.
 */
static void
spool_failed(struct spool *sp, const char *what)
{
	snprintf(sp->error, sizeof(sp->error), "%s", sqlite3_errmsg(sp->db));
	if (!sp->failing) {
		sp->failing = true;
		sp->failing_since_ms = hb_wall_ms();
		hb_error("spool cannot write path=%s op=%s reason=\"%s\": batches are "
		    "held in memory (writer.spool.memory_max_mb) and sent from there; "
		    "the disk is tried again every second", sp->path, what, sp->error);
		return;
	}
	hb_log_limited(&sp->log, HB_LOG_ERROR, "spool still cannot write path=%s "
	    "op=%s reason=\"%s\" held_points=%lld", sp->path, what, sp->error,
	    (long long)sp->mem.points);
}

static bool
undeleted_has(const struct spool *sp, int64_t id)
{
	for (size_t i = 0; i < sp->nundeleted; i++)
		if (sp->undeleted[i] == id)
			return true;
	return false;
}

static void
undeleted_add(struct spool *sp, int64_t id)
{
	if (undeleted_has(sp, id))
		return;
	if (sp->nundeleted == sp->undeleted_cap) {
		sp->undeleted_cap = sp->undeleted_cap ? sp->undeleted_cap * 2 : 16;
		sp->undeleted = hb_xrealloc(sp->undeleted, sp->undeleted_cap *
		    sizeof(*sp->undeleted));
	}
	sp->undeleted[sp->nundeleted++] = id;
}

static void
undeleted_remove(struct spool *sp, int64_t id)
{
	for (size_t i = 0; i < sp->nundeleted; i++)
		if (sp->undeleted[i] == id) {
			sp->undeleted[i] = sp->undeleted[--sp->nundeleted];
			return;
		}
}

static struct held *
held_find(const struct spool *sp, int64_t id)
{
	struct held *h;

	TAILQ_FOREACH(h, &sp->held, entry)
		if (h->b.id == id)
			return h;
	return NULL;
}

/* Takes *body (left empty) into a held batch, in id order. */
static struct held *
held_add(struct spool *sp, int64_t id, int64_t created_ms, int64_t points,
    int attempts, struct hb_buf *body)
{
	struct held *h = hb_xcalloc(1, sizeof(*h)), *at;

	h->b.id = id;
	h->b.created_ms = created_ms;
	h->b.points = points;
	h->b.attempts = attempts;
	h->b.body = *body;
	memset(body, 0, sizeof(*body));
	/* new batches go last; only a batch replaced in memory goes further up */
	at = TAILQ_LAST(&sp->held, held_head);
	while (at && at->b.id > id)
		at = TAILQ_PREV(at, held_head, entry);
	if (at)
		TAILQ_INSERT_AFTER(&sp->held, at, h, entry);
	else
		TAILQ_INSERT_HEAD(&sp->held, h, entry);
	totals_add(&sp->mem, 1, points, (int64_t)h->b.body.len);
	return h;
}

static void
held_copy(struct spool *sp, int64_t id, int64_t created_ms, int64_t points,
    int attempts, const char *body, size_t len)
{
	struct hb_buf copy = { 0 };

	hb_buf_append(&copy, body, len);
	held_add(sp, id, created_ms, points, attempts, &copy);
}

static void
held_free(struct spool *sp, struct held *h)
{
	TAILQ_REMOVE(&sp->held, h, entry);
	totals_add(&sp->mem, -1, -h->b.points, -(int64_t)h->b.body.len);
	hb_buf_free(&h->b.body);
	free(h);
}

/* ---------------- rows ---------------- */

static int
step_done(struct spool *sp, sqlite3_stmt *st, const char *what)
{
	int rc = sqlite3_step(st);

	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (rc != SQLITE_DONE) {
		spool_failed(sp, what);
		return -1;
	}
	return 0;
}

static int
insert_row(struct spool *sp, const struct spool_batch *b, const char *body,
    size_t len)
{
	sqlite3_bind_int64(sp->st_insert, 1, b->id);
	sqlite3_bind_int64(sp->st_insert, 2, b->created_ms);
	sqlite3_bind_int64(sp->st_insert, 3, b->points);
	sqlite3_bind_int(sp->st_insert, 4, b->attempts);
	sqlite3_bind_blob64(sp->st_insert, 5, body, len, SQLITE_STATIC);
	return step_done(sp, sp->st_insert, "commit");
}

static int
delete_row(struct spool *sp, int64_t id)
{
	sqlite3_bind_int64(sp->st_delete, 1, id);
	return step_done(sp, sp->st_delete, "delete");
}

/* A row's points, size, creation time and attempts; -1 if there is none. */
static int
row_info(struct spool *sp, int64_t id, struct spool_batch *out, int64_t *bytes)
{
	int rc;

	sqlite3_bind_int64(sp->st_size, 1, id);
	rc = sqlite3_step(sp->st_size);
	if (rc == SQLITE_ROW) {
		out->id = id;
		out->points = sqlite3_column_int64(sp->st_size, 0);
		*bytes = sqlite3_column_int64(sp->st_size, 1);
		out->created_ms = sqlite3_column_int64(sp->st_size, 2);
		out->attempts = sqlite3_column_int(sp->st_size, 3);
	}
	sqlite3_reset(sp->st_size);
	return rc == SQLITE_ROW ? 0 : -1;
}

static int
exec_quiet(struct spool *sp, const char *sql, const char *what)
{
	if (sqlite3_exec(sp->db, sql, NULL, NULL, NULL) != SQLITE_OK) {
		spool_failed(sp, what);
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

/* ---------------- open, close ---------------- */

static int64_t
pragma_int(sqlite3_stmt *st)
{
	int64_t v = 0;

	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	return v;
}

/*
 * The WAL is the spool's too: a quarter of the cap at most (8 MB, SQLite's
 * default), checkpointed by SQLite past that and truncated by
 * spool_checkpoint() when the spool empties.
 */
static int
limit_wal(struct spool *sp, char *err, size_t errlen)
{
	int64_t pages;
	char sql[160];

	sp->wal_limit = sp->max_bytes / 4 < 8 * 1024 * 1024 ? sp->max_bytes / 4 :
	    8 * 1024 * 1024;
	pages = sp->wal_limit / sp->page_size;
	snprintf(sql, sizeof(sql), "PRAGMA journal_size_limit=%lld; "
	    "PRAGMA wal_autocheckpoint=%lld;", (long long)sp->wal_limit,
	    (long long)(pages < 1000 ? pages : 1000));
	if (sqlite3_exec(sp->db, sql, NULL, NULL, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "cannot set up the WAL of %s: %s", sp->path,
		    sqlite3_errmsg(sp->db));
		return -1;
	}
	return 0;
}

struct spool *
spool_open(const char *path, int64_t max_bytes, char *err, size_t errlen)
{
	struct spool *sp = hb_xcalloc(1, sizeof(*sp));
	const struct hb_sqlite_stmt stmts[] = {
		{ &sp->st_next_id,
		    "SELECT id FROM batch WHERE id > ? ORDER BY id LIMIT 1" },
		{ &sp->st_get, "SELECT created_ms, points, attempts, body "
		    "FROM batch WHERE id = ?" },
		/* ids come from the spool, so that a batch held in memory keeps
		 * its place when it is written later */
		{ &sp->st_insert, "INSERT OR REPLACE INTO batch (id, created_ms, "
		    "points, attempts, body) VALUES (?, ?, ?, ?, ?)" },
		{ &sp->st_delete, "DELETE FROM batch WHERE id = ?" },
		{ &sp->st_size, "SELECT points, length(body), created_ms, attempts "
		    "FROM batch WHERE id = ?" },
		{ &sp->st_replace,
		    "UPDATE batch SET body = ?, points = ? WHERE id = ?" },
		{ &sp->st_attempt,
		    "UPDATE batch SET attempts = attempts + 1 WHERE id = ?" },
		{ &sp->st_dead, "INSERT INTO dead_letter (created_ms, points, "
		    "status, reason, body) VALUES (?, ?, ?, ?, ?)" },
		{ &sp->st_dead_oldest,
		    "SELECT id, points FROM dead_letter ORDER BY id LIMIT 1" },
		{ &sp->st_dead_delete, "DELETE FROM dead_letter WHERE id = ?" },
		{ &sp->st_pages, "PRAGMA page_count" },
		{ &sp->st_free_pages, "PRAGMA freelist_count" },
	};

	TAILQ_INIT(&sp->held);
	snprintf(sp->path, sizeof(sp->path), "%s", path);
	snprintf(sp->wal_path, sizeof(sp->wal_path), "%s-wal", path);
	sp->max_bytes = max_bytes;
	hb_ratelimit_init(&sp->log, 6, 3);
	sp->db = hb_sqlite_open(path, migrations, HB_ARRAY_LEN(migrations), err,
	    errlen);
	if (sp->db == NULL)
		goto err;
	if (hb_sqlite_prepare_all(sp->db, stmts, HB_ARRAY_LEN(stmts), err,
	    errlen) != 0)
		goto err;
	sp->page_size = hb_sqlite_scalar(sp->db, "PRAGMA page_size", 4096);
	if (limit_wal(sp, err, errlen) != 0)
		goto err;
	sp->disk.batches = hb_sqlite_scalar(sp->db, "SELECT count(*) FROM batch", 0);
	sp->disk.points = hb_sqlite_scalar(sp->db, "SELECT sum(points) FROM batch", 0);
	sp->disk.bytes = hb_sqlite_scalar(sp->db,
	    "SELECT sum(length(body)) FROM batch", 0);
	sp->next_id = hb_sqlite_scalar(sp->db, "SELECT max(coalesce((SELECT seq "
	    "FROM sqlite_sequence WHERE name = 'batch'), 0), coalesce((SELECT "
	    "max(id) FROM batch), 0))", 0) + 1;
	return sp;
err:
	spool_close(sp);
	return NULL;
}

void
spool_close(struct spool *sp)
{
	struct held *h;

	if (sp == NULL)
		return;
	for (size_t i = 0; i < RECENT; i++)
		hb_buf_free(&sp->recent[i].body);
	while ((h = TAILQ_FIRST(&sp->held)) != NULL)
		held_free(sp, h);
	free(sp->undeleted);
	sqlite3_finalize(sp->st_next_id);
	sqlite3_finalize(sp->st_get);
	sqlite3_finalize(sp->st_insert);
	sqlite3_finalize(sp->st_delete);
	sqlite3_finalize(sp->st_size);
	sqlite3_finalize(sp->st_replace);
	sqlite3_finalize(sp->st_attempt);
	sqlite3_finalize(sp->st_dead);
	sqlite3_finalize(sp->st_dead_oldest);
	sqlite3_finalize(sp->st_dead_delete);
	sqlite3_finalize(sp->st_pages);
	sqlite3_finalize(sp->st_free_pages);
	hb_sqlite_close(sp->db);
	free(sp);
}

/* ---------------- the WAL ---------------- */

/*
 * Truncates the WAL when it has outgrown its limit (a large batch, a
 * checkpoint that could not finish): called when there is little to copy,
 * because the spool just emptied or was cut down to its cap.
 */
static void
spool_checkpoint(struct spool *sp)
{
	struct stat st;

	if (stat(sp->wal_path, &st) != 0 || st.st_size <= sp->wal_limit)
		return;
	if (sqlite3_wal_checkpoint_v2(sp->db, NULL, SQLITE_CHECKPOINT_TRUNCATE,
	    NULL, NULL) != SQLITE_OK)
		hb_log_limited(&sp->log, HB_LOG_WARN, "spool checkpoint failed "
		    "path=%s reason=\"%s\"", sp->wal_path, sqlite3_errmsg(sp->db));
}

/* ---------------- batches ---------------- */

int64_t
spool_commit(struct spool *sp, const char *body, size_t len, int64_t points)
{
	struct spool_batch b = { .id = sp->next_id++, .created_ms = hb_wall_ms(),
	    .points = points };

	if (!sp->failing && insert_row(sp, &b, body, len) == 0) {
		totals_add(&sp->disk, 1, points, (int64_t)len);
		return b.id;
	}
	held_copy(sp, b.id, b.created_ms, points, 0, body, len);
	return b.id;
}

int64_t
spool_commit_buf(struct spool *sp, struct hb_buf *body, int64_t points)
{
	struct spool_batch b = { .id = sp->next_id++, .created_ms = hb_wall_ms(),
	    .points = points };
	struct spool_batch *slot;
	struct hb_buf spare;

	if (sp->failing || insert_row(sp, &b, body->data, body->len) != 0) {
		held_add(sp, b.id, b.created_ms, points, 0, body);
		return b.id;
	}
	totals_add(&sp->disk, 1, points, (int64_t)body->len);
	slot = &sp->recent[sp->recent_next];
	sp->recent_next = (sp->recent_next + 1) % RECENT;
	spare = slot->body;
	b.body = *body;
	*slot = b;
	hb_buf_reset(&spare);
	*body = spare;
	return b.id;
}

/* The oldest row with id > after that is still to be sent; 0 if none, -1. */
static int64_t
next_row(struct spool *sp, int64_t after)
{
	for (;;) {
		int64_t id = 0;
		int rc;

		sqlite3_bind_int64(sp->st_next_id, 1, after);
		rc = sqlite3_step(sp->st_next_id);
		if (rc == SQLITE_ROW)
			id = sqlite3_column_int64(sp->st_next_id, 0);
		sqlite3_reset(sp->st_next_id);
		if (rc == SQLITE_DONE)
			return 0;
		if (rc != SQLITE_ROW) {
			hb_log_limited(&sp->log, HB_LOG_ERROR, "spool read failed "
			    "path=%s reason=\"%s\"", sp->path, sqlite3_errmsg(sp->db));
			return -1;
		}
		if (!undeleted_has(sp, id))
			return id;
		after = id;
	}
}

static int
read_row(struct spool *sp, int64_t id, struct spool_batch *out)
{
	int rc;

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
	sqlite3_bind_int64(sp->st_get, 1, id);
	rc = sqlite3_step(sp->st_get);
	if (rc == SQLITE_ROW) {
		const void *blob = sqlite3_column_blob(sp->st_get, 3);
		int n = sqlite3_column_bytes(sp->st_get, 3);

		out->id = id;
		out->created_ms = sqlite3_column_int64(sp->st_get, 0);
		out->points = sqlite3_column_int64(sp->st_get, 1);
		out->attempts = sqlite3_column_int(sp->st_get, 2);
		hb_buf_reset(&out->body);
		hb_buf_append(&out->body, blob, (size_t)n);
		rc = 1;
	} else {
		hb_log_limited(&sp->log, HB_LOG_ERROR, "spool read failed path=%s "
		    "reason=\"%s\"", sp->path, sqlite3_errmsg(sp->db));
		rc = -1;
	}
	sqlite3_reset(sp->st_get);
	return rc;
}

int
spool_next(struct spool *sp, int64_t after, struct spool_batch *out)
{
	int64_t row = next_row(sp, after);
	struct held *h;

	if (row < 0)
		return -1;
	TAILQ_FOREACH(h, &sp->held, entry)
		if (h->b.id > after)
			break;
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

int
spool_delete(struct spool *sp, int64_t id)
{
	struct held *h = held_find(sp, id);
	struct spool_batch info;
	int64_t bytes;

	forget(sp, id);
	if (h)
		held_free(sp, h);
	if (row_info(sp, id, &info, &bytes) != 0)
		return 0;	/* held only, or gone already */
	if (undeleted_has(sp, id)) {
		/* superseded, out of the totals already */
		if (delete_row(sp, id) == 0)
			undeleted_remove(sp, id);
		return 0;
	}
	totals_add(&sp->disk, -1, -info.points, -bytes);
	/* Deleting is worth trying even while commits wait: it makes room. A
	 * row left behind is sent no more, and deleted by spool_retry(). */
	if (delete_row(sp, id) != 0)
		undeleted_add(sp, id);
	else if (sp->disk.batches == 0 && sp->mem.batches == 0)
		spool_checkpoint(sp);
	return 0;
}

int
spool_replace(struct spool *sp, int64_t id, const char *body, size_t len,
    int64_t points)
{
	struct held *h = held_find(sp, id);
	struct spool_batch info;
	int64_t old_bytes;

	forget(sp, id);
	if (h) {
		totals_add(&sp->mem, 0, points - h->b.points,
		    (int64_t)len - (int64_t)h->b.body.len);
		hb_buf_reset(&h->b.body);
		hb_buf_append(&h->b.body, body, len);
		h->b.points = points;
		return 0;
	}
	if (undeleted_has(sp, id) || row_info(sp, id, &info, &old_bytes) != 0)
		return -1;
	if (!sp->failing) {
		sqlite3_bind_blob64(sp->st_replace, 1, body, len, SQLITE_STATIC);
		sqlite3_bind_int64(sp->st_replace, 2, points);
		sqlite3_bind_int64(sp->st_replace, 3, id);
		if (step_done(sp, sp->st_replace, "replace") == 0) {
			totals_add(&sp->disk, 0, points - info.points,
			    (int64_t)len - old_bytes);
			return 0;
		}
	}
	/* The disk said no: the row is superseded by a copy in memory. */
	totals_add(&sp->disk, -1, -info.points, -old_bytes);
	undeleted_add(sp, id);
	held_copy(sp, id, info.created_ms, points, info.attempts, body, len);
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

	forget(sp, id);
	if (!sp->failing && held_find(sp, id) == NULL && !undeleted_has(sp, id) &&
	    row_info(sp, id, &info, &old_bytes) == 0) {
		if (exec_quiet(sp, "BEGIN", "split") == 0 &&
		    insert_row(sp, &first, body, cut) == 0 &&
		    insert_row(sp, &second, body + cut, len - cut) == 0 &&
		    delete_row(sp, id) == 0 && exec_quiet(sp, "COMMIT", "split") == 0) {
			totals_add(&sp->disk, 1, points_first + points_second -
			    info.points, (int64_t)len - old_bytes);
			return 0;
		}
		if (!sqlite3_get_autocommit(sp->db))
			sqlite3_exec(sp->db, "ROLLBACK", NULL, NULL, NULL);
	}
	/* In memory already, or the disk said no: the halves are held. */
	spool_delete(sp, id);
	held_copy(sp, first.id, first.created_ms, points_first, 0, body, cut);
	held_copy(sp, second.id, second.created_ms, points_second, 0, body + cut,
	    len - cut);
	return 0;
}

int
spool_note_attempt(struct spool *sp, int64_t id)
{
	struct held *h = held_find(sp, id);

	if (h) {
		h->b.attempts++;
		return 0;
	}
	if (sp->failing)
		return -1;
	sqlite3_bind_int64(sp->st_attempt, 1, id);
	return step_done(sp, sp->st_attempt, "attempt");
}

/* ---------------- back to disk ---------------- */

int
spool_retry(struct spool *sp)
{
	size_t moved = 0;
	int64_t moved_points = 0;
	struct held *h;

	/* A WAL that filled the disk holds the rows to delete: copied into the
	 * database (if the disk has room for that), it is written from its
	 * start again, and the deletes below fit. */
	if (sp->failing)
		sqlite3_wal_checkpoint_v2(sp->db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL,
		    NULL);
	/* what was sent first: deleting makes room for the rest */
	while (sp->nundeleted > 0) {
		if (delete_row(sp, sp->undeleted[sp->nundeleted - 1]) != 0)
			return 1;
		sp->nundeleted--;
	}
	while ((h = TAILQ_FIRST(&sp->held)) != NULL && moved < RETRY_BUDGET) {
		int64_t points = h->b.points, bytes = (int64_t)h->b.body.len;

		if (insert_row(sp, &h->b, h->b.body.data, h->b.body.len) != 0)
			return 1;
		moved += h->b.body.len;
		moved_points += points;
		held_free(sp, h);
		totals_add(&sp->disk, 1, points, bytes);
	}
	if (sp->failing) {
		sp->failing = false;
		hb_info("spool writes again path=%s moved_to_disk_points=%lld "
		    "held_points=%lld", sp->path, (long long)moved_points,
		    (long long)sp->mem.points);
		spool_checkpoint(sp);
	}
	return TAILQ_EMPTY(&sp->held) ? 0 : 1;
}

void
spool_state(const struct spool *sp, struct spool_state *out)
{
	out->failing = sp->failing;
	out->error = sp->failing ? sp->error : NULL;
	out->since_ms = sp->failing ? sp->failing_since_ms : 0;
	out->held_batches = sp->mem.batches;
	out->held_points = sp->mem.points;
	out->held_bytes = sp->mem.bytes;
	out->undeleted = sp->nundeleted;
}

bool
spool_whole(const struct spool *sp)
{
	return !sp->failing && TAILQ_EMPTY(&sp->held) && sp->nundeleted == 0;
}

/* ---------------- caps ---------------- */

int64_t
spool_file_bytes(struct spool *sp)
{
	return (pragma_int(sp->st_pages) - pragma_int(sp->st_free_pages)) *
	    sp->page_size;
}

/* Deletes the oldest dead letter: 1 (its points in *points), 0 none, -1. */
static int
drop_dead_letter(struct spool *sp, int64_t *points)
{
	int64_t id = 0;
	int rc = sqlite3_step(sp->st_dead_oldest);

	if (rc == SQLITE_ROW) {
		id = sqlite3_column_int64(sp->st_dead_oldest, 0);
		*points = sqlite3_column_int64(sp->st_dead_oldest, 1);
	}
	sqlite3_reset(sp->st_dead_oldest);
	if (rc != SQLITE_ROW)
		return rc == SQLITE_DONE ? 0 : -1;
	sqlite3_bind_int64(sp->st_dead_delete, 1, id);
	return step_done(sp, sp->st_dead_delete, "drop dead letter") == 0 ? 1 : -1;
}

static bool
kept(const int64_t *keep, size_t nkeep, int64_t id)
{
	for (size_t i = 0; i < nkeep; i++)
		if (keep[i] == id)
			return true;
	return false;
}

void
spool_enforce_cap(struct spool *sp, const int64_t *keep, size_t nkeep,
    struct spool_drops *out)
{
	memset(out, 0, sizeof(*out));
	/* a failing disk takes no writes, so the file does not grow */
	if (sp->failing)
		return;
	while (spool_file_bytes(sp) > sp->max_bytes) {
		struct spool_batch info;
		int64_t after = 0, id, points, bytes;
		int r;

		/* refused lines go first: what can still be delivered is worth more */
		if ((r = drop_dead_letter(sp, &points)) == 1) {
			out->dead_points += points;
			continue;
		}
		if (r < 0)
			break;
		while ((id = next_row(sp, after)) > 0 && kept(keep, nkeep, id))
			after = id;
		if (id <= 0 || row_info(sp, id, &info, &bytes) != 0)
			break;
		forget(sp, id);
		if (delete_row(sp, id) != 0)
			break;
		totals_add(&sp->disk, -1, -info.points, -bytes);
		out->batches++;
		out->points += info.points;
	}
	if (out->batches > 0 || out->dead_points > 0)
		spool_checkpoint(sp);
}

void
spool_enforce_held(struct spool *sp, int64_t max_bytes, const int64_t *keep,
    size_t nkeep, struct spool_drops *out)
{
	struct held *h, *next;

	memset(out, 0, sizeof(*out));
	for (h = TAILQ_FIRST(&sp->held); h && sp->mem.bytes > max_bytes; h = next) {
		next = TAILQ_NEXT(h, entry);
		if (kept(keep, nkeep, h->b.id))
			continue;
		out->batches++;
		out->points += h->b.points;
		held_free(sp, h);
	}
}

int
spool_dead_letter(struct spool *sp, const char *body, size_t len,
    int64_t points, int status, const char *reason)
{
	if (sp->failing) {
		hb_log_limited(&sp->log, HB_LOG_ERROR, "spool cannot keep dead "
		    "letters path=%s reason=\"%s\": points=%lld refused by InfluxDB "
		    "are counted but not kept", sp->path, sp->error, (long long)points);
		return -1;
	}
	sqlite3_bind_int64(sp->st_dead, 1, hb_wall_ms());
	sqlite3_bind_int64(sp->st_dead, 2, points);
	sqlite3_bind_int(sp->st_dead, 3, status);
	sqlite3_bind_text(sp->st_dead, 4, reason, -1, SQLITE_STATIC);
	sqlite3_bind_blob64(sp->st_dead, 5, body, len, SQLITE_STATIC);
	return step_done(sp, sp->st_dead, "dead-letter");
}

/* ---------------- totals ---------------- */

int64_t
spool_batches(const struct spool *sp)
{
	return sp->disk.batches + sp->mem.batches;
}

int64_t
spool_points(const struct spool *sp)
{
	return sp->disk.points + sp->mem.points;
}

int64_t
spool_bytes(const struct spool *sp)
{
	return sp->disk.bytes + sp->mem.bytes;
}

int64_t
spool_dead_letters(struct spool *sp)
{
	return hb_sqlite_scalar(sp->db, "SELECT count(*) FROM dead_letter", 0);
}

int64_t
spool_oldest_ms(struct spool *sp)
{
	int64_t row = next_row(sp, 0), disk = 0, bytes;
	struct held *h = TAILQ_FIRST(&sp->held);
	struct spool_batch info;

	if (row > 0 && row_info(sp, row, &info, &bytes) == 0)
		disk = info.created_ms;

	if (h && (disk == 0 || h->b.created_ms < disk))
		return h->b.created_ms;
	return disk;
}
