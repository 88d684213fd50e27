/*
 * convert: json, value, ha_statestream and influx messages into points.
 *
 * ha_statestream follows Home Assistant's own InfluxDB integration
 * (homeassistant/components/influxdb, event_to_json) so that dashboards
 * built on it keep working:
 *  - states "unknown", "unavailable" and "" make no point;
 *  - a state that float() reads gives field value; one that
 *    state_as_number() maps (on, locked, above_horizon, open, home -> 1;
 *    off, unlocked, unknown, below_horizon, closed, not_home -> 0) gives
 *    value and the string field state; anything else gives state only;
 *  - measurement: the unit_of_measurement attribute, else the entity id;
 *  - tags domain and entity_id (the object id, without the domain);
 *  - every other attribute a field: a number as float, else <key>_str as a
 *    string (and <key> as float when the text holds one number, "12.5 kWh").
 */
#include "convert.h"
#include "jsonscan.h"
#include "hb_lp.h"

#include <ctype.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* ---------------- Home Assistant attribute cache ---------------- */

struct ha_cache {
	json_t *entities;	/* "domain.object_id" -> { attribute: value } */
	size_t max;
};

struct ha_cache *
hb_ha_cache_new(size_t max_entities)
{
	struct ha_cache *c = hb_xcalloc(1, sizeof(*c));

	c->entities = json_object();
	c->max = max_entities;
	return c;
}

void
hb_ha_cache_free(struct ha_cache *c)
{
	if (c == NULL)
		return;
	json_decref(c->entities);
	free(c);
}

size_t
hb_ha_cache_size(const struct ha_cache *c)
{
	return json_object_size(c->entities);
}

/* ---------------- building one point ---------------- */

struct point {
	struct hb_buf meas;
	struct hb_buf tags;	/* ",k=v,..." */
	struct hb_buf fields;	/* "k=v,..." */
	int nfields;
	int64_t time_ns;
	int skipped;
	bool bad;		/* a tag could not be encoded: no point */
	json_t *names;		/* field names so far: a name is written once */
};

static void
point_free(struct point *p)
{
	hb_buf_free(&p->meas);
	hb_buf_free(&p->tags);
	hb_buf_free(&p->fields);
	json_decref(p->names);
}

/* Shortens b to len (a buffer never written to has no data yet). */
static void
buf_cut(struct hb_buf *b, size_t len)
{
	b->len = len;
	if (b->data)
		b->data[len] = '\0';
}

static bool
has_field(const struct point *p, const char *k)
{
	return p->names && json_object_get(p->names, k) != NULL;
}

/*
 * Adds a tag. One that line protocol cannot carry (an empty value, a
 * newline, the key "time") spoils the point when the rule names it
 * (required: the series would change), and is skipped and counted when it
 * comes from the payload (strings: tag, tag_keys), like a field would be.
 */
static void
point_tag(struct point *p, const char *k, const char *v, size_t vlen,
    bool required)
{
	size_t mark = p->tags.len;

	hb_buf_putc(&p->tags, ',');
	if (hb_lp_put_key(&p->tags, k, strlen(k)) != 0 ||
	    (hb_buf_putc(&p->tags, '='), hb_lp_put_key(&p->tags, v, vlen)) != 0) {
		buf_cut(&p->tags, mark);
		if (required)
			p->bad = true;
		else
			p->skipped++;
	}
}

/*
 * Starts a field "k=". False, with nothing written, when k cannot be encoded
 * or the point has a field of that name already (flattening {"a_b":1,
 * "a":{"b":2}} makes two): InfluxDB would keep only one of them anyway.
 */
static bool
field_key(struct point *p, const char *k)
{
	size_t mark = p->fields.len;

	if (p->names == NULL)
		p->names = json_object();
	if (has_field(p, k)) {
		p->skipped++;
		return false;
	}
	json_object_set_new(p->names, k, json_true());
	if (p->nfields)
		hb_buf_putc(&p->fields, ',');
	if (hb_lp_put_key(&p->fields, k, strlen(k)) != 0) {
		buf_cut(&p->fields, mark);
		p->skipped++;
		return false;
	}
	hb_buf_putc(&p->fields, '=');
	return true;
}

