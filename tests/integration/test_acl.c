/*
 * The shipped broker configuration, deploy/mosquitto.conf with
 * deploy/mosquitto.acl as they are (only the password file, the store, the
 * listener's port and the ACL's path are the test's), with a user of each
 * kind made by mosquitto_passwd: an anonymous client cannot connect; the
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
#include "hbt.h"
#include "hb_topic.h"

#include <MQTTAsync.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define NOT_AUTHORIZED 135	/* MQTT v5 reason code */

/* ---------------- a client logged in as a user ---------------- */

struct user {
	MQTTAsync client;
	char name[32];
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool done;
	int rc;			/* reason code of the last operation; -1: failed */
	struct hbt_mqtt_msg *msgs;
	size_t nmsgs, cap;
};

static int
on_message(void *ctx, char *topic, int tlen, MQTTAsync_message *pm)
{
	struct user *u = ctx;

	pthread_mutex_lock(&u->lock);
	if (u->nmsgs == u->cap) {
		u->cap = u->cap ? u->cap * 2 : 256;
		u->msgs = hb_xrealloc(u->msgs, u->cap * sizeof(*u->msgs));
	}
	{
		struct hbt_mqtt_msg *m = &u->msgs[u->nmsgs++];

		m->topic = tlen > 0 ? hb_xstrndup(topic, (size_t)tlen) :
		    hb_xstrdup(topic);
		m->payload = hb_xstrndup(pm->payload, (size_t)pm->payloadlen);
		m->len = (size_t)pm->payloadlen;
		m->retained = pm->retained;
		m->at_ms = hb_mono_ms();
	}
	pthread_mutex_unlock(&u->lock);
	MQTTAsync_freeMessage(&pm);
	MQTTAsync_free(topic);
	return 1;
}

static void
finish(struct user *u, int rc)
{
	pthread_mutex_lock(&u->lock);
	u->rc = rc;
	u->done = true;
	pthread_cond_signal(&u->cond);
	pthread_mutex_unlock(&u->lock);
}

static void
ok5(void *ctx, MQTTAsync_successData5 *r)
{
	finish(ctx, r ? (int)r->reasonCode : 0);
}

static void
fail5(void *ctx, MQTTAsync_failureData5 *r)
{
	/* a refused CONNECT has its CONNACK reason in code, the rest in reasonCode */
	if (r && r->reasonCode)
		finish(ctx, (int)r->reasonCode);
	else
		finish(ctx, r && r->code > 0 ? r->code : -1);
}

/* Waits up to 10 s for the operation in flight: its reason code, or -1. */
static int
wait_done(struct user *u)
{
	struct timespec until;
	bool done;

	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_sec += 10;
	pthread_mutex_lock(&u->lock);
	while (!u->done && pthread_cond_timedwait(&u->cond, &u->lock, &until) == 0)
		;
	done = u->done;
	u->done = false;
	pthread_mutex_unlock(&u->lock);
	return done ? u->rc : -1;
}

static void
user_close(struct user *u)
{
	if (u == NULL)
		return;
	if (u->client) {
		MQTTAsync_disconnect(u->client, NULL);
		hbt_sleep_ms(50);
		MQTTAsync_destroy(&u->client);
	}
	for (size_t i = 0; i < u->nmsgs; i++) {
		free(u->msgs[i].topic);
		free(u->msgs[i].payload);
	}
	free(u->msgs);
	pthread_cond_destroy(&u->cond);
	pthread_mutex_destroy(&u->lock);
	free(u);
}

/*
 * Connects as user name (NULL: anonymous) with password "pw-<name>", or
 * `password` if not NULL. Returns the client, or NULL with the reason
 * code of the refusal in *refused.
 */
