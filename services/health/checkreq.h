/*
 * checkreq: requests on P/health/check to check targets now and again
 * every few seconds until a given time — what a deploy being verified asks
 * for, so that it does not wait for a 30 s check interval. A request names
 * its targets, or none for all of them.
 */
#ifndef CHECKREQ_H
#define CHECKREQ_H

#include <stddef.h>
#include <stdint.h>

#include "hb_log.h"
#include "target.h"

#define CHECKREQ_INTERVAL_MS 2000	/* a request's interval_s 0: every 2 s */
#define CHECKREQ_MIN_INTERVAL_MS 1000
#define CHECKREQ_MAX_MS (15 * 60 * 1000)	/* until at most 15 min ahead */

struct checkreq {
	struct target_list *targets;
	struct hb_ratelimit log;	/* unreadable requests, unknown targets */
};

/* Called for each target a request asks to check now. */
typedef void (*checkreq_now_fn)(void *arg, struct target *t);

void checkreq_init(struct checkreq *c, struct target_list *targets);
/*
 * Takes one request received at now_ms (wall clock): every target it
 * names (all when it names none) is hurried (target_hurry) until its
 * `until`, at most CHECKREQ_MAX_MS ahead, and handed to now. A name that
 * is not a target is logged at a limited rate and skipped. Returns how
 * many targets were handed over, or -1 for a request that cannot be read
 * (logged at a limited rate).
 */
int checkreq_take(struct checkreq *c, const char *payload, size_t len,
    int64_t now_ms, checkreq_now_fn now, void *arg);

#endif
