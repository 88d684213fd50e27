/*
 * job: the steps of one deploy, rollback or backup (see job.h).
 */
#include "job.h"
#include "joblog.h"
#include "plan.h"
#include "steps.h"
#include "hb_log.h"
#include "hb_util.h"

#include <assert.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct job {
	struct event_base *base;
	struct job_parts p;
	struct steps *steps;
	struct event *ev_next;
	struct step_input in;		/* of the step running */
	char no_target[256];		/* why a rollback has nowhere to go */

	bool active;
	struct journal_job rec;
	char services[HB_DEPLOY_MAX_SERVICES][64];
	const char *svc[HB_DEPLOY_MAX_SERVICES];
	size_t nservices;		/* 0: all of them */
	struct plan plan;
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
	char restored[HB_DEPLOY_RESTORED_MAX];	/* what the SQLite restore did */
	char logdir[PATH_MAX];		/* every job's whole output (joblog) */
	/* a restore: the backup of the data as it was, taken first, which a
	 * restore that does not verify is rolled back to */
	char safety[HB_DEPLOY_BACKUP_MAX];
	char detail[1024];		/* what a check or drill found */
};

static void run_step(struct job *j);
static void log_line(struct job *j, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void step_ok(struct job *j);
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
	snprintf(out->restored, sizeof(out->restored), "%s", row->restored);
	journal_versions(j->p.journal, j->p.cfg->initial_tag, out->running_tag,
	    sizeof(out->running_tag), out->previous_tag, sizeof(out->previous_tag),
	    backup, sizeof(backup));
}

/* Backups, checks and drills: no version changes, no rollback. */
static bool
about_backups(enum hb_deploy_action a)
{
	return a == HB_DEPLOY_BACKUP || a == HB_DEPLOY_VERIFY ||
	    a == HB_DEPLOY_DRILL;
}

/*
 * P/deploy/backups: the newest complete backup and the last drill (from
 * the journal), for the health watcher's backups target.
 */
static void
publish_backups(struct job *j)
{
	struct hb_backups_state b;
	struct journal_job *drill = hb_xcalloc(1, sizeof(*drill));

	memset(&b, 0, sizeof(b));
	backup_newest(j->p.cfg->backup_dir, b.newest, sizeof(b.newest));
	b.newest_ms = b.newest[0] ? backup_time_ms(b.newest) : -1;
	b.drill_ms = -1;
	if (journal_last_of(j->p.journal, HB_DEPLOY_DRILL, drill)) {
		bool ok = strcmp(drill->outcome, "done") == 0;

		snprintf(b.drill, sizeof(b.drill), "%s", ok ? "ok" : "failed");
		snprintf(b.drill_backup, sizeof(b.drill_backup), "%s", drill->backup);
		b.drill_ms = drill->finished_ms;
		if (!ok)
			snprintf(b.drill_error, sizeof(b.drill_error), "%s",
			    drill->error);
	}
	report_backups(j->p.report, &b);
	free(drill);
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
	publish_backups(j);
}

static void
notify(struct job *j, enum hb_severity sev, const char *what, const char *title,
    const char *text)
{
	char key[160];

	snprintf(key, sizeof(key), "%s/%s/%s", about_backups(j->rec.action) ?
	    "backup" : "deploy", j->rec.id, what);
	report_notify(j->p.report, sev, key, title, text);
}

/* ---------------- moving along ---------------- */

static void
schedule(struct job *j)
{
	event_active(j->ev_next, EV_TIMEOUT, 0);
}

/* What to run by hand when going back failed: up with the old version. */
static void
by_hand(struct job *j, char *out, size_t outlen)
{
	struct runner_params rp;

	memset(&rp, 0, sizeof(rp));
	rp.tag = j->rec.from_tag;
	rp.services = j->svc;
	rp.nservices = j->nservices;
	runner_describe(j->p.runner, STEP_UP, &rp, out, outlen);
}