static void
field_float(struct point *p, const char *k, double v)
{
	size_t mark = p->fields.len;

	if (!isfinite(v)) {
		p->skipped++;
		return;
	}
	if (!field_key(p, k))
		return;
	if (hb_lp_put_float(&p->fields, v) != 0) {
		buf_cut(&p->fields, mark);
		p->skipped++;
		return;
	}
	p->nfields++;
}

static void
field_int(struct point *p, const char *k, double v)
{
	if (!isfinite(v) || v > 9.2e18 || v < -9.2e18) {
		p->skipped++;
		return;
	}
	if (!field_key(p, k))
		return;
	hb_lp_put_int(&p->fields, (int64_t)llround(v));
	p->nfields++;
}

static void
field_bool(struct point *p, const char *k, bool v)
{
	if (!field_key(p, k))
		return;
	hb_buf_puts(&p->fields, v ? "true" : "false");
	p->nfields++;
}

static void
field_string(struct point *p, const char *k, const char *v, size_t n)
{
	size_t mark = p->fields.len;

	if (!field_key(p, k))
		return;
	if (hb_lp_put_string(&p->fields, v, n) != 0) {
		buf_cut(&p->fields, mark);
		p->skipped++;
		return;
	}
	p->nfields++;
}

/* Appends the finished point; false if it cannot be written. */
static bool
point_emit(struct point *p, struct convert_out *out)
{
	size_t mark = out->lines.len;

	if (p->bad || p->nfields == 0)
		return false;
	if (hb_lp_put_measurement(&out->lines, p->meas.data ? p->meas.data : "",
	    p->meas.len) != 0)
		return false;
	hb_buf_append(&out->lines, p->tags.data ? p->tags.data : "", p->tags.len);
	hb_buf_putc(&out->lines, ' ');
	hb_buf_append(&out->lines, p->fields.data, p->fields.len);
	hb_buf_putc(&out->lines, ' ');
	hb_buf_put_i64(&out->lines, p->time_ns);
	hb_buf_putc(&out->lines, '\n');
	if (out->lines.len - mark > 65536) {
		buf_cut(&out->lines, mark);
		return false;
	}
	out->points++;
	return true;
}

