/*
 * hb_text: text meant for people — HTML escaping (Telegram's HTML parse
 * mode, status pages), lengths counted the way Telegram counts them (UTF-16
 * code units), and cutting long text into pieces at line boundaries.
 */
#ifndef HB_TEXT_H
#define HB_TEXT_H

#include <stddef.h>

#include "hb_util.h"

/*
 * Appends s (len bytes) to out with '<', '>' and '&' replaced by &lt;, &gt;
 * and &amp;, the three characters Telegram's HTML mode and any HTML page
 * require to be escaped in text.
 */
void hb_html_escape(struct hb_buf *out, const char *s, size_t len);

/* Length of UTF-8 text in UTF-16 code units (4-byte sequences count 2). */
size_t hb_text_utf16_len(const char *s, size_t len);

/*
 * The next piece of s to send when at most max_units UTF-16 units fit.
 * Returns the piece's length in bytes and sets *skip to the bytes to step
 * over before the next piece (the newline the cut was made at, or 0).
 * Cuts after the last whole line that fits; a single line longer than that
 * is cut at its last space that fits, else at a character boundary.
 * Returns len (and *skip 0) when everything fits.
 */
size_t hb_text_piece(const char *s, size_t len, size_t max_units, size_t *skip);

#endif
