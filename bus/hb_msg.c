/*
 * hb_msg: decode and encode the bus's JSON messages. Each message type is
 * a table of its fields, walked by one decoder and one encoder: a row says
 * what a member is, how it travels, its limits, whether it is required and
 * when it is left out. The rules that are a message's own (what a deploy
 * command's action allows, the severity from the topic) are hooks beside
 * its table.
 */
#include "hb_msg.h"
#include "hb_msg_fields.h"
#include "hb_topic.h"
#include "hb_util.h"

#include <assert.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *const severities[] = { "info", "warning", "error", "critical" };
static const char *const states[] = { "unknown", "ok", "degraded", "down" };
static const char *const actions[] = { "deploy", "rollback", "status", "backup",
    "restore", "verify", "drill" };
/* the phases of a deploy that is still going (hb_deploy_phase_final) */
static const char *const busy_phases[] = { "queued", "preflight", "pull",
    "backup", "up", "verify", "rollback", "running", "check", "stop",
    "restore", "drill" };

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

	/* -1 is "not known": null, never a time before 1970 */
	if (wall_ms < 0)
		return json_null();
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

/* ---------------- notify ---------------- */

static const struct field notify_fields[] = {
	{ .name = "text", .type = FT_STRDUP, FIELD(struct hb_notify, text),
	    .flags = F_REQUIRED, .invalid = "\"text\" is missing or empty" },
	{ .name = "title", .type = FT_STRDUP, FIELD(struct hb_notify, title),
	    .out = OUT_SET },
	{ .name = "key", .type = FT_STRDUP, FIELD(struct hb_notify, key),
	    .out = OUT_SET, .max = 256 },
	{ .name = "source", .type = FT_STRDUP, FIELD(struct hb_notify, source),
	    .out = OUT_SET },
};

static const struct msg_type notify_msg = MSG_TYPE(struct hb_notify,
    notify_fields, NULL);

int
hb_notify_decode(const char *payload, size_t len, enum hb_severity sev,
    struct hb_notify *out, char *err, size_t errlen)
{
	if (msg__decode(&notify_msg, payload, len, out, err, errlen) != 0)
		return -1;
	/* P/notify/<severity>: the topic says it, not the payload */
	out->severity = sev;
	return 0;
}

json_t *
hb_notify_encode(const struct hb_notify *n)
{
	return msg__encode(&notify_msg, n);
}

void
hb_notify_free(struct hb_notify *n)
{
	msg__release(&notify_msg, n);
	memset(n, 0, sizeof(*n));
}

/* ---------------- health ---------------- */

static const struct names health_states = { states, HB_ARRAY_LEN(states), 0 };

static const struct field health_fields[] = {
	{ .name = "target", .type = FT_STR, FIELD(struct hb_health_msg, target),
	    .flags = F_REQUIRED },
	{ .name = "state", .type = FT_ENUM, FIELD(struct hb_health_msg, state),
	    .flags = F_REQUIRED, .names = &health_states,
	    .invalid = "\"state\" must be ok, degraded, down or unknown" },
	{ .name = "since", .type = FT_TIME,
	    FIELD(struct hb_health_msg, since_ms) },
	{ .name = "reason", .type = FT_STR, FIELD(struct hb_health_msg, reason) },
	/* facts a reader may use; one that does not read is unknown */
	{ .name = "latency_ms", .type = FT_REAL,
	    FIELD(struct hb_health_msg, latency_ms), .flags = F_LENIENT,
	    .out = OUT_NONNEG, .def = -1 },
	{ .name = "type", .type = FT_STR, FIELD(struct hb_health_msg, type),
	    .flags = F_LENIENT, .out = OUT_SET },
	{ .name = "started", .type = FT_TIME,
	    FIELD(struct hb_health_msg, started_ms), .flags = F_LENIENT,
	    .out = OUT_SET },
};

static const struct msg_type health_msg = MSG_TYPE(struct hb_health_msg,
    health_fields, NULL);

int
hb_health_decode(const char *payload, size_t len, struct hb_health_msg *out,
    char *err, size_t errlen)
{
	return msg__decode(&health_msg, payload, len, out, err, errlen);
}

bool
hb_health_started_since(const struct hb_health_msg *h, int64_t since_ms)
{
	return h->started_ms > 0 && h->started_ms >= since_ms;
}

json_t *
hb_health_encode(const struct hb_health_msg *h)
{
	return msg__encode(&health_msg, h);
}

