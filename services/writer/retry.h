/*
 * retry: what the writer knows of InfluxDB between writes. Whether it is
 * reachable and why not; when the next attempt may go after a failure
 * (exponential backoff with jitter from 250 ms to writer.retry_max_ms,
 * Retry-After honoured); and the ping, every second while InfluxDB is away
 * and every 10 s when idle, whose answer ends a backoff early unless
 * InfluxDB asked for the wait (429, Retry-After) or refused us (401, 403,
 * 404).
 */
#ifndef WRITER_RETRY_H
#define WRITER_RETRY_H

#include <event2/event.h>
#include <stdbool.h>
#include <stdint.h>

#include "hb_metrics.h"
#include "hb_util.h"
#include "influx.h"

struct sender;
struct spool;

struct retry {
	struct sender *send;		/* pumped when the wait is over; its
					 * writes in flight outrank a ping */
	struct spool *spool;		/* for the log line when InfluxDB is back */
	struct influx *influx;		/* pings; may be NULL (no pings) */
	const char *url;		/* without credentials, for logs */

	bool ok;			/* the last write or ping succeeded */
	enum influx_verdict last_failure;
	char reason[512];		/* why not, "" when ok */
	int64_t since_ms;		/* wall time ok last changed; 0: never */
	int64_t last_write_ms;		/* wall time of the last write taken */

	struct hb_backoff backoff;
	bool waiting;			/* no write until the retry timer */
	int64_t not_before_ms;		/* monotonic; InfluxDB asked us to wait */
	struct event *ev_retry;

	struct event *ev_ping;
	struct hb_http_xfer *ping;	/* in flight */
	int64_t last_ping_ms;
	bool stopping;
	struct hb_gauge *up;		/* influx_up; may be NULL */
};

/*
 * InfluxDB counts as reachable until a write or ping says otherwise.
 * influx may be NULL (then no ping goes out); url is kept, not copied;
 * send and spool are borrowed.
 */
void retry_init(struct retry *r, struct event_base *base, struct influx *influx,
    const char *url, int64_t retry_max_ms, struct sender *send,
    struct spool *spool);
void retry_free(struct retry *r);
/* Starts the ping timer (once a second). */
void retry_start(struct retry *r);
/* SIGTERM: no more pings. */
void retry_stop(struct retry *r);

/* Whether a write may start: no retry is waited for. */
static inline bool
retry_may_send(const struct retry *r)
{
	return !r->waiting;
}

/* InfluxDB took a write at wall time now_wall_ms: reachable, backoff reset. */
void retry_written(struct retry *r, int64_t now_wall_ms);
/* InfluxDB answered (413, 400, 422): reachable, whatever it made of the batch. */
void retry_reachable(struct retry *r);
/* A write failed (REFUSED or RETRY): unreachable, for res->reason. */
void retry_unreachable(struct retry *r, const struct influx_result *res);
/*
 * Waits before the next write: the backoff's next delay, or Retry-After if
 * longer. After a 429 or a Retry-After no ping ends the wait before it is
 * over. Returns the delay in ms; writes wait until the retry timer.
 */
int64_t retry_schedule(struct retry *r, const struct influx_result *res,
    int64_t now_ms);
/* The retry timer fired: writes may go again (send_pump). */
void retry_resume(struct retry *r);

/*
 * A ping's answer at now_ms (monotonic). Returns true when it ended the
 * wait (then send_pump was called).
 */
bool retry_pinged(struct retry *r, const struct influx_result *res,
    int64_t now_ms);
/* Whether to ping now (monotonic now_ms, wall now_wall_ms). */
bool retry_ping_due(const struct retry *r, int64_t now_ms, int64_t now_wall_ms);

/* "" when reachable, else InfluxDB's words or the client's. */
static inline const char *
retry_reason(const struct retry *r)
{
	return r->reason;
}

#endif
