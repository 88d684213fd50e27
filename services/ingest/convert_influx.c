/*
 * convert_influx: line protocol passed on, line by line, after the writer's
 * own parser has checked it. Lines without a time get the arrival time, one
 * nanosecond apart as the writer stamps them: InfluxDB keeps one point per
 * series and time, and "v=1\nv=2\nv=3" are three readings.
 */
#include "formats.h"
#include "hb_lp.h"

#include <stdio.h>

/*
 * The stamp of the next undated line: the arrival time, or just after the
 * last stamp given when that is not earlier (the lines before it in this
 * message, or in one that arrived in the same instant).
 */
static int64_t
next_stamp(int64_t *last, int64_t now)
{
	int64_t t = now > *last ? now : *last + 1;

	*last = t;
	return t;
}

int
convert_influx(struct convert_state *state, const struct convert_in *in,
    struct convert_out *out)
{
	struct hb_lp_line line;
	struct hb_buf meas = { 0 };
	size_t pos = 0;
	int bad = 0;
	char err[160];
	int64_t local_last = 0;
	int64_t *last = state ? &state->last_stamp : &local_last;

	for (;;) {
		enum hb_lp_result r = hb_lp_next(in->payload, in->len, &pos, NULL, &line,
		    err, sizeof(err));

		if (r == HB_LP_END)
			break;
		if (r == HB_LP_SKIP)
			continue;
		if (r == HB_LP_ERROR) {
			if (bad++ == 0)
				snprintf(out->why, sizeof(out->why), "%s", err);
			continue;
		}
		hb_buf_append(&out->lines, line.start, line.len);
		if (!line.has_time) {
			hb_buf_putc(&out->lines, ' ');
			hb_buf_put_i64(&out->lines, next_stamp(last, in->now_ns));
		}
		hb_buf_putc(&out->lines, '\n');
		hb_buf_reset(&meas);
		hb_lp_unescape(line.measurement, line.measurement_len, 'm', &meas);
		convert_point_add(out, meas.data, meas.len);
	}
	hb_buf_free(&meas);
	if (bad && out->points == 0) {
		out->error = ERR_BAD_LINE;
		return -1;
	}
	out->skipped_fields += bad;
	return out->points;
}