/* The job ends with an outcome (a final phase). */
static void
finish(struct job *j, const char *outcome, const char *error, const char *tail)
{
	struct report_outcome o;
	char vers[300], cmd[1024] = "";

	if (strcmp(outcome, "rollback_failed") == 0)
		by_hand(j, cmd, sizeof(cmd));
	j->rec.finished_ms = hb_wall_ms();
	snprintf(j->rec.outcome, sizeof(j->rec.outcome), "%s", outcome);
	snprintf(j->rec.phase, sizeof(j->rec.phase), "%s", outcome);
	snprintf(j->rec.error, sizeof(j->rec.error), "%s%s%s", error ? error : "",
	    cmd[0] ? "; run by hand: " : "", cmd);
	snprintf(j->rec.log_tail, sizeof(j->rec.log_tail), "%s", tail ? tail : "");
	if (j->restored[0] && (strcmp(outcome, "rolled_back") == 0 ||
	    (strcmp(outcome, "done") == 0 && j->rec.action == HB_DEPLOY_RESTORE)))
		snprintf(j->rec.restored, sizeof(j->rec.restored), "%s", j->restored);
	if (j->restored[0] && strcmp(outcome, "rolled_back") == 0) {
		size_t len = strlen(j->rec.error);

		snprintf(j->rec.error + len, sizeof(j->rec.error) - len,
		    "; restored from %s: %s", j->rec.action == HB_DEPLOY_RESTORE ?
		    j->safety : j->rec.backup, j->restored);
	}
	report_versions(j->rec.from_tag, j->rec.to_tag, vers, sizeof(vers));
	if (strcmp(outcome, "done") == 0)
		j->summary[0] = '\0';
	else
		snprintf(j->summary, sizeof(j->summary), "%s %s: %s: %s",
		    hb_deploy_action_name(j->rec.action), vers, outcome, j->rec.error);
	log_line(j, "%s%s%s", outcome, j->rec.error[0] ? ": " : "", j->rec.error);
	j->active = false;
	publish(j);
	memset(&o, 0, sizeof(o));
	o.id = j->rec.id;
	o.action = j->rec.action;
	o.outcome = outcome;
	o.from_tag = j->rec.from_tag;
	o.to_tag = j->rec.to_tag;
	o.error = error ? error : "";
	o.tail = j->rec.log_tail;
	o.cause = j->cause;
	o.cause_tail = j->cause_tail;
	o.backup = j->rec.backup;
	o.restored = j->restored;
	/* a check or a drill that passed says what it found */
	o.detail = strcmp(outcome, "done") == 0 && (j->rec.action ==
	    HB_DEPLOY_VERIFY || j->rec.action == HB_DEPLOY_DRILL) ? j->detail : "";
	o.by_hand = cmd;
	o.quiet = strcmp(j->rec.requested_by, "schedule") == 0;
	o.duration_s = (double)(j->rec.finished_ms - j->rec.started_ms) / 1000.0;
	hb_info("job finished id=%s action=%s %s outcome=%s duration_s=%.1f%s%s",
	    j->rec.id, hb_deploy_action_name(j->rec.action), vers, outcome,
	    o.duration_s, j->rec.error[0] ? " error=" : "", j->rec.error);
	report_outcome(j->p.report, &o);
	publish_backups(j);
	if (j->p.ended)
		j->p.ended(j->p.ended_arg);
	if (j->stopping && j->stopped)
		j->stopped(j->stopped_arg);
}

/* A line of the job's log: "== <UTC time> <what>\n". */
static void
log_line(struct job *j, const char *fmt, ...)
{
	char line[3072], when[32];
	va_list ap;
	int n;

	hb_iso8601(hb_wall_ms(), when, sizeof(when));
	n = snprintf(line, sizeof(line), "== %s ", when);
	va_start(ap, fmt);
	if (n > 0 && (size_t)n < sizeof(line))
		n += vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(line) - 1)
		n = (int)sizeof(line) - 2;
	line[n++] = '\n';
	joblog_append(j->logdir, j->rec.seq, line, (size_t)n);
}

/* The step's whole output into the job's log, after a line about it. */
static void
log_step(struct job *j, const char *name, const struct step_result *r)
{
	log_line(j, "%s: %s%s%s exit=%d%s%s argv=%s", name, r->ok ? "ok" : "failed",
	    r->error[0] ? ": " : "", r->error, r->exit_code, r->signal ? " signal" :
	    "", r->timed_out ? " timed out" : "", r->argv_json[0] ? r->argv_json :
	    "-");
	if (r->output_len > 0) {
		joblog_append(j->logdir, j->rec.seq, r->output, r->output_len);
		if (r->output[r->output_len - 1] != '\n')
			joblog_append(j->logdir, j->rec.seq, "\n", 1);
	}
}

