/*
 * target: health.targets from the configuration, hysteresis, history.
 */
#include "target.h"
#include "hb_util.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const type_names[] = { "http", "exec", "disk", "mqtt",
	"service", "backups" };

const char *
target_type_name(enum target_type t)
{
	return (size_t)t < HB_ARRAY_LEN(type_names) ? type_names[t] : "other";
}

int
health_state_rank(enum hb_health_state st)
{
	switch (st) {
	case HB_HEALTH_OK: return 0;
	case HB_HEALTH_UNKNOWN: return 1;
	case HB_HEALTH_DEGRADED: return 2;
	case HB_HEALTH_DOWN: return 3;
	}
	return 1;
}

enum hb_health_state
targets_worst(const struct target_list *list)
{
	enum hb_health_state worst = HB_HEALTH_OK;
	const struct target *t;

	TAILQ_FOREACH(t, list, entry)
		if (health_state_rank(t->state) > health_state_rank(worst))
			worst = t->state;
	return worst;
}

int
svc_status_parse(const char *payload, size_t len)
{
	if (len == 0)
		return SVC_UNSEEN;
	if (len == 6 && memcmp(payload, "online", 6) == 0)
		return SVC_ONLINE;
	if (len == 7 && memcmp(payload, "offline", 7) == 0)
		return SVC_OFFLINE;
	return -1;
}

bool
target_name_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 64 || s[0] == '_' || s[0] == '.' || s[0] == '-')
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '_' && s[i] != '.' &&
		    s[i] != '-')
			return false;
	return true;
}

bool
target_name_reserved(const char *s)
{
	return strcmp(s, TARGET_CHECK_LEVEL) == 0 || strcmp(s, "_all") == 0;
}

void
target_ha_id(const char *name, char *out, size_t outlen)
{
	uint32_t h = 2166136261u;	/* FNV-1a */
	bool changed = false;
	size_t o = 0;

	for (const char *p = name; *p; p++) {
		unsigned char c = (unsigned char)*p;

		h = (h ^ c) * 16777619u;
		if (o + 10 >= outlen)
			continue;
		if (isalnum(c) || c == '_' || c == '-')
			out[o++] = (char)c;
		else {
			out[o++] = '_';
			changed = true;
		}
	}
	if (o + 10 >= outlen && strlen(name) + 10 >= outlen)
		changed = true;	/* cut short: the hash keeps it unique */
	out[o] = '\0';
	if (changed)
		snprintf(out + o, outlen - o, "_%08x", h);
}

static struct target *
target_alloc(const char *name, enum target_type type,
    const struct target_defaults *d)
{
	struct target *t = hb_xcalloc(1, sizeof(*t));

	snprintf(t->name, sizeof(t->name), "%s", name);
	target_ha_id(t->name, t->ha_id, sizeof(t->ha_id));
	t->type = type;
	t->notify = true;
	t->interval_ms = d->interval_ms;
	t->timeout_ms = d->timeout_ms;
	t->fail_after = d->fail_after;
	t->recover_after = d->recover_after;
	t->state = HB_HEALTH_UNKNOWN;
	t->notified = HB_HEALTH_UNKNOWN;
	t->since_ms = hb_wall_ms();
	t->latency_ms = -1;
	t->points_per_s = -1;
	t->spool_points = -1;
	t->outbox = -1;
	t->written_prev = -1;
	snprintf(t->reason, sizeof(t->reason), "not checked yet");
	for (size_t i = 0; i < HISTORY_SLOTS; i++)
		t->history[i].minute = -1;
	return t;
}

struct target *
target_new_service(const char *name, const char *service, const char *instance,
    const struct target_defaults *d)
{
	struct target *t = target_alloc(name, TT_SERVICE, d);

	snprintf(t->service, sizeof(t->service), "%s", service);
	snprintf(t->instance, sizeof(t->instance), "%s", instance);
	snprintf(t->reason, sizeof(t->reason), "waiting for its status on the bus");
	return t;
}

void
target_show_state(struct target *t)
{
	for (int i = 0; i < TARGET_STATES; i++)
		if (t->m_state[i])
			hb_gauge_set(t->m_state[i], (int)t->state == i ? 1 : 0);
}

