/*
 * health: the service around the targets — scheduling, the bus (services,
 * the mqtt probe, retained state), notifications, Home Assistant discovery,
 * HTTP.
 *
 * Start-up: retained P/health/<target> messages of a previous run (and our
 * own discovery configs) are read for a moment after the first connection
 * ("settling") before anything is published or notified, so that a restart
 * of the watcher neither repeats old notifications nor forgets a target
 * that was down; what belongs to targets that no longer exist is cleared.
 * Notifications are derived from "state now" against "state last told",
 * and only while connected: a broker that flaps produces no backlog of
 * stale notifications, only what changed overall.
 */
#include "health.h"
#include "checks.h"
#include "ha.h"
#include "page.h"
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

#define SETTLE_MS 1500		/* reading retained state after connecting */
/*
 * A last will is believed after this long: a broker that shuts down sends
 * the wills of everyone still connected and then drops us too, and that is
 * not every service dying.
 */
#define OFFLINE_CONFIRM_MS 1000
#define MAX_EXPECTED 64
#define SEV_OFF 4		/* index of "off" in severity choices */

/* A retained message of a previous run, seen while settling. */
struct leftover {
	TAILQ_ENTRY(leftover) entry;
	bool is_ha;		/* a discovery config (else a P/health state) */
	char name[TARGET_NAME_MAX + 160];	/* target name, or node id */
	enum hb_health_state state;
	int64_t since_ms;
	char reason[256];
};

TAILQ_HEAD(leftover_list, leftover);

struct expected_svc {
	char service[64];
	char instance[64];
};

struct health {
	struct hb_service *svc;
	struct hb_app *app;			/* &svc->app */
	const struct hb_bus_config *bus_cfg;	/* svc->bus_cfg */
	struct target_defaults defaults;
	struct target_list targets;
	int64_t heartbeat_timeout_ms;
	bool discover;
	struct expected_svc expected[MAX_EXPECTED];
	size_t nexpected;
	bool notify_enabled;
	int sev_down, sev_degraded, sev_recovered;	/* SEV_OFF: none */
	int notify_per_minute;
	bool ha_enabled;
	char ha_prefix[128];
	char ha_status_topic[256];
	char ha_device_name[128];
	int page_refresh_s;
	int64_t state_refresh_ms;

	struct hb_bus *bus;
	struct hb_http_client *http;
	struct check_env env;
	char own_status_topic[HB_TOPIC_MAX];
	char probe_topic[HB_TOPIC_MAX];
	char device_id[TARGET_NAME_MAX + 32];
	struct ha_opts ha;
	bool connected;
	bool settled;
	bool stopping;		/* SIGTERM: nothing new is published */
	int64_t started_ms;	/* monotonic */
	int64_t connected_ms;	/* monotonic, the last connect */
	struct event *ev_settle;
	struct event *ev_notify;	/* the next notification window */
	struct leftover_list leftovers;
	size_t ntargets;

	enum hb_health_state overall;
	int64_t overall_since_ms;
	char *overall_published;	/* the last _all payload's states, to skip repeats */
	int64_t window_ms;		/* start of the notification window */
	int64_t window_wall_ms;		/* the same, wall clock (summary keys) */
	int sent_in_window;

	/* another watcher online on our prefix: one per prefix is supported */
	char other_watcher[64];
	bool other_told;		/* its notification went out */

	struct hb_ratelimit bad_log;
	struct hb_counter *m_checks[5], *m_failures[5];
	struct hb_counter *m_skipped, *m_transitions, *m_suppressed;
	struct hb_counter *m_notify[4];
	struct hb_gauge *m_targets[4];
};

static const char *const sev_choices[] = { "info", "warning", "error",
	"critical", "off", NULL };

static void on_check_timer(evutil_socket_t fd, short what, void *arg);
static void flush_notifications(struct health *h);

/* ---------------- configuration ---------------- */

static void
read_expected(struct health *h, struct hb_config *cfg)
{
	size_t n = hb_cfg_array_len(cfg, "health.expected_services");
	char key[80];

	for (size_t i = 0; i < n; i++) {
		const char *s, *slash;
		struct expected_svc *e;
		size_t sl;

		snprintf(key, sizeof(key), "health.expected_services[%zu]", i);
		s = hb_cfg_str(cfg, key, NULL);
		if (s == NULL)
			continue;
		slash = strchr(s, '/');
		sl = slash ? (size_t)(slash - s) : strlen(s);
		if (h->nexpected == MAX_EXPECTED) {
			hb_cfg_error(cfg, key, "at most %d expected services", MAX_EXPECTED);
			break;
		}
		e = &h->expected[h->nexpected];
		if (sl == 0 || sl >= sizeof(e->service) ||
		    (slash && (strlen(slash + 1) >= sizeof(e->instance) ||
		    !hb_topic_level_ok(slash + 1)))) {
			hb_cfg_error(cfg, key, "\"%s\": expected a service name (\"writer\") "
			    "or service/instance (\"writer/nuc2\")", s);
			continue;
		}
		memcpy(e->service, s, sl);
		e->service[sl] = '\0';
		if (!hb_topic_level_ok(e->service)) {
			hb_cfg_error(cfg, key, "\"%s\" cannot be a topic level", e->service);
			continue;
		}
		snprintf(e->instance, sizeof(e->instance), "%s", slash ? slash + 1 :
		    h->bus_cfg->instance);
		if (!target_name_ok(e->service) || !target_name_ok(e->instance)) {
			hb_cfg_error(cfg, key, "\"%s\": a service and instance are 1 to "
			    "64 letters, digits, '_', '.' or '-', not starting with '_', "
			    "'.' or '-'", s);
			continue;
		}
		h->nexpected++;
	}
}

/*
 * The target name of a service: the service alone when it runs on the
 * watcher's own instance (the usual one-host stack: "writer"), else
 * service@instance.
 */
static void
service_target_name(struct health *h, const char *service, const char *instance,
    char *out, size_t outlen)
{
	struct target *t;

	if (strcmp(instance, h->bus_cfg->instance) == 0) {
		snprintf(out, outlen, "%s", service);
		t = targets_find(&h->targets, out);
		if (t == NULL || (t->type == TT_SERVICE &&
		    strcmp(t->service, service) == 0 &&
		    strcmp(t->instance, instance) == 0))
			return;
	}
	snprintf(out, outlen, "%s@%s", service, instance);
}

