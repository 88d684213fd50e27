/*
 * publish: retained states, the overall state and Home Assistant discovery.
 */
#include "publish.h"
#include "figures.h"
#include "hb_msg.h"
#include "hb_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void
publish_read(struct publisher *p, struct hb_config *cfg)
{
	const char *s;

	p->state_refresh_ms = hb_cfg_int(cfg, "health.state_refresh_s", 60, 1,
	    86400) * 1000;
	p->ha_enabled = hb_cfg_bool(cfg, "health.homeassistant.discovery", true);
	s = hb_cfg_str(cfg, "health.homeassistant.prefix", "homeassistant");
	if (*s == '\0' || strpbrk(s, "+#") || strlen(s) >= sizeof(p->ha_prefix))
		hb_cfg_error(cfg, "health.homeassistant.prefix", "\"%s\" must be a topic "
		    "without wildcards, at most %zu characters", s,
		    sizeof(p->ha_prefix) - 1);
	snprintf(p->ha_prefix, sizeof(p->ha_prefix), "%s", s);
	s = hb_cfg_str(cfg, "health.homeassistant.status_topic",
	    "homeassistant/status");
	if (*s == '\0' || strpbrk(s, "+#") || strlen(s) >= sizeof(p->ha_status_topic))
		hb_cfg_error(cfg, "health.homeassistant.status_topic", "\"%s\" must be "
		    "a topic without wildcards", s);
	snprintf(p->ha_status_topic, sizeof(p->ha_status_topic), "%s", s);
	s = hb_cfg_str(cfg, "health.homeassistant.device_name", "homebus health");
	snprintf(p->ha_device_name, sizeof(p->ha_device_name), "%s", s);
}

static void
on_overall(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	publish_overall(arg, false);
}

void
publish_start(struct publisher *p, struct event_base *base, struct hb_bus *bus,
    struct target_list *targets, const char *prefix, const char *instance)
{
	p->ev_overall = evtimer_new(base, on_overall, p);
	p->bus = bus;
	p->targets = targets;
	p->prefix = prefix;
	p->instance = instance;
	p->overall = HB_HEALTH_UNKNOWN;
	p->overall_since_ms = hb_wall_ms();
	hb_topic_svc(p->own_status_topic, sizeof(p->own_status_topic), prefix,
	    "health", instance, "status");
	ha_device_id(instance, p->device_id, sizeof(p->device_id));
	p->ha.prefix = p->ha_prefix;
	p->ha.device_id = p->device_id;
	p->ha.device_name = p->ha_device_name;
	p->ha.availability_topic = p->own_status_topic;
	p->ha.status_url = p->status_url;
	hb_restore_init(&p->ha_restore, PUBLISH_RESTORE_MAX, 60 * 1000);
}

void
publish_stop(struct publisher *p)
{
	p->open = false;
	if (p->ev_overall)
		evtimer_del(p->ev_overall);
}

void
publish_free(struct publisher *p)
{
	if (p->ev_overall)
		event_free(p->ev_overall);
	p->ev_overall = NULL;
	free(p->overall_published);
	p->overall_published = NULL;
	hb_restore_free(&p->ha_restore);
}

/* Retained JSON with latencies to the microsecond, not to 17 digits. */
static void
publish_json(struct publisher *p, const char *topic, const json_t *o)
{
	char *text = json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(6));

	if (text == NULL)
		return;
	hb_bus_publish(p->bus, topic, text, strlen(text), 1, true);
	free(text);
}

static json_t *
state_json(const struct publisher *p, const struct target *t)
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
	json_object_set_new(o, "watcher", json_string(p->instance));
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
	if (target_started(t) >= 0)
		json_object_set_new(o, "started", hb_msg_time(target_started(t)));
	figures_state(t, o);
	return o;
}

static uint64_t
state_hash(const struct target *t)
{
	/* FNV-1a of the state, whether the start is known, and the reason */
	uint64_t x = 1469598103934665603ULL ^ (uint64_t)t->state ^
	    (target_started(t) >= 0 ? 0x100u : 0);

	for (const char *c = t->reason; *c; c++)
		x = (x ^ (unsigned char)*c) * 1099511628211ULL;
	return x;
}

void
publish_state(struct publisher *p, struct target *t, bool force)
{
	char topic[HB_TOPIC_MAX];
	uint64_t hash = state_hash(t);
	int64_t now = hb_mono_ms();
	json_t *o;

	if (!p->open)
		return;
	if (!force && t->published_ms && hash == t->published_hash &&
	    now - t->published_ms < p->state_refresh_ms)
		return;
	t->published_hash = hash;
	t->published_ms = now;
	if (hb_topic_health(topic, sizeof(topic), p->prefix, t->name) != 0)
		return;
	o = state_json(p, t);
	publish_json(p, topic, o);
	json_decref(o);
}

