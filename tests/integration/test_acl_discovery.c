/*
 * A device account cannot change what Home Assistant's Install button of
 * the deployer's update entity publishes. Under the shipped broker
 * configuration (hbt_acl: deploy/mosquitto.conf, and the ACL
 * deploy/mosquitto-acl writes for instance hub) zigbee2mqtt still
 * announces its own devices under homeassistant/, but its retained config
 * on the deployer's discovery topic, pointing the button at
 * homebus/deploy/command with a deploy as its payload, is refused, and so
 * is one on the health watcher's. Home Assistant's own account may write
 * anywhere under homeassistant/: the same config from it, or an empty one
 * that removes the entity, is replaced by the real deployer's at once,
 * which is what stays retained; and the health watcher puts its sensors'
 * configs back the same way.
 */
#include "hbt_acl.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>

#define CONFIG_TOPIC "homeassistant/update/homebus_hub/deploy/config"
#define HEALTH_TOPIC "homeassistant/binary_sensor/homebus_hub_broker/health/config"
/* the broker's round trip, charted */
#define SENSOR_TOPIC "homeassistant/sensor/homebus_hub_broker_latency_ms/health/config"

/* The attacker's entity: Install deploys the attacker's tag. */
static const char forged[] =
    "{\"name\":\"Deploy\",\"unique_id\":\"homebus_hub_deploy\","
    "\"state_topic\":\"homebus/deploy/update/hub\","
    "\"command_topic\":\"homebus/deploy/command\","
    "\"payload_install\":\"{\\\"id\\\":\\\"x\\\",\\\"action\\\":\\\"deploy\\\","
    "\\\"tag\\\":\\\"evil\\\"}\",\"retain\":false}";

/* What Install publishes, as the retained config says: "topic payload". */
static void
install_action(const char *config, char *out, size_t outlen)
{
	json_t *c = config ? json_loads(config, 0, NULL) : NULL;

	snprintf(out, outlen, "%s %s", hbt_json_str(c, "command_topic"),
	    hbt_json_str(c, "payload_install"));
	json_decref(c);
}

/* The config retained on topic, as a client that comes now reads it (a copy). */
static char *
retained(int port, const char *topic)
{
	int refused = 0;
	struct hbt_user *u = hbt_user_connect(port, "homeassistant", NULL, NULL, 0,
	    &refused);
	char *payload = NULL;

	HBT_REQUIRE(u != NULL, "homeassistant logs in");
	if (hbt_user_subscribe(u, topic) == 1 &&
	    HBT_WAIT(hbt_user_received(u, topic, NULL) > 0, 5000))
		payload = hbt_user_last(u, topic);
	hbt_user_close(u);
	return payload;
}

/* The health watcher's config of the broker target is retained on HEALTH_TOPIC. */
static bool
health_config_retained(int port)
{
	char *config = retained(port, HEALTH_TOPIC);
	json_t *c = config ? json_loads(config, 0, NULL) : NULL;
	bool ours = strcmp(hbt_json_str(c, "state_topic"), "homebus/health/broker") == 0;

	json_decref(c);
	free(config);
	return ours;
}

static void
expect_install(int port, const char *why)
{
	char *config = retained(port, CONFIG_TOPIC);
	char action[1024];

	install_action(config, action, sizeof(action));
	HBT_CHECK(strcmp(action, "homebus/deploy/install hub") == 0, "%s: Install "
	    "publishes \"hub\" on homebus/deploy/install (%s)", why, action);
	free(config);
}

