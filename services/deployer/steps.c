/*
 * steps: one step of a job at a time, each reported the same way (see
 * steps.h).
 */
#include "steps.h"
#include "hb_log.h"
#include "hb_util.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define TAIL_LINES 20

static const char *const names[] = { "preflight", "pull", "backup", "backup",
    "backup", "up", "restore", "stop", "restore", "check", "drill", "drill",
    "verify", "record" };

struct steps {
	struct job_parts p;
	enum job_step kind;
	const struct step_input *in;
	steps_done_fn done;
	void *arg;
	bool waiting;
	char error[768];
	char tail[HB_DEPLOY_LOG_TAIL_MAX];
};

const char *
steps_name(enum job_step s)
{
	return (size_t)s < HB_ARRAY_LEN(names) ? names[s] : "?";
}

/*
 * A backup part that failed takes its folder with it at once: its partial
 * copies would hold the space the next preflight asks for, and a listing
 * would show them. The job then names no backup.
 */
static void
discard_failed_backup(struct steps *s, bool ok)
{
	bool part = s->kind == JS_SQLITE || s->kind == JS_BACKUP_CMD ||
	    s->kind == JS_MANIFEST;

	if (ok || !part || s->p.dry_run || s->in->backup[0] == '\0')
		return;
	backup_discard(s->p.cfg->backup_dir, s->in->backup);
	s->in->backup[0] = '\0';
}

/* The end of a step that ran no command. */
static void
report(struct steps *s, bool ok, const char *error, const char *tail)
{
	struct step_result r;

	memset(&r, 0, sizeof(r));
	r.ok = ok;
	r.error = error ? error : "";
	r.tail = tail ? tail : "";
	r.output = r.tail;
	r.output_len = strlen(r.tail);
	r.argv_json = "";
	r.exit_code = -1;
	s->waiting = false;
	discard_failed_backup(s, ok);
	s->done(&r, s->arg);
}

/* ---------------- commands ---------------- */

static void
on_runner_done(const struct runner_result *rr, void *arg)
{
	struct steps *s = arg;
	struct step_result r;

	runner_tail(rr->output, rr->output_len, TAIL_LINES, s->tail, sizeof(s->tail));
	memset(&r, 0, sizeof(r));
	r.ok = rr->ok;
	r.error = rr->error;
	r.tail = s->tail;
	r.output = rr->output;
	r.output_len = rr->output_len;
	r.argv_json = rr->argv_json;
	r.exit_code = rr->exit_code;
	r.signal = rr->signal;
	r.timed_out = rr->timed_out;
	s->waiting = false;
	discard_failed_backup(s, rr->ok);
	s->done(&r, s->arg);
}

static void
run_command(struct steps *s, enum step_kind kind, const char *backup_dir)
{
	struct runner_params rp;

	memset(&rp, 0, sizeof(rp));
	rp.tag = s->in->tag;
	rp.backup_dir = backup_dir;
	rp.services = s->in->services;
	rp.nservices = s->in->nservices;
	s->waiting = true;
	if (runner_start(s->p.runner, kind, &rp, on_runner_done, s, s->error,
	    sizeof(s->error)) != 0)
		report(s, false, s->error, NULL);
}

/* ---------------- preflight ---------------- */

static bool
preflight(struct steps *s)
{
	const struct deployer_config *c = s->p.cfg;
	const struct step_input *in = s->in;
	long long free_mb;

	if ((in->action == HB_DEPLOY_VERIFY || in->action == HB_DEPLOY_DRILL) &&
	    in->no_target && *in->no_target) {
		snprintf(s->error, sizeof(s->error), "%s", in->no_target);
		return false;
	}
	if (in->action != HB_DEPLOY_BACKUP && in->action != HB_DEPLOY_VERIFY &&
	    in->action != HB_DEPLOY_DRILL && in->from_tag[0] == '\0') {
		snprintf(s->error, sizeof(s->error), "the running version is unknown "
		    "(no verified deploy yet): set deployer.initial_tag");
		return false;
	}
	if (in->action == HB_DEPLOY_ROLLBACK && in->to_tag[0] == '\0') {
		snprintf(s->error, sizeof(s->error), "%s", in->no_target &&
		    *in->no_target ? in->no_target : "no previous version to go back to");
		return false;
	}
	if (in->action == HB_DEPLOY_RESTORE && in->no_target && *in->no_target) {
		snprintf(s->error, sizeof(s->error), "%s", in->no_target);
		return false;
	}
	if (!in->backs_up)
		return true;
	if (s->p.dry_run && access(c->backup_dir, F_OK) != 0) {
		hb_info("dry-run: deployer.backup_dir %s would be created",
		    c->backup_dir);
		return true;
	}
	if (hb_mkdirs(c->backup_dir) != 0 ||
	    (free_mb = backup_free_mb(c->backup_dir)) < 0) {
		snprintf(s->error, sizeof(s->error), "cannot use deployer.backup_dir %s",
		    c->backup_dir);
		return false;
	}
	if (free_mb < c->min_free_mb) {
		snprintf(s->error, sizeof(s->error), "%lld MB free under %s, "
		    "deployer.min_free_mb is %lld", free_mb, c->backup_dir,
		    c->min_free_mb);
		return false;
	}
	return true;
}

