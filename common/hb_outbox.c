/*
 * hb_outbox: messages waiting to leave, per lane, in SQLite (WAL).
 */
#include "hb_outbox.h"
#include "hb_log.h"
#include "hb_sqlite.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const migrations[] = {
	/* 1 */
	"CREATE TABLE outbox ("
	"  id INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  lane TEXT NOT NULL,"
	"  created_ms INTEGER NOT NULL,"
	"  attempts INTEGER NOT NULL DEFAULT 0,"
	"  label TEXT NOT NULL,"
	"  body BLOB NOT NULL);"
	"CREATE INDEX outbox_lane ON outbox (lane, id);"
	"CREATE TABLE dead_letter ("
	"  id INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  lane TEXT NOT NULL,"
	"  created_ms INTEGER NOT NULL,"
	"  dead_ms INTEGER NOT NULL,"
	"  attempts INTEGER NOT NULL,"
	"  status INTEGER NOT NULL,"
	"  reason TEXT NOT NULL,"
	"  label TEXT NOT NULL,"
	"  body BLOB NOT NULL);"
	"CREATE TABLE meta ("
	"  key TEXT PRIMARY KEY,"
	"  value TEXT NOT NULL);",
};

struct hb_outbox {
	sqlite3 *db;
	sqlite3_stmt *st_add, *st_head, *st_remove, *st_attempt, *st_dead,
	    *st_lanes, *st_meta_get, *st_meta_set;
	int64_t count;
};

struct hb_outbox *
hb_outbox_open(const char *path, char *err, size_t errlen)
{
	struct hb_outbox *ob = hb_xcalloc(1, sizeof(*ob));
	const struct hb_sqlite_stmt stmts[] = {
		{ &ob->st_add, "INSERT INTO outbox (lane, created_ms, label, "
		    "body) VALUES (?, ?, ?, ?)" },
		{ &ob->st_head, "SELECT id, created_ms, attempts, label, body "
		    "FROM outbox WHERE lane = ? ORDER BY id LIMIT 1" },
		{ &ob->st_remove, "DELETE FROM outbox WHERE id = ?" },
		{ &ob->st_attempt,
		    "UPDATE outbox SET attempts = attempts + 1 WHERE id = ?" },
		{ &ob->st_dead, "INSERT INTO dead_letter (lane, created_ms, "
		    "dead_ms, attempts, status, reason, label, body) "
		    "VALUES (?, ?, ?, ?, ?, ?, ?, ?)" },
		{ &ob->st_lanes, "SELECT DISTINCT lane FROM outbox ORDER BY lane" },
		{ &ob->st_meta_get, "SELECT value FROM meta WHERE key = ?" },
		{ &ob->st_meta_set,
		    "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)" },
	};

	ob->db = hb_sqlite_open(path, migrations, HB_ARRAY_LEN(migrations), err,
	    errlen);
	if (ob->db == NULL)
		goto err;
	if (hb_sqlite_prepare_all(ob->db, stmts, HB_ARRAY_LEN(stmts), err,
	    errlen) != 0)
		goto err;
	ob->count = hb_sqlite_scalar(ob->db, "SELECT count(*) FROM outbox", 0);
	return ob;
err:
	hb_outbox_close(ob);
	return NULL;
}

void
hb_outbox_close(struct hb_outbox *ob)
{
	if (ob == NULL)
		return;
	sqlite3_finalize(ob->st_add);
	sqlite3_finalize(ob->st_head);
	sqlite3_finalize(ob->st_remove);
	sqlite3_finalize(ob->st_attempt);
	sqlite3_finalize(ob->st_dead);
	sqlite3_finalize(ob->st_lanes);
	sqlite3_finalize(ob->st_meta_get);
	sqlite3_finalize(ob->st_meta_set);
	hb_sqlite_close(ob->db);
	free(ob);
}

static int
step_done(struct hb_outbox *ob, sqlite3_stmt *st, const char *what)
{
	int rc = sqlite3_step(st);

	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (rc != SQLITE_DONE) {
		hb_error("outbox %s failed: %s", what, sqlite3_errmsg(ob->db));
		return -1;
	}
	return 0;
}

int
hb_outbox_begin(struct hb_outbox *ob)
{
	return hb_sqlite_exec(ob->db, "BEGIN IMMEDIATE");
}

int
hb_outbox_commit(struct hb_outbox *ob)
{
	if (hb_sqlite_exec(ob->db, "COMMIT") != 0) {
		hb_outbox_rollback(ob);
		return -1;
	}
	return 0;
}

void
hb_outbox_rollback(struct hb_outbox *ob)
{
	hb_sqlite_exec(ob->db, "ROLLBACK");
	ob->count = hb_sqlite_scalar(ob->db, "SELECT count(*) FROM outbox", 0);
}

int64_t
hb_outbox_add(struct hb_outbox *ob, const char *lane, const char *label,
    const void *body, size_t len)
{
	sqlite3_bind_text(ob->st_add, 1, lane, -1, SQLITE_STATIC);
	sqlite3_bind_int64(ob->st_add, 2, hb_wall_ms());
	sqlite3_bind_text(ob->st_add, 3, label ? label : "", -1, SQLITE_STATIC);
	sqlite3_bind_blob64(ob->st_add, 4, body, len, SQLITE_STATIC);
	if (step_done(ob, ob->st_add, "add") != 0)
		return -1;
	ob->count++;
	return sqlite3_last_insert_rowid(ob->db);
}

