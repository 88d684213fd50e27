/*
 * hb_sqlite: open with the homebus pragmas, migrate, back up online.
 */
#include "hb_sqlite.h"
#include "hb_log.h"
#include "hb_util.h"

#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

static int
ensure_parent(const char *path)
{
	char tmp[PATH_MAX];

	if (snprintf(tmp, sizeof(tmp), "%s", path) >= (int)sizeof(tmp))
		return -1;
	return hb_mkdirs(dirname(tmp));
}

sqlite3 *
hb_sqlite_open(const char *path, const char *const *migrations, size_t n,
    char *err, size_t errlen)
{
	sqlite3 *db = NULL;
	long long version;
	char *msg = NULL;

	if (strcmp(path, ":memory:") != 0 && ensure_parent(path) != 0) {
		snprintf(err, errlen, "cannot create the folder of %s: %s", path,
		    strerror(errno));
		return NULL;
	}
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
	    SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "cannot open %s: %s", path,
		    db ? sqlite3_errmsg(db) : "out of memory");
		goto err;
	}
	sqlite3_busy_timeout(db, 5000);
	/* WAL + NORMAL: a commit survives a crash of the process; the cache and
	 * the WAL file are kept small, these are queues, not databases. */
	if (sqlite3_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
	    "PRAGMA foreign_keys=ON; PRAGMA cache_size=-1024;"
	    "PRAGMA journal_size_limit=8388608;", NULL, NULL, &msg) != SQLITE_OK) {
		snprintf(err, errlen, "cannot set up %s: %s (is it a SQLite file?)",
		    path, msg ? msg : "?");
		goto err;
	}
	version = hb_sqlite_scalar(db, "PRAGMA user_version", 0);
	if (version > (long long)n) {
		snprintf(err, errlen, "%s has schema version %lld, newer than this "
		    "program knows (%zu); it was written by a newer homebus", path,
		    version, n);
		goto err;
	}
	for (size_t v = (size_t)version; v < n; v++) {
		char setv[64];

		snprintf(setv, sizeof(setv), "PRAGMA user_version=%zu;", v + 1);
		if (sqlite3_exec(db, "BEGIN", NULL, NULL, &msg) != SQLITE_OK ||
		    sqlite3_exec(db, migrations[v], NULL, NULL, &msg) != SQLITE_OK ||
		    sqlite3_exec(db, setv, NULL, NULL, &msg) != SQLITE_OK ||
		    sqlite3_exec(db, "COMMIT", NULL, NULL, &msg) != SQLITE_OK) {
			snprintf(err, errlen, "cannot migrate %s to schema %zu: %s",
			    path, v + 1, msg ? msg : "?");
			sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
			goto err;
		}
	}
	return db;
err:
	sqlite3_free(msg);
	sqlite3_close(db);
	return NULL;
}

void
hb_sqlite_close(sqlite3 *db)
{
	if (db)
		sqlite3_close(db);
}

int
hb_sqlite_exec(sqlite3 *db, const char *sql)
{
	char *msg = NULL;

	if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		hb_error("sqlite error=\"%s\" sql=\"%.60s\"", msg ? msg : "?", sql);
		sqlite3_free(msg);
		return -1;
	}
	return 0;
}

sqlite3_stmt *
hb_sqlite_prepare(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st = NULL;

	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
		hb_error("sqlite prepare error=\"%s\" sql=\"%.60s\"",
		    sqlite3_errmsg(db), sql);
		return NULL;
	}
	return st;
}

int
hb_sqlite_prepare_all(sqlite3 *db, const struct hb_sqlite_stmt *stmts, size_t n,
    char *err, size_t errlen)
{
	size_t i;

	for (i = 0; i < n; i++) {
		*stmts[i].st = NULL;
		if (sqlite3_prepare_v2(db, stmts[i].sql, -1, stmts[i].st, NULL) !=
		    SQLITE_OK)
			goto err;
	}
	return 0;
err:
	snprintf(err, errlen, "cannot prepare \"%.60s\" in %s: %s", stmts[i].sql,
	    sqlite3_db_filename(db, "main"), sqlite3_errmsg(db));
	hb_error("sqlite %s", err);
	while (i > 0) {
		i--;
		sqlite3_finalize(*stmts[i].st);
		*stmts[i].st = NULL;
	}
	return -1;
}

long long
hb_sqlite_scalar(sqlite3 *db, const char *sql, long long def)
{
	sqlite3_stmt *st = NULL;
	long long v = def;

	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		return def;
	if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

int
hb_sqlite_backup(const char *src, const char *dst, char *err, size_t errlen)
{
	sqlite3 *from = NULL, *to = NULL;
	sqlite3_backup *bk;
	int rc = -1;

	if (sqlite3_open_v2(src, &from, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "cannot open %s: %s", src,
		    from ? sqlite3_errmsg(from) : "out of memory");
		goto out;
	}
	sqlite3_busy_timeout(from, 5000);
	if (ensure_parent(dst) != 0 ||
	    sqlite3_open_v2(dst, &to, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
	    NULL) != SQLITE_OK) {
		snprintf(err, errlen, "cannot create %s", dst);
		goto out;
	}
	bk = sqlite3_backup_init(to, "main", from, "main");
	if (bk == NULL) {
		snprintf(err, errlen, "backup of %s: %s", src, sqlite3_errmsg(to));
		goto out;
	}
	while ((rc = sqlite3_backup_step(bk, 256)) == SQLITE_OK ||
	    rc == SQLITE_BUSY || rc == SQLITE_LOCKED)
		sqlite3_sleep(10);
	sqlite3_backup_finish(bk);
	if (rc != SQLITE_DONE) {
		snprintf(err, errlen, "backup of %s: %s", src, sqlite3_errstr(rc));
		rc = -1;
		goto out;
	}
	rc = 0;
out:
	sqlite3_close(from);
	sqlite3_close(to);
	return rc;
}
