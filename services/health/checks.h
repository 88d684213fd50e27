/*
 * checks: one check of an http, exec or disk target, run on the loop —
 * http on the libcurl multi client, exec through hb_proc, disk through
 * hb_proc too (`stat -f`: a statvfs that hangs on a dead mount hangs a
 * child, not the loop) — turned into a check_result a person can read.
 */
#ifndef CHECKS_H
#define CHECKS_H

#include <event2/event.h>

#include "hb_http_client.h"
#include "target.h"

/*
 * A check still in flight this long after its timeout_ms is abandoned by
 * the watchdog. More than hb_proc's wait after SIGKILL, so that a child
 * that will not die is told by hb_proc first.
 */
#define CHECK_OVERDUE_MS 5000

struct check_env {
	struct event_base *base;
	struct hb_http_client *http;
};

typedef void (*check_done_fn)(struct target *t, const struct check_result *r,
    void *arg);

/*
 * Starts a check of t (type http, exec or disk). The result comes through
 * done exactly once, maybe before check_start returns (a command that
 * cannot be started, or the child of an earlier check still stuck after
 * SIGKILL: then no other is started). t->pending holds the check in flight
 * until then; t->lingering a child that outlived SIGKILL until it is reaped.
 */
void check_start(struct check_env *env, struct target *t, check_done_fn done,
    void *arg);
/* Aborts the check in flight of t, if any; done is not called. */
void check_cancel(struct target *t);
/*
 * The watchdog: when t's check has been in flight longer than its
 * timeout_ms plus CHECK_OVERDUE_MS at now_us (monotonic), it is abandoned
 * (its child killed and left to be reaped, its transfer cancelled) and
 * its done is called with a failure. Returns true then.
 */
bool check_overdue(struct target *t, int64_t now_us);
/* Cancels the check in flight and gives up on a lingering child: before t is freed. */
void check_release(struct target *t);

/*
 * Copies one line of a child's or server's output into out, fit for a
 * reason: valid UTF-8, no control characters, at most outlen - 1 bytes.
 * last: the last non-empty line, else the first.
 */
void check_excerpt(const char *text, size_t len, bool last, char *out,
    size_t outlen);

#endif
