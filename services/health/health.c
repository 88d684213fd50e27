/*
 * health: the watcher's wiring. It builds the parts — the targets
 * (target.c) and their checks (checks.c, probe.c), the services on the bus
 * (services.c), check requests (checkreq.c), what a previous run left (leftovers.c),
 * publishing (publish.c) and notifications (alerts.c) — runs every target's check timer, hands what
 * arrives on the bus to the part it is for, records each result, and
 * serves the status page.
 *
 * Nothing is published or told before settling ends (leftovers.h), and
 * nothing new after SIGTERM; notifications are "state now" against "state
 * last told", and only while connected.
 */
#include "health.h"
#include "alerts.h"
#include "backups_watch.h"
#include "checkreq.h"
#include "checks.h"
#include "page.h"
#include "probe.h"
#include "publish.h"
#include "services.h"
#include "leftovers.h"
#include "target.h"

#include "hb_bus.h"
#include "hb_http_client.h"
#include "hb_log.h"
#include "hb_msg.h"
#include "hb_topic.h"
#include "hb_util.h"

#include <event2/http.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct health {
	struct hb_service *svc;
	struct hb_app *app;			/* &svc->app */
	const struct hb_bus_config *bus_cfg;	/* svc->bus_cfg */
	struct target_defaults defaults;
	struct target_list targets;
	size_t ntargets;
	int page_refresh_s;

	struct hb_bus *bus;
	struct hb_http_client *http;
	struct check_env env;
	struct services services;
	struct probe probe;
	struct publisher pub;
	struct alerts alerts;
	struct leftovers settle;
	struct checkreq checkreq;
	struct backups_watch backups;	/* P/deploy/backups, for backups targets */
	bool connected;
	bool settled;
	bool stopping;		/* SIGTERM: nothing new is published */
	struct event *ev_settle;

	struct hb_counter *m_checks[6], *m_failures[6];
	struct hb_counter *m_skipped, *m_transitions, *m_requests, *m_refused;
	struct hb_gauge *m_targets[4], *m_discovered;
};

static void on_check_timer(evutil_socket_t fd, short what, void *arg);

/* ---------------- configuration ---------------- */

static void
read_defaults(struct health *h, struct hb_config *cfg)
{
	double interval = hb_cfg_double(cfg, "health.interval_s", 30, 0.1, 86400);

	h->defaults.interval_ms = (int64_t)(interval * 1000.0 + 0.5);
	h->defaults.timeout_ms = hb_cfg_int(cfg, "health.timeout_ms", 5000, 10,
	    3600000);
	if (h->defaults.timeout_ms >= h->defaults.interval_ms) {
		/* the default shrinks with a short interval; a chosen one is a mistake */
		if (hb_cfg_has(cfg, "health.timeout_ms"))
			hb_cfg_error(cfg, "health.timeout_ms", "%lld ms must be shorter "
			    "than health.interval_s (%g s)",
			    (long long)h->defaults.timeout_ms, interval);
		h->defaults.timeout_ms = h->defaults.interval_ms * 9 / 10;
	}
	h->defaults.fail_after = (int)hb_cfg_int(cfg, "health.fail_after", 3, 1,
	    HYSTERESIS_MAX);
	h->defaults.recover_after = (int)hb_cfg_int(cfg, "health.recover_after", 2,
	    1, HYSTERESIS_MAX);
}

static void *
health_create(struct hb_service *svc)
{
	struct health *h = hb_xcalloc(1, sizeof(*h));
	struct hb_config *cfg = svc->app.cfg;

	h->svc = svc;
	h->app = &svc->app;
	h->bus_cfg = &svc->bus_cfg;
	TAILQ_INIT(&h->targets);
	read_defaults(h, cfg);
	h->page_refresh_s = (int)hb_cfg_int(cfg, "health.page_refresh_s", 15, 1,
	    3600);
	alerts_read(&h->alerts, cfg);
	publish_read(&h->pub, cfg);
	/* the configured targets first: expected services take other names */
	targets_read(cfg, &h->defaults, &h->targets);
	services_read(&h->services, cfg, h->bus_cfg->prefix, h->bus_cfg->instance,
	    h->bus_cfg->heartbeat_s, &h->defaults, &h->targets);
	return h;
}

