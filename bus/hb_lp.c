/*
 * hb_lp: line protocol parser and encoder, matched against InfluxDB 1.x:
 * during scanning a backslash always takes the next byte with it; when
 * unescaping, only the separators of that position lose their backslash.
 */
#include "hb_lp.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct cursor {
	const char *s;
	size_t i, n;
};

static bool
at_eol(const struct cursor *c)
{
	return c->i >= c->n || c->s[c->i] == '\n' ||
	    (c->s[c->i] == '\r' && (c->i + 1 >= c->n || c->s[c->i + 1] == '\n'));
}

/* Separator classes, for scanning without strchr on every byte. */
enum {
	SEP_COMMA = 1,
	SEP_SPACE = 2,
	SEP_EQUALS = 4,
	SEP_EOL = 8,	/* '\n' and '\r', checked precisely by at_eol */
	SEP_ESCAPE = 16,
};

static const unsigned char sep_class[256] = {
	[','] = SEP_COMMA, [' '] = SEP_SPACE, ['='] = SEP_EQUALS,
	['\n'] = SEP_EOL, ['\r'] = SEP_EOL, ['\\'] = SEP_ESCAPE,
};

/* Scans an escaped token up to an unescaped separator of `stops`. */
static size_t
scan_token(struct cursor *c, unsigned stops)
{
	size_t start = c->i;

	while (c->i < c->n) {
		unsigned cls = sep_class[(unsigned char)c->s[c->i]];

		if (cls == 0) {
			c->i++;
			continue;
		}
		if (cls & stops)
			break;
		if ((cls & SEP_EOL) && at_eol(c))
			break;
		if ((cls & SEP_ESCAPE) && c->i + 1 < c->n && c->s[c->i + 1] != '\n')
			c->i++;
		c->i++;
	}
	return c->i - start;
}

static bool
is_time_key(const char *k, size_t n)
{
	return n == 4 && memcmp(k, "time", 4) == 0;
}

static bool
all_digits(const char *s, size_t n)
{
	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return true;
}

/* A number is copied out, NUL-terminated, for strtoll/strtod: under 64 bytes. */
#define NUMBER_TEXT_MAX 64

/* True when v is one of the spellings InfluxDB reads as a boolean. */
static bool
is_bool(const char *v, size_t n)
{
	static const char *const bools[] = { "t", "T", "true", "True", "TRUE",
	    "f", "F", "false", "False", "FALSE" };

	if (strchr("tTfF", v[0]) == NULL)
		return false;
	for (size_t i = 0; i < HB_ARRAY_LEN(bools); i++)
		if (strlen(bools[i]) == n && memcmp(v, bools[i], n) == 0)
			return true;
	return false;
}

/*
 * A value ending in 'i' or 'u' (n < NUMBER_TEXT_MAX): sets *type to
 * HB_LP_INT or HB_LP_UINT and returns true when it is a decimal integer in
 * range that lim allows; else false with the reason in err.
 */
static bool
classify_integer(const char *v, size_t n, const struct hb_lp_limits *lim,
    enum hb_lp_type *type, char *err, size_t errlen)
{
	char tmp[NUMBER_TEXT_MAX];
	bool neg = v[0] == '-';
	const char *d = v + (neg ? 1 : 0);
	size_t dn = n - 1 - (neg ? 1 : 0);

	if (!all_digits(d, dn)) {
		snprintf(err, errlen, "invalid integer \"%.*s\"", (int)n, v);
		return false;
	}
	memcpy(tmp, v, n - 1);
	tmp[n - 1] = '\0';
	errno = 0;
	if (v[n - 1] == 'i') {
		(void)strtoll(tmp, NULL, 10);
		*type = HB_LP_INT;
	} else {
		if (!lim->allow_uint || neg) {
			snprintf(err, errlen, "unsigned integer \"%.*s\" not "
			    "accepted here", (int)n, v);
			return false;
		}
		(void)strtoull(tmp, NULL, 10);
		*type = HB_LP_UINT;
	}
	if (errno == ERANGE) {
		snprintf(err, errlen, "integer out of range \"%.*s\"", (int)n, v);
		return false;
	}
	return true;
}

/*
 * Matches -?(digits(.digits?)?|.digits)([eE][+-]?digits)? and returns the
 * number of digits, 0 when v is not of that form; *exps is 1 when it has
 * an exponent.
 */
