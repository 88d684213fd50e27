/*
 * job: the steps of one deploy, rollback or backup (see job.h).
 */
#include "job.h"
#include "hb_log.h"
#include "hb_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define TAIL_LINES 20

/* What a job does, one entry of its plan at a time. */
enum step {
	JS_PREFLIGHT,
	JS_PULL,
	JS_SQLITE,		/* the SQLite copies of the backup */
	JS_BACKUP_CMD,		/* the configured backup command */
	JS_MANIFEST,		/* the backup's manifest and retention */
	JS_UP,
	JS_RESTORE,
	JS_VERIFY,
	JS_RECORD,
};

/* What each is called in the state ("step n of m" counts these names). */
static const char *const step_names[] = { "preflight", "pull", "backup",
    "backup", "backup", "up", "restore", "verify", "record" };

struct plan_step {
	enum step kind;
	int index;		/* n of "step n of m" */
};

#define MAX_PLAN 10

struct job {
	struct event_base *base;
	struct job_parts p;
	struct event *ev_next;

	bool active;
	struct journal_job rec;
	char services[HB_DEPLOY_MAX_SERVICES][64];
	const char *svc[HB_DEPLOY_MAX_SERVICES];
	size_t nservices;		/* 0: all of them */
	struct plan_step plan[MAX_PLAN];
	size_t nplan, pos;
	int count;			/* m of "step n of m" */
	bool rolling_back;
	char cause[512];		/* why it rolled back */
	char cause_tail[HB_DEPLOY_LOG_TAIL_MAX];
	int64_t step_started_ms;	/* wall */
	int64_t step_started_us;	/* monotonic */
	int64_t up_ms;			/* wall: the latest up began */
	bool stopping;
	void (*stopped)(void *arg);
	void *stopped_arg;
	char summary[256];		/* what Home Assistant says after it */
};

static void run_step(struct job *j);
static void step_failed(struct job *j, const char *error, const char *tail);

/* ---------------- states, notifications, Home Assistant ---------------- */

void
job_state_of(struct job *j, const struct journal_job *row,
    struct hb_deploy_state *out)
{
	char backup[HB_DEPLOY_BACKUP_MAX];

	memset(out, 0, sizeof(*out));
	snprintf(out->id, sizeof(out->id), "%s", row->id);
	out->action = row->action;
	snprintf(out->phase, sizeof(out->phase), "%s", row->phase);
	snprintf(out->from_tag, sizeof(out->from_tag), "%s", row->from_tag);
	snprintf(out->to_tag, sizeof(out->to_tag), "%s", row->to_tag);
	snprintf(out->step, sizeof(out->step), "%s", row->step);
	out->step_index = row->step_index;
	out->step_count = row->step_count;
	out->started_ms = row->started_ms;
	out->updated_ms = row->updated_ms;
	snprintf(out->error, sizeof(out->error), "%s", row->error);
	snprintf(out->requested_by, sizeof(out->requested_by), "%s",
	    row->requested_by);
	snprintf(out->instance, sizeof(out->instance), "%s", j->p.instance);
	snprintf(out->log_tail, sizeof(out->log_tail), "%s", row->log_tail);
	snprintf(out->backup, sizeof(out->backup), "%s", row->backup);
	journal_versions(j->p.journal, j->p.cfg->initial_tag, out->running_tag,
	    sizeof(out->running_tag), out->previous_tag, sizeof(out->previous_tag),
	    backup, sizeof(backup));
}

static void
tell_ha(struct job *j, const struct hb_deploy_state *s)
{
	bool going = j->active && !hb_deploy_phase_final(s->phase);
	int pct = s->step_count > 0 ? (s->step_index - 1) * 100 / s->step_count : -1;

	if (j->p.ha)
		ha_update(j->p.ha, s->running_tag, going, going ? pct : -1, j->summary);
}

/* Saves the job and publishes its state. */
static void
publish(struct job *j)
{
	struct hb_deploy_state s;

	j->rec.updated_ms = hb_wall_ms();
	journal_save(j->p.journal, &j->rec);
	job_state_of(j, &j->rec, &s);
	report_state(j->p.report, &s, true);
	tell_ha(j, &s);
}

