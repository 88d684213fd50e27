/*
 * Home Assistant's MQTT schemas (tests/harness/hbt_ha.c) hold what they
 * should — an update state with a key Home Assistant does not take, or a
 * null where it takes a string, is refused, as Home Assistant drops it —
 * and every discovery config the health watcher builds passes them: a
 * binary sensor per target, a sensor per figure, the last deploy's.
 */
#include "figures.h"
#include "ha_discovery.h"
#include "hbt.h"
#include "hbt_ha.h"

#include <string.h>

static bool
state_ok(const char *text)
{
	json_t *s = json_loads(text, 0, NULL);
	char err[256];
	bool ok = hbt_ha_update_state_ok(s, err, sizeof(err));

	hbt_log("%s: %s", text, ok ? "taken" : err);
	json_decref(s);
	return ok;
}

static bool
discovery_ok(const char *component, const char *text)
{
	json_t *c = json_loads(text, 0, NULL);
	char err[256];
	bool ok = hbt_ha_discovery_ok(component, c, err, sizeof(err));

	hbt_log("%s %s: %s", component, text, ok ? "taken" : err);
	json_decref(c);
	return ok;
}

static void
test_update_state_edges(void)
{
	HBT_CHECK(state_ok("{\"installed_version\":\"v1\",\"latest_version\":\"v2\","
	    "\"title\":\"homebus\",\"release_summary\":\"\",\"release_url\":"
	    "\"http://nuc.local:9103/\",\"in_progress\":true,"
	    "\"update_percentage\":33}"), "a full state is taken");
	HBT_CHECK(state_ok("{\"in_progress\":false,\"update_percentage\":null}"),
	    "update_percentage may be null");
	HBT_CHECK(!state_ok("{\"installed_version\":\"v1\",\"last_failure\":\"x\"}"),
	    "no key the schema does not name");
	HBT_CHECK(!state_ok("{\"installed_version\":null}") &&
	    !state_ok("{\"release_summary\":null}") &&
	    !state_ok("{\"latest_version\":null}"), "no null where a string goes");
	HBT_CHECK(!state_ok("{\"update_percentage\":101}") &&
	    !state_ok("{\"update_percentage\":\"5\"}"), "update_percentage 0-100");
	HBT_CHECK(!state_ok("{\"in_progress\":\"yes\"}"), "in_progress a boolean");
	HBT_CHECK(!state_ok("{\"release_url\":\"nuc.local\"}"),
	    "release_url a URL");
}

static void
test_discovery_edges(void)
{
	static const char base[] = "\"state_topic\":\"a/b\",\"unique_id\":\"u\","
	    "\"device\":{\"identifiers\":[\"d\"],\"name\":\"n\"}";
	char text[512];

	snprintf(text, sizeof(text), "{%s}", base);
	HBT_CHECK(discovery_ok("sensor", text), "the least a sensor needs");
	HBT_CHECK(!discovery_ok("sensor", "{\"unique_id\":\"u\"}"),
	    "state_topic is required");
	snprintf(text, sizeof(text), "{%s,\"stat_cla\":\"measurement\","
	    "\"unit_of_meas\":\"ms\",\"dev_cla\":\"duration\"}", base);
	HBT_CHECK(discovery_ok("sensor", text), "abbreviations are expanded");
	snprintf(text, sizeof(text), "{%s,\"unit_of_measurement\":\"points\","
	    "\"device_class\":\"data_size\"}", base);
	HBT_CHECK(!discovery_ok("sensor", text), "a unit the device class does "
	    "not take");
	snprintf(text, sizeof(text), "{%s,\"payload_install\":\"x\"}", base);
	HBT_CHECK(!discovery_ok("sensor", text) && discovery_ok("update", text),
	    "a key of another component");
	snprintf(text, sizeof(text), "{%s,\"device_class\":\"software\"}", base);
	HBT_CHECK(!discovery_ok("update", text), "update's only device class is "
	    "firmware");
	snprintf(text, sizeof(text), "{%s,\"availability_topic\":\"s\","
	    "\"availability\":[{\"topic\":\"s\"}]}", base);
	HBT_CHECK(!discovery_ok("binary_sensor", text), "availability in one "
	    "form only");
	HBT_CHECK(!discovery_ok("sensor", "{\"state_topic\":\"a/#/b\"}"),
	    "a topic '#' is not last in");
	snprintf(text, sizeof(text), "{%s,\"qos\":3}", base);
	HBT_CHECK(!discovery_ok("binary_sensor", text), "qos 0-2");
}

static void
check_config(const char *component, json_t *c, const char *what)
{
	char err[256];

	HBT_CHECK(hbt_ha_discovery_ok(component, c, err, sizeof(err)),
	    "%s: %s", what, err);
}

/* Every config the watcher builds, with and without a status page. */
static void
test_health_configs(void)
{
	struct ha_opts o = { "homeassistant", "homebus_health_hub",
	    "homebus health", "homebus/svc/health/hub/status", NULL };
	json_t *c;

	for (int page = 0; page < 2; page++) {
		o.status_url = page ? "http://nuc.local:9103/" : NULL;
		c = ha_config(&o, "data", "homebus_hub_data", "homebus/health/data");
		check_config("binary_sensor", c, "a target's binary sensor");
		json_decref(c);
		for (int f = 0; f < FIG_COUNT; f++) {
			c = ha_sensor_config(&o, figure_defs[f].name, "homebus_hub_x",
			    "homebus/health/x", &figure_defs[f]);
			check_config("sensor", c, figure_defs[f].key);
			HBT_CHECK(strcmp(hbt_json_str(c, "state_class"),
			    "measurement") == 0 && hbt_json_str(c,
			    "unit_of_measurement")[0], "%s charts: a measurement with "
			    "a unit", figure_defs[f].key);
			json_decref(c);
		}
		c = ha_deploy_sensor_config(&o, "homebus_hub__all_last_deploy",
		    "homebus/deploy/state");
		check_config("sensor", c, "the last deploy's sensor");
		json_decref(c);
	}
}

int
main(void)
{
	hbt_init("ha_schema");
	test_update_state_edges();
	test_discovery_edges();
	test_health_configs();
	hbt_exit();
}
