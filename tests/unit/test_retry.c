/*
 * The writer's retry decisions alone (services/writer/retry.c, InfluxDB's
 * client stubbed): the wait after a failure grows from 250 ms to
 * writer.retry_max_ms and starts again after a success; Retry-After is a
 * floor, and after a 429 or a Retry-After no ping ends the wait early;
 * after a network error or a 5xx a ping that answers does; after 401, 403
 * or 404 it does not; a failing ping marks InfluxDB away only when no
 * write in flight can say better. Time is each call's "now".
 */
#include "hbt.h"
#include "retry.h"
#include "send.h"
#include "spool.h"

#include <string.h>

static int readies;
static struct sender fake_send;	/* only its ninflight is read */

/* stubs for InfluxDB's client: retry only pings and cancels */
struct hb_http_xfer *
influx_ping(struct influx *ix, influx_done_fn done, void *arg)
{
	(void)ix;
	(void)done;
	(void)arg;
	return NULL;
}

void
hb_http_cancel(struct hb_http_xfer *xfer)
{
	(void)xfer;
}

/* stubs for the sender and the spool, which retry calls directly */
void
send_pump(struct sender *s)
{
	(void)s;
	readies++;
}

int64_t
spool_points(const struct spool *sp)
{
	(void)sp;
	return 0;
}

static void
setup(struct retry *r, struct event_base *base, int64_t retry_max_ms)
{
	fake_send.ninflight = 0;
	readies = 0;
	retry_init(r, base, NULL, "http://influx:8086", retry_max_ms, &fake_send,
	    NULL);
}

static void
answer(long status, int client_code, long retry_after_s,
    struct influx_result *res)
{
	influx_classify(status, client_code, client_code ? "Connection refused" :
	    NULL, status == 401 ? "{\"error\":\"authorization failed\"}" : "",
	    retry_after_s, res);
}

/* retry_schedule then the retry timer's end, as the loop would run them */
static int64_t
fail_once(struct retry *r, const struct influx_result *res, int64_t now_ms)
{
	int64_t delay;

	retry_unreachable(r, res);
	delay = retry_schedule(r, res, now_ms);
	retry_resume(r);
	return delay;
}

static void
test_backoff(struct event_base *base)
{
	struct retry r;
	struct influx_result res;
	int64_t d[6];

	setup(&r, base, 1000);
	answer(503, 0, -1, &res);
	HBT_CHECK(res.verdict == INFLUX_RETRY, "503 is retried");
	HBT_CHECK(r.ok && retry_may_send(&r), "reachable until told otherwise");
	retry_unreachable(&r, &res);
	d[0] = retry_schedule(&r, &res, 1000);
	HBT_CHECK(!r.ok && !retry_may_send(&r), "a failure: no write until the "
	    "retry timer");
	HBT_CHECK(r.not_before_ms == 0, "a 5xx asks for no wait: a ping may end it");
	retry_resume(&r);
	HBT_CHECK(retry_may_send(&r) && readies == 1, "the timer's end lets "
	    "writes go and says so");
	for (int i = 1; i < 6; i++)
		d[i] = fail_once(&r, &res, 1000);
	HBT_CHECK(d[0] >= 125 && d[0] <= 250, "first wait within 250 ms (%lld)",
	    (long long)d[0]);
	HBT_CHECK(d[1] >= 250 && d[1] <= 500 && d[2] >= 500 && d[2] <= 1000,
	    "then doubling (%lld, %lld)", (long long)d[1], (long long)d[2]);
	HBT_CHECK(d[4] >= 500 && d[4] <= 1000 && d[5] <= 1000, "never past "
	    "retry_max_ms (%lld, %lld)", (long long)d[4], (long long)d[5]);
	retry_written(&r, hb_wall_ms());
	HBT_CHECK(r.ok && r.reason[0] == '\0', "a write taken: reachable, no reason");
	d[0] = fail_once(&r, &res, 1000);
	HBT_CHECK(d[0] <= 250, "and the backoff starts again (%lld)", (long long)d[0]);
	retry_free(&r);
}

