/*
 * A service that comes (back) is seen at once, with the watcher's default
 * 30 s interval: an expected service started after the watcher is ok
 * within seconds of its online status and first heartbeat, not unknown
 * until the next check; killed, it is down through its last will;
 * restarted, it is ok at its first heartbeat, not after recover_after
 * more intervals. And the status page counts a service's uptime from its
 * start, so that between two heartbeats it does not stand still.
 */
#include "health_fixture.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>

#define STATE_OK "\"state\":\"ok\""

/* The seconds of "up N s" in target's card on the status page, or -1. */
static long
uptime_on_page(int port, const char *target)
{
	struct hb_buf body = { 0 };
	char url[128], id[96];
	const char *card, *end, *up;
	long n = -1;

	snprintf(url, sizeof(url), "http://127.0.0.1:%d/", port);
	snprintf(id, sizeof(id), "id=\"t-%s\"", target);
	if (hbt_http("GET", url, NULL, &body) == 200 && body.data &&
	    (card = strstr(body.data, id)) != NULL &&
	    (end = strstr(card, "</section>")) != NULL &&
	    (up = strstr(card, " · up ")) != NULL && up < end)
		n = strtol(up + strlen(" · up "), NULL, 10);
	hb_buf_free(&body);
	return n;
}

int
main(void)
{
	struct hfix f;
	struct hbt_mqtt_msg *m;
	const char *beat = "{\"uptime_s\": 0, \"rss_kb\": 1}";
	long up;

	hfix_init(&f, "health_return");
	hfix_start_health(&f, "\"interval_s\": 30, \"heartbeat_timeout_s\": 90, "
	    "\"expected_services\": [\"ingest\"], "
	    "\"homeassistant\": {\"discovery\": false}");
	m = hfix_wait_state(&f, "ingest", "\"state\":\"unknown\"",
	    "waiting for its status", 20000);
	HBT_CHECK(m != NULL, "the expected ingest, not started yet, is unknown");
	hbt_mqtt_msg_free(m);

	/* it comes: ok at once, not at the next 30 s check */
	hbt_mqtt_clear(f.states);
	hfix_start_ingest(&f);
	m = hfix_wait_state(&f, "ingest", STATE_OK, "\"started\"", 15000);
	HBT_CHECK(m != NULL, "ingest is ok within seconds of coming online");
	hbt_mqtt_msg_free(m);

	/* killed: down through its last will */
	hbt_mqtt_clear(f.states);
	HBT_CHECK(hbt_proc_stop(&f.ingest.proc, SIGKILL, 5000) >= 0, "ingest killed");
	m = hfix_wait_state(&f, "ingest", "\"state\":\"down\"", "last will", 15000);
	HBT_CHECK(m != NULL, "down at once through its last will");
	hbt_mqtt_msg_free(m);

	/* back: ok at its first heartbeat, as the will was believed at once */
	hbt_mqtt_clear(f.states);
	HBT_REQUIRE(hbt_proc_restart(&f.ingest.proc) == 0, "ingest restarted");
	m = hfix_wait_state(&f, "ingest", STATE_OK, "\"started\"", 15000);
	HBT_CHECK(m != NULL, "ok again within seconds of its restart");
	hbt_mqtt_msg_free(m);
	HBT_CHECK(hbt_mqtt_count_with(f.states, "homebus/health/ingest",
	    "good checks") == 0, "not held down for recover_after more checks");
	HBT_CHECK(HBT_WAIT(hfix_notifications(&f, "health/ingest/ok") == 1, 10000),
	    "its recovery is told");

	/* the page's uptime: from the start, not the last heartbeat's figure */
	hbt_mqtt_publish(f.notes, "homebus/svc/ghost/hub/status", "online", 6, 1,
	    true);
	m = hfix_wait_state(&f, "ghost", STATE_OK, NULL, 15000);
	HBT_CHECK(m != NULL, "a service found on the bus");
	hbt_mqtt_msg_free(m);
	hbt_mqtt_publish(f.notes, "homebus/svc/ghost/hub/heartbeat", beat,
	    strlen(beat), 0, false);
	HBT_CHECK(HBT_WAIT(uptime_on_page(f.health_port, "ghost") >= 0, 10000),
	    "its heartbeat is taken");
	hbt_sleep_ms(3000);
	up = uptime_on_page(f.health_port, "ghost");
	HBT_CHECK(up >= 3, "3 s after a heartbeat saying up 0 s, the page says "
	    "up %ld s", up);
	hbt_mqtt_publish(f.notes, "homebus/svc/ghost/hub/status", "", 0, 1, true);
	hfix_finish(&f);
}