static void *
health_create(struct hb_service *svc)
{
	struct health *h = hb_xcalloc(1, sizeof(*h));
	struct hb_app *app = &svc->app;
	struct hb_config *cfg = app->cfg;
	const char *s;
	double interval;

	h->svc = svc;
	h->app = app;
	h->bus_cfg = &svc->bus_cfg;
	TAILQ_INIT(&h->targets);
	TAILQ_INIT(&h->leftovers);
	interval = hb_cfg_double(cfg, "health.interval_s", 30, 0.1, 86400);
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
	h->heartbeat_timeout_ms = hb_cfg_int(cfg, "health.heartbeat_timeout_s", 90,
	    1, 86400) * 1000;
	if (h->heartbeat_timeout_ms <= (int64_t)h->bus_cfg->heartbeat_s * 1000)
		hb_cfg_error(cfg, "health.heartbeat_timeout_s", "%lld s must be longer "
		    "than bus.heartbeat_s (%d s), or every service looks dead between "
		    "two heartbeats", (long long)(h->heartbeat_timeout_ms / 1000),
		    h->bus_cfg->heartbeat_s);
	h->discover = hb_cfg_bool(cfg, "health.discover_services", true);
	read_expected(h, cfg);

	h->notify_enabled = hb_cfg_bool(cfg, "health.notify.enabled", true);
	h->sev_down = hb_cfg_enum(cfg, "health.notify.down", sev_choices,
	    HB_SEV_CRITICAL);
	h->sev_degraded = hb_cfg_enum(cfg, "health.notify.degraded", sev_choices,
	    HB_SEV_WARNING);
	h->sev_recovered = hb_cfg_enum(cfg, "health.notify.recovered", sev_choices,
	    HB_SEV_INFO);
	h->notify_per_minute = (int)hb_cfg_int(cfg, "health.notify.max_per_minute",
	    20, 1, 10000);

	h->ha_enabled = hb_cfg_bool(cfg, "health.homeassistant.discovery", true);
	s = hb_cfg_str(cfg, "health.homeassistant.prefix", "homeassistant");
	if (*s == '\0' || strpbrk(s, "+#") || strlen(s) >= sizeof(h->ha_prefix))
		hb_cfg_error(cfg, "health.homeassistant.prefix", "\"%s\" must be a topic "
		    "without wildcards, at most %zu characters", s,
		    sizeof(h->ha_prefix) - 1);
	snprintf(h->ha_prefix, sizeof(h->ha_prefix), "%s", s);
	s = hb_cfg_str(cfg, "health.homeassistant.status_topic",
	    "homeassistant/status");
	if (*s == '\0' || strpbrk(s, "+#") || strlen(s) >= sizeof(h->ha_status_topic))
		hb_cfg_error(cfg, "health.homeassistant.status_topic", "\"%s\" must be "
		    "a topic without wildcards", s);
	snprintf(h->ha_status_topic, sizeof(h->ha_status_topic), "%s", s);
	s = hb_cfg_str(cfg, "health.homeassistant.device_name", "homebus health");
	snprintf(h->ha_device_name, sizeof(h->ha_device_name), "%s", s);
	h->page_refresh_s = (int)hb_cfg_int(cfg, "health.page_refresh_s", 15, 1,
	    3600);
	h->state_refresh_ms = hb_cfg_int(cfg, "health.state_refresh_s", 60, 1,
	    86400) * 1000;

	targets_read(cfg, &h->defaults, &h->targets);
	for (size_t i = 0; i < h->nexpected; i++) {
		struct expected_svc *e = &h->expected[i];
		char name[TARGET_NAME_MAX], key[80];
		struct target *t;

		snprintf(key, sizeof(key), "health.expected_services[%zu]", i);
		if (strcmp(e->service, "health") == 0 &&
		    strcmp(e->instance, h->bus_cfg->instance) == 0) {
			hb_cfg_error(cfg, key, "the watcher cannot watch itself");
			continue;
		}
		service_target_name(h, e->service, e->instance, name, sizeof(name));
		t = targets_find(&h->targets, name);
		if (t && t->type == TT_SERVICE)
			continue;	/* listed twice */
		if (t) {
			hb_cfg_error(cfg, key, "\"%s\" is also the name of a target in "
			    "health.targets", name);
			continue;
		}
		t = target_new_service(name, e->service, e->instance, &h->defaults);
		t->expected = true;
		TAILQ_INSERT_TAIL(&h->targets, t, entry);
	}
	return h;
}

/* ---------------- publishing ---------------- */

static bool
can_publish(struct health *h)
{
	return h->bus && h->connected && h->settled && !h->stopping;
}

/* Retained JSON with latencies to the microsecond, not to 17 digits. */
static void
publish_json(struct health *h, const char *topic, const json_t *o)
{
	char *text = json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(6));

	if (text == NULL)
		return;
	hb_bus_publish(h->bus, topic, text, strlen(text), 1, true);
	free(text);
}

static json_t *
state_json(struct health *h, const struct target *t)
{
	struct hb_health_msg m;
	json_t *o;

	memset(&m, 0, sizeof(m));
	snprintf(m.target, sizeof(m.target), "%s", t->name);
	m.state = t->state;
	m.since_ms = t->since_ms;
	snprintf(m.reason, sizeof(m.reason), "%s", t->reason);
	m.latency_ms = t->latency_ms;
	o = hb_health_encode(&m);
	json_object_set_new(o, "type", json_string(target_type_name(t->type)));
	json_object_set_new(o, "watcher", json_string(h->bus_cfg->instance));
	if (t->checked_ms > 0)
		json_object_set_new(o, "checked", hb_msg_time(t->checked_ms));
	/* the figures the reason leaves out, so that it stays the same */
	if (t->type == TT_DISK && t->total_mb > 0) {
		json_object_set_new(o, "free_mb", json_real(t->free_mb));
		json_object_set_new(o, "total_mb", json_real(t->total_mb));
		json_object_set_new(o, "free_percent", json_real(t->free_mb * 100.0 /
		    t->total_mb));
	}
	/* when a service (re)started, from its heartbeat: a deploy can tell a
	 * restarted service from one that was never stopped */
	if (t->type == TT_SERVICE && t->status == SVC_ONLINE &&
	    t->heartbeat_ms >= t->status_ms && t->heartbeat_ms > 0)
		json_object_set_new(o, "started", hb_msg_time(hb_wall_ms() -
		    (hb_mono_ms() - t->heartbeat_ms) - t->heartbeat.uptime_s * 1000));
	return o;
}

static uint64_t
state_hash(const struct target *t)
{
	uint64_t x = 1469598103934665603ULL ^ (uint64_t)t->state;	/* FNV-1a */

	for (const char *p = t->reason; *p; p++)
		x = (x ^ (unsigned char)*p) * 1099511628211ULL;
	return x;
}

/*
 * Publishes t's state when it or its reason changed, or state_refresh_s
 * after the last time (for the latency), or when forced (after connecting).
 */
