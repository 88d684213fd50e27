/*
 * services: status, heartbeats, expected and discovered services.
 */
#include "services.h"
#include "figures.h"
#include "hb_log.h"
#include "hb_msg.h"
#include "hb_topic.h"

#include <stdio.h>
#include <string.h>

static void
read_expected(struct services *s, struct hb_config *cfg)
{
	size_t n = hb_cfg_array_len(cfg, "health.expected_services");
	char key[80];

	for (size_t i = 0; i < n; i++) {
		const char *v, *slash;
		struct expected_svc *e;
		size_t sl;

		snprintf(key, sizeof(key), "health.expected_services[%zu]", i);
		v = hb_cfg_str(cfg, key, NULL);
		if (v == NULL)
			continue;
		slash = strchr(v, '/');
		sl = slash ? (size_t)(slash - v) : strlen(v);
		if (s->nexpected == SERVICES_MAX_EXPECTED) {
			hb_cfg_error(cfg, key, "at most %d expected services",
			    SERVICES_MAX_EXPECTED);
			break;
		}
		e = &s->expected[s->nexpected];
		if (sl == 0 || sl >= sizeof(e->service) ||
		    (slash && (strlen(slash + 1) >= sizeof(e->instance) ||
		    !hb_topic_level_ok(slash + 1)))) {
			hb_cfg_error(cfg, key, "\"%s\": expected a service name (\"writer\") "
			    "or service/instance (\"writer/nuc2\")", v);
			continue;
		}
		memcpy(e->service, v, sl);
		e->service[sl] = '\0';
		if (!hb_topic_level_ok(e->service)) {
			hb_cfg_error(cfg, key, "\"%s\" cannot be a topic level", e->service);
			continue;
		}
		snprintf(e->instance, sizeof(e->instance), "%s", slash ? slash + 1 :
		    s->instance);
		if (!target_name_ok(e->service) || !target_name_ok(e->instance)) {
			hb_cfg_error(cfg, key, "\"%s\": a service and instance are 1 to "
			    "64 letters, digits, '_', '.' or '-', not starting with '_', "
			    "'.' or '-'", v);
			continue;
		}
		s->nexpected++;
	}
}

/*
 * The target name of a service: the service alone when it runs on the
 * watcher's own instance (the usual one-host stack: "writer"), else
 * service@instance; a service called "check" is "check@<instance>", for
 * P/health/check is where requests come.
 */
static void
target_name(struct services *s, const char *service, const char *instance,
    char *out, size_t outlen)
{
	struct target *t;

	if (strcmp(instance, s->instance) == 0 && !target_name_reserved(service)) {
		snprintf(out, outlen, "%s", service);
		t = targets_find(s->targets, out);
		if (t == NULL || (t->type == TT_SERVICE &&
		    strcmp(t->service, service) == 0 &&
		    strcmp(t->instance, instance) == 0))
			return;
	}
	snprintf(out, outlen, "%s@%s", service, instance);
}

/* A target for each expected service, after the configured ones. */
static void
add_expected(struct services *s, struct hb_config *cfg)
{
	for (size_t i = 0; i < s->nexpected; i++) {
		struct expected_svc *e = &s->expected[i];
		char name[TARGET_NAME_MAX], key[80];
		struct target *t;

		snprintf(key, sizeof(key), "health.expected_services[%zu]", i);
		if (services_is_self(s, e->service, e->instance)) {
			hb_cfg_error(cfg, key, "the watcher cannot watch itself");
			continue;
		}
		target_name(s, e->service, e->instance, name, sizeof(name));
		t = targets_find(s->targets, name);
		if (t && t->type == TT_SERVICE)
			continue;	/* listed twice */
		if (t) {
			hb_cfg_error(cfg, key, "\"%s\" is also the name of a target in "
			    "health.targets", name);
			continue;
		}
		t = target_new_service(name, e->service, e->instance, s->defaults);
		t->expected = true;
		TAILQ_INSERT_TAIL(s->targets, t, entry);
	}
}

