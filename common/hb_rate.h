/*
 * hb_rate: a sliding-window rate limit — at most `max` events in any
 * window of `window_ms` — for talking to APIs with published limits
 * (Telegram: 1 message/s per chat, 20/min per group, 30/s per bot). Exact,
 * unlike a token bucket: the times of the last `max` events are kept.
 */
#ifndef HB_RATE_H
#define HB_RATE_H

#include <stdint.h>

struct hb_rate {
	int max;
	int64_t window_ms;
	int64_t *times;		/* ring of the last `max` event times */
	int head;		/* index of the oldest */
	int n;
};

/* max >= 1, window_ms >= 0 (0: no limit). Allocates; see hb_rate_free. */
void hb_rate_init(struct hb_rate *r, int max, int64_t window_ms);
void hb_rate_free(struct hb_rate *r);
/* The earliest time (>= now_ms) the next event may happen. */
int64_t hb_rate_next(const struct hb_rate *r, int64_t now_ms);
/* Records an event at now_ms (call when it happens, even if early). */
void hb_rate_take(struct hb_rate *r, int64_t now_ms);

#endif