/* ---------------- the backup ---------------- */

/* Retention, never touching the backup of the version verified last. */
static void
prune(struct steps *s)
{
	const struct deployer_config *c = s->p.cfg;
	char running[129], previous[129], verified[HB_DEPLOY_BACKUP_MAX];
	char newest[HB_DEPLOY_BACKUP_MAX];
	const char *keep[3];

	journal_versions(s->p.journal, c->initial_tag, running, sizeof(running),
	    previous, sizeof(previous), verified, sizeof(verified));
	backup_newest_of(c->backup_dir, running, newest, sizeof(newest));
	keep[0] = verified;
	keep[1] = newest;
	keep[2] = s->in->backup;
	backup_prune(c->backup_dir, c->keep_backups, c->keep_days, hb_wall_ms(),
	    keep, HB_ARRAY_LEN(keep));
}

static void
on_backup_done(bool ok, const char *error, void *arg)
{
	struct steps *s = arg;

	if (ok && s->kind == JS_MANIFEST)
		prune(s);
	snprintf(s->error, sizeof(s->error), "%s", error);
	/* a check that passed says what it checked */
	report(s, ok, ok ? NULL : s->error, ok && s->kind != JS_CHECK &&
	    s->kind != JS_DRILL ? "" : s->error);
}

static int
start_manifest(struct steps *s)
{
	const struct deployer_config *c = s->p.cfg;
	struct backup_meta m;

	memset(&m, 0, sizeof(m));
	m.id = s->in->id;
	m.from_tag = s->in->from_tag;
	m.to_tag = s->in->to_tag;
	m.instance = s->p.instance;
	m.sqlite = c->sqlite;
	m.nsqlite = c->nsqlite;
	return backup_write_manifest(s->p.backup, c->backup_dir, s->in->backup, &m,
	    on_backup_done, s, s->error, sizeof(s->error));
}

static void
run_backup_part(struct steps *s)
{
	const struct deployer_config *c = s->p.cfg;
	char folder[PATH_MAX];
	int rc;

	if (s->p.dry_run && s->kind != JS_BACKUP_CMD) {
		hb_info("dry-run: no %s written under %s", s->kind == JS_SQLITE ?
		    "SQLite copies" : "manifest", c->backup_dir);
		report(s, true, NULL, "dry run: nothing written");
		return;
	}
	if (s->kind == JS_BACKUP_CMD) {
		if (c->steps[STEP_BACKUP].argc == 0) {
			report(s, true, NULL, "no backup command configured");
			return;
		}
		snprintf(folder, sizeof(folder), "%s/%s", c->backup_dir,
		    s->in->backup[0] ? s->in->backup : "(dry-run)");
		run_command(s, STEP_BACKUP, folder);
		return;
	}
	s->waiting = true;
	if (s->kind == JS_SQLITE) {
		rc = backup_make_folder(c->backup_dir, s->in->from_tag, hb_wall_ms(),
		    s->in->backup, s->in->backup_len, s->error, sizeof(s->error));
		if (rc == 0)
			rc = backup_copy_sqlite(s->p.backup, c->backup_dir, s->in->backup,
			    c->sqlite, c->nsqlite, on_backup_done, s, s->error,
			    sizeof(s->error));
	} else {
		rc = start_manifest(s);
	}
	if (rc != 0)
		report(s, false, s->error, s->error);
}

/* ---------------- restoring SQLite files ---------------- */

static void
on_restored(bool ok, const char *what, void *arg)
{
	struct steps *s = arg;

	if (ok) {
		snprintf(s->in->restored, s->in->restored_len, "%s", what);
		report(s, true, NULL, what);
		return;
	}
	snprintf(s->error, sizeof(s->error), "%s", what);
	report(s, false, s->error, s->error);
}

static void
run_restore_sqlite(struct steps *s)
{
	if (s->p.dry_run || s->in->nrestore == 0) {
		report(s, true, NULL, s->p.dry_run ? "dry run: nothing restored" :
		    "no SQLite file to restore");
		return;
	}
	s->waiting = true;
	if (backup_restore_sqlite(s->p.backup, s->p.cfg->backup_dir, s->in->backup,
	    s->in->restore_files, s->in->nrestore, s->in->action ==
	    HB_DEPLOY_RESTORE && !s->in->rolling_back ? "before-restore" : "failed",
	    hb_wall_ms(), on_restored, s,
	    s->error, sizeof(s->error)) != 0)
		report(s, false, s->error, s->error);
}