static int
fail(struct convert_out *out, enum rule_error e, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int
fail(struct convert_out *out, enum rule_error e, const char *fmt, ...)
{
	va_list ap;

	out->error = e;
	va_start(ap, fmt);
	vsnprintf(out->why, sizeof(out->why), fmt, ap);
	va_end(ap);
	return -1;
}

/* Measurement and the rule's tags, from templates. */
static int
point_start(struct point *p, const struct convert_in *in, const char *def_meas,
    struct convert_out *out)
{
	const struct rule *r = in->rule;

	p->time_ns = in->now_ns;
	if (r->measurement.text) {
		if (hb_rule_expand(&r->measurement, in->caps, in->caplen, in->ncaps,
		    &p->meas) != 0)
			return fail(out, ERR_UNENCODABLE, "measurement template");
	} else if (def_meas)
		hb_buf_puts(&p->meas, def_meas);
	if (p->meas.len == 0)
		return fail(out, ERR_UNENCODABLE, "empty measurement");
	for (size_t i = 0; i < r->ntags; i++) {
		struct hb_buf v = { 0 };

		if (hb_rule_expand(&r->tags[i].value, in->caps, in->caplen, in->ncaps,
		    &v) != 0 || v.len == 0) {
			hb_buf_free(&v);
			continue;	/* an empty topic level: no tag */
		}
		point_tag(p, r->tags[i].key, v.data, v.len, true);
		hb_buf_free(&v);
	}
	return 0;
}

/* ---------------- timestamps ---------------- */

int64_t
hb_epoch_to_ns(double v)
{
	double a = fabs(v), ns;

	if (!isfinite(v) || v < 0)
		return -1;
	if (a < 1e11)
		ns = v * 1e9;	/* seconds */
	else if (a < 1e14)
		ns = v * 1e6;	/* milliseconds */
	else if (a < 1e17)
		ns = v * 1e3;	/* microseconds */
	else
		ns = v;		/* nanoseconds */
	/* InfluxDB's last instant, 2262-04-11T23:47:16Z */
	if (ns >= 9223372036854775807.0 - 1e9)
		return -1;
	return (int64_t)ns;
}

int64_t
hb_parse_timestamp(const char *s, bool local)
{
	struct tm tm;
	int n = 0, off_sign = 0, oh = 0, om = 0;
	int64_t frac_ns = 0, secs;
	double num;
	char *end;

	while (isspace((unsigned char)*s))
		s++;
	num = strtod(s, &end);
	if (end != s && *end == '\0')
		return hb_epoch_to_ns(num);
	memset(&tm, 0, sizeof(tm));
	if (sscanf(s, "%4d-%2d-%2d%*1[T ]%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon,
	    &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &n) != 6)
		return -1;
	s += n;
	if (*s == '.' || *s == ',') {
		int64_t scale = 100000000;

		for (s++; isdigit((unsigned char)*s); s++) {
			frac_ns += (*s - '0') * scale;
			scale /= 10;
		}
	}
	if (*s == 'Z' || *s == 'z') {
		off_sign = 1;
		s++;
	} else if (*s == '+' || *s == '-') {
		int k = 0;

		off_sign = *s == '+' ? 1 : -1;
		if (sscanf(s + 1, "%2d%n", &oh, &k) != 1)
			return -1;
		s += 1 + k;
		if (*s == ':')
			s++;
		if (isdigit((unsigned char)*s)) {
			if (sscanf(s, "%2d%n", &om, &k) != 1)
				return -1;
			s += k;
		}
	}
	if (*s != '\0' || tm.tm_mon < 1 || tm.tm_mon > 12 || tm.tm_mday < 1 ||
	    tm.tm_mday > 31 || tm.tm_hour > 23 || tm.tm_min > 59 || tm.tm_sec > 60 ||
	    tm.tm_year < 1970 || tm.tm_year > 2262)
		return -1;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	if (off_sign == 0 && local) {
		tm.tm_isdst = -1;
		secs = (int64_t)mktime(&tm);
	} else {
		secs = (int64_t)timegm(&tm);
		if (off_sign)
			secs -= off_sign * (oh * 3600 + om * 60);
	}
	if (secs < 0 || secs >= INT64_MAX / 1000000000 - 1)
		return -1;	/* before 1970 or after 2262-04-11 */
	return secs * 1000000000 + frac_ns;
}

/* ---------------- json ---------------- */

struct flatten {
	const struct convert_in *in;
	struct point *p;
	struct hb_buf name;	/* the flattened name of the value at hand */
	struct hb_buf text;	/* a string value, decoded */
};

static bool
wanted(const struct rule *r, const char *name)
{
	if (r->include.n && !hb_rule_list_match(&r->include, name))
		return false;
	return !hb_rule_list_match(&r->exclude, name);
}

/* The rule's timestamp key at the top level: the point's time if readable. */
static int
scan_time(struct flatten *f, struct js *s)
{
	const struct rule *r = f->in->rule;
	enum js_kind k = js_peek(s);
	int64_t t = -1;

	if (k == JS_STRING) {
		hb_buf_reset(&f->text);
		if (js_string(s, &f->text) != 0)
			return -1;
		t = hb_parse_timestamp(f->text.data, r->timestamp_local);
	} else if (k == JS_NUMBER) {
		const char *text;
		size_t len;
		double v;

		if (js_number(s, &text, &len, &v) != 0)
			return -1;
		t = hb_epoch_to_ns(v);
	} else if (js_skip(s) != 0)
		return -1;
	if (t > 0)
		f->p->time_ns = t;
	else
		f->p->skipped++;	/* an unreadable time: arrival time */
	return 0;
}

/*
 * Reads one value at s and puts what the rule wants of it into the point,
 * under the flattened name in f->name. 0, or -1 when the text is not JSON.
 */
static int
scan_value(struct flatten *f, struct js *s, int depth)
{
	const struct rule *r = f->in->rule;
	size_t base = f->name.len;
	enum js_kind k = js_peek(s);
	const char *name, *text = NULL;
	size_t len = 0;
	double num = 0;
	int rc;

	if (k == JS_OBJECT) {
		bool first = true;

		if (js_open(s) != 0)
			return -1;
		for (;;) {
			if (base)
				hb_buf_putc(&f->name, r->separator);
			rc = js_next(s, true, first, &f->name);
			if (rc != 1)
				break;
			first = false;
			if (depth == 0 && r->timestamp_key &&
			    strcmp(f->name.data, r->timestamp_key) == 0)
				rc = scan_time(f, s);
			else if (depth >= 16) {
				f->p->skipped++;
				rc = js_skip(s);
			} else
				rc = scan_value(f, s, depth + 1);
			buf_cut(&f->name, base);
			if (rc != 0)
				break;
		}
		buf_cut(&f->name, base);
		return rc;
	}
	name = f->name.data ? f->name.data : "";
	switch (k) {
	case JS_ARRAY:
		if (r->arrays == ARR_STRING && base && wanted(r, name)) {
			hb_buf_reset(&f->text);
			if (js_copy(s, &f->text) != 0)
				return -1;
			field_string(f->p, name, f->text.data, f->text.len);
			return 0;
		}
		return js_skip(s);
	case JS_NULL:
		return js_literal(s);
	case JS_STRING:
		hb_buf_reset(&f->text);
		if (js_string(s, &f->text) != 0)
			return -1;
		text = f->text.data;
		len = f->text.len;
		break;
	case JS_NUMBER:
		if (js_number(s, &text, &len, &num) != 0)
			return -1;
		break;
	case JS_TRUE:
	case JS_FALSE:
		text = s->p;
		if (js_literal(s) != 0)
			return -1;
		len = (size_t)(s->p - text);
		break;
	default:
		return js_skip(s);	/* says what is wrong */
	}
	if (hb_rule_list_has(&r->tag_keys, name)) {
		point_tag(f->p, name, text, len, false);
		return 0;
	}
	if (!wanted(r, name))
		return 0;
	switch (k) {
	case JS_NUMBER:
		if (hb_rule_list_has(&r->integers, name))
			field_int(f->p, name, num);
		else
			field_float(f->p, name, num);
		break;
	case JS_TRUE:
	case JS_FALSE:
		field_bool(f->p, name, k == JS_TRUE);
		break;
	case JS_STRING:
		if (r->strings == STR_TAG)
			point_tag(f->p, name, text, len, false);
		else if (r->strings == STR_FIELD)
			field_string(f->p, name, text, len);
		break;
	default:
		break;
	}
	return 0;
}

static int
convert_json(const struct convert_in *in, struct convert_out *out)
{
	struct point p = { 0 };
	struct flatten f = { in, &p, { 0 }, { 0 } };
	struct js s;
	int rc;

	js_init(&s, in->payload, in->len);
	if (js_peek(&s) != JS_OBJECT) {
		if (js_skip(&s) != 0)
			return fail(out, ERR_NOT_JSON, "not JSON: %s", s.err);
		return fail(out, ERR_WRONG_TYPE, "a JSON object was expected");
	}
	if (point_start(&p, in, NULL, out) != 0) {
		rc = -1;
		goto done;
	}
	if (scan_value(&f, &s, 0) != 0 || !js_at_end(&s)) {
		rc = fail(out, ERR_NOT_JSON, "not JSON: %s", s.err[0] ? s.err :
		    "text after the object");
		goto done;
	}
	if (p.bad)
		rc = fail(out, ERR_UNENCODABLE, "a tag line protocol cannot carry "
		    "(empty, a newline, or a trailing backslash)");
	else if (p.nfields == 0)
		rc = fail(out, ERR_NO_FIELDS, "no field left to write");
	else if (!point_emit(&p, out))
		rc = fail(out, ERR_UNENCODABLE, "measurement or point not encodable");
	else
		rc = out->points;
	out->skipped_fields += p.skipped;
done:
	hb_buf_free(&f.name);
	hb_buf_free(&f.text);
	point_free(&p);
	return rc;
}

/* ---------------- value ---------------- */

/* A number the way a person writes it; rejects hex, inf, nan, "1e". */
static bool
parse_number(const char *s, size_t n, double *out)
{
	char tmp[64];
	char *end;
	size_t k = 0, digits = 0;

	while (n && isspace((unsigned char)*s)) {
		s++;
		n--;
	}
	while (n && isspace((unsigned char)s[n - 1]))
		n--;
	if (n == 0 || n >= sizeof(tmp))
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (c == '_' && i > 0 && i + 1 < n && isdigit((unsigned char)s[i - 1]) &&
		    isdigit((unsigned char)s[i + 1]))
			continue;	/* Python's float() takes 1_000 */
		if (!(isdigit((unsigned char)c) || c == '.' || c == '-' || c == '+' ||
		    c == 'e' || c == 'E'))
			return false;
		digits += isdigit((unsigned char)c) != 0;
		tmp[k++] = c;
	}
	tmp[k] = '\0';
	if (digits == 0)
		return false;
	*out = strtod(tmp, &end);
	return *end == '\0' && isfinite(*out);
}

