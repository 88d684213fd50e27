/*
 * homebus services as the health watcher sees them on a real mosquitto: a
 * service killed with SIGKILL is down at once through its last will, one
 * that hangs (SIGSTOP) is down when its heartbeat is late, an expected
 * service that never came is down; each is ok again at its first
 * heartbeat, with exactly one notification each way, and a second
 * outage under a key of its own (the notifier folds repeats of a key). A
 * service on the bus whose name cannot be a target ("_all") is not one,
 * and a heartbeat with an absurd uptime is taken as 10 years at most.
 */
#include "health_fixture.h"
#include "hb_msg.h"

#include <signal.h>
#include <string.h>

#define STATE_OK "\"state\":\"ok\""
#define STATE_DOWN "\"state\":\"down\""

static struct hfix f;

/* Waits for a state message of target containing a (and b, if not NULL). */
static struct hbt_mqtt_msg *
wait_state(const char *target, const char *a, const char *b, int64_t timeout_ms)
{
	return hfix_wait_state(&f, target, a, b, timeout_ms);
}

/* The "started" time of a state message, or -1. */
static int64_t
started_of(const struct hbt_mqtt_msg *m)
{
	json_t *o = m ? json_loads(m->payload, 0, NULL) : NULL;
	const char *s = json_string_value(json_object_get(o, "started"));
	int64_t t = s ? hb_msg_parse_time(s) : -1;

	json_decref(o);
	return t;
}

/* The dedupe key of a notification (copied into out), or "". */
static const char *
key_of(const struct hbt_mqtt_msg *m, char *out, size_t outlen)
{
	json_t *o = m ? json_loads(m->payload, 0, NULL) : NULL;
	const char *k = json_string_value(json_object_get(o, "key"));

	snprintf(out, outlen, "%s", k ? k : "");
	json_decref(o);
	return out;
}

static size_t
notifications(const char *key)
{
	return hfix_notifications(&f, key);
}

