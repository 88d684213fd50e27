/*
 * hb_text: HTML escaping, UTF-16 lengths, cutting text at line boundaries.
 */
#include "hb_text.h"

void
hb_html_escape(struct hb_buf *out, const char *s, size_t len)
{
	size_t start = 0;

	hb_buf_reserve(out, len);
	for (size_t i = 0; i < len; i++) {
		const char *rep;

		switch (s[i]) {
		case '<': rep = "&lt;"; break;
		case '>': rep = "&gt;"; break;
		case '&': rep = "&amp;"; break;
		default: continue;
		}
		hb_buf_append(out, s + start, i - start);
		hb_buf_puts(out, rep);
		start = i + 1;
	}
	hb_buf_append(out, s + start, len - start);
}

/* UTF-16 units of the character starting with byte c (0 for a continuation). */
static size_t
units_of(unsigned char c)
{
	if ((c & 0xC0) == 0x80)
		return 0;
	return c >= 0xF0 ? 2 : 1;
}

size_t
hb_text_utf16_len(const char *s, size_t len)
{
	size_t n = 0;

	for (size_t i = 0; i < len; i++)
		n += units_of((unsigned char)s[i]);
	return n;
}

size_t
hb_text_piece(const char *s, size_t len, size_t max_units, size_t *skip)
{
	size_t units = 0, i, last_nl = 0, last_space = 0;
	int have_nl = 0, have_space = 0;

	*skip = 0;
	if (max_units == 0)
		max_units = 1;
	for (i = 0; i < len; i++) {
		size_t u = units_of((unsigned char)s[i]);

		if (u > 0 && units + u > max_units)
			break;
		units += u;
		if (s[i] == '\n') {
			last_nl = i;
			have_nl = 1;
		} else if (s[i] == ' ') {
			last_space = i;
			have_space = 1;
		}
	}
	if (i >= len)
		return len;
	/* s[i] starts the first character that does not fit */
	if (s[i] == '\n') {
		*skip = 1;
		return i;
	}
	if (have_nl) {
		*skip = 1;
		return last_nl;
	}
	if (have_space && last_space > 0) {
		*skip = 1;
		return last_space;
	}
	/* no place to cut nicely: at the character that does not fit (a
	 * character wider than the whole budget still goes, alone) */
	if (i == 0)
		for (i = 1; i < len && units_of((unsigned char)s[i]) == 0; i++)
			;
	return i;
}
