/*
 * point: one point being built — measurement, tags, fields, time — and its
 * line protocol once finished. Every converter builds its points here, so
 * that what one format may write (a name, a value, how many fields) is what
 * every format may write, and a line ingest publishes is one the writer takes.
 */
#ifndef INGEST_POINT_H
#define INGEST_POINT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "hb_util.h"

struct point {
	struct hb_buf meas;
	struct hb_buf tags;	/* ",k=v,..." */
	struct hb_buf fields;	/* "k=v,..." */
	int nfields;
	int64_t time_ns;
	int skipped;		/* values dropped: not encodable, or a name twice */
	bool bad;		/* a required tag could not be encoded: no point */
	json_t *names;		/* field names so far: a name is written once */
};

/* Shortens b to len (a buffer never written to has no data yet). */
static inline void
buf_cut(struct hb_buf *b, size_t len)
{
	b->len = len;
	if (b->data)
		b->data[len] = '\0';
}

/* Frees what the point holds; the struct itself is the caller's. */
void point_free(struct point *p);

/* True when the point has a field of that name already. */
bool point_has_field(const struct point *p, const char *k);

/*
 * Adds a tag. One that line protocol cannot carry (an empty value, a
 * newline, the key "time") spoils the point when `required` (the rule names
 * it: the series would change), and is skipped and counted otherwise.
 */
void point_tag(struct point *p, const char *k, const char *v, size_t vlen,
    bool required);

/*
 * Fields. A value that cannot be written (not finite, out of range, a name
 * that cannot be encoded, a name the point has already, one past the
 * HB_LP_MAX_FIELDS the writer takes) is skipped and counted in p->skipped;
 * the rest of the point is kept.
 */
void point_float(struct point *p, const char *k, double v);
void point_int(struct point *p, const char *k, double v);
void point_bool(struct point *p, const char *k, bool v);
void point_string(struct point *p, const char *k, const char *v, size_t n);

/*
 * Appends the finished point to out as one line ending in '\n'. False, with
 * nothing appended, when it cannot be written: a spoilt tag, no field, a
 * measurement line protocol cannot carry, or a line over 64 KiB.
 */
bool point_emit(struct point *p, struct hb_buf *out);

#endif
