/*
 * http targets against a loopback server that answers 200, 500, 401 or 204,
 * or never: states follow with the hysteresis (fail_after bad checks to go
 * down, recover_after good ones to come back, each visible on the bus), a
 * bearer token from a file is sent, an expected status is honoured, and an
 * endpoint that never answers does not hold up the others. A server that
 * breaks off its answers differently every time gets one reason, so that
 * its retained state is not published again on every check.
 */
#include "health_fixture.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static atomic_int toggle_status = 200;
static atomic_long ok_requests;
static atomic_long hang_requests;
static atomic_long ok_at_hang[8];	/* ok_requests when each /hang arrived */

static int
answer(const char *path, const char *authorization, struct hb_buf *body,
    void *arg)
{
	(void)arg;
	hb_buf_puts(body, "{}");
	if (strcmp(path, "/ok") == 0) {
		atomic_fetch_add(&ok_requests, 1);
		return 200;
	}
	if (strcmp(path, "/err") == 0)
		return 500;
	if (strcmp(path, "/toggle") == 0)
		return atomic_load(&toggle_status);
	if (strcmp(path, "/ping") == 0)
		return 204;
	if (strcmp(path, "/auth") == 0)
		return authorization && strcmp(authorization, "Bearer s3cret") == 0 ?
		    200 : 401;
	if (strcmp(path, "/hang") == 0) {
		long n = atomic_fetch_add(&hang_requests, 1);

		if (n < 8)
			atomic_store(&ok_at_hang[n], atomic_load(&ok_requests));
		return 0;
	}
	return 404;
}

static struct hfix f;

/*
 * A server that promises 100000 bytes and sends a different, short part of
 * them each time: curl's error text ("transfer closed with 99813 bytes
 * remaining to read") changes with every answer.
 */
static int partial_fd = -1;
static atomic_bool partial_stop;

static void *
partial_main(void *arg)
{
	char req[4096], body[1024];
	unsigned n = 0;

	(void)arg;
	memset(body, 'x', sizeof(body));
	while (!atomic_load(&partial_stop)) {
		int c = accept(partial_fd, NULL, NULL);
		const char *head = "HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n"
		    "Connection: close\r\n\r\n";
		size_t part = 1 + (n++ * 37) % (sizeof(body) - 1);

		if (c < 0)
			continue;
		if (read(c, req, sizeof(req)) > 0 &&
		    write(c, head, strlen(head)) > 0 && write(c, body, part) > 0)
			hbt_sleep_ms(20);
		close(c);
	}
	return NULL;
}

