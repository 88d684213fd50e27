/*
 * No notification storm. The broker itself flaps (restarted three times in
 * a row): the services it carries are not reported down, and the broker
 * target, if it is reported at all, is reported once each way. A longer
 * broker outage is told once each way after the broker is back, not as a
 * backlog. Many targets failing at once fold into one summary past
 * notify.max_per_minute.
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
	struct hbt_service health, ingest, many;
	struct hb_buf cfg = { 0 }, targets = { 0 };
	int hport = hbt_free_port(), iport = hbt_free_port(), mport = hbt_free_port();
	size_t down, ok;

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

	hbt_mqtt_close(notes);
	hb_buf_free(&cfg);
	hb_buf_free(&targets);
	hbt_exit();
}