/* A backup checked against its manifest, or drilled, on the worker. */
static void
run_backup_check(struct steps *s)
{
	const char *root = s->p.cfg->backup_dir;
	int rc;

	s->waiting = true;
	if (s->p.dry_run) {
		report(s, true, NULL, "dry run: nothing checked");
		return;
	}
	rc = s->kind == JS_CHECK ? backup_verify(s->p.backup, root, s->in->backup,
	    on_backup_done, s, s->error, sizeof(s->error)) : backup_drill(
	    s->p.backup, root, s->in->backup, on_backup_done, s, s->error,
	    sizeof(s->error));
	if (rc != 0)
		report(s, false, s->error, s->error);
}

/* ---------------- verify ---------------- */

static void
on_verified(bool ok, const char *reason, void *arg)
{
	struct steps *s = arg;

	snprintf(s->error, sizeof(s->error), "%s", reason);
	report(s, ok, ok ? NULL : s->error, s->error);
}

/*
 * Must this target have restarted? A homebus service ("writer", or
 * "writer@nuc2" on another host) the job deploys: not the deployer itself,
 * and nothing in a dry run (nothing restarted).
 */
static bool
target_restarts(struct steps *s, const char *target)
{
	char service[128];
	const char *at = strchr(target, '@');

	snprintf(service, sizeof(service), "%.*s", at ? (int)(at - target) :
	    (int)strlen(target), target);
	if (strcmp(service, "deployer") == 0 || s->p.dry_run)
		return false;
	if (s->in->nservices == 0)
		return true;
	for (size_t i = 0; i < s->in->nservices; i++)
		if (strcmp(s->in->services[i], service) == 0)
			return true;
	return false;
}

static void
run_verify(struct steps *s)
{
	const struct deployer_config *c = s->p.cfg;
	const char *targets[DEPLOYER_MAX_TARGETS];
	bool restart[DEPLOYER_MAX_TARGETS];
	struct verify_req req;

	for (size_t i = 0; i < c->ntargets; i++) {
		targets[i] = c->targets[i];
		restart[i] = target_restarts(s, c->targets[i]);
	}
	memset(&req, 0, sizeof(req));
	req.targets = targets;
	req.ntargets = c->ntargets;
	req.restart = restart;
	req.since_ms = s->in->up_ms;
	req.timeout_s = c->verify_timeout_s;
	req.stable_s = c->stable_s;
	req.interval_s = c->interval_s;
	if (c->ntargets == 0)
		hb_warn("verify has no targets (deployer.verify.targets, "
		    "health.expected_services): nothing is checked");
	verify_start(s->p.verify, &req, on_verified, s);
}

/* ---------------- one step ---------------- */

void
steps_run(struct steps *s, enum job_step kind, const struct step_input *in,
    steps_done_fn done, void *arg)
{
	char dir[PATH_MAX];

	s->kind = kind;
	s->in = in;
	s->done = done;
	s->arg = arg;
	s->error[0] = '\0';
	s->tail[0] = '\0';
	switch (kind) {
	case JS_PREFLIGHT:
		if (preflight(s))
			report(s, true, NULL, NULL);
		else
			report(s, false, s->error, s->error);
		break;
	case JS_PULL:
		run_command(s, STEP_PULL, s->p.cfg->backup_dir);
		break;
	case JS_SQLITE:
	case JS_BACKUP_CMD:
	case JS_MANIFEST:
		run_backup_part(s);
		break;
	case JS_UP:
		/* the version running again: nothing would be replaced */
		run_command(s, strcmp(in->from_tag, in->to_tag) == 0 ?
		    STEP_RECREATE : STEP_UP, s->p.cfg->backup_dir);
		break;
	case JS_RESTORE:
		snprintf(dir, sizeof(dir), "%s/%s", s->p.cfg->backup_dir, in->backup);
		run_command(s, STEP_RESTORE, dir);
		break;
	case JS_STOP:
		run_command(s, STEP_STOP, s->p.cfg->backup_dir);
		break;
	case JS_DRILL_CMD:
		snprintf(dir, sizeof(dir), "%s/%s", s->p.cfg->backup_dir, in->backup);
		run_command(s, STEP_DRILL, dir);
		break;
	case JS_RESTORE_SQLITE:
		run_restore_sqlite(s);
		break;
	case JS_CHECK:
	case JS_DRILL:
		run_backup_check(s);
		break;
	case JS_VERIFY:
		run_verify(s);
		break;
	case JS_RECORD:
		report(s, true, NULL, NULL);
		break;
	}
}

bool
steps_waiting(const struct steps *s)
{
	return s->waiting;
}

bool
steps_cut_verify(struct steps *s)
{
	if (!verify_busy(s->p.verify))
		return false;
	verify_cancel(s->p.verify);
	return true;
}

struct steps *
steps_new(const struct job_parts *parts)
{
	struct steps *s = hb_xcalloc(1, sizeof(*s));

	s->p = *parts;
	return s;
}

void
steps_free(struct steps *s)
{
	free(s);
}