/* The parts may publish, tell and judge services only while this holds. */
static void
update_open(struct health *h)
{
	bool open = h->bus && h->connected && h->settled && !h->stopping;

	h->pub.open = open;
	h->alerts.open = open;
	h->services.connected = h->connected;
	h->services.settled = h->settled;
	h->probe.connected = h->connected;
}

/* ---------------- results ---------------- */

static void
transitioned(struct health *h, struct target *t)
{
	hb_counter_add(h->m_transitions, 1);
	target_show_state(t);
	hb_info("target=%s state=%s reason=\"%s\"", t->name,
	    hb_health_state_name(t->state), t->reason);
	publish_overall(&h->pub, false);
	alerts_flush(&h->alerts);
}

static void
handle_result(struct health *h, struct target *t, const struct check_result *r)
{
	bool changed;

	t->in_flight = false;
	hb_counter_add(h->m_checks[t->type], 1);
	if (r->level != LEVEL_OK)
		hb_counter_add(h->m_failures[t->type], 1);
	/* A service is judged on evidence, not sampled: its last will or a
	 * heartbeat timeout (the timeout is its hysteresis already) is down
	 * at once, and its online status with a heartbeat is ok at once. */
	if (t->type == TT_SERVICE) {
		changed = target_force(t, r->level == LEVEL_OK ? HB_HEALTH_OK :
		    HB_HEALTH_DOWN, r->reason, hb_wall_ms());
		t->latency_ms = r->latency_ms;
		t->checks++;
	} else {
		changed = target_record(t, r, hb_wall_ms());
	}
	publish_state(&h->pub, t, false);
	if (changed)
		transitioned(h, t);
}

static void
on_check_done(struct target *t, const struct check_result *r, void *arg)
{
	handle_result(arg, t, r);
}

/* ---------------- scheduling ---------------- */

static void
run_check(struct health *h, struct target *t)
{
	struct check_result r;

	switch (t->type) {
	case TT_HTTP:
	case TT_EXEC:
	case TT_DISK:
		t->in_flight = true;
		check_start(&h->env, t, on_check_done, h);
		break;
	case TT_MQTT:
		probe_start(&h->probe, t);
		break;
	case TT_SERVICE:
		if (services_judge(&h->services, t, hb_mono_ms(), &r))
			handle_result(h, t, &r);
		break;
	case TT_BACKUPS:
		backups_watch_judge(&h->backups, t, hb_wall_ms(), &r);
		handle_result(h, t, &r);
		break;
	}
}

static void
on_check_timer(evutil_socket_t fd, short what, void *arg)
{
	struct target *t = arg;
	struct health *h = t->owner;

	(void)fd;
	(void)what;
	hb_timer_add_ms(t->ev_check, target_next_ms(t, hb_wall_ms()));
	if (t->in_flight) {
		/* a check slower than the interval: never two at once; one far
		 * past its timeout is given up (its failure is recorded) */
		if (!check_overdue(t, hb_mono_us()))
			hb_counter_add(h->m_skipped, 1);
		return;
	}
	run_check(h, t);
}

/* t's check timer fires now; it sets the next one itself. */
static void
check_now(void *arg, struct target *t)
{
	(void)arg;
	if (t->ev_check)
		hb_timer_add_ms(t->ev_check, 0);
}

/* Starts checking t: its first check comes after `first_ms`. */
static void
schedule(struct health *h, struct target *t, int64_t first_ms)
{
	t->owner = h;
	t->ev_check = evtimer_new(h->app->base, on_check_timer, t);
	hb_timer_add_ms(t->ev_check, first_ms);
}

/* The labels of t's series for state i: target="x",state="ok". */
static void
state_labels(const struct target *t, int i, char *out, size_t outlen)
{
	snprintf(out, outlen, "%s,state=\"%s\"", t->m_labels,
	    hb_health_state_name((enum hb_health_state)i));
}

static void
target_metrics(struct health *h, struct target *t)
{
	snprintf(t->m_labels, sizeof(t->m_labels), "target=\"%s\"", t->name);
	for (char *c = t->m_labels + 8; c[1]; c++)
		if (*c == '"' || *c == '\\' || *c == '\n')
			*c = '_';
	for (int i = 0; i < TARGET_STATES; i++) {
		char labels[sizeof(t->m_labels) + 32];

		state_labels(t, i, labels, sizeof(labels));
		t->m_state[i] = hb_metrics_gauge(h->app->metrics, "target_state",
		    "State of each target, one series per state (a StateSet): 1 "
		    "for the state it is in, 0 for the others.", labels);
	}
	target_show_state(t);
}