static int
convert_value(const struct convert_in *in, struct convert_out *out)
{
	const struct rule *r = in->rule;
	struct point p = { 0 };
	const char *s = in->payload;
	size_t n = in->len;
	double num;
	int rc;

	if (point_start(&p, in, NULL, out) != 0) {
		point_free(&p);
		return -1;
	}
	while (n && isspace((unsigned char)*s)) {
		s++;
		n--;
	}
	while (n && isspace((unsigned char)s[n - 1]))
		n--;
	if (parse_number(s, n, &num)) {
		if (hb_rule_list_has(&r->integers, r->field))
			field_int(&p, r->field, num);
		else
			field_float(&p, r->field, num);
	} else if ((n == 2 && strncasecmp(s, "on", 2) == 0) ||
	    (n == 4 && strncasecmp(s, "true", 4) == 0))
		field_bool(&p, r->field, true);
	else if ((n == 3 && strncasecmp(s, "off", 3) == 0) ||
	    (n == 5 && strncasecmp(s, "false", 5) == 0))
		field_bool(&p, r->field, false);
	else if (n == 0) {
		point_free(&p);
		return fail(out, ERR_WRONG_TYPE, "empty payload");
	} else
		field_string(&p, r->field, s, n);
	if (p.bad)
		rc = fail(out, ERR_UNENCODABLE, "a tag line protocol cannot carry");
	else if (p.nfields == 0)
		rc = fail(out, ERR_UNENCODABLE, "the value cannot be written");
	else if (!point_emit(&p, out))
		rc = fail(out, ERR_UNENCODABLE, "measurement not encodable");
	else
		rc = out->points;
	point_free(&p);
	return rc;
}