void
target_free(struct target *t)
{
	if (t == NULL)
		return;
	free(t->url);
	free(t->method);
	if (t->auth_header) {
		explicit_bzero(t->auth_header, strlen(t->auth_header));
		free(t->auth_header);
	}
	for (size_t i = 0; t->argv && t->argv[i]; i++)
		free(t->argv[i]);
	free(t->argv);
	free(t->expect_output);
	free(t->path);
	if (t->ev_check)
		event_free(t->ev_check);
	if (t->ev_timeout)
		event_free(t->ev_timeout);
	free(t);
}

void
targets_free(struct target_list *list)
{
	struct target *t;

	while ((t = TAILQ_FIRST(list)) != NULL) {
		TAILQ_REMOVE(list, t, entry);
		target_free(t);
	}
}

struct target *
targets_find(struct target_list *list, const char *name)
{
	struct target *t;

	TAILQ_FOREACH(t, list, entry)
		if (strcmp(t->name, name) == 0)
			return t;
	return NULL;
}

/* ---- health.targets ---- */

static void
read_http(struct hb_config *cfg, const char *p, struct target *t)
{
	static const char *const methods[] = { "GET", "HEAD", "POST", "PUT",
	    "OPTIONS", NULL };
	char key[200];
	const char *s;
	char *token;

	snprintf(key, sizeof(key), "%s.url", p);
	s = hb_cfg_str(cfg, key, NULL);
	if (s == NULL)
		hb_cfg_error(cfg, key, "an http target needs a url "
		    "(e.g. \"http://127.0.0.1:8086/ping\")");
	else if (strncmp(s, "http://", 7) != 0 && strncmp(s, "https://", 8) != 0)
		hb_cfg_error(cfg, key, "\"%s\" must start with http:// or https://", s);
	else if (strlen(s) <= (strncmp(s, "https", 5) == 0 ? 8u : 7u))
		hb_cfg_error(cfg, key, "\"%s\" has no host", s);
	t->url = hb_xstrdup(s ? s : "");
	snprintf(key, sizeof(key), "%s.method", p);
	t->method = hb_xstrdup(methods[hb_cfg_enum(cfg, key, methods, 0)]);
	snprintf(key, sizeof(key), "%s.expect_status", p);
	t->expect_status = (long)hb_cfg_int(cfg, key, 0, 100, 599);
	snprintf(key, sizeof(key), "%s.token", p);
	token = hb_cfg_secret(cfg, key, NULL);
	if (token) {
		struct hb_buf h = { 0 };

		hb_buf_printf(&h, "Authorization: Bearer %s", token);
		t->auth_header = hb_buf_steal(&h);
		explicit_bzero(token, strlen(token));
		free(token);
	}
}

static void
read_exec(struct hb_config *cfg, const char *p, struct target *t)
{
	char key[200], item[240];
	size_t n;
	const char *s;

	snprintf(key, sizeof(key), "%s.argv", p);
	n = hb_cfg_array_len(cfg, key);
	if (n == 0)
		hb_cfg_error(cfg, key, "an exec target needs argv, the command and "
		    "its arguments as a list (no shell): [\"systemctl\", \"is-active\", "
		    "\"--quiet\", \"mosquitto\"]");
	t->argv = hb_xcalloc(n + 1, sizeof(char *));
	for (size_t i = 0, o = 0; i < n; i++) {
		snprintf(item, sizeof(item), "%s[%zu]", key, i);
		s = hb_cfg_str(cfg, item, NULL);
		if (s == NULL || (i == 0 && *s == '\0')) {
			hb_cfg_error(cfg, item, "expected a %sstring", i == 0 ?
			    "non-empty " : "");
			continue;
		}
		t->argv[o++] = hb_xstrdup(s);
	}
	snprintf(key, sizeof(key), "%s.expect_output", p);
	s = hb_cfg_str(cfg, key, NULL);
	t->expect_output = s && *s ? hb_xstrdup(s) : NULL;
}