int
main(void)
{
	struct hbt_proc broker;
	struct hbt_service deployer, health;
	struct hbt_user *z2m, *ha;
	char dir[600], section[700];
	size_t before;
	int port, refused = 0, rc;

	hbt_init("acl_discovery");
	snprintf(dir, sizeof(dir), "%s/mosquitto", hbt_dir());
	port = hbt_free_port();
	hbt_acl_broker_start(&broker, dir, port, "hub");
	ha = hbt_user_connect(port, "homeassistant", NULL, NULL, 0, &refused);
	z2m = hbt_user_connect(port, "zigbee2mqtt", NULL, NULL, 0, &refused);
	HBT_REQUIRE(ha != NULL && z2m != NULL, "Home Assistant and zigbee2mqtt "
	    "log in");
	HBT_REQUIRE(hbt_user_subscribe(ha, "homeassistant/#") == 1,
	    "Home Assistant reads discovery");

	snprintf(section, sizeof(section), "\"workdir\": \"%s\", \"initial_tag\": "
	    "\"v1\"", hbt_dir());
	hbt_acl_service_start(&deployer, "deployer", port, hbt_free_port(), section);
	HBT_REQUIRE(HBT_WAIT(hbt_user_received(ha, CONFIG_TOPIC,
	    "homebus/deploy/install") > 0, 20000), "the deployer announces its "
	    "update entity");
	expect_install(port, "as announced");

	/* zigbee2mqtt: its own devices, not homebus's entities */
	HBT_CHECK(hbt_user_publish(z2m, "homeassistant/sensor/0x00158d0001a2b3c4/"
	    "temperature/config", "{\"name\":\"t\"}", 1, true) == 0,
	    "zigbee2mqtt announces its own devices");
	rc = hbt_user_publish(z2m, CONFIG_TOPIC, forged, 1, true);
	HBT_CHECK(rc == HBT_NOT_AUTHORIZED, "zigbee2mqtt's config for the "
	    "deployer's entity is refused (PUBACK %d)", rc);
	rc = hbt_user_publish(z2m, HEALTH_TOPIC, "{\"name\":\"fine\"}", 1, true);
	HBT_CHECK(rc == HBT_NOT_AUTHORIZED, "and one for the health watcher's "
	    "(PUBACK %d)", rc);
	rc = hbt_user_publish(z2m, SENSOR_TOPIC, "{\"name\":\"fine\"}", 1, true);
	HBT_CHECK(rc == HBT_NOT_AUTHORIZED, "and one for the watcher's sensors "
	    "(PUBACK %d)", rc);
	HBT_CHECK(HBT_WAIT(hbt_user_received(ha, "homeassistant/sensor/#", NULL) > 0,
	    10000), "Home Assistant has zigbee2mqtt's device");
	expect_install(port, "after zigbee2mqtt's attempt");

	/* Home Assistant's account may write there: the deployer puts its own back */
	before = hbt_user_received(ha, CONFIG_TOPIC, "homebus/deploy/install");
	HBT_CHECK(hbt_user_publish(ha, CONFIG_TOPIC, forged, 1, true) == 0,
	    "homeassistant may publish under homeassistant/");
	HBT_CHECK(HBT_WAIT(hbt_user_received(ha, CONFIG_TOPIC,
	    "homebus/deploy/install") > before, 10000), "the deployer publishes its "
	    "own config again");
	expect_install(port, "after homeassistant's");
	HBT_CHECK(hbt_proc_log_has(&deployer.proc, "publishing ours again"),
	    "the deployer says so in its log");
	before = hbt_user_received(ha, CONFIG_TOPIC, "homebus/deploy/install");
	HBT_CHECK(hbt_user_publish(ha, CONFIG_TOPIC, "", 1, true) == 0 &&
	    HBT_WAIT(hbt_user_received(ha, CONFIG_TOPIC, "homebus/deploy/install") >
	    before, 10000), "a cleared config (the entity removed) is put back");
	expect_install(port, "after the entity was removed");

	/* the health watcher's sensors too */
	hbt_acl_service_start(&health, "health", port, hbt_free_port(),
	    "\"interval_s\": 1");
	HBT_REQUIRE(HBT_WAIT(hbt_user_received(ha, HEALTH_TOPIC,
	    "homebus/health/broker") > 0, 20000), "the watcher announces the "
	    "broker's sensor");
	before = hbt_user_received(ha, HEALTH_TOPIC, "homebus/health/broker");
	HBT_CHECK(hbt_user_publish(ha, HEALTH_TOPIC, "{\"name\":\"fine\","
	    "\"state_topic\":\"homeassistant/fake\"}", 1, true) == 0 &&
	    HBT_WAIT(hbt_user_received(ha, HEALTH_TOPIC, "homebus/health/broker") >
	    before, 10000), "the watcher puts its own config back");
	HBT_CHECK(health_config_retained(port), "its config is what is retained");
	HBT_REQUIRE(HBT_WAIT(hbt_user_received(ha, SENSOR_TOPIC,
	    "\"state_class\":\"measurement\"") > 0, 20000), "the watcher "
	    "announces the round trip's sensor");
	before = hbt_user_received(ha, SENSOR_TOPIC, "\"state_class\"");
	HBT_CHECK(hbt_user_publish(ha, SENSOR_TOPIC, "", 1, true) == 0 &&
	    HBT_WAIT(hbt_user_received(ha, SENSOR_TOPIC, "\"state_class\"") >
	    before, 10000), "the watcher puts its sensor's config back");

	HBT_CHECK(hbt_proc_stop(&health.proc, SIGTERM, 15000) == 0 &&
	    hbt_proc_stop(&deployer.proc, SIGTERM, 15000) == 0, "clean exits");
	hbt_user_close(z2m);
	hbt_user_close(ha);
	hbt_exit();
}
