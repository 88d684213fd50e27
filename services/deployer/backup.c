/*
 * backup: SQLite copies, manifests and retention (see backup.h).
 */
#include "backup.h"
#include "sha256.h"
#include "hb_log.h"
#include "hb_msg.h"
#include "hb_sqlite.h"
#include "hb_util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#define MANIFEST "manifest.json"
#define TIME_LEN 16		/* "20261125T014532Z" */
#define MAX_FOLDERS 4096

enum job_kind { JOB_COPY, JOB_MANIFEST, JOB_RESTORE, JOB_VERIFY, JOB_DRILL };

/* What the worker thread reads and writes; the loop only after the join. */
struct job {
	enum job_kind kind;
	char folder[PATH_MAX];
	char *files[32];
	size_t nfiles;
	json_t *meta;		/* manifest fields (JOB_MANIFEST) */
	char stamp[TIME_LEN + 1];	/* JOB_RESTORE: names the kept files */
	char kept[32];			/* "failed", "before-restore" */
	bool ok;
	char error[1024];
	atomic_bool cancel;
};

struct backup {
	struct event_base *base;
	int pipefd[2];
	struct event *ev_done;
	pthread_t thread;
	bool running;
	struct job job;
	backup_done_fn done;
	void *arg;
};

static void
job_clear(struct job *j)
{
	for (size_t i = 0; i < j->nfiles; i++)
		free(j->files[i]);
	json_decref(j->meta);
	memset(j, 0, sizeof(*j));
}

/* ---------------- on the worker thread ---------------- */

static const char *
base_name(const char *path)
{
	const char *s = strrchr(path, '/');

	return s ? s + 1 : path;
}

/*
 * PRAGMA integrity_check of the SQLite file at path; with self_contained,
 * made a file without WAL first (a backup's copy must stand alone), else
 * left in its journal mode (a live file). 0, or -1 with err.
 */
static int
integrity(const char *path, bool self_contained, char *err, size_t errlen)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	const char *verdict;
	int rc = -1;

	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "cannot open %s", path);
		goto out;
	}
	if ((self_contained && sqlite3_exec(db, "PRAGMA journal_mode=DELETE",
	    NULL, NULL, NULL) != SQLITE_OK) ||
	    sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL) !=
	    SQLITE_OK || sqlite3_step(st) != SQLITE_ROW) {
		snprintf(err, errlen, "integrity_check of %s could not run: %s", path,
		    sqlite3_errmsg(db));
		goto out;
	}
	verdict = (const char *)sqlite3_column_text(st, 0);
	if (verdict == NULL || strcmp(verdict, "ok") != 0) {
		snprintf(err, errlen, "%s does not verify: %.200s", path,
		    verdict ? verdict : "?");
		goto out;
	}
	rc = 0;
out:
	sqlite3_finalize(st);
	sqlite3_close(db);
	return rc;
}

static void
run_copy(struct job *j)
{
	char dst[PATH_MAX], err[768];

	for (size_t i = 0; i < j->nfiles; i++) {
		if (atomic_load(&j->cancel)) {
			snprintf(j->error, sizeof(j->error), "stopped before %s",
			    j->files[i]);
			return;
		}
		snprintf(dst, sizeof(dst), "%s/%s", j->folder, base_name(j->files[i]));
		if (access(dst, F_OK) == 0) {
			snprintf(j->error, sizeof(j->error), "two SQLite files named %s "
			    "(deployer.sqlite_backups): each copy keeps its file's name",
			    base_name(j->files[i]));
			return;
		}
		if (hb_sqlite_backup(j->files[i], dst, err, sizeof(err)) != 0 ||
		    integrity(dst, true, err, sizeof(err)) != 0) {
			snprintf(j->error, sizeof(j->error), "%s", err);
			return;
		}
	}
	j->ok = true;
}

