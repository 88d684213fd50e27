/*
 * hb_msg: decode and encode the bus's JSON messages.
 */
#include "hb_msg.h"
#include "hb_topic.h"
#include "hb_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *const severities[] = { "info", "warning", "error", "critical" };
static const char *const states[] = { "unknown", "ok", "degraded", "down" };
static const char *const actions[] = { "deploy", "rollback", "status", "backup" };
/* the phases of a deploy that is still going (hb_deploy_phase_final) */
static const char *const busy_phases[] = { "queued", "preflight", "pull",
    "backup", "up", "verify", "rollback", "running" };

int
hb_severity_parse(const char *s)
{
	for (size_t i = 0; i < HB_ARRAY_LEN(severities); i++)
		if (strcmp(s, severities[i]) == 0)
			return (int)i;
	if (strcmp(s, "warn") == 0)
		return HB_SEV_WARNING;
	return -1;
}

const char *
hb_severity_name(enum hb_severity sev)
{
	return (size_t)sev < HB_ARRAY_LEN(severities) ? severities[sev] : "info";
}

int
hb_health_state_parse(const char *s)
{
	for (size_t i = 0; i < HB_ARRAY_LEN(states); i++)
		if (strcmp(s, states[i]) == 0)
			return (int)i;
	return -1;
}

const char *
hb_health_state_name(enum hb_health_state st)
{
	return (size_t)st < HB_ARRAY_LEN(states) ? states[st] : "unknown";
}

const char *
hb_deploy_action_name(enum hb_deploy_action a)
{
	return (size_t)a < HB_ARRAY_LEN(actions) ? actions[a] : "status";
}

json_t *
hb_msg_time(int64_t wall_ms)
{
	char ts[40];

	hb_iso8601(wall_ms, ts, sizeof(ts));
	return json_string(ts);
}

int64_t
hb_msg_parse_time(const char *s)
{
	struct tm tm;
	int ms = 0, n = 0;

	memset(&tm, 0, sizeof(tm));
	if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon,
	    &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &n) != 6)
		return -1;
	if (s[n] == '.') {
		int digits = 0;

		n++;
		while (s[n] >= '0' && s[n] <= '9') {
			if (digits++ < 3)
				ms = ms * 10 + (s[n] - '0');
			n++;
		}
		while (digits++ < 3)
			ms *= 10;
	}
	if (s[n] != 'Z' && s[n] != '\0')
		return -1;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	return (int64_t)timegm(&tm) * 1000 + ms;
}

/* Parses payload as a JSON object no larger than HB_MSG_MAX. */
static json_t *
load_object(const char *payload, size_t len, char *err, size_t errlen)
{
	json_error_t jerr;
	json_t *root;

	if (len > HB_MSG_MAX) {
		snprintf(err, errlen, "message of %zu bytes is over the %d limit", len,
		    HB_MSG_MAX);
		return NULL;
	}
	root = json_loadb(payload, len, 0, &jerr);
	if (root == NULL) {
		snprintf(err, errlen, "not JSON: %s", jerr.text);
		return NULL;
	}
	if (!json_is_object(root)) {
		snprintf(err, errlen, "not a JSON object");
		json_decref(root);
		return NULL;
	}
	return root;
}

/* An optional string member: NULL if absent or null; -1 if another type. */
static int
get_str(json_t *obj, const char *key, const char **out, char *err, size_t errlen)
{
	json_t *v = json_object_get(obj, key);

	*out = NULL;
	if (v == NULL || json_is_null(v))
		return 0;
	if (!json_is_string(v)) {
		snprintf(err, errlen, "\"%s\" must be a string", key);
		return -1;
	}
	*out = json_string_value(v);
	return 0;
}

static int
copy_str(json_t *obj, const char *key, char *dst, size_t dstlen, bool required,
    char *err, size_t errlen)
{
	const char *s;

	if (get_str(obj, key, &s, err, errlen) != 0)
		return -1;
	if (s == NULL) {
		dst[0] = '\0';
		if (required) {
			snprintf(err, errlen, "\"%s\" is missing", key);
			return -1;
		}
		return 0;
	}
	if (strlen(s) >= dstlen) {
		snprintf(err, errlen, "\"%s\" is longer than %zu characters", key,
		    dstlen - 1);
		return -1;
	}
	memcpy(dst, s, strlen(s) + 1);
	return 0;
}

/* ---- notify ---- */

int
hb_notify_decode(const char *payload, size_t len, enum hb_severity sev,
    struct hb_notify *out, char *err, size_t errlen)
{
	const char *text, *title, *key, *source;
	json_t *root = load_object(payload, len, err, errlen);

