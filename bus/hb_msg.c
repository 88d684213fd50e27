/*
 * hb_msg: decode and encode the bus's JSON messages. Each message type is
 * a table of its fields, walked by one decoder and one encoder: a row says
 * what a member is, how it travels, its limits, whether it is required and
 * when it is left out. The rules that are a message's own (what a deploy
 * command's action allows, the severity from the topic) are hooks beside
 * its table.
 */
#include "hb_msg.h"
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

/* ---------------- fields ---------------- */

/* What a member of a message struct is, and how it travels. */
enum field_type {
	FT_STR,		/* char[size]: a string */
	FT_STRDUP,	/* char *, owned by the struct: a string; "" reads as
			 * absent (NULL) */
	FT_INT,		/* an integer member of 4 or 8 bytes, in [min, max] */
	FT_ENUM,	/* an enum member: one of names->v on the wire */
	FT_REAL,	/* double: any number */
	FT_TIME,	/* int64_t wall ms: an ISO 8601 UTC string; -1 when absent */
	FT_NAMES,	/* char[max][size] and a size_t count: a list of names */
};

#define F_REQUIRED 0x1	/* absent (or null) is an error */
#define F_LENIENT 0x2	/* a value that does not read counts as absent: a
			 * fact a reader may use, never a reason to refuse
			 * (unless required) */

/* When the encoder writes a field. */
enum field_out {
	OUT_ALWAYS,
	OUT_SET,	/* a string not "", a pointer, a number > 0, a list not empty */
	OUT_NONNEG,	/* a number >= 0 */
	OUT_WHEN,	/* when(msg) says so */
};

struct names {
	const char *const *v;
	size_t n;
	size_t fallback;	/* written for a value out of range */
};

struct field {
	const char *name;		/* the JSON key */
	enum field_type type;
	size_t offset;			/* of the member */
	size_t size;			/* of the member; FT_NAMES: of one name */
	unsigned flags;
	enum field_out out;
	int64_t min, max;		/* FT_INT; FT_NAMES: max names; FT_STRDUP:
					 * max characters, 0 any */
	int64_t def;			/* FT_INT, FT_REAL: when absent */
	size_t count;			/* FT_NAMES: offset of the size_t count */
	const struct names *names;	/* FT_ENUM */
	bool (*valid)(const char *s);	/* a string's own rule (tags, names) */
	bool (*when)(const void *msg);	/* OUT_WHEN */
	/*
	 * The error when the field is required and absent, or not valid (too
	 * long, not one of names, refused by valid, a time that does not
	 * read); NULL: the generic ones, and a time that does not read is -1.
	 * FT_NAMES: what an element that is not a name is not.
	 */
	const char *invalid;
};

/* A member, and its size, for a row: FIELD(struct x, member). */
#define FIELD(st, m) .offset = offsetof(st, m), .size = sizeof(((st *)0)->m)
/* A list member and its count: LIST(struct x, names, nnames). */
#define LIST(st, m, n) .offset = offsetof(st, m), \
	.size = sizeof(((st *)0)->m[0]), .max = HB_ARRAY_LEN(((st *)0)->m), \
	.count = offsetof(st, n)
#define ANY_INT .min = INT64_MIN, .max = INT64_MAX

struct msg_type {
	size_t size;			/* of the struct */
	const struct field *fields;
	size_t nfields;
	/* rules across fields, once every field was read: 0, or -1 with err */
	int (*check)(const void *msg, char *err, size_t errlen);
};

#define MSG_TYPE(st, table, chk) { sizeof(st), table, HB_ARRAY_LEN(table), chk }

static void *
member(void *msg, const struct field *f)
{
	return (char *)msg + f->offset;
}

static const void *
cmember(const void *msg, const struct field *f)
{
	return (const char *)msg + f->offset;
}

/* Integer members are 4 or 8 bytes wide (int, enum, long, int64_t). */
static int64_t
get_int(const void *p, size_t size)
{
	int32_t v32;
	int64_t v64;

	if (size == sizeof(v32)) {
		memcpy(&v32, p, sizeof(v32));
		return v32;
	}
	assert(size == sizeof(v64));
	memcpy(&v64, p, sizeof(v64));
	return v64;
}

/* Stores v; false when it does not fit the member. */
static bool
put_int(void *p, size_t size, int64_t v)
{
	int32_t v32;

	if (size == sizeof(v32)) {
		if (v < INT32_MIN || v > INT32_MAX)
			return false;
		v32 = (int32_t)v;
		memcpy(p, &v32, sizeof(v32));
		return true;
	}
	assert(size == sizeof(v));
	memcpy(p, &v, sizeof(v));
	return true;
}

