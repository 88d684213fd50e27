/*
 * No notification storm. The broker itself flaps (restarted three times in
 * a row): the services it carries are not reported down, and the broker
 * target, if it is reported at all, is reported once each way. A longer
 * broker outage is told once each way after the broker is back, not as a
 * backlog. The broker target is checked as soon as the watcher is
 * connected, not an interval later. Many targets failing at once fold into
 * one summary past notify.max_per_minute; targets failing one by one are
 * told one by one up to it, and the rest in a summary when the minute is
 * over.
 */
#include "hbt.h"

#include <signal.h>
#include <string.h>

static struct hbt_mqtt *notes;

/* Notifications of one transition kind: keys "health/<target>/<state>/<since>". */
static size_t
notifications(const char *key)
{
	char needle[160];

	snprintf(needle, sizeof(needle), "\"key\":\"%s/", key);
	return hbt_mqtt_count_with(notes, "homebus/notify/#", needle);
}

/* Waits until the retained state of target (read by a fresh client) has want. */
static bool
retained_state(int port, const char *target, const char *want, int64_t timeout_ms)
{
	int64_t end = hb_mono_ms() + timeout_ms;
	char topic[160];
	bool ok = false;

	snprintf(topic, sizeof(topic), "homebus/health/%s", target);
	while (!ok && hb_mono_ms() < end) {
		struct hbt_mqtt *c = hbt_mqtt_connect(port, "test-peek");
		struct hbt_mqtt_msg *m;

		if (c == NULL) {
			hbt_sleep_ms(500);
			continue;
		}
		hbt_mqtt_subscribe(c, topic, 1);
		m = hbt_mqtt_wait(c, topic, want, 1000);
		ok = m != NULL;
		hbt_mqtt_msg_free(m);
		hbt_mqtt_close(c);
	}
	return ok;
}

