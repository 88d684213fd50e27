/*
 * homebus-deployer as Home Assistant's `update` entity: the discovery
 * config and every state message hold to Home Assistant's MQTT update
 * schema (homeassistant/components/mqtt/update.py: the discovery keys and
 * their types, and the state JSON's keys — a state that breaks it is
 * dropped whole by Home Assistant), a version made available shows as the
 * latest, and the Install button deploys it.
 */
#include "deployer_fx.h"
#include "hbt_ha.h"

#include <stdlib.h>
#include <string.h>

#define DEPLOY_MS 40000
#define ROLLBACK_MS 70000
#define CONFIG_TOPIC "homeassistant/update/homebus_hub/deploy/config"
#define STATE_TOPIC "homebus/deploy/update/hub"
#define ATTRS_TOPIC "homebus/deploy/update/hub/attributes"
/* http.public_url and health's default port (http.port_base + 3) */
#define STATUS_PAGE "http://nuc.local:9103/"

static bool
is_str(json_t *o, const char *key)
{
	return json_is_string(json_object_get(o, key));
}

/* A topic Home Assistant can publish to: no wildcards, not empty. */
static bool
publish_topic(json_t *o, const char *key)
{
	const char *t = json_string_value(json_object_get(o, key));

	return t && *t && strpbrk(t, "+#") == NULL;
}

static void
check_discovery(json_t *c)
{
	json_t *v, *avail, *dev;
	size_t i;
	char err[256];

	HBT_CHECK(hbt_ha_discovery_ok("update", c, err, sizeof(err)),
	    "Home Assistant's update schema takes the config: %s", err);
	HBT_CHECK(is_str(c, "name") && is_str(c, "unique_id") &&
	    is_str(c, "payload_install") && is_str(c, "title"), "strings");
	HBT_CHECK(publish_topic(c, "state_topic") &&
	    strcmp(dfx_str(c, "state_topic"), STATE_TOPIC) == 0, "state_topic");
	HBT_CHECK(publish_topic(c, "command_topic") &&
	    strcmp(dfx_str(c, "command_topic"), "homebus/deploy/install") == 0,
	    "command_topic is a topic one can publish to");
	HBT_CHECK(strcmp(dfx_str(c, "payload_install"), "hub") == 0,
	    "the button names this deployer");
	HBT_CHECK(json_object_get(c, "device_class") == NULL,
	    "no device_class: a software stack is not device firmware");
	HBT_CHECK(strcmp(dfx_str(c, "release_url"), STATUS_PAGE) == 0,
	    "release_url: health's status page under http.public_url (%s)",
	    dfx_str(c, "release_url"));
	HBT_CHECK(publish_topic(c, "json_attributes_topic") &&
	    strcmp(dfx_str(c, "json_attributes_topic"), ATTRS_TOPIC) == 0,
	    "attributes on a topic of their own");
	v = json_object_get(c, "qos");
	HBT_CHECK(json_is_integer(v) && json_integer_value(v) >= 0 &&
	    json_integer_value(v) <= 2, "qos 0-2");
	HBT_CHECK(json_is_false(json_object_get(c, "retain")), "the install "
	    "command is not retained");
	avail = json_object_get(c, "availability");
	HBT_CHECK(json_is_array(avail) && json_array_size(avail) == 1 &&
	    strcmp(dfx_str(json_array_get(avail, 0), "topic"),
	    "homebus/svc/deployer/hub/status") == 0 &&
	    json_object_get(c, "availability_topic") == NULL,
	    "availability: the deployer's status (and not both forms)");
	dev = json_object_get(c, "device");
	HBT_CHECK(json_is_object(dev) && strcmp(dfx_str(dev, "name"), "homebus") == 0,
	    "device homebus");
	HBT_CHECK(strcmp(dfx_str(dev, "configuration_url"), STATUS_PAGE) == 0,
	    "the device's configuration_url is the status page");
	json_array_foreach(json_object_get(dev, "identifiers"), i, v)
		HBT_CHECK(json_is_string(v), "identifiers are strings");
	HBT_CHECK(json_array_size(json_object_get(dev, "identifiers")) >= 1,
	    "the device is identified");
}

static void
check_state(json_t *s)
{
	char err[256];

	HBT_CHECK(hbt_ha_update_state_ok(s, err, sizeof(err)), "Home Assistant's "
	    "update state schema takes the state: %s", err);
	HBT_CHECK(strlen(dfx_str(s, "release_summary")) <= 255,
	    "release_summary fits in 255");
}

/* Every state published so far holds to the schema; the last one parsed. */
static json_t *
check_states(struct dfx *f)
{
	json_t *all = hbt_mqtt_payloads(f->mqtt, STATE_TOPIC, NULL), *v, *last = NULL;
	size_t i;

	json_array_foreach(all, i, v) {
		json_t *s = json_loads(json_string_value(v), 0, NULL);

		HBT_CHECK(json_is_object(s), "state is a JSON object");
		check_state(s);
		json_decref(last);
		last = s;
	}
	json_decref(all);
	return last;
}

/* Waits for an entity state holding every one of `all`. */
static json_t *
wait_state(struct dfx *f, const char *const *all)
{
	struct hbt_mqtt_msg *m = hbt_mqtt_wait_all(f->mqtt, STATE_TOPIC, all,
	    DEPLOY_MS);
	json_t *s = m ? json_loads(m->payload, 0, NULL) : NULL;

	hbt_mqtt_msg_free(m);
	return s;
}