void
job_announce(struct job *j)
{
	struct hb_deploy_state s;
	struct journal_job idle;

	if (j->active) {
		job_state_of(j, &j->rec, &s);
	} else {
		memset(&idle, 0, sizeof(idle));
		snprintf(idle.phase, sizeof(idle.phase), "done");
		job_state_of(j, &idle, &s);
	}
	tell_ha(j, &s);
}

static void
notify(struct job *j, enum hb_severity sev, const char *what, const char *title,
    const char *text)
{
	char key[160];

	snprintf(key, sizeof(key), "%s/%s/%s", j->rec.action == HB_DEPLOY_BACKUP ?
	    "backup" : "deploy", j->rec.id, what);
	report_notify(j->p.report, sev, key, title, text);
}

/* "A -> B" for texts, or just the tag when there is no "from". */
static void
versions_text(const struct journal_job *r, char *out, size_t outlen)
{
	if (r->from_tag[0] && r->to_tag[0])
		snprintf(out, outlen, "%s -> %s", r->from_tag, r->to_tag);
	else
		snprintf(out, outlen, "%s", r->to_tag[0] ? r->to_tag : r->from_tag);
}

/* ---------------- moving along ---------------- */

static void
schedule(struct job *j)
{
	event_active(j->ev_next, EV_TIMEOUT, 0);
}

/* The job ends with an outcome (a final phase). */
static void
finish(struct job *j, const char *outcome, const char *error, const char *tail)
{
	struct hb_buf text = { 0 };
	char vers[300], title[96];
	double secs;

	j->rec.finished_ms = hb_wall_ms();
	snprintf(j->rec.outcome, sizeof(j->rec.outcome), "%s", outcome);
	snprintf(j->rec.phase, sizeof(j->rec.phase), "%s", outcome);
	snprintf(j->rec.error, sizeof(j->rec.error), "%s", error ? error : "");
	snprintf(j->rec.log_tail, sizeof(j->rec.log_tail), "%s", tail ? tail : "");
	secs = (double)(j->rec.finished_ms - j->rec.started_ms) / 1000.0;
	versions_text(&j->rec, vers, sizeof(vers));
	if (strcmp(outcome, "done") == 0)
		j->summary[0] = '\0';
	else
		snprintf(j->summary, sizeof(j->summary), "%s %s: %s: %s",
		    hb_deploy_action_name(j->rec.action), vers, outcome, j->rec.error);
	j->active = false;
	publish(j);
	hb_info("job finished id=%s action=%s %s outcome=%s duration_s=%.1f%s%s",
	    j->rec.id, hb_deploy_action_name(j->rec.action), vers, outcome, secs,
	    error && *error ? " error=" : "", error ? error : "");
	report_point(j->p.report, hb_deploy_action_name(j->rec.action), outcome,
	    j->rec.to_tag, j->rec.from_tag, secs, j->rec.id);

	snprintf(title, sizeof(title), "%s %s", j->rec.action == HB_DEPLOY_BACKUP ?
	    "Backup" : j->rec.action == HB_DEPLOY_ROLLBACK ? "Rollback" : "Deploy",
	    outcome);
	if (strcmp(outcome, "done") == 0) {
		hb_buf_printf(&text, "%s %s on %s done in %.0f s%s%s.",
		    hb_deploy_action_name(j->rec.action), vers, j->p.instance, secs,
		    j->rec.backup[0] ? ", backup " : "", j->rec.backup);
		/* a nightly backup that worked is not news */
		if (strcmp(j->rec.requested_by, "schedule") != 0)
			notify(j, HB_SEV_INFO, outcome, title, text.data);
	} else if (strcmp(outcome, "failed") == 0) {
		hb_buf_printf(&text, "%s %s on %s failed: %s.%s%s",
		    hb_deploy_action_name(j->rec.action), vers, j->p.instance,
		    j->rec.error, j->rec.action == HB_DEPLOY_BACKUP ? "" :
		    " Nothing was stopped: ", j->rec.action == HB_DEPLOY_BACKUP ? "" :
		    j->rec.from_tag);
		if (j->rec.action != HB_DEPLOY_BACKUP)
			hb_buf_puts(&text, " still runs.");
		if (tail && *tail)
			hb_buf_printf(&text, "\n\n%s", tail);
		notify(j, HB_SEV_ERROR, outcome, title, text.data);
	} else if (strcmp(outcome, "rolled_back") == 0) {
		hb_buf_printf(&text, "%s %s on %s did not hold: %s. Rolled back to %s, "
		    "which verified.", hb_deploy_action_name(j->rec.action), vers,
		    j->p.instance, j->cause, j->rec.from_tag);
		if (j->cause_tail[0])
			hb_buf_printf(&text, "\n\n%s", j->cause_tail);
		notify(j, HB_SEV_ERROR, outcome, title, text.data);
	} else {
		hb_buf_printf(&text, "%s %s on %s failed (%s) and going back to %s "
		    "failed too: %s", hb_deploy_action_name(j->rec.action), vers,
		    j->p.instance, j->cause, j->rec.from_tag, j->rec.error);
		if (tail && *tail)
			hb_buf_printf(&text, "\n\n%s", tail);
		notify(j, HB_SEV_CRITICAL, outcome, "Rollback failed", text.data);
	}
	hb_buf_free(&text);
	if (j->stopping && j->stopped)
		j->stopped(j->stopped_arg);
}