/*
 * Just connected: the broker targets are checked now rather than an
 * interval later, so that a broker that is back is not shown down for
 * recover_after more intervals. (What was down during the outage is
 * published and told first: the outage happened.) The subscriptions are
 * sent before this is called, so the probe finds its echo.
 */
static void
check_mqtt_now(struct health *h)
{
	struct target *t;

	TAILQ_FOREACH(t, &h->targets, entry) {
		if (t->type != TT_MQTT || t->ev_check == NULL)
			continue;
		/* a probe sent before the connection dropped is lost */
		probe_forget(t);
		hb_timer_add_ms(t->ev_check, t->interval_ms);
		probe_start(&h->probe, t);
	}
}

/* ---------------- services on the bus ---------------- */

static void
service_added(struct health *h, struct target *t)
{
	h->ntargets++;
	target_metrics(h, t);
	schedule(h, t, 0);
	publish_ha_config(&h->pub, t);
	publish_overall(&h->pub, false);
}

/* Its retained status was cleared: its entity goes, then its state. */
static void
service_removed(struct health *h, struct target *t)
{
	char node[HB_TOPIC_MAX];

	check_release(t);
	h->ntargets--;
	if (h->connected) {
		publish_ha_node(&h->pub, t->ha_id, node, sizeof(node));
		if (h->pub.ha_enabled)
			publish_ha_clear_figures(&h->pub, t);
		publish_clear(&h->pub, t->name, h->pub.ha_enabled ? node : NULL);
	}
	for (int i = 0; i < TARGET_STATES; i++) {
		char labels[sizeof(t->m_labels) + 32];

		state_labels(t, i, labels, sizeof(labels));
		hb_metrics_remove(h->app->metrics, "target_state", labels);
	}
	target_free(t);
	publish_overall(&h->pub, false);
}

/* P/svc/<service>/<instance>/<leaf>: levels 0 and 1, unless it is us. */
static bool
svc_names(struct health *h, const struct hb_bus_msg *msg, char *service,
    char *instance)
{
	if (h->stopping || hb_bus_msg_level(msg, 0, service, 64) != 0 ||
	    hb_bus_msg_level(msg, 1, instance, 64) != 0)
		return false;
	return !services_is_self(&h->services, service, instance);
}

static void
on_svc_status(void *arg, const struct hb_bus_msg *msg)
{
	struct health *h = arg;
	char service[64], instance[64];
	struct target *t;
	int what;

	if (!svc_names(h, msg, service, instance))
		return;
	t = services_status(&h->services, service, instance, msg->payload,
	    msg->len, &what);
	if (what & SERVICES_REFUSED)
		hb_counter_add(h->m_refused, 1);
	if (what & SERVICES_WATCHER)
		alerts_other_watcher(&h->alerts,
		    services_other_watcher(&h->services));
	if (what & SERVICES_REMOVED) {
		service_removed(h, t);
		return;
	}
	if (what & SERVICES_ADDED)
		service_added(h, t);
	/* the last will: judged once it is believed */
	if ((what & SERVICES_OFFLINE) && t->ev_check)
		hb_timer_add_ms(t->ev_check, SERVICES_OFFLINE_CONFIRM_MS);
}

static void
on_svc_heartbeat(void *arg, const struct hb_bus_msg *msg)
{
	struct health *h = arg;
	char service[64], instance[64];
	struct target *t;
	bool judge;

	if (!svc_names(h, msg, service, instance))
		return;
	t = services_heartbeat(&h->services, service, instance, msg->payload,
	    msg->len, &judge);
	if (t == NULL)
		return;
	/* a service that is back: judged now, not an interval later */
	if (judge)
		check_now(h, t);
	/* its first heartbeat since it came online says when it started: on
	 * the bus at once (the deployer tells a restarted service by it),
	 * not at the next refresh */
	else if (!h->stopping)
		publish_state(&h->pub, t, false);
}

/* ---------------- the rest of what arrives ---------------- */

static void
on_probe_echo(void *arg, const struct hb_bus_msg *msg)
{
	struct health *h = arg;

	if (!h->stopping)
		probe_echo(&h->probe, msg->payload, msg->len);
}