/* The binary sensor of a target, or of _all. */
#define ENTITY_STATE (-1)
/* The sensor of the last deploy, beside _all's binary sensor. */
#define ENTITY_DEPLOY FIG_COUNT

void
publish_ha_node(const struct publisher *p, const char *ha_id, char *out,
    size_t outlen)
{
	char node[HB_TOPIC_MAX];

	ha_node_id(p->instance, ha_id, node, sizeof(node));
	ha_key(out, outlen, HA_BINARY_SENSOR, node);
}

/*
 * The key of an entity of t (of _all for t NULL): its binary sensor for
 * ENTITY_STATE, else a figure's sensor (ENTITY_DEPLOY for _all's). -1
 * when it does not fit.
 */
static int
entity_key(const struct publisher *p, const struct target *t, int entity,
    char *out, size_t outlen)
{
	char node[HB_TOPIC_MAX], id[HB_TOPIC_MAX];

	if (entity == ENTITY_STATE) {
		publish_ha_node(p, t ? t->ha_id : "_all", out, outlen);
		return 0;
	}
	snprintf(id, sizeof(id), "%s_%s", t ? t->ha_id : "_all",
	    entity == ENTITY_DEPLOY ? "last_deploy" : figure_defs[entity].key);
	ha_node_id(p->instance, id, node, sizeof(node));
	return ha_key(out, outlen, HA_SENSOR, node);
}

/* Whether t (_all for NULL) has the entity. */
static bool
has_entity(const struct target *t, int entity)
{
	if (entity == ENTITY_STATE)
		return true;
	if (t == NULL)
		return entity == ENTITY_DEPLOY;
	return entity < FIG_COUNT && figure_of(t, (enum figure_id)entity);
}

/* True when key is ours: *t is its target (NULL for _all's), *entity which. */
static bool
ha_key_target(const struct publisher *p, const char *key,
    const struct target **t, int *entity)
{
	char mine[HB_TOPIC_MAX];
	const struct target *it = NULL;

	for (;;) {
		for (int e = ENTITY_STATE; e <= ENTITY_DEPLOY; e++) {
			if (!has_entity(it, e) ||
			    entity_key(p, it, e, mine, sizeof(mine)) != 0 ||
			    strcmp(key, mine) != 0)
				continue;
			*t = it;
			*entity = e;
			return true;
		}
		it = it ? TAILQ_NEXT(it, entry) : TAILQ_FIRST(p->targets);
		if (it == NULL)
			return false;
	}
}

bool
publish_ha_node_in_use(const struct publisher *p, const char *key)
{
	const struct target *t;
	int entity;

	return ha_key_target(p, key, &t, &entity);
}

/*
 * The discovery config of an entity of t (of _all for t NULL), its topic
 * in topic (HB_TOPIC_MAX bytes); NULL when a topic does not fit.
 */
static json_t *
ha_config_of(const struct publisher *p, const struct target *t, int entity,
    char *topic)
{
	char state_topic[HB_TOPIC_MAX], key[HB_TOPIC_MAX], name[TARGET_NAME_MAX + 64];
	const char *node;

	if (entity_key(p, t, entity, key, sizeof(key)) != 0 ||
	    ha_config_topic(topic, HB_TOPIC_MAX, p->ha_prefix, key) != 0 ||
	    hb_topic_health(state_topic, sizeof(state_topic), p->prefix,
	    t ? t->name : "_all") != 0)
		return NULL;
	node = strchr(key, '/') + 1;
	if (entity == ENTITY_STATE)
		return ha_config(&p->ha, t ? t->name : "overall", node, state_topic);
	if (entity == ENTITY_DEPLOY) {
		if (hb_topic_deploy(state_topic, sizeof(state_topic), p->prefix,
		    "state", NULL) != 0)
			return NULL;
		return ha_deploy_sensor_config(&p->ha, node, state_topic);
	}
	snprintf(name, sizeof(name), "%s %s", t->name, figure_defs[entity].name);
	return ha_sensor_config(&p->ha, name, node, state_topic,
	    &figure_defs[entity]);
}

void
publish_ha_config(struct publisher *p, const struct target *t)
{
	char topic[HB_TOPIC_MAX];
	json_t *c;

	if (!p->ha_enabled || !p->open)
		return;
	for (int e = ENTITY_STATE; e <= ENTITY_DEPLOY; e++) {
		if (!has_entity(t, e) || (c = ha_config_of(p, t, e, topic)) == NULL)
			continue;
		hb_bus_publish_json(p->bus, topic, c, 1, true);
		json_decref(c);
	}
}

