/*
 * The shipped broker configuration, deploy/mosquitto.conf as it is (only
 * the password file, the store, the listener's port and the ACL's path are
 * the test's) with the ACL deploy/mosquitto-acl writes for instance hub,
 * and a user of each kind made by mosquitto_passwd: an anonymous client
 * cannot connect; the
 * devices' users (zigbee2mqtt, tasmota, shelly, statestream) get ingest's
 * sources through but cannot notify, announce a service, write points or
 * start a deploy; only cli, homeassistant and notifier may publish
 * homebus/deploy/command and only the deployer receives it; only the
 * deployer publishes homebus/deploy/state, which every homebus user reads;
 * the deployer's other topics are open to it. And the real health watcher,
 * logged in as health, works under it, and caps what a user allowed to
 * announce services can make it watch: 300 fake services, 200 watched,
 * a warning in its log, and P/health/_all not published for each.
 *
 * mosquitto 2.0 on a denied publish: an MQTT v5 client gets PUBACK reason
 * 135 (not authorized) at QoS 1, nothing at QoS 0; the message is dropped.
 * What matters is what subscribers receive, so every denial is checked on
 * the subscriber's side: a publish that is allowed, sent after the denied
 * one, arrives and the denied one does not.
 */
#include "hbt_acl.h"

#include <signal.h>
#include <string.h>

static int broker_port;
static struct hbt_user *logged_in[16];

/* The client of user name, logged in once and kept to the end. */
static struct hbt_user *
as(const char *name)
{
	size_t i;
	int refused = 0;

	for (i = 0; logged_in[i]; i++)
		if (strcmp(logged_in[i]->name, name) == 0)
			return logged_in[i];
	HBT_REQUIRE(i + 1 < HB_ARRAY_LEN(logged_in), "too many users");
	logged_in[i] = hbt_user_connect(broker_port, name, NULL, NULL, 0, &refused);
	HBT_REQUIRE(logged_in[i] != NULL, "%s logs in (refused with %d)", name,
	    refused);
	return logged_in[i];
}

/*
 * `from` publishes payload on topic (QoS 1), then `marker`, a user allowed
 * to, publishes "marker" on marker_topic; once `to` has the marker, it
 * must have (or not have) the first message.
 */
static void
expect_delivery(struct hbt_user *from, const char *topic, const char *payload,
    bool allowed, struct hbt_user *to, struct hbt_user *marker, const char *marker_topic)
{
	int rc = hbt_user_publish(from, topic, payload, 1, false);
	size_t before = hbt_user_received(to, marker_topic, "marker");

	if (allowed)
		HBT_CHECK(rc == 0, "%s may publish %s (PUBACK %d)", from->name, topic, rc);
	else
		HBT_CHECK(rc == HBT_NOT_AUTHORIZED, "%s may not publish %s: PUBACK %d, "
		    "not authorized", from->name, topic, rc);
	HBT_REQUIRE(hbt_user_publish(marker, marker_topic, "marker", 1, false) == 0,
	    "the marker from %s", marker->name);
	HBT_CHECK(HBT_WAIT(hbt_user_received(to, marker_topic, "marker") > before, 10000),
	    "%s has the marker", to->name);
	HBT_CHECK((hbt_user_received(to, topic, payload) > 0) == allowed, "%s %s %s's "
	    "message on %s", to->name, allowed ? "receives" : "does not receive",
	    from->name, topic);
}

/* ---------------- the cases ---------------- */

static void
check_logins(int port)
{
	int refused = 0;
	struct hbt_user *u;

	u = hbt_user_connect(port, NULL, NULL, NULL, 0, &refused);
	HBT_CHECK(u == NULL && refused == HBT_NOT_AUTHORIZED, "an anonymous client "
	    "cannot connect (CONNACK %d)", refused);
	hbt_user_close(u);
	u = hbt_user_connect(port, "cli", "guess", NULL, 0, &refused);
	HBT_CHECK(u == NULL && refused > 0, "nor one with a wrong password "
	    "(CONNACK %d)", refused);
	hbt_user_close(u);
}

