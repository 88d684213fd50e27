/*
 * convert_json: zigbee2mqtt, Tasmota, Shelly, ESPHome — one JSON object in,
 * one point out. Nested objects are flattened into field names joined by
 * the rule's separator; numbers, booleans and strings become fields or tags
 * as the rule says. The text is read in place by jsonscan.
 */
#include "formats.h"
#include "jsonscan.h"
#include "timestamp.h"

#include <string.h>

struct flatten {
	const struct convert_in *in;
	struct point *p;
	struct hb_buf name;	/* the flattened name of the value at hand */
	struct hb_buf text;	/* a string value, decoded */
};

/* A scalar as it was read: its kind, its text and, for a number, its value. */
struct scalar {
	enum js_kind kind;
	const char *text;
	size_t len;
	double num;
};

static bool
wanted(const struct rule *r, const char *name)
{
	if (r->include.n && !rules_list_match(&r->include, name))
		return false;
	return !rules_list_match(&r->exclude, name);
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
		t = timestamp_parse(f->text.data, r->timestamp_local);
	} else if (k == JS_NUMBER) {
		const char *text;
		size_t len;
		double v;

		if (js_number(s, &text, &len, &v) != 0)
			return -1;
		t = timestamp_epoch(text, len);
	} else if (js_skip(s) != 0)
		return -1;
	if (t > 0)
		f->p->time_ns = t;
	else
		f->p->skipped++;	/* an unreadable time: arrival time */
	return 0;
}

static int scan_value(struct flatten *f, struct js *s, int depth);

/* The members of an object at s, each under "<name><separator><key>". */
static int
scan_object(struct flatten *f, struct js *s, int depth)
{
	const struct rule *r = f->in->rule;
	size_t base = f->name.len;
	bool first = true;
	int rc;

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

/* Reads a string, number or literal at s into v. 0, or -1 (not JSON). */
static int
read_scalar(struct flatten *f, struct js *s, struct scalar *v)
{
	switch (v->kind) {
	case JS_STRING:
		hb_buf_reset(&f->text);
		if (js_string(s, &f->text) != 0)
			return -1;
		v->text = f->text.data;
		v->len = f->text.len;
		return 0;
	case JS_NUMBER:
		return js_number(s, &v->text, &v->len, &v->num);
	case JS_TRUE:
	case JS_FALSE:
		v->text = s->p;
		if (js_literal(s) != 0)
			return -1;
		v->len = (size_t)(s->p - v->text);
		return 0;
	default:
		return js_skip(s);	/* says what is wrong */
	}
}

/* Puts a scalar into the point as the rule wants it: tag, field or nothing. */
static void
put_scalar(struct flatten *f, const char *name, const struct scalar *v)
{
	const struct rule *r = f->in->rule;

	if (rules_list_has(&r->tag_keys, name)) {
		point_tag(f->p, name, v->text, v->len, false);
		return;
	}
	if (!wanted(r, name))
		return;
	switch (v->kind) {
	case JS_NUMBER:
		if (rules_list_has(&r->integers, name))
			point_int(f->p, name, v->num);
		else
			point_float(f->p, name, v->num);
		break;
	case JS_TRUE:
	case JS_FALSE:
		point_bool(f->p, name, v->kind == JS_TRUE);
		break;
	case JS_STRING:
		if (r->strings == STR_TAG)
			point_tag(f->p, name, v->text, v->len, false);
		else if (r->strings == STR_FIELD && r->string_suffix[0] == '\0')
			point_string(f->p, name, v->text, v->len);
		else if (r->strings == STR_FIELD) {
			struct hb_buf text_name = { 0 };

			hb_buf_printf(&text_name, "%s%s", name, r->string_suffix);
			point_string(f->p, text_name.data, v->text, v->len);
			hb_buf_free(&text_name);
		}
		break;
	default:
		break;
	}
}

/*
 * Reads one value at s and puts what the rule wants of it into the point,
 * under the flattened name in f->name. 0, or -1 when the text is not JSON.
 */
static int
scan_value(struct flatten *f, struct js *s, int depth)
{
	const struct rule *r = f->in->rule;
	struct scalar v = { .kind = js_peek(s) };
	const char *name;

	if (v.kind == JS_OBJECT)
		return scan_object(f, s, depth);
	name = f->name.data ? f->name.data : "";
	if (v.kind == JS_ARRAY) {
		if (r->arrays == ARR_STRING && f->name.len && wanted(r, name)) {
			hb_buf_reset(&f->text);
			if (js_copy(s, &f->text) != 0)
				return -1;
			point_string(f->p, name, f->text.data, f->text.len);
			return 0;
		}
		return js_skip(s);
	}
	if (v.kind == JS_NULL)
		return js_literal(s);
	if (v.kind == JS_BAD)
		return js_skip(s);	/* says what is wrong */
	if (read_scalar(f, s, &v) != 0)
		return -1;
	put_scalar(f, name, &v);
	return 0;
}

int
convert_json(const struct convert_in *in, struct convert_out *out)
{
	struct point p = { 0 };
	struct flatten f = { in, &p, { 0 }, { 0 } };
	struct js s;
	int rc;

	js_init(&s, in->payload, in->len);
	if (js_peek(&s) != JS_OBJECT) {
		if (js_skip(&s) != 0)
			return convert_fail(out, ERR_NOT_JSON, "not JSON: %s", s.err);
		return convert_fail(out, ERR_WRONG_TYPE, "a JSON object was expected");
	}
	if (convert_point_start(&p, in, NULL, out) != 0) {
		rc = -1;
		goto done;
	}
	if (scan_value(&f, &s, 0) != 0 || !js_at_end(&s)) {
		rc = convert_fail(out, ERR_NOT_JSON, "not JSON: %s", s.err[0] ? s.err :
		    "text after the object");
		goto done;
	}
	if (p.bad)
		rc = convert_fail(out, ERR_UNENCODABLE, "a tag line protocol cannot "
		    "carry (empty, a newline, or a trailing backslash)");
	else if (p.nfields == 0)
		rc = convert_fail(out, ERR_NO_FIELDS, "no field left to write");
	else if (!convert_emit(&p, out))
		rc = convert_fail(out, ERR_UNENCODABLE, "measurement or point not "
		    "encodable");
	else
		rc = out->points;
	out->skipped_fields += p.skipped;
done:
	hb_buf_free(&f.name);
	hb_buf_free(&f.text);
	point_free(&p);
	return rc;
}