static void
read_disk(struct hb_config *cfg, const char *p, struct target *t)
{
	char key[200];
	const char *s;

	snprintf(key, sizeof(key), "%s.path", p);
	s = hb_cfg_str(cfg, key, NULL);
	if (s == NULL || s[0] != '/')
		hb_cfg_error(cfg, key, "a disk target needs an absolute path "
		    "(a folder on the file system to watch)");
	t->path = hb_xstrdup(s ? s : "/");
	snprintf(key, sizeof(key), "%s.min_free_mb", p);
	t->min_free_mb = hb_cfg_int(cfg, key, 1024, 0, 1LL << 40);
	snprintf(key, sizeof(key), "%s.warn_free_mb", p);
	t->warn_free_mb = hb_cfg_int(cfg, key, 0, 0, 1LL << 40);
	if (t->warn_free_mb && t->warn_free_mb <= t->min_free_mb)
		hb_cfg_error(cfg, key, "%lld must be more than min_free_mb (%lld): "
		    "degraded comes before down", (long long)t->warn_free_mb,
		    (long long)t->min_free_mb);
}

/* health.targets[N].name (p is "health.targets[N]"): a usable name, or NULL. */
static const char *
read_name(struct hb_config *cfg, const char *p, struct target_list *list)
{
	char key[200];
	const char *name;

	snprintf(key, sizeof(key), "%s.name", p);
	name = hb_cfg_str(cfg, key, NULL);
	if (name == NULL)
		hb_cfg_error(cfg, key, "every target needs a name");
	else if (!target_name_ok(name))
		hb_cfg_error(cfg, key, "\"%s\": use 1 to 64 letters, digits, '_', '.' "
		    "or '-', not starting with '_', '.' or '-'", name);
	else if (target_name_reserved(name))
		hb_cfg_error(cfg, key, "\"%s\" is reserved: <prefix>/health/%s is "
		    "where the watcher takes check requests; choose another name",
		    name, name);
	else if (targets_find(list, name) != NULL)
		hb_cfg_error(cfg, key, "\"%s\" is the name of another target too", name);
	else
		return name;
	return NULL;
}

static struct target *
read_target(struct hb_config *cfg, size_t i, const struct target_defaults *d,
    struct target_list *list)
{
	static const char *const types[] = { "http", "exec", "disk", "mqtt",
	    "backups", NULL };
	char p[64], key[200];
	const char *name;
	struct target *t;
	int type;
	double interval;

	snprintf(p, sizeof(p), "health.targets[%zu]", i);
	if (hb_cfg_json(cfg, p, JSON_OBJECT, true) == NULL) {
		if (hb_cfg_has(cfg, p))
			return NULL;	/* the error says it is not an object */
	}
	name = read_name(cfg, p, list);
	snprintf(key, sizeof(key), "%s.type", p);
	if (!hb_cfg_has(cfg, key)) {
		hb_cfg_error(cfg, key, "every target needs a type: http, exec, disk, "
		    "mqtt or backups");
		hb_cfg_json(cfg, p, JSON_OBJECT, false);	/* no noise about its keys */
		return NULL;
	}
	type = hb_cfg_enum(cfg, key, types, -1);
	if (type == 4)
		type = TT_BACKUPS;	/* services are found, never configured */
	if (type < 0) {
		hb_cfg_json(cfg, p, JSON_OBJECT, false);
		return NULL;
	}
	t = target_alloc(name ? name : "invalid",
	    (enum target_type)type, d);
	t->from_config = true;

	snprintf(key, sizeof(key), "%s.interval_s", p);
	interval = hb_cfg_double(cfg, key, (double)d->interval_ms / 1000.0, 0.1, 86400);
	t->interval_ms = (int64_t)(interval * 1000.0 + 0.5);
	snprintf(key, sizeof(key), "%s.timeout_ms", p);
	t->timeout_ms = hb_cfg_int(cfg, key, d->timeout_ms, 10, 3600000);
	if (t->timeout_ms >= t->interval_ms) {
		/* a default that does not fit a short interval shrinks with it */
		if (hb_cfg_has(cfg, key))
			hb_cfg_error(cfg, key, "%lld ms must be shorter than the "
			    "interval (%g s)", (long long)t->timeout_ms,
			    (double)t->interval_ms / 1000.0);
		t->timeout_ms = t->interval_ms * 9 / 10;
	}
	snprintf(key, sizeof(key), "%s.fail_after", p);
	t->fail_after = (int)hb_cfg_int(cfg, key, d->fail_after, 1, HYSTERESIS_MAX);
	snprintf(key, sizeof(key), "%s.recover_after", p);
	t->recover_after = (int)hb_cfg_int(cfg, key, d->recover_after, 1,
	    HYSTERESIS_MAX);
	snprintf(key, sizeof(key), "%s.degraded_ms", p);
	t->degraded_ms = hb_cfg_int(cfg, key, 0, 0, 3600000);
	snprintf(key, sizeof(key), "%s.notify", p);
	t->notify = hb_cfg_bool(cfg, key, true);