/* Adds every regular file under dir (relative path rel) to files. */
static int
list_files(struct job *j, const char *dir, const char *rel, json_t *files)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int rc = 0;

	if (d == NULL) {
		snprintf(j->error, sizeof(j->error), "cannot list %s: %s", dir,
		    strerror(errno));
		return -1;
	}
	while (rc == 0 && (e = readdir(d)) != NULL) {
		char path[PATH_MAX], relpath[PATH_MAX], hex[65];
		struct stat sb;

		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0 ||
		    (rel[0] == '\0' && strncmp(e->d_name, MANIFEST,
		    strlen(MANIFEST)) == 0))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		snprintf(relpath, sizeof(relpath), "%s%s%s", rel, rel[0] ? "/" : "",
		    e->d_name);
		if (lstat(path, &sb) != 0)
			continue;
		if (S_ISDIR(sb.st_mode)) {
			rc = list_files(j, path, relpath, files);
			continue;
		}
		if (!S_ISREG(sb.st_mode))
			continue;
		if (atomic_load(&j->cancel) || sha256_file(path, hex) != 0) {
			snprintf(j->error, sizeof(j->error), "cannot hash %s: %s", path,
			    atomic_load(&j->cancel) ? "stopped" : strerror(errno));
			rc = -1;
			break;
		}
		json_array_append_new(files, json_pack("{s:s,s:I,s:s}", "path", relpath,
		    "size", (json_int_t)sb.st_size, "sha256", hex));
	}
	closedir(d);
	return rc;
}

/*
 * The sha256 of a SQLite file's schema: every row of sqlite_master (type,
 * name, table, SQL) in a fixed order, so that two files with the same
 * tables, indexes and triggers hash alike whatever their rows.
 */
static int
schema_hash(sqlite3 *db, char hex[65])
{
	sqlite3_stmt *st = NULL;
	struct sha256_ctx h;
	int rc;

	if (sqlite3_prepare_v2(db, "SELECT type, name, tbl_name, sql FROM "
	    "sqlite_master ORDER BY type, name", -1, &st, NULL) != SQLITE_OK)
		return -1;
	sha256_init(&h);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		for (int c = 0; c < 4; c++) {
			const unsigned char *v = sqlite3_column_text(st, c);

			/* a NUL between columns and rows: no two schemas run together */
			sha256_update(&h, v ? (size_t)sqlite3_column_bytes(st, c) + 1 :
			    1, v ? v : (const uint8_t *)"");
		}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return -1;
	sha256_hex(&h, hex);
	return 0;
}

/* Rows of every table of db: {"readings": 5000, ...}. NULL on error. */
static json_t *
row_counts(sqlite3 *db)
{
	sqlite3_stmt *st = NULL;
	json_t *rows = json_object();

	if (sqlite3_prepare_v2(db, "SELECT name FROM sqlite_master WHERE type = "
	    "'table' AND name NOT LIKE 'sqlite_%' ORDER BY name", -1, &st, NULL) !=
	    SQLITE_OK) {
		json_decref(rows);
		return NULL;
	}
	while (sqlite3_step(st) == SQLITE_ROW) {
		const char *name = (const char *)sqlite3_column_text(st, 0);
		char *sql = sqlite3_mprintf("SELECT count(*) FROM \"%w\"", name);
		sqlite3_stmt *cnt = NULL;

		if (sql && sqlite3_prepare_v2(db, sql, -1, &cnt, NULL) == SQLITE_OK &&
		    sqlite3_step(cnt) == SQLITE_ROW)
			json_object_set_new(rows, name,
			    json_integer(sqlite3_column_int64(cnt, 0)));
		sqlite3_finalize(cnt);
		sqlite3_free(sql);
	}
	sqlite3_finalize(st);
	return rows;
}

/*
 * What the manifest records of a SQLite file: user_version, schema_sha256
 * and, with rows, the rows of each table. 0, or -1 with err.
 */