int
main(void)
{
	struct hbt_broker broker;
	struct hbt_service health, ingest, many, late, steady;
	struct hb_buf cfg = { 0 }, targets = { 0 };
	int hport = hbt_free_port(), iport = hbt_free_port(), mport = hbt_free_port();
	int lport = hbt_free_port(), sport = hbt_free_port();
	size_t down, ok;
	int64_t t0;
	bool ok_late;
	char path[600];
	struct hbt_mqtt_msg *m;

	hbt_init("health_flap");
	HBT_REQUIRE(hbt_broker_start(&broker, NULL) == 0, "mosquitto");
	/* a persistent session: the broker keeps what is published for it while
	 * it reconnects after each restart */
	notes = hbt_mqtt_connect_persistent(broker.port, "test-notes");
	HBT_REQUIRE(notes != NULL, "test client");
	hbt_mqtt_subscribe(notes, "homebus/notify/#", 1);

	hbt_bus_service_config(&cfg, "ingest", broker.port, "hub", iport);
	HBT_REQUIRE(hbt_service_start(&ingest, "ingest", "ingest", cfg.data, iport) == 0,
	    "ingest");
	hbt_health_config(&cfg, "health", broker.port, "hub", hport,
	    "\"interval_s\": 1, \"heartbeat_timeout_s\": 3, \"fail_after\": 3, "
	    "\"recover_after\": 2, \"expected_services\": [\"ingest\"], "
	    "\"homeassistant\": {\"discovery\": false}");
	HBT_REQUIRE(hbt_service_start(&health, "health", "health", cfg.data, hport) == 0,
	    "health");
	HBT_REQUIRE(retained_state(broker.port, "ingest", "\"state\":\"ok\"", 20000) &&
	    retained_state(broker.port, "broker", "\"state\":\"ok\"", 20000),
	    "all ok to begin with");

	/* the broker flaps */
	for (int i = 0; i < 3; i++) {
		hbt_broker_stop(&broker);
		hbt_sleep_ms(300);
		HBT_REQUIRE(hbt_broker_restart(&broker) == 0, "broker back (%d)", i);
		hbt_sleep_ms(1500);
	}
	HBT_CHECK(retained_state(broker.port, "ingest", "\"state\":\"ok\"", 20000) &&
	    retained_state(broker.port, "broker", "\"state\":\"ok\"", 20000),
	    "all ok after the flapping");
	hbt_sleep_ms(5000);	/* whatever was going to be told, has been */
	HBT_CHECK(notifications("health/ingest/down") == 0 &&
	    notifications("health/ingest/ok") == 0,
	    "the services the broker carries are not reported: down=%zu ok=%zu",
	    notifications("health/ingest/down"), notifications("health/ingest/ok"));
	down = notifications("health/broker/down");
	ok = notifications("health/broker/ok");
	HBT_CHECK(down <= 1 && ok == down, "the broker at most once each way: "
	    "down=%zu ok=%zu", down, ok);

	/* a real outage, longer than fail_after checks: once each way, after */
	hbt_broker_stop(&broker);
	hbt_sleep_ms(6000);
	HBT_REQUIRE(hbt_broker_restart(&broker) == 0, "broker back");
	HBT_CHECK(HBT_WAIT(notifications("health/broker/down") == down + 1 &&
	    notifications("health/broker/ok") == ok + 1, 30000),
	    "the outage told once each way: down=%zu ok=%zu",
	    notifications("health/broker/down"), notifications("health/broker/ok"));
	hbt_sleep_ms(5000);
	HBT_CHECK(notifications("health/broker/down") == down + 1 &&
	    notifications("health/broker/ok") == ok + 1 &&
	    notifications("health/ingest/down") == 0,
	    "and nothing else: broker down=%zu ok=%zu, ingest down=%zu",
	    notifications("health/broker/down"), notifications("health/broker/ok"),
	    notifications("health/ingest/down"));

	/* a watcher that starts while the broker is away: its first check of
	 * the broker fails (down, with fail_after 1); once it is connected the
	 * broker is checked at once, not at its next check 30 s later */
	HBT_CHECK(hbt_proc_stop(&health.proc, SIGTERM, 10000) == 0, "first watcher "
	    "stopped");
	hbt_broker_stop(&broker);
	hbt_health_config(&cfg, "late", broker.port, "hub3", lport,
	    "\"fail_after\": 1, \"recover_after\": 1, \"discover_services\": false, "
	    "\"homeassistant\": {\"discovery\": false}, \"targets\": "
	    "[{\"name\": \"bus3\", \"type\": \"mqtt\", \"interval_s\": 30}]");
	HBT_REQUIRE(hbt_service_start(&late, "health", "late", cfg.data, lport) == 0,
	    "a watcher started without a broker");
	hbt_sleep_ms(2000);
	HBT_REQUIRE(hbt_broker_restart(&broker) == 0, "broker back");
	t0 = hb_mono_ms();
	ok_late = retained_state(broker.port, "bus3", "\"state\":\"ok\"", 20000);
	t0 = hb_mono_ms() - t0;
	HBT_CHECK(ok_late && t0 < 15000, "the broker is ok %lld ms after it came "
	    "back (its next check would be 30 s after the first)", (long long)t0);
	HBT_CHECK(hbt_proc_stop(&late.proc, SIGTERM, 10000) == 0, "late stopped");

	/* 12 targets failing together, at most 5 notifications a minute */
	hb_buf_puts(&targets, "\"interval_s\": 1, \"fail_after\": 1, "
	    "\"notify\": {\"max_per_minute\": 5}, "
	    "\"homeassistant\": {\"discovery\": false}, \"targets\": [");
	for (int i = 0; i < 12; i++)
		hb_buf_printf(&targets, "%s{\"name\": \"job%d\", \"type\": \"exec\", "
		    "\"argv\": [\"false\"], \"interval_s\": %d}", i ? ", " : "", i,
		    i < 3 ? 1 : 5);
	hb_buf_puts(&targets, "]");
	hbt_health_config(&cfg, "many", broker.port, "hub2", mport, targets.data);
	HBT_REQUIRE(hbt_service_start(&many, "health", "many", cfg.data, mport) == 0,
	    "a second watcher with many failing targets");
	HBT_CHECK(HBT_WAIT(hbt_mqtt_count_with(notes, "homebus/notify/#",
	    "health changes at once") == 1, 20000), "one summary");
	hbt_sleep_ms(3000);
	HBT_CHECK(hbt_mqtt_count_with(notes, "homebus/notify/#", "health/hub2") <= 5,
	    "no more than max_per_minute: %zu",
	    hbt_mqtt_count_with(notes, "homebus/notify/#", "health/hub2"));
	HBT_CHECK(hbt_proc_stop(&many.proc, SIGTERM, 10000) == 0, "many stopped");

	/* 12 targets that fail one by one after settling, at most 5 a minute:
	 * the first 5 told one by one, the other 7 in one summary when the
	 * minute is over (not lost, and not 7 more messages) */
	hb_buf_reset(&targets);
	hb_buf_puts(&targets, "\"interval_s\": 1, \"fail_after\": 1, "
	    "\"discover_services\": false, \"notify\": {\"max_per_minute\": 5}, "
	    "\"homeassistant\": {\"discovery\": false}, \"targets\": [");
	for (int i = 0; i < 12; i++) {
		snprintf(path, sizeof(path), "%s/broken-pump%02d", hbt_dir(), i);
		hb_buf_printf(&targets, "%s{\"name\": \"pump%02d\", \"type\": \"exec\", "
		    "\"argv\": [\"test\", \"!\", \"-e\", \"%s\"]}", i ? ", " : "", i,
		    path);
	}
	hb_buf_puts(&targets, "]");
	hbt_health_config(&cfg, "steady", broker.port, "hub4", sport, targets.data);
	HBT_REQUIRE(hbt_service_start(&steady, "health", "steady", cfg.data, sport) == 0,
	    "a watcher whose targets fail one by one");
	HBT_REQUIRE(retained_state(broker.port, "pump11", "\"state\":\"ok\"", 20000) &&
	    retained_state(broker.port, "pump00", "\"state\":\"ok\"", 20000),
	    "all ok to begin with");
	for (int i = 0; i < 12; i++) {
		/* further apart than a check interval: they fail in this order */
		snprintf(path, sizeof(path), "%s/broken-pump%02d", hbt_dir(), i);
		hbt_write_file(path, "x");
		hbt_sleep_ms(1500);
	}
	hbt_sleep_ms(2000);
	HBT_CHECK(hbt_mqtt_count_with(notes, "homebus/notify/#",
	    "\"source\":\"health/hub4\"") == 5, "5 told one by one within the "
	    "minute: %zu", hbt_mqtt_count_with(notes, "homebus/notify/#",
	    "\"source\":\"health/hub4\""));
	for (int i = 0; i < 5; i++) {
		snprintf(path, sizeof(path), "\"key\":\"health/pump%02d/down/", i);
		HBT_CHECK(hbt_mqtt_count_with(notes, "homebus/notify/#", path) == 1,
		    "pump%02d told on its own", i);
	}
	{
		const char *summary[] = { "\"key\":\"health/_summary/",
		    "\"source\":\"health/hub4\"", NULL };

		m = hbt_mqtt_wait_all(notes, "homebus/notify/#", summary, 75000);
	}
	HBT_CHECK(m && strstr(m->payload, "health/hub4") &&
	    strstr(m->payload, "7 health changes at once"),
	    "the other 7 in one summary after the minute: %s", m ? m->payload : "-");
	for (int i = 0; m && i < 12; i++) {
		snprintf(path, sizeof(path), "pump%02d down", i);
		HBT_CHECK((strstr(m->payload, path) != NULL) == (i >= 5),
		    "pump%02d %s the summary", i, i >= 5 ? "in" : "not in");
	}
	hbt_mqtt_msg_free(m);
	hbt_sleep_ms(2000);
	HBT_CHECK(hbt_mqtt_count_with(notes, "homebus/notify/#",
	    "\"source\":\"health/hub4\"") == 6, "6 messages in all: %zu",
	    hbt_mqtt_count_with(notes, "homebus/notify/#",
	    "\"source\":\"health/hub4\""));

	hbt_mqtt_close(notes);
	hb_buf_free(&cfg);
	hb_buf_free(&targets);
	hbt_exit();
}