int
main(void)
{
	struct hbt_mqtt *notes;
	struct hbt_mqtt_msg *m, *ok, *m2;
	struct hb_buf body = { 0 };
	int64_t started, ghost_started;
	const char *early_beat = "{\"uptime_s\": 5, \"rss_kb\": 1}";
	char url[128], key1[160], key2[160];

	hfix_init(&f, "health_services");
	notes = f.notes;
	hfix_start_ingest(&f);
	hfix_start_health(&f,
	    "\"interval_s\": 1, \"heartbeat_timeout_s\": 3, \"fail_after\": 3, "
	    "\"recover_after\": 2, \"expected_services\": [\"ingest\", \"writer\"], "
	    "\"homeassistant\": {\"discovery\": false}");

	/* a running service is ok; an expected one that never came is down */
	m = wait_state("ingest", STATE_OK, "\"started\"", 20000);
	HBT_CHECK(m != NULL, "ingest is ok while it runs, with its start time");
	started = started_of(m);
	hbt_mqtt_msg_free(m);
	m = wait_state("writer", STATE_DOWN, "never seen", 20000);
	HBT_CHECK(m != NULL, "the expected writer, never started, is down");
	hbt_mqtt_msg_free(m);
	m = wait_state("_all", STATE_DOWN, "writer down", 10000);
	HBT_CHECK(m != NULL, "the overall state is down and names the writer");
	hbt_mqtt_msg_free(m);
	HBT_CHECK(HBT_WAIT(notifications("health/writer/down") == 1, 10000),
	    "one critical notification for the writer");
	HBT_CHECK(hbt_mqtt_count_with(notes, "homebus/notify/critical",
	    "health/writer/down") == 1, "on the critical topic");

	/* names on the bus that cannot be targets: "_all" would overwrite the
	 * overall state */
	hbt_mqtt_clear(f.states);
	hbt_mqtt_publish(notes, "homebus/svc/_all/hub/status", "online", 6, 1, true);
	hbt_mqtt_publish(notes, "homebus/svc/ghost/.hidden/status", "online", 6, 1,
	    true);
	hbt_sleep_ms(3000);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/health", f.health_port);
	HBT_CHECK(hbt_http("GET", url, NULL, &body) == 200 && body.data &&
	    strstr(body.data, "\"ingest\"") && !strstr(body.data, "\"_all\"") &&
	    !strstr(body.data, ".hidden"), "not targets: %s",
	    body.data ? body.data : "");
	HBT_CHECK(hbt_mqtt_count(f.states, "homebus/health/_all") ==
	    hbt_mqtt_count_with(f.states, "homebus/health/_all", "\"counts\""),
	    "homebus/health/_all is only ever the overall state");
	HBT_CHECK(hbt_proc_log_has(&f.health.proc, "cannot be a target"), "logged");
	hbt_mqtt_publish(notes, "homebus/svc/_all/hub/status", "", 0, 1, true);
	hbt_mqtt_publish(notes, "homebus/svc/ghost/.hidden/status", "", 0, 1, true);

	/* a heartbeat claiming an uptime of 2^63 s: 10 years at most, on the
	 * page and in "started" (published when it comes back from a late
	 * heartbeat) */
	hbt_mqtt_clear(f.states);
	hbt_mqtt_publish(notes, "homebus/svc/ghost/hub/status", "online", 6, 1, true);
	m = wait_state("ghost", STATE_DOWN, "no heartbeat for", 20000);
	HBT_CHECK(m != NULL, "ghost is down without heartbeats");
	hbt_mqtt_msg_free(m);
	m = NULL;
	for (int i = 0; i < 60 && m == NULL; i++) {
		const char *beat = "{\"uptime_s\": 9223372036854775807, \"rss_kb\": 1}";

		hbt_mqtt_publish(notes, "homebus/svc/ghost/hub/heartbeat", beat,
		    strlen(beat), 0, false);
		m = wait_state("ghost", STATE_OK, "\"started\"", 300);
	}
	ghost_started = started_of(m);
	HBT_CHECK(m != NULL && ghost_started > hb_wall_ms() -
	    (10LL * 366 + 2) * 86400000 && ghost_started < hb_wall_ms() -
	    (10LL * 365 - 2) * 86400000,
	    "started 10 years ago, not an overflow: %s", m ? m->payload : "-");
	hbt_mqtt_msg_free(m);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/", f.health_port);
	hb_buf_reset(&body);
	HBT_CHECK(hbt_http("GET", url, NULL, &body) == 200 && body.data &&
	    strstr(body.data, "up 3660 d 0 h"), "the page says up 10 years");
	HBT_CHECK(hbt_proc_alive(&f.health.proc), "the watcher is still running");
	hbt_mqtt_publish(notes, "homebus/svc/ghost/hub/status", "", 0, 1, true);

	/* online before any heartbeat of this run (status and heartbeat travel
	 * on topics of their own): ok at once, and "started" on the bus with
	 * the first heartbeat, not a state refresh (60 s) later: the deployer
	 * tells a restarted service by it */
	hbt_mqtt_clear(f.states);
	hbt_mqtt_publish(notes, "homebus/svc/early/hub/status", "online", 6, 1,
	    true);
	m = wait_state("early", STATE_OK, NULL, 5000);
	HBT_CHECK(m != NULL && !strstr(m->payload, "\"started\""),
	    "ok before its first heartbeat, start unknown: %s",
	    m ? m->payload : "-");
	hbt_mqtt_msg_free(m);
	hbt_mqtt_publish(notes, "homebus/svc/early/hub/heartbeat", early_beat,
	    strlen(early_beat), 0, false);
	m = wait_state("early", STATE_OK, "\"started\"", 2000);
	HBT_CHECK(m != NULL && started_of(m) > hb_wall_ms() - 10000 &&
	    started_of(m) < hb_wall_ms() - 3000, "its first heartbeat puts "
	    "\"started\" on the bus at once: %s", m ? m->payload : "-");
	hbt_mqtt_msg_free(m);
	hbt_mqtt_publish(notes, "homebus/svc/early/hub/status", "", 0, 1, true);

	/* SIGKILL: the broker publishes its last will, the target is down at once */
	hbt_mqtt_clear(f.states);
	HBT_CHECK(hbt_proc_stop(&f.ingest.proc, SIGKILL, 5000) >= 0, "ingest killed");
	m = wait_state("ingest", STATE_DOWN, NULL, 20000);
	HBT_CHECK(m && strstr(m->payload, "last will"),
	    "down through its last will, not a late heartbeat: %s",
	    m ? m->payload : "(nothing)");
	hbt_mqtt_msg_free(m);
	HBT_CHECK(HBT_WAIT(notifications("health/ingest/down") == 1, 10000),
	    "one notification for the kill");

	/* back: ok at its first heartbeat (its online status and a heartbeat
	 * are the evidence, as the will was), not after recover_after checks */
	hbt_mqtt_clear(f.states);
	HBT_REQUIRE(hbt_proc_restart(&f.ingest.proc) == 0, "ingest restarted");
	ok = wait_state("ingest", STATE_OK, "\"started\"", 20000);
	HBT_CHECK(ok != NULL, "ok again");
	HBT_CHECK(hbt_mqtt_count_with(f.states, "homebus/health/ingest",
	    "good checks") == 0, "at once, not held down for good checks");
	HBT_CHECK(started > 0 && started_of(ok) > started,
	    "the state says it started again: %lld then %lld", (long long)started,
	    (long long)started_of(ok));
	hbt_mqtt_msg_free(ok);
	HBT_CHECK(HBT_WAIT(notifications("health/ingest/ok") == 1, 10000),
	    "one recovery notification");

	/* SIGSTOP: still connected, no heartbeats: down on the heartbeat timeout */
	hbt_mqtt_clear(f.states);
	kill(f.ingest.proc.pid, SIGSTOP);
	m = wait_state("ingest", STATE_DOWN, "no heartbeat for", 20000);
	HBT_CHECK(m != NULL, "a hung service is down when its heartbeat is late");
	hbt_mqtt_msg_free(m);
	kill(f.ingest.proc.pid, SIGCONT);
	m = wait_state("ingest", STATE_OK, NULL, 20000);
	HBT_CHECK(m != NULL, "ok again once it beats");
	hbt_mqtt_msg_free(m);

	/* exactly one notification each way, each time: nothing more comes */
	hbt_sleep_ms(4000);
	HBT_CHECK(notifications("health/ingest/down") == 2 &&
	    notifications("health/ingest/ok") == 2,
	    "two outages, two notifications each way: down=%zu ok=%zu",
	    notifications("health/ingest/down"), notifications("health/ingest/ok"));
	HBT_CHECK(notifications("health/writer/down") == 1,
	    "the writer, down all along, was told once: %zu",
	    notifications("health/writer/down"));
	HBT_CHECK(hbt_mqtt_count_with(notes, "homebus/notify/info",
	    "health/ingest/ok") == 2, "recoveries are info");
	/* the notifier folds notifications with one key for dedupe_window_s: the
	 * second outage must not look like a repeat of the first */
	m = hbt_mqtt_wait(notes, "homebus/notify/critical", "health/ingest/down/", 0);
	m2 = hbt_mqtt_last(notes, "homebus/notify/critical");
	HBT_CHECK(m && m2 && strstr(m2->payload, "health/ingest/down/") &&
	    strcmp(key_of(m, key1, sizeof(key1)), key_of(m2, key2, sizeof(key2))) != 0,
	    "two outages, two keys: %s %s", key1, key2);
	hbt_mqtt_msg_free(m);
	hbt_mqtt_msg_free(m2);

	/* the watcher stops cleanly and says so (Home Assistant's availability) */
	HBT_CHECK(hbt_proc_stop(&f.health.proc, SIGTERM, 10000) == 0, "clean exit");
	{
		struct hbt_mqtt *late = hbt_mqtt_connect(f.broker.port, "test-late");

		HBT_REQUIRE(late != NULL, "a late client");
		hbt_mqtt_subscribe(late, "homebus/svc/health/hub/status", 1);
		m = hbt_mqtt_wait(late, "homebus/svc/health/hub/status", NULL, 5000);
		HBT_CHECK(m && strcmp(m->payload, "offline") == 0 && m->retained,
		    "retained offline after a clean stop: %s", m ? m->payload : "-");
		hbt_mqtt_msg_free(m);
		hbt_mqtt_close(late);
	}
	hb_buf_free(&body);
	hfix_finish(&f);
}