static int
partial_start(pthread_t *thread)
{
	struct sockaddr_in sa;
	socklen_t len = sizeof(sa);

	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	partial_fd = socket(AF_INET, SOCK_STREAM, 0);
	if (partial_fd < 0 || bind(partial_fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
	    listen(partial_fd, 16) != 0 ||
	    getsockname(partial_fd, (struct sockaddr *)&sa, &len) != 0 ||
	    pthread_create(thread, NULL, partial_main, NULL) != 0)
		return -1;
	return ntohs(sa.sin_port);
}

static void
expect_state(const char *target, const char *state, const char *reason)
{
	hfix_expect_state(&f, target, state, reason);
}

static size_t
notifications(const char *key)
{
	return hfix_notifications(&f, key);
}

int
main(void)
{
	struct hbt_web *web;
	struct hb_buf targets = { 0 };
	char token[600], url[200];
	const char *fail3[] = { "\"state\":\"ok\"", "(3 of 3 failed checks)", NULL };
	struct hbt_mqtt_msg *m;
	pthread_t partial_thread;
	int partial_port;
	long oks;

	hfix_init(&f, "health_http");
	web = hbt_web_start(answer, NULL);
	HBT_REQUIRE(web != NULL, "loopback server");
	partial_port = partial_start(&partial_thread);
	HBT_REQUIRE(partial_port > 0, "the server that breaks off");
	snprintf(token, sizeof(token), "%s/ha-token", hbt_dir());
	hbt_write_file(token, "s3cret\n");

#define T(name, path, extra) \
	"{\"name\": \"" name "\", \"type\": \"http\", \"url\": \"http://127.0.0.1:%d" \
	path "\"" extra "}"
	hb_buf_printf(&targets, "\"targets\": [" T("ok", "/ok", "") ", "
	    T("err", "/err", "") ", "
	    T("toggle", "/toggle", ", \"fail_after\": 3, \"recover_after\": 2") ", "
	    T("hang", "/hang", ", \"interval_s\": 3, \"timeout_ms\": 2500") ", "
	    T("auth", "/auth", ", \"token_file\": \"%s\"") ", "
	    T("noauth", "/auth", "") ", "
	    T("ping", "/ping", ", \"expect_status\": 204") ", "
	    T("wrong", "/ok", ", \"expect_status\": 204, \"notify\": false") ", "
	    T("partial", "/data", "") "], "
	    "\"interval_s\": 0.5, \"timeout_ms\": 400, \"fail_after\": 3, "
	    "\"recover_after\": 2, \"homeassistant\": {\"discovery\": false}",
	    hbt_web_port(web), hbt_web_port(web), hbt_web_port(web),
	    hbt_web_port(web), hbt_web_port(web), token, hbt_web_port(web),
	    hbt_web_port(web), hbt_web_port(web), partial_port);
#undef T
	hfix_start_health(&f, targets.data);

	/* each answer gives its state */
	expect_state("ok", "ok", "HTTP 200");
	expect_state("err", "down", "HTTP 500, expected 2xx");
	expect_state("toggle", "ok", NULL);
	expect_state("auth", "ok", "HTTP 200");
	expect_state("noauth", "down", "HTTP 401");
	expect_state("ping", "ok", "HTTP 204");
	expect_state("wrong", "down", "HTTP 200, expected 204");
	expect_state("hang", "down", "no answer within 2500 ms");
	snprintf(url, sizeof(url), "request to 127.0.0.1:%d failed: Transferred a "
	    "partial file", partial_port);
	expect_state("partial", "down", url);

	/* an answer broken off differently every time: the same reason, so the
	 * retained state is not published again on every check */
	hbt_mqtt_clear(f.states);
	hbt_sleep_ms(3000);
	HBT_CHECK(hbt_mqtt_count(f.states, "homebus/health/partial") == 0,
	    "no republishing while it stays down the same way: %zu messages in 3 s",
	    hbt_mqtt_count(f.states, "homebus/health/partial"));

	/* while one /hang check waits for its answer, /ok is checked on time */
	HBT_REQUIRE(HBT_WAIT(atomic_load(&hang_requests) >= 4, 30000),
	    "four /hang checks");
	oks = atomic_load(&ok_at_hang[3]) - atomic_load(&ok_at_hang[2]);
	HBT_CHECK(oks >= 3, "%ld /ok checks during one hung /hang check (every 0.5 s "
	    "over about 3 s)", oks);
	HBT_CHECK(hbt_mqtt_count_with(f.states, "homebus/health/ok", "\"state\":\"ok\"") ==
	    hbt_mqtt_count(f.states, "homebus/health/ok"),
	    "the ok target was never anything but ok");

	/* 500 from now: fail_after (3) failed checks to go down, each published */
	hbt_mqtt_clear(f.states);
	atomic_store(&toggle_status, 500);
	expect_state("toggle", "ok", "(1 of 3 failed checks)");
	expect_state("toggle", "ok", "(2 of 3 failed checks)");
	expect_state("toggle", "down", "HTTP 500, expected 2xx");
	m = hbt_mqtt_wait_all(f.states, "homebus/health/toggle", fail3, 0);
	HBT_CHECK(m == NULL, "the third failed check is down, not ok");
	hbt_mqtt_msg_free(m);
	HBT_CHECK(HBT_WAIT(notifications("health/toggle/down") == 1, 5000),
	    "one down notification");

	/* 200 again: recover_after (2) good checks */
	hbt_mqtt_clear(f.states);
	atomic_store(&toggle_status, 200);
	expect_state("toggle", "down", "HTTP 200 (1 of 2 good checks)");
	expect_state("toggle", "ok", "HTTP 200");
	HBT_CHECK(HBT_WAIT(notifications("health/toggle/ok") == 1, 5000),
	    "one recovery notification");

	/* no repeats while a target stays down; notify: false is silent */
	hbt_sleep_ms(2000);
	HBT_CHECK(notifications("health/err/down") == 1 &&
	    notifications("health/hang/down") == 1 &&
	    notifications("health/toggle/down") == 1 &&
	    notifications("health/toggle/ok") == 1,
	    "one notification per transition: err=%zu hang=%zu toggle=%zu/%zu",
	    notifications("health/err/down"), notifications("health/hang/down"),
	    notifications("health/toggle/down"), notifications("health/toggle/ok"));
	HBT_CHECK(notifications("health/wrong/down") == 0, "notify: false is silent");
	HBT_CHECK(hbt_metric(f.health_port, "homebus_health_checks_total{type=\"http\"}") > 20,
	    "checks are counted in /metrics");
	/* the state as a StateSet: one series per state, 1 for the one it is in */
	HBT_CHECK(hbt_metric(f.health_port, "homebus_health_target_state{target="
	    "\"ok\",state=\"ok\"}") == 1 && hbt_metric(f.health_port,
	    "homebus_health_target_state{target=\"ok\",state=\"down\"}") == 0 &&
	    hbt_metric(f.health_port, "homebus_health_target_state{target=\"ok\","
	    "state=\"degraded\"}") == 0 && hbt_metric(f.health_port,
	    "homebus_health_target_state{target=\"ok\",state=\"unknown\"}") == 0,
	    "target ok: state=\"ok\" 1, the others 0");
	HBT_CHECK(hbt_metric(f.health_port, "homebus_health_target_state{target="
	    "\"err\",state=\"down\"}") == 1 && hbt_metric(f.health_port,
	    "homebus_health_target_state{target=\"err\",state=\"ok\"}") == 0,
	    "target err: state=\"down\" 1, ok 0");
	HBT_CHECK(hbt_metric(f.health_port, "homebus_health_target_state{target="
	    "\"err\"}") == -1, "no 0-3 code series left");

	HBT_CHECK(hbt_proc_stop(&f.health.proc, SIGTERM, 10000) == 0, "clean exit "
	    "with a request in flight");
	hbt_web_stop(web);
	atomic_store(&partial_stop, true);
	shutdown(partial_fd, SHUT_RDWR);
	pthread_join(partial_thread, NULL);
	close(partial_fd);
	hb_buf_free(&targets);
	hfix_finish(&f);
}
