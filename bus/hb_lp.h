/*
 * hb_lp: InfluxDB line protocol, the payload of P/points/<measurement>.
 *
 * The parser checks a line the way InfluxDB 1.x does (so that the writer never
 * forwards what InfluxDB would refuse to parse) and reports where the
 * measurement, tags, fields and timestamp are, without copying. The encoder
 * writes names and values with exactly the escaping InfluxDB undoes.
 */
#ifndef HB_LP_H
#define HB_LP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hb_util.h"

enum hb_lp_type {
	HB_LP_FLOAT,
	HB_LP_INT,
	HB_LP_UINT,
	HB_LP_STRING,
	HB_LP_BOOL,
};

#define HB_LP_MAX_FIELDS 256

struct hb_lp_field {
	const char *key;	/* escaped, as in the line */
	size_t key_len;
	enum hb_lp_type type;
	const char *value;	/* as in the line (quotes included for strings) */
	size_t value_len;
};

struct hb_lp_line {
	const char *start;	/* the whole line, without its newline */
	size_t len;
	const char *measurement;	/* escaped */
	size_t measurement_len;
	size_t ntags;
	size_t nfields;
	struct hb_lp_field fields[HB_LP_MAX_FIELDS];
	bool has_time;
	int64_t time;
};

struct hb_lp_limits {
	size_t max_line;	/* bytes; 0: 64 KiB */
	bool allow_uint;	/* the 'u' suffix (InfluxDB 2.x) */
};

enum hb_lp_result {
	HB_LP_OK,		/* a line was parsed into *line */
	HB_LP_SKIP,		/* blank or comment line */
	HB_LP_ERROR,		/* invalid line, err says why */
	HB_LP_END,		/* nothing left */
};

/*
 * Parses the next line of buf[*pos..len). Always advances *pos past the line
 * (and its newline), so that a caller can carry on after an error. Unlike
 * InfluxDB, homebus does not let a quoted string field cross a newline: a
 * line with an unterminated quote is an error on its own, and the next line
 * is parsed as usual.
 */
enum hb_lp_result hb_lp_next(const char *buf, size_t len, size_t *pos,
    const struct hb_lp_limits *lim, struct hb_lp_line *line, char *err,
    size_t errlen);

/* Unescapes a measurement (kind 'm') or a tag/field key ('k') into out. */
void hb_lp_unescape(const char *s, size_t n, char kind, struct hb_buf *out);

/*
 * Encoder. Each returns 0, or -1 (writing nothing) when the text cannot be
 * represented in line protocol: empty (names), a newline (names and
 * strings), invalid UTF-8, or a backslash at the end or before a character
 * that needs escaping (InfluxDB 1.x has no way to write those).
 */
int hb_lp_put_measurement(struct hb_buf *b, const char *s, size_t n);
int hb_lp_put_key(struct hb_buf *b, const char *s, size_t n);	/* tag key/value, field key */
int hb_lp_put_string(struct hb_buf *b, const char *s, size_t n);	/* "quoted" */
/* Finite values only; -1 for NaN/Inf. Always written so it parses as a float. */
int hb_lp_put_float(struct hb_buf *b, double v);
void hb_lp_put_int(struct hb_buf *b, int64_t v);

#endif