static void
test_retry_after(struct event_base *base)
{
	struct retry r;
	struct influx_result res;
	int64_t delay;

	setup(&r, base, 30000);
	answer(429, 0, 3, &res);
	HBT_CHECK(res.verdict == INFLUX_RETRY, "429 is retried");
	retry_unreachable(&r, &res);
	delay = retry_schedule(&r, &res, 1000);
	HBT_CHECK(delay == 3000 && r.not_before_ms == 4000, "Retry-After: 3 waits "
	    "3 s, longer than the backoff (%lld, not before %lld)",
	    (long long)delay, (long long)r.not_before_ms);
	answer(204, 0, -1, &res);
	HBT_CHECK(!retry_pinged(&r, &res, 2000) && !retry_may_send(&r) &&
	    readies == 0, "a ping that answers inside the wait InfluxDB asked for "
	    "does not end it");
	HBT_CHECK(retry_pinged(&r, &res, 4000) && retry_may_send(&r) &&
	    readies == 1, "one after it does");
	retry_free(&r);

	/* a Retry-After shorter than the backoff is a floor, not the delay */
	setup(&r, base, 30000);
	answer(503, 0, -1, &res);
	for (int i = 0; i < 5; i++)
		fail_once(&r, &res, 1000);
	answer(503, 0, 1, &res);
	retry_unreachable(&r, &res);
	delay = retry_schedule(&r, &res, 1000);
	HBT_CHECK(delay >= 4000 && r.not_before_ms == 1000 + delay,
	    "Retry-After: 1 after five failures: the backoff's %lld ms, and no "
	    "ping ends it early", (long long)delay);
	retry_free(&r);

	/* 429 without Retry-After: the backoff, and no ping ends it either */
	setup(&r, base, 30000);
	answer(429, 0, -1, &res);
	retry_unreachable(&r, &res);
	delay = retry_schedule(&r, &res, 1000);
	HBT_CHECK(delay <= 250 && r.not_before_ms == 1000 + delay, "429 alone "
	    "(%lld ms)", (long long)delay);
	retry_free(&r);
}

static void
test_ping_ends_wait(struct event_base *base)
{
	struct retry r;
	struct influx_result res, pong;

	answer(204, 0, -1, &pong);

	/* the network: a ping that answers ends the wait at once */
	setup(&r, base, 30000);
	answer(0, 7, -1, &res);
	HBT_CHECK(res.verdict == INFLUX_RETRY && strstr(res.reason, "refused"),
	    "a network error is retried: %s", res.reason);
	retry_unreachable(&r, &res);
	retry_schedule(&r, &res, 1000);
	HBT_CHECK(strstr(retry_reason(&r), "refused") != NULL, "its reason is kept");
	HBT_CHECK(retry_pinged(&r, &pong, 1001) && retry_may_send(&r) &&
	    readies == 1, "InfluxDB answers a ping: the wait ends");
	retry_free(&r);

	/* refused (wrong credentials): the wait runs its course */
	setup(&r, base, 30000);
	answer(401, 0, -1, &res);
	HBT_CHECK(res.verdict == INFLUX_REFUSED, "401 is refused");
	retry_unreachable(&r, &res);
	retry_schedule(&r, &res, 1000);
	HBT_CHECK(!retry_pinged(&r, &pong, 60000) && !retry_may_send(&r) &&
	    readies == 0, "a ping proves nothing about credentials");
	HBT_CHECK(strstr(retry_reason(&r), "authorization") != NULL,
	    "InfluxDB's reason is kept: %s", retry_reason(&r));
	retry_free(&r);
}

static void
test_ping_failing(struct event_base *base)
{
	struct retry r;
	struct influx_result res;

	setup(&r, base, 30000);
	answer(0, 7, -1, &res);
	fake_send.ninflight = 1;
	retry_pinged(&r, &res, 1000);
	HBT_CHECK(r.ok, "a failing ping beside a write in flight: the write says");
	fake_send.ninflight = 0;
	retry_pinged(&r, &res, 1000);
	HBT_CHECK(!r.ok && strstr(r.reason, "refused"), "with none: InfluxDB is "
	    "away (%s)", r.reason);
	HBT_CHECK(retry_may_send(&r), "but no write waits for a ping");
	retry_free(&r);
}

static void
test_ping_due(struct event_base *base)
{
	struct retry r;
	struct influx_result res;
	int64_t wall = hb_wall_ms();

	setup(&r, base, 30000);
	r.last_write_ms = wall;
	r.last_ping_ms = 0;
	HBT_CHECK(!retry_ping_due(&r, 100000, wall + 1000), "writes flow: no ping");
	HBT_CHECK(retry_ping_due(&r, 100000, wall + 10001), "idle 10 s: a ping");
	HBT_CHECK(!retry_ping_due(&r, 5000, wall + 10001), "but not within 10 s of "
	    "the last one");
	fake_send.ninflight = 1;
	HBT_CHECK(!retry_ping_due(&r, 100000, wall + 10001), "nor beside a write");
	fake_send.ninflight = 0;
	answer(503, 0, -1, &res);
	retry_unreachable(&r, &res);
	HBT_CHECK(retry_ping_due(&r, 100, wall + 1), "away: every second");
	retry_stop(&r);
	HBT_CHECK(!retry_ping_due(&r, 100, wall + 1), "stopping: none");
	retry_free(&r);
}

int
main(void)
{
	struct event_base *base;

	hbt_init("retry");
	base = event_base_new();
	HBT_REQUIRE(base != NULL, "event_base_new");
	test_backoff(base);
	test_retry_after(base);
	test_ping_ends_wait(base);
	test_ping_failing(base);
	test_ping_due(base);
	event_base_free(base);
	hbt_exit();
}