static void
publish_state(struct health *h, struct target *t, bool force)
{
	char topic[HB_TOPIC_MAX];
	uint64_t hash = state_hash(t);
	int64_t now = hb_mono_ms();
	json_t *o;

	if (!can_publish(h))
		return;
	if (!force && t->published_ms && hash == t->published_hash &&
	    now - t->published_ms < h->state_refresh_ms)
		return;
	t->published_hash = hash;
	t->published_ms = now;
	if (hb_topic_health(topic, sizeof(topic), h->bus_cfg->prefix, t->name) != 0)
		return;
	o = state_json(h, t);
	publish_json(h, topic, o);
	json_decref(o);
}

/* The Home Assistant node id (and unique_id) of a target of ours. */
static void
ha_node(struct health *h, const char *ha_id, char *out, size_t outlen)
{
	ha_node_id(h->bus_cfg->instance, ha_id, out, outlen);
}

static void
publish_ha_config(struct health *h, const char *name, const char *ha_id)
{
	char topic[HB_TOPIC_MAX], state_topic[HB_TOPIC_MAX], node[HB_TOPIC_MAX];
	json_t *c;

	if (!h->ha_enabled || !can_publish(h))
		return;
	ha_node(h, ha_id, node, sizeof(node));
	if (ha_config_topic(topic, sizeof(topic), h->ha_prefix, node) != 0 ||
	    hb_topic_health(state_topic, sizeof(state_topic), h->bus_cfg->prefix,
	    name) != 0)
		return;
	c = ha_config(&h->ha, strcmp(name, "_all") == 0 ? "overall" : name, node,
	    state_topic);
	hb_bus_publish_json(h->bus, topic, c, 1, true);
	json_decref(c);
}

static void
publish_ha_all(struct health *h)
{
	struct target *t;

	TAILQ_FOREACH(t, &h->targets, entry)
		publish_ha_config(h, t->name, t->ha_id);
	publish_ha_config(h, "_all", "_all");
}

/*
 * Empties the retained messages of a target that is gone: the discovery
 * config (by node id) first, then the state, or Home Assistant renders its
 * template against an empty state and logs an error.
 */
static void
clear_retained(struct health *h, const char *name, const char *node)
{
	char topic[HB_TOPIC_MAX];

	if (node && ha_config_topic(topic, sizeof(topic), h->ha_prefix, node) == 0)
		hb_bus_publish(h->bus, topic, "", 0, 1, true);
	if (name && hb_topic_health(topic, sizeof(topic), h->bus_cfg->prefix,
	    name) == 0)
		hb_bus_publish(h->bus, topic, "", 0, 1, true);
}

static enum hb_health_state
compute_overall(struct health *h)
{
	enum hb_health_state worst = HB_HEALTH_OK;
	struct target *t;

	TAILQ_FOREACH(t, &h->targets, entry)
		if (health_state_rank(t->state) > health_state_rank(worst))
			worst = t->state;
	return worst;
}

/* P/health/_all: the worst state, counts, and every target's state. */
static void
publish_overall(struct health *h, bool force)
{
	json_t *o, *states = json_object(), *counts = json_object();
	size_t n[4] = { 0 };
	struct hb_buf reason = { 0 };
	struct target *t;
	enum hb_health_state st = compute_overall(h);
	char topic[HB_TOPIC_MAX], *sig;
	int bad = 0;

	if (st != h->overall) {
		h->overall = st;
		h->overall_since_ms = hb_wall_ms();
	}
	TAILQ_FOREACH(t, &h->targets, entry) {
		n[t->state]++;
		json_object_set_new(states, t->name,
		    json_string(hb_health_state_name(t->state)));
		if (t->state == HB_HEALTH_DOWN || t->state == HB_HEALTH_DEGRADED) {
			if (bad++ < 10)
				hb_buf_printf(&reason, "%s%s %s", bad > 1 ? ", " : "",
				    t->name, hb_health_state_name(t->state));
		}
	}
	if (bad > 10)
		hb_buf_printf(&reason, " and %d more", bad - 10);
	if (bad == 0)
		hb_buf_printf(&reason, "%zu of %zu ok", n[HB_HEALTH_OK],
		    n[0] + n[1] + n[2] + n[3]);
	sig = json_dumps(states, JSON_COMPACT | JSON_SORT_KEYS);
	if (!force && h->overall_published && sig &&
	    strcmp(sig, h->overall_published) == 0) {
		free(sig);
		json_decref(states);
		json_decref(counts);
		hb_buf_free(&reason);
		return;
	}
	if (can_publish(h)) {
		free(h->overall_published);
		h->overall_published = sig;
		sig = NULL;
	}
	free(sig);
	for (int i = 0; i < 4; i++)
		json_object_set_new(counts, hb_health_state_name((enum hb_health_state)i),
		    json_integer((json_int_t)n[i]));
	o = json_pack("{s:s,s:s,s:o,s:s,s:s,s:o,s:o}", "target", "_all", "state",
	    hb_health_state_name(st), "since", hb_msg_time(h->overall_since_ms),
	    "reason", reason.data ? reason.data : "", "watcher",
	    h->bus_cfg->instance, "counts", counts, "targets", states);
	if (can_publish(h) && hb_topic_health(topic, sizeof(topic),
	    h->bus_cfg->prefix, "_all") == 0)
		publish_json(h, topic, o);
	json_decref(o);
	hb_buf_free(&reason);
}

/* Everything, after settling and after every reconnect. */
static void
publish_everything(struct health *h)
{
	struct target *t;

	TAILQ_FOREACH(t, &h->targets, entry)
		publish_state(h, t, true);
	publish_overall(h, true);
	publish_ha_all(h);
	flush_notifications(h);
}

/* ---------------- notifications ---------------- */

/* The severity of telling `to` after `from` was told, or -1 for none. */
static int
severity_for(struct health *h, enum hb_health_state from, enum hb_health_state to)
{
	int sev = SEV_OFF;

	if (to == HB_HEALTH_DOWN)
		sev = h->sev_down;
	else if (to == HB_HEALTH_DEGRADED)
		sev = h->sev_degraded;
	else if (to == HB_HEALTH_OK && (from == HB_HEALTH_DOWN ||
	    from == HB_HEALTH_DEGRADED))
		sev = h->sev_recovered;
	return sev == SEV_OFF ? -1 : sev;
}