static void
on_ha_status(void *arg, const struct hb_bus_msg *msg)
{
	struct health *h = arg;

	if (h->stopping)
		return;
	if (msg->len == 6 && memcmp(msg->payload, "online", 6) == 0 &&
	    h->settled) {
		hb_info("Home Assistant is online: sending the discovery configs "
		    "again");
		publish_ha_all(&h->pub);
	}
}

/* P/health/check: check these targets now, and often for a while. */
static void
on_check_request(void *arg, const struct hb_bus_msg *msg)
{
	struct health *h = arg;

	if (h->stopping)
		return;
	if (checkreq_take(&h->checkreq, msg->payload, msg->len, hb_wall_ms(),
	    check_now, h) >= 0)
		hb_counter_add(h->m_requests, 1);
}

/* Retained states found at start: ours from before, to take over. */
static void
on_old_state(void *arg, const struct hb_bus_msg *msg)
{
	struct health *h = arg;
	char name[TARGET_NAME_MAX];

	/* our own echoes once settled; requests have a subscription of their own */
	if (h->stopping || h->settled ||
	    hb_bus_msg_level(msg, 0, name, sizeof(name)) != 0 ||
	    strcmp(name, TARGET_CHECK_LEVEL) == 0)
		return;
	leftovers_note_state(&h->settle, name, msg->payload, msg->len);
}

/*
 * The discovery configs retained under homeassistant/binary_sensor/: ours
 * from before while settling, and after that, one put in our place by
 * another account (Home Assistant's may write there), which is replaced.
 */
static void
on_ha_config(void *arg, const struct hb_bus_msg *msg)
{
	struct health *h = arg;
	char node[HB_TOPIC_MAX];

	if (h->stopping ||
	    !ha_topic_node(msg->topic, h->pub.ha_prefix, node, sizeof(node)))
		return;
	/* once settled, what is there must be ours */
	if (h->settled)
		publish_ha_config_found(&h->pub, node, msg->payload, msg->len);
	else
		leftovers_note_ha(&h->settle, node, msg->payload, msg->len);
}

/*
 * The end of settling: take over the states of the previous run, clear
 * what belongs to targets that are gone, then publish everything.
 */
static void
on_settled(evutil_socket_t fd, short what, void *arg)
{
	struct health *h = arg;
	struct target *t;

	(void)fd;
	(void)what;
	h->settled = true;
	update_open(h);
	leftovers_finish(&h->settle, &h->pub, &h->targets);
	hb_info("settled targets=%zu; publishing", h->ntargets);
	/* what was seen of the services while settling counts now: the
	 * offline are down, the online ok, not an interval later */
	TAILQ_FOREACH(t, &h->targets, entry)
		if (t->type == TT_SERVICE && t->status != SVC_UNSEEN)
			run_check(h, t);
	publish_everything(&h->pub);
	alerts_flush(&h->alerts);
}

static void
on_connection(void *arg, bool connected)
{
	struct health *h = arg;

	h->connected = connected;
	if (connected)
		h->services.connected_ms = hb_mono_ms();
	update_open(h);
	if (!connected)
		return;
	if (!h->settled) {
		if (!evtimer_pending(h->ev_settle, NULL))
			hb_timer_add_ms(h->ev_settle, SETTLE_MS);
	} else {
		publish_everything(&h->pub);
		alerts_flush(&h->alerts);
	}
	check_mqtt_now(h);
}

/* ---------------- HTTP ---------------- */

static void
counts(struct health *h, size_t n[4])
{
	struct target *t;

	memset(n, 0, 4 * sizeof(size_t));
	TAILQ_FOREACH(t, &h->targets, entry)
		n[t->state]++;
}

static bool
health(void *arg, json_t *out)
{
	struct health *h = arg;
	json_t *states = json_object();
	const char *other = services_other_watcher(&h->services);
	struct target *t;

	TAILQ_FOREACH(t, &h->targets, entry)
		json_object_set_new(states, t->name,
		    json_string(hb_health_state_name(t->state)));
	json_object_set_new(out, "overall",
	    json_string(hb_health_state_name(targets_worst(&h->targets))));
	json_object_set_new(out, "targets", states);
	if (other)
		json_object_set_new(out, "other_watcher", json_string(other));
	return true;
}

static void
refresh(void *arg)
{
	struct health *h = arg;
	size_t n[4];

	counts(h, n);
	for (int i = 0; i < 4; i++)
		hb_gauge_set(h->m_targets[i], (double)n[i]);
	hb_gauge_set(h->m_discovered, (double)h->services.ndiscovered);
}