/* ---------------- ha_statestream ---------------- */

/* Home Assistant's state_as_number(): 1, 0, or -1 when it has no number. */
static int
state_as_number(const char *s)
{
	static const char *const one[] = { "on", "locked", "above_horizon", "open",
	    "home" };
	static const char *const zero[] = { "off", "unlocked", "unknown",
	    "below_horizon", "closed", "not_home" };

	for (size_t i = 0; i < HB_ARRAY_LEN(one); i++)
		if (strcmp(s, one[i]) == 0)
			return 1;
	for (size_t i = 0; i < HB_ARRAY_LEN(zero); i++)
		if (strcmp(s, zero[i]) == 0)
			return 0;
	return -1;
}

/*
 * HA's RE_DIGIT_TAIL, ^[^.]*\d+\.?\d+[^.]*$: two digits in a row, or digits
 * on both sides of the only dot. Then the value is the text with everything
 * but digits and dots removed (RE_DECIMAL), read by float().
 */
static bool
digit_tail(const char *s, double *out)
{
	char tmp[64];
	size_t k = 0, dots = 0;
	bool pair = false, dot_ok = false;

	for (const char *p = s; *p; p++) {
		if (*p == '.') {
			dots++;
			dot_ok = p > s && isdigit((unsigned char)p[-1]) &&
			    isdigit((unsigned char)p[1]);
		}
		if (isdigit((unsigned char)p[0]) && isdigit((unsigned char)p[1]))
			pair = true;
	}
	if (dots > 1 || (dots == 1 && !dot_ok) || (dots == 0 && !pair))
		return false;
	for (const char *p = s; *p; p++) {
		if (!isdigit((unsigned char)*p) && *p != '.')
			continue;
		if (k + 1 >= sizeof(tmp))
			return false;
		tmp[k++] = *p;
	}
	tmp[k] = '\0';
	return parse_number(tmp, k, out);
}

