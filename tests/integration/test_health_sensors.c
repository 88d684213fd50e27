/*
 * The health watcher's numbers as Home Assistant sensors that chart: a
 * disk target's free space (MB, %), the broker's round trip (ms), the
 * writer's points written per second and spool, the notifier's outbox,
 * each a retained sensor config with state_class measurement, its unit
 * and device class, reading a number the target's retained state carries;
 * and the last deploy, read from P/deploy/state. Every discovery config
 * the watcher retains passes Home Assistant's schemas (hbt_ha), and the
 * device links to the status page under http.public_url.
 */
#include "health_fixture.h"
#include "hbt_ha.h"

#include <stdlib.h>
#include <string.h>

#define SENSOR(node) "homeassistant/sensor/homebus_hub_" node "/health/config"

static const struct {
	const char *node, *target, *key, *unit, *device_class;
} sensors[] = {
	{ "data_free_mb", "data", "free_mb", "MB", "data_size" },
	{ "data_free_percent", "data", "free_percent", "%", NULL },
	{ "broker_latency_ms", "broker", "latency_ms", "ms", "duration" },
	{ "writer_points_per_s", "writer", "points_per_s", "points/s", NULL },
	{ "writer_spool_points", "writer", "spool_points", "points", NULL },
	{ "notifier_outbox", "notifier", "outbox", "messages", NULL },
};

/* A service of the bus, faked: its retained status and one heartbeat. */
static void
beat(struct hbt_mqtt *m, const char *service, const char *counters)
{
	char topic[128], hb[512];

	snprintf(topic, sizeof(topic), "homebus/svc/%s/hub/heartbeat", service);
	snprintf(hb, sizeof(hb), "{\"service\":\"%s\",\"instance\":\"hub\","
	    "\"uptime_s\":5,\"interval_s\":1%s}", service, counters);
	hbt_mqtt_publish(m, topic, hb, strlen(hb), 0, false);
}

static void
online(struct hbt_mqtt *m, const char *service)
{
	char topic[128];

	snprintf(topic, sizeof(topic), "homebus/svc/%s/hub/status", service);
	hbt_mqtt_publish(m, topic, "online", 6, 1, true);
}

/* The number a sensor's value_template reads from the target's state. */
static bool
state_has_number(struct hfix *f, const char *target, const char *key,
    double *out)
{
	char want[64];
	struct hbt_mqtt_msg *m;
	json_t *s;
	bool ok;

	snprintf(want, sizeof(want), "\"%s\":", key);
	m = hfix_wait_state(f, target, want, NULL, 20000);
	s = m ? json_loads(m->payload, 0, NULL) : NULL;
	ok = json_is_number(json_object_get(s, key));
	if (ok)
		*out = json_number_value(json_object_get(s, key));
	hbt_log("%s: %s", target, m ? m->payload : "no state");
	json_decref(s);
	hbt_mqtt_msg_free(m);
	return ok;
}

/* Every retained config of the watcher's device passes Home Assistant's schema. */
static size_t
check_all_configs(int port)
{
	struct hbt_mqtt *late = hbt_mqtt_connect(port, "test-ha-late");
	json_t *all, *v;
	size_t i, n = 0;
	char err[256];

	HBT_REQUIRE(late != NULL, "a late client");
	hbt_mqtt_subscribe(late, "homeassistant/#", 1);
	hbt_sleep_ms(1500);	/* the retained messages come at once */
	for (int comp = 0; comp < 2; comp++) {
		const char *component = comp ? "sensor" : "binary_sensor";
		char filter[64];

		snprintf(filter, sizeof(filter), "homeassistant/%s/#", component);
		all = hbt_mqtt_payloads(late, filter, NULL);
		json_array_foreach(all, i, v) {
			json_t *c = json_loads(json_string_value(v), 0, NULL);

			if (c == NULL)
				continue;
			HBT_CHECK(hbt_ha_discovery_ok(component, c, err, sizeof(err)),
			    "%s config %s: %s", component, json_string_value(v), err);
			n++;
			json_decref(c);
		}
		json_decref(all);
	}
	hbt_mqtt_close(late);
	return n;
}