static void
send_notification(struct health *h, int sev, const char *title, const char *text,
    const char *key)
{
	struct hb_notify n;
	char topic[HB_TOPIC_MAX], source[128];
	json_t *o;

	memset(&n, 0, sizeof(n));
	snprintf(source, sizeof(source), "health/%s", h->bus_cfg->instance);
	n.severity = (enum hb_severity)sev;
	n.text = (char *)(uintptr_t)text;
	n.title = (char *)(uintptr_t)title;
	n.key = (char *)(uintptr_t)key;
	n.source = source;
	o = hb_notify_encode(&n);
	hb_topic_notify(topic, sizeof(topic), h->bus_cfg->prefix,
	    hb_severity_name((enum hb_severity)sev));
	hb_bus_publish_json(h->bus, topic, o, 1, false);
	json_decref(o);
	hb_counter_add(h->m_notify[sev], 1);
	h->sent_in_window++;
	hb_info("notify severity=%s key=%s text=\"%s\"",
	    hb_severity_name((enum hb_severity)sev), key, text);
}

static void
notify_target(struct health *h, struct target *t, int sev)
{
	struct hb_buf text = { 0 }, title = { 0 };
	char key[TARGET_NAME_MAX + 32], dur[40];
	const char *st = hb_health_state_name(t->state);

	if (t->state == HB_HEALTH_OK) {
		page_duration(hb_wall_ms() - t->notified_since_ms, dur, sizeof(dur));
		hb_buf_printf(&title, "%s is ok again", t->name);
		hb_buf_printf(&text, "%s is ok again (%s for %s): %s", t->name,
		    hb_health_state_name(t->notified), dur, t->reason);
	} else {
		hb_buf_printf(&title, "%s is %s", t->name, st);
		hb_buf_printf(&text, "%s is %s: %s", t->name, st, t->reason);
	}
	/* one key per transition: the notifier folds repeats of a key, and a
	 * second outage is not a repeat of the first; the same transition
	 * told again (a restart, a resend) has the same since */
	snprintf(key, sizeof(key), "health/%s/%s/%lld", t->name, st,
	    (long long)t->since_ms);
	send_notification(h, sev, title.data, text.data, key);
	hb_buf_free(&text);
	hb_buf_free(&title);
}

/* Once per other watcher seen: a person has to stop one of the two. */
static void
tell_other_watcher(struct health *h)
{
	char text[400], key[128];

	snprintf(text, sizeof(text), "Two health watchers on one broker: %s and %s "
	    "both publish %s/health/<target> and overwrite each other. Run one "
	    "watcher per bus prefix.", h->bus_cfg->instance, h->other_watcher,
	    h->bus_cfg->prefix);
	snprintf(key, sizeof(key), "health/_watchers/%s", h->other_watcher);
	send_notification(h, HB_SEV_WARNING, "two health watchers", text, key);
	h->other_told = true;
}

static void
on_notify_window(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	flush_notifications(arg);
}

/*
 * Tells every target whose state differs from what was last told. At most
 * notify.max_per_minute messages a minute: past it, what is waiting goes
 * out as one summary.
 */
static void
flush_notifications(struct health *h)
{
	struct target *t;
	struct hb_buf text = { 0 };
	int64_t now = hb_mono_ms();
	int waiting = 0, worst = -1, listed = 0, room;

	if (!can_publish(h))
		return;
	if (now - h->window_ms >= 60000) {
		h->window_ms = now;
		h->window_wall_ms = hb_wall_ms();
		h->sent_in_window = 0;
	}
	if (h->other_watcher[0] && !h->other_told && h->notify_enabled)
		tell_other_watcher(h);
	TAILQ_FOREACH(t, &h->targets, entry) {
		int sev;

		if (t->state == t->notified || t->state == HB_HEALTH_UNKNOWN)
			continue;
		sev = severity_for(h, t->notified, t->state);
		if (sev < 0 || !t->notify || !h->notify_enabled) {
			t->notified = t->state;	/* nothing to tell */
			t->notified_since_ms = t->since_ms;
			continue;
		}
		waiting++;
		if (sev > worst)
			worst = sev;
	}
	if (waiting == 0)
		return;
	room = h->notify_per_minute - h->sent_in_window;
	if (room <= 0) {
		struct timeval tv = { (time_t)((h->window_ms + 60000 - now) / 1000 + 1), 0 };

		if (!evtimer_pending(h->ev_notify, NULL))
			evtimer_add(h->ev_notify, &tv);
		return;
	}
	TAILQ_FOREACH(t, &h->targets, entry) {
		int sev;

		if (t->state == t->notified || t->state == HB_HEALTH_UNKNOWN)
			continue;
		sev = severity_for(h, t->notified, t->state);
		if (waiting <= room)
			notify_target(h, t, sev);
		else if (listed++ < 20)
			hb_buf_printf(&text, "%s%s %s", listed > 1 ? ", " : "", t->name,
			    t->state == HB_HEALTH_OK ? "ok again" :
			    hb_health_state_name(t->state));
		t->notified = t->state;
		t->notified_since_ms = t->since_ms;
	}
	if (waiting > room) {
		struct hb_buf full = { 0 };
		char key[64];

		hb_buf_printf(&full, "%d health changes at once: %s%s", waiting,
		    text.data, listed > 20 ? ", ..." : "");
		hb_counter_add(h->m_suppressed, (uint64_t)waiting);
		/* one summary a window (what changes after it waits for the
		 * next), so the window's start makes its key unique */
		snprintf(key, sizeof(key), "health/_summary/%lld",
		    (long long)h->window_wall_ms);
		send_notification(h, worst, "many health changes", full.data, key);
		h->sent_in_window = h->notify_per_minute;
		hb_buf_free(&full);
	}
	hb_buf_free(&text);
}

/* ---------------- results ---------------- */

static void
transitioned(struct health *h, struct target *t)
{
	hb_counter_add(h->m_transitions, 1);
	if (t->m_state)
		hb_gauge_set(t->m_state, (double)t->state);
	hb_info("target=%s state=%s reason=\"%s\"", t->name,
	    hb_health_state_name(t->state), t->reason);
	publish_overall(h, false);
	flush_notifications(h);
}

static void
handle_result(struct health *h, struct target *t, const struct check_result *r)
{
	bool changed;

	t->in_flight = false;
	hb_counter_add(h->m_checks[t->type], 1);
	if (r->level != LEVEL_OK)
		hb_counter_add(h->m_failures[t->type], 1);
	/* A service's heartbeat timeout is its hysteresis already: a failed
	 * service check is down at once; coming back takes recover_after. */
	if (t->type == TT_SERVICE && r->level == LEVEL_FAIL &&
	    t->state != HB_HEALTH_DOWN) {
		changed = target_force(t, HB_HEALTH_DOWN, r->reason, hb_wall_ms());
		t->latency_ms = r->latency_ms;
		t->checks++;
	} else {
		changed = target_record(t, r, hb_wall_ms());
	}
	publish_state(h, t, false);
	if (changed)
		transitioned(h, t);
}

static void
on_check_done(struct target *t, const struct check_result *r, void *arg)
{
	handle_result(arg, t, r);
}