/* Python's float() also reads these; HA then drops the non-finite value. */
static bool
python_nonfinite(const char *s, size_t n)
{
	static const char *const words[] = { "nan", "inf", "infinity" };
	char w[16];
	size_t k = 0;

	while (n && isspace((unsigned char)*s)) {
		s++;
		n--;
	}
	while (n && isspace((unsigned char)s[n - 1]))
		n--;
	if (n && (*s == '+' || *s == '-')) {
		s++;
		n--;
	}
	if (n == 0 || n >= sizeof(w))
		return false;
	for (; k < n; k++)
		w[k] = (char)tolower((unsigned char)s[k]);
	w[k] = '\0';
	for (size_t i = 0; i < HB_ARRAY_LEN(words); i++)
		if (strcmp(w, words[i]) == 0)
			return true;
	return false;
}

/* A float as Python's repr() writes it: "1.0", "0.25", "1e+16", "nan". */
static void
python_float(struct hb_buf *b, double v)
{
	char s[40];

	if (hb_fmt_double(v, s, sizeof(s)) < 0) {
		hb_buf_puts(b, isnan(v) ? "nan" : v > 0 ? "inf" : "-inf");
		return;
	}
	hb_buf_puts(b, s);
	if (strpbrk(s, ".e") == NULL)
		hb_buf_puts(b, ".0");
}

/* A string as Python's repr() writes it (quotes chosen the same way). */
static void
python_string_repr(struct hb_buf *b, const char *s, size_t n)
{
	char q = memchr(s, '\'', n) && !memchr(s, '"', n) ? '"' : '\'';

	hb_buf_putc(b, q);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '\\' || c == (unsigned char)q) {
			hb_buf_putc(b, '\\');
			hb_buf_putc(b, (char)c);
		} else if (c == '\n')
			hb_buf_puts(b, "\\n");
		else if (c == '\r')
			hb_buf_puts(b, "\\r");
		else if (c == '\t')
			hb_buf_puts(b, "\\t");
		else if (c < 0x20 || c == 0x7f)
			hb_buf_printf(b, "\\x%02x", c);
		else
			hb_buf_putc(b, (char)c);
	}
	hb_buf_putc(b, q);
}

/*
 * What HA's str(value) makes of an attribute that float() refuses: the text
 * itself for a string, Python's repr for lists and dicts (from the JSON that
 * mqtt_statestream published).
 */
static void
python_str(struct hb_buf *b, json_t *v, bool top, int depth)
{
	const char *k;
	json_t *child;
	size_t i;

	if (depth > 32) {
		hb_buf_puts(b, "...");
		return;
	}
	switch (json_typeof(v)) {
	case JSON_STRING:
		if (top)
			hb_buf_append(b, json_string_value(v), json_string_length(v));
		else
			python_string_repr(b, json_string_value(v), json_string_length(v));
		break;
	case JSON_INTEGER:
		hb_buf_put_i64(b, (int64_t)json_integer_value(v));
		break;
	case JSON_REAL:
		python_float(b, json_real_value(v));
		break;
	case JSON_TRUE:
		hb_buf_puts(b, "True");
		break;
	case JSON_FALSE:
		hb_buf_puts(b, "False");
		break;
	case JSON_NULL:
		hb_buf_puts(b, "None");
		break;
	case JSON_ARRAY:
		hb_buf_putc(b, '[');
		json_array_foreach(v, i, child) {
			if (i)
				hb_buf_puts(b, ", ");
			python_str(b, child, false, depth + 1);
		}
		hb_buf_putc(b, ']');
		break;
	case JSON_OBJECT:
		i = 0;
		hb_buf_putc(b, '{');
		json_object_foreach(v, k, child) {
			if (i++)
				hb_buf_puts(b, ", ");
			python_string_repr(b, k, strlen(k));
			hb_buf_puts(b, ": ");
			python_str(b, child, false, depth + 1);
		}
		hb_buf_putc(b, '}');
		break;
	}
}

