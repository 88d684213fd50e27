/*
 * hb_sqlite: how homebus opens its SQLite files (writer spool, notifier
 * outbox, deploy journal): WAL, synchronous=NORMAL, a busy timeout, and a
 * schema that is brought up to date by numbered migrations (user_version).
 */
#ifndef HB_SQLITE_H
#define HB_SQLITE_H

#include <sqlite3.h>
#include <stddef.h>

/*
 * Opens (creating it and its folder) the database at path and applies
 * migrations[user_version .. n-1], each in its own transaction. Returns the
 * handle, or NULL with a message naming the file in err.
 */
sqlite3 *hb_sqlite_open(const char *path, const char *const *migrations,
    size_t n, char *err, size_t errlen);
void hb_sqlite_close(sqlite3 *db);

/* Runs SQL without results; logs and returns -1 on error. */
int hb_sqlite_exec(sqlite3 *db, const char *sql);
/* Prepares a statement; logs and returns NULL on error. */
sqlite3_stmt *hb_sqlite_prepare(sqlite3 *db, const char *sql);

/* One statement of a module: where its handle goes, and its SQL. */
struct hb_sqlite_stmt {
	sqlite3_stmt **st;
	const char *sql;
};

/*
 * Prepares every statement of stmts[0..n) into its handle: all or none.
 * Returns 0, or -1 with the SQLite error and the statement in err (logged
 * too); then every handle is NULL again, and the caller finalizes nothing.
 */
int hb_sqlite_prepare_all(sqlite3 *db, const struct hb_sqlite_stmt *stmts,
    size_t n, char *err, size_t errlen);
/* A single integer from a one-row query (or def). */
long long hb_sqlite_scalar(sqlite3 *db, const char *sql, long long def);

/* Online backup of src into the file dst (replaced). 0 or -1 with err. */
int hb_sqlite_backup(const char *src, const char *dst, char *err, size_t errlen);

#endif