/* Records what a step did in the journal. */
static void
record_step(struct job *j, const char *argv_json, int exit_code, int sig,
    bool timed_out, bool ok, const char *tail)
{
	struct journal_step s;

	memset(&s, 0, sizeof(s));
	snprintf(s.name, sizeof(s.name), "%s%s", j->rolling_back ? "rollback " : "",
	    step_names[j->plan[j->pos].kind]);
	snprintf(s.argv, sizeof(s.argv), "%s", argv_json ? argv_json : "");
	s.exit_code = exit_code;
	s.signal = sig;
	s.timed_out = timed_out;
	s.ok = ok;
	s.started_ms = j->step_started_ms;
	s.duration_ms = (double)(hb_mono_us() - j->step_started_us) / 1000.0;
	snprintf(s.output_tail, sizeof(s.output_tail), "%s", tail ? tail : "");
	journal_add_step(j->p.journal, j->rec.seq, &s);
}

/* SIGTERM: what ran is recorded; the job stays open for the next start. */
static void
stop_now(struct job *j)
{
	snprintf(j->rec.error, sizeof(j->rec.error), "interrupted: the deployer was "
	    "stopped during %s; its next start finishes the job", j->rec.step);
	publish(j);
	hb_info("job id=%s left at phase=%s step=%s for the next start", j->rec.id,
	    j->rec.phase, j->rec.step);
	if (j->stopped)
		j->stopped(j->stopped_arg);
}

static void
step_ok(struct job *j)
{
	j->pos++;
	if (j->stopping) {
		stop_now(j);
		return;
	}
	schedule(j);
}

/* Goes back to the version that ran before the job. */
static void
start_rollback(struct job *j, const char *error, const char *tail)
{
	const struct deployer_config *c = j->p.cfg;
	int n = 0;

	snprintf(j->cause, sizeof(j->cause), "%s", error);
	snprintf(j->cause_tail, sizeof(j->cause_tail), "%s", tail ? tail : "");
	if (j->rec.from_tag[0] == '\0') {
		finish(j, "rollback_failed", "no version known to have run before "
		    "(set deployer.initial_tag)", tail);
		return;
	}
	hb_warn("job id=%s rolling back to %s: %s", j->rec.id, j->rec.from_tag,
	    error);
	j->rolling_back = true;
	j->nplan = 0;
	j->pos = 0;
	j->plan[j->nplan++] = (struct plan_step){ JS_UP, ++n };
	if (c->restore_on_rollback && j->rec.backup[0])
		j->plan[j->nplan++] = (struct plan_step){ JS_RESTORE, ++n };
	j->plan[j->nplan++] = (struct plan_step){ JS_VERIFY, ++n };
	j->count = n;
	snprintf(j->rec.error, sizeof(j->rec.error), "%s", error);
	snprintf(j->rec.log_tail, sizeof(j->rec.log_tail), "%s", tail ? tail : "");
	schedule(j);
}