/* An attribute whose name the point has already is renamed "<name>_", as
 * HA does ("value" and "state" are the usual ones). */
static void
attribute_field(struct point *p, const char *key, json_t *v)
{
	char name[300], strname[320];
	struct hb_buf text = { 0 };
	double num;

	snprintf(name, sizeof(name), "%s%s", key, has_field(p, key) ? "_" : "");
	if (json_is_number(v)) {
		field_float(p, name, json_number_value(v));
		return;
	}
	if (json_is_boolean(v)) {
		field_float(p, name, json_is_true(v) ? 1.0 : 0.0);	/* float(True) */
		return;
	}
	if (json_is_string(v)) {
		const char *s = json_string_value(v);
		size_t n = json_string_length(v);

		if (parse_number(s, n, &num)) {
			field_float(p, name, num);
			return;
		}
		if (python_nonfinite(s, n))
			return;		/* float() reads it, HA drops it */
	}
	snprintf(strname, sizeof(strname), "%s_str", name);
	python_str(&text, v, true, 0);
	field_string(p, strname, text.data ? text.data : "", text.len);
	if (json_is_string(v) && digit_tail(json_string_value(v), &num))
		field_float(p, name, num);
	hb_buf_free(&text);
}

static int
convert_ha(struct ha_cache *ha, const struct convert_in *in,
    struct convert_out *out)
{
	const struct rule *r = in->rule;
	const char *levels[4] = { NULL };
	size_t lens[4] = { 0 }, nlev = 0;
	const char *end = in->topic + strlen(in->topic), *q = end;
	char entity[300], domain[128], object[160], leaf[128];
	json_t *attrs, *unit;
	struct point p = { 0 };
	const char *meas;
	double num;
	int sn, rc;

	/* <base>/<domain>/<object_id>/<leaf>: the last three levels */
	while (nlev < 3) {
		const char *slash = q > in->topic ? memrchr(in->topic, '/',
		    (size_t)(q - in->topic)) : NULL;
		const char *start = slash ? slash + 1 : in->topic;

		levels[nlev] = start;
		lens[nlev] = (size_t)(q - start);
		nlev++;
		if (slash == NULL)
			break;
		q = slash;
	}
	if (nlev < 3 || lens[0] == 0 || lens[1] == 0 || lens[2] == 0 ||
	    lens[0] >= sizeof(leaf) || lens[1] >= sizeof(object) ||
	    lens[2] >= sizeof(domain))
		return fail(out, ERR_WRONG_TYPE, "not <base>/<domain>/<object_id>/<leaf>");
	memcpy(leaf, levels[0], lens[0]);
	leaf[lens[0]] = '\0';
	memcpy(object, levels[1], lens[1]);
	object[lens[1]] = '\0';
	memcpy(domain, levels[2], lens[2]);
	domain[lens[2]] = '\0';
	snprintf(entity, sizeof(entity), "%s.%s", domain, object);
	attrs = json_object_get(ha->entities, entity);

	if (strcmp(leaf, "state") != 0) {
		json_t *v;

		/* an attribute, JSON-encoded; times are not attributes to HA's
		 * InfluxDB integration */
		if (strcmp(leaf, "last_changed") == 0 || strcmp(leaf, "last_updated") == 0 ||
		    strcmp(leaf, "last_reported") == 0)
			return 0;
		v = json_loadb(in->payload, in->len, JSON_DECODE_ANY, NULL);
		if (v == NULL)
			v = json_stringn(in->payload, in->len);
		if (v == NULL)
			return fail(out, ERR_BAD_UTF8, "attribute %s is not text", leaf);
		if (attrs == NULL) {
			if (json_object_size(ha->entities) >= ha->max) {
				json_decref(v);
				return fail(out, ERR_TOO_LONG, "more than %zu entities",
				    ha->max);
			}
			attrs = json_object();
			json_object_set_new(ha->entities, entity, attrs);
		}
		json_object_set_new(attrs, leaf, v);
		return 0;
	}

