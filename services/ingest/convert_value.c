/*
 * convert_value: a bare reading — a number, ON/OFF/true/false, or text —
 * into one field of one point. Text goes to a field of its own
 * (<field><string_suffix>), or nowhere (strings: drop), so that a topic that
 * says "unavailable" before its first number does not fix its field as text.
 */
#include "formats.h"
#include "python.h"

#include <ctype.h>
#include <math.h>
#include <strings.h>

/* The payload without the blanks around it. */
static void
trim(const char **s, size_t *n)
{
	while (*n && isspace((unsigned char)**s)) {
		(*s)++;
		(*n)--;
	}
	while (*n && isspace((unsigned char)(*s)[*n - 1]))
		(*n)--;
}

/* 1 for on/true, 0 for off/false (any case), -1 for anything else. */
static int
switch_word(const char *s, size_t n)
{
	if ((n == 2 && strncasecmp(s, "on", 2) == 0) ||
	    (n == 4 && strncasecmp(s, "true", 4) == 0))
		return 1;
	if ((n == 3 && strncasecmp(s, "off", 3) == 0) ||
	    (n == 5 && strncasecmp(s, "false", 5) == 0))
		return 0;
	return -1;
}

/* The field's name: the rule's field, its topic levels filled in. */
static int
field_name(const struct convert_in *in, struct hb_buf *name,
    struct convert_out *out)
{
	if (rules_expand(&in->rule->field, in->caps, in->caplen, in->ncaps,
	    name) != 0)
		return convert_fail(out, ERR_UNENCODABLE, "field template");
	if (name->len == 0)
		return convert_fail(out, ERR_UNENCODABLE, "the field template gives "
		    "an empty name");
	return 0;
}

/* integer_fields names the field as it is written, or by its template. */
static bool
is_integer(const struct rule *r, const char *name)
{
	return rules_list_has(&r->integers, name) ||
	    rules_list_has(&r->integers, r->field.text);
}

int
convert_value(const struct convert_in *in, struct convert_out *out)
{
	const struct rule *r = in->rule;
	struct point p = { 0 };
	struct hb_buf name = { 0 };
	const char *s = in->payload;
	size_t n = in->len;
	double num;
	int rc, sw;

	if (convert_point_start(&p, in, NULL, out) != 0 ||
	    field_name(in, &name, out) != 0) {
		rc = -1;
		goto done;
	}
	trim(&s, &n);
	if (python_float(s, n, &num) && isfinite(num)) {
		if (is_integer(r, name.data))
			point_int(&p, name.data, num);
		else
			point_float(&p, name.data, num);
	} else if ((sw = switch_word(s, n)) >= 0)
		point_bool(&p, name.data, sw == 1);
	else if (n == 0) {
		rc = convert_fail(out, ERR_WRONG_TYPE, "empty payload");
		goto done;
	} else if (r->strings == STR_DROP) {
		rc = 0;		/* as the rule says: text is no reading */
		goto done;
	} else {
		hb_buf_puts(&name, r->string_suffix);
		point_string(&p, name.data, s, n);
	}
	if (p.bad)
		rc = convert_fail(out, ERR_UNENCODABLE, "a tag line protocol cannot carry");
	else if (p.nfields == 0)
		rc = convert_fail(out, ERR_UNENCODABLE, "the value cannot be written");
	else if (!convert_emit(&p, out))
		rc = convert_fail(out, ERR_UNENCODABLE, "measurement not encodable");
	else
		rc = out->points;
done:
	hb_buf_free(&name);
	point_free(&p);
	return rc;
}
