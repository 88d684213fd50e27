/*
 * python: Python's float() and str() on JSON values; see python.h.
 */
#include "python.h"

#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* "nan", "inf", "infinity" in any case, after the sign: its value. */
static bool
nonfinite_word(const char *s, size_t n, double *out)
{
	if (n == 3 && strncasecmp(s, "nan", 3) == 0)
		*out = NAN;
	else if ((n == 3 && strncasecmp(s, "inf", 3) == 0) ||
	    (n == 8 && strncasecmp(s, "infinity", 8) == 0))
		*out = INFINITY;
	else
		return false;
	return true;
}

/*
 * Copies the number into plain, without the '_' float() allows between two
 * digits; false on any character float() refuses or a misplaced '_'.
 */
static bool
plain_digits(const char *s, size_t n, struct hb_buf *plain)
{
	size_t digits = 0;

	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (c == '_') {
			if (i == 0 || i + 1 == n || !isdigit((unsigned char)s[i - 1]) ||
			    !isdigit((unsigned char)s[i + 1]))
				return false;
			continue;
		}
		if (!(isdigit((unsigned char)c) || c == '.' || c == '-' || c == '+' ||
		    c == 'e' || c == 'E'))
			return false;
		digits += isdigit((unsigned char)c) != 0;
		hb_buf_putc(plain, c);
	}
	return digits > 0;
}

bool
python_float(const char *s, size_t n, double *out)
{
	struct hb_buf plain = { 0 };
	const char *word = s;
	size_t wn = n;
	bool ok;
	char *end;

	while (n && isspace((unsigned char)*s)) {
		s++;
		n--;
	}
	while (n && isspace((unsigned char)s[n - 1]))
		n--;
	if (n == 0)
		return false;
	word = s + (*s == '+' || *s == '-');
	wn = n - (size_t)(word - s);
	if (nonfinite_word(word, wn, out)) {
		if (*s == '-')
			*out = -*out;
		return true;
	}
	ok = plain_digits(s, n, &plain);
	if (ok) {
		/* strtod reads what float() reads once the words and '_' are out;
		 * it also takes hex, which plain_digits refused */
		*out = strtod(plain.data, &end);
		ok = *end == '\0';
	}
	hb_buf_free(&plain);
	return ok;
}

/* Where the set starting at p ('[') ends: its ']', or NULL if it has none. */
static const char *
set_end(const char *p)
{
	const char *q = p + 1;

	if (*q == '!')
		q++;
	if (*q == ']')
		q++;
	while (*q && *q != ']')
		q++;
	return *q ? q : NULL;
}

/* True when c is in the set [p+1, end) ("!" first: not in it). */
static bool
set_has(const char *p, const char *end, char c)
{
	bool negate = p[1] == '!', in = false;

	for (const char *q = p + 1 + negate; q < end; q++) {
		if (q + 2 < end && q[1] == '-') {
			in |= (unsigned char)c >= (unsigned char)q[0] &&
			    (unsigned char)c <= (unsigned char)q[2];
			q += 2;
		} else
			in |= *q == c;
	}
	return in != negate;
}

bool
python_fnmatch(const char *pattern, const char *name)
{
	const char *p = pattern, *n = name;
	const char *star = NULL, *star_n = NULL;

	while (*n) {
		const char *end = *p == '[' ? set_end(p) : NULL;

		if (*p == '*') {
			star = p++;
			star_n = n;
			continue;
		}
		if ((*p == '?') || (end && set_has(p, end, *n)) ||
		    (*p && *p != '?' && !end && *p == *n)) {
			p = end ? end + 1 : p + 1;
			n++;
			continue;
		}
		if (star == NULL)
			return false;
		/* let the last '*' take one more character and try again */
		p = star + 1;
		n = ++star_n;
	}
	while (*p == '*')
		p++;
	return *p == '\0';
}

/* A float as Python's repr() writes it: "1.0", "0.25", "1e+16", "nan". */
static void
float_repr(struct hb_buf *b, double v)
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
string_repr(struct hb_buf *b, const char *s, size_t n)
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

static void value_str(struct hb_buf *b, json_t *v, bool top, int depth);

/* A list or dict as Python prints one: its items by repr(). */
static void
container_str(struct hb_buf *b, json_t *v, int depth)
{
	const char *k;
	json_t *child;
	size_t i = 0;

	if (json_is_array(v)) {
		hb_buf_putc(b, '[');
		json_array_foreach(v, i, child) {
			if (i)
				hb_buf_puts(b, ", ");
			value_str(b, child, false, depth + 1);
		}
		hb_buf_putc(b, ']');
		return;
	}
	hb_buf_putc(b, '{');
	json_object_foreach(v, k, child) {
		if (i++)
			hb_buf_puts(b, ", ");
		string_repr(b, k, strlen(k));
		hb_buf_puts(b, ": ");
		value_str(b, child, false, depth + 1);
	}
	hb_buf_putc(b, '}');
}

/* str() at the top, repr() inside a container (where strings get quotes). */
static void
value_str(struct hb_buf *b, json_t *v, bool top, int depth)
{
	if (depth > 32) {
		hb_buf_puts(b, "...");
		return;
	}
	switch (json_typeof(v)) {
	case JSON_STRING:
		if (top)
			hb_buf_append(b, json_string_value(v), json_string_length(v));
		else
			string_repr(b, json_string_value(v), json_string_length(v));
		break;
	case JSON_INTEGER:
		hb_buf_put_i64(b, (int64_t)json_integer_value(v));
		break;
	case JSON_REAL:
		float_repr(b, json_real_value(v));
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
	case JSON_OBJECT:
		container_str(b, v, depth);
		break;
	}
}

void
python_str(struct hb_buf *b, json_t *v)
{
	value_str(b, v, true, 0);
}
