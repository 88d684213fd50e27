/*
 * fold: dedupe, per destination. Notifications with one key inside the
 * window are folded, for one destination, into the first it got; when the
 * window closes, one summary of what was folded ("and 14 more like this in
 * the last 5 min; the latest: ...") is handed on for that destination. A
 * worse severity is never folded into a milder one: it closes the window
 * and opens its own. Windows live in memory only.
 *
 * A destination is the router's number for a chat or the webhook (see
 * route.h); the folds only keep them apart. Only notifications a
 * destination takes are offered for it, so that a summary counts what it
 * would have received.
 *
 * Time is the caller's: every call says what "now" is (monotonic ms).
 */
#ifndef NOTIFIER_FOLD_H
#define NOTIFIER_FOLD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hb_metrics.h"
#include "hb_msg.h"

struct folds;
struct router;

/*
 * Windows of window_ms (0: nothing is ever folded), counters registered in
 * m. The summary of a closed window of dest that folded anything goes to
 * route_summary(router) with how many were folded; it and its strings are
 * valid only during that call, which must not call back into the folds.
 * router is borrowed. Free with fold_free.
 */
struct folds *fold_new(int64_t window_ms, struct router *router,
    struct hb_metrics *m);
/* Forgets every open window, without summaries (see fold_close_all). */
void fold_free(struct folds *fs);

/*
 * True when n is folded into an open window of dest (and so is not to be
 * sent there). False when it is to be sent: it opened a window of its
 * own, after the summary of the window it closed, if any, was handed on.
 */
bool fold_take(struct folds *fs, size_t dest, const struct hb_notify *n,
    int64_t now);

/* Closes the windows that ended by now, each with its summary. */
void fold_expire(struct folds *fs, int64_t now);

/* Closes every window at once; returns how many had a summary. */
int fold_close_all(struct folds *fs);

/* Windows open, summary or not. */
int fold_open_count(const struct folds *fs);

#endif