/* Records what a step did in the journal (and the job as it is now). */
static void
record_step(struct job *j, const struct step_result *r)
{
	struct journal_step s;

	memset(&s, 0, sizeof(s));
	snprintf(s.name, sizeof(s.name), "%s%s", j->rolling_back ? "rollback " : "",
	    steps_name(j->plan.step[j->plan.pos].kind));
	snprintf(s.argv, sizeof(s.argv), "%s", r->argv_json);
	s.exit_code = r->exit_code;
	s.signal = r->signal;
	s.timed_out = r->timed_out;
	s.ok = r->ok;
	s.started_ms = j->step_started_ms;
	s.duration_ms = (double)(hb_mono_us() - j->step_started_us) / 1000.0;
	snprintf(s.output_tail, sizeof(s.output_tail), "%s", r->tail);
	log_step(j, s.name, r);
	journal_add_step(j->p.journal, j->rec.seq, &s);
	journal_save(j->p.journal, &j->rec);
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
	j->plan.pos++;
	if (j->stopping) {
		stop_now(j);
		return;
	}
	schedule(j);
}

/* What the job's plan is made for. */
static void
plan_of(struct job *j, struct plan_job *pj)
{
	pj->cfg = j->p.cfg;
	pj->id = j->rec.id;
	pj->action = j->rec.action;
	pj->backup = j->rec.backup;
	pj->dry_run = j->p.dry_run;
}

/* Goes back to the version that ran before the job. */
static void
start_rollback(struct job *j, const char *error, const char *tail)
{
	struct plan_job pj;

	snprintf(j->cause, sizeof(j->cause), "%s", error);
	snprintf(j->cause_tail, sizeof(j->cause_tail), "%s", tail ? tail : "");
	if (j->rec.from_tag[0] == '\0') {
		finish(j, "rollback_failed", "no version known to have run before "
		    "(set deployer.initial_tag)", tail);
		return;
	}
	hb_warn("job id=%s rolling back to %s: %s", j->rec.id, j->rec.from_tag,
	    error);
	log_line(j, "rolling back to %s: %s", j->rec.from_tag, error);
	j->rolling_back = true;
	j->plan.n = 0;
	j->plan.pos = 0;
	/* a rollback's backup is of the version it went to, not of the one
	 * it goes back to: nothing to restore from it */
	j->plan.nrestore = 0;
	j->plan.restore_cmd = false;
	plan_of(j, &pj);
	if (j->rec.action == HB_DEPLOY_DEPLOY) {
		j->restored[0] = '\0';
		plan_restore(&j->plan, &pj);
	} else if (j->rec.action == HB_DEPLOY_RESTORE) {
		/* the backup the restore took first (after a restart, the newest
		 * of the running version: that one) */
		if (j->safety[0] == '\0')
			backup_newest_of(j->p.cfg->backup_dir, j->rec.from_tag,
			    j->safety, sizeof(j->safety));
		j->restored[0] = '\0';
		plan_restore_back(&j->plan, j->p.cfg, j->safety, j->p.dry_run);
	}
	plan_going_back(&j->plan, 0);
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
	else if (j->rec.up_ms > 0 && !about_backups(j->rec.action))
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
	if (j->plan.pos == j->plan.n) {
		if (j->rolling_back)
			finish(j, "rolled_back", j->cause, j->cause_tail);
		else
			/* a check or a drill: what it found, as the tail */
			finish(j, "done", NULL, j->rec.action == HB_DEPLOY_VERIFY ||
			    j->rec.action == HB_DEPLOY_DRILL ? j->detail : NULL);
		return;
	}
	run_step(j);
}

/* ---------------- the steps ---------------- */

/* Output's lines as one line, "; " between them, into out (appended). */
static void
append_lines(char *out, size_t outlen, const char *text)
{
	size_t len = strlen(out);

	for (const char *p = text; *p && len + 1 < outlen; p++) {
		if (*p != '\n') {
			out[len++] = *p;
		} else if (p[1] != '\0' && len + 3 < outlen) {
			memcpy(out + len, "; ", 2);
			len += 2;
		}
	}
	out[len] = '\0';
}

/* The last line of text that is not empty, into out. */
static void
last_line(const char *text, char *out, size_t outlen)
{
	const char *end = text + strlen(text), *start;

	while (end > text && (end[-1] == '\n' || end[-1] == '\r'))
		end--;
	start = end;
	while (start > text && start[-1] != '\n')
		start--;
	snprintf(out, outlen, "%.*s", (int)(end - start), start);
}

/*
 * The drill command: its last line (its finding; what a tool such as
 * docker compose warns about comes before) joins what the SQLite part
 * found (the detail of a drill that passed); one that failed says it in
 * the error. Its whole output is in the job's log and the state's tail.
 */
static void
drill_cmd_done(struct job *j, const struct step_result *r)
{
	char error[sizeof(j->rec.error)], last[sizeof(j->rec.error)];

	last_line(r->tail, last, sizeof(last));
	if (r->ok) {
		if (last[0]) {
			append_lines(j->detail, sizeof(j->detail), j->detail[0] ?
			    "\ndeployer.steps.drill: " : "deployer.steps.drill: ");
			append_lines(j->detail, sizeof(j->detail), last);
		}
		step_ok(j);
		return;
	}
	snprintf(error, sizeof(error), "%s%s", r->error, last[0] ? ": " : "");
	append_lines(error, sizeof(error), last);
	step_failed(j, error, r->tail);
}