static void
step_failed(struct job *j, const char *error, const char *tail)
{
	if (j->stopping) {
		/* recorded; the next start decides, as after a kill */
		stop_now(j);
		return;
	}
	if (j->rolling_back)
		finish(j, "rollback_failed", error, tail);
	else if (j->rec.up_ms > 0 && j->rec.action != HB_DEPLOY_BACKUP)
		start_rollback(j, error, tail);
	else
		finish(j, "failed", error, tail);
}

static void
on_next(evutil_socket_t fd, short what, void *arg)
{
	struct job *j = arg;

	(void)fd;
	(void)what;
	if (!j->active)
		return;
	if (j->stopping) {
		stop_now(j);
		return;
	}
	if (j->pos == j->nplan) {
		if (j->rolling_back)
			finish(j, "rolled_back", j->cause, j->cause_tail);
		else
			finish(j, "done", NULL, NULL);
		return;
	}
	run_step(j);
}

/* ---------------- the steps ---------------- */

static void
on_runner_done(const struct runner_result *r, void *arg)
{
	struct job *j = arg;
	char tail[HB_DEPLOY_LOG_TAIL_MAX];

	runner_tail(r->output, r->output_len, TAIL_LINES, tail, sizeof(tail));
	record_step(j, r->argv_json, r->exit_code, r->signal, r->timed_out, r->ok,
	    tail);
	if (r->ok)
		step_ok(j);
	else
		step_failed(j, r->error, tail);
}

static void
run_command(struct job *j, enum step_kind kind, const char *tag,
    const char *backup_dir)
{
	struct runner_params rp;
	char err[256];

	memset(&rp, 0, sizeof(rp));
	rp.tag = tag;
	rp.backup_dir = backup_dir;
	rp.services = j->svc;
	rp.nservices = j->nservices;
	if (runner_start(j->p.runner, kind, &rp, on_runner_done, j, err,
	    sizeof(err)) != 0) {
		record_step(j, NULL, -1, 0, false, false, err);
		step_failed(j, err, NULL);
	}
}

static void
on_backup_done(bool ok, const char *error, void *arg)
{
	struct job *j = arg;

	record_step(j, NULL, -1, 0, false, ok, error);
	if (ok && j->plan[j->pos].kind == JS_MANIFEST) {
		const struct deployer_config *c = j->p.cfg;
		char running[129], previous[129], verified[HB_DEPLOY_BACKUP_MAX];
		char newest[HB_DEPLOY_BACKUP_MAX];
		const char *keep[3];

		/* never the backup of the version verified last */
		journal_versions(j->p.journal, c->initial_tag, running, sizeof(running),
		    previous, sizeof(previous), verified, sizeof(verified));
		backup_newest_of(c->backup_dir, running, newest, sizeof(newest));
		keep[0] = verified;
		keep[1] = newest;
		keep[2] = j->rec.backup;
		backup_prune(c->backup_dir, c->keep_backups, keep, 3);
	}
	if (ok)
		step_ok(j);
	else
		step_failed(j, error, NULL);
}

static bool
preflight(struct job *j, char *err, size_t errlen)
{
	const struct deployer_config *c = j->p.cfg;
	long long free_mb;
	bool backs_up = false;

	for (size_t i = 0; i < j->nplan; i++)
		backs_up = backs_up || j->plan[i].kind == JS_SQLITE;
	if (j->rec.action != HB_DEPLOY_BACKUP && j->rec.from_tag[0] == '\0') {
		snprintf(err, errlen, "the running version is unknown (no verified "
		    "deploy yet): set deployer.initial_tag");
		return false;
	}
	if (j->rec.action == HB_DEPLOY_ROLLBACK && j->rec.to_tag[0] == '\0') {
		snprintf(err, errlen, "%s", j->rec.error[0] ? j->rec.error :
		    "no previous version to go back to");
		return false;
	}
	if (!backs_up)
		return true;
	if (j->p.dry_run && access(c->backup_dir, F_OK) != 0) {
		hb_info("dry-run: deployer.backup_dir %s would be created",
		    c->backup_dir);
		return true;
	}
	if (hb_mkdirs(c->backup_dir) != 0 ||
	    (free_mb = backup_free_mb(c->backup_dir)) < 0) {
		snprintf(err, errlen, "cannot use deployer.backup_dir %s",
		    c->backup_dir);
		return false;
	}
	if (free_mb < c->min_free_mb) {
		snprintf(err, errlen, "%lld MB free under %s, deployer.min_free_mb is "
		    "%lld", free_mb, c->backup_dir, c->min_free_mb);
		return false;
	}
	return true;
}

