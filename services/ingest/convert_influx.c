/*
 * convert_influx: line protocol passed on, line by line, after the writer's
 * own parser has checked it; a line without a time gets the arrival time.
 */
#include "formats.h"
#include "hb_lp.h"

#include <stdio.h>

int
convert_influx(const struct convert_in *in, struct convert_out *out)
{
	struct hb_lp_line line;
	size_t pos = 0;
	int bad = 0;
	char err[160];

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
			hb_buf_put_i64(&out->lines, in->now_ns);
		}
		hb_buf_putc(&out->lines, '\n');
		out->points++;
	}
	if (bad && out->points == 0) {
		out->error = ERR_BAD_LINE;
		return -1;
	}
	out->skipped_fields += bad;
	return out->points;
}