void
services_read(struct services *s, struct hb_config *cfg, const char *prefix,
    const char *instance, int heartbeat_s, const struct target_defaults *defaults,
    struct target_list *targets)
{
	s->prefix = prefix;
	s->instance = instance;
	s->defaults = defaults;
	s->targets = targets;
	hb_ratelimit_init(&s->bad_log, 6, 3);
	hb_ratelimit_init(&s->cap_log, 6, 3);
	s->heartbeat_timeout_ms = hb_cfg_int(cfg, "health.heartbeat_timeout_s", 90,
	    1, 86400) * 1000;
	if (s->heartbeat_timeout_ms <= (int64_t)heartbeat_s * 1000)
		hb_cfg_error(cfg, "health.heartbeat_timeout_s", "%lld s must be longer "
		    "than bus.heartbeat_s (%d s), or every service looks dead between "
		    "two heartbeats", (long long)(s->heartbeat_timeout_ms / 1000),
		    heartbeat_s);
	s->discover = hb_cfg_bool(cfg, "health.discover_services", true);
	s->max_discovered = (int)hb_cfg_int(cfg, "health.max_discovered", 200, 0,
	    10000);
	read_expected(s, cfg);
	add_expected(s, cfg);
}

bool
services_is_self(const struct services *s, const char *service,
    const char *instance)
{
	return strcmp(service, "health") == 0 && strcmp(instance, s->instance) == 0;
}

const char *
services_other_watcher(const struct services *s)
{
	return s->other_watcher[0] ? s->other_watcher : NULL;
}

static struct target *
find_service(struct services *s, const char *service, const char *instance)
{
	struct target *t;

	TAILQ_FOREACH(t, s->targets, entry)
		if (t->type == TT_SERVICE && strcmp(t->service, service) == 0 &&
		    strcmp(t->instance, instance) == 0)
			return t;
	return NULL;
}

/*
 * P/svc/health/<instance>/status of another watcher. Two watchers on one
 * prefix publish the same P/health/<target> topics (the broker's, at
 * least) and overwrite each other: one per prefix is what is supported,
 * and a second one is told loudly rather than refused (a watcher that
 * stops itself on a stale retained status would be worse).
 */
static int
other_watcher(struct services *s, const char *instance, int st)
{
	if (st == SVC_ONLINE && s->other_watcher[0] == '\0') {
		snprintf(s->other_watcher, sizeof(s->other_watcher), "%s", instance);
		hb_warn("another health watcher instance=%s is online under "
		    "prefix=%s: both publish %s/health/<target> and overwrite each "
		    "other; run one watcher per bus prefix", instance, s->prefix,
		    s->prefix);
		return SERVICES_WATCHER;
	}
	if (st != SVC_ONLINE && strcmp(s->other_watcher, instance) == 0) {
		hb_info("the other health watcher instance=%s is gone", instance);
		s->other_watcher[0] = '\0';
		return SERVICES_WATCHER;
	}
	return 0;
}

/*
 * A service seen on the bus for the first time: a target, or NULL. Past
 * max_discovered it is refused (*refused set): an account that may
 * announce services could otherwise make the watcher, its states and Home
 * Assistant's entities grow without end.
 */
static struct target *
discovered(struct services *s, const char *service, const char *instance,
    bool *refused)
{
	char name[TARGET_NAME_MAX];
	struct target *t;

	*refused = false;
	if (!s->discover)
		return NULL;
	/* a name that could not be a target ("_all" would overwrite
	 * P/health/_all) is not one */
	if (!target_name_ok(service) || !target_name_ok(instance)) {
		hb_log_limited(&s->bad_log, HB_LOG_WARN, "service=%s instance=%s on "
		    "the bus cannot be a target (names are 1 to 64 letters, digits, "
		    "'_', '.' or '-', not starting with '_', '.' or '-'); not "
		    "watched", service, instance);
		return NULL;
	}
	if (s->ndiscovered >= (size_t)s->max_discovered) {
		*refused = true;
		hb_log_limited(&s->cap_log, HB_LOG_WARN, "service=%s instance=%s on "
		    "the bus not watched: %zu services found on the bus already "
		    "(health.max_discovered); list the ones that matter in "
		    "health.expected_services", service, instance, s->ndiscovered);
		return NULL;
	}
	target_name(s, service, instance, name, sizeof(name));
	if (targets_find(s->targets, name) != NULL)
		return NULL;	/* a name the configuration took; cannot happen */
	t = target_new_service(name, service, instance, s->defaults);
	s->ndiscovered++;
	t->interval_ms = s->defaults->interval_ms;
	TAILQ_INSERT_TAIL(s->targets, t, entry);
	hb_info("target=%s found on the bus (service=%s instance=%s)", t->name,
	    service, instance);
	return t;
}