static int
sqlite_facts(const char *path, bool rows, json_t *out, char *err,
    size_t errlen)
{
	sqlite3 *db = NULL;
	char hex[65];
	int rc = -1;

	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "cannot open %s", path);
		goto out;
	}
	sqlite3_busy_timeout(db, 5000);
	if (schema_hash(db, hex) != 0) {
		snprintf(err, errlen, "cannot read the schema of %s: %s", path,
		    sqlite3_errmsg(db));
		goto out;
	}
	json_object_set_new(out, "user_version", json_integer(hb_sqlite_scalar(db,
	    "PRAGMA user_version", 0)));
	json_object_set_new(out, "schema_sha256", json_string(hex));
	if (rows)
		json_object_set_new(out, "rows", row_counts(db));
	rc = 0;
out:
	sqlite3_close(db);
	return rc;
}

/*
 * The SQLite copies say where they came from, that they verified, and
 * their user_version, schema hash and rows (what a rollback compares).
 */
static int
annotate(struct job *j, json_t *files, json_t *sqlite)
{
	size_t i, k;
	json_t *f, *src;
	char path[PATH_MAX];

	json_array_foreach(files, i, f) {
		const char *p = json_string_value(json_object_get(f, "path"));

		json_array_foreach(sqlite, k, src)
			if (strcmp(p, base_name(json_string_value(src))) == 0) {
				json_object_set(f, "source", src);
				json_object_set_new(f, "integrity_check", json_string("ok"));
				snprintf(path, sizeof(path), "%s/%s", j->folder, p);
				if (sqlite_facts(path, true, f, j->error,
				    sizeof(j->error)) != 0)
					return -1;
			}
	}
	return 0;
}

static int
write_atomically(const char *path, const char *text, char *err, size_t errlen)
{
	char tmp[PATH_MAX];
	size_t len = strlen(text);
	int fd;

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
	if (fd < 0 || write(fd, text, len) != (ssize_t)len || fsync(fd) != 0) {
		snprintf(err, errlen, "cannot write %s: %s", tmp, strerror(errno));
		if (fd >= 0)
			close(fd);
		unlink(tmp);
		return -1;
	}
	close(fd);
	if (rename(tmp, path) != 0) {
		snprintf(err, errlen, "cannot rename %s: %s", tmp, strerror(errno));
		unlink(tmp);
		return -1;
	}
	return 0;
}

static void
run_manifest(struct job *j)
{
	json_t *files = json_array();
	char path[PATH_MAX], *text;

	if (list_files(j, j->folder, "", files) != 0) {
		json_decref(files);
		return;
	}
	if (annotate(j, files, json_object_get(j->meta, "sqlite")) != 0) {
		json_decref(files);
		return;
	}
	json_object_del(j->meta, "sqlite");
	json_object_set_new(j->meta, "files", files);
	text = json_dumps(j->meta, JSON_INDENT(2));
	snprintf(path, sizeof(path), "%s/%s", j->folder, MANIFEST);
	if (text && write_atomically(path, text, j->error, sizeof(j->error)) == 0)
		j->ok = true;
	free(text);
}

/*
 * Each live file: kept beside as <file>.<kept>-<time> (online backup of it
 * as the failed version left it), then the backup's copy written into it
 * through the online backup API, then integrity_check. On success
 * j->error lists what was restored, for the job's messages.
 */