static void
run_backup_step(struct job *j, enum step kind)
{
	const struct deployer_config *c = j->p.cfg;
	char err[512], folder[PATH_MAX];
	struct backup_meta m;
	int rc = 0;

	if (j->p.dry_run && kind != JS_BACKUP_CMD) {
		hb_info("dry-run: no %s written under %s", kind == JS_SQLITE ?
		    "SQLite copies" : "manifest", c->backup_dir);
		record_step(j, NULL, -1, 0, false, true, "dry run: nothing written");
		step_ok(j);
		return;
	}
	if (kind == JS_SQLITE) {
		if (backup_make_folder(c->backup_dir, j->rec.from_tag, hb_wall_ms(),
		    j->rec.backup, sizeof(j->rec.backup), err, sizeof(err)) == 0) {
			publish(j);
			rc = backup_copy_sqlite(j->p.backup, c->backup_dir, j->rec.backup,
			    c->sqlite, c->nsqlite, on_backup_done, j, err, sizeof(err));
		} else {
			rc = -1;
		}
	} else if (kind == JS_BACKUP_CMD) {
		if (c->steps[STEP_BACKUP].argc == 0) {
			step_ok(j);
			return;
		}
		snprintf(folder, sizeof(folder), "%s/%s", c->backup_dir,
		    j->rec.backup[0] ? j->rec.backup : "(dry-run)");
		/* the version being deployed, as for pull: its images are there */
		run_command(j, STEP_BACKUP, j->rec.to_tag[0] ? j->rec.to_tag :
		    j->rec.from_tag, folder);
		return;
	} else {
		memset(&m, 0, sizeof(m));
		m.id = j->rec.id;
		m.from_tag = j->rec.from_tag;
		m.to_tag = j->rec.to_tag;
		m.instance = j->p.instance;
		m.sqlite = c->sqlite;
		m.nsqlite = c->nsqlite;
		rc = backup_write_manifest(j->p.backup, c->backup_dir, j->rec.backup, &m,
		    on_backup_done, j, err, sizeof(err));
	}
	if (rc != 0) {
		record_step(j, NULL, -1, 0, false, false, err);
		step_failed(j, err, NULL);
	}
}

static void
on_verified(bool ok, const char *reason, void *arg)
{
	struct job *j = arg;

	record_step(j, NULL, -1, 0, false, ok, reason);
	if (ok)
		step_ok(j);
	else
		step_failed(j, reason, NULL);
}

/* The service part of a health target's name: "writer@nuc2" is "writer". */
static bool
target_restarts(struct job *j, const char *target)
{
	char service[128];
	const char *at = strchr(target, '@');

	snprintf(service, sizeof(service), "%.*s", at ? (int)(at - target) :
	    (int)strlen(target), target);
	/* the deployer does not deploy itself; a dry run restarts nothing */
	if (strcmp(service, "deployer") == 0 || j->p.dry_run)
		return false;
	if (j->nservices == 0)
		return true;
	for (size_t i = 0; i < j->nservices; i++)
		if (strcmp(j->svc[i], service) == 0)
			return true;
	return false;
}

static void
run_verify(struct job *j)
{
	const struct deployer_config *c = j->p.cfg;
	const char *targets[DEPLOYER_MAX_TARGETS];
	bool restart[DEPLOYER_MAX_TARGETS];
	struct verify_req req;

	for (size_t i = 0; i < c->ntargets; i++) {
		targets[i] = c->targets[i];
		restart[i] = target_restarts(j, c->targets[i]);
	}
	memset(&req, 0, sizeof(req));
	req.targets = targets;
	req.ntargets = c->ntargets;
	req.restart = restart;
	req.since_ms = j->up_ms;
	req.timeout_s = c->verify_timeout_s;
	req.stable_s = c->stable_s;
	req.interval_s = c->interval_s;
	if (c->ntargets == 0)
		hb_warn("verify has no targets (deployer.verify.targets, "
		    "health.expected_services): nothing is checked");
	verify_start(j->p.verify, &req, on_verified, j);
}

