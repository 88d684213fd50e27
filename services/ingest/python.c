/*
 * python: Python's float() and str() on JSON values; see python.h.
 */
#include "python.h"

#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

bool
python_float(const char *s, size_t n, double *out)
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

bool
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