static void
run_restore(struct job *j)
{
	char copy[PATH_MAX], kept[PATH_MAX], err[768];
	size_t len = 0;

	for (size_t i = 0; i < j->nfiles; i++) {
		snprintf(copy, sizeof(copy), "%s/%s", j->folder, base_name(j->files[i]));
		snprintf(kept, sizeof(kept), "%s.%s-%s", j->files[i], j->kept,
		    j->stamp);
		if (access(copy, R_OK) != 0) {
			snprintf(j->error, sizeof(j->error), "the backup has no copy of %s",
			    j->files[i]);
			return;
		}
		if ((access(j->files[i], F_OK) == 0 &&
		    hb_sqlite_backup(j->files[i], kept, err, sizeof(err)) != 0) ||
		    hb_sqlite_backup(copy, j->files[i], err, sizeof(err)) != 0 ||
		    integrity(j->files[i], false, err, sizeof(err)) != 0) {
			snprintf(j->error, sizeof(j->error), "restoring %s: %s",
			    j->files[i], err);
			return;
		}
		hb_info("restored %s from %s (the file it replaced kept as %s)",
		    j->files[i], j->folder, kept);
	}
	for (size_t i = 0; i < j->nfiles && len < sizeof(j->error); i++)
		len += (size_t)snprintf(j->error + len, sizeof(j->error) - len,
		    "%s%s (the file it replaced kept as %s.%s-%s)", i ? ", " : "",
		    j->files[i], base_name(j->files[i]), j->kept, j->stamp);
	j->ok = true;
}

/* The backup's files against its manifest, hashed again. */
static void
run_verify(struct job *j)
{
	char path[PATH_MAX], hex[65], err[768];
	json_t *m, *files, *f;
	size_t i, n = 0;
	struct stat sb;

	snprintf(path, sizeof(path), "%s/%s", j->folder, MANIFEST);
	m = json_load_file(path, 0, NULL);
	files = json_object_get(m, "files");
	if (!json_is_array(files)) {
		snprintf(j->error, sizeof(j->error), "%s is missing or not a manifest",
		    path);
		goto out;
	}
	json_array_foreach(files, i, f) {
		const char *rel = json_string_value(json_object_get(f, "path"));
		const char *want = json_string_value(json_object_get(f, "sha256"));
		json_int_t size = json_integer_value(json_object_get(f, "size"));

		if (rel == NULL || want == NULL || strstr(rel, "..")) {
			snprintf(j->error, sizeof(j->error), "the manifest of %s has an "
			    "entry without path or sha256", j->folder);
			goto out;
		}
		snprintf(path, sizeof(path), "%s/%s", j->folder, rel);
		if (atomic_load(&j->cancel)) {
			snprintf(j->error, sizeof(j->error), "stopped before %s", rel);
			goto out;
		}
		if (stat(path, &sb) != 0 || sb.st_size != (off_t)size) {
			snprintf(j->error, sizeof(j->error), "%s: %s", path, errno == ENOENT ?
			    "missing" : "not the size the manifest says");
			goto out;
		}
		if (sha256_file(path, hex) != 0 || strcmp(hex, want) != 0) {
			snprintf(j->error, sizeof(j->error), "%s: its sha256 is not the "
			    "manifest's (changed or damaged since the backup)", path);
			goto out;
		}
		if (json_object_get(f, "source") && integrity(path, false, err,
		    sizeof(err)) != 0) {
			snprintf(j->error, sizeof(j->error), "%s", err);
			goto out;
		}
		n++;
	}
	snprintf(j->error, sizeof(j->error), "%zu files match the manifest of %s",
	    n, j->folder);
	j->ok = true;
out:
	json_decref(m);
}

/* The scratch folder of a drill, emptied (its files are ours alone). */
static void
empty_scratch(const char *scratch)
{
	DIR *d = opendir(scratch);
	struct dirent *e;
	char path[PATH_MAX];

	if (d == NULL)
		return;
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", scratch, e->d_name);
		unlink(path);
	}
	closedir(d);
}