static size_t
float_digits(const char *v, size_t n, size_t *exps)
{
	size_t k = 0, digits = 0, dots = 0;

	*exps = 0;
	if (v[k] == '-')
		k++;
	for (; k < n; k++) {
		char ch = v[k];

		if (ch >= '0' && ch <= '9') {
			digits++;
		} else if (ch == '.' && dots == 0 && *exps == 0) {
			dots++;
		} else if ((ch == 'e' || ch == 'E') && *exps == 0 && digits > 0) {
			(*exps)++;
			if (k + 1 < n && (v[k + 1] == '+' || v[k + 1] == '-'))
				k++;
			if (k + 1 >= n)
				return 0;
		} else {
			return 0;
		}
	}
	return digits;
}

/*
 * A float of the form float_digits accepts (n < NUMBER_TEXT_MAX): true
 * unless it overflows a double (underflow to zero is fine), with the
 * reason in err.
 */
static bool
float_in_range(const char *v, size_t n, char *err, size_t errlen)
{
	char tmp[NUMBER_TEXT_MAX];

	memcpy(tmp, v, n);
	tmp[n] = '\0';
	errno = 0;
	if (!isfinite(strtod(tmp, NULL)) || errno == ERANGE) {
		double d = strtod(tmp, NULL);

		/* Underflow to zero is fine; overflow is not. */
		if (!isfinite(d) || fabs(d) > 1.0) {
			snprintf(err, errlen, "float out of range \"%s\"", tmp);
			return false;
		}
	}
	return true;
}

/*
 * Classifies an unquoted field value as a boolean, an integer or a float
 * and sets *type; returns false, with the reason in err, if it is none of
 * them.
 */
static bool
classify(const char *v, size_t n, const struct hb_lp_limits *lim,
    enum hb_lp_type *type, char *err, size_t errlen)
{
	size_t digits, exps;

	if (n == 0) {
		snprintf(err, errlen, "missing field value");
		return false;
	}
	if (is_bool(v, n)) {
		*type = HB_LP_BOOL;
		return true;
	}
	if (n >= NUMBER_TEXT_MAX) {
		snprintf(err, errlen, "field value too long for a number");
		return false;
	}
	if (v[n - 1] == 'i' || v[n - 1] == 'u')
		return classify_integer(v, n, lim, type, err, errlen);
	digits = float_digits(v, n, &exps);
	if (digits == 0) {
		snprintf(err, errlen, "invalid field value \"%.*s\" (not a number, "
		    "boolean or quoted string)", (int)(n > 40 ? 40 : n), v);
		return false;
	}
	/* Up to 15 digits and no exponent cannot overflow a double. */
	if ((exps != 0 || digits > 15) && !float_in_range(v, n, err, errlen))
		return false;
	*type = HB_LP_FLOAT;
	return true;
}

static void
skip_line(const char *buf, size_t len, size_t *pos)
{
	const char *nl = memchr(buf + *pos, '\n', len - *pos);

	*pos = nl ? (size_t)(nl - buf) + 1 : len;
}

/*
 * What the scanning steps below return: NULL when their part of the line is
 * good, else why it is not, or WHY_IN_ERR when classify already wrote the
 * reason into the caller's err (compared by address; the text is unused).
 */
static const char WHY_IN_ERR[] = "(the reason is in err)";

/* Where the next line starts after an error at c->i. */
static void
skip_after_error(const struct cursor *c, size_t *pos)
{
	*pos = c->i < c->n ? c->i : c->n;
	if (*pos < c->n && c->s[*pos] != '\n')
		skip_line(c->s, c->n, pos);
	else if (*pos < c->n)
		(*pos)++;
}

/* One ",key=value" tag, the cursor on its comma; counted in line->ntags. */
static const char *
scan_tag(struct cursor *c, struct hb_lp_line *line)
{
	const char *k;
	size_t kn;

	c->i++;
	k = c->s + c->i;
	kn = scan_token(c, SEP_COMMA | SEP_EQUALS | SEP_SPACE);
	if (kn == 0 || c->i >= c->n || c->s[c->i] != '=')
		return "invalid tag (expected key=value)";
	if (is_time_key(k, kn))
		return "tag key \"time\" is not allowed";
	c->i++;
	if (scan_token(c, SEP_COMMA | SEP_EQUALS | SEP_SPACE) == 0 ||
	    (c->i < c->n && c->s[c->i] == '='))
		return "invalid tag value (empty or unescaped '=')";
	line->ntags++;
	return NULL;
}

