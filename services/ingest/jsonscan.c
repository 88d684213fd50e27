/*
 * jsonscan: the strict JSON scanner of the json format; see jsonscan.h.
 */
#include "jsonscan.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int
js_fail(struct js *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int
js_fail(struct js *s, const char *fmt, ...)
{
	va_list ap;
	char what[64];

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	snprintf(s->err, sizeof(s->err), "%s at byte %zu", what,
	    (size_t)(s->p - s->start));
	return -1;
}

void
js_init(struct js *s, const char *text, size_t len)
{
	memset(s, 0, sizeof(*s));
	s->p = s->start = text;
	s->end = text + len;
}

static void
skip_ws(struct js *s)
{
	while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' ||
	    *s->p == '\r'))
		s->p++;
}

enum js_kind
js_peek(struct js *s)
{
	skip_ws(s);
	if (s->p >= s->end)
		return JS_BAD;
	switch (*s->p) {
	case '{': return JS_OBJECT;
	case '[': return JS_ARRAY;
	case '"': return JS_STRING;
	case 't': return JS_TRUE;
	case 'f': return JS_FALSE;
	case 'n': return JS_NULL;
	default:
		if (*s->p == '-' || (*s->p >= '0' && *s->p <= '9'))
			return JS_NUMBER;
		return JS_BAD;
	}
}

bool
js_at_end(struct js *s)
{
	skip_ws(s);
	return s->p >= s->end;
}

static int
hex4(const char *p, unsigned *out)
{
	unsigned v = 0;

	for (int i = 0; i < 4; i++) {
		char c = p[i];

		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= (unsigned)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v |= (unsigned)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			v |= (unsigned)(c - 'A' + 10);
		else
			return -1;
	}
	*out = v;
	return 0;
}