/* What ingest reads comes from the devices' users, and Home Assistant's. */
static void
check_sources(struct hbt_user *ingest)
{
	static const char *const sources[][2] = {
		{ "zigbee2mqtt", "zigbee2mqtt/kitchen" },
		{ "tasmota", "tele/plug/SENSOR" },
		{ "shelly", "shellies/plug/relay/0/power" },
		{ "statestream", "homeassistant_statestream/sensor/outside/state" },
		{ "homeassistant", "homeassistant_statestream/sensor/inside/state" },
	};

	for (size_t i = 0; i < HB_ARRAY_LEN(sources); i++) {
		struct hbt_user *dev = as(sources[i][0]);

		HBT_CHECK(hbt_user_publish(dev, sources[i][1], "21.5", 1, false) == 0,
		    "%s publishes %s", sources[i][0], sources[i][1]);
		HBT_CHECK(HBT_WAIT(hbt_user_received(ingest, sources[i][1], "21.5") == 1, 10000),
		    "ingest reads %s from %s", sources[i][1], sources[i][0]);
	}
}

/* A device cannot notify, announce a service or write points. */
static void
check_device_limits(struct hbt_user *cli, struct hbt_user *notifier)
{
	struct hbt_user *z2m = as("zigbee2mqtt");

	/* QoS 0: the publisher is told nothing; the subscriber gets nothing */
	HBT_CHECK(hbt_user_publish(z2m, "homebus/notify/critical", "{\"text\":\"q0\"}", 0,
	    false) == 0, "a QoS 0 publish looks sent");
	expect_delivery(z2m, "homebus/notify/critical", "{\"text\":\"pwned\"}", false,
	    notifier, cli, "homebus/notify/info");
	HBT_CHECK(hbt_user_received(notifier, "homebus/notify/#", "q0") == 0,
	    "nor the QoS 0 notification");
	expect_delivery(z2m, "homebus/svc/writer/hub/status", "offline", false, cli,
	    cli, "homebus/notify/info");
	expect_delivery(z2m, "homebus/svc/zigbee2mqtt/hub/status", "online", false,
	    cli, cli, "homebus/notify/info");
	expect_delivery(z2m, "homebus/points/x", "x v=1", false, cli, cli,
	    "homebus/notify/info");
}