/* The measurement and its tags, up to and past the space before the fields. */
static const char *
scan_series(struct cursor *c, struct hb_lp_line *line)
{
	const char *why;

	line->measurement = c->s + c->i;
	line->measurement_len = scan_token(c, SEP_COMMA | SEP_SPACE);
	if (line->measurement_len == 0)
		return "empty measurement";
	while (c->i < c->n && c->s[c->i] == ',')
		if ((why = scan_tag(c, line)) != NULL)
			return why;
	if (at_eol(c) || c->s[c->i] != ' ')
		return "missing fields";
	c->i++;
	return NULL;
}

/* A quoted string field value, the cursor on its opening quote. */
static const char *
scan_string_value(struct cursor *c, struct hb_lp_field *f)
{
	/* A quoted string ends on its own line (InfluxDB's would run on): a
	 * lost quote then costs one line, not every line after it in the
	 * message. */
	c->i++;
	while (c->i < c->n && c->s[c->i] != '"' && c->s[c->i] != '\n') {
		if (c->s[c->i] == '\\' && c->i + 1 < c->n &&
		    c->s[c->i + 1] != '\n')
			c->i++;
		c->i++;
	}
	if (c->i >= c->n || c->s[c->i] == '\n')
		return "unterminated string field (a quoted string ends on its line)";
	c->i++;
	f->type = HB_LP_STRING;
	f->value_len = (size_t)(c->s + c->i - f->value);
	if (f->value_len - 2 > 65535)
		return "string field longer than 64 KiB";
	return NULL;
}

/* One key=value field into *f, its value typed. */
static const char *
scan_field(struct cursor *c, const struct hb_lp_limits *lim,
    struct hb_lp_field *f, char *err, size_t errlen)
{
	f->key = c->s + c->i;
	f->key_len = scan_token(c, SEP_COMMA | SEP_EQUALS | SEP_SPACE);
	if (f->key_len == 0 || c->i >= c->n || c->s[c->i] != '=')
		return "invalid field (expected key=value)";
	if (is_time_key(f->key, f->key_len))
		return "field key \"time\" is not allowed";
	c->i++;
	f->value = c->s + c->i;
	if (c->i < c->n && c->s[c->i] == '"')
		return scan_string_value(c, f);
	f->value_len = scan_token(c, SEP_COMMA | SEP_SPACE);
	if (!classify(f->value, f->value_len, lim, &f->type, err, errlen))
		return WHY_IN_ERR;
	return NULL;
}

/* The comma-separated fields, at most HB_LP_MAX_FIELDS, into line. */
static const char *
scan_fields(struct cursor *c, const struct hb_lp_limits *lim,
    struct hb_lp_line *line, char *err, size_t errlen)
{
	const char *why;

	for (;;) {
		if (line->nfields == HB_LP_MAX_FIELDS)
			return "too many fields";
		why = scan_field(c, lim, &line->fields[line->nfields], err, errlen);
		if (why != NULL)
			return why;
		line->nfields++;
		if (c->i < c->n && c->s[c->i] == ',') {
			c->i++;
			continue;
		}
		return NULL;
	}
}

/* The optional timestamp (" -?digits", an int64) after the fields. */
static const char *
scan_timestamp(struct cursor *c, struct hb_lp_line *line)
{
	const char *t;
	char tmp[32];
	long long ts;
	size_t n;

	if (c->i >= c->n || c->s[c->i] != ' ')
		return NULL;
	c->i++;
	t = c->s + c->i;
	n = scan_token(c, SEP_SPACE);
	if (n == 0 || n >= sizeof(tmp) ||
	    !all_digits(t + (t[0] == '-'), n - (t[0] == '-')))
		return "bad timestamp";
	memcpy(tmp, t, n);
	tmp[n] = '\0';
	if (hb_parse_ll(tmp, INT64_MIN, INT64_MAX, &ts) != 0)
		return "timestamp out of range";
	line->has_time = true;
	line->time = ts;
	return NULL;
}

/*
 * As hb_lp.h says; blank and comment lines aside, a line is read as the
 * series, the fields, the timestamp, then judged whole (length, UTF-8).
 */
