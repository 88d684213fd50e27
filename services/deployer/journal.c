/*
 * journal: the deploy journal in SQLite (see journal.h).
 */
#include "journal.h"
#include "hb_log.h"
#include "hb_sqlite.h"
#include "hb_util.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct journal {
	sqlite3 *db;
};

static const char *const migrations[] = {
	"CREATE TABLE jobs ("
	"  seq INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  id TEXT NOT NULL UNIQUE,"
	"  action TEXT NOT NULL,"
	"  from_tag TEXT NOT NULL DEFAULT '',"
	"  to_tag TEXT NOT NULL DEFAULT '',"
	"  services TEXT NOT NULL DEFAULT '',"
	"  requested_by TEXT NOT NULL DEFAULT '',"
	"  backup TEXT NOT NULL DEFAULT '',"
	"  phase TEXT NOT NULL,"
	"  step TEXT NOT NULL DEFAULT '',"
	"  step_index INTEGER NOT NULL DEFAULT 0,"
	"  step_count INTEGER NOT NULL DEFAULT 0,"
	"  outcome TEXT,"
	"  error TEXT NOT NULL DEFAULT '',"
	"  log_tail TEXT NOT NULL DEFAULT '',"
	"  started_ms INTEGER NOT NULL,"
	"  updated_ms INTEGER NOT NULL,"
	"  finished_ms INTEGER,"
	"  up_ms INTEGER NOT NULL DEFAULT 0,"
	"  dry_run INTEGER NOT NULL DEFAULT 0);"
	/* the lock: at most one job without an outcome */
	"CREATE UNIQUE INDEX jobs_one_open ON jobs((outcome IS NULL)) "
	"  WHERE outcome IS NULL;"
	"CREATE TABLE steps ("
	"  job INTEGER NOT NULL REFERENCES jobs(seq),"
	"  n INTEGER NOT NULL,"
	"  name TEXT NOT NULL,"
	"  argv TEXT NOT NULL DEFAULT '',"
	"  exit_code INTEGER,"
	"  signal INTEGER NOT NULL DEFAULT 0,"
	"  timed_out INTEGER NOT NULL DEFAULT 0,"
	"  ok INTEGER NOT NULL,"
	"  started_ms INTEGER NOT NULL,"
	"  duration_ms REAL NOT NULL,"
	"  output_tail TEXT NOT NULL DEFAULT '',"
	"  PRIMARY KEY (job, n));",
	/* the process group of the command running: one row at most */
	"CREATE TABLE step_group ("
	"  one INTEGER PRIMARY KEY CHECK (one = 1),"
	"  pgid INTEGER NOT NULL,"
	"  leader_start INTEGER NOT NULL,"
	"  step TEXT NOT NULL,"
	"  started_ms INTEGER NOT NULL);",
	/* what a job put back (hb_deploy_state.restored) */
	"ALTER TABLE jobs ADD COLUMN restored TEXT NOT NULL DEFAULT '';",
};

#define JOB_COLUMNS "seq, id, action, from_tag, to_tag, services, " \
	"requested_by, backup, phase, step, step_index, step_count, " \
	"coalesce(outcome, ''), error, log_tail, started_ms, updated_ms, " \
	"coalesce(finished_ms, 0), up_ms, dry_run, restored"

struct journal *
journal_open(const char *path, char *err, size_t errlen)
{
	struct journal *j;
	sqlite3 *db = hb_sqlite_open(path, migrations, HB_ARRAY_LEN(migrations),
	    err, errlen);

	if (db == NULL)
		return NULL;
	j = hb_xcalloc(1, sizeof(*j));
	j->db = db;
	return j;
}

void
journal_close(struct journal *j)
{
	if (j == NULL)
		return;
	hb_sqlite_close(j->db);
	free(j);
}

static void
copy_col(sqlite3_stmt *st, int col, char *out, size_t outlen)
{
	const unsigned char *s = sqlite3_column_text(st, col);

	snprintf(out, outlen, "%s", s ? (const char *)s : "");
}

static int
parse_action(const char *s)
{
	static const enum hb_deploy_action all[] = { HB_DEPLOY_DEPLOY,
	    HB_DEPLOY_ROLLBACK, HB_DEPLOY_STATUS, HB_DEPLOY_BACKUP,
	    HB_DEPLOY_RESTORE, HB_DEPLOY_VERIFY, HB_DEPLOY_DRILL };

	for (size_t i = 0; i < HB_ARRAY_LEN(all); i++)
		if (strcmp(s, hb_deploy_action_name(all[i])) == 0)
			return (int)all[i];
	return HB_DEPLOY_DEPLOY;
}