	switch (t->type) {
	case TT_HTTP:
		read_http(cfg, p, t);
		break;
	case TT_EXEC:
		read_exec(cfg, p, t);
		break;
	case TT_DISK:
		read_disk(cfg, p, t);
		break;
	case TT_BACKUPS:
		snprintf(key, sizeof(key), "%s.max_age_h", p);
		t->max_age_ms = (int64_t)(hb_cfg_double(cfg, key, 26, 0.1, 24 * 366) *
		    3600000.0);
		break;
	case TT_MQTT:
	case TT_SERVICE:
		break;
	}
	return t;
}

void
targets_read(struct hb_config *cfg, const struct target_defaults *d,
    struct target_list *list)
{
	size_t n = hb_cfg_array_len(cfg, "health.targets");
	bool have_mqtt = false;
	struct target *t;

	for (size_t i = 0; i < n; i++) {
		t = read_target(cfg, i, d, list);
		if (t == NULL)
			continue;
		have_mqtt |= t->type == TT_MQTT;
		TAILQ_INSERT_TAIL(list, t, entry);
	}
	if (!have_mqtt) {
		/* The broker is always watched: everything else depends on it. */
		t = target_alloc(targets_find(list, "broker") ? "mqtt" : "broker",
		    TT_MQTT, d);
		t->from_config = true;
		if (t->timeout_ms >= t->interval_ms)
			t->timeout_ms = t->interval_ms * 9 / 10;
		TAILQ_INSERT_TAIL(list, t, entry);
	}
}

/* ---- state ---- */

static int
state_level(enum hb_health_state st)
{
	switch (st) {
	case HB_HEALTH_OK: return LEVEL_OK;
	case HB_HEALTH_DEGRADED: return LEVEL_DEGRADED;
	case HB_HEALTH_DOWN: return LEVEL_FAIL;
	case HB_HEALTH_UNKNOWN: break;
	}
	return -1;
}

static enum hb_health_state
level_state(int level)
{
	return level == LEVEL_OK ? HB_HEALTH_OK : level == LEVEL_DEGRADED ?
	    HB_HEALTH_DEGRADED : HB_HEALTH_DOWN;
}

/* The k-th most recent result (0: the latest). */
static int
recent_at(const struct target *t, unsigned k)
{
	return t->recent[(t->recent_head + TARGET_RECENT - 1 - k) % TARGET_RECENT];
}

/* Best (min) and worst (max) level of the last n results. */
static void
recent_range(const struct target *t, unsigned n, int *best, int *worst)
{
	*best = LEVEL_FAIL;
	*worst = LEVEL_OK;
	for (unsigned k = 0; k < n; k++) {
		int l = recent_at(t, k);

		if (l < *best)
			*best = l;
		if (l > *worst)
			*worst = l;
	}
}

static void
history_add(struct target *t, int level, int64_t now_ms)
{
	int64_t minute = now_ms / 60000;
	struct history_slot *s = &t->history[minute % HISTORY_SLOTS];

	if (s->minute != minute) {
		s->minute = minute;
		s->checks = 0;
		s->worst = LEVEL_OK;
	}
	if (s->checks < UINT16_MAX)
		s->checks++;
	if (level > s->worst)
		s->worst = (uint8_t)level;
}

int
target_history_at(const struct target *t, int64_t minute, unsigned *checks)
{
	const struct history_slot *s;

	if (minute < 0)
		return -1;
	s = &t->history[minute % HISTORY_SLOTS];
	if (s->minute != minute || s->checks == 0)
		return -1;
	if (checks)
		*checks = s->checks;
	return s->worst;
}