int
main(void)
{
	struct hfix f;
	struct hbt_mqtt_msg *m;
	char page[64], topic[256];
	json_t *c;
	double x = -1;
	size_t n;

	hfix_init(&f, "health_sensors");
	setenv("HOMEBUS_HTTP_PUBLIC_URL", "http://nuc.local", 1);
	snprintf(page, sizeof(page), "http://nuc.local:%d/", f.health_port);
	hbt_mqtt_subscribe(f.states, "homeassistant/#", 1);
	online(f.states, "writer");
	online(f.states, "notifier");
	hfix_start_health(&f, "\"interval_s\": 1, \"state_refresh_s\": 1, "
	    "\"targets\": [{\"name\": \"data\", \"type\": \"disk\", \"path\": \"/\", "
	    "\"min_free_mb\": 1}]");

	for (size_t i = 0; i < HB_ARRAY_LEN(sensors); i++) {
		snprintf(topic, sizeof(topic), SENSOR("%s"), sensors[i].node);
		m = hbt_mqtt_wait(f.states, topic, NULL, 20000);
		HBT_CHECK(m != NULL, "a sensor config for %s", sensors[i].node);
		c = m ? json_loads(m->payload, 0, NULL) : NULL;
		hbt_mqtt_msg_free(m);
		if (c == NULL)
			continue;
		snprintf(topic, sizeof(topic), "homebus/health/%s", sensors[i].target);
		HBT_CHECK(strcmp(hbt_json_str(c, "state_topic"), topic) == 0 &&
		    strstr(hbt_json_str(c, "value_template"), sensors[i].key),
		    "%s reads %s of %s", sensors[i].node, sensors[i].key, topic);
		HBT_CHECK(strcmp(hbt_json_str(c, "state_class"), "measurement") == 0,
		    "%s: state_class measurement (charted)", sensors[i].node);
		HBT_CHECK(strcmp(hbt_json_str(c, "unit_of_measurement"),
		    sensors[i].unit) == 0, "%s: in %s", sensors[i].node,
		    sensors[i].unit);
		HBT_CHECK(sensors[i].device_class ? strcmp(hbt_json_str(c,
		    "device_class"), sensors[i].device_class) == 0 :
		    json_object_get(c, "device_class") == NULL,
		    "%s: device_class %s", sensors[i].node,
		    sensors[i].device_class ? sensors[i].device_class : "none");
		HBT_CHECK(strcmp(hbt_json_str(json_object_get(c, "device"),
		    "configuration_url"), page) == 0, "%s: the device links to the "
		    "status page %s", sensors[i].node, page);
		json_decref(c);
	}
	m = hbt_mqtt_wait(f.states, SENSOR("_all_last_deploy"), NULL, 20000);
	c = m ? json_loads(m->payload, 0, NULL) : NULL;
	HBT_CHECK(c && strcmp(hbt_json_str(c, "state_topic"),
	    "homebus/deploy/state") == 0 && strcmp(hbt_json_str(c,
	    "json_attributes_topic"), "homebus/deploy/state") == 0 &&
	    strstr(hbt_json_str(c, "json_attributes_template"), "to_tag") &&
	    strstr(hbt_json_str(c, "json_attributes_template"), "updated"),
	    "the last deploy: its phase, version and time from P/deploy/state");
	json_decref(c);
	hbt_mqtt_msg_free(m);

	/* the numbers the sensors read, in the targets' states */
	HBT_CHECK(state_has_number(&f, "data", "free_mb", &x) && x > 0,
	    "the disk's free MB");
	HBT_CHECK(state_has_number(&f, "data", "free_percent", &x) && x > 0 &&
	    x <= 100, "the disk's free %%");
	HBT_CHECK(state_has_number(&f, "broker", "latency_ms", &x) && x >= 0,
	    "the broker's round trip");
	beat(f.states, "writer", ",\"points_written\":1000,\"spool_points\":42");
	beat(f.states, "notifier", ",\"outbox\":3");
	hbt_sleep_ms(300);
	beat(f.states, "writer", ",\"points_written\":1600,\"spool_points\":42");
	HBT_CHECK(state_has_number(&f, "writer", "points_per_s", &x) && x > 0,
	    "the writer's points/s, from points_written's growth");
	HBT_CHECK(state_has_number(&f, "writer", "spool_points", &x) && x == 42,
	    "the writer's spool");
	HBT_CHECK(state_has_number(&f, "notifier", "outbox", &x) && x == 3,
	    "the notifier's outbox");

	n = check_all_configs(f.broker.port);
	HBT_CHECK(n >= HB_ARRAY_LEN(sensors) + 6, "every config retained, and "
	    "checked (%zu)", n);
	hfix_finish(&f);
}
