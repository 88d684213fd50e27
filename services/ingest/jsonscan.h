/*
 * jsonscan: a strict JSON (RFC 8259) scanner that reads a device message in
 * place, for the json format's hot path. Where jansson builds a tree (an
 * allocation per value and a hash table per object) to be walked once and
 * thrown away, the converter walks the text itself and takes each value as
 * it passes. Strings are decoded (escapes, surrogate pairs) into a caller's
 * buffer; numbers are handed over as their text and their value.
 */
#ifndef INGEST_JSONSCAN_H
#define INGEST_JSONSCAN_H

#include <stdbool.h>
#include <stddef.h>

#include "hb_util.h"

#define JS_MAX_DEPTH 32

struct js {
	const char *p;		/* the next byte to read */
	const char *end;
	int depth;
	char err[96];		/* why the text is not JSON, with the offset */
	const char *start;
};

enum js_kind {
	JS_OBJECT,
	JS_ARRAY,
	JS_STRING,
	JS_NUMBER,
	JS_TRUE,
	JS_FALSE,
	JS_NULL,
	JS_BAD,
};

void js_init(struct js *s, const char *text, size_t len);
/* Skips blanks and says what the next value is (JS_BAD at the end or on junk). */
enum js_kind js_peek(struct js *s);
/* True when only blanks are left. */
bool js_at_end(struct js *s);

/*
 * Reads a string into out (appended, NUL-terminated; out->len grows by its
 * length). 0, or -1 with s->err set.
 */
int js_string(struct js *s, struct hb_buf *out);
/* Reads a number: its text (in place) and its value. 0 or -1. */
int js_number(struct js *s, const char **text, size_t *len, double *value);
/* Reads true, false or null. 0 or -1. */
int js_literal(struct js *s);

/*
 * Objects and arrays: js_open() takes the '{' or '[', then js_next() is
 * called before each member: it returns 1 when there is one (for an object,
 * after reading its key into key and the ':'), 0 after the closing bracket,
 * -1 on an error.
 */
int js_open(struct js *s);
int js_next(struct js *s, bool object, bool first, struct hb_buf *key);

/* Reads and checks a whole value of any kind, keeping nothing. 0 or -1. */
int js_skip(struct js *s);
/* The same, and appends it to out without blanks (compact JSON). */
int js_copy(struct js *s, struct hb_buf *out);

#endif