static void
on_step_done(const struct step_result *r, void *arg)
{
	struct job *j = arg;
	enum job_step kind = j->plan.step[j->plan.pos].kind;

	record_step(j, r);
	if (r->ok && (kind == JS_CHECK || kind == JS_DRILL))
		snprintf(j->detail, sizeof(j->detail), "%s", r->tail);
	if (kind == JS_DRILL_CMD)
		drill_cmd_done(j, r);
	else if (r->ok)
		step_ok(j);
	else
		step_failed(j, r->error, r->tail);
}

static void
run_step(struct job *j)
{
	const struct plan_step *ps = &j->plan.step[j->plan.pos];
	struct step_input *in = &j->in;

	snprintf(j->rec.phase, sizeof(j->rec.phase), "%s", j->rolling_back ?
	    "rollback" : steps_name(ps->kind));
	snprintf(j->rec.step, sizeof(j->rec.step), "%s", steps_name(ps->kind));
	j->rec.step_index = ps->index;
	j->rec.step_count = j->plan.count;
	j->step_started_ms = hb_wall_ms();
	j->step_started_us = hb_mono_us();
	if (ps->kind == JS_UP || ps->kind == JS_STOP) {
		/* in the journal before anything is stopped: a kill from here on
		 * is rolled back at the next start */
		j->up_ms = j->step_started_ms;
		if (j->rec.up_ms == 0)
			j->rec.up_ms = j->up_ms;
	}
	if (ps->kind != JS_RECORD)
		publish(j);
	memset(in, 0, sizeof(*in));
	in->action = j->rec.action;
	in->id = j->rec.id;
	in->from_tag = j->rec.from_tag;
	in->to_tag = j->rec.to_tag;
	/* going back: the old version; the backup command: the new one, as
	 * for pull (its images are there) */
	in->tag = j->rolling_back ? j->rec.from_tag : j->rec.to_tag[0] ?
	    j->rec.to_tag : j->rec.from_tag;
	in->services = j->svc;
	in->nservices = j->nservices;
	for (size_t i = 0; i < j->plan.n; i++)
		in->backs_up = in->backs_up || j->plan.step[i].kind == JS_SQLITE;
	in->no_target = j->no_target;
	in->up_ms = j->up_ms;
	/* a restore's own backup, and where a restore that failed goes back
	 * from, is j->safety; the backup it puts back is the job's */
	if (j->rec.action == HB_DEPLOY_RESTORE && (j->rolling_back ||
	    ps->kind == JS_SQLITE || ps->kind == JS_BACKUP_CMD ||
	    ps->kind == JS_MANIFEST)) {
		in->backup = j->safety;
		in->backup_len = sizeof(j->safety);
	} else {
		in->backup = j->rec.backup;
		in->backup_len = sizeof(j->rec.backup);
	}
	in->restore_files = j->plan.restore;
	in->nrestore = j->plan.nrestore;
	in->restored = j->restored;
	in->restored_len = sizeof(j->restored);
	in->rolling_back = j->rolling_back;
	steps_run(j->steps, ps->kind, in, on_step_done, j);
}

