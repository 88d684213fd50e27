/*
 * hb_rate: a sliding-window rate limit — at most `max` events in any
 * window of `window_ms` — for talking to APIs with published limits
 * (Telegram: 1 message/s per chat, 20/min per group, 30/s per bot). Exact,
 * unlike a token bucket: the latest `max` event times are kept, sorted.
 *
 * An event may be moved to a later time once it is known better: a request
 * is taken when it starts and moved to when its answer came, which is after
 * the server had it — so that the limit holds for what the server sees, not
 * only for what we sent.
 */
#ifndef HB_RATE_H
#define HB_RATE_H

#include <stdint.h>

struct hb_rate {
	int max;
	int64_t window_ms;
	int64_t *times;		/* the latest `max` event times, ascending */
	int n;
};

/* max >= 1, window_ms >= 0 (0: no limit). Allocates; see hb_rate_free. */
void hb_rate_init(struct hb_rate *r, int max, int64_t window_ms);
void hb_rate_free(struct hb_rate *r);
/* The earliest time (>= now_ms) the next event may happen. */
int64_t hb_rate_next(const struct hb_rate *r, int64_t now_ms);
/* Records an event at t_ms (call when it happens, even if early). */
void hb_rate_take(struct hb_rate *r, int64_t t_ms);
/* The event recorded at from_ms happened at to_ms (>= from_ms) instead. */
void hb_rate_move(struct hb_rate *r, int64_t from_ms, int64_t to_ms);

#endif
