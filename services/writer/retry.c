/*
 * retry: InfluxDB's state as the writer sees it, the retry timer and the
 * ping timer.
 */
#include "retry.h"
#include "send.h"
#include "spool.h"
#include "hb_log.h"

#include <stdio.h>
#include <string.h>

/* The first retry waits 250 ms at most; each failure doubles the ceiling. */
#define RETRY_MIN_MS 250

static void
set_state(struct retry *r, bool ok, enum influx_verdict why, const char *reason)
{
	if (ok != r->ok || r->since_ms == 0) {
		if (ok && r->since_ms != 0)
			hb_info("influx reachable url=%s spooled_points=%lld", r->url,
			    (long long)spool_points(r->spool));
		else if (!ok)
			hb_warn("influx unavailable url=%s reason=\"%s\" (spooling; "
			    "nothing is lost)", r->url, reason);
		r->since_ms = hb_wall_ms();
	}
	r->ok = ok;
	if (r->up)
		hb_gauge_set(r->up, ok ? 1 : 0);
	if (!ok) {
		r->last_failure = why;
		snprintf(r->reason, sizeof(r->reason), "%s", reason);
	} else
		r->reason[0] = '\0';
}

static void
on_retry_timer(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	retry_resume(arg);
}

static void
on_ping(const struct influx_result *res, double elapsed_s, void *arg)
{
	struct retry *r = arg;

	(void)elapsed_s;
	r->ping = NULL;
	retry_pinged(r, res, hb_mono_ms());
}

static void
on_ping_timer(evutil_socket_t fd, short what, void *arg)
{
	struct retry *r = arg;

	(void)fd;
	(void)what;
	if (r->influx == NULL || !retry_ping_due(r, hb_mono_ms(), hb_wall_ms()))
		return;
	r->last_ping_ms = hb_mono_ms();
	r->ping = influx_ping(r->influx, on_ping, r);
}

void
retry_init(struct retry *r, struct event_base *base, struct influx *influx,
    const char *url, int64_t retry_max_ms, struct sender *send,
    struct spool *spool)
{
	memset(r, 0, sizeof(*r));
	r->send = send;
	r->spool = spool;
	r->influx = influx;
	r->url = url;
	r->ok = true;	/* until a write or ping says otherwise */
	r->last_write_ms = hb_wall_ms();
	hb_backoff_init(&r->backoff, RETRY_MIN_MS, retry_max_ms);
	r->ev_retry = evtimer_new(base, on_retry_timer, r);
	r->ev_ping = event_new(base, -1, EV_PERSIST, on_ping_timer, r);
}

void
retry_free(struct retry *r)
{
	if (r->ping)
		hb_http_cancel(r->ping);
	if (r->ev_retry)
		event_free(r->ev_retry);
	if (r->ev_ping)
		event_free(r->ev_ping);
	memset(r, 0, sizeof(*r));
}

void
retry_start(struct retry *r)
{
	if (r->up)
		hb_gauge_set(r->up, r->ok ? 1 : 0);
	hb_timer_add_ms(r->ev_ping, 1000);
}

void
retry_stop(struct retry *r)
{
	r->stopping = true;
}

void
retry_written(struct retry *r, int64_t now_wall_ms)
{
	r->last_write_ms = now_wall_ms;
	hb_backoff_reset(&r->backoff);
	set_state(r, true, INFLUX_OK, NULL);
}

void
retry_reachable(struct retry *r)
{
	set_state(r, true, INFLUX_OK, NULL);
}

void
retry_unreachable(struct retry *r, const struct influx_result *res)
{
	set_state(r, false, res->verdict, res->reason);
}

int64_t
retry_schedule(struct retry *r, const struct influx_result *res, int64_t now_ms)
{
	int64_t delay = hb_backoff_next(&r->backoff);

	if (res->retry_after_s >= 0 && res->retry_after_s * 1000 > delay)
		delay = res->retry_after_s * 1000;
	r->not_before_ms = res->status == 429 || res->retry_after_s >= 0 ?
	    now_ms + delay : 0;
	r->waiting = true;
	evtimer_del(r->ev_retry);
	hb_timer_add_ms(r->ev_retry, delay);
	return delay;
}

void
retry_resume(struct retry *r)
{
	r->waiting = false;
	send_pump(r->send);
}

bool
retry_pinged(struct retry *r, const struct influx_result *res, int64_t now_ms)
{
	if (res->verdict != INFLUX_OK) {
		/* a write in flight will say better than a ping */
		if (r->send->ninflight == 0 && r->ok)
			set_state(r, false, res->verdict, res->reason);
		return false;
	}
	/* A server that answers again ends the backoff early, unless it asked
	 * us to wait (429/Retry-After) or refused us (auth, no database). */
	if (r->ok || r->last_failure != INFLUX_RETRY || now_ms < r->not_before_ms)
		return false;
	if (r->waiting) {
		evtimer_del(r->ev_retry);
		r->waiting = false;
	}
	send_pump(r->send);
	return true;
}

bool
retry_ping_due(const struct retry *r, int64_t now_ms, int64_t now_wall_ms)
{
	bool idle = now_wall_ms - r->last_write_ms > 10000;

	if (r->ping || r->stopping)
		return false;
	/* Every second while InfluxDB is away; every 10 s when idle. */
	return !r->ok || (idle && r->send->ninflight == 0 &&
	    now_ms - r->last_ping_ms > 10000);
}