static void
read_job(sqlite3_stmt *st, struct journal_job *out)
{
	char action[16];

	memset(out, 0, sizeof(*out));
	out->seq = sqlite3_column_int64(st, 0);
	copy_col(st, 1, out->id, sizeof(out->id));
	copy_col(st, 2, action, sizeof(action));
	out->action = (enum hb_deploy_action)parse_action(action);
	copy_col(st, 3, out->from_tag, sizeof(out->from_tag));
	copy_col(st, 4, out->to_tag, sizeof(out->to_tag));
	copy_col(st, 5, out->services, sizeof(out->services));
	copy_col(st, 6, out->requested_by, sizeof(out->requested_by));
	copy_col(st, 7, out->backup, sizeof(out->backup));
	copy_col(st, 8, out->phase, sizeof(out->phase));
	copy_col(st, 9, out->step, sizeof(out->step));
	out->step_index = sqlite3_column_int(st, 10);
	out->step_count = sqlite3_column_int(st, 11);
	copy_col(st, 12, out->outcome, sizeof(out->outcome));
	copy_col(st, 13, out->error, sizeof(out->error));
	copy_col(st, 14, out->log_tail, sizeof(out->log_tail));
	out->started_ms = sqlite3_column_int64(st, 15);
	out->updated_ms = sqlite3_column_int64(st, 16);
	out->finished_ms = sqlite3_column_int64(st, 17);
	out->up_ms = sqlite3_column_int64(st, 18);
	out->dry_run = sqlite3_column_int(st, 19) != 0;
	copy_col(st, 20, out->restored, sizeof(out->restored));
}

/* One job from a query whose only parameter (if any) is text. */
static bool
one_job(struct journal *j, const char *sql, const char *param,
    struct journal_job *out)
{
	sqlite3_stmt *st = hb_sqlite_prepare(j->db, sql);
	bool found = false;

	if (st == NULL)
		return false;
	if (param)
		sqlite3_bind_text(st, 1, param, -1, SQLITE_TRANSIENT);
	if (sqlite3_step(st) == SQLITE_ROW) {
		read_job(st, out);
		found = true;
	}
	sqlite3_finalize(st);
	return found;
}

bool
journal_find(struct journal *j, const char *id, struct journal_job *out)
{
	return one_job(j, "SELECT " JOB_COLUMNS " FROM jobs WHERE id = ?", id, out);
}

bool
journal_last_of(struct journal *j, enum hb_deploy_action action,
    struct journal_job *out)
{
	return one_job(j, "SELECT " JOB_COLUMNS " FROM jobs WHERE action = ? AND "
	    "outcome IS NOT NULL ORDER BY seq DESC LIMIT 1",
	    hb_deploy_action_name(action), out);
}

bool
journal_last(struct journal *j, struct journal_job *out)
{
	return one_job(j, "SELECT " JOB_COLUMNS " FROM jobs ORDER BY seq DESC "
	    "LIMIT 1", NULL, out);
}

bool
journal_unfinished(struct journal *j, struct journal_job *out)
{
	return one_job(j, "SELECT " JOB_COLUMNS " FROM jobs WHERE outcome IS NULL",
	    NULL, out);
}

int
journal_begin(struct journal *j, struct journal_job *job)
{
	sqlite3_stmt *st = hb_sqlite_prepare(j->db,
	    "INSERT INTO jobs (id, action, from_tag, to_tag, services, requested_by, "
	    "phase, started_ms, updated_ms, dry_run) VALUES (?, ?, ?, ?, ?, ?, ?, ?, "
	    "?, ?)");
	int rc;

	if (st == NULL)
		return -1;
	sqlite3_bind_text(st, 1, job->id, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 2, hb_deploy_action_name(job->action), -1,
	    SQLITE_STATIC);
	sqlite3_bind_text(st, 3, job->from_tag, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 4, job->to_tag, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 5, job->services, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 6, job->requested_by, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 7, job->phase, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 8, job->started_ms);
	sqlite3_bind_int64(st, 9, job->updated_ms);
	sqlite3_bind_int(st, 10, job->dry_run);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		hb_warn("journal: job id=%s not recorded: %s", job->id,
		    sqlite3_errmsg(j->db));
		return -1;
	}
	job->seq = sqlite3_last_insert_rowid(j->db);
	return 0;
}

