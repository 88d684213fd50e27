/*
 * settle: a batch's 413 or 400/422, carried out in the spool.
 */
#include "settle.h"
#include "hb_lp.h"
#include "hb_util.h"

#include <stdbool.h>
#include <stdlib.h>

static void
count_dead(struct settle *st, int64_t points)
{
	if (st->dead)
		hb_counter_add(st->dead, (uint64_t)points);
}

size_t
settle_split_point(const char *body, size_t len, int64_t points, int64_t *first)
{
	size_t pos = 0, cut = 0;
	int64_t n = 0, half = points / 2;
	struct hb_lp_line line;
	char err[128];

	while (n < half) {
		enum hb_lp_result r = hb_lp_next(body, len, &pos, NULL, &line, err,
		    sizeof(err));

		if (r == HB_LP_END)
			break;
		if (r != HB_LP_SKIP)
			n++;
		cut = pos;
	}
	*first = n;
	return cut;
}

enum settle_outcome
settle_too_large(struct settle *st, const struct spool_batch *b,
    const struct influx_result *res)
{
	int64_t n;
	size_t cut;

	if (b->points <= 1) {
		hb_error("a single line is larger than InfluxDB accepts "
		    "(max-body-size); dead-lettered batch=%lld", (long long)b->id);
		spool_dead_letter(st->spool, b->body.data, b->body.len, b->points,
		    (int)res->status, "line larger than the server's max-body-size");
		spool_delete(st->spool, b->id);
		count_dead(st, b->points);
		return SETTLE_DONE;
	}
	cut = settle_split_point(b->body.data, b->body.len, b->points, &n);
	hb_info("influx answered 413 (body too large); splitting batch=%lld "
	    "points=%lld into %lld + %lld", (long long)b->id, (long long)b->points,
	    (long long)n, (long long)(b->points - n));
	if (spool_split(st->spool, b->id, b->body.data, b->body.len, cut, n,
	    b->points - n) != 0)
		return SETTLE_RETRY;
	return SETTLE_DONE;
}

/* The whole batch to the dead letters: InfluxDB named none of its lines. */
static enum settle_outcome
refuse_all(struct settle *st, const struct spool_batch *b,
    const struct influx_result *res)
{
	hb_error("influx refused batch=%lld points=%lld status=%ld "
	    "reason=\"%s\"; the whole batch is in the dead-letter table",
	    (long long)b->id, (long long)b->points, res->status, res->reason);
	spool_dead_letter(st->spool, b->body.data, b->body.len, b->points,
	    (int)res->status, res->reason);
	spool_delete(st->spool, b->id);
	count_dead(st, b->points);
	return SETTLE_DONE;
}

/* Copies the lines of body into good or refused, as bad[] says. */
static void
partition(const struct spool_batch *b, const bool *bad, size_t nlines,
    struct hb_buf *good, struct hb_buf *refused)
{
	size_t pos = 0, idx = 0;
	struct hb_lp_line line;
	char err[128];

	while (idx < nlines) {
		size_t before = pos;
		enum hb_lp_result r = hb_lp_next(b->body.data, b->body.len, &pos, NULL,
		    &line, err, sizeof(err));

		if (r == HB_LP_END)
			break;
		if (r == HB_LP_SKIP)
			continue;
		hb_buf_append(bad[idx] ? refused : good, b->body.data + before,
		    pos - before);
		if (pos == before || b->body.data[pos - 1] != '\n')
			hb_buf_putc(bad[idx] ? refused : good, '\n');
		idx++;
	}
}

enum settle_outcome
settle_bad_points(struct settle *st, const struct spool_batch *b,
    const struct influx_result *res)
{
	size_t nlines = (size_t)b->points, marked;
	bool *bad = hb_xcalloc(nlines ? nlines : 1, sizeof(bool));
	struct hb_buf good = { 0 }, refused = { 0 };
	enum settle_outcome out = SETTLE_DONE;

	marked = influx_bad_lines(res->reason, b->body.data, b->body.len, bad,
	    nlines);
	if (marked == 0) {
		free(bad);
		return refuse_all(st, b, res);
	}
	partition(b, bad, nlines, &good, &refused);
	hb_log_limited(st->log, HB_LOG_WARN, "influx refused points=%zu of "
	    "batch=%lld status=%ld reason=\"%s\"; those are in the dead-letter "
	    "table, the other %lld are sent again", marked, (long long)b->id,
	    res->status, res->reason, (long long)(b->points - (int64_t)marked));
	spool_dead_letter(st->spool, refused.data, refused.len, (int64_t)marked,
	    (int)res->status, res->reason);
	count_dead(st, (int64_t)marked);
	if (good.len == 0)
		spool_delete(st->spool, b->id);
	else {
		spool_replace(st->spool, b->id, good.data, good.len,
		    b->points - (int64_t)marked);
		out = SETTLE_RESEND;
	}
	hb_buf_free(&good);
	hb_buf_free(&refused);
	free(bad);
	return out;
}
