/*
 * verify: is the stack healthy after `up`? Every target must be "ok" on
 * P/health/<target> (the health watcher's retained states) for stable_s
 * without interruption, within timeout_s; a target the watcher reports as
 * a homebus service must also have (re)started after `up` (its state's
 * "started"), so that a container that was never replaced does not pass.
 * While verifying it asks the watcher, on P/health/check, to check those
 * targets now and every interval_s; a watcher that does not honour the
 * request still publishes on its own interval, and verify waits for that.
 */
#ifndef DEPLOYER_VERIFY_H
#define DEPLOYER_VERIFY_H

#include <event2/event.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hb_bus.h"

struct verify;

struct verify_req {
	const char *const *targets;
	size_t ntargets;
	/*
	 * Must a service target have restarted? restart[i] for targets[i]
	 * (only targets the watcher reports as type "service" are checked).
	 */
	const bool *restart;
	int64_t since_ms;	/* wall clock `up` began; a restart is after it */
	int timeout_s;
	int stable_s;
	int interval_s;
};

/* ok, or why not (names each target that was not ok); valid during the call */
typedef void (*verify_done_fn)(bool ok, const char *reason, void *arg);

/* The bus is borrowed; requested_by names us in P/health/check. */
struct verify *verify_new(struct event_base *base, struct hb_bus *bus,
    const char *prefix, const char *requested_by);
void verify_free(struct verify *v);
/* Subscribes to P/health/+ (every state is kept, so that none is missed). */
int verify_subscribe(struct verify *v);

/* Starts verifying (one at a time); done is called once, from the loop. */
void verify_start(struct verify *v, const struct verify_req *req,
    verify_done_fn done, void *arg);
/* Stops without a callback. */
void verify_cancel(struct verify *v);
bool verify_busy(const struct verify *v);

#endif