/* ---------------- heartbeat ---------------- */

/* In the order hb_bus sends them; every one optional on the way in. */
static const struct field heartbeat_fields[] = {
	{ .name = "service", .type = FT_STR, FIELD(struct hb_heartbeat, service),
	    .flags = F_LENIENT },
	{ .name = "instance", .type = FT_STR,
	    FIELD(struct hb_heartbeat, instance), .flags = F_LENIENT },
	{ .name = "version", .type = FT_STR, FIELD(struct hb_heartbeat, version),
	    .flags = F_LENIENT },
	{ .name = "pid", .type = FT_INT, FIELD(struct hb_heartbeat, pid),
	    .flags = F_LENIENT, ANY_INT },
	{ .name = "uptime_s", .type = FT_INT,
	    FIELD(struct hb_heartbeat, uptime_s), .flags = F_LENIENT, ANY_INT },
	{ .name = "rss_kb", .type = FT_INT, FIELD(struct hb_heartbeat, rss_kb),
	    .flags = F_LENIENT, ANY_INT },
	{ .name = "cpu_s", .type = FT_REAL, FIELD(struct hb_heartbeat, cpu_s),
	    .flags = F_LENIENT },
	{ .name = "interval_s", .type = FT_INT,
	    FIELD(struct hb_heartbeat, interval_s), .flags = F_LENIENT, ANY_INT },
	/* the sender's clock, so that a reader can see a clock that is off */
	{ .name = "time", .type = FT_TIME, FIELD(struct hb_heartbeat, time_ms),
	    .flags = F_LENIENT },
};

static const struct msg_type heartbeat_msg = MSG_TYPE(struct hb_heartbeat,
    heartbeat_fields, NULL);

int
hb_heartbeat_decode(const char *payload, size_t len, struct hb_heartbeat *out,
    char *err, size_t errlen)
{
	return msg__decode(&heartbeat_msg, payload, len, out, err, errlen);
}

json_t *
hb_heartbeat_encode(const struct hb_heartbeat *hb)
{
	return msg__encode(&heartbeat_msg, hb);
}

/* ---------------- deploy ---------------- */

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

static bool
service_name_ok(const char *s)
{
	return name_ok(s, 63);
}

/* A SQLite copy's name in a backup folder: no path, no leading dot. */
static bool
file_name_ok(const char *s)
{
	return name_ok(s, HB_DEPLOY_FILE_MAX - 1);
}

bool
hb_deploy_phase_final(const char *phase)
{
	for (size_t i = 0; i < HB_ARRAY_LEN(busy_phases); i++)
		if (strcmp(phase, busy_phases[i]) == 0)
			return false;
	return true;
}

/* An action out of range goes out as "status", which changes nothing. */
static const struct names deploy_actions = { actions, HB_ARRAY_LEN(actions),
    HB_DEPLOY_STATUS };
#define ACTION_INVALID "\"action\" must be deploy, rollback, backup, restore, " \
    "verify, drill or status"

/* What each action takes and refuses. */
static int
check_cmd(const void *msg, char *err, size_t errlen)
{
	const struct hb_deploy_cmd *c = msg;

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
	if (c->backup[0] && ((c->action != HB_DEPLOY_ROLLBACK &&
	    c->action != HB_DEPLOY_RESTORE && c->action != HB_DEPLOY_VERIFY &&
	    c->action != HB_DEPLOY_DRILL) ||
	    !hb_deploy_backup_name_ok(c->backup))) {
		snprintf(err, errlen, "\"backup\" must be a backup folder's name, "
		    "with rollback, restore, verify or drill only");
		return -1;
	}
	if ((c->action == HB_DEPLOY_RESTORE || c->action == HB_DEPLOY_VERIFY) &&
	    c->backup[0] == '\0') {
		snprintf(err, errlen, "a %s needs \"backup\": the backup "
		    "folder's name (homebus backups lists them)",
		    hb_deploy_action_name(c->action));
		return -1;
	}
	if (c->nonly > 0 && c->action != HB_DEPLOY_RESTORE) {
		snprintf(err, errlen, "\"only\" is for restore only");
		return -1;
	}
	if (c->instance[0] && !hb_topic_level_ok(c->instance)) {
		snprintf(err, errlen, "\"instance\" is not a bus instance name");
		return -1;
	}
	return 0;
}