struct target *
services_status(struct services *s, const char *service, const char *instance,
    const char *payload, size_t len, int *what)
{
	int st = svc_status_parse(payload, len);
	struct target *t = find_service(s, service, instance);

	*what = 0;
	if (strcmp(service, "health") == 0)
		*what |= other_watcher(s, instance, st);
	if (st < 0) {
		hb_log_limited(&s->bad_log, HB_LOG_WARN, "status of service=%s "
		    "instance=%s is neither online nor offline; ignored", service,
		    instance);
		return NULL;
	}
	if (st == SVC_UNSEEN) {
		if (t && !t->expected) {
			hb_info("target=%s removed (its retained status was cleared)",
			    t->name);
			TAILQ_REMOVE(s->targets, t, entry);
			s->ndiscovered--;
			*what |= SERVICES_REMOVED;
		} else if (t) {
			t->status = SVC_UNSEEN;
		}
		return t;
	}
	if (t == NULL) {
		bool refused;

		if ((t = discovered(s, service, instance, &refused)) == NULL) {
			if (refused)
				*what |= SERVICES_REFUSED;
			return NULL;
		}
		*what |= SERVICES_ADDED;
	}
	if (t->status != (enum svc_status)st) {
		t->status = (enum svc_status)st;
		t->status_ms = hb_mono_ms();
		t->status_wall_ms = hb_wall_ms();
		t->published_hash = 0;	/* a restart shows on the bus (started) */
	}
	/* the last will (or a clean stop): down at once, once we know it is
	 * not the broker going away under all of us */
	if (st == SVC_OFFLINE && s->settled)
		*what |= SERVICES_OFFLINE;
	return t;
}

struct target *
services_heartbeat(struct services *s, const char *service, const char *instance,
    const char *payload, size_t len, bool *judge)
{
	struct target *t = find_service(s, service, instance);
	struct hb_heartbeat beat;
	char err[128];

	*judge = false;
	if (t == NULL)
		return NULL;
	if (hb_heartbeat_decode(payload, len, &beat, err, sizeof(err)) != 0)
		hb_log_limited(&s->bad_log, HB_LOG_WARN, "bad heartbeat from "
		    "service=%s instance=%s: %s", service, instance, err);
	/* a heartbeat it could not read still says it is alive */
	target_heartbeat(t, &beat, hb_mono_ms(), hb_wall_ms());
	figures_heartbeat(t, payload, len, hb_mono_ms());
	*judge = t->status == SVC_ONLINE && t->state != HB_HEALTH_OK;
	return t;
}

bool
services_judge(const struct services *s, const struct target *t, int64_t now,
    struct check_result *r)
{
	int64_t base, age;
	char topic[HB_TOPIC_MAX];

	/* Without the broker we cannot see them: not their fault. */
	if (!s->connected || !s->settled)
		return false;
	memset(r, 0, sizeof(*r));
	r->latency_ms = -1;
	r->level = LEVEL_FAIL;
	switch (t->status) {
	case SVC_UNSEEN:
		base = s->connected_ms > s->started_ms ? s->connected_ms : s->started_ms;
		if (!t->expected || now - base < s->heartbeat_timeout_ms)
			return false;
		hb_topic_svc(topic, sizeof(topic), s->prefix, t->service, t->instance,
		    "status");
		snprintf(r->reason, sizeof(r->reason), "never seen: nothing on %s "
		    "(not started, or not connected to this broker)", topic);
		break;
	case SVC_OFFLINE:
		/* Just (re)connected: an "offline" may be the will the broker
		 * sent for it when the broker itself went down; give it the
		 * heartbeat timeout to come back, as after our own start. */
		if (now - s->connected_ms < s->heartbeat_timeout_ms &&
		    t->status_ms <= s->connected_ms + SERVICES_OFFLINE_CONFIRM_MS)
			return false;
		snprintf(r->reason, sizeof(r->reason), "offline: it stopped, or its "
		    "connection died (last will)");
		break;
	case SVC_ONLINE:
		base = t->heartbeat_ms;
		if (t->status_ms > base)
			base = t->status_ms;
		if (s->connected_ms > base)
			base = s->connected_ms;	/* we were away: a fresh start */
		age = now - base;
		if (age > s->heartbeat_timeout_ms) {
			/* a reason that stays the same while it lasts: the state
			 * is republished on a new reason, and since says how long */
			snprintf(r->reason, sizeof(r->reason), "no heartbeat for more "
			    "than %lld s (heartbeat_timeout_s): hung, or cut off from "
			    "the broker", (long long)(s->heartbeat_timeout_ms / 1000));
			break;
		}
		r->level = LEVEL_OK;
		snprintf(r->reason, sizeof(r->reason), "online");
		break;
	}
	return true;
}