	memset(out, 0, sizeof(*out));
	if (root == NULL)
		return -1;
	if (get_str(root, "text", &text, err, errlen) != 0 ||
	    get_str(root, "title", &title, err, errlen) != 0 ||
	    get_str(root, "key", &key, err, errlen) != 0 ||
	    get_str(root, "source", &source, err, errlen) != 0)
		goto err;
	if (text == NULL || *text == '\0') {
		snprintf(err, errlen, "\"text\" is missing or empty");
		goto err;
	}
	if (key && strlen(key) > 256) {
		snprintf(err, errlen, "\"key\" is longer than 256 characters");
		goto err;
	}
	out->severity = sev;
	out->text = hb_xstrdup(text);
	out->title = title && *title ? hb_xstrdup(title) : NULL;
	out->key = key && *key ? hb_xstrdup(key) : NULL;
	out->source = source && *source ? hb_xstrdup(source) : NULL;
	json_decref(root);
	return 0;
err:
	json_decref(root);
	return -1;
}

json_t *
hb_notify_encode(const struct hb_notify *n)
{
	json_t *o = json_object();

	json_object_set_new(o, "text", json_string(n->text ? n->text : ""));
	if (n->title)
		json_object_set_new(o, "title", json_string(n->title));
	if (n->key)
		json_object_set_new(o, "key", json_string(n->key));
	if (n->source)
		json_object_set_new(o, "source", json_string(n->source));
	return o;
}

void
hb_notify_free(struct hb_notify *n)
{
	free(n->text);
	free(n->title);
	free(n->key);
	free(n->source);
	memset(n, 0, sizeof(*n));
}

/* ---- health ---- */

int
hb_health_decode(const char *payload, size_t len, struct hb_health_msg *out,
    char *err, size_t errlen)
{
	json_t *root = load_object(payload, len, err, errlen);
	const char *state, *since, *started, *type;
	json_t *lat;
	int st;

	memset(out, 0, sizeof(*out));
	out->latency_ms = -1;
	if (root == NULL)
		return -1;
	if (copy_str(root, "target", out->target, sizeof(out->target), true, err,
	    errlen) != 0 ||
	    copy_str(root, "reason", out->reason, sizeof(out->reason), false, err,
	    errlen) != 0 ||
	    get_str(root, "state", &state, err, errlen) != 0 ||
	    get_str(root, "since", &since, err, errlen) != 0)
		goto err;
	if (state == NULL || (st = hb_health_state_parse(state)) < 0) {
		snprintf(err, errlen, "\"state\" must be ok, degraded, down or unknown");
		goto err;
	}
	out->state = (enum hb_health_state)st;
	out->since_ms = since ? hb_msg_parse_time(since) : -1;
	/* optional facts a reader may use; a wrong type leaves them unknown */
	started = json_string_value(json_object_get(root, "started"));
	out->started_ms = started ? hb_msg_parse_time(started) : -1;
	type = json_string_value(json_object_get(root, "type"));
	if (type && strlen(type) < sizeof(out->type))
		memcpy(out->type, type, strlen(type) + 1);
	lat = json_object_get(root, "latency_ms");
	if (json_is_number(lat))
		out->latency_ms = json_number_value(lat);
	json_decref(root);
	return 0;
err:
	json_decref(root);
	return -1;
}

json_t *
hb_health_encode(const struct hb_health_msg *h)
{
	json_t *o = json_object();

	json_object_set_new(o, "target", json_string(h->target));
	json_object_set_new(o, "state", json_string(hb_health_state_name(h->state)));
	json_object_set_new(o, "since", hb_msg_time(h->since_ms));
	json_object_set_new(o, "reason", json_string(h->reason));
	if (h->latency_ms >= 0)
		json_object_set_new(o, "latency_ms", json_real(h->latency_ms));
	if (h->type[0])
		json_object_set_new(o, "type", json_string(h->type));
	if (h->started_ms > 0)
		json_object_set_new(o, "started", hb_msg_time(h->started_ms));
	return o;
}

/* ---- heartbeat ---- */

int
hb_heartbeat_decode(const char *payload, size_t len, struct hb_heartbeat *out,
    char *err, size_t errlen)
{
	json_t *root = load_object(payload, len, err, errlen);
	json_t *v;

	memset(out, 0, sizeof(*out));
	if (root == NULL)
		return -1;
	if (json_is_integer(v = json_object_get(root, "uptime_s")))
		out->uptime_s = json_integer_value(v);
	if (json_is_integer(v = json_object_get(root, "interval_s")))
		out->interval_s = json_integer_value(v);
	if (json_is_integer(v = json_object_get(root, "rss_kb")))
		out->rss_kb = (long)json_integer_value(v);
	if (json_is_number(v = json_object_get(root, "cpu_s")))
		out->cpu_s = json_number_value(v);
	out->time_ms = json_is_string(v = json_object_get(root, "time")) ?
	    hb_msg_parse_time(json_string_value(v)) : -1;
	json_decref(root);
	return 0;
}