/* ---------------- services on the bus ---------------- */

static void
service_check(struct health *h, struct target *t)
{
	struct check_result r;
	int64_t now = hb_mono_ms(), base, age;
	char topic[HB_TOPIC_MAX];

	/* Without the broker we cannot see them: not their fault. */
	if (!h->connected || !h->settled)
		return;
	memset(&r, 0, sizeof(r));
	r.latency_ms = -1;
	r.level = LEVEL_FAIL;
	switch (t->status) {
	case SVC_UNSEEN:
		base = h->connected_ms > h->started_ms ? h->connected_ms : h->started_ms;
		if (!t->expected || now - base < h->heartbeat_timeout_ms)
			return;
		hb_topic_svc(topic, sizeof(topic), h->bus_cfg->prefix, t->service,
		    t->instance, "status");
		snprintf(r.reason, sizeof(r.reason), "never seen: nothing on %s "
		    "(not started, or not connected to this broker)", topic);
		break;
	case SVC_OFFLINE:
		/* Just (re)connected: an "offline" may be the will the broker
		 * sent for it when the broker itself went down; give it the
		 * heartbeat timeout to come back, as after our own start. */
		if (now - h->connected_ms < h->heartbeat_timeout_ms &&
		    t->status_ms <= h->connected_ms + OFFLINE_CONFIRM_MS)
			return;
		snprintf(r.reason, sizeof(r.reason), "offline: it stopped, or its "
		    "connection died (last will)");
		break;
	case SVC_ONLINE:
		base = t->heartbeat_ms;
		if (t->status_ms > base)
			base = t->status_ms;
		if (h->connected_ms > base)
			base = h->connected_ms;	/* we were away: a fresh start */
		age = now - base;
		if (age > h->heartbeat_timeout_ms) {
			/* a reason that stays the same while it lasts: the state
			 * is republished on a new reason, and since says how long */
			snprintf(r.reason, sizeof(r.reason), "no heartbeat for more "
			    "than %lld s (heartbeat_timeout_s): hung, or cut off from "
			    "the broker", (long long)(h->heartbeat_timeout_ms / 1000));
			break;
		}
		r.level = LEVEL_OK;
		snprintf(r.reason, sizeof(r.reason), "online");
		break;
	}
	handle_result(h, t, &r);
}

static struct target *
find_service(struct health *h, const char *service, const char *instance)
{
	struct target *t;

	TAILQ_FOREACH(t, &h->targets, entry)
		if (t->type == TT_SERVICE && strcmp(t->service, service) == 0 &&
		    strcmp(t->instance, instance) == 0)
			return t;
	return NULL;
}

static void
target_metrics(struct health *h, struct target *t)
{
	snprintf(t->m_labels, sizeof(t->m_labels), "target=\"%s\"", t->name);
	for (char *c = t->m_labels + 8; c[1]; c++)
		if (*c == '"' || *c == '\\' || *c == '\n')
			*c = '_';
	t->m_state = hb_metrics_gauge(h->app->metrics, "target_state",
	    "State of each target: 0 unknown, 1 ok, 2 degraded, 3 down.",
	    t->m_labels);
	hb_gauge_set(t->m_state, (double)t->state);
}

/* Starts checking t: its first check comes after `first_ms`. */
static void
schedule(struct health *h, struct target *t, int64_t first_ms)
{
	struct timeval tv = { (time_t)(first_ms / 1000),
	    (suseconds_t)((first_ms % 1000) * 1000) };

	t->owner = h;
	t->ev_check = evtimer_new(h->app->base, on_check_timer, t);
	evtimer_add(t->ev_check, &tv);
}

static void
remove_target(struct health *h, struct target *t)
{
	hb_info("target=%s removed (its retained status was cleared)", t->name);
	check_release(t);
	TAILQ_REMOVE(&h->targets, t, entry);
	h->ntargets--;
	if (h->connected) {
		char node[HB_TOPIC_MAX];

		ha_node(h, t->ha_id, node, sizeof(node));
		clear_retained(h, t->name, h->ha_enabled ? node : NULL);
	}
	hb_metrics_remove(h->app->metrics, "target_state", t->m_labels);
	target_free(t);
	publish_overall(h, false);
}

static void
on_status(struct health *h, const char *service, const char *instance,
    const struct hb_bus_msg *msg)
{
	int st = svc_status_parse(msg->payload, msg->len);
	struct target *t = find_service(h, service, instance);
	char name[TARGET_NAME_MAX];

	if (st < 0) {
		hb_log_limited(&h->bad_log, HB_LOG_WARN, "status of service=%s "
		    "instance=%s is neither online nor offline; ignored", service,
		    instance);
		return;
	}
	if (st == SVC_UNSEEN) {
		if (t && !t->expected)
			remove_target(h, t);
		else if (t)
			t->status = SVC_UNSEEN;
		return;
	}
	if (t == NULL) {
		if (!h->discover)
			return;
		/* a name that could not be a target ("_all" would overwrite
		 * P/health/_all) is not one */
		if (!target_name_ok(service) || !target_name_ok(instance)) {
			hb_log_limited(&h->bad_log, HB_LOG_WARN, "service=%s "
			    "instance=%s on the bus cannot be a target (names are 1 "
			    "to 64 letters, digits, '_', '.' or '-', not starting "
			    "with '_', '.' or '-'); not watched", service, instance);
			return;
		}
		service_target_name(h, service, instance, name, sizeof(name));
		if (targets_find(&h->targets, name) != NULL)
			return;	/* a name the configuration took; cannot happen */
		t = target_new_service(name, service, instance, &h->defaults);
		t->interval_ms = h->defaults.interval_ms;
		TAILQ_INSERT_TAIL(&h->targets, t, entry);
		h->ntargets++;
		target_metrics(h, t);
		schedule(h, t, 0);
		hb_info("target=%s found on the bus (service=%s instance=%s)", t->name,
		    service, instance);
		publish_ha_config(h, t->name, t->ha_id);
		publish_overall(h, false);
	}
	if (t->status != (enum svc_status)st) {
		t->status = (enum svc_status)st;
		t->status_ms = hb_mono_ms();
		t->status_wall_ms = hb_wall_ms();
		t->published_hash = 0;	/* a restart shows on the bus (started) */
	}
	/* The last will (or a clean stop): down at once, once we know it is
	 * not the broker going away under all of us. */
	if (st == SVC_OFFLINE && h->settled && t->ev_check) {
		struct timeval tv = { OFFLINE_CONFIRM_MS / 1000,
		    (OFFLINE_CONFIRM_MS % 1000) * 1000 };

		evtimer_add(t->ev_check, &tv);
	}
}