void
publish_ha_config_found(struct publisher *p, const char *key,
    const char *payload, size_t len)
{
	char topic[HB_TOPIC_MAX];
	const struct target *t;
	int entity;
	json_t *c;

	/* not one of ours (any more): nothing to put back */
	if (!p->ha_enabled || !p->open || !ha_key_target(p, key, &t, &entity) ||
	    (c = ha_config_of(p, t, entity, topic)) == NULL)
		return;
	if (!hb_msg_json_equal(payload, len, c) &&
	    hb_restore_take(&p->ha_restore, "a health sensor's discovery config",
	    topic))
		hb_bus_publish_json(p->bus, topic, c, 1, true);
	json_decref(c);
}

void
publish_ha_clear_figures(struct publisher *p, const struct target *t)
{
	char key[HB_TOPIC_MAX], topic[HB_TOPIC_MAX];

	for (int e = 0; e < FIG_COUNT; e++)
		if (has_entity(t, e) && entity_key(p, t, e, key, sizeof(key)) == 0 &&
		    ha_config_topic(topic, sizeof(topic), p->ha_prefix, key) == 0)
			hb_bus_publish(p->bus, topic, "", 0, 1, true);
}

void
publish_ha_all(struct publisher *p)
{
	struct target *t;

	TAILQ_FOREACH(t, p->targets, entry)
		publish_ha_config(p, t);
	publish_ha_config(p, NULL);
}

void
publish_clear(struct publisher *p, const char *name, const char *key)
{
	char topic[HB_TOPIC_MAX];

	if (key && ha_config_topic(topic, sizeof(topic), p->ha_prefix, key) == 0)
		hb_bus_publish(p->bus, topic, "", 0, 1, true);
	if (name && hb_topic_health(topic, sizeof(topic), p->prefix, name) == 0)
		hb_bus_publish(p->bus, topic, "", 0, 1, true);
}

/*
 * True when _all may go out now; else the timer is set for when it may.
 * The overall state and its since are kept current either way. Closed,
 * nothing is due: publish_everything() sends it once open.
 */
static bool
overall_due(struct publisher *p, bool force)
{
	enum hb_health_state st = targets_worst(p->targets);
	int64_t wait = p->overall_sent_ms + PUBLISH_OVERALL_MS - hb_mono_ms();

	if (st != p->overall) {
		p->overall = st;
		p->overall_since_ms = hb_wall_ms();
	}
	if (!p->open)
		return false;
	if (force || p->overall_sent_ms == 0 || wait <= 0) {
		if (p->ev_overall)
			evtimer_del(p->ev_overall);
		return true;
	}
	if (p->ev_overall && !evtimer_pending(p->ev_overall, NULL))
		hb_timer_add_ms(p->ev_overall, wait);
	return false;
}

void
publish_overall(struct publisher *p, bool force)
{
	json_t *o, *states, *counts;
	size_t n[4] = { 0 };
	struct hb_buf reason = { 0 };
	struct target *t;
	enum hb_health_state st;
	char topic[HB_TOPIC_MAX], *sig;
	int bad = 0;

	if (!overall_due(p, force))
		return;
	st = p->overall;
	states = json_object();
	counts = json_object();
	TAILQ_FOREACH(t, p->targets, entry) {
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
	if (!force && p->overall_published && sig &&
	    strcmp(sig, p->overall_published) == 0) {
		free(sig);
		json_decref(states);
		json_decref(counts);
		hb_buf_free(&reason);
		return;
	}
	if (p->open) {
		free(p->overall_published);
		p->overall_published = sig;
		sig = NULL;
	}
	free(sig);
	for (int i = 0; i < 4; i++)
		json_object_set_new(counts, hb_health_state_name((enum hb_health_state)i),
		    json_integer((json_int_t)n[i]));
	o = json_pack("{s:s,s:s,s:o,s:s,s:s,s:o,s:o}", "target", "_all", "state",
	    hb_health_state_name(st), "since", hb_msg_time(p->overall_since_ms),
	    "reason", reason.data ? reason.data : "", "watcher", p->instance,
	    "counts", counts, "targets", states);
	if (p->open && hb_topic_health(topic, sizeof(topic), p->prefix, "_all") == 0) {
		publish_json(p, topic, o);
		p->overall_sent_ms = hb_mono_ms();
	}
	json_decref(o);
	hb_buf_free(&reason);
}

void
publish_everything(struct publisher *p)
{
	struct target *t;

	TAILQ_FOREACH(t, p->targets, entry)
		publish_state(p, t, true);
	publish_overall(p, true);
	publish_ha_all(p);
}
