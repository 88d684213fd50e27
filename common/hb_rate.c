/*
 * hb_rate: sliding-window rate limits.
 */
#include "hb_rate.h"
#include "hb_util.h"

#include <stdlib.h>
#include <string.h>

void
hb_rate_init(struct hb_rate *r, int max, int64_t window_ms)
{
	r->max = max < 1 ? 1 : max;
	r->window_ms = window_ms < 0 ? 0 : window_ms;
	r->times = hb_xcalloc((size_t)r->max, sizeof(*r->times));
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
	/* the oldest of the latest `max` events must have left the window */
	at = r->times[0] + r->window_ms;
	return at > now_ms ? at : now_ms;
}

void
hb_rate_take(struct hb_rate *r, int64_t t_ms)
{
	int i;

	if (r->n == r->max) {
		/* older than every event kept: it cannot matter any more */
		if (t_ms <= r->times[0])
			return;
		memmove(r->times, r->times + 1, (size_t)(r->n - 1) * sizeof(*r->times));
		r->n--;
	}
	for (i = r->n; i > 0 && r->times[i - 1] > t_ms; i--)
		r->times[i] = r->times[i - 1];
	r->times[i] = t_ms;
	r->n++;
}

void
hb_rate_move(struct hb_rate *r, int64_t from_ms, int64_t to_ms)
{
	for (int i = r->n - 1; i >= 0; i--)
		if (r->times[i] == from_ms) {
			memmove(r->times + i, r->times + i + 1,
			    (size_t)(r->n - i - 1) * sizeof(*r->times));
			r->n--;
			break;
		}
	hb_rate_take(r, to_ms);
}