/* The entity as a Home Assistant that connects now finds it. */
static void
check_announced(struct dfx *f)
{
	struct hbt_mqtt *late = hbt_mqtt_connect(f->broker.port, "test-ha");
	struct hbt_mqtt_msg *m;
	json_t *c, *s;

	HBT_REQUIRE(late != NULL, "a late client");
	hbt_mqtt_subscribe(late, "homeassistant/#", 1);
	m = hbt_mqtt_wait(late, CONFIG_TOPIC, NULL, 10000);
	HBT_REQUIRE(m && m->retained, "discovery config, retained");
	hbt_mqtt_close(late);
	c = json_loads(m->payload, 0, NULL);
	hbt_mqtt_msg_free(m);
	check_discovery(c);
	json_decref(c);
	s = wait_state(f, (const char *const[]){ "\"installed_version\":\"v1\"",
	    NULL });
	HBT_CHECK(s && strcmp(dfx_str(s, "latest_version"), "v1") == 0 &&
	    json_is_false(json_object_get(s, "in_progress")),
	    "installed v1, nothing newer known: up to date");
	json_decref(s);
}

int
main(void)
{
	struct dfx f;
	struct hbt_mqtt_msg *m;
	json_t *s;
	static const char v2[] = "{\"tag\":\"v2\"}", bad[] = "{\"tag\":\"v3-bad\"}";

	hbt_init("deployer_ha");
	setenv("HOMEBUS_HTTP_PUBLIC_URL", "http://nuc.local/", 1);
	dfx_setup(&f, NULL, NULL, false);

	check_announced(&f);
	/* CI says v2 is built: Home Assistant shows an update */
	hbt_mqtt_publish(f.mqtt, "homebus/deploy/available", v2, sizeof(v2) - 1, 1,
	    true);
	s = wait_state(&f, (const char *const[]){ "\"latest_version\":\"v2\"",
	    "\"installed_version\":\"v1\"", NULL });
	HBT_CHECK(s != NULL, "latest v2, installed v1");
	json_decref(s);

	/* Install: a deploy of v2 requested by Home Assistant */
	hbt_mqtt_publish(f.mqtt, "homebus/deploy/install", "hub", 3, 1, false);
	m = hbt_mqtt_wait_all(f.mqtt, "homebus/deploy/state", (const char *const[]){
	    "\"phase\":\"done\"", "\"requested_by\":\"homeassistant\"",
	    "\"to_tag\":\"v2\"", NULL }, DEPLOY_MS);
	HBT_CHECK(m != NULL, "Install deployed v2, requested by homeassistant");
	hbt_mqtt_msg_free(m);
	/* step 3 of 6 (backup): two steps done */
	s = wait_state(&f, (const char *const[]){ "\"in_progress\":true",
	    "\"update_percentage\":33", NULL });
	HBT_CHECK(s != NULL, "in progress with a percentage while it ran");
	json_decref(s);
	s = wait_state(&f, (const char *const[]){ "\"installed_version\":\"v2\"",
	    "\"in_progress\":false", NULL });
	HBT_CHECK(s && json_is_null(json_object_get(s, "update_percentage")),
	    "installed v2, done");
	json_decref(s);
	/* a press that comes again (QoS 1 redelivers) deploys nothing */
	hbt_mqtt_publish(f.mqtt, "homebus/deploy/install", "hub", 3, 1, false);
	hbt_mqtt_publish(f.mqtt, "homebus/deploy/install", "kitchen", 7, 1, false);
	hbt_sleep_ms(1500);
	HBT_CHECK(dfx_count_calls(&f, " pull ", NULL) == 1, "installed already, "
	    "another deployer's button: no second deploy");

	/* a version that fails: rolled back, and the entity says what failed */
	hbt_mqtt_publish(f.mqtt, "homebus/deploy/available", bad, sizeof(bad) - 1, 1,
	    true);
	hbt_mqtt_publish(f.mqtt, "homebus/deploy/install", "hub", 3, 1, false);
	m = hbt_mqtt_wait_all(f.mqtt, "homebus/deploy/state", (const char *const[]){
	    "\"phase\":\"rolled_back\"", "\"to_tag\":\"v3-bad\"", NULL }, ROLLBACK_MS);
	HBT_CHECK(m != NULL, "v3-bad rolled back");
	hbt_mqtt_msg_free(m);
	s = wait_state(&f, (const char *const[]){ "\"installed_version\":\"v2\"",
	    "\"latest_version\":\"v3-bad\"", NULL });
	HBT_CHECK(s && strcmp(dfx_str(s, "release_summary"),
	    "homebus v3-bad is available; v2 runs") == 0,
	    "the entity still has v2; the summary says what the version is: %s",
	    s ? dfx_str(s, "release_summary") : "-");
	json_decref(s);
	m = hbt_mqtt_wait(f.mqtt, ATTRS_TOPIC, "ingest", 10000);
	HBT_CHECK(m != NULL, "the failure is the entity's last_failure attribute");
	if (m) {
		s = json_loads(m->payload, 0, NULL);
		HBT_CHECK(strstr(dfx_str(s, "last_failure"), "rolled_back") &&
		    json_object_size(s) == 1, "last_failure says what failed: %s",
		    m->payload);
		json_decref(s);
	}
	hbt_mqtt_msg_free(m);
	json_decref(check_states(&f));

	/* Home Assistant restarts: it reads the discovery again */
	hbt_mqtt_clear(f.mqtt);
	hbt_mqtt_publish(f.mqtt, "homeassistant/status", "online", 6, 1, false);
	m = hbt_mqtt_wait(f.mqtt, CONFIG_TOPIC, "\"unique_id\"", 10000);
	HBT_CHECK(m != NULL, "announced again when Home Assistant comes online");
	hbt_mqtt_msg_free(m);
	HBT_CHECK(hbt_proc_alive(&f.deployer.proc), "the deployer runs");
	dfx_teardown(&f);
	hbt_exit();
}
