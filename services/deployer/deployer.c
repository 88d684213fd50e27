/*
 * deployer: the service's own file only wires the parts together — the
 * configuration, the journal, the runner of step commands, the backup
 * worker, the verifier, what is reported on the bus, the Home Assistant
 * entity, the job and the commands (commands.c) — and answers /health,
 * GET /deploys and the heartbeat.
 */
#include "deployer.h"
#include "backup.h"
#include "config.h"
#include "ha_update.h"
#include "commands.h"
#include "job.h"
#include "joblog.h"
#include "journal.h"
#include "report.h"
#include "runner.h"
#include "verify.h"

#include "hb_http_server.h"
#include "hb_log.h"
#include "hb_util.h"

#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <limits.h>

#include <stdlib.h>
#include <string.h>

#define RECENT_JOBS 50		/* GET /deploys */
#define MAX_JOBS 1000		/* GET /deploys?n= at most */
#define SCHEDULE_RETRY_S 600	/* a scheduled backup or drill that met a job */

struct deployer {
	struct hb_service *svc;
	struct deployer_config cfg;
	struct journal *journal;
	struct runner *runner;
	struct backup *backup;
	struct verify *verify;
	struct report *report;
	struct ha *ha;
	struct job *job;
	struct commands *commands;
	struct event *ev_schedule;
	struct event *ev_drill;		/* deployer.drill_every_d */
	bool stopping;
	bool job_stopped;
	bool bus_closed;
	struct hb_gauge *m_active;
};

static void *
deployer_create(struct hb_service *svc)
{
	struct deployer *d = hb_xcalloc(1, sizeof(*d));

	d->svc = svc;
	deployer_config_read(&d->cfg, &svc->app, hb_service_instance(svc));
	return d;
}

static void
deployer_install(const char *tag, void *arg)
{
	struct deployer *d = arg;

	commands_install(d->commands, tag);
}

static void
arm(struct event *ev, long seconds)
{
	hb_timer_add_ms(ev, (int64_t)seconds * 1000);
}

/* When the newest complete backup was taken (from its name); -1: none. */
static time_t
newest_backup(struct deployer *d)
{
	char name[HB_DEPLOY_BACKUP_MAX];
	int64_t ms;

	backup_newest(d->cfg.backup_dir, name, sizeof(name));
	ms = name[0] ? backup_time_ms(name) : -1;
	return ms < 0 ? -1 : (time_t)(ms / 1000);
}

/*
 * From the journal: when the last drill ended (drill true), or when the
 * last scheduled backup began; -1: none.
 */
static time_t
journal_time(struct deployer *d, bool drill)
{
	struct journal_job *jb = hb_xcalloc(1, sizeof(*jb));
	time_t t = -1;

	if (journal_last_of(d->journal, drill ? HB_DEPLOY_DRILL : HB_DEPLOY_BACKUP,
	    jb) && (drill || strcmp(jb->requested_by, "schedule") == 0))
		t = (time_t)((drill ? jb->finished_ms : jb->started_ms) / 1000);
	free(jb);
	return t;
}

/* Seconds until the next scheduled backup (see backup_due_in); -1: none. */
static long
backup_due(struct deployer *d, long catch_up_s)
{
	return backup_due_in(time(NULL), newest_backup(d), journal_time(d, false),
	    d->cfg.backup_every_h, d->cfg.backup_at_h, d->cfg.backup_at_m,
	    catch_up_s);
}

/* Seconds until the next drill (see backup_drill_due_in); -1: none. */
static long
drill_due(struct deployer *d, long catch_up_s)
{
	return backup_drill_due_in(time(NULL), journal_time(d, true),
	    newest_backup(d), d->cfg.drill_every_d, catch_up_s);
}

/*
 * Both timers from what is persisted (the backups folder, the journal), at
 * start and after every job: what is due already runs catch_up_s from now.
 */