/* The backup a rollback restores: the one named, else the one the deploy
 * that is undone took. */
static void
restore_dir(struct job *j, char *out, size_t outlen)
{
	snprintf(out, outlen, "%s/%s", j->p.cfg->backup_dir, j->rec.backup);
}

static void
run_step(struct job *j)
{
	const struct plan_step *ps = &j->plan[j->pos];
	const char *tag = j->rolling_back ? j->rec.from_tag : j->rec.to_tag;
	char err[512], dir[PATH_MAX];

	snprintf(j->rec.phase, sizeof(j->rec.phase), "%s", j->rolling_back ?
	    "rollback" : step_names[ps->kind]);
	snprintf(j->rec.step, sizeof(j->rec.step), "%s", step_names[ps->kind]);
	j->rec.step_index = ps->index;
	j->rec.step_count = j->count;
	j->step_started_ms = hb_wall_ms();
	j->step_started_us = hb_mono_us();
	if (ps->kind == JS_UP) {
		/* in the journal before anything is stopped: a kill from here on
		 * is rolled back at the next start */
		j->up_ms = j->step_started_ms;
		if (j->rec.up_ms == 0)
			j->rec.up_ms = j->up_ms;
	}
	if (ps->kind != JS_RECORD)
		publish(j);
	switch (ps->kind) {
	case JS_PREFLIGHT:
		if (preflight(j, err, sizeof(err))) {
			record_step(j, NULL, -1, 0, false, true, "");
			step_ok(j);
		} else {
			record_step(j, NULL, -1, 0, false, false, err);
			step_failed(j, err, NULL);
		}
		break;
	case JS_PULL:
		run_command(j, STEP_PULL, tag, j->p.cfg->backup_dir);
		break;
	case JS_SQLITE:
	case JS_BACKUP_CMD:
	case JS_MANIFEST:
		run_backup_step(j, ps->kind);
		break;
	case JS_UP:
		run_command(j, STEP_UP, tag, j->p.cfg->backup_dir);
		break;
	case JS_RESTORE:
		restore_dir(j, dir, sizeof(dir));
		run_command(j, STEP_RESTORE, tag, dir);
		break;
	case JS_VERIFY:
		run_verify(j);
		break;
	case JS_RECORD:
		step_ok(j);
		break;
	}
}

/* ---------------- starting, recovering, stopping ---------------- */

static void
plan_add(struct job *j, enum step kind, int index)
{
	j->plan[j->nplan++] = (struct plan_step){ kind, index };
	j->count = index;
}

static void
build_plan(struct job *j)
{
	j->nplan = 0;
	j->pos = 0;
	plan_add(j, JS_PREFLIGHT, 1);
	switch (j->rec.action) {
	case HB_DEPLOY_DEPLOY:
		plan_add(j, JS_PULL, 2);
		plan_add(j, JS_SQLITE, 3);
		plan_add(j, JS_BACKUP_CMD, 3);
		plan_add(j, JS_MANIFEST, 3);
		plan_add(j, JS_UP, 4);
		plan_add(j, JS_VERIFY, 5);
		plan_add(j, JS_RECORD, 6);
		break;
	case HB_DEPLOY_ROLLBACK:
		plan_add(j, JS_UP, 2);
		if (j->p.cfg->restore_on_rollback && j->rec.backup[0])
			plan_add(j, JS_RESTORE, 3);
		plan_add(j, JS_VERIFY, j->count + 1);
		plan_add(j, JS_RECORD, j->count + 1);
		break;
	default:
		plan_add(j, JS_SQLITE, 2);
		plan_add(j, JS_BACKUP_CMD, 2);
		plan_add(j, JS_MANIFEST, 2);
		plan_add(j, JS_RECORD, 3);
		break;
	}
}