/* The id first: a rejection names it. */
static const struct field deploy_cmd_fields[] = {
	{ .name = "id", .type = FT_STR, FIELD(struct hb_deploy_cmd, id),
	    .flags = F_REQUIRED },
	{ .name = "action", .type = FT_ENUM, FIELD(struct hb_deploy_cmd, action),
	    .flags = F_REQUIRED, .names = &deploy_actions,
	    .invalid = ACTION_INVALID },
	{ .name = "tag", .type = FT_STR, FIELD(struct hb_deploy_cmd, tag),
	    .out = OUT_SET },
	{ .name = "services", .type = FT_NAMES,
	    LIST(struct hb_deploy_cmd, services, nservices), .out = OUT_SET,
	    .valid = service_name_ok, .invalid = "is not a valid service name" },
	{ .name = "instance", .type = FT_STR,
	    FIELD(struct hb_deploy_cmd, instance), .out = OUT_SET },
	{ .name = "backup", .type = FT_STR, FIELD(struct hb_deploy_cmd, backup),
	    .out = OUT_SET },
	{ .name = "only", .type = FT_NAMES,
	    LIST(struct hb_deploy_cmd, only, nonly), .out = OUT_SET,
	    .valid = file_name_ok, .invalid = "is not a SQLite file's name in a "
	    "backup" },
	{ .name = "requested_by", .type = FT_STR,
	    FIELD(struct hb_deploy_cmd, requested_by), .out = OUT_SET },
};

static const struct msg_type deploy_cmd_msg = MSG_TYPE(struct hb_deploy_cmd,
    deploy_cmd_fields, check_cmd);

int
hb_deploy_cmd_decode(const char *payload, size_t len, struct hb_deploy_cmd *out,
    char *err, size_t errlen)
{
	return msg__decode(&deploy_cmd_msg, payload, len, out, err, errlen);
}

json_t *
hb_deploy_cmd_encode(const struct hb_deploy_cmd *c)
{
	return msg__encode(&deploy_cmd_msg, c);
}

/* Step n of m goes out only with an m. */
static bool
has_steps(const void *msg)
{
	return ((const struct hb_deploy_state *)msg)->step_count > 0;
}

#define STATE_STR(m, o) { .name = #m, .type = FT_STR, \
	FIELD(struct hb_deploy_state, m), .out = o }

static const struct field deploy_state_fields[] = {
	STATE_STR(id, OUT_ALWAYS),
	{ .name = "action", .type = FT_ENUM,
	    FIELD(struct hb_deploy_state, action), .flags = F_REQUIRED,
	    .names = &deploy_actions, .invalid = ACTION_INVALID },
	{ .name = "phase", .type = FT_STR, FIELD(struct hb_deploy_state, phase),
	    .flags = F_REQUIRED },
	STATE_STR(from_tag, OUT_ALWAYS),
	STATE_STR(to_tag, OUT_ALWAYS),
	STATE_STR(step, OUT_ALWAYS),
	{ .name = "step_index", .type = FT_INT,
	    FIELD(struct hb_deploy_state, step_index), .min = 0, .max = 100,
	    .out = OUT_WHEN, .when = has_steps },
	{ .name = "step_count", .type = FT_INT,
	    FIELD(struct hb_deploy_state, step_count), .min = 0, .max = 100,
	    .out = OUT_WHEN, .when = has_steps },
	{ .name = "started", .type = FT_TIME,
	    FIELD(struct hb_deploy_state, started_ms) },
	{ .name = "updated", .type = FT_TIME,
	    FIELD(struct hb_deploy_state, updated_ms) },
	STATE_STR(error, OUT_SET),
	STATE_STR(requested_by, OUT_SET),
	STATE_STR(instance, OUT_SET),
	STATE_STR(log_tail, OUT_SET),
	STATE_STR(backup, OUT_SET),
	STATE_STR(restored, OUT_SET),
	STATE_STR(running_tag, OUT_SET),
	STATE_STR(previous_tag, OUT_SET),
};

static const struct msg_type deploy_state_msg = MSG_TYPE(
    struct hb_deploy_state, deploy_state_fields, NULL);

int
hb_deploy_state_decode(const char *payload, size_t len,
    struct hb_deploy_state *out, char *err, size_t errlen)
{
	return msg__decode(&deploy_state_msg, payload, len, out, err, errlen);
}

json_t *
hb_deploy_state_encode(const struct hb_deploy_state *s)
{
	return msg__encode(&deploy_state_msg, s);
}