static void
arm_from_facts(struct deployer *d)
{
	long backup = backup_due(d, d->cfg.catch_up_s);
	long drill = drill_due(d, d->cfg.catch_up_s);

	if (backup >= 0)
		arm(d->ev_schedule, backup);
	if (drill >= 0)
		arm(d->ev_drill, drill);
	if (backup >= 0 || drill >= 0)
		hb_info("schedule next_backup_in_s=%ld next_drill_in_s=%ld", backup,
		    drill);
}

/*
 * The timer of a scheduled job: run it if it is still due (a deploy's
 * backup since may have moved the next one), else wait the rest; a job
 * running: again later. The job's end arms the timers again.
 */
static void
on_timer(struct deployer *d, bool drill)
{
	struct event *ev = drill ? d->ev_drill : d->ev_schedule;
	long left = drill ? drill_due(d, 0) : backup_due(d, 0);

	if (left > 0) {
		arm(ev, left);
		return;
	}
	if (!(drill ? commands_scheduled_drill(d->commands) :
	    commands_scheduled_backup(d->commands)) || !job_active(d->job))
		arm(ev, SCHEDULE_RETRY_S);
}

static void
on_schedule(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	on_timer(arg, false);
}

static void
on_drill(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	on_timer(arg, true);
}

static void
deployer_job_ended(void *arg)
{
	struct deployer *d = arg;

	if (!d->stopping)
		arm_from_facts(d);
}

/* ?n=N of a request, within [1, max]; def when absent or not a number. */
static int
query_n(struct evhttp_request *req, int def, int max)
{
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const char *q = uri ? evhttp_uri_get_query(uri) : NULL;
	struct evkeyvalq params;
	const char *v;
	long long n = def;

	if (q == NULL || evhttp_parse_query_str(q, &params) != 0)
		return def;
	v = evhttp_find_header(&params, "n");
	if (v == NULL || hb_parse_ll(v, 1, max, &n) != 0)
		n = def;
	evhttp_clear_headers(&params);
	return (int)n;
}

static void
reply_json(struct evhttp_request *req, json_t *o)
{
	char *text = json_dumps(o, JSON_COMPACT);

	hb_http_reply(req, 200, "application/json", text ? text : "{}",
	    text ? strlen(text) : 2);
	free(text);
	json_decref(o);
}

/* GET /deploys[?n=N]: the journal, newest first. */
static void
deployer_deploys(struct evhttp_request *req, void *arg)
{
	struct deployer *d = arg;
	char running[129], previous[129], backup[HB_DEPLOY_BACKUP_MAX];

	journal_versions(d->journal, d->cfg.initial_tag, running, sizeof(running),
	    previous, sizeof(previous), backup, sizeof(backup));
	reply_json(req, json_pack("{s:s,s:s,s:o}", "running_tag", running,
	    "previous_tag", previous, "deploys", journal_recent(d->journal,
	    query_n(req, RECENT_JOBS, MAX_JOBS))));
}

/*
 * GET /deploys/log?id=ID: the job's whole log (text/plain; every step's
 * command, outcome and output, at most 1 MiB), 404 when there is no such
 * job or its log was pruned.
 */
static void
deployer_log(struct evhttp_request *req, void *arg)
{
	struct deployer *d = arg;
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const char *q = uri ? evhttp_uri_get_query(uri) : NULL;
	struct evkeyvalq params;
	struct journal_job *job = hb_xcalloc(1, sizeof(*job));
	char dir[PATH_MAX], msg[200];
	const char *id = NULL;
	char *text = NULL;
	size_t len = 0;

	bool parsed = q != NULL && evhttp_parse_query_str(q, &params) == 0;

	if (parsed)
		id = evhttp_find_header(&params, "id");
	joblog_dir(d->cfg.journal_path, dir, sizeof(dir));
	if (id && journal_find(d->journal, id, job))
		text = joblog_read(dir, job->seq, &len);
	if (text) {
		hb_http_reply(req, 200, "text/plain; charset=utf-8", text, len);
	} else {
		snprintf(msg, sizeof(msg), "%s\n", id == NULL ? "?id=<job id> is "
		    "needed" : "no log of that job (an unknown id, or a log pruned)");
		hb_http_reply(req, id == NULL ? 400 : 404, "text/plain", msg,
		    strlen(msg));
	}
	free(text);
	free(job);
	if (parsed)
		evhttp_clear_headers(&params);
}