/* services: the command's subset, as a list and as the journal's text. */
static void
set_services(struct job *j, const char *const *services, size_t n)
{
	size_t len = 0;

	j->nservices = 0;
	j->rec.services[0] = '\0';
	for (size_t i = 0; i < n && i < HB_DEPLOY_MAX_SERVICES; i++) {
		snprintf(j->services[i], sizeof(j->services[i]), "%s", services[i]);
		j->svc[j->nservices++] = j->services[i];
		len += (size_t)snprintf(j->rec.services + len,
		    sizeof(j->rec.services) - len, "%s%s", i ? " " : "", services[i]);
	}
	/* no subset: every service in deployer.services (none: compose's all) */
	if (n == 0)
		for (size_t i = 0; i < j->p.cfg->nservices; i++) {
			snprintf(j->services[i], sizeof(j->services[i]), "%s",
			    j->p.cfg->services[i]);
			j->svc[j->nservices++] = j->services[i];
		}
}

/* Where a rollback goes: the named backup's version, or "previous". */
static void
rollback_target(struct job *j, const char *backup, const char *previous,
    const char *verified_backup)
{
	char err[256];

	if (backup && *backup) {
		snprintf(j->rec.backup, sizeof(j->rec.backup), "%s", backup);
		if (backup_tag_of(j->p.cfg->backup_dir, backup, j->rec.to_tag,
		    sizeof(j->rec.to_tag), err, sizeof(err)) != 0) {
			j->rec.to_tag[0] = '\0';
			snprintf(j->rec.error, sizeof(j->rec.error), "%s", err);
		}
		return;
	}
	snprintf(j->rec.to_tag, sizeof(j->rec.to_tag), "%s", previous);
	/* the data from before the deploy being undone */
	snprintf(j->rec.backup, sizeof(j->rec.backup), "%s", verified_backup);
}

int
job_start(struct job *j, const struct job_request *rq, char *err, size_t errlen)
{
	char previous[129], verified[HB_DEPLOY_BACKUP_MAX], vers[300];

	if (j->active || j->stopping) {
		snprintf(err, errlen, "%s", j->stopping ? "the deployer is stopping" :
		    "a job runs");
		return -1;
	}
	memset(&j->rec, 0, sizeof(j->rec));
	j->rec.dry_run = j->p.dry_run;
	snprintf(j->rec.id, sizeof(j->rec.id), "%s", rq->id);
	j->rec.action = rq->action;
	snprintf(j->rec.requested_by, sizeof(j->rec.requested_by), "%s",
	    rq->requested_by ? rq->requested_by : "");
	journal_versions(j->p.journal, j->p.cfg->initial_tag, j->rec.from_tag,
	    sizeof(j->rec.from_tag), previous, sizeof(previous), verified,
	    sizeof(verified));
	if (rq->action == HB_DEPLOY_DEPLOY)
		snprintf(j->rec.to_tag, sizeof(j->rec.to_tag), "%s", rq->tag);
	else if (rq->action == HB_DEPLOY_ROLLBACK)
		rollback_target(j, rq->backup, previous, verified);
	set_services(j, rq->services, rq->nservices);
	snprintf(j->rec.phase, sizeof(j->rec.phase), "queued");
	j->rec.started_ms = j->rec.updated_ms = hb_wall_ms();
	if (journal_begin(j->p.journal, &j->rec) != 0) {
		snprintf(err, errlen, "the journal refused the job (another one is "
		    "open, or the id was used)");
		return -1;
	}
	j->active = true;
	j->rolling_back = false;
	j->up_ms = 0;
	j->summary[0] = '\0';
	build_plan(j);
	j->rec.step_count = j->count;
	publish(j);
	versions_text(&j->rec, vers, sizeof(vers));
	hb_info("job started id=%s action=%s %s requested_by=%s services=\"%s\"",
	    j->rec.id, hb_deploy_action_name(j->rec.action), vers,
	    j->rec.requested_by, j->rec.services);
	if (rq->action != HB_DEPLOY_BACKUP) {
		char text[512];

		snprintf(text, sizeof(text), "%s %s on %s started%s%s.",
		    hb_deploy_action_name(rq->action), vers, j->p.instance,
		    j->rec.requested_by[0] ? ", requested by " : "", j->rec.requested_by);
		notify(j, HB_SEV_INFO, "started", "Deploy started", text);
	}
	schedule(j);
	return 0;
}