int
journal_save(struct journal *j, const struct journal_job *job)
{
	sqlite3_stmt *st = hb_sqlite_prepare(j->db,
	    "UPDATE jobs SET from_tag = ?, to_tag = ?, backup = ?, phase = ?, "
	    "step = ?, step_index = ?, step_count = ?, outcome = ?, error = ?, "
	    "log_tail = ?, updated_ms = ?, finished_ms = ?, up_ms = ?, restored = ? "
	    "WHERE seq = ?");
	int rc;

	if (st == NULL)
		return -1;
	sqlite3_bind_text(st, 1, job->from_tag, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 2, job->to_tag, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 3, job->backup, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 4, job->phase, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 5, job->step, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int(st, 6, job->step_index);
	sqlite3_bind_int(st, 7, job->step_count);
	if (job->outcome[0])
		sqlite3_bind_text(st, 8, job->outcome, -1, SQLITE_TRANSIENT);
	else
		sqlite3_bind_null(st, 8);
	sqlite3_bind_text(st, 9, job->error, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 10, job->log_tail, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 11, job->updated_ms);
	if (job->finished_ms > 0)
		sqlite3_bind_int64(st, 12, job->finished_ms);
	else
		sqlite3_bind_null(st, 12);
	sqlite3_bind_int64(st, 13, job->up_ms);
	sqlite3_bind_text(st, 14, job->restored, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 15, job->seq);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		hb_warn("journal: job id=%s not saved: %s", job->id,
		    sqlite3_errmsg(j->db));
		return -1;
	}
	return 0;
}

int
journal_add_step(struct journal *j, int64_t seq, const struct journal_step *s)
{
	sqlite3_stmt *st = hb_sqlite_prepare(j->db,
	    "INSERT INTO steps (job, n, name, argv, exit_code, signal, timed_out, ok, "
	    "started_ms, duration_ms, output_tail) VALUES (?, "
	    "(SELECT coalesce(max(n), 0) + 1 FROM steps WHERE job = ?), "
	    "?, ?, ?, ?, ?, ?, ?, ?, ?)");
	int rc;

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, seq);
	sqlite3_bind_int64(st, 2, seq);
	sqlite3_bind_text(st, 3, s->name, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 4, s->argv, -1, SQLITE_TRANSIENT);
	if (s->exit_code >= 0)
		sqlite3_bind_int(st, 5, s->exit_code);
	else
		sqlite3_bind_null(st, 5);
	sqlite3_bind_int(st, 6, s->signal);
	sqlite3_bind_int(st, 7, s->timed_out);
	sqlite3_bind_int(st, 8, s->ok);
	sqlite3_bind_int64(st, 9, s->started_ms);
	sqlite3_bind_double(st, 10, s->duration_ms);
	sqlite3_bind_text(st, 11, s->output_tail, -1, SQLITE_TRANSIENT);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		hb_warn("journal: step %s not recorded: %s", s->name,
		    sqlite3_errmsg(j->db));
		return -1;
	}
	return 0;
}

int
journal_set_group(struct journal *j, const struct journal_group *g)
{
	sqlite3_stmt *st = hb_sqlite_prepare(j->db, g ?
	    "INSERT OR REPLACE INTO step_group (one, pgid, leader_start, step, "
	    "started_ms) VALUES (1, ?, ?, ?, ?)" : "DELETE FROM step_group");
	int rc;

	if (st == NULL)
		return -1;
	if (g) {
		sqlite3_bind_int64(st, 1, g->pgid);
		sqlite3_bind_int64(st, 2, (sqlite3_int64)g->leader_start);
		sqlite3_bind_text(st, 3, g->step, -1, SQLITE_TRANSIENT);
		sqlite3_bind_int64(st, 4, g->started_ms);
	}
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		hb_warn("journal: step process group not recorded: %s",
		    sqlite3_errmsg(j->db));
		return -1;
	}
	return 0;
}

bool
journal_group(struct journal *j, struct journal_group *out)
{
	sqlite3_stmt *st = hb_sqlite_prepare(j->db, "SELECT pgid, leader_start, "
	    "step, started_ms FROM step_group");
	bool found = false;

	memset(out, 0, sizeof(*out));
	if (st == NULL)
		return false;
	if (sqlite3_step(st) == SQLITE_ROW) {
		out->pgid = sqlite3_column_int64(st, 0);
		out->leader_start = (unsigned long long)sqlite3_column_int64(st, 1);
		copy_col(st, 2, out->step, sizeof(out->step));
		out->started_ms = sqlite3_column_int64(st, 3);
		found = true;
	}
	sqlite3_finalize(st);
	return found;
}

void
journal_versions(struct journal *j, const char *initial, char *running,
    size_t runlen, char *previous, size_t prevlen, char *backup, size_t backlen)
{
	sqlite3_stmt *st;

	snprintf(running, runlen, "%s", initial);
	previous[0] = '\0';
	backup[0] = '\0';
	/* what the last verified job left running, and the backup it took */
	st = hb_sqlite_prepare(j->db, "SELECT to_tag, backup FROM jobs WHERE "
	    "outcome = 'done' AND action IN ('deploy', 'rollback') AND dry_run = 0 "
	    "ORDER BY seq DESC LIMIT 1");
	if (st && sqlite3_step(st) == SQLITE_ROW) {
		copy_col(st, 0, running, runlen);
		copy_col(st, 1, backup, backlen);
	}
	sqlite3_finalize(st);
	/* what ran before it: a redeploy of the same tag changes nothing */
	st = hb_sqlite_prepare(j->db, "SELECT from_tag FROM jobs WHERE "
	    "outcome = 'done' AND action IN ('deploy', 'rollback') AND "
	    "dry_run = 0 AND from_tag != to_tag ORDER BY seq DESC LIMIT 1");
	if (st && sqlite3_step(st) == SQLITE_ROW)
		copy_col(st, 0, previous, prevlen);
	sqlite3_finalize(st);
}