static struct user *
user_connect(int port, const char *name, const char *password, int *refused)
{
	MQTTAsync_createOptions cro = MQTTAsync_createOptions_initializer;
	MQTTAsync_connectOptions co = MQTTAsync_connectOptions_initializer5;
	struct user *u = hb_xcalloc(1, sizeof(*u));
	pthread_condattr_t ca;
	char uri[64], id[64], pw[64];
	int rc;

	snprintf(u->name, sizeof(u->name), "%s", name ? name : "(anonymous)");
	snprintf(uri, sizeof(uri), "tcp://127.0.0.1:%d", port);
	snprintf(id, sizeof(id), "test-%s-%d", name ? name : "anon", rand());
	snprintf(pw, sizeof(pw), "pw-%s", name ? name : "");
	pthread_mutex_init(&u->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&u->cond, &ca);
	pthread_condattr_destroy(&ca);
	cro.MQTTVersion = MQTTVERSION_5;
	if (MQTTAsync_createWithOptions(&u->client, uri, id,
	    MQTTCLIENT_PERSISTENCE_NONE, NULL, &cro) != MQTTASYNC_SUCCESS) {
		*refused = -1;
		return NULL;
	}
	MQTTAsync_setCallbacks(u->client, u, NULL, on_message, NULL);
	co.cleanstart = 1;
	co.keepAliveInterval = 30;
	co.username = name;
	co.password = name ? (password ? password : pw) : NULL;
	co.onSuccess5 = ok5;
	co.onFailure5 = fail5;
	co.context = u;
	rc = MQTTAsync_connect(u->client, &co) == MQTTASYNC_SUCCESS ?
	    wait_done(u) : -1;
	if (rc != 0) {
		*refused = rc;
		return NULL;
	}
	return u;
}

/* Subscribes at QoS 1: the SUBACK's reason code (1: granted QoS 1). */
static int
user_subscribe(struct user *u, const char *filter)
{
	MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;

	ro.onSuccess5 = ok5;
	ro.onFailure5 = fail5;
	ro.context = u;
	if (MQTTAsync_subscribe(u->client, filter, 1, &ro) != MQTTASYNC_SUCCESS)
		return -1;
	return wait_done(u);
}

/* Publishes; at QoS 1 the PUBACK's reason code (0: accepted), else 0 once sent. */
static int
user_publish(struct user *u, const char *topic, const char *payload, int qos,
    bool retained)
{
	MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;
	MQTTAsync_message msg = MQTTAsync_message_initializer;

	msg.payload = (void *)(uintptr_t)payload;
	msg.payloadlen = (int)strlen(payload);
	msg.qos = qos;
	msg.retained = retained;
	ro.onSuccess5 = ok5;
	ro.onFailure5 = fail5;
	ro.context = u;
	if (MQTTAsync_sendMessage(u->client, topic, &msg, &ro) != MQTTASYNC_SUCCESS)
		return -1;
	return wait_done(u);
}

/* Messages received on topics matching filter whose payload has `has` (NULL: any). */
static size_t
received(struct user *u, const char *filter, const char *has)
{
	size_t n = 0;

	pthread_mutex_lock(&u->lock);
	for (size_t i = 0; i < u->nmsgs; i++)
		if (hb_topic_match(filter, u->msgs[i].topic, NULL, NULL, NULL) &&
		    (has == NULL || strstr(u->msgs[i].payload, has)))
			n++;
	pthread_mutex_unlock(&u->lock);
	return n;
}

static int broker_port;
static struct user *logged_in[16];