bool
target_record(struct target *t, const struct check_result *r, int64_t now_ms)
{
	enum hb_health_state next = t->state;
	int cur = state_level(t->state), best, worst;
	int level = (int)r->level;
	unsigned streak = 0;

	t->recent[t->recent_head] = (uint8_t)level;
	t->recent_head = (t->recent_head + 1) % TARGET_RECENT;
	if (t->nrecent < TARGET_RECENT)
		t->nrecent++;
	t->checks++;
	t->checked_ms = now_ms;
	t->latency_ms = r->latency_ms;
	if (r->total_mb > 0) {
		t->free_mb = r->free_mb;
		t->total_mb = r->total_mb;
	}
	history_add(t, level, now_ms);

	if (cur < 0 && level == LEVEL_OK) {
		next = HB_HEALTH_OK;
	} else {
		if (t->nrecent >= (unsigned)t->fail_after) {
			recent_range(t, (unsigned)t->fail_after, &best, &worst);
			if (best > cur && best > LEVEL_OK)
				next = level_state(best);
		}
		if (next == t->state && cur > LEVEL_OK &&
		    t->nrecent >= (unsigned)t->recover_after) {
			recent_range(t, (unsigned)t->recover_after, &best, &worst);
			if (worst < cur)
				next = level_state(worst);
		}
	}

	cur = state_level(next);
	if (level == cur) {
		snprintf(t->reason, sizeof(t->reason), "%s", r->reason);
	} else if (level > cur) {
		/* still better than this result: count the bad run so far */
		while (streak < t->nrecent && recent_at(t, streak) > cur)
			streak++;
		snprintf(t->reason, sizeof(t->reason), "%s (%u of %d failed checks)",
		    r->reason, streak, t->fail_after);
	} else {
		while (streak < t->nrecent && recent_at(t, streak) < cur)
			streak++;
		snprintf(t->reason, sizeof(t->reason), "%s (%u of %d good checks)",
		    r->reason, streak, t->recover_after);
	}
	if (next == t->state)
		return false;
	t->state = next;
	t->since_ms = now_ms;
	return true;
}

void
target_heartbeat(struct target *t, const struct hb_heartbeat *hb,
    int64_t now_ms, int64_t wall_ms)
{
	t->heartbeat = *hb;
	if (t->heartbeat.uptime_s < 0)
		t->heartbeat.uptime_s = 0;
	if (t->heartbeat.uptime_s > HEARTBEAT_UPTIME_MAX_S)
		t->heartbeat.uptime_s = HEARTBEAT_UPTIME_MAX_S;
	t->heartbeat_ms = now_ms;
	/* the start, not the uptime, is what stays true between heartbeats */
	t->started_ms = wall_ms - t->heartbeat.uptime_s * 1000;
}

int64_t
target_started(const struct target *t)
{
	if (t->type != TT_SERVICE || t->status != SVC_ONLINE ||
	    t->heartbeat_ms == 0 || t->heartbeat_ms < t->status_ms)
		return -1;
	return t->started_ms;
}

bool
target_force(struct target *t, enum hb_health_state st, const char *reason,
    int64_t now_ms)
{
	snprintf(t->reason, sizeof(t->reason), "%s", reason);
	t->nrecent = 0;
	t->recent_head = 0;
	if (st != HB_HEALTH_UNKNOWN)
		history_add(t, state_level(st), now_ms);
	t->checked_ms = now_ms;
	if (t->state == st)
		return false;
	t->state = st;
	t->since_ms = now_ms;
	return true;
}

void
target_hurry(struct target *t, int64_t interval_ms, int64_t until_ms,
    int64_t now_ms)
{
	if (t->hurry_until_ms > now_ms) {
		if (until_ms > t->hurry_until_ms)
			t->hurry_until_ms = until_ms;
		if (interval_ms < t->hurry_interval_ms)
			t->hurry_interval_ms = interval_ms;
		return;
	}
	t->hurry_interval_ms = interval_ms;
	t->hurry_until_ms = until_ms;
}

int64_t
target_next_ms(const struct target *t, int64_t now_ms)
{
	int64_t next = t->interval_ms;

	if (t->hurry_until_ms > now_ms && t->hurry_interval_ms < next)
		next = t->hurry_interval_ms;
	return next;
}