static json_t *
job_steps(struct journal *j, int64_t seq)
{
	sqlite3_stmt *st = hb_sqlite_prepare(j->db, "SELECT name, argv, exit_code, "
	    "signal, timed_out, ok, started_ms, duration_ms, output_tail FROM steps "
	    "WHERE job = ? ORDER BY n");
	json_t *a = json_array();

	if (st == NULL)
		return a;
	sqlite3_bind_int64(st, 1, seq);
	while (sqlite3_step(st) == SQLITE_ROW) {
		const char *argv = (const char *)sqlite3_column_text(st, 1);
		json_t *o = json_object(), *args = argv && *argv ?
		    json_loads(argv, 0, NULL) : NULL;

		json_object_set_new(o, "name", json_string(
		    (const char *)sqlite3_column_text(st, 0)));
		json_object_set_new(o, "argv", args ? args : json_null());
		json_object_set_new(o, "exit_code", sqlite3_column_type(st, 2) ==
		    SQLITE_NULL ? json_null() : json_integer(sqlite3_column_int(st, 2)));
		if (sqlite3_column_int(st, 3))
			json_object_set_new(o, "signal", json_integer(
			    sqlite3_column_int(st, 3)));
		json_object_set_new(o, "timed_out", json_boolean(
		    sqlite3_column_int(st, 4)));
		json_object_set_new(o, "ok", json_boolean(sqlite3_column_int(st, 5)));
		json_object_set_new(o, "started", hb_msg_time(
		    sqlite3_column_int64(st, 6)));
		json_object_set_new(o, "duration_s", json_real(
		    sqlite3_column_double(st, 7) / 1000.0));
		json_object_set_new(o, "output_tail", json_string(
		    (const char *)sqlite3_column_text(st, 8)));
		json_array_append_new(a, o);
	}
	sqlite3_finalize(st);
	return a;
}

static json_t *
job_json(struct journal *j, const struct journal_job *jb)
{
	json_t *o = json_object();

	json_object_set_new(o, "id", json_string(jb->id));
	json_object_set_new(o, "action", json_string(hb_deploy_action_name(jb->action)));
	json_object_set_new(o, "from_tag", json_string(jb->from_tag));
	json_object_set_new(o, "to_tag", json_string(jb->to_tag));
	json_object_set_new(o, "services", json_string(jb->services));
	json_object_set_new(o, "requested_by", json_string(jb->requested_by));
	json_object_set_new(o, "phase", json_string(jb->phase));
	json_object_set_new(o, "outcome", jb->outcome[0] ?
	    json_string(jb->outcome) : json_null());
	json_object_set_new(o, "error", json_string(jb->error));
	json_object_set_new(o, "backup", json_string(jb->backup));
	json_object_set_new(o, "log_tail", json_string(jb->log_tail));
	if (jb->restored[0])
		json_object_set_new(o, "restored", json_string(jb->restored));
	json_object_set_new(o, "started", hb_msg_time(jb->started_ms));
	json_object_set_new(o, "updated", hb_msg_time(jb->updated_ms));
	json_object_set_new(o, "finished", jb->finished_ms > 0 ?
	    hb_msg_time(jb->finished_ms) : json_null());
	json_object_set_new(o, "duration_s", json_real((double)((jb->finished_ms > 0 ?
	    jb->finished_ms : jb->updated_ms) - jb->started_ms) / 1000.0));
	if (jb->dry_run)
		json_object_set_new(o, "dry_run", json_true());
	json_object_set_new(o, "steps", job_steps(j, jb->seq));
	return o;
}

json_t *
journal_recent(struct journal *j, int n)
{
	sqlite3_stmt *st = hb_sqlite_prepare(j->db,
	    "SELECT " JOB_COLUMNS " FROM jobs ORDER BY seq DESC LIMIT ?");
	json_t *a = json_array();
	struct journal_job *jb = hb_xmalloc(sizeof(*jb));

	if (st != NULL) {
		sqlite3_bind_int(st, 1, n);
		while (sqlite3_step(st) == SQLITE_ROW) {
			read_job(st, jb);
			json_array_append_new(a, job_json(j, jb));
		}
		sqlite3_finalize(st);
	}
	free(jb);
	return a;
}
