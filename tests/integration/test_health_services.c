/*
 * homebus services as the health watcher sees them on a real mosquitto: a
 * service killed with SIGKILL is down at once through its last will, one
 * that hangs (SIGSTOP) is down when its heartbeat is late, an expected
 * service that never came is down; each is ok again after recover_after
 * good checks, with exactly one notification each way.
 */
#include "hbt.h"
#include "hb_msg.h"

#include <signal.h>
#include <string.h>

#define STATE_OK "\"state\":\"ok\""
#define STATE_DOWN "\"state\":\"down\""

static struct hbt_mqtt *states;		/* P/health/#, cleared between steps */
static struct hbt_mqtt *notes;		/* P/notify/#, never cleared */

/* Waits for a state message of target containing a (and b, if not NULL). */
static struct hbt_mqtt_msg *
wait_state(const char *target, const char *a, const char *b, int64_t timeout_ms)
{
	const char *all[] = { a, b, NULL };
	char topic[160];

	snprintf(topic, sizeof(topic), "homebus/health/%s", target);
	return hbt_mqtt_wait_all(states, topic, all, timeout_ms);
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

static size_t
notifications(const char *key)
{
	char needle[160];

	snprintf(needle, sizeof(needle), "\"key\":\"%s\"", key);
	return hbt_mqtt_count_with(notes, "homebus/notify/#", needle);
}

int
main(void)
{
	struct hbt_broker broker;
	struct hbt_service health, ingest;
	struct hb_buf cfg = { 0 };
	struct hbt_mqtt_msg *m, *ok;
	int hport = hbt_free_port(), iport = hbt_free_port();
	int64_t started;

	hbt_init("health_services");
	HBT_REQUIRE(hbt_broker_start(&broker, NULL) == 0, "mosquitto");
	states = hbt_mqtt_connect(broker.port, "test-states");
	notes = hbt_mqtt_connect(broker.port, "test-notes");
	HBT_REQUIRE(states && notes, "test clients");
	hbt_mqtt_subscribe(states, "homebus/health/#", 1);
	hbt_mqtt_subscribe(notes, "homebus/notify/#", 1);

	hbt_bus_service_config(&cfg, "ingest", broker.port, "hub", iport);
	HBT_REQUIRE(hbt_service_start(&ingest, "ingest", "ingest", cfg.data, iport) == 0,
	    "ingest");
	hbt_health_config(&cfg, "health", broker.port, "hub", hport,
	    "\"interval_s\": 1, \"heartbeat_timeout_s\": 3, \"fail_after\": 3, "
	    "\"recover_after\": 2, \"expected_services\": [\"ingest\", \"writer\"], "
	    "\"homeassistant\": {\"discovery\": false}");
	HBT_REQUIRE(hbt_service_start(&health, "health", "health", cfg.data, hport) == 0,
	    "health");

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

	/* SIGKILL: the broker publishes its last will, the target is down at once */
	hbt_mqtt_clear(states);
	HBT_CHECK(hbt_proc_stop(&ingest.proc, SIGKILL, 5000) >= 0, "ingest killed");
	m = wait_state("ingest", STATE_DOWN, NULL, 20000);
	HBT_CHECK(m && strstr(m->payload, "last will"),
	    "down through its last will, not a late heartbeat: %s",
	    m ? m->payload : "(nothing)");
	hbt_mqtt_msg_free(m);
	HBT_CHECK(HBT_WAIT(notifications("health/ingest/down") == 1, 10000),
	    "one notification for the kill");

	/* back: ok after recover_after (2) good checks, not on the first */
	hbt_mqtt_clear(states);
	HBT_REQUIRE(hbt_proc_restart(&ingest.proc) == 0, "ingest restarted");
	m = wait_state("ingest", STATE_DOWN, "(1 of 2 good checks)", 20000);
	HBT_CHECK(m != NULL, "the first good check leaves it down (1 of 2)");
	ok = wait_state("ingest", STATE_OK, NULL, 20000);
	HBT_CHECK(ok != NULL, "ok again after the second good check");
	HBT_CHECK(m && ok && m->at_ms <= ok->at_ms, "in that order");
	HBT_CHECK(started > 0 && started_of(ok) > started,
	    "the state says it started again: %lld then %lld", (long long)started,
	    (long long)started_of(ok));
	hbt_mqtt_msg_free(m);
	hbt_mqtt_msg_free(ok);
	HBT_CHECK(HBT_WAIT(notifications("health/ingest/ok") == 1, 10000),
	    "one recovery notification");

	/* SIGSTOP: still connected, no heartbeats: down on the heartbeat timeout */
	hbt_mqtt_clear(states);
	kill(ingest.proc.pid, SIGSTOP);
	m = wait_state("ingest", STATE_DOWN, "no heartbeat for", 20000);
	HBT_CHECK(m != NULL, "a hung service is down when its heartbeat is late");
	hbt_mqtt_msg_free(m);
	kill(ingest.proc.pid, SIGCONT);
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

	/* the watcher stops cleanly and says so (Home Assistant's availability) */
	HBT_CHECK(hbt_proc_stop(&health.proc, SIGTERM, 10000) == 0, "clean exit");
	{
		struct hbt_mqtt *late = hbt_mqtt_connect(broker.port, "test-late");

		HBT_REQUIRE(late != NULL, "a late client");
		hbt_mqtt_subscribe(late, "homebus/svc/health/hub/status", 1);
		m = hbt_mqtt_wait(late, "homebus/svc/health/hub/status", NULL, 5000);
		HBT_CHECK(m && strcmp(m->payload, "offline") == 0 && m->retained,
		    "retained offline after a clean stop: %s", m ? m->payload : "-");
		hbt_mqtt_msg_free(m);
		hbt_mqtt_close(late);
	}
	hbt_mqtt_close(states);
	hbt_mqtt_close(notes);
	hb_buf_free(&cfg);
	hbt_exit();
}