/* The client of user name, logged in once and kept to the end. */
static struct user *
as(const char *name)
{
	size_t i;
	int refused = 0;

	for (i = 0; logged_in[i]; i++)
		if (strcmp(logged_in[i]->name, name) == 0)
			return logged_in[i];
	HBT_REQUIRE(i + 1 < HB_ARRAY_LEN(logged_in), "too many users");
	logged_in[i] = user_connect(broker_port, name, NULL, &refused);
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
expect_delivery(struct user *from, const char *topic, const char *payload,
    bool allowed, struct user *to, struct user *marker, const char *marker_topic)
{
	int rc = user_publish(from, topic, payload, 1, false);
	size_t before = received(to, marker_topic, "marker");

	if (allowed)
		HBT_CHECK(rc == 0, "%s may publish %s (PUBACK %d)", from->name, topic, rc);
	else
		HBT_CHECK(rc == NOT_AUTHORIZED, "%s may not publish %s: PUBACK %d, "
		    "not authorized", from->name, topic, rc);
	HBT_REQUIRE(user_publish(marker, marker_topic, "marker", 1, false) == 0,
	    "the marker from %s", marker->name);
	HBT_CHECK(HBT_WAIT(received(to, marker_topic, "marker") > before, 10000),
	    "%s has the marker", to->name);
	HBT_CHECK((received(to, topic, payload) > 0) == allowed, "%s %s %s's "
	    "message on %s", to->name, allowed ? "receives" : "does not receive",
	    from->name, topic);
}

/* ---------------- the broker as shipped ---------------- */

static const char *const users[] = { "writer", "ingest", "health", "notifier",
	"deployer", "cli", "homeassistant", "zigbee2mqtt", "tasmota", "shelly",
	"statestream", NULL };

/*
 * deploy/mosquitto.conf line by line, with the test's password file,
 * store and port, and the shipped ACL where it lies in the source tree.
 */
static void
write_conf(const char *path, const char *dir, int port)
{
	char src[600], *text, *line, *save = NULL;
	struct hb_buf out = { 0 };

	snprintf(src, sizeof(src), "%s/deploy/mosquitto.conf", HBT_SOURCE_DIR);
	text = hb_read_file(src, 1 << 20, NULL);
	HBT_REQUIRE(text != NULL, "read %s", src);
	for (line = strtok_r(text, "\n", &save); line;
	    line = strtok_r(NULL, "\n", &save)) {
		if (strncmp(line, "password_file ", 14) == 0)
			hb_buf_printf(&out, "password_file %s/passwd\n", dir);
		else if (strncmp(line, "acl_file ", 9) == 0)
			hb_buf_printf(&out, "acl_file %s/deploy/mosquitto.acl\n",
			    HBT_SOURCE_DIR);
		else if (strncmp(line, "persistence_location ", 21) == 0)
			hb_buf_printf(&out, "persistence_location %s/\n", dir);
		else if (strncmp(line, "listener 1883", 13) == 0)
			hb_buf_printf(&out, "listener %d 127.0.0.1\n", port);
		else
			hb_buf_printf(&out, "%s\n", line);
	}
	/* as root, mosquitto would become user mosquitto, who cannot read
	 * the test's folder */
	if (geteuid() == 0)
		hb_buf_puts(&out, "user root\n");
	hbt_write_file(path, out.data);
	free(text);
	hb_buf_free(&out);
}

static bool
port_open(int port)
{
	struct sockaddr_in sa;
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	bool open;

	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	open = fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
	if (fd >= 0)
		close(fd);
	return open;
}

static void
start_broker(struct hbt_proc *p, const char *dir, int port)
{
	char passwd[600], conf[600], pw[64];
	char *argv[] = { "/usr/sbin/mosquitto", "-c", conf, NULL };
	struct hb_buf out = { 0 };

	hb_mkdirs(dir);
	snprintf(passwd, sizeof(passwd), "%s/passwd", dir);
	for (size_t i = 0; users[i]; i++) {
		char *create[] = { "/usr/bin/mosquitto_passwd", "-c", "-b", passwd,
		    (char *)users[i], pw, NULL };
		char *add[] = { "/usr/bin/mosquitto_passwd", "-b", passwd, (char *)users[i], pw,
		    NULL };

		snprintf(pw, sizeof(pw), "pw-%s", users[i]);
		/* the first makes the file, the others are added to it */
		HBT_REQUIRE(hbt_run(i == 0 ? create : add, &out, 10000) == 0,
		    "mosquitto_passwd %s: %s", users[i], out.data ? out.data : "");
	}
	snprintf(conf, sizeof(conf), "%s/mosquitto.conf", dir);
	write_conf(conf, dir, port);
	HBT_REQUIRE(hbt_proc_start(p, "mosquitto", argv) == 0, "mosquitto");
	/* (its log goes to stdout, which is not flushed line by line) */
	HBT_REQUIRE(HBT_WAIT(port_open(port) || !hbt_proc_alive(p), 10000) &&
	    hbt_proc_alive(p), "mosquitto runs with the shipped configuration");
	hb_buf_free(&out);
}

/* ---------------- the cases ---------------- */

static void
check_logins(int port)
{
	int refused = 0;
	struct user *u;

	u = user_connect(port, NULL, NULL, &refused);
	HBT_CHECK(u == NULL && refused == NOT_AUTHORIZED, "an anonymous client "
	    "cannot connect (CONNACK %d)", refused);
	user_close(u);
	u = user_connect(port, "cli", "guess", &refused);
	HBT_CHECK(u == NULL && refused > 0, "nor one with a wrong password "
	    "(CONNACK %d)", refused);
	user_close(u);
}

/* What ingest reads comes from the devices' users, and Home Assistant's. */
static void
check_sources(struct user *ingest)
{
	static const char *const sources[][2] = {
		{ "zigbee2mqtt", "zigbee2mqtt/kitchen" },
		{ "tasmota", "tele/plug/SENSOR" },
		{ "shelly", "shellies/plug/relay/0/power" },
		{ "statestream", "homeassistant_statestream/sensor/outside/state" },
		{ "homeassistant", "homeassistant_statestream/sensor/inside/state" },
	};

	for (size_t i = 0; i < HB_ARRAY_LEN(sources); i++) {
		struct user *dev = as(sources[i][0]);

		HBT_CHECK(user_publish(dev, sources[i][1], "21.5", 1, false) == 0,
		    "%s publishes %s", sources[i][0], sources[i][1]);
		HBT_CHECK(HBT_WAIT(received(ingest, sources[i][1], "21.5") == 1, 10000),
		    "ingest reads %s from %s", sources[i][1], sources[i][0]);
	}
}

/* A device cannot notify, announce a service or write points. */
static void
check_device_limits(struct user *cli, struct user *notifier)
{
	struct user *z2m = as("zigbee2mqtt");

	/* QoS 0: the publisher is told nothing; the subscriber gets nothing */
	HBT_CHECK(user_publish(z2m, "homebus/notify/critical", "{\"text\":\"q0\"}", 0,
	    false) == 0, "a QoS 0 publish looks sent");
	expect_delivery(z2m, "homebus/notify/critical", "{\"text\":\"pwned\"}", false,
	    notifier, cli, "homebus/notify/info");
	HBT_CHECK(received(notifier, "homebus/notify/#", "q0") == 0,
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
check_deploy(struct user *deployer, struct user *cli, struct user *writer)
{
	static const char *const may[] = { "cli", "homeassistant", "notifier" };
	static const char *const may_not[] = { "ingest", "zigbee2mqtt", "health",
	    "writer" };
	char payload[80];

	for (size_t i = 0; i < HB_ARRAY_LEN(may_not); i++) {
		struct user *u = as(may_not[i]);

		snprintf(payload, sizeof(payload), "{\"id\":\"from-%s\"}", may_not[i]);
		expect_delivery(u, "homebus/deploy/command", payload, false, deployer,
		    cli, "homebus/deploy/command");
	}
	for (size_t i = 0; i < HB_ARRAY_LEN(may); i++) {
		struct user *u = as(may[i]);

		snprintf(payload, sizeof(payload), "{\"id\":\"from-%s\"}", may[i]);
		expect_delivery(u, "homebus/deploy/command", payload, true, deployer,
		    cli, "homebus/deploy/command");
	}
	HBT_CHECK(received(cli, "homebus/deploy/command", NULL) == 0,
	    "the cli, reading homebus/#, does not receive the deploy commands");

	/* the state: the deployer's alone, read by every homebus user */
	for (size_t i = 0; i < HB_ARRAY_LEN(may); i++) {
		struct user *u = as(may[i]);

		expect_delivery(u, "homebus/deploy/state", "{\"phase\":\"forged\"}",
		    false, cli, deployer, "homebus/notify/info");
	}
	HBT_CHECK(user_publish(deployer, "homebus/deploy/state",
	    "{\"phase\":\"done\"}", 1, true) == 0, "the deployer publishes its state");
	HBT_CHECK(HBT_WAIT(received(cli, "homebus/deploy/state", "done") == 1 &&
	    received(writer, "homebus/deploy/state", "done") == 1, 10000),
	    "the cli and the writer read it");

	/* the deployer's other topics */
	HBT_CHECK(user_publish(cli, "homebus/cli/test-cli/sync", "1", 1, false) == 0 &&
	    HBT_WAIT(received(cli, "homebus/cli/test-cli/sync", "1") == 1, 10000),
	    "the cli has its own topics (the sync of `homebus status`)");
	HBT_CHECK(user_publish(cli, "homebus/deploy/available", "{\"tag\":\"2.0\"}", 1,
	    true) == 0, "the cli sets deploy/available (retained)");
	HBT_CHECK(HBT_WAIT(received(deployer, "homebus/deploy/available", "2.0") == 1,
	    10000), "the deployer reads it");
	{
		struct user *ha = as("homeassistant");

		HBT_CHECK(user_publish(ha, "homebus/deploy/install", "install", 1,
		    false) == 0, "Home Assistant's Install button");
		HBT_CHECK(HBT_WAIT(received(deployer, "homebus/deploy/install",
		    "install") == 1, 10000), "reaches the deployer");
		HBT_CHECK(user_subscribe(ha, "homebus/deploy/update/#") == 1,
		    "Home Assistant follows the update entity's state");
		HBT_CHECK(user_publish(deployer, "homebus/deploy/update/hub",
		    "{\"installed_version\":\"1.0\"}", 1, true) == 0 &&
		    HBT_WAIT(received(ha, "homebus/deploy/update/hub",
		    "installed_version") == 1, 10000), "the deployer publishes the "
		    "entity's state and Home Assistant reads it");
	}
	HBT_CHECK(user_publish(deployer, "homebus/health/check", "{}", 1, false) == 0 &&
	    user_publish(deployer, "homebus/notify/info", "{\"text\":\"d\"}", 1,
	    false) == 0 &&
	    user_publish(deployer, "homebus/points/homebus_deploy", "d v=1", 1,
	    false) == 0 &&
	    user_publish(deployer, "homeassistant/update/homebus_hub/deploy/config",
	    "{}", 1, false) == 0 &&
	    user_publish(deployer, "homebus/svc/deployer/hub/status", "online", 1,
	    false) == 0, "the deployer may ask for checks, notify, write its "
	    "points, announce its update entity and itself");
	HBT_CHECK(user_publish(deployer, "homebus/points/other", "o v=1", 1, false) ==
	    NOT_AUTHORIZED, "but no other points");
}

/* The health watcher, logged in as health, with its own password file. */
static void
start_health(struct hbt_service *s, int port, int http_port)
{
	struct hb_buf cfg = { 0 };
	char pwfile[600];

	snprintf(pwfile, sizeof(pwfile), "%s/health.pw", hbt_dir());
	hbt_write_file(pwfile, "pw-health\n");
	hb_buf_printf(&cfg,
	    "{\"data_dir\": \"%s/health\",\n"
	    " \"log\": {\"format\": \"text\"},\n"
	    " \"bus\": {\"port\": %d, \"client_id\": \"health-hub\", \"instance\": "
	    "\"hub\", \"username\": \"health\", \"password_file\": \"%s\",\n"
	    "         \"reconnect_min_ms\": 100, \"reconnect_max_ms\": 1000,\n"
	    "         \"heartbeat_s\": 1},\n"
	    " \"health\": {\"http_port\": %d, \"interval_s\": 1, "
	    "\"heartbeat_timeout_s\": 600}}\n", hbt_dir(), port, pwfile,
	    http_port);
	HBT_REQUIRE(hbt_service_start(s, "health", "health", cfg.data, http_port) == 0,
	    "health");
	hb_buf_free(&cfg);
}

/*
 * The watcher works under the ACL (its probe, its states, its discovery),
 * and 300 services announced by a user allowed to make 200 targets.
 */
static void
check_health(int port, struct user *cli)
{
	struct hbt_service health;
	struct user *ingest = as("ingest"), *ha = as("homeassistant");
	int hport = hbt_free_port();
	char topic[128];
	size_t all_before, all_burst;

	HBT_REQUIRE(user_subscribe(ha, "homeassistant/binary_sensor/#") == 1,
	    "Home Assistant reads discovery");
	start_health(&health, port, hport);
	HBT_CHECK(HBT_WAIT(received(cli, "homebus/health/broker", "\"state\":\"ok\"") > 0,
	    20000), "the watcher's probe goes round and its state is published");
	HBT_CHECK(HBT_WAIT(received(ha, "homeassistant/binary_sensor/+/health/config",
	    "homebus_hub_broker") > 0, 10000), "and its discovery config");

	all_before = received(cli, "homebus/health/_all", NULL);
	for (int i = 0; i < 300; i++) {
		snprintf(topic, sizeof(topic), "homebus/svc/ingest/fake%03d/status", i);
		HBT_REQUIRE(user_publish(ingest, topic, "online", 1, true) == 0,
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
	all_burst = received(cli, "homebus/health/_all", NULL) - all_before;
	hbt_log("homebus/health/_all published %zu times for the 300", all_burst);
	HBT_CHECK(all_burst >= 1 && all_burst <= 20, "homebus/health/_all, at most "
	    "once a second, not once per service: %zu times for 300 announced",
	    all_burst);
	HBT_CHECK(received(ha, "homeassistant/binary_sensor/+/health/config",
	    "\"ingest@fake000\"") == 1 &&
	    received(ha, "homeassistant/binary_sensor/+/health/config",
	    "\"ingest@fake250\"") == 0, "an entity for the first, none past the cap");
	HBT_CHECK(hbt_proc_alive(&health.proc), "the watcher runs on");
	HBT_CHECK(hbt_proc_stop(&health.proc, SIGTERM, 10000) == 0, "clean exit");
}

int
main(void)
{
	struct hbt_proc broker;
	struct user *cli, *deployer, *notifier, *ingest, *writer;
	char dir[600];
	int port;

	hbt_init("acl");
	snprintf(dir, sizeof(dir), "%s/mosquitto", hbt_dir());
	port = broker_port = hbt_free_port();
	start_broker(&broker, dir, port);
	check_logins(port);

	cli = as("cli");
	deployer = as("deployer");
	notifier = as("notifier");
	ingest = as("ingest");
	writer = as("writer");
	HBT_REQUIRE(user_subscribe(cli, "homebus/#") == 1, "the cli tails homebus/#");
	HBT_REQUIRE(user_subscribe(deployer, "homebus/deploy/#") == 1 &&
	    user_subscribe(notifier, "homebus/notify/#") == 1 &&
	    user_subscribe(writer, "homebus/deploy/state") == 1,
	    "the services subscribe");
	HBT_REQUIRE(user_subscribe(ingest, "zigbee2mqtt/#") == 1 &&
	    user_subscribe(ingest, "tele/#") == 1 &&
	    user_subscribe(ingest, "shellies/#") == 1 &&
	    user_subscribe(ingest, "homeassistant_statestream/#") == 1,
	    "ingest subscribes to its sources");

	check_sources(ingest);
	check_device_limits(cli, notifier);
	check_deploy(deployer, cli, writer);
	check_health(port, cli);

	for (size_t i = 0; logged_in[i]; i++)
		user_close(logged_in[i]);
	hbt_exit();
}