static char *
get_ptr(const void *p)
{
	char *s;

	memcpy(&s, p, sizeof(s));
	return s;
}

static void
put_ptr(void *p, char *s)
{
	memcpy(p, &s, sizeof(s));
}

static size_t
names_count(const void *msg, const struct field *f)
{
	size_t n;

	memcpy(&n, (const char *)msg + f->count, sizeof(n));
	return n;
}

static double
get_real(const void *p)
{
	double d;

	memcpy(&d, p, sizeof(d));
	return d;
}

static void
put_real(void *p, double d)
{
	memcpy(p, &d, sizeof(d));
}

/* ---------------- the decoder ---------------- */

/* f's own error if it has one, else "\"<name>\" <what>". -1. */
static int
refuse(const struct field *f, const char *what, char *err, size_t errlen)
{
	if (f->invalid)
		snprintf(err, errlen, "%s", f->invalid);
	else
		snprintf(err, errlen, "\"%s\" %s", f->name, what);
	return -1;
}

/* The typed decoders' answer for a lenient field's value that does not read. */
#define AS_ABSENT 1

/* A wrong JSON type: the generic error, or for a lenient field absent. */
static int
wrong_type(const struct field *f, const char *want, char *err, size_t errlen)
{
	if (f->flags & F_LENIENT)
		return AS_ABSENT;
	snprintf(err, errlen, "\"%s\" must be %s", f->name, want);
	return -1;
}

/* A value that does not do: an error, or for a lenient field absent. */
static int
not_valid(const struct field *f, const char *what, char *err, size_t errlen)
{
	if (f->flags & F_LENIENT)
		return AS_ABSENT;
	return refuse(f, what, err, errlen);
}

static int
decode_string(const struct field *f, json_t *v, void *msg, char *err,
    size_t errlen)
{
	const char *s = json_string_value(v);
	size_t len, max = f->type == FT_STR ? f->size - 1 : (size_t)f->max;
	char what[64];

	if (s == NULL)
		return wrong_type(f, "a string", err, errlen);
	len = strlen(s);
	if (f->type == FT_STRDUP && len == 0)
		return AS_ABSENT;
	if ((f->type == FT_STR || max > 0) && len > max) {
		snprintf(what, sizeof(what), "is longer than %zu characters", max);
		return not_valid(f, what, err, errlen);
	}
	if (f->valid && !f->valid(s))
		return not_valid(f, "is not valid", err, errlen);
	if (f->type == FT_STR)
		memcpy(member(msg, f), s, len + 1);
	else
		put_ptr(member(msg, f), hb_xstrdup(s));
	return 0;
}

static int
decode_int(const struct field *f, json_t *v, void *msg, char *err,
    size_t errlen)
{
	json_int_t i = json_integer_value(v);
	char what[96];

	if (json_is_integer(v) && i >= f->min && i <= f->max &&
	    put_int(member(msg, f), f->size, i))
		return 0;
	snprintf(what, sizeof(what), "an integer from %lld to %lld",
	    (long long)f->min, (long long)f->max);
	return wrong_type(f, what, err, errlen);
}

static int
decode_enum(const struct field *f, json_t *v, void *msg, char *err,
    size_t errlen)
{
	const char *s = json_string_value(v);

	if (s == NULL)
		return wrong_type(f, "a string", err, errlen);
	for (size_t i = 0; i < f->names->n; i++)
		if (strcmp(s, f->names->v[i]) == 0) {
			put_int(member(msg, f), f->size, (int64_t)i);
			return 0;
		}
	return not_valid(f, "is not a known value", err, errlen);
}

static int
decode_time(const struct field *f, json_t *v, void *msg, char *err,
    size_t errlen)
{
	const char *s = json_string_value(v);
	int64_t t;

	if (s == NULL)
		return wrong_type(f, "a string", err, errlen);
	t = hb_msg_parse_time(s);
	if (t < 0 && f->invalid)
		return not_valid(f, "is not an ISO 8601 UTC time", err, errlen);
	put_int(member(msg, f), f->size, t);
	return 0;
}

static int
decode_names(const struct field *f, json_t *v, void *msg, char *err,
    size_t errlen)
{
	char *first = member(msg, f), want[64];
	size_t i, n = 0;
	json_t *e;

	snprintf(want, sizeof(want), "a list of at most %lld names",
	    (long long)f->max);
	if (!json_is_array(v) || json_array_size(v) > (size_t)f->max)
		return wrong_type(f, want, err, errlen);
	json_array_foreach(v, i, e) {
		const char *s = json_string_value(e);

		if (s == NULL || *s == '\0' || strlen(s) >= f->size ||
		    (f->valid && !f->valid(s))) {
			snprintf(err, errlen, "\"%s\"[%zu] %s", f->name, i,
			    f->invalid);
			return -1;
		}
		memcpy(first + n++ * f->size, s, strlen(s) + 1);
	}
	memcpy((char *)msg + f->count, &n, sizeof(n));
	return 0;
}