enum hb_lp_result
hb_lp_next(const char *buf, size_t len, size_t *pos,
    const struct hb_lp_limits *lim, struct hb_lp_line *line, char *err,
    size_t errlen)
{
	static const struct hb_lp_limits deflim = { 0 };
	struct cursor c = { buf, *pos, len };
	size_t max_line;
	const char *why;

	if (lim == NULL)
		lim = &deflim;
	max_line = lim->max_line ? lim->max_line : 64 * 1024;
	err[0] = '\0';
	while (c.i < len && (buf[c.i] == ' ' || buf[c.i] == '\t'))
		c.i++;
	if (c.i >= len) {
		*pos = len;
		return HB_LP_END;
	}
	if (at_eol(&c) || buf[c.i] == '#') {
		*pos = c.i;
		skip_line(buf, len, pos);
		return HB_LP_SKIP;
	}
	memset(line, 0, offsetof(struct hb_lp_line, fields));
	line->has_time = false;
	line->time = 0;
	line->start = buf + c.i;
	if ((why = scan_series(&c, line)) == NULL &&
	    (why = scan_fields(&c, lim, line, err, errlen)) == NULL &&
	    (why = scan_timestamp(&c, line)) == NULL && !at_eol(&c))
		why = "unexpected text after the fields or timestamp";
	if (why != NULL)
		goto bad;
	line->len = (size_t)(buf + c.i - line->start);
	if (line->len > max_line) {
		snprintf(err, errlen, "line longer than %zu bytes", max_line);
		*pos = c.i;
		skip_line(buf, len, pos);
		return HB_LP_ERROR;
	}
	if (!hb_utf8_valid(line->start, line->len)) {
		why = "invalid UTF-8";
		goto bad;
	}
	*pos = c.i;
	skip_line(buf, len, pos);
	return HB_LP_OK;
bad:
	if (why != WHY_IN_ERR)
		snprintf(err, errlen, "%s", why);
	skip_after_error(&c, pos);
	return HB_LP_ERROR;
}

void
hb_lp_unescape(const char *s, size_t n, char kind, struct hb_buf *out)
{
	const char *special = kind == 'm' ? ", " : ",= ";

	for (size_t i = 0; i < n; i++) {
		if (s[i] == '\\' && i + 1 < n && strchr(special, s[i + 1]))
			i++;
		hb_buf_putc(out, s[i]);
	}
}

/* Shared by names: what must be escaped, and what cannot be written at all. */
static int
put_escaped(struct hb_buf *b, const char *s, size_t n, const char *special)
{
	if (n == 0 || !hb_utf8_valid(s, n))
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '\n' || s[i] == '\r')
			return -1;
		if (s[i] == '\\' && (i + 1 == n || strchr(special, s[i + 1])))
			return -1;
	}
	hb_buf_reserve(b, n * 2);
	for (size_t i = 0; i < n; i++) {
		if (strchr(special, s[i]))
			b->data[b->len++] = '\\';
		b->data[b->len++] = s[i];
	}
	b->data[b->len] = '\0';
	return 0;
}

int
hb_lp_put_measurement(struct hb_buf *b, const char *s, size_t n)
{
	if (n > 0 && s[0] == '#')
		return -1;	/* would read as a comment line */
	if (n > 0 && s[0] == '\t')
		return -1;	/* skipped as leading blank by the parser */
	return put_escaped(b, s, n, ", ");
}

int
hb_lp_put_key(struct hb_buf *b, const char *s, size_t n)
{
	if (is_time_key(s, n))
		return -1;
	return put_escaped(b, s, n, ",= ");
}

int
hb_lp_put_string(struct hb_buf *b, const char *s, size_t n)
{
	if (n > 65535 || !hb_utf8_valid(s, n) || memchr(s, '\n', n) != NULL)
		return -1;	/* no escape for a newline: it would end the line */
	hb_buf_reserve(b, n * 2 + 2);
	b->data[b->len++] = '"';
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '"' || s[i] == '\\')
			b->data[b->len++] = '\\';
		b->data[b->len++] = s[i];
	}
	b->data[b->len++] = '"';
	b->data[b->len] = '\0';
	return 0;
}

int
hb_lp_put_float(struct hb_buf *b, double v)
{
	char tmp[40];

	/* without a decimal point or an 'i' it is still a float to InfluxDB */
	if (hb_fmt_double(v, tmp, sizeof(tmp)) < 0)
		return -1;
	hb_buf_puts(b, tmp);
	return 0;
}

void
hb_lp_put_int(struct hb_buf *b, int64_t v)
{
	hb_buf_put_i64(b, v);
	hb_buf_putc(b, 'i');
}