	/* a state */
	{
		char state[256];
		size_t n = in->len < sizeof(state) - 1 ? in->len : sizeof(state) - 1;

		if (in->len >= sizeof(state))
			return fail(out, ERR_TOO_LONG, "state longer than 255 characters");
		memcpy(state, in->payload, n);
		state[n] = '\0';
		if (n == 0 || strcmp(state, "unknown") == 0 ||
		    strcmp(state, "unavailable") == 0)
			return 0;
		unit = attrs ? json_object_get(attrs, "unit_of_measurement") : NULL;
		meas = json_is_string(unit) && json_string_length(unit) > 0 ?
		    json_string_value(unit) : entity;
		if (point_start(&p, in, meas, out) != 0) {
			point_free(&p);
			return -1;
		}
		/* HA's fixed tags come first; a rule's tags are added after */
		{
			struct hb_buf rule_tags = p.tags;

			memset(&p.tags, 0, sizeof(p.tags));
			point_tag(&p, "domain", domain, strlen(domain), true);
			point_tag(&p, "entity_id", object, strlen(object), true);
			hb_buf_append(&p.tags, rule_tags.data ? rule_tags.data : "",
			    rule_tags.len);
			hb_buf_free(&rule_tags);
		}
		if (parse_number(state, n, &num)) {
			field_float(&p, "value", num);
		} else if ((sn = state_as_number(state)) >= 0) {
			field_string(&p, "state", state, n);
			field_float(&p, "value", sn);
		} else {
			field_string(&p, "state", state, n);
		}
		if (r->attributes && attrs) {
			const char *k;
			json_t *v;
			bool uom_is_meas = meas != entity && r->measurement.text == NULL;

			json_object_foreach(attrs, k, v) {
				if (strcmp(k, "unit_of_measurement") == 0 && uom_is_meas)
					continue;
				if (hb_rule_list_has(&r->ignore_attributes, k))
					continue;
				attribute_field(&p, k, v);
			}
		}
	}
	if (p.bad)
		rc = fail(out, ERR_UNENCODABLE, "entity %s cannot be a tag", entity);
	else if (!point_emit(&p, out))
		rc = fail(out, ERR_UNENCODABLE, "entity %s: measurement not encodable",
		    entity);
	else
		rc = out->points;
	out->skipped_fields += p.skipped;
	point_free(&p);
	return rc;
}

/* ---------------- influx ---------------- */

static int
convert_influx(const struct convert_in *in, struct convert_out *out)
{
	struct hb_lp_line line;
	size_t pos = 0;
	int bad = 0;
	char err[160];

	for (;;) {
		enum hb_lp_result r = hb_lp_next(in->payload, in->len, &pos, NULL, &line,
		    err, sizeof(err));

		if (r == HB_LP_END)
			break;
		if (r == HB_LP_SKIP)
			continue;
		if (r == HB_LP_ERROR) {
			if (bad++ == 0)
				snprintf(out->why, sizeof(out->why), "%s", err);
			continue;
		}
		hb_buf_append(&out->lines, line.start, line.len);
		if (!line.has_time) {
			hb_buf_putc(&out->lines, ' ');
			hb_buf_put_i64(&out->lines, in->now_ns);
		}
		hb_buf_putc(&out->lines, '\n');
		out->points++;
	}
	if (bad && out->points == 0) {
		out->error = ERR_BAD_LINE;
		return -1;
	}
	out->skipped_fields += bad;
	return out->points;
}

/* ---------------- entry ---------------- */

int
hb_convert(struct ha_cache *ha, const struct convert_in *in,
    struct convert_out *out)
{
	size_t mark = out->lines.len;
	int points_before = out->points;
	int rc;

	out->points = 0;
	out->why[0] = '\0';
	if (!hb_utf8_valid(in->payload, in->len))
		rc = fail(out, ERR_BAD_UTF8, "payload is not UTF-8 text");
	else {
		switch (in->rule->format) {
		case FMT_JSON:
			rc = convert_json(in, out);
			break;
		case FMT_VALUE:
			rc = convert_value(in, out);
			break;
		case FMT_HA_STATESTREAM:
			rc = convert_ha(ha, in, out);
			break;
		case FMT_INFLUX:
		default:
			rc = convert_influx(in, out);
			break;
		}
	}
	if (rc < 0) {
		buf_cut(&out->lines, mark);
		out->points = points_before;
		return -1;
	}
	out->points += points_before;
	return rc;
}