/* ---------------- starting, recovering, stopping ---------------- */

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
			snprintf(j->no_target, sizeof(j->no_target), "%s", err);
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
	struct plan_job pj;

	if (j->active || j->stopping) {
		snprintf(err, errlen, "%s", j->stopping ? "the deployer is stopping" :
		    "a job runs");
		return -1;
	}
	memset(&j->rec, 0, sizeof(j->rec));
	j->no_target[0] = '\0';
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
	j->safety[0] = '\0';
	j->detail[0] = '\0';
	if (rq->action == HB_DEPLOY_VERIFY || rq->action == HB_DEPLOY_DRILL) {
		char tag[129], why[256];

		/* a drill without a name: the newest backup */
		if (rq->backup && *rq->backup)
			snprintf(j->rec.backup, sizeof(j->rec.backup), "%s", rq->backup);
		else
			backup_newest(j->p.cfg->backup_dir, j->rec.backup,
			    sizeof(j->rec.backup));
		if (j->rec.backup[0] == '\0')
			snprintf(j->no_target, sizeof(j->no_target), "no complete "
			    "backup under %s", j->p.cfg->backup_dir);
		else if (backup_tag_of(j->p.cfg->backup_dir, j->rec.backup, tag,
		    sizeof(tag), why, sizeof(why)) != 0)
			snprintf(j->no_target, sizeof(j->no_target), "%s", why);
	}
	if (rq->action == HB_DEPLOY_RESTORE) {
		/* the version stays; its services are recreated */
		snprintf(j->rec.to_tag, sizeof(j->rec.to_tag), "%s", j->rec.from_tag);
		snprintf(j->rec.backup, sizeof(j->rec.backup), "%s", rq->backup);
		plan_restore_target(&j->plan, j->p.cfg, j->rec.backup, rq->only,
		    rq->nonly, j->no_target, sizeof(j->no_target));
	}
	snprintf(j->rec.phase, sizeof(j->rec.phase), "queued");
	j->rec.started_ms = j->rec.updated_ms = hb_wall_ms();
	if (journal_begin(j->p.journal, &j->rec) != 0) {
		snprintf(err, errlen, "the journal refused the job (another one is "
		    "open, or the id was used)");
		return -1;
	}
	j->active = true;
	joblog_prune(j->logdir, j->rec.seq, JOBLOG_KEEP);
	report_versions(j->rec.from_tag, j->rec.to_tag, vers, sizeof(vers));
	log_line(j, "%s %s id=%s requested_by=%s services=\"%s\"%s",
	    hb_deploy_action_name(j->rec.action), vers, j->rec.id,
	    j->rec.requested_by, j->rec.services, j->p.dry_run ? " (dry run)" : "");
	j->rolling_back = false;
	j->up_ms = 0;
	j->summary[0] = '\0';
	j->restored[0] = '\0';
	plan_of(j, &pj);
	plan_build(&j->plan, &pj);
	j->rec.step_count = j->plan.count;
	publish(j);
	report_versions(j->rec.from_tag, j->rec.to_tag, vers, sizeof(vers));
	hb_info("job started id=%s action=%s %s requested_by=%s services=\"%s\"",
	    j->rec.id, hb_deploy_action_name(j->rec.action), vers,
	    j->rec.requested_by, j->rec.services);
	if (!about_backups(rq->action)) {
		char text[512];

		snprintf(text, sizeof(text), "%s %s on %s started%s%s.",
		    hb_deploy_action_name(rq->action), vers, j->p.instance,
		    j->rec.requested_by[0] ? ", requested by " : "", j->rec.requested_by);
		notify(j, HB_SEV_INFO, "started", rq->action == HB_DEPLOY_ROLLBACK ?
		    "Rollback started" : rq->action == HB_DEPLOY_RESTORE ?
		    "Restore started" : "Deploy started", text);
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
	report_versions(j->rec.from_tag, j->rec.to_tag, vers, sizeof(vers));
	snprintf(text, sizeof(text), "The deployer stopped during %s (step %s) of "
	    "%s %s, id %s. %s", j->rec.phase, j->rec.step,
	    hb_deploy_action_name(j->rec.action), vers, j->rec.id,
	    j->rec.up_ms > 0 && !about_backups(j->rec.action) ?
	    "It had reached up: going back to the version that ran before." :
	    "Nothing had been stopped.");
	hb_warn("unfinished job found id=%s phase=%s step=%s up_reached=%s",
	    j->rec.id, j->rec.phase, j->rec.step, j->rec.up_ms > 0 ? "yes" : "no");
	snprintf(j->rec.error, sizeof(j->rec.error), "interrupted: the deployer "
	    "stopped during %s", j->rec.phase);
	publish(j);
	notify(j, HB_SEV_WARNING, "interrupted", "Deploy interrupted", text);
	if (j->rec.up_ms > 0 && !about_backups(j->rec.action)) {
		snprintf(text, sizeof(text), "interrupted during %s", j->rec.phase);
		start_rollback(j, text, NULL);
	} else {
		j->plan.n = 0;
		j->plan.pos = 0;
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
	if (steps_cut_verify(j->steps)) {
		struct step_result r = { .ok = false, .error = "cut short by SIGTERM",
		    .tail = "cut short by SIGTERM", .argv_json = "", .exit_code = -1 };

		record_step(j, &r);
		stop_now(j);
		return;
	}
	if (steps_waiting(j->steps)) {
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
	joblog_dir(parts->cfg->journal_path, j->logdir, sizeof(j->logdir));
	j->steps = steps_new(parts);
	j->ev_next = event_new(base, -1, 0, on_next, j);
	return j;
}

void
job_free(struct job *j)
{
	if (j == NULL)
		return;
	event_free(j->ev_next);
	steps_free(j->steps);
	free(j);
}