/* ---- deploy ---- */

/* [A-Za-z0-9][A-Za-z0-9._-]{0,max-1}: safe as an argument, an environment
 * value, a path component and a topic level. */
static bool
name_ok(const char *s, size_t max)
{
	size_t n = strlen(s);

	if (n == 0 || n > max)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9');

		if (!alnum && (i == 0 || (c != '.' && c != '_' && c != '-')))
			return false;
	}
	return true;
}

bool
hb_deploy_tag_ok(const char *tag)
{
	return name_ok(tag, 128);
}

bool
hb_deploy_backup_name_ok(const char *name)
{
	return name_ok(name, HB_DEPLOY_BACKUP_MAX - 1);
}

bool
hb_deploy_phase_final(const char *phase)
{
	for (size_t i = 0; i < HB_ARRAY_LEN(busy_phases); i++)
		if (strcmp(phase, busy_phases[i]) == 0)
			return false;
	return true;
}

static int
parse_action(json_t *root, enum hb_deploy_action *out, char *err, size_t errlen)
{
	const char *a;

	if (get_str(root, "action", &a, err, errlen) != 0)
		return -1;
	for (size_t i = 0; a && i < HB_ARRAY_LEN(actions); i++)
		if (strcmp(a, actions[i]) == 0) {
			*out = (enum hb_deploy_action)i;
			return 0;
		}
	snprintf(err, errlen, "\"action\" must be deploy, rollback, backup or status");
	return -1;
}

static int
parse_services(json_t *root, struct hb_deploy_cmd *out, char *err, size_t errlen)
{
	json_t *svcs = json_object_get(root, "services"), *v;
	size_t i;

	if (svcs == NULL || json_is_null(svcs))
		return 0;
	if (!json_is_array(svcs) || json_array_size(svcs) > HB_DEPLOY_MAX_SERVICES) {
		snprintf(err, errlen, "\"services\" must be a list of at most %d names",
		    HB_DEPLOY_MAX_SERVICES);
		return -1;
	}
	json_array_foreach(svcs, i, v) {
		const char *s = json_string_value(v);

		if (s == NULL || !name_ok(s, 63)) {
			snprintf(err, errlen, "\"services\"[%zu] is not a valid service "
			    "name", i);
			return -1;
		}
		snprintf(out->services[out->nservices++], 64, "%s", s);
	}
	return 0;
}

/* What each action takes and refuses. */
static int
check_cmd(const struct hb_deploy_cmd *c, char *err, size_t errlen)
{
	if (c->action == HB_DEPLOY_DEPLOY && !hb_deploy_tag_ok(c->tag)) {
		snprintf(err, errlen, "\"tag\" must match [A-Za-z0-9][A-Za-z0-9._-]* "
		    "(at most 128 characters)");
		return -1;
	}
	if (c->action != HB_DEPLOY_DEPLOY && c->tag[0]) {
		snprintf(err, errlen, "\"tag\" is for deploy only (a rollback goes "
		    "back to the previous version, or to a backup's)");
		return -1;
	}
	if (c->backup[0] && (c->action != HB_DEPLOY_ROLLBACK ||
	    !hb_deploy_backup_name_ok(c->backup))) {
		snprintf(err, errlen, "\"backup\" must be a backup folder's name, "
		    "with rollback only");
		return -1;
	}
	if (c->instance[0] && !hb_topic_level_ok(c->instance)) {
		snprintf(err, errlen, "\"instance\" is not a bus instance name");
		return -1;
	}
	return 0;
}

int
hb_deploy_cmd_decode(const char *payload, size_t len, struct hb_deploy_cmd *out,
    char *err, size_t errlen)
{
	json_t *root = load_object(payload, len, err, errlen);

	memset(out, 0, sizeof(*out));
	if (root == NULL)
		return -1;
	/* the id first: a rejection names it */
	if (copy_str(root, "id", out->id, sizeof(out->id), true, err, errlen) != 0 ||
	    parse_action(root, &out->action, err, errlen) != 0 ||
	    copy_str(root, "tag", out->tag, sizeof(out->tag), false, err, errlen) != 0 ||
	    copy_str(root, "instance", out->instance, sizeof(out->instance), false,
	    err, errlen) != 0 ||
	    copy_str(root, "backup", out->backup, sizeof(out->backup), false, err,
	    errlen) != 0 ||
	    copy_str(root, "requested_by", out->requested_by,
	    sizeof(out->requested_by), false, err, errlen) != 0 ||
	    parse_services(root, out, err, errlen) != 0 ||
	    check_cmd(out, err, errlen) != 0)
		goto err;
	json_decref(root);
	return 0;
err:
	json_decref(root);
	return -1;
}