/* Only cli, homeassistant and notifier start deploys; only the deployer hears them. */
static void
check_deploy(struct hbt_user *deployer, struct hbt_user *cli, struct hbt_user *writer)
{
	static const char *const may[] = { "cli", "homeassistant", "notifier" };
	static const char *const may_not[] = { "ingest", "zigbee2mqtt", "health",
	    "writer" };
	char payload[80];

	for (size_t i = 0; i < HB_ARRAY_LEN(may_not); i++) {
		struct hbt_user *u = as(may_not[i]);

		snprintf(payload, sizeof(payload), "{\"id\":\"from-%s\"}", may_not[i]);
		expect_delivery(u, "homebus/deploy/command", payload, false, deployer,
		    cli, "homebus/deploy/command");
	}
	for (size_t i = 0; i < HB_ARRAY_LEN(may); i++) {
		struct hbt_user *u = as(may[i]);

		snprintf(payload, sizeof(payload), "{\"id\":\"from-%s\"}", may[i]);
		expect_delivery(u, "homebus/deploy/command", payload, true, deployer,
		    cli, "homebus/deploy/command");
	}
	HBT_CHECK(hbt_user_received(cli, "homebus/deploy/command", NULL) == 0,
	    "the cli, reading homebus/#, does not receive the deploy commands");

	/* the state: the deployer's alone, read by every homebus user */
	for (size_t i = 0; i < HB_ARRAY_LEN(may); i++) {
		struct hbt_user *u = as(may[i]);

		expect_delivery(u, "homebus/deploy/state", "{\"phase\":\"forged\"}",
		    false, cli, deployer, "homebus/notify/info");
	}
	HBT_CHECK(hbt_user_publish(deployer, "homebus/deploy/state",
	    "{\"phase\":\"done\"}", 1, true) == 0, "the deployer publishes its state");
	HBT_CHECK(HBT_WAIT(hbt_user_received(cli, "homebus/deploy/state", "done") == 1 &&
	    hbt_user_received(writer, "homebus/deploy/state", "done") == 1, 10000),
	    "the cli and the writer read it");

	/* the deployer's other topics */
	HBT_CHECK(hbt_user_publish(cli, "homebus/cli/test-cli/sync", "1", 1, false) == 0 &&
	    HBT_WAIT(hbt_user_received(cli, "homebus/cli/test-cli/sync", "1") == 1, 10000),
	    "the cli has its own topics (the sync of `homebus status`)");
	HBT_CHECK(hbt_user_publish(cli, "homebus/deploy/available", "{\"tag\":\"2.0\"}", 1,
	    true) == 0, "the cli sets deploy/available (retained)");
	HBT_CHECK(HBT_WAIT(hbt_user_received(deployer, "homebus/deploy/available", "2.0") == 1,
	    10000), "the deployer reads it");
	{
		struct hbt_user *ha = as("homeassistant");

		HBT_CHECK(hbt_user_publish(ha, "homebus/deploy/install", "install", 1,
		    false) == 0, "Home Assistant's Install button");
		HBT_CHECK(HBT_WAIT(hbt_user_received(deployer, "homebus/deploy/install",
		    "install") == 1, 10000), "reaches the deployer");
		HBT_CHECK(hbt_user_subscribe(ha, "homebus/deploy/update/#") == 1,
		    "Home Assistant follows the update entity's state");
		HBT_CHECK(hbt_user_publish(deployer, "homebus/deploy/update/hub",
		    "{\"installed_version\":\"1.0\"}", 1, true) == 0 &&
		    HBT_WAIT(hbt_user_received(ha, "homebus/deploy/update/hub",
		    "installed_version") == 1, 10000), "the deployer publishes the "
		    "entity's state and Home Assistant reads it");
	}
	HBT_CHECK(hbt_user_publish(deployer, "homebus/health/check", "{}", 1, false) == 0 &&
	    hbt_user_publish(deployer, "homebus/notify/info", "{\"text\":\"d\"}", 1,
	    false) == 0 &&
	    hbt_user_publish(deployer, "homebus/points/homebus_deploy", "d v=1", 1,
	    false) == 0 &&
	    hbt_user_publish(deployer, "homeassistant/update/homebus_hub/deploy/config",
	    "{}", 1, false) == 0 &&
	    hbt_user_publish(deployer, "homebus/svc/deployer/hub/status", "online", 1,
	    false) == 0, "the deployer may ask for checks, notify, write its "
	    "points, announce its update entity and itself");
	HBT_CHECK(hbt_user_publish(deployer, "homebus/points/other", "o v=1", 1, false) ==
	    HBT_NOT_AUTHORIZED, "but no other points");
}

/*
 * The watcher works under the ACL (its probe, its states, its discovery),
 * and 300 services announced by a user allowed to make 200 targets.
 */