/* Verify, then each SQLite copy restored into a scratch folder, counted. */
static void
run_drill(struct job *j)
{
	char path[PATH_MAX], scratch[PATH_MAX], copy[PATH_MAX], err[768];
	char *slash;
	json_t *m = NULL, *f;
	size_t i, nfiles = 0;
	long long nrows = 0;

	run_verify(j);
	if (!j->ok)
		return;
	j->ok = false;
	snprintf(scratch, sizeof(scratch), "%s", j->folder);
	slash = strrchr(scratch, '/');
	if (slash)
		snprintf(slash, sizeof(scratch) - (size_t)(slash - scratch), "/.drill");
	if (hb_mkdirs(scratch) != 0) {
		snprintf(j->error, sizeof(j->error), "cannot create %s: %s", scratch,
		    strerror(errno));
		return;
	}
	empty_scratch(scratch);
	snprintf(path, sizeof(path), "%s/%s", j->folder, MANIFEST);
	m = json_load_file(path, 0, NULL);
	json_array_foreach(json_object_get(m, "files"), i, f) {
		const char *rel = json_string_value(json_object_get(f, "path"));
		json_t *want = json_object_get(f, "rows"), *got;
		sqlite3 *db = NULL;
		const char *table;
		json_t *count;

		if (json_object_get(f, "source") == NULL || rel == NULL)
			continue;
		snprintf(copy, sizeof(copy), "%s/%s", j->folder, rel);
		snprintf(path, sizeof(path), "%s/%s", scratch, base_name(rel));
		if (hb_sqlite_backup(copy, path, err, sizeof(err)) != 0 ||
		    integrity(path, false, err, sizeof(err)) != 0) {
			snprintf(j->error, sizeof(j->error), "drill of %s: %s", rel, err);
			goto out;
		}
		if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
			sqlite3_close(db);
			snprintf(j->error, sizeof(j->error), "drill: cannot open %s", path);
			goto out;
		}
		got = row_counts(db);
		sqlite3_close(db);
		json_object_foreach(want, table, count) {
			json_t *g = json_object_get(got, table);

			if (!json_is_integer(g) || json_integer_value(g) !=
			    json_integer_value(count)) {
				snprintf(j->error, sizeof(j->error), "drill of %s: table %s "
				    "has %lld rows restored, the manifest says %lld", rel,
				    table, g ? (long long)json_integer_value(g) : -1LL,
				    (long long)json_integer_value(count));
				json_decref(got);
				goto out;
			}
			nrows += json_integer_value(count);
		}
		json_decref(got);
		nfiles++;
	}
	snprintf(j->error, sizeof(j->error), "%zu SQLite files restored into %s, "
	    "integrity_check ok, %lld rows as the manifest says", nfiles, scratch,
	    nrows);
	j->ok = true;
out:
	empty_scratch(scratch);
	rmdir(scratch);
	json_decref(m);
}

static void *
worker(void *arg)
{
	struct backup *b = arg;
	char byte = 1;

	if (b->job.kind == JOB_COPY)
		run_copy(&b->job);
	else if (b->job.kind == JOB_RESTORE)
		run_restore(&b->job);
	else if (b->job.kind == JOB_VERIFY)
		run_verify(&b->job);
	else if (b->job.kind == JOB_DRILL)
		run_drill(&b->job);
	else
		run_manifest(&b->job);
	/* the loop joins us when it reads this */
	while (write(b->pipefd[1], &byte, 1) < 0 && errno == EINTR)
		;
	return NULL;
}

/* ---------------- on the loop thread ---------------- */

static void
on_done(evutil_socket_t fd, short what, void *arg)
{
	struct backup *b = arg;
	char byte;
	bool ok;
	char error[1024];

	(void)what;
	if (read(fd, &byte, 1) != 1)
		return;
	pthread_join(b->thread, NULL);
	b->running = false;
	ok = b->job.ok;
	snprintf(error, sizeof(error), "%s", b->job.error);
	job_clear(&b->job);
	b->done(ok, error, b->arg);
}

struct backup *
backup_new(struct event_base *base)
{
	struct backup *b = hb_xcalloc(1, sizeof(*b));

	b->base = base;
	if (pipe2(b->pipefd, O_CLOEXEC | O_NONBLOCK) != 0) {
		hb_error("backup: pipe: %s", strerror(errno));
		free(b);
		return NULL;
	}
	b->ev_done = event_new(base, b->pipefd[0], EV_READ | EV_PERSIST, on_done, b);
	event_add(b->ev_done, NULL);
	return b;
}