static void
on_heartbeat(struct health *h, const char *service, const char *instance,
    const struct hb_bus_msg *msg)
{
	struct target *t = find_service(h, service, instance);
	struct hb_heartbeat beat;
	char err[128];

	if (t == NULL)
		return;
	if (hb_heartbeat_decode(msg->payload, msg->len, &beat, err,
	    sizeof(err)) != 0)
		hb_log_limited(&h->bad_log, HB_LOG_WARN, "bad heartbeat from "
		    "service=%s instance=%s: %s", service, instance, err);
	/* a heartbeat it could not read still says it is alive */
	target_heartbeat(t, &beat, hb_mono_ms());
}

/*
 * P/svc/health/<instance>/status of another watcher. Two watchers on one
 * prefix publish the same P/health/<target> topics (the broker's, at
 * least) and overwrite each other: one per prefix is what is supported,
 * and a second one is told loudly rather than refused (a watcher that
 * stops itself on a stale retained status would be worse).
 */
static void
other_watcher(struct health *h, const char *instance, const struct hb_bus_msg *msg)
{
	int st = svc_status_parse(msg->payload, msg->len);

	if (st == SVC_ONLINE && h->other_watcher[0] == '\0') {
		snprintf(h->other_watcher, sizeof(h->other_watcher), "%s", instance);
		h->other_told = false;
		hb_warn("another health watcher instance=%s is online under "
		    "prefix=%s: both publish %s/health/<target> and overwrite each "
		    "other; run one watcher per bus prefix", instance,
		    h->bus_cfg->prefix, h->bus_cfg->prefix);
		flush_notifications(h);
	} else if (st != SVC_ONLINE && strcmp(h->other_watcher, instance) == 0) {
		hb_info("the other health watcher instance=%s is gone", instance);
		h->other_watcher[0] = '\0';
	}
}

/* ---------------- the mqtt round trip ---------------- */

static void
on_probe_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct target *t = arg;
	struct health *h = t->owner;
	struct check_result r;

	(void)fd;
	(void)what;
	if (!t->in_flight)
		return;
	memset(&r, 0, sizeof(r));
	r.level = LEVEL_FAIL;
	r.latency_ms = -1;
	snprintf(r.reason, sizeof(r.reason), "no echo from the broker within %lld ms",
	    (long long)t->timeout_ms);
	handle_result(h, t, &r);
}

static void
mqtt_check(struct health *h, struct target *t)
{
	struct check_result r;
	char payload[TARGET_NAME_MAX + 48];
	struct timeval tv = { (time_t)(t->timeout_ms / 1000),
	    (suseconds_t)((t->timeout_ms % 1000) * 1000) };

	if (!h->connected) {
		memset(&r, 0, sizeof(r));
		r.level = LEVEL_FAIL;
		r.latency_ms = -1;
		snprintf(r.reason, sizeof(r.reason), "not connected to the broker "
		    "%s:%d", h->bus_cfg->host, h->bus_cfg->port);
		handle_result(h, t, &r);
		return;
	}
	t->probe_seq++;
	t->started_us = hb_mono_us();
	if (probe_encode(payload, sizeof(payload), t->probe_seq, t->started_us,
	    t->name) < 0 || hb_bus_publish(h->bus, h->probe_topic, payload,
	    strlen(payload), 0, false) != 0) {
		memset(&r, 0, sizeof(r));
		r.level = LEVEL_FAIL;
		r.latency_ms = -1;
		snprintf(r.reason, sizeof(r.reason), "cannot publish the probe");
		handle_result(h, t, &r);
		return;
	}
	t->in_flight = true;
	if (t->ev_timeout == NULL)
		t->ev_timeout = evtimer_new(h->app->base, on_probe_timeout, t);
	evtimer_add(t->ev_timeout, &tv);
}

static void
on_probe(struct health *h, const struct hb_bus_msg *msg)
{
	char name[TARGET_NAME_MAX];
	uint64_t seq;
	int64_t sent;
	struct target *t;
	struct check_result r;

	if (probe_decode(msg->payload, msg->len, &seq, &sent, name,
	    sizeof(name)) != 0)
		return;
	t = targets_find(&h->targets, name);
	/* a late echo was already counted as a failure; one from a previous
	 * run (queued for our session) carries another send time */
	if (t == NULL || t->type != TT_MQTT || !t->in_flight ||
	    seq != t->probe_seq || sent != t->started_us)
		return;
	evtimer_del(t->ev_timeout);
	memset(&r, 0, sizeof(r));
	r.level = LEVEL_OK;
	r.latency_ms = (double)(hb_mono_us() - sent) / 1000.0;
	snprintf(r.reason, sizeof(r.reason), "round trip through the broker");
	if (t->degraded_ms > 0 && r.latency_ms > (double)t->degraded_ms) {
		r.level = LEVEL_DEGRADED;
		snprintf(r.reason, sizeof(r.reason), "round trip through the broker, "
		    "slower than %lld ms", (long long)t->degraded_ms);
	}
	handle_result(h, t, &r);
}

/* ---------------- scheduling ---------------- */

static void
on_check_timer(evutil_socket_t fd, short what, void *arg)
{
	struct target *t = arg;
	struct health *h = t->owner;
	struct timeval tv = { (time_t)(t->interval_ms / 1000),
	    (suseconds_t)((t->interval_ms % 1000) * 1000) };

	(void)fd;
	(void)what;
	evtimer_add(t->ev_check, &tv);
	if (t->in_flight) {
		/* a check slower than the interval: never two at once; one far
		 * past its timeout is given up (its failure is recorded) */
		if (!check_overdue(t, hb_mono_us()))
			hb_counter_add(h->m_skipped, 1);
		return;
	}
	switch (t->type) {
	case TT_HTTP:
	case TT_EXEC:
	case TT_DISK:
		t->in_flight = true;
		check_start(&h->env, t, on_check_done, h);
		break;
	case TT_MQTT:
		mqtt_check(h, t);
		break;
	case TT_SERVICE:
		service_check(h, t);
		break;
	}
}

/* ---------------- the bus ---------------- */