#define BK_STR(m, o) { .name = #m, .type = FT_STR, \
	FIELD(struct hb_backups_state, m), .out = o }

static const struct field backups_state_fields[] = {
	BK_STR(instance, OUT_SET),
	BK_STR(newest, OUT_ALWAYS),
	{ .name = "newest_at", .type = FT_TIME,
	    FIELD(struct hb_backups_state, newest_ms) },
	BK_STR(drill, OUT_ALWAYS),
	BK_STR(drill_backup, OUT_SET),
	{ .name = "drill_at", .type = FT_TIME,
	    FIELD(struct hb_backups_state, drill_ms) },
	BK_STR(drill_error, OUT_SET),
};

static const struct msg_type backups_state_msg = MSG_TYPE(
    struct hb_backups_state, backups_state_fields, NULL);

int
hb_backups_state_decode(const char *payload, size_t len,
    struct hb_backups_state *out, char *err, size_t errlen)
{
	return msg__decode(&backups_state_msg, payload, len, out, err, errlen);
}

json_t *
hb_backups_state_encode(const struct hb_backups_state *s)
{
	return msg__encode(&backups_state_msg, s);
}

/* P/deploy/available: the tag alone, which the caller keeps. */
struct deploy_available {
	char *tag;
};

#define TAG_INVALID "\"tag\" is missing or not a valid tag"

static const struct field deploy_available_fields[] = {
	{ .name = "tag", .type = FT_STRDUP, FIELD(struct deploy_available, tag),
	    .flags = F_REQUIRED | F_LENIENT, .max = 128,
	    .valid = hb_deploy_tag_ok, .invalid = TAG_INVALID },
};

static const struct msg_type deploy_available_msg = MSG_TYPE(
    struct deploy_available, deploy_available_fields, NULL);

int
hb_deploy_available_decode(const char *payload, size_t len, char *tag,
    size_t taglen, char *err, size_t errlen)
{
	struct deploy_available a;
	int rc = 0;

	tag[0] = '\0';
	if (msg__decode(&deploy_available_msg, payload, len, &a, err, errlen) != 0)
		return -1;
	if (strlen(a.tag) < taglen)
		memcpy(tag, a.tag, strlen(a.tag) + 1);
	else {
		snprintf(err, errlen, "%s", TAG_INVALID);
		rc = -1;
	}
	msg__release(&deploy_available_msg, &a);
	return rc;
}

/* NULL when tag is NULL or not UTF-8: a message without its one field. */
json_t *
hb_deploy_available_encode(const char *tag)
{
	/* the encoder only reads it */
	struct deploy_available a = { .tag = (char *)tag };
	json_t *o;

	if (tag == NULL)
		return NULL;
	o = msg__encode(&deploy_available_msg, &a);
	if (json_object_get(o, "tag") == NULL) {
		json_decref(o);
		return NULL;
	}
	return o;
}

/* ---------------- health check requests ---------------- */

static const struct field health_check_fields[] = {
	/* always a list: an empty one asks for every target */
	{ .name = "targets", .type = FT_NAMES,
	    LIST(struct hb_health_check, targets, ntargets),
	    .invalid = "is not a target name" },
	{ .name = "until", .type = FT_TIME,
	    FIELD(struct hb_health_check, until_ms), .out = OUT_NONNEG,
	    .invalid = "\"until\" is not an ISO 8601 UTC time" },
	{ .name = "interval_s", .type = FT_INT,
	    FIELD(struct hb_health_check, interval_s), .min = 0, .max = 3600,
	    .out = OUT_SET },
	{ .name = "requested_by", .type = FT_STR,
	    FIELD(struct hb_health_check, requested_by), .out = OUT_SET },
};

static const struct msg_type health_check_msg = MSG_TYPE(
    struct hb_health_check, health_check_fields, NULL);

int
hb_health_check_decode(const char *payload, size_t len,
    struct hb_health_check *out, char *err, size_t errlen)
{
	return msg__decode(&health_check_msg, payload, len, out, err, errlen);
}

json_t *
hb_health_check_encode(const struct hb_health_check *c)
{
	return msg__encode(&health_check_msg, c);
}

bool
hb_msg_json_equal(const char *payload, size_t len, const json_t *o)
{
	json_t *found;
	bool equal;

	if (len == 0 || len > HB_MSG_MAX)
		return false;
	found = json_loadb(payload, len, 0, NULL);
	equal = found != NULL && json_equal(found, o);
	json_decref(found);
	return equal;
}