void
backup_free(struct backup *b)
{
	if (b == NULL)
		return;
	if (b->running) {
		atomic_store(&b->job.cancel, true);
		pthread_join(b->thread, NULL);
	}
	job_clear(&b->job);
	event_free(b->ev_done);
	close(b->pipefd[0]);
	close(b->pipefd[1]);
	free(b);
}

bool
backup_busy(const struct backup *b)
{
	return b->running;
}

void
backup_cancel(struct backup *b)
{
	if (b->running)
		atomic_store(&b->job.cancel, true);
}

static int
start_job(struct backup *b, backup_done_fn done, void *arg, char *err,
    size_t errlen)
{
	int rc;

	b->done = done;
	b->arg = arg;
	rc = pthread_create(&b->thread, NULL, worker, b);
	if (rc != 0) {
		snprintf(err, errlen, "cannot start the backup thread: %s", strerror(rc));
		job_clear(&b->job);
		return -1;
	}
	b->running = true;
	return 0;
}

int
backup_make_folder(const char *root, const char *tag, int64_t wall_ms,
    char *out, size_t outlen, char *err, size_t errlen)
{
	char path[PATH_MAX];

	if (hb_mkdirs(root) != 0) {
		snprintf(err, errlen, "cannot create %s: %s", root, strerror(errno));
		return -1;
	}
	for (int i = 0; i < 5; i++) {
		time_t t = (time_t)(wall_ms / 1000 + i);
		struct tm tm;
		char when[TIME_LEN + 1];

		gmtime_r(&t, &tm);
		strftime(when, sizeof(when), "%Y%m%dT%H%M%SZ", &tm);
		snprintf(out, outlen, "%s-%s", when, tag && *tag ? tag : "none");
		snprintf(path, sizeof(path), "%s/%s", root, out);
		if (mkdir(path, 0750) == 0)
			return 0;
		if (errno != EEXIST)
			break;
	}
	snprintf(err, errlen, "cannot create %s: %s", path, strerror(errno));
	return -1;
}

int
backup_copy_sqlite(struct backup *b, const char *root, const char *name,
    const char *const *files, size_t n, backup_done_fn done, void *arg,
    char *err, size_t errlen)
{
	if (b->running || n > HB_ARRAY_LEN(b->job.files)) {
		snprintf(err, errlen, b->running ? "a backup job is running" :
		    "too many SQLite files");
		return -1;
	}
	job_clear(&b->job);
	b->job.kind = JOB_COPY;
	snprintf(b->job.folder, sizeof(b->job.folder), "%s/%s", root, name);
	for (size_t i = 0; i < n; i++)
		b->job.files[b->job.nfiles++] = hb_xstrdup(files[i]);
	return start_job(b, done, arg, err, errlen);
}

int
backup_write_manifest(struct backup *b, const char *root, const char *name,
    const struct backup_meta *meta, backup_done_fn done, void *arg, char *err,
    size_t errlen)
{
	json_t *sqlite = json_array();

	if (b->running) {
		snprintf(err, errlen, "a backup job is running");
		json_decref(sqlite);
		return -1;
	}
	job_clear(&b->job);
	b->job.kind = JOB_MANIFEST;
	snprintf(b->job.folder, sizeof(b->job.folder), "%s/%s", root, name);
	for (size_t i = 0; i < meta->nsqlite; i++)
		json_array_append_new(sqlite, json_string(meta->sqlite[i]));
	b->job.meta = json_pack("{s:i,s:s,s:s,s:s,s:s,s:o,s:o}", "format", 1,
	    "id", meta->id, "from_tag", meta->from_tag, "to_tag", meta->to_tag,
	    "instance", meta->instance, "created", hb_msg_time(hb_wall_ms()),
	    "sqlite", sqlite);
	return start_job(b, done, arg, err, errlen);
}