/* GET /backups: the backup folders, and which one retention keeps anyway. */
static void
deployer_backups(struct evhttp_request *req, void *arg)
{
	struct deployer *d = arg;
	char running[129], previous[129], verified[HB_DEPLOY_BACKUP_MAX];
	char newest[HB_DEPLOY_BACKUP_MAX];
	const char *keep[2];

	journal_versions(d->journal, d->cfg.initial_tag, running, sizeof(running),
	    previous, sizeof(previous), verified, sizeof(verified));
	backup_newest_of(d->cfg.backup_dir, running, newest, sizeof(newest));
	keep[0] = verified;
	keep[1] = newest;
	reply_json(req, json_pack("{s:s,s:o}", "backup_dir", d->cfg.backup_dir,
	    "backups", backup_list(d->cfg.backup_dir, keep, 2)));
}

static int
build_parts(struct deployer *d)
{
	struct hb_app *app = &d->svc->app;
	const char *prefix = hb_service_prefix(d->svc);
	const char *instance = hb_service_instance(d->svc);
	struct ha_opts ho = { 0 };
	struct job_parts jp = { 0 };
	struct commands_parts ip = { 0 };
	char who[128], page[320];

	d->backup = backup_new(app->base);
	if (d->backup == NULL)
		return -1;
	snprintf(who, sizeof(who), "deployer/%s", instance);
	d->runner = runner_new(app->base, &d->cfg, d->journal, app->dry_run);
	d->verify = verify_new(app->base, d->svc->bus, prefix, who);
	d->report = report_new(d->svc->bus, prefix, instance);
	ho.prefix = prefix;
	ho.instance = instance;
	ho.discovery_prefix = d->cfg.ha_prefix;
	ho.discovery = d->cfg.ha_discovery;
	hb_app_public_url(app, "health", "/", page, sizeof(page));
	ho.status_url = page;
	ho.on_install = deployer_install;
	ho.arg = d;
	d->ha = ha_new(d->svc->bus, &ho);
	jp.cfg = &d->cfg;
	jp.journal = d->journal;
	jp.runner = d->runner;
	jp.backup = d->backup;
	jp.verify = d->verify;
	jp.report = d->report;
	jp.ha = d->ha;
	jp.instance = instance;
	jp.dry_run = app->dry_run;
	jp.ended = deployer_job_ended;
	jp.ended_arg = d;
	d->job = job_new(app->base, &jp);
	ip.cfg = &d->cfg;
	ip.journal = d->journal;
	ip.job = d->job;
	ip.report = d->report;
	ip.prefix = prefix;
	ip.instance = instance;
	d->commands = commands_new(d->svc->bus, &ip, app->metrics);
	return 0;
}

