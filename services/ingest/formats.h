/*
 * formats: the converter of each source format, and what they share. Private
 * to the converters; ingest sees only convert.h.
 */
#ifndef INGEST_FORMATS_H
#define INGEST_FORMATS_H

#include "convert.h"
#include "point.h"

/*
 * What the converters keep from one message to the next. Ingest holds it as
 * struct convert_state, after its first and largest part.
 */
struct convert_state {
	json_t *entities;	/* "domain.object_id" -> { attribute: value } */
	json_t *stamped;	/* entities whose last_updated comes: -> true */
	json_t *held;		/* their points waiting for it: -> [line, now] */
	size_t max;		/* entities at most, in each */
	int64_t last_stamp;	/* the last arrival stamp of an undated line */
};

/*
 * Points held for their entity's last_updated go out with their arrival
 * time, all of them. Returns how many; see convert_flush() in convert.h.
 */
int convert_ha_flush(struct convert_state *ha, struct convert_out *out);

/*
 * Each converts one message of its format: the number of points appended
 * to out->lines (out->points counts them too), or -1 through convert_fail().
 * convert_message() has checked that the payload is UTF-8, and takes back
 * whatever a converter appended before it failed.
 */
int convert_json(const struct convert_in *in, struct convert_out *out);
int convert_value(const struct convert_in *in, struct convert_out *out);
int convert_ha(struct convert_state *ha, const struct convert_in *in,
    struct convert_out *out);
int convert_influx(struct convert_state *state, const struct convert_in *in,
    struct convert_out *out);

/* Sets out->error and out->why; returns -1. */
int convert_fail(struct convert_out *out, enum rule_error e, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/*
 * Starts a point of the rule: the arrival time, the measurement (the rule's
 * template, else def_meas) and the rule's tags. 0, or -1 through
 * convert_fail() when there is no measurement to write.
 */
int convert_point_start(struct point *p, const struct convert_in *in,
    const char *def_meas, struct convert_out *out);

/* Appends the point to out->lines and counts it; false if not writable. */
bool convert_emit(struct point *p, struct convert_out *out);
/*
 * The line just appended to out->lines is a point of measurement meas
 * (unescaped, len bytes): recorded, and counted in out->points.
 */
void convert_point_add(struct convert_out *out, const char *meas, size_t len);

#endif
