/*
 * Requests on homebus/health/check, as the deployer makes them while it
 * verifies a deploy: a target checked every 30 s that goes down is seen
 * down within seconds of a request naming it (and was not seen down
 * before), checked every interval_s until the request's `until`, then back
 * to its own interval; targets not named are left alone; a request naming
 * none checks every target; unknown names and unreadable requests are
 * logged and ignored. "check" is never a target: a service called check is
 * check@<instance>, and nothing is ever retained on homebus/health/check.
 */
#include "health_fixture.h"
#include "hb_msg.h"

#include <stdatomic.h>
#include <string.h>

static atomic_int web_status = 200;
static atomic_long web_requests;
static atomic_long other_requests;

static int
answer(const char *path, const char *authorization, struct hb_buf *body,
    void *arg)
{
	(void)authorization;
	(void)arg;
	hb_buf_puts(body, "{}");
	if (strcmp(path, "/web") == 0) {
		atomic_fetch_add(&web_requests, 1);
		return atomic_load(&web_status);
	}
	if (strcmp(path, "/other") == 0) {
		atomic_fetch_add(&other_requests, 1);
		return 200;
	}
	return 404;
}

/* Publishes a check request; until_s from now (0: none). */
static void
request(struct hfix *f, const char *targets, int until_s, int interval_s)
{
	struct hb_buf b = { 0 };
	char until[40] = "";

	if (until_s > 0) {
		json_t *t = hb_msg_time(hb_wall_ms() + until_s * 1000LL);

		snprintf(until, sizeof(until), ", \"until\": \"%s\"", json_string_value(t));
		json_decref(t);
	}
	hb_buf_printf(&b, "{\"targets\": %s%s, \"interval_s\": %d, "
	    "\"requested_by\": \"test\"}", targets, until, interval_s);
	hbt_mqtt_publish(f->notes, "homebus/health/check", b.data, b.len, 1, false);
	hb_buf_free(&b);
}

int
main(void)
{
	struct hfix f;
	struct hbt_web *web;
	struct hb_buf cfg = { 0 }, body = { 0 };
	struct hbt_mqtt_msg *m;
	long before, after;
	int64_t asked;
	char url[128];

	hfix_init(&f, "health_check");
	web = hbt_web_start(answer, NULL);
	HBT_REQUIRE(web != NULL, "loopback server");
	hb_buf_printf(&cfg, "\"interval_s\": 30, \"fail_after\": 2, "
	    "\"recover_after\": 1, \"homeassistant\": {\"discovery\": false}, "
	    "\"targets\": ["
	    "{\"name\": \"web\", \"type\": \"http\", \"url\": \"http://127.0.0.1:%d/web\"},"
	    "{\"name\": \"other\", \"type\": \"http\", \"url\": \"http://127.0.0.1:%d/other\"}]",
	    hbt_web_port(web), hbt_web_port(web));
	hfix_start_health(&f, cfg.data);
	hfix_expect_state(&f, "web", "ok", "HTTP 200");
	hfix_expect_state(&f, "other", "ok", "HTTP 200");

	/* web breaks: with a 30 s interval nobody looks for a while */
	atomic_store(&web_status, 500);
	before = atomic_load(&web_requests);
	hbt_sleep_ms(3000);
	HBT_CHECK(hbt_mqtt_count_with(f.states, "homebus/health/web",
	    "\"state\":\"down\"") == 0 && atomic_load(&web_requests) == before,
	    "before the request, web is not checked and not seen down");

	/* a request naming web: checked now and every second */
	before = atomic_load(&other_requests);
	asked = hb_mono_ms();
	request(&f, "[\"web\"]", 8, 1);
	m = hfix_wait_state(&f, "web", "\"state\":\"down\"", "HTTP 500", 15000);
	HBT_CHECK(m != NULL, "web is down within seconds of the request (2 failed "
	    "checks), not at its 30 s interval");
	if (m)
		hbt_log("down %lld ms after the request",
		    (long long)(m->at_ms - asked));
	hbt_mqtt_msg_free(m);
	HBT_CHECK(atomic_load(&other_requests) == before,
	    "the target not named is not checked");

	/* after until, back to 30 s */
	HBT_WAIT(hb_mono_ms() - asked > 9500, 12000);
	before = atomic_load(&web_requests);
	hbt_sleep_ms(4000);
	after = atomic_load(&web_requests);
	HBT_CHECK(after - before <= 1, "after until, back to its own interval: %ld "
	    "checks in 4 s", after - before);

	/* no names: every target, once (their 30 s ticks are far apart) */
	before = atomic_load(&other_requests);
	after = atomic_load(&web_requests);
	request(&f, "[]", 0, 0);
	HBT_CHECK(HBT_WAIT(atomic_load(&other_requests) > before &&
	    atomic_load(&web_requests) > after, 8000),
	    "a request naming no target checks them all");

	/* what is not a request, and what is not a target */
	hbt_mqtt_publish(f.notes, "homebus/health/check", "not json", 8, 1, false);
	request(&f, "[\"nope\"]", 5, 1);
	HBT_CHECK(HBT_WAIT(hbt_proc_log_has(&f.health.proc, "target=nope, which is "
	    "not one") && hbt_proc_log_has(&f.health.proc, "check request ignored"),
	    10000), "an unknown target and an unreadable request are logged");

	/* a service called check: not P/health/check */
	hbt_mqtt_publish(f.notes, "homebus/svc/check/hub/status", "online", 6, 1, true);
	hfix_expect_state(&f, "check@hub", "ok", "online");
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/health", f.health_port);
	HBT_CHECK(hbt_http("GET", url, NULL, &body) == 200 && body.data &&
	    strstr(body.data, "\"check@hub\"") && !strstr(body.data, "\"check\""),
	    "the service is the target check@hub: %s", body.data ? body.data : "");
	HBT_CHECK(hbt_mqtt_count_with(f.states, "homebus/health/check", "\"state\"") ==
	    0, "no state is ever published on homebus/health/check");
	HBT_CHECK(hbt_proc_alive(&f.health.proc), "the watcher still runs");
	HBT_CHECK(hbt_metric(f.health_port, "homebus_health_check_requests_total") >= 3,
	    "requests are counted");
	hbt_mqtt_publish(f.notes, "homebus/svc/check/hub/status", "", 0, 1, true);

	hbt_web_stop(web);
	hb_buf_free(&cfg);
	hb_buf_free(&body);
	hfix_finish(&f);
}