int
hb_outbox_head(struct hb_outbox *ob, const char *lane, struct hb_outbox_item *out)
{
	int rc;

	sqlite3_bind_text(ob->st_head, 1, lane, -1, SQLITE_STATIC);
	rc = sqlite3_step(ob->st_head);
	if (rc == SQLITE_ROW) {
		const void *blob = sqlite3_column_blob(ob->st_head, 4);
		int n = sqlite3_column_bytes(ob->st_head, 4);
		const unsigned char *label = sqlite3_column_text(ob->st_head, 3);

		out->id = sqlite3_column_int64(ob->st_head, 0);
		snprintf(out->lane, sizeof(out->lane), "%s", lane);
		out->created_ms = sqlite3_column_int64(ob->st_head, 1);
		out->attempts = sqlite3_column_int(ob->st_head, 2);
		snprintf(out->label, sizeof(out->label), "%s",
		    label ? (const char *)label : "");
		hb_buf_reset(&out->body);
		hb_buf_append(&out->body, blob, (size_t)n);
		rc = 1;
	} else if (rc == SQLITE_DONE) {
		rc = 0;
	} else {
		hb_error("outbox read failed: %s", sqlite3_errmsg(ob->db));
		rc = -1;
	}
	sqlite3_reset(ob->st_head);
	sqlite3_clear_bindings(ob->st_head);
	return rc;
}

int
hb_outbox_lanes(struct hb_outbox *ob, hb_outbox_lane_fn fn, void *arg)
{
	int n = 0;

	while (sqlite3_step(ob->st_lanes) == SQLITE_ROW) {
		const unsigned char *lane = sqlite3_column_text(ob->st_lanes, 0);

		if (lane) {
			fn(arg, (const char *)lane);
			n++;
		}
	}
	sqlite3_reset(ob->st_lanes);
	return n;
}

int
hb_outbox_remove(struct hb_outbox *ob, int64_t id)
{
	sqlite3_bind_int64(ob->st_remove, 1, id);
	if (step_done(ob, ob->st_remove, "remove") != 0)
		return -1;
	if (sqlite3_changes(ob->db) > 0)
		ob->count--;
	return 0;
}

int
hb_outbox_note_attempt(struct hb_outbox *ob, int64_t id)
{
	sqlite3_bind_int64(ob->st_attempt, 1, id);
	return step_done(ob, ob->st_attempt, "attempt");
}

int
hb_outbox_dead_letter(struct hb_outbox *ob, const struct hb_outbox_item *it,
    int status, const char *reason)
{
	if (hb_outbox_begin(ob) != 0)
		return -1;
	sqlite3_bind_text(ob->st_dead, 1, it->lane, -1, SQLITE_STATIC);
	sqlite3_bind_int64(ob->st_dead, 2, it->created_ms);
	sqlite3_bind_int64(ob->st_dead, 3, hb_wall_ms());
	sqlite3_bind_int(ob->st_dead, 4, it->attempts + 1);
	sqlite3_bind_int(ob->st_dead, 5, status);
	sqlite3_bind_text(ob->st_dead, 6, reason ? reason : "", -1, SQLITE_STATIC);
	sqlite3_bind_text(ob->st_dead, 7, it->label, -1, SQLITE_STATIC);
	sqlite3_bind_blob64(ob->st_dead, 8, it->body.data ? it->body.data : "",
	    it->body.len, SQLITE_STATIC);
	if (step_done(ob, ob->st_dead, "dead-letter") != 0 ||
	    hb_outbox_remove(ob, it->id) != 0) {
		hb_outbox_rollback(ob);
		return -1;
	}
	return hb_outbox_commit(ob);
}

int64_t
hb_outbox_count(struct hb_outbox *ob)
{
	return ob->count;
}

int64_t
hb_outbox_dead_count(struct hb_outbox *ob)
{
	return hb_sqlite_scalar(ob->db, "SELECT count(*) FROM dead_letter", 0);
}

int64_t
hb_outbox_oldest_ms(struct hb_outbox *ob)
{
	return hb_sqlite_scalar(ob->db,
	    "SELECT created_ms FROM outbox ORDER BY id LIMIT 1", 0);
}

char *
hb_outbox_meta_get(struct hb_outbox *ob, const char *key)
{
	char *val = NULL;

	sqlite3_bind_text(ob->st_meta_get, 1, key, -1, SQLITE_STATIC);
	if (sqlite3_step(ob->st_meta_get) == SQLITE_ROW) {
		const unsigned char *v = sqlite3_column_text(ob->st_meta_get, 0);

		val = hb_xstrdup(v ? (const char *)v : "");
	}
	sqlite3_reset(ob->st_meta_get);
	sqlite3_clear_bindings(ob->st_meta_get);
	return val;
}

int
hb_outbox_meta_set(struct hb_outbox *ob, const char *key, const char *value)
{
	sqlite3_bind_text(ob->st_meta_set, 1, key, -1, SQLITE_STATIC);
	sqlite3_bind_text(ob->st_meta_set, 2, value, -1, SQLITE_STATIC);
	return step_done(ob, ob->st_meta_set, "meta");
}