void
job_recover(struct job *j)
{
	char text[1024], vers[300];
	const char *services[HB_DEPLOY_MAX_SERVICES];
	size_t n = 0;
	char *list;

	if (!journal_unfinished(j->p.journal, &j->rec))
		return;
	j->active = true;
	j->summary[0] = '\0';
	/* the subset it was deploying, from the journal's space-separated text */
	list = hb_xstrdup(j->rec.services);
	for (char *s = list; *s && n < HB_DEPLOY_MAX_SERVICES; ) {
		char *sp = strchr(s, ' ');

		services[n++] = s;
		if (sp == NULL)
			break;
		*sp = '\0';
		s = sp + 1;
	}
	set_services(j, services, n);
	free(list);
	versions_text(&j->rec, vers, sizeof(vers));
	snprintf(text, sizeof(text), "The deployer stopped during %s (step %s) of "
	    "%s %s, id %s. %s", j->rec.phase, j->rec.step,
	    hb_deploy_action_name(j->rec.action), vers, j->rec.id,
	    j->rec.up_ms > 0 && j->rec.action != HB_DEPLOY_BACKUP ?
	    "It had reached up: going back to the version that ran before." :
	    "Nothing had been stopped.");
	hb_warn("unfinished job found id=%s phase=%s step=%s up_reached=%s",
	    j->rec.id, j->rec.phase, j->rec.step, j->rec.up_ms > 0 ? "yes" : "no");
	snprintf(j->rec.error, sizeof(j->rec.error), "interrupted: the deployer "
	    "stopped during %s", j->rec.phase);
	publish(j);
	notify(j, HB_SEV_WARNING, "interrupted", "Deploy interrupted", text);
	if (j->rec.up_ms > 0 && j->rec.action != HB_DEPLOY_BACKUP) {
		snprintf(text, sizeof(text), "interrupted during %s", j->rec.phase);
		start_rollback(j, text, NULL);
	} else {
		j->nplan = 0;
		j->pos = 0;
		snprintf(text, sizeof(text), "interrupted during %s (the deployer "
		    "stopped)", j->rec.phase);
		finish(j, "failed", text, NULL);
	}
}

void
job_stop(struct job *j, void (*stopped)(void *arg), void *arg)
{
	j->stopped = stopped;
	j->stopped_arg = arg;
	if (!j->active) {
		stopped(arg);
		return;
	}
	j->stopping = true;
	if (verify_busy(j->p.verify)) {
		verify_cancel(j->p.verify);
		record_step(j, NULL, -1, 0, false, false, "cut short by SIGTERM");
		stop_now(j);
		return;
	}
	if (runner_busy(j->p.runner) || backup_busy(j->p.backup)) {
		/* the step finishes; its callback sees `stopping` */
		backup_cancel(j->p.backup);
		hb_info("stopping after the step running now: %s", j->rec.step);
		return;
	}
	event_del(j->ev_next);
	stop_now(j);
}

bool
job_active(const struct job *j)
{
	return j->active;
}

bool
job_current(struct job *j, struct hb_deploy_state *out)
{
	if (!j->active)
		return false;
	job_state_of(j, &j->rec, out);
	return true;
}

json_t *
job_health(struct job *j)
{
	if (!j->active)
		return json_string("idle");
	return json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:i,s:i,s:o}", "id", j->rec.id,
	    "action", hb_deploy_action_name(j->rec.action), "phase", j->rec.phase,
	    "step", j->rec.step, "from_tag", j->rec.from_tag, "to_tag", j->rec.to_tag,
	    "step_index", j->rec.step_index, "step_count", j->rec.step_count,
	    "started", hb_msg_time(j->rec.started_ms));
}

struct job *
job_new(struct event_base *base, const struct job_parts *parts)
{
	struct job *j = hb_xcalloc(1, sizeof(*j));

	j->base = base;
	j->p = *parts;
	j->ev_next = event_new(base, -1, 0, on_next, j);
	return j;
}

void
job_free(struct job *j)
{
	if (j == NULL)
		return;
	event_free(j->ev_next);
	free(j);
}
