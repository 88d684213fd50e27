/*
 * hb_rate: sliding-window rate limits.
 */
#include "hb_rate.h"
#include "hb_util.h"

#include <stdlib.h>

void
hb_rate_init(struct hb_rate *r, int max, int64_t window_ms)
{
	r->max = max < 1 ? 1 : max;
	r->window_ms = window_ms < 0 ? 0 : window_ms;
	r->times = hb_xcalloc((size_t)r->max, sizeof(*r->times));
	r->head = 0;
	r->n = 0;
}

void
hb_rate_free(struct hb_rate *r)
{
	free(r->times);
	r->times = NULL;
	r->n = 0;
}

int64_t
hb_rate_next(const struct hb_rate *r, int64_t now_ms)
{
	int64_t at;

	if (r->n < r->max || r->window_ms == 0)
		return now_ms;
	/* the oldest of the last `max` events must have left the window */
	at = r->times[r->head] + r->window_ms;
	return at > now_ms ? at : now_ms;
}

void
hb_rate_take(struct hb_rate *r, int64_t now_ms)
{
	if (r->n < r->max) {
		r->times[(r->head + r->n) % r->max] = now_ms;
		r->n++;
		return;
	}
	r->times[r->head] = now_ms;
	r->head = (r->head + 1) % r->max;
}
