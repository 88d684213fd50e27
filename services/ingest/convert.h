/*
 * convert: one device message in, typed points out, as line protocol. Pure
 * functions of the rule, the topic, the payload and the arrival time (plus,
 * for Home Assistant, the attributes seen so far), so that they can be
 * tested and fuzzed without a broker. This is the converters' contract with
 * ingest; each format lives in its own convert_<format>.c (see formats.h).
 */
#ifndef INGEST_CONVERT_H
#define INGEST_CONVERT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hb_util.h"
#include "rules.h"

/*
 * What the converters keep between messages: Home Assistant's attributes by
 * entity (from mqtt_statestream's attribute topics), and the last stamp
 * given to an undated line. One per ingest, passed to every convert_message().
 */
struct convert_state;

struct convert_state *convert_state_new(size_t max_entities);
void convert_state_free(struct convert_state *c);
size_t convert_state_size(const struct convert_state *c);

struct convert_in {
	const struct rule *rule;
	const char *topic;
	const char **caps;	/* the '+' levels of the topic */
	const size_t *caplen;
	size_t ncaps;
	const char *payload;
	size_t len;
	int64_t now_ns;		/* arrival time, the stamp of points without one */
	bool retained;
};

/* One point of convert_out's lines: where its line ends, its measurement. */
struct convert_point {
	size_t end;		/* just past the line's '\n' in lines */
	size_t meas;		/* where its measurement starts in names */
	size_t meas_len;
};

/*
 * What the converters wrote. lines, names and point grow across messages
 * until convert_out_reset; points counts this message's only.
 */
struct convert_out {
	struct hb_buf lines;	/* points, each line ending in '\n' */
	struct hb_buf names;	/* the points' measurements, unescaped */
	struct convert_point *point;	/* [npoint], in the order of lines */
	size_t npoint, point_max;
	int points;
	int skipped_fields;	/* values the rule dropped or could not encode */
	enum rule_error error;	/* when the result is -1 */
	char why[160];
};

/*
 * Converts one message. Returns the number of points appended to out->lines
 * (0 is fine: an attribute update, an "unavailable" state), or -1 with
 * out->error and out->why set; nothing is appended then.
 */
int convert_message(struct convert_state *ha, const struct convert_in *in,
    struct convert_out *out);

/*
 * Appends the points still held (Home Assistant states waiting for their
 * last_updated, which mqtt_statestream publishes just after the state) with
 * their arrival time. Returns their number. For a service that stops: what
 * it has taken must go out.
 */
int convert_flush(struct convert_state *ha, struct convert_out *out);

/* Empties out, keeping its memory. */
void convert_out_reset(struct convert_out *out);
/* Frees what out holds; out may be used again. */
void convert_out_free(struct convert_out *out);

#endif