static void
check_health(int port, struct hbt_user *cli)
{
	struct hbt_service health;
	struct hbt_user *ingest = as("ingest"), *ha = as("homeassistant");
	int hport = hbt_free_port();
	char topic[128];
	size_t all_before, all_burst;

	HBT_REQUIRE(hbt_user_subscribe(ha, "homeassistant/binary_sensor/#") == 1,
	    "Home Assistant reads discovery");
	hbt_acl_service_start(&health, "health", port, hport, "\"interval_s\": 1, "
	    "\"heartbeat_timeout_s\": 600");
	HBT_CHECK(HBT_WAIT(hbt_user_received(cli, "homebus/health/broker", "\"state\":\"ok\"") > 0,
	    20000), "the watcher's probe goes round and its state is published");
	HBT_CHECK(HBT_WAIT(hbt_user_received(ha, "homeassistant/binary_sensor/+/health/config",
	    "homebus_hub_broker") > 0, 10000), "and its discovery config");

	all_before = hbt_user_received(cli, "homebus/health/_all", NULL);
	for (int i = 0; i < 300; i++) {
		snprintf(topic, sizeof(topic), "homebus/svc/ingest/fake%03d/status", i);
		HBT_REQUIRE(hbt_user_publish(ingest, topic, "online", 1, true) == 0,
		    "ingest announces %s", topic);
	}
	HBT_CHECK(HBT_WAIT(hbt_metric(hport,
	    "homebus_health_discovered_refused_total") >= 100, 30000),
	    "the 100 past the cap are refused");
	HBT_CHECK(hbt_metric(hport, "homebus_health_discovered_services") == 200,
	    "200 are watched (health.max_discovered): %g",
	    hbt_metric(hport, "homebus_health_discovered_services"));
	HBT_CHECK(hbt_proc_log_has(&health.proc, "(health.max_discovered)"),
	    "a warning in its log");
	hbt_sleep_ms(1500);
	all_burst = hbt_user_received(cli, "homebus/health/_all", NULL) - all_before;
	hbt_log("homebus/health/_all published %zu times for the 300", all_burst);
	HBT_CHECK(all_burst >= 1 && all_burst <= 20, "homebus/health/_all, at most "
	    "once a second, not once per service: %zu times for 300 announced",
	    all_burst);
	HBT_CHECK(hbt_user_received(ha, "homeassistant/binary_sensor/+/health/config",
	    "\"ingest@fake000\"") == 1 &&
	    hbt_user_received(ha, "homeassistant/binary_sensor/+/health/config",
	    "\"ingest@fake250\"") == 0, "an entity for the first, none past the cap");
	HBT_CHECK(hbt_proc_alive(&health.proc), "the watcher runs on");
	HBT_CHECK(hbt_proc_stop(&health.proc, SIGTERM, 10000) == 0, "clean exit");
}

int
main(void)
{
	struct hbt_proc broker;
	struct hbt_user *cli, *deployer, *notifier, *ingest, *writer;
	char dir[600];
	int port;

	hbt_init("acl");
	snprintf(dir, sizeof(dir), "%s/mosquitto", hbt_dir());
	port = broker_port = hbt_free_port();
	hbt_acl_broker_start(&broker, dir, port, "hub");
	check_logins(port);

	cli = as("cli");
	deployer = as("deployer");
	notifier = as("notifier");
	ingest = as("ingest");
	writer = as("writer");
	HBT_REQUIRE(hbt_user_subscribe(cli, "homebus/#") == 1, "the cli tails homebus/#");
	HBT_REQUIRE(hbt_user_subscribe(deployer, "homebus/deploy/#") == 1 &&
	    hbt_user_subscribe(notifier, "homebus/notify/#") == 1 &&
	    hbt_user_subscribe(writer, "homebus/deploy/state") == 1,
	    "the services subscribe");
	HBT_REQUIRE(hbt_user_subscribe(ingest, "zigbee2mqtt/#") == 1 &&
	    hbt_user_subscribe(ingest, "tele/#") == 1 &&
	    hbt_user_subscribe(ingest, "shellies/#") == 1 &&
	    hbt_user_subscribe(ingest, "homeassistant_statestream/#") == 1,
	    "ingest subscribes to its sources");

	check_sources(ingest);
	check_device_limits(cli, notifier);
	check_deploy(deployer, cli, writer);
	check_health(port, cli);

	for (size_t i = 0; logged_in[i]; i++)
		hbt_user_close(logged_in[i]);
	hbt_exit();
}