/* The typed decoder of f: 0, AS_ABSENT (nothing stored), or -1 with err. */
static int
decode_value(const struct field *f, json_t *v, void *msg, char *err,
    size_t errlen)
{
	switch (f->type) {
	case FT_STR:
	case FT_STRDUP:
		return decode_string(f, v, msg, err, errlen);
	case FT_INT:
		return decode_int(f, v, msg, err, errlen);
	case FT_ENUM:
		return decode_enum(f, v, msg, err, errlen);
	case FT_REAL:
		if (!json_is_number(v))
			return wrong_type(f, "a number", err, errlen);
		put_real(member(msg, f), json_number_value(v));
		return 0;
	case FT_TIME:
		return decode_time(f, v, msg, err, errlen);
	case FT_NAMES:
		return decode_names(f, v, msg, err, errlen);
	}
	return 0;
}

/* Reads f from root into msg, which holds f's default. 0 or -1 with err. */
static int
decode_field(const struct field *f, json_t *root, void *msg, char *err,
    size_t errlen)
{
	json_t *v = json_object_get(root, f->name);
	int rc = v == NULL || json_is_null(v) ? AS_ABSENT :
	    decode_value(f, v, msg, err, errlen);

	if (rc == AS_ABSENT && (f->flags & F_REQUIRED))
		return refuse(f, "is missing", err, errlen);
	return rc == AS_ABSENT ? 0 : rc;
}

/* Frees what the struct owns (FT_STRDUP members) and clears it. */
static void
release(const struct msg_type *t, void *msg)
{
	for (size_t i = 0; i < t->nfields; i++) {
		const struct field *f = &t->fields[i];

		if (f->type == FT_STRDUP) {
			free(get_ptr(member(msg, f)));
			put_ptr(member(msg, f), NULL);
		}
	}
}

#ifndef NDEBUG
/* A row that does not fit its member is a bug in the table. */
static bool
row_fits(const struct field *f)
{
	switch (f->type) {
	case FT_STR:
		return f->size > 1;
	case FT_STRDUP:
		return f->size == sizeof(char *) && f->max >= 0;
	case FT_INT:
	case FT_ENUM:
		return (f->size == 4 || f->size == 8) &&
		    (f->type == FT_INT ? f->min <= f->max : f->names != NULL);
	case FT_REAL:
		return f->size == sizeof(double);
	case FT_TIME:
		return f->size == sizeof(int64_t);
	case FT_NAMES:
		return f->size > 1 && f->max > 0 && f->invalid != NULL;
	}
	return false;
}
#endif

/* Every member at its default: zero, but times -1 and the rows' def. */
static void
set_defaults(const struct msg_type *t, void *msg)
{
	memset(msg, 0, t->size);
	for (size_t i = 0; i < t->nfields; i++) {
		const struct field *f = &t->fields[i];

		assert(row_fits(f));
		assert(f->out != OUT_WHEN || f->when != NULL);
		if (f->type == FT_TIME)
			put_int(member(msg, f), f->size, -1);
		else if (f->type == FT_INT && f->def)
			put_int(member(msg, f), f->size, f->def);
		else if (f->type == FT_REAL && f->def)
			put_real(member(msg, f), (double)f->def);
	}
}

/*
 * The one decoder: payload read as t into msg, field by field in the
 * table's order (the first error wins), then t's own rules. On error msg
 * keeps what was read before it (a command's id), owning nothing.
 */
static int
decode(const struct msg_type *t, const char *payload, size_t len, void *msg,
    char *err, size_t errlen)
{
	json_t *root;

	set_defaults(t, msg);
	if ((root = load_object(payload, len, err, errlen)) == NULL)
		return -1;
	for (size_t i = 0; i < t->nfields; i++)
		if (decode_field(&t->fields[i], root, msg, err, errlen) != 0)
			goto err;
	if (t->check && t->check(msg, err, errlen) != 0)
		goto err;
	json_decref(root);
	return 0;
err:
	json_decref(root);
	release(t, msg);
	return -1;
}

/* ---------------- the encoder ---------------- */