static void
put_utf8(struct hb_buf *b, unsigned cp)
{
	char u[4];
	size_t n;

	if (cp < 0x80) {
		u[0] = (char)cp;
		n = 1;
	} else if (cp < 0x800) {
		u[0] = (char)(0xc0 | (cp >> 6));
		u[1] = (char)(0x80 | (cp & 0x3f));
		n = 2;
	} else if (cp < 0x10000) {
		u[0] = (char)(0xe0 | (cp >> 12));
		u[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		u[2] = (char)(0x80 | (cp & 0x3f));
		n = 3;
	} else {
		u[0] = (char)(0xf0 | (cp >> 18));
		u[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
		u[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
		u[3] = (char)(0x80 | (cp & 0x3f));
		n = 4;
	}
	hb_buf_append(b, u, n);
}

int
js_string(struct js *s, struct hb_buf *out)
{
	const char *run;

	skip_ws(s);
	if (s->p >= s->end || *s->p != '"')
		return js_fail(s, "a string was expected");
	run = ++s->p;
	hb_buf_reserve(out, 16);
	for (;;) {
		unsigned char c;

		if (s->p >= s->end)
			return js_fail(s, "unterminated string");
		c = (unsigned char)*s->p;
		if (c == '"') {
			hb_buf_append(out, run, (size_t)(s->p - run));
			s->p++;
			return 0;
		}
		if (c < 0x20)
			return js_fail(s, "control character in a string");
		if (c != '\\') {
			s->p++;
			continue;
		}
		hb_buf_append(out, run, (size_t)(s->p - run));
		if (s->end - s->p < 2)
			return js_fail(s, "unterminated escape");
		switch (s->p[1]) {
		case '"': hb_buf_putc(out, '"'); break;
		case '\\': hb_buf_putc(out, '\\'); break;
		case '/': hb_buf_putc(out, '/'); break;
		case 'b': hb_buf_putc(out, '\b'); break;
		case 'f': hb_buf_putc(out, '\f'); break;
		case 'n': hb_buf_putc(out, '\n'); break;
		case 'r': hb_buf_putc(out, '\r'); break;
		case 't': hb_buf_putc(out, '\t'); break;
		case 'u': {
			unsigned cp, lo;

			if (s->end - s->p < 6 || hex4(s->p + 2, &cp) != 0)
				return js_fail(s, "bad \\u escape");
			if (cp >= 0xdc00 && cp <= 0xdfff)
				return js_fail(s, "lone low surrogate");
			if (cp >= 0xd800 && cp <= 0xdbff) {
				if (s->end - s->p < 12 || s->p[6] != '\\' || s->p[7] != 'u' ||
				    hex4(s->p + 8, &lo) != 0 || lo < 0xdc00 || lo > 0xdfff)
					return js_fail(s, "lone high surrogate");
				cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
				s->p += 6;
			}
			if (cp == 0)
				return js_fail(s, "NUL in a string");
			put_utf8(out, cp);
			s->p += 4;
			break;
		}
		default:
			return js_fail(s, "bad escape");
		}
		s->p += 2;
		run = s->p;
	}
}

int
js_number(struct js *s, const char **text, size_t *len, double *value)
{
	const char *p, *start;
	char tmp[64];
	size_t n;

	skip_ws(s);
	p = start = s->p;
	if (p < s->end && *p == '-')
		p++;
	if (p < s->end && *p == '0')
		p++;
	else if (p < s->end && *p >= '1' && *p <= '9')
		while (p < s->end && *p >= '0' && *p <= '9')
			p++;
	else
		return js_fail(s, "bad number");
	if (p < s->end && *p == '.') {
		const char *d = ++p;

		while (p < s->end && *p >= '0' && *p <= '9')
			p++;
		if (p == d)
			return js_fail(s, "bad number");
	}
	if (p < s->end && (*p == 'e' || *p == 'E')) {
		const char *d;

		p++;
		if (p < s->end && (*p == '+' || *p == '-'))
			p++;
		d = p;
		while (p < s->end && *p >= '0' && *p <= '9')
			p++;
		if (p == d)
			return js_fail(s, "bad number");
	}
	n = (size_t)(p - start);
	if (n >= sizeof(tmp))
		return js_fail(s, "number too long");
	memcpy(tmp, start, n);
	tmp[n] = '\0';
	*value = strtod(tmp, NULL);
	*text = start;
	*len = n;
	s->p = p;
	return 0;
}

int
js_literal(struct js *s)
{
	static const char *const words[] = { "true", "false", "null" };

	skip_ws(s);
	for (size_t i = 0; i < HB_ARRAY_LEN(words); i++) {
		size_t n = strlen(words[i]);

		if ((size_t)(s->end - s->p) >= n && memcmp(s->p, words[i], n) == 0) {
			s->p += n;
			return 0;
		}
	}
	return js_fail(s, "unexpected character");
}

int
js_open(struct js *s)
{
	skip_ws(s);
	if (s->p >= s->end || (*s->p != '{' && *s->p != '['))
		return js_fail(s, "an object or array was expected");
	if (++s->depth > JS_MAX_DEPTH)
		return js_fail(s, "nested deeper than %d", JS_MAX_DEPTH);
	s->p++;
	return 0;
}

int
js_next(struct js *s, bool object, bool first, struct hb_buf *key)
{
	char close = object ? '}' : ']';

	skip_ws(s);
	if (s->p >= s->end)
		return js_fail(s, "unterminated %s", object ? "object" : "array");
	if (*s->p == close) {
		s->p++;
		s->depth--;
		return 0;
	}
	if (!first) {
		if (*s->p != ',')
			return js_fail(s, "',' or '%c' expected", close);
		s->p++;
	}
	if (object) {
		if (js_string(s, key) != 0)
			return -1;
		skip_ws(s);
		if (s->p >= s->end || *s->p != ':')
			return js_fail(s, "':' expected");
		s->p++;
	}
	if (js_peek(s) == JS_BAD)
		return js_fail(s, "a value was expected");
	return 1;
}

static int
walk(struct js *s, struct hb_buf *out)
{
	enum js_kind k = js_peek(s);
	const char *text;
	size_t len;
	double v;
	int rc;

	switch (k) {
	case JS_OBJECT:
	case JS_ARRAY: {
		struct hb_buf key = { 0 };
		bool first = true;

		if (js_open(s) != 0)
			return -1;
		if (out)
			hb_buf_putc(out, k == JS_OBJECT ? '{' : '[');
		while ((rc = js_next(s, k == JS_OBJECT, first, &key)) == 1) {
			if (out && !first)
				hb_buf_putc(out, ',');
			if (out && k == JS_OBJECT) {
				/* the key again, as JSON: escape what must be */
				hb_buf_putc(out, '"');
				for (size_t i = 0; i < key.len; i++) {
					unsigned char c = (unsigned char)key.data[i];

					if (c == '"' || c == '\\')
						hb_buf_putc(out, '\\');
					if (c < 0x20)
						hb_buf_printf(out, "\\u%04x", c);
					else
						hb_buf_putc(out, (char)c);
				}
				hb_buf_puts(out, "\":");
			}
			hb_buf_reset(&key);
			first = false;
			if (walk(s, out) != 0) {
				rc = -1;
				break;
			}
		}
		hb_buf_free(&key);
		if (out && rc == 0)
			hb_buf_putc(out, k == JS_OBJECT ? '}' : ']');
		return rc;
	}
	case JS_STRING: {
		const char *start = s->p;
		struct hb_buf tmp = { 0 };

		rc = js_string(s, &tmp);
		hb_buf_free(&tmp);
		if (rc == 0 && out)
			hb_buf_append(out, start, (size_t)(s->p - start));
		return rc;
	}
	case JS_NUMBER:
		if (js_number(s, &text, &len, &v) != 0)
			return -1;
		if (out)
			hb_buf_append(out, text, len);
		return 0;
	case JS_TRUE:
	case JS_FALSE:
	case JS_NULL:
		text = s->p;
		if (js_literal(s) != 0)
			return -1;
		if (out)
			hb_buf_append(out, text, (size_t)(s->p - text));
		return 0;
	default:
		return js_fail(s, "a value was expected");
	}
}

int
js_skip(struct js *s)
{
	return walk(s, NULL);
}

int
js_copy(struct js *s, struct hb_buf *out)
{
	return walk(s, out);
}
