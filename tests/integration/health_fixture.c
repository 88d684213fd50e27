/*
 * health_fixture: the shared setup of the health watcher's tests.
 */
#include "health_fixture.h"

#include <string.h>

void
hfix_init(struct hfix *f, const char *name)
{
	memset(f, 0, sizeof(*f));
	hbt_init(name);
	f->health_port = hbt_free_port();
	f->ingest_port = hbt_free_port();
	HBT_REQUIRE(hbt_broker_start(&f->broker, NULL) == 0, "mosquitto");
	f->states = hbt_mqtt_connect(f->broker.port, "test-states");
	f->notes = hbt_mqtt_connect(f->broker.port, "test-notes");
	HBT_REQUIRE(f->states && f->notes, "test clients");
	hbt_mqtt_subscribe(f->states, "homebus/health/#", 1);
	hbt_mqtt_subscribe(f->notes, "homebus/notify/#", 1);
}

void
hfix_start_ingest(struct hfix *f)
{
	hbt_bus_service_config(&f->cfg, "ingest", f->broker.port, "hub",
	    f->ingest_port);
	HBT_REQUIRE(hbt_service_start(&f->ingest, "ingest", "ingest", f->cfg.data,
	    f->ingest_port) == 0, "ingest");
}

void
hfix_start_health(struct hfix *f, const char *health_extra)
{
	hbt_health_config(&f->cfg, "health", f->broker.port, "hub", f->health_port,
	    health_extra);
	HBT_REQUIRE(hbt_service_start(&f->health, "health", "health", f->cfg.data,
	    f->health_port) == 0, "health");
}

struct hbt_mqtt_msg *
hfix_wait_state(struct hfix *f, const char *target, const char *a,
    const char *b, int64_t timeout_ms)
{
	const char *all[] = { a, b, NULL };
	char topic[160];

	snprintf(topic, sizeof(topic), "homebus/health/%s", target);
	return hbt_mqtt_wait_all(f->states, topic, all, timeout_ms);
}

void
hfix_expect_state(struct hfix *f, const char *target, const char *state,
    const char *reason)
{
	char want[64];
	struct hbt_mqtt_msg *m;

	snprintf(want, sizeof(want), "\"state\":\"%s\"", state);
	m = hfix_wait_state(f, target, want, reason, 20000);
	HBT_CHECK(m != NULL, "%s is %s (%s)", target, state, reason ? reason : "");
	hbt_mqtt_msg_free(m);
}

size_t
hfix_notifications(struct hfix *f, const char *key)
{
	char needle[160];

	snprintf(needle, sizeof(needle), "\"key\":\"%s/", key);
	return hbt_mqtt_count_with(f->notes, "homebus/notify/#", needle);
}

void
hfix_finish(struct hfix *f)
{
	hbt_mqtt_close(f->states);
	hbt_mqtt_close(f->notes);
	hb_buf_free(&f->cfg);
	hbt_exit();
}