static void
on_page(struct evhttp_request *req, void *arg)
{
	struct health *h = arg;
	struct page_info pi;
	struct hb_buf b = { 0 };
	enum evhttp_cmd_type cmd = evhttp_request_get_command(req);

	if (cmd != EVHTTP_REQ_GET && cmd != EVHTTP_REQ_HEAD) {
		hb_http_reply(req, 405, "text/plain", "method not allowed\n", 19);
		return;
	}
	memset(&pi, 0, sizeof(pi));
	pi.instance = h->bus_cfg->instance;
	pi.overall = targets_worst(&h->targets);
	pi.bus_connected = h->connected;
	pi.refresh_s = h->page_refresh_s;
	pi.now_ms = hb_wall_ms();
	pi.other_watcher = services_other_watcher(&h->services);
	page_render(&b, &h->targets, &pi);
	hb_http_reply(req, 200, "text/html; charset=utf-8", b.data, b.len);
	hb_buf_free(&b);
}

/* ---------------- life cycle ---------------- */

/* "offline" on our status topic then (the skeleton closes the bus): Home
 * Assistant shows the entities as unavailable rather than a state nobody
 * keeps up to date. */
static void
stop(void *arg)
{
	struct health *h = arg;
	struct target *t;

	h->stopping = true;
	update_open(h);
	evtimer_del(h->ev_settle);
	publish_stop(&h->pub);
	alerts_stop(&h->alerts);
	TAILQ_FOREACH(t, &h->targets, entry) {
		check_cancel(t);
		probe_forget(t);
		if (t->ev_check)
			evtimer_del(t->ev_check);
	}
}

static bool
have_backups_target(struct health *h)
{
	struct target *t;

	TAILQ_FOREACH(t, &h->targets, entry)
		if (t->type == TT_BACKUPS)
			return true;
	return false;
}

/* P/deploy/backups (retained): what backups targets are judged by. */
static void
on_backups(void *arg, const struct hb_bus_msg *msg)
{
	struct health *h = arg;

	if (msg->len > 0 && backups_watch_take(&h->backups, msg->payload,
	    msg->len) != 0)
		hb_debug("deploy/backups: a message that does not decode, ignored");
}

static int
subscribe(struct health *h)
{
	const char *p = h->bus_cfg->prefix;
	char filter[HB_TOPIC_MAX];
	int rc = 0;

	rc |= hb_bus_subscribe(h->bus, h->probe.topic, 0, on_probe_echo, h);
	hb_topic_svc(filter, sizeof(filter), p, "+", "+", "status");
	rc |= hb_bus_subscribe(h->bus, filter, 1, on_svc_status, h);
	hb_topic_svc(filter, sizeof(filter), p, "+", "+", "heartbeat");
	rc |= hb_bus_subscribe(h->bus, filter, 0, on_svc_heartbeat, h);
	hb_topic_health(filter, sizeof(filter), p, "+");
	rc |= hb_bus_subscribe(h->bus, filter, 1, on_old_state, h);
	hb_topic_health(filter, sizeof(filter), p, TARGET_CHECK_LEVEL);
	rc |= hb_bus_subscribe(h->bus, filter, 1, on_check_request, h);
	if (have_backups_target(h)) {
		hb_topic_deploy(filter, sizeof(filter), p, "backups", NULL);
		rc |= hb_bus_subscribe(h->bus, filter, 1, on_backups, h);
	}
	if (h->pub.ha_enabled) {
		ha_config_topic(filter, sizeof(filter), h->pub.ha_prefix,
		    HA_BINARY_SENSOR "/+");
		rc |= hb_bus_subscribe(h->bus, filter, 1, on_ha_config, h);
		ha_config_topic(filter, sizeof(filter), h->pub.ha_prefix,
		    HA_SENSOR "/+");
		rc |= hb_bus_subscribe(h->bus, filter, 1, on_ha_config, h);
		rc |= hb_bus_subscribe(h->bus, h->pub.ha_status_topic, 1,
		    on_ha_status, h);
	}
	return rc;
}