/* While settling: a retained state or discovery config of a previous run. */
static void
note_leftover(struct health *h, const struct hb_bus_msg *msg, bool is_ha,
    const char *name)
{
	struct hb_health_msg m;
	struct leftover *l;
	json_t *root;
	char err[128];
	bool ours;

	if (msg->len == 0)
		return;
	if (is_ha) {
		if (!ha_config_is_ours(msg->payload, msg->len, h->device_id))
			return;
	} else {
		if (hb_health_decode(msg->payload, msg->len, &m, err, sizeof(err)) != 0)
			return;
		/* only what this watcher published */
		root = json_loadb(msg->payload, msg->len, 0, NULL);
		ours = json_is_string(json_object_get(root, "watcher")) &&
		    strcmp(json_string_value(json_object_get(root, "watcher")),
		    h->bus_cfg->instance) == 0;
		json_decref(root);
		if (!ours || strcmp(m.target, name) != 0)
			return;
	}
	l = hb_xcalloc(1, sizeof(*l));
	l->is_ha = is_ha;
	snprintf(l->name, sizeof(l->name), "%s", name);
	if (!is_ha) {
		l->state = m.state;
		l->since_ms = m.since_ms > 0 ? m.since_ms : hb_wall_ms();
		snprintf(l->reason, sizeof(l->reason), "%s", m.reason);
	}
	TAILQ_INSERT_TAIL(&h->leftovers, l, entry);
}

/* True when node is the node id of one of our targets or of _all. */
static bool
ha_node_in_use(struct health *h, const char *node)
{
	char mine[HB_TOPIC_MAX];
	struct target *t;

	ha_node(h, "_all", mine, sizeof(mine));
	if (strcmp(node, mine) == 0)
		return true;
	TAILQ_FOREACH(t, &h->targets, entry) {
		ha_node(h, t->ha_id, mine, sizeof(mine));
		if (strcmp(node, mine) == 0)
			return true;
	}
	return false;
}

/* One retained message of ours from before: take it over, or clear it. */
static void
take_leftover(struct health *h, struct leftover *l)
{
	struct target *t;

	if (l->is_ha) {
		if (!ha_node_in_use(h, l->name)) {
			hb_info("removing the Home Assistant entity node=%s (no longer "
			    "a target)", l->name);
			clear_retained(h, NULL, l->name);
		}
	} else if ((t = targets_find(&h->targets, l->name)) != NULL) {
		/* what was told before the restart stays told */
		t->notified = l->state;
		t->notified_since_ms = l->since_ms;
		if (t->state == HB_HEALTH_UNKNOWN) {
			t->state = l->state;
			t->since_ms = l->since_ms;
			snprintf(t->reason, sizeof(t->reason), "%s", l->reason);
			if (t->m_state)
				hb_gauge_set(t->m_state, (double)t->state);
		} else if (t->state == l->state) {
			t->since_ms = l->since_ms;
		}
	} else if (strcmp(l->name, "_all") != 0) {
		hb_info("clearing the state of target=%s (no longer a target)",
		    l->name);
		clear_retained(h, l->name, NULL);
	}
}

/*
 * The end of settling: take over the states of the previous run, clear
 * what belongs to targets that are gone, then publish everything.
 */
static void
on_settled(evutil_socket_t fd, short what, void *arg)
{
	struct health *h = arg;
	struct leftover *l;
	struct target *t;

	(void)fd;
	(void)what;
	h->settled = true;
	/* discovery configs first: a config must never point at a state that
	 * was emptied before it (and old node ids, of a release before the
	 * instance was in them, go this way too) */
	for (int pass = 0; pass < 2; pass++) {
		struct leftover *next;

		for (l = TAILQ_FIRST(&h->leftovers); l != NULL; l = next) {
			next = TAILQ_NEXT(l, entry);
			if (l->is_ha != (pass == 0))
				continue;
			TAILQ_REMOVE(&h->leftovers, l, entry);
			take_leftover(h, l);
			free(l);
		}
	}
	hb_info("settled targets=%zu; publishing", h->ntargets);
	/* services that were found offline are down now */
	TAILQ_FOREACH(t, &h->targets, entry)
		if (t->type == TT_SERVICE && t->status == SVC_OFFLINE)
			service_check(h, t);
	publish_everything(h);
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
		struct timeval tv = { (time_t)(t->interval_ms / 1000),
		    (suseconds_t)((t->interval_ms % 1000) * 1000) };

		if (t->type != TT_MQTT || t->ev_check == NULL)
			continue;
		if (t->in_flight) {
			/* a probe sent before the connection dropped: lost */
			evtimer_del(t->ev_timeout);
			t->in_flight = false;
		}
		evtimer_add(t->ev_check, &tv);
		mqtt_check(h, t);
	}
}

static void
on_connection(void *arg, bool connected)
{
	struct health *h = arg;

	h->connected = connected;
	if (!connected)
		return;
	h->connected_ms = hb_mono_ms();
	if (!h->settled) {
		struct timeval tv = { SETTLE_MS / 1000, (SETTLE_MS % 1000) * 1000 };

		if (!evtimer_pending(h->ev_settle, NULL))
			evtimer_add(h->ev_settle, &tv);
	} else {
		publish_everything(h);
	}
	check_mqtt_now(h);
}

/* ---------------- what arrives, by subscription ---------------- */

static void
on_probe_echo(void *arg, const struct hb_bus_msg *msg)
{
	struct health *h = arg;

	if (!h->stopping)
		on_probe(h, msg);
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
		publish_ha_all(h);
	}
}

/* P/svc/<service>/<instance>/<status|heartbeat>, levels 0 and 1 captured */
static bool
svc_names(struct health *h, const struct hb_bus_msg *msg, char *service,
    char *instance)
{
	if (h->stopping || hb_bus_msg_level(msg, 0, service, 64) != 0 ||
	    hb_bus_msg_level(msg, 1, instance, 64) != 0)
		return false;
	/* ourselves */
	return !(strcmp(service, "health") == 0 &&
	    strcmp(instance, h->bus_cfg->instance) == 0);
}

static void
on_svc_status(void *arg, const struct hb_bus_msg *msg)
{
	struct health *h = arg;
	char a[64], b[64];

	if (!svc_names(h, msg, a, b))
		return;
	if (strcmp(a, "health") == 0)
		other_watcher(h, b, msg);
	on_status(h, a, b, msg);
}

static void
on_svc_heartbeat(void *arg, const struct hb_bus_msg *msg)
{
	struct health *h = arg;
	char a[64], b[64];

	if (svc_names(h, msg, a, b))
		on_heartbeat(h, a, b, msg);
}

/* Retained states found at start: ours from before, to take over. */
static void
on_old_state(void *arg, const struct hb_bus_msg *msg)
{
	struct health *h = arg;
	char name[TARGET_NAME_MAX];

	/* our own echoes once settled */
	if (h->stopping || h->settled ||
	    hb_bus_msg_level(msg, 0, name, sizeof(name)) != 0)
		return;
	note_leftover(h, msg, false, name);
}

