/*
 * hb_text: escaping for Telegram's HTML mode, lengths as Telegram counts
 * them, and long text cut at line boundaries without breaking a character.
 */
#include "hbt.h"
#include "hb_text.h"

#include <string.h>

static void
test_escape(void)
{
	struct hb_buf b = { 0 };

	hb_html_escape(&b, "a<b>&c", 6);
	HBT_CHECK(strcmp(b.data, "a&lt;b&gt;&amp;c") == 0, "%s", b.data);
	hb_buf_reset(&b);
	hb_html_escape(&b, "plain \"text\" 'q'", 16);
	HBT_CHECK(strcmp(b.data, "plain \"text\" 'q'") == 0, "%s", b.data);
	hb_buf_reset(&b);
	hb_html_escape(&b, "&amp;", 5);
	HBT_CHECK(strcmp(b.data, "&amp;amp;") == 0, "an entity is escaped again: %s",
	    b.data);
	hb_buf_free(&b);
}

static void
test_utf16(void)
{
	HBT_CHECK(hb_text_utf16_len("abc", 3) == 3, "ascii");
	HBT_CHECK(hb_text_utf16_len("\xc3\xa9t\xc3\xa9", 5) == 3, "été is 3");
	HBT_CHECK(hb_text_utf16_len("\xf0\x9f\x9a\xa8", 4) == 2, "an emoji is 2");
	HBT_CHECK(hb_text_utf16_len("\xe2\x9a\xa0\xef\xb8\x8f", 6) == 2,
	    "warning sign + variation selector is 2");
}

static void
test_pieces(void)
{
	const char *t = "line one\nline two\nline three";
	size_t skip, n;

	n = hb_text_piece(t, strlen(t), 100, &skip);
	HBT_CHECK(n == strlen(t) && skip == 0, "fits whole");
	n = hb_text_piece(t, strlen(t), 20, &skip);
	HBT_CHECK(n == 17 && skip == 1, "cut after line two: %zu", n);
	n = hb_text_piece(t, strlen(t), 17, &skip);
	HBT_CHECK(n == 17 && skip == 1, "exactly two lines fit: %zu", n);
	n = hb_text_piece(t, strlen(t), 8, &skip);
	HBT_CHECK(n == 8 && skip == 1, "exactly one line: %zu", n);
	n = hb_text_piece(t, strlen(t), 6, &skip);
	HBT_CHECK(n == 4 && skip == 1, "a long line at its last space: %zu", n);
	n = hb_text_piece("abcdefgh", 8, 3, &skip);
	HBT_CHECK(n == 3 && skip == 0, "no space: hard cut %zu", n);
	/* never inside a character: 'é' is two bytes, one unit */
	n = hb_text_piece("\xc3\xa9\xc3\xa9\xc3\xa9", 6, 2, &skip);
	HBT_CHECK(n == 4 && skip == 0, "two é: %zu", n);
	n = hb_text_piece("\xf0\x9f\x9a\xa8x", 5, 1, &skip);
	HBT_CHECK(n == 4, "an emoji wider than the budget goes alone: %zu", n);

	/* 10,000 characters in lines of 100 cut into pieces of <= 4000 units */
	{
		struct hb_buf big = { 0 }, back = { 0 };
		size_t pos = 0, pieces = 0;

		for (int i = 0; i < 100; i++) {
			for (int k = 0; k < 99; k++)
				hb_buf_putc(&big, (char)('a' + (i + k) % 26));
			if (i < 99)
				hb_buf_putc(&big, '\n');
		}
		while (pos < big.len) {
			n = hb_text_piece(big.data + pos, big.len - pos, 4000, &skip);
			HBT_CHECK(n <= 4000, "piece of %zu", n);
			HBT_CHECK(n == big.len - pos || big.data[pos + n] == '\n',
			    "cut at a line boundary");
			if (back.len)
				hb_buf_putc(&back, '\n');
			hb_buf_append(&back, big.data + pos, n);
			pos += n + skip;
			pieces++;
		}
		HBT_CHECK(pieces == 3, "three pieces, got %zu", pieces);
		HBT_CHECK(back.len == big.len && memcmp(back.data, big.data, big.len) == 0,
		    "the pieces joined with newlines give the text back");
		hb_buf_free(&big);
		hb_buf_free(&back);
	}
}

int
main(void)
{
	hbt_init("text");
	test_escape();
	test_utf16();
	test_pieces();
	hbt_exit();
}
