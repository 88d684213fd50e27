/*
 * intake: from a bus message to lines ready for the spool, every one
 * ending in a time InfluxDB reads in writer.influx.precision.
 */
#include "intake.h"

#include <stdio.h>
#include <string.h>

static int64_t
precision_unit_ns(const char *precision)
{
	if (strcmp(precision, "us") == 0)
		return 1000;
	if (strcmp(precision, "ms") == 0)
		return 1000000;
	if (strcmp(precision, "s") == 0)
		return 1000000000;
	return 1;
}

void
intake_init(struct intake *in, const struct hb_lp_limits *limits,
    const char *precision, int64_t stamp_slot, bool accept_retained)
{
	memset(in, 0, sizeof(*in));
	in->limits = *limits;
	snprintf(in->precision, sizeof(in->precision), "%s", precision);
	in->unit_ns = precision_unit_ns(precision);
	in->stamp_slot = stamp_slot;
	in->accept_retained = accept_retained;
	in->wall_ns = hb_wall_ns;
	hb_ratelimit_init(&in->log, 20, 10);
}

/* ms and s: the series' next stamp, never one it was given before. */
static int64_t
series_stamp(struct intake *in, const char *series, size_t len, int64_t t)
{
	uint32_t h = 2166136261u;
	int64_t *last;

	for (size_t i = 0; i < len; i++)
		h = (h ^ (uint8_t)series[i]) * 16777619u;
	last = &in->series_stamp[h % INTAKE_SERIES_SLOTS];
	if (t <= *last)
		t = *last + 1;
	*last = t;
	return t;
}

int64_t
intake_stamp(struct intake *in, const char *series, size_t len, int64_t now_ns)
{
	const char *p = in->precision;
	int64_t t;

	/* Nanoseconds: microsecond time, and the writer's slot in the last three
	 * digits, so that two writers sharing the load never stamp two points of
	 * one series alike (InfluxDB would keep only the last). */
	if (strcmp(p, "ns") == 0) {
		t = now_ns / 1000 * 1000 + in->stamp_slot;
		if (t <= in->last_stamp)
			t = in->last_stamp + 1000;
		in->last_stamp = t;
		return t;
	}
	if (strcmp(p, "us") == 0)
		t = now_ns / 1000;
	else
		return series_stamp(in, series, len, now_ns / in->unit_ns);
	/* Points of one series stamped in the same tick would overwrite each
	 * other in InfluxDB; keep fine-grained stamps strictly increasing. */
	if (t <= in->last_stamp)
		t = in->last_stamp + 1;
	in->last_stamp = t;
	return t;
}

static void
count(struct hb_counter *c, uint64_t n)
{
	if (c)
		hb_counter_add(c, n);
}

/*
 * Logs a refused line: its own first bytes, not the message's, so that line
 * 51 of 100 shows what is wrong with line 51. [from, to) is what the parser
 * consumed for it, newline included.
 */
static void
log_rejected(struct intake *in, const struct hb_bus_msg *msg, size_t from,
    size_t to, const char *why)
{
	char excerpt[96];
	size_t n;

	while (from < to && (msg->payload[from] == ' ' || msg->payload[from] == '\t'))
		from++;
	n = to - from;
	for (size_t i = 0; i < n; i++)
		if (msg->payload[from + i] == '\n') {
			n = i;
			break;
		}
	if (n > 64)
		n = 64;
	hb_log_sanitize(msg->payload + from, n, excerpt, sizeof(excerpt));
	hb_log_limited(&in->log, HB_LOG_WARN, "rejected line topic=\"%.128s\" "
	    "reason=\"%s\" line=\"%s\"", msg->topic, why, excerpt);
}

/*
 * A retained message is the broker's copy of something already taken: the
 * broker hands it over again at every subscribe, so at every restart of the
 * writer. Its points are counted and left alone, unless
 * writer.accept_retained says the retained copy is wanted.
 */
bool
intake_skip_retained(struct intake *in, const struct hb_bus_msg *msg)
{
	struct hb_lp_line line;
	size_t pos = 0;
	uint64_t points = 0;
	char err[160];
	enum hb_lp_result r;

	if (!msg->retained || in->accept_retained)
		return false;
	while ((r = hb_lp_next(msg->payload, msg->len, &pos, &in->limits, &line,
	    err, sizeof(err))) != HB_LP_END)
		if (r == HB_LP_OK)
			points++;
	count(in->retained, points);
	hb_log_limited(&in->log, HB_LOG_WARN, "skipped a retained message "
	    "topic=\"%.128s\" points=%llu: it was written when it was published "
	    "(clear it: mosquitto_pub -r -n -t '%.128s', or set "
	    "writer.accept_retained)", msg->topic, (unsigned long long)points,
	    msg->topic);
	return true;
}

/*
 * Appends a line whose time is in nanoseconds (the bus's unit, line
 * protocol's default) with that time in writer.influx.precision, truncated
 * toward the earlier time: InfluxDB reads the number in the unit the write
 * names, and a nanosecond time read as milliseconds is out of its range.
 */
static void
put_converted(struct intake *in, const struct hb_lp_line *line,
    struct hb_buf *out)
{
	size_t keep = line->len;
	int64_t t = line->time / in->unit_ns;

	/* the time is the last token: a line ends right after it */
	while (keep > 0 && line->start[keep - 1] != ' ')
		keep--;
	if (line->time % in->unit_ns < 0)
		t--;
	hb_buf_append(out, line->start, keep);
	hb_buf_put_i64(out, t);
}

/* One valid line into out, with its time. */
static void
put_line(struct intake *in, const struct hb_lp_line *line,
    struct intake_cursor *cur, struct hb_buf *out)
{
	if (line->has_time && in->unit_ns > 1)
		put_converted(in, line, out);
	else
		hb_buf_append(out, line->start, line->len);
	if (!line->has_time) {
		/* the series: the line up to the space before its fields */
		size_t series = (size_t)(line->fields[0].key - line->start) - 1;
		int64_t now_ns;

		/* in ms and s, one arrival for the message: its lines arrived
		 * together, and its series share a stamp where they can */
		if (in->unit_ns < 1000000)
			now_ns = in->wall_ns();
		else {
			if (cur->now_ns == 0)
				cur->now_ns = in->wall_ns();
			now_ns = cur->now_ns;
		}
		hb_buf_putc(out, ' ');
		hb_buf_put_i64(out, intake_stamp(in, line->start, series, now_ns));
	}
	hb_buf_putc(out, '\n');
}

int64_t
intake_lines(struct intake *in, const struct hb_bus_msg *msg,
    struct intake_cursor *cur, struct hb_buf *out, int64_t room)
{
	struct hb_lp_line line;
	char err[160];
	int64_t added = 0;

	while (added < room) {
		size_t line_start = cur->pos;
		enum hb_lp_result r = hb_lp_next(msg->payload, msg->len, &cur->pos,
		    &in->limits, &line, err, sizeof(err));

		if (r == HB_LP_END) {
			cur->done = true;
			break;
		}
		if (r == HB_LP_SKIP)
			continue;
		if (r == HB_LP_ERROR) {
			count(in->rejected, 1);
			log_rejected(in, msg, line_start, cur->pos, err);
			continue;
		}
		put_line(in, &line, cur, out);
		added++;
		count(in->received, 1);
	}
	return added;
}