int
backup_restore_sqlite(struct backup *b, const char *root, const char *name,
    const char *const *files, size_t n, const char *kept, int64_t wall_ms,
    backup_done_fn done, void *arg, char *err, size_t errlen)
{
	time_t t = (time_t)(wall_ms / 1000);
	struct tm tm;

	if (b->running || n > HB_ARRAY_LEN(b->job.files)) {
		snprintf(err, errlen, b->running ? "a backup job is running" :
		    "too many SQLite files");
		return -1;
	}
	job_clear(&b->job);
	b->job.kind = JOB_RESTORE;
	snprintf(b->job.kept, sizeof(b->job.kept), "%s", kept);
	snprintf(b->job.folder, sizeof(b->job.folder), "%s/%s", root, name);
	gmtime_r(&t, &tm);
	strftime(b->job.stamp, sizeof(b->job.stamp), "%Y%m%dT%H%M%SZ", &tm);
	for (size_t i = 0; i < n; i++)
		b->job.files[b->job.nfiles++] = hb_xstrdup(files[i]);
	return start_job(b, done, arg, err, errlen);
}

static int
start_check(struct backup *b, enum job_kind kind, const char *root,
    const char *name, backup_done_fn done, void *arg, char *err, size_t errlen)
{
	if (b->running) {
		snprintf(err, errlen, "a backup job is running");
		return -1;
	}
	job_clear(&b->job);
	b->job.kind = kind;
	snprintf(b->job.folder, sizeof(b->job.folder), "%s/%s", root, name);
	return start_job(b, done, arg, err, errlen);
}

int
backup_drill(struct backup *b, const char *root, const char *name,
    backup_done_fn done, void *arg, char *err, size_t errlen)
{
	return start_check(b, JOB_DRILL, root, name, done, arg, err, errlen);
}

int
backup_verify(struct backup *b, const char *root, const char *name,
    backup_done_fn done, void *arg, char *err, size_t errlen)
{
	return start_check(b, JOB_VERIFY, root, name, done, arg, err, errlen);
}

bool
backup_lists_source(const char *root, const char *name, const char *live)
{
	char path[PATH_MAX];
	json_t *m, *f;
	size_t i;
	bool found = false;

	snprintf(path, sizeof(path), "%s/%s/%s", root, name, MANIFEST);
	m = json_load_file(path, 0, NULL);
	json_array_foreach(json_object_get(m, "files"), i, f) {
		const char *src = json_string_value(json_object_get(f, "source"));

		found = found || (src && strcmp(src, live) == 0);
	}
	json_decref(m);
	return found;
}

int
backup_schema_changed(const char *root, const char *name, const char *live,
    bool *changed, char *err, size_t errlen)
{
	char path[PATH_MAX], hex[65];
	json_t *m, *files, *f, *facts;
	const char *was = NULL;
	size_t i;
	int rc = -1;

	snprintf(path, sizeof(path), "%s/%s/%s", root, name, MANIFEST);
	m = json_load_file(path, 0, NULL);
	files = json_object_get(m, "files");
	json_array_foreach(files, i, f)
		if (json_is_string(json_object_get(f, "source")) &&
		    strcmp(json_string_value(json_object_get(f, "source")), live) == 0)
			was = json_string_value(json_object_get(f, "schema_sha256"));
	if (m == NULL) {
		snprintf(err, errlen, "cannot read %s", path);
		goto out;
	}
	if (was == NULL) {
		snprintf(err, errlen, "backup %s records no schema of %s", name, live);
		goto out;
	}
	facts = json_object();
	rc = sqlite_facts(live, false, facts, err, errlen);
	if (rc == 0) {
		snprintf(hex, sizeof(hex), "%s",
		    json_string_value(json_object_get(facts, "schema_sha256")));
		*changed = strcmp(hex, was) != 0;
	}
	json_decref(facts);
out:
	json_decref(m);
	return rc;
}