static void
on_old_ha_config(void *arg, const struct hb_bus_msg *msg)
{
	struct health *h = arg;
	char node[TARGET_NAME_MAX + 160];

	if (h->stopping || h->settled)
		return;
	if (ha_topic_node(msg->topic, h->ha_prefix, node, sizeof(node)))
		note_leftover(h, msg, true, node);
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
	struct target *t;
	size_t n[4];

	counts(h, n);
	TAILQ_FOREACH(t, &h->targets, entry)
		json_object_set_new(states, t->name,
		    json_string(hb_health_state_name(t->state)));
	json_object_set_new(out, "overall",
	    json_string(hb_health_state_name(compute_overall(h))));
	json_object_set_new(out, "targets", states);
	if (h->other_watcher[0])
		json_object_set_new(out, "other_watcher",
		    json_string(h->other_watcher));
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
	pi.overall = compute_overall(h);
	pi.bus_connected = h->connected;
	pi.refresh_s = h->page_refresh_s;
	pi.now_ms = hb_wall_ms();
	pi.other_watcher = h->other_watcher[0] ? h->other_watcher : NULL;
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
	evtimer_del(h->ev_settle);
	evtimer_del(h->ev_notify);
	TAILQ_FOREACH(t, &h->targets, entry) {
		check_cancel(t);
		t->in_flight = false;
		if (t->ev_check)
			evtimer_del(t->ev_check);
		if (t->ev_timeout)
			evtimer_del(t->ev_timeout);
	}
}

static int
subscribe(struct health *h)
{
	const char *p = h->bus_cfg->prefix;
	char filter[HB_TOPIC_MAX];
	int rc = 0;

	rc |= hb_bus_subscribe(h->bus, h->probe_topic, 0, on_probe_echo, h);
	hb_topic_svc(filter, sizeof(filter), p, "+", "+", "status");
	rc |= hb_bus_subscribe(h->bus, filter, 1, on_svc_status, h);
	hb_topic_svc(filter, sizeof(filter), p, "+", "+", "heartbeat");
	rc |= hb_bus_subscribe(h->bus, filter, 0, on_svc_heartbeat, h);
	hb_topic_health(filter, sizeof(filter), p, "+");
	rc |= hb_bus_subscribe(h->bus, filter, 1, on_old_state, h);
	if (h->ha_enabled) {
		ha_config_topic(filter, sizeof(filter), h->ha_prefix, "+");
		rc |= hb_bus_subscribe(h->bus, filter, 1, on_old_ha_config, h);
		rc |= hb_bus_subscribe(h->bus, h->ha_status_topic, 1, on_ha_status,
		    h);
	}
	return rc;
}

static int
start(void *arg)
{
	struct health *h = arg;
	struct hb_app *app = h->app;
	struct hb_metrics *m = app->metrics;
	struct target *t;
	char labels[64];
	size_t i = 0, n = 0;
	int64_t spread;

	for (int k = 0; k < 5; k++) {
		snprintf(labels, sizeof(labels), "type=\"%s\"",
		    target_type_name((enum target_type)k));
		h->m_checks[k] = hb_metrics_counter(m, "checks_total",
		    "Checks made, by target type.", labels);
		h->m_failures[k] = hb_metrics_counter(m, "check_failures_total",
		    "Checks that did not find the target ok, by target type.", labels);
	}
	for (int k = 0; k < 4; k++) {
		snprintf(labels, sizeof(labels), "severity=\"%s\"",
		    hb_severity_name((enum hb_severity)k));
		h->m_notify[k] = hb_metrics_counter(m, "notifications_total",
		    "Notifications published on P/notify/<severity>.", labels);
		snprintf(labels, sizeof(labels), "state=\"%s\"",
		    hb_health_state_name((enum hb_health_state)k));
		h->m_targets[k] = hb_metrics_gauge(m, "targets",
		    "Targets in each state.", labels);
	}
	h->m_skipped = hb_metrics_counter(m, "checks_skipped_total",
	    "Checks not started because the previous one was still running.", NULL);
	h->m_transitions = hb_metrics_counter(m, "transitions_total",
	    "State changes of targets.", NULL);
	h->m_suppressed = hb_metrics_counter(m, "notifications_folded_total",
	    "Changes told in one summary because of notify.max_per_minute.", NULL);
	hb_ratelimit_init(&h->bad_log, 6, 3);

	h->started_ms = hb_mono_ms();
	h->overall = HB_HEALTH_UNKNOWN;
	h->overall_since_ms = hb_wall_ms();
	h->window_ms = hb_mono_ms();
	h->window_wall_ms = hb_wall_ms();
	h->http = hb_http_client_new(app->base);
	h->env.base = app->base;
	h->env.http = h->http;
	h->ev_settle = evtimer_new(app->base, on_settled, h);
	h->ev_notify = evtimer_new(app->base, on_notify_window, h);
	hb_topic_svc(h->own_status_topic, sizeof(h->own_status_topic),
	    h->bus_cfg->prefix, "health", h->bus_cfg->instance, "status");
	hb_topic_svc(h->probe_topic, sizeof(h->probe_topic), h->bus_cfg->prefix,
	    "health", h->bus_cfg->instance, "probe");
	ha_device_id(h->bus_cfg->instance, h->device_id, sizeof(h->device_id));
	h->ha.prefix = h->ha_prefix;
	h->ha.device_id = h->device_id;
	h->ha.device_name = h->ha_device_name;
	h->ha.availability_topic = h->own_status_topic;

	h->bus = h->svc->bus;
	if (subscribe(h) != 0)
		return -1;

	/* first checks spread over up to 2 s, so that 200 targets do not all
	 * start in the same instant every interval */
	TAILQ_FOREACH(t, &h->targets, entry)
		n++;
	TAILQ_FOREACH(t, &h->targets, entry) {
		spread = t->interval_ms < 2000 ? t->interval_ms : 2000;
		target_metrics(h, t);
		schedule(h, t, n ? (int64_t)i * spread / (int64_t)n : 0);
		i++;
	}
	h->ntargets = n;
	if (app->http)
		hb_http_server_route(app->http, "/", on_page, h);
	hb_info("health ready targets=%zu expected_services=%zu discover=%d "
	    "interval_s=%g heartbeat_timeout_s=%lld", n, h->nexpected, h->discover,
	    (double)h->defaults.interval_ms / 1000.0,
	    (long long)(h->heartbeat_timeout_ms / 1000));
	return 0;
}

static void
destroy(void *arg)
{
	struct health *h = arg;
	struct target *t;
	struct leftover *l;

	TAILQ_FOREACH(t, &h->targets, entry)
		check_release(t);
	targets_free(&h->targets);
	hb_http_client_free(h->http);
	while ((l = TAILQ_FIRST(&h->leftovers)) != NULL) {
		TAILQ_REMOVE(&h->leftovers, l, entry);
		free(l);
	}
	if (h->ev_settle)
		event_free(h->ev_settle);
	if (h->ev_notify)
		event_free(h->ev_notify);
	free(h->overall_published);
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