static bool
present(const struct field *f, const void *msg)
{
	const void *p = cmember(msg, f);
	int64_t n = 0;
	double d;

	switch (f->out) {
	case OUT_ALWAYS:
		return true;
	case OUT_WHEN:
		return f->when(msg);
	case OUT_SET:
	case OUT_NONNEG:
		break;
	}
	switch (f->type) {
	case FT_STR:
		return *(const char *)p != '\0';
	case FT_STRDUP:
		return get_ptr(p) != NULL;
	case FT_NAMES:
		return names_count(msg, f) > 0;
	case FT_REAL:
		d = get_real(p);
		return f->out == OUT_SET ? d > 0 : d >= 0;
	case FT_INT:
	case FT_ENUM:
	case FT_TIME:
		n = get_int(p, f->size);
		break;
	}
	return f->out == OUT_SET ? n > 0 : n >= 0;
}

static json_t *
encode_value(const struct field *f, const void *msg)
{
	const void *p = cmember(msg, f);
	const char *s;
	size_t n;
	int64_t i;
	json_t *a;

	switch (f->type) {
	case FT_STR:
		return json_string(p);
	case FT_STRDUP:
		s = get_ptr(p);
		return json_string(s ? s : "");
	case FT_INT:
		return json_integer(get_int(p, f->size));
	case FT_ENUM:
		i = get_int(p, f->size);
		return json_string(f->names->v[i >= 0 && (size_t)i < f->names->n ?
		    (size_t)i : f->names->fallback]);
	case FT_REAL:
		return json_real(get_real(p));
	case FT_TIME:
		return hb_msg_time(get_int(p, f->size));
	case FT_NAMES:
		n = names_count(msg, f);
		a = json_array();
		for (size_t k = 0; k < n && k < (size_t)f->max; k++)
			json_array_append_new(a, json_string((const char *)p +
			    k * f->size));
		return a;
	}
	return NULL;
}

/* The one encoder: the fields of t that msg has, in the table's order. */
static json_t *
encode(const struct msg_type *t, const void *msg)
{
	json_t *o = json_object();

	for (size_t i = 0; i < t->nfields; i++)
		if (present(&t->fields[i], msg))
			json_object_set_new(o, t->fields[i].name,
			    encode_value(&t->fields[i], msg));
	return o;
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
	if (decode(&notify_msg, payload, len, out, err, errlen) != 0)
		return -1;
	/* P/notify/<severity>: the topic says it, not the payload */
	out->severity = sev;
	return 0;
}

json_t *
hb_notify_encode(const struct hb_notify *n)
{
	return encode(&notify_msg, n);
}

void
hb_notify_free(struct hb_notify *n)
{
	release(&notify_msg, n);
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
	return decode(&health_msg, payload, len, out, err, errlen);
}

json_t *
hb_health_encode(const struct hb_health_msg *h)
{
	return encode(&health_msg, h);
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
	return decode(&heartbeat_msg, payload, len, out, err, errlen);
}

json_t *
hb_heartbeat_encode(const struct hb_heartbeat *hb)
{
	return encode(&heartbeat_msg, hb);
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
#define ACTION_INVALID "\"action\" must be deploy, rollback, backup or status"

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
	{ .name = "requested_by", .type = FT_STR,
	    FIELD(struct hb_deploy_cmd, requested_by), .out = OUT_SET },
};

static const struct msg_type deploy_cmd_msg = MSG_TYPE(struct hb_deploy_cmd,
    deploy_cmd_fields, check_cmd);

int
hb_deploy_cmd_decode(const char *payload, size_t len, struct hb_deploy_cmd *out,
    char *err, size_t errlen)
{
	return decode(&deploy_cmd_msg, payload, len, out, err, errlen);
}

json_t *
hb_deploy_cmd_encode(const struct hb_deploy_cmd *c)
{
	return encode(&deploy_cmd_msg, c);
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
	STATE_STR(running_tag, OUT_SET),
	STATE_STR(previous_tag, OUT_SET),
};

static const struct msg_type deploy_state_msg = MSG_TYPE(
    struct hb_deploy_state, deploy_state_fields, NULL);

int
hb_deploy_state_decode(const char *payload, size_t len,
    struct hb_deploy_state *out, char *err, size_t errlen)
{
	return decode(&deploy_state_msg, payload, len, out, err, errlen);
}

json_t *
hb_deploy_state_encode(const struct hb_deploy_state *s)
{
	return encode(&deploy_state_msg, s);
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
	if (decode(&deploy_available_msg, payload, len, &a, err, errlen) != 0)
		return -1;
	if (strlen(a.tag) < taglen)
		memcpy(tag, a.tag, strlen(a.tag) + 1);
	else {
		snprintf(err, errlen, "%s", TAG_INVALID);
		rc = -1;
	}
	release(&deploy_available_msg, &a);
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
	o = encode(&deploy_available_msg, &a);
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
	return decode(&health_check_msg, payload, len, out, err, errlen);
}

json_t *
hb_health_check_encode(const struct hb_health_check *c)
{
	return encode(&health_check_msg, c);
}