static void
make_metrics(struct health *h, struct hb_metrics *m)
{
	char labels[64];

	for (int k = 0; k < 6; k++) {
		snprintf(labels, sizeof(labels), "type=\"%s\"",
		    target_type_name((enum target_type)k));
		h->m_checks[k] = hb_metrics_counter(m, "checks_total",
		    "Checks made, by target type.", labels);
		h->m_failures[k] = hb_metrics_counter(m, "check_failures_total",
		    "Checks that did not find the target ok, by target type.", labels);
	}
	for (int k = 0; k < 4; k++) {
		snprintf(labels, sizeof(labels), "state=\"%s\"",
		    hb_health_state_name((enum hb_health_state)k));
		h->m_targets[k] = hb_metrics_gauge(m, "targets",
		    "Targets in each state.", labels);
	}
	h->m_skipped = hb_metrics_counter(m, "checks_skipped_total",
	    "Checks not started because the previous one was still running.", NULL);
	h->m_transitions = hb_metrics_counter(m, "transitions_total",
	    "State changes of targets.", NULL);
	h->m_requests = hb_metrics_counter(m, "check_requests_total",
	    "Requests on P/health/check taken.", NULL);
	h->m_discovered = hb_metrics_gauge(m, "discovered_services",
	    "Services found on the bus and watched (health.max_discovered at most).",
	    NULL);
	h->m_refused = hb_metrics_counter(m, "discovered_refused_total",
	    "Services found on the bus past health.max_discovered, not watched.",
	    NULL);
}

/*
 * Every target's first check, spread over up to 2 s, so that 200 targets
 * do not all start in the same instant every interval. Returns how many.
 */
static size_t
schedule_all(struct health *h)
{
	struct target *t;
	size_t i = 0, n = 0;
	int64_t spread;

	TAILQ_FOREACH(t, &h->targets, entry)
		n++;
	TAILQ_FOREACH(t, &h->targets, entry) {
		spread = t->interval_ms < 2000 ? t->interval_ms : 2000;
		target_metrics(h, t);
		schedule(h, t, n ? (int64_t)i * spread / (int64_t)n : 0);
		i++;
	}
	return n;
}

static int
start(void *arg)
{
	struct health *h = arg;
	struct hb_app *app = h->app;
	const char *prefix = h->bus_cfg->prefix, *instance = h->bus_cfg->instance;

	make_metrics(h, app->metrics);
	h->services.started_ms = hb_mono_ms();
	h->bus = h->svc->bus;
	h->http = hb_http_client_new(app->base);
	h->env.base = app->base;
	h->env.http = h->http;
	h->ev_settle = evtimer_new(app->base, on_settled, h);
	hb_app_public_url(app, "health", "/", h->pub.status_url,
	    sizeof(h->pub.status_url));
	publish_start(&h->pub, app->base, h->bus, &h->targets, prefix, instance);
	alerts_start(&h->alerts, app->base, h->bus, app->metrics, &h->targets,
	    prefix, instance);
	probe_init(&h->probe, app->base, h->bus, &h->targets, prefix, instance,
	    h->bus_cfg->host, h->bus_cfg->port, on_check_done, h);
	leftovers_init(&h->settle, instance, h->pub.device_id);
	checkreq_init(&h->checkreq, &h->targets);
	if (subscribe(h) != 0)
		return -1;
	h->ntargets = schedule_all(h);
	if (app->http)
		hb_http_server_route(app->http, "/", on_page, h);
	hb_info("health ready targets=%zu expected_services=%zu discover=%d "
	    "max_discovered=%d interval_s=%g heartbeat_timeout_s=%lld", h->ntargets,
	    h->services.nexpected, h->services.discover, h->services.max_discovered,
	    (double)h->defaults.interval_ms / 1000.0,
	    (long long)(h->services.heartbeat_timeout_ms / 1000));
	return 0;
}

static void
destroy(void *arg)
{
	struct health *h = arg;
	struct target *t;

	TAILQ_FOREACH(t, &h->targets, entry)
		check_release(t);
	targets_free(&h->targets);
	hb_http_client_free(h->http);
	leftovers_free(&h->settle);
	alerts_free(&h->alerts);
	publish_free(&h->pub);
	if (h->ev_settle)
		event_free(h->ev_settle);
	free(h);
}

const struct hb_service_def health_service = {
	.name = "health",
	/* a persistent session: a notification in flight when the connection
	 * drops is sent again on the reconnect rather than lost */
	.persistent = true,
	.create = health_create,
	.start = start,
	.stop = stop,
	.health = health,
	.refresh = refresh,
	.connection = on_connection,
	.destroy = destroy,
};
