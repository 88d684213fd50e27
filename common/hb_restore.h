/*
 * hb_restore: a retained message of ours that other accounts can replace
 * (a Home Assistant discovery config under homeassistant/, which Home
 * Assistant's own account may write): whether to publish ours again now,
 * and a log line about it at most once a window.
 */
#ifndef HB_RESTORE_H
#define HB_RESTORE_H

#include <stdbool.h>
#include <stdint.h>

#include "hb_rate.h"

struct hb_restore {
	struct hb_rate rate;	/* ours published again */
	int64_t logged_ms;	/* monotonic, the last log line */
	long found;		/* others' found since that line */
};

/*
 * At most max republishes in any window_ms (max >= 1), so that two
 * publishers of one topic (two services given the same bus.instance) do
 * not answer each other for ever. Free with hb_restore_free.
 */
void hb_restore_init(struct hb_restore *r, int max, int64_t window_ms);
void hb_restore_free(struct hb_restore *r);
/*
 * Another's message was found on topic, where `what` (for the log: "the
 * update entity's discovery config") should be: true when ours is to be
 * published again now. Logs a warning at most once a window.
 */
bool hb_restore_take(struct hb_restore *r, const char *what, const char *topic);

#endif