json_t *
hb_deploy_cmd_encode(const struct hb_deploy_cmd *c)
{
	json_t *o = json_object();

	json_object_set_new(o, "id", json_string(c->id));
	json_object_set_new(o, "action", json_string(hb_deploy_action_name(c->action)));
	if (c->tag[0])
		json_object_set_new(o, "tag", json_string(c->tag));
	if (c->nservices) {
		json_t *a = json_array();

		for (size_t i = 0; i < c->nservices; i++)
			json_array_append_new(a, json_string(c->services[i]));
		json_object_set_new(o, "services", a);
	}
	if (c->instance[0])
		json_object_set_new(o, "instance", json_string(c->instance));
	if (c->backup[0])
		json_object_set_new(o, "backup", json_string(c->backup));
	if (c->requested_by[0])
		json_object_set_new(o, "requested_by", json_string(c->requested_by));
	return o;
}

/* An optional integer member in [0, 100]; absent or null: 0. */
static int
get_step_number(json_t *obj, const char *key, int *out, char *err, size_t errlen)
{
	json_t *v = json_object_get(obj, key);

	*out = 0;
	if (v == NULL || json_is_null(v))
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < 0 ||
	    json_integer_value(v) > 100) {
		snprintf(err, errlen, "\"%s\" must be an integer from 0 to 100", key);
		return -1;
	}
	*out = (int)json_integer_value(v);
	return 0;
}

int
hb_deploy_state_decode(const char *payload, size_t len,
    struct hb_deploy_state *out, char *err, size_t errlen)
{
	json_t *root = load_object(payload, len, err, errlen);
	const char *started, *updated;

	memset(out, 0, sizeof(*out));
	if (root == NULL)
		return -1;
	if (copy_str(root, "id", out->id, sizeof(out->id), false, err, errlen) != 0 ||
	    parse_action(root, &out->action, err, errlen) != 0 ||
	    copy_str(root, "phase", out->phase, sizeof(out->phase), true, err,
	    errlen) != 0 ||
	    copy_str(root, "from_tag", out->from_tag, sizeof(out->from_tag), false,
	    err, errlen) != 0 ||
	    copy_str(root, "to_tag", out->to_tag, sizeof(out->to_tag), false, err,
	    errlen) != 0 ||
	    copy_str(root, "step", out->step, sizeof(out->step), false, err,
	    errlen) != 0 ||
	    get_step_number(root, "step_index", &out->step_index, err, errlen) != 0 ||
	    get_step_number(root, "step_count", &out->step_count, err, errlen) != 0 ||
	    copy_str(root, "error", out->error, sizeof(out->error), false, err,
	    errlen) != 0 ||
	    copy_str(root, "requested_by", out->requested_by,
	    sizeof(out->requested_by), false, err, errlen) != 0 ||
	    copy_str(root, "instance", out->instance, sizeof(out->instance), false,
	    err, errlen) != 0 ||
	    copy_str(root, "log_tail", out->log_tail, sizeof(out->log_tail), false,
	    err, errlen) != 0 ||
	    copy_str(root, "backup", out->backup, sizeof(out->backup), false, err,
	    errlen) != 0 ||
	    copy_str(root, "running_tag", out->running_tag, sizeof(out->running_tag),
	    false, err, errlen) != 0 ||
	    copy_str(root, "previous_tag", out->previous_tag,
	    sizeof(out->previous_tag), false, err, errlen) != 0 ||
	    get_str(root, "started", &started, err, errlen) != 0 ||
	    get_str(root, "updated", &updated, err, errlen) != 0)
		goto err;
	out->started_ms = started ? hb_msg_parse_time(started) : -1;
	out->updated_ms = updated ? hb_msg_parse_time(updated) : -1;
	json_decref(root);
	return 0;
err:
	json_decref(root);
	return -1;
}

static void
set_opt_str(json_t *o, const char *key, const char *v)
{
	if (v[0])
		json_object_set_new(o, key, json_string(v));
}