static int
deployer_start(void *arg)
{
	struct deployer *d = arg;
	struct hb_app *app = &d->svc->app;
	char err[512];

	d->journal = journal_open(d->cfg.journal_path, err, sizeof(err));
	if (d->journal == NULL) {
		hb_error("journal: %s (set deployer.journal or data_dir)", err);
		return -1;
	}
	if (build_parts(d) != 0)
		return -1;
	d->m_active = hb_metrics_gauge(app->metrics, "job_running",
	    "1 while a deploy, rollback or backup runs.", NULL);
	if (verify_subscribe(d->verify) != 0 || ha_subscribe(d->ha) != 0 ||
	    commands_subscribe(d->commands) != 0)
		return -1;
	if (app->http) {
		hb_http_server_route(app->http, "/deploys", deployer_deploys, d);
		hb_http_server_route(app->http, "/backups", deployer_backups, d);
		hb_http_server_route(app->http, "/deploys/log", deployer_log, d);
	}
	d->ev_schedule = evtimer_new(app->base, on_schedule, d);
	d->ev_drill = evtimer_new(app->base, on_drill, d);
	hb_info("deployer ready compose_file=%s services=%zu targets=%zu "
	    "journal=%s backup_dir=%s%s", d->cfg.compose_file, d->cfg.nservices,
	    d->cfg.ntargets, d->cfg.journal_path, d->cfg.backup_dir,
	    app->dry_run ? " dry_run=yes (steps are logged, not run)" : "");
	/* a step the last run was killed in must not finish behind the
	 * rollback (an `up` of the version being undone) */
	runner_end_orphan(d->runner);
	/* a backup the last run was killed in is no backup */
	if (!app->dry_run)
		backup_discard_incomplete(d->cfg.backup_dir);
	job_recover(d->job);
	arm_from_facts(d);
	return 0;
}

static void
deployer_connection(void *arg, bool connected)
{
	struct deployer *d = arg;

	if (!connected)
		return;
	ha_announce(d->ha);
	job_announce(d->job);
}

static void
maybe_exit(struct deployer *d)
{
	if (d->job_stopped && d->bus_closed)
		hb_service_exit(d->svc, 0);
}

static void
deployer_job_stopped(void *arg)
{
	struct deployer *d = arg;

	d->job_stopped = true;
	maybe_exit(d);
}

static void
deployer_stop(void *arg)
{
	struct deployer *d = arg;

	d->stopping = true;
	if (d->ev_schedule)
		evtimer_del(d->ev_schedule);
	if (d->ev_drill)
		evtimer_del(d->ev_drill);
	job_stop(d->job, deployer_job_stopped, d);
}

static void
deployer_closed(void *arg)
{
	struct deployer *d = arg;

	d->bus_closed = true;
	maybe_exit(d);
}

static bool
deployer_health(void *arg, json_t *out)
{
	struct deployer *d = arg;
	char running[129], previous[129], backup[HB_DEPLOY_BACKUP_MAX];

	journal_versions(d->journal, d->cfg.initial_tag, running, sizeof(running),
	    previous, sizeof(previous), backup, sizeof(backup));
	json_object_set_new(out, "deploy", job_health(d->job));
	json_object_set_new(out, "running_tag", json_string(running));
	json_object_set_new(out, "previous_tag", json_string(previous));
	json_object_set_new(out, "dry_run", json_boolean(d->svc->app.dry_run));
	return true;
}

static void
deployer_refresh(void *arg)
{
	struct deployer *d = arg;

	hb_gauge_set(d->m_active, job_active(d->job) ? 1 : 0);
}

static void
deployer_heartbeat(void *arg, json_t *hb)
{
	struct deployer *d = arg;

	json_object_set_new(hb, "job", job_health(d->job));
}

static void
deployer_destroy(void *arg)
{
	struct deployer *d = arg;

	if (d->ev_schedule)
		event_free(d->ev_schedule);
	if (d->ev_drill)
		event_free(d->ev_drill);
	commands_free(d->commands);
	job_free(d->job);
	ha_free(d->ha);
	report_free(d->report);
	verify_free(d->verify);
	runner_free(d->runner);
	backup_free(d->backup);
	journal_close(d->journal);
	free(d);
}

const struct hb_service_def deployer_service = {
	.name = "deployer",
	.dry_run = "log each step's command instead of running it",
	.persistent = true,
	.create = deployer_create,
	.start = deployer_start,
	.stop = deployer_stop,
	.closed = deployer_closed,
	.health = deployer_health,
	.refresh = deployer_refresh,
	.heartbeat = deployer_heartbeat,
	.connection = deployer_connection,
	.destroy = deployer_destroy,
};
