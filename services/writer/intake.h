/*
 * intake: lines taken off the bus. Each line is checked the way InfluxDB
 * parses it, its time converted to writer.influx.precision, a line without
 * one stamped with its arrival time; a refused line is counted and logged
 * as itself, and a retained message's copy skipped.
 */
#ifndef WRITER_INTAKE_H
#define WRITER_INTAKE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hb_bus.h"
#include "hb_log.h"
#include "hb_lp.h"
#include "hb_metrics.h"
#include "hb_util.h"

/*
 * Series slots for stamps in ms and s: a series hashes to a slot that
 * remembers the last stamp given there. Two series in one slot are only
 * stamped apart when they need not be; never alike when they must not be.
 */
#define INTAKE_SERIES_SLOTS 1024

struct intake {
	struct hb_lp_limits limits;
	char precision[3];		/* ns, us, ms, s */
	int64_t unit_ns;		/* nanoseconds in one unit of it */
	int64_t stamp_slot;		/* 0-999: this writer's last digits in ns */
	int64_t last_stamp;
	int64_t series_stamp[INTAKE_SERIES_SLOTS];	/* ms and s: last stamp */
	bool accept_retained;
	int64_t (*wall_ns)(void);	/* the clock stamps read: hb_wall_ns */
	struct hb_ratelimit log;
	struct hb_counter *received, *rejected, *retained;
};

/* Where intake is in one message. Start each message at { 0 }. */
struct intake_cursor {
	size_t pos;
	int64_t now_ns;		/* its arrival in ms and s; 0: not read yet */
	bool done;		/* the message is read to its end */
};

/* precision: "ns", "us", "ms" or "s". The counters may be NULL. */
void intake_init(struct intake *in, const struct hb_lp_limits *limits,
    const char *precision, int64_t stamp_slot, bool accept_retained);

/*
 * A retained message that writer.accept_retained does not want: counts
 * its points, logs how to clear it and returns true; else false.
 */
bool intake_skip_retained(struct intake *in, const struct hb_bus_msg *msg);

/*
 * Appends the valid lines of msg from cur->pos on to out, one per line
 * ending in its time, until `room` lines were added or the message ends
 * (then cur->done). Returns how many it added.
 */
int64_t intake_lines(struct intake *in, const struct hb_bus_msg *msg,
    struct intake_cursor *cur, struct hb_buf *out, int64_t room);

/*
 * The next stamp for an undated line of the series series[0, len)
 * (measurement and tags, as in the line), in the writer's precision, from
 * the clock's now_ns: in ns the microsecond time with the slot in the last
 * three digits; ns and us strictly increasing; in ms and s strictly
 * increasing per series, so that InfluxDB never keeps one point for two
 * lines (a series given more than one line a unit runs ahead of the clock
 * until it slows down).
 */
int64_t intake_stamp(struct intake *in, const char *series, size_t len,
    int64_t now_ns);

#endif
