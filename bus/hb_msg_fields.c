/*
 * hb_msg_fields: the decoder and the encoder that walk a message type's
 * table of fields (hb_msg_fields.h), for hb_msg.c's tables.
 */
#include "hb_msg.h"
#include "hb_msg_fields.h"
#include "hb_util.h"

#include <assert.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Parses payload as a JSON object no larger than HB_MSG_MAX. */
json_t *
msg__load_object(const char *payload, size_t len, char *err, size_t errlen)
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
void
msg__release(const struct msg_type *t, void *msg)
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
int
msg__decode(const struct msg_type *t, const char *payload, size_t len, void *msg,
    char *err, size_t errlen)
{
	json_t *root;

	set_defaults(t, msg);
	if ((root = msg__load_object(payload, len, err, errlen)) == NULL)
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
	msg__release(t, msg);
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
json_t *
msg__encode(const struct msg_type *t, const void *msg)
{
	json_t *o = json_object();

	for (size_t i = 0; i < t->nfields; i++)
		if (present(&t->fields[i], msg))
			json_object_set_new(o, t->fields[i].name,
			    encode_value(&t->fields[i], msg));
	return o;
}