json_t *
hb_deploy_state_encode(const struct hb_deploy_state *s)
{
	json_t *o = json_object();

	json_object_set_new(o, "id", json_string(s->id));
	json_object_set_new(o, "action", json_string(hb_deploy_action_name(s->action)));
	json_object_set_new(o, "phase", json_string(s->phase));
	json_object_set_new(o, "from_tag", json_string(s->from_tag));
	json_object_set_new(o, "to_tag", json_string(s->to_tag));
	json_object_set_new(o, "step", json_string(s->step));
	if (s->step_count > 0) {
		json_object_set_new(o, "step_index", json_integer(s->step_index));
		json_object_set_new(o, "step_count", json_integer(s->step_count));
	}
	json_object_set_new(o, "started", hb_msg_time(s->started_ms));
	json_object_set_new(o, "updated", hb_msg_time(s->updated_ms));
	set_opt_str(o, "error", s->error);
	set_opt_str(o, "requested_by", s->requested_by);
	set_opt_str(o, "instance", s->instance);
	set_opt_str(o, "log_tail", s->log_tail);
	set_opt_str(o, "backup", s->backup);
	set_opt_str(o, "running_tag", s->running_tag);
	set_opt_str(o, "previous_tag", s->previous_tag);
	return o;
}

int
hb_deploy_available_decode(const char *payload, size_t len, char *tag,
    size_t taglen, char *err, size_t errlen)
{
	json_t *root = load_object(payload, len, err, errlen);
	const char *t;

	tag[0] = '\0';
	if (root == NULL)
		return -1;
	t = json_string_value(json_object_get(root, "tag"));
	if (t == NULL || !hb_deploy_tag_ok(t) || strlen(t) >= taglen) {
		snprintf(err, errlen, "\"tag\" is missing or not a valid tag");
		json_decref(root);
		return -1;
	}
	memcpy(tag, t, strlen(t) + 1);
	json_decref(root);
	return 0;
}

json_t *
hb_deploy_available_encode(const char *tag)
{
	return json_pack("{s:s}", "tag", tag);
}

/* ---- health check requests ---- */

int
hb_health_check_decode(const char *payload, size_t len,
    struct hb_health_check *out, char *err, size_t errlen)
{
	json_t *root = load_object(payload, len, err, errlen);
	json_t *targets, *v, *iv;
	const char *until;
	size_t i;

	memset(out, 0, sizeof(*out));
	out->until_ms = -1;
	if (root == NULL)
		return -1;
	if (get_str(root, "until", &until, err, errlen) != 0 ||
	    copy_str(root, "requested_by", out->requested_by,
	    sizeof(out->requested_by), false, err, errlen) != 0)
		goto err;
	if (until && (out->until_ms = hb_msg_parse_time(until)) < 0) {
		snprintf(err, errlen, "\"until\" is not an ISO 8601 UTC time");
		goto err;
	}
	iv = json_object_get(root, "interval_s");
	if (iv && !json_is_null(iv)) {
		if (!json_is_integer(iv) || json_integer_value(iv) < 0 ||
		    json_integer_value(iv) > 3600) {
			snprintf(err, errlen, "\"interval_s\" must be an integer from 0 "
			    "to 3600");
			goto err;
		}
		out->interval_s = (int)json_integer_value(iv);
	}
	targets = json_object_get(root, "targets");
	if (targets && !json_is_null(targets)) {
		if (!json_is_array(targets) ||
		    json_array_size(targets) > HB_HEALTH_CHECK_MAX_TARGETS) {
			snprintf(err, errlen, "\"targets\" must be a list of at most %d "
			    "names", HB_HEALTH_CHECK_MAX_TARGETS);
			goto err;
		}
		json_array_foreach(targets, i, v) {
			const char *s = json_string_value(v);

			if (s == NULL || *s == '\0' || strlen(s) >= 128) {
				snprintf(err, errlen, "\"targets\"[%zu] is not a target "
				    "name", i);
				goto err;
			}
			snprintf(out->targets[out->ntargets++], 128, "%s", s);
		}
	}
	json_decref(root);
	return 0;
err:
	json_decref(root);
	return -1;
}

json_t *
hb_health_check_encode(const struct hb_health_check *c)
{
	json_t *o = json_object(), *a = json_array();

	for (size_t i = 0; i < c->ntargets; i++)
		json_array_append_new(a, json_string(c->targets[i]));
	json_object_set_new(o, "targets", a);
	if (c->until_ms >= 0)
		json_object_set_new(o, "until", hb_msg_time(c->until_ms));
	if (c->interval_s > 0)
		json_object_set_new(o, "interval_s", json_integer(c->interval_s));
	if (c->requested_by[0])
		json_object_set_new(o, "requested_by", json_string(c->requested_by));
	return o;
}
