/*
 * hbt_acl: the shipped broker and clients logged in as its users (see
 * hbt_acl.h).
 */
#include "hbt_acl.h"
#include "hb_topic.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

const char *const hbt_acl_users[] = { "writer", "ingest", "health", "notifier",
	"deployer", "cli", "homeassistant", "zigbee2mqtt", "tasmota", "shelly",
	"statestream", NULL };

/* ---------------- the broker as shipped ---------------- */

/* deploy/mosquitto-acl INSTANCE into path. */
static void
write_acl(const char *path, const char *instance)
{
	char script[600];
	char *argv[] = { "/bin/bash", script, (char *)instance, NULL };
	struct hb_buf out = { 0 };

	snprintf(script, sizeof(script), "%s/deploy/mosquitto-acl", HBT_SOURCE_DIR);
	HBT_REQUIRE(hbt_run(argv, &out, 10000) == 0 && out.data != NULL,
	    "deploy/mosquitto-acl %s: %s", instance, out.data ? out.data : "");
	hbt_write_file(path, out.data);
	hb_buf_free(&out);
}

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
			hb_buf_printf(&out, "acl_file %s/homebus.acl\n", dir);
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

void
hbt_acl_broker_start(struct hbt_proc *p, const char *dir, int port,
    const char *instance)
{
	char passwd[600], conf[600], acl[600], pw[64];
	char *argv[] = { "/usr/sbin/mosquitto", "-c", conf, NULL };
	struct hb_buf out = { 0 };

	hb_mkdirs(dir);
	snprintf(passwd, sizeof(passwd), "%s/passwd", dir);
	for (size_t i = 0; hbt_acl_users[i]; i++) {
		char *create[] = { "/usr/bin/mosquitto_passwd", "-c", "-b", passwd,
		    (char *)hbt_acl_users[i], pw, NULL };
		char *add[] = { "/usr/bin/mosquitto_passwd", "-b", passwd,
		    (char *)hbt_acl_users[i], pw, NULL };

		snprintf(pw, sizeof(pw), "pw-%s", hbt_acl_users[i]);
		/* the first makes the file, the others are added to it */
		HBT_REQUIRE(hbt_run(i == 0 ? create : add, &out, 10000) == 0,
		    "mosquitto_passwd %s: %s", hbt_acl_users[i],
		    out.data ? out.data : "");
	}
	snprintf(acl, sizeof(acl), "%s/homebus.acl", dir);
	write_acl(acl, instance);
	snprintf(conf, sizeof(conf), "%s/mosquitto.conf", dir);
	write_conf(conf, dir, port);
	HBT_REQUIRE(hbt_proc_start(p, "mosquitto", argv) == 0, "mosquitto");
	/* (its log goes to stdout, which is not flushed line by line) */
	HBT_REQUIRE(HBT_WAIT(hbt_port_open(port) || !hbt_proc_alive(p), 10000) &&
	    hbt_proc_alive(p), "mosquitto runs with the shipped configuration");
	hb_buf_free(&out);
}

void
hbt_acl_service_start(struct hbt_service *s, const char *service, int port,
    int http_port, const char *section)
{
	hbt_acl_service_start_bus(s, service, port, http_port, NULL, section);
}

void
hbt_acl_service_start_bus(struct hbt_service *s, const char *service, int port,
    int http_port, const char *bus_extra, const char *section)
{
	struct hb_buf cfg = { 0 };
	char pwfile[600], pw[64];

	snprintf(pwfile, sizeof(pwfile), "%s/%s.pw", hbt_dir(), service);
	snprintf(pw, sizeof(pw), "pw-%s\n", service);
	hbt_write_file(pwfile, pw);
	hb_buf_printf(&cfg,
	    "{\"data_dir\": \"%s/%s\",\n"
	    " \"log\": {\"format\": \"text\"},\n"
	    " \"bus\": {\"port\": %d, \"instance\": \"hub\", \"username\": \"%s\",\n"
	    "         \"password_file\": \"%s\", \"reconnect_min_ms\": 100,\n"
	    "         \"reconnect_max_ms\": 1000, \"heartbeat_s\": 1%s%s},\n"
	    " \"%s\": {\"http_port\": %d%s%s}}\n", hbt_dir(), service, port,
	    service, pwfile, bus_extra ? ", " : "", bus_extra ? bus_extra : "",
	    service, http_port, section ? ", " : "", section ? section : "");
	HBT_REQUIRE(hbt_service_start(s, service, service, cfg.data,
	    http_port) == 0, "%s starts", service);
	hb_buf_free(&cfg);
}

/* ---------------- a client logged in as a user ---------------- */

static int
on_message(void *ctx, char *topic, int tlen, MQTTAsync_message *pm)
{
	struct hbt_user *u = ctx;

	pthread_mutex_lock(&u->lock);
	hbt_msgs_add(&u->msgs, &u->nmsgs, &u->cap, topic, tlen > 0 ? (size_t)tlen :
	    strlen(topic), pm->payload, (size_t)pm->payloadlen, pm->retained != 0);
	pthread_mutex_unlock(&u->lock);
	MQTTAsync_freeMessage(&pm);
	MQTTAsync_free(topic);
	return 1;
}

static void
finish(struct hbt_user *u, int rc)
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
connected5(void *ctx, MQTTAsync_successData5 *r)
{
	struct hbt_user *u = ctx;

	pthread_mutex_lock(&u->lock);
	u->session_present = r && r->alt.connect.sessionPresent;
	pthread_mutex_unlock(&u->lock);
	ok5(ctx, r);
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
wait_done(struct hbt_user *u)
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

void
hbt_user_close(struct hbt_user *u)
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

struct hbt_user *
hbt_user_connect(int port, const char *name, const char *password,
    const char *client_id, int session_expiry_s, int *refused)
{
	MQTTAsync_createOptions cro = MQTTAsync_createOptions_initializer;
	MQTTAsync_connectOptions co = MQTTAsync_connectOptions_initializer5;
	MQTTProperties props = MQTTProperties_initializer;
	MQTTProperty expiry = { .identifier = MQTTPROPERTY_CODE_SESSION_EXPIRY_INTERVAL };
	struct hbt_user *u = hb_xcalloc(1, sizeof(*u));
	pthread_condattr_t ca;
	char uri[64], pw[64];
	int rc;

	snprintf(u->name, sizeof(u->name), "%s", name ? name : "(anonymous)");
	snprintf(uri, sizeof(uri), "tcp://127.0.0.1:%d", port);
	if (client_id)
		snprintf(u->client_id, sizeof(u->client_id), "%s", client_id);
	else
		snprintf(u->client_id, sizeof(u->client_id), "test-%s-%d",
		    name ? name : "anon", rand());
	snprintf(pw, sizeof(pw), "pw-%s", name ? name : "");
	pthread_mutex_init(&u->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&u->cond, &ca);
	pthread_condattr_destroy(&ca);
	cro.MQTTVersion = MQTTVERSION_5;
	if (MQTTAsync_createWithOptions(&u->client, uri, u->client_id,
	    MQTTCLIENT_PERSISTENCE_NONE, NULL, &cro) != MQTTASYNC_SUCCESS) {
		*refused = -1;
		u->client = NULL;
		hbt_user_close(u);
		return NULL;
	}
	MQTTAsync_setCallbacks(u->client, u, NULL, on_message, NULL);
	co.cleanstart = session_expiry_s <= 0;
	if (session_expiry_s > 0) {
		expiry.value.integer4 = (unsigned int)session_expiry_s;
		MQTTProperties_add(&props, &expiry);
		co.connectProperties = &props;
	}
	co.keepAliveInterval = 30;
	co.username = name;
	co.password = name ? (password ? password : pw) : NULL;
	co.onSuccess5 = connected5;
	co.onFailure5 = fail5;
	co.context = u;
	rc = MQTTAsync_connect(u->client, &co) == MQTTASYNC_SUCCESS ?
	    wait_done(u) : -1;
	MQTTProperties_free(&props);
	if (rc != 0) {
		*refused = rc;
		hbt_user_close(u);
		return NULL;
	}
	return u;
}

int
hbt_user_subscribe(struct hbt_user *u, const char *filter)
{
	MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;

	ro.onSuccess5 = ok5;
	ro.onFailure5 = fail5;
	ro.context = u;
	if (MQTTAsync_subscribe(u->client, filter, 1, &ro) != MQTTASYNC_SUCCESS)
		return -1;
	return wait_done(u);
}

int
hbt_user_publish(struct hbt_user *u, const char *topic, const char *payload,
    int qos, bool retained)
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

size_t
hbt_user_received(struct hbt_user *u, const char *filter, const char *has)
{
	size_t n;

	pthread_mutex_lock(&u->lock);
	n = hbt_msgs_count(u->msgs, u->nmsgs, filter, has);
	pthread_mutex_unlock(&u->lock);
	return n;
}

char *
hbt_user_last(struct hbt_user *u, const char *topic)
{
	char *last = NULL;

	pthread_mutex_lock(&u->lock);
	for (size_t i = u->nmsgs; i-- > 0 && last == NULL;)
		if (strcmp(u->msgs[i].topic, topic) == 0)
			last = hb_xstrdup(u->msgs[i].payload);
	pthread_mutex_unlock(&u->lock);
	return last;
}

bool
hbt_user_saw(struct hbt_user *u, const char *s)
{
	bool saw = false;

	pthread_mutex_lock(&u->lock);
	for (size_t i = 0; i < u->nmsgs && !saw; i++)
		saw = strstr(u->msgs[i].topic, s) != NULL ||
		    strstr(u->msgs[i].payload, s) != NULL;
	pthread_mutex_unlock(&u->lock);
	return saw;
}

/* ---------------- points through the broker to the writer ---------------- */

void
hbt_acl_publish_points(struct hbt_user *u, const char *measurement,
    const char *gen, long first, long n, int per_s, int64_t *next_ns)
{
	int64_t start = hb_mono_ms();
	char topic[160], line[200];

	snprintf(topic, sizeof(topic), "homebus/points/%s", measurement);
	for (long i = first; i < first + n; i++) {
		if (per_s > 0 && (i - first) % 50 == 0) {
			int64_t due = start + (i - first) * 1000 / per_s;

			if (due > hb_mono_ms())
				hbt_sleep_ms(due - hb_mono_ms());
		}
		snprintf(line, sizeof(line), "%s,gen=%s seq=%ldi %lld", measurement,
		    gen, i, (long long)(*next_ns)++);
		HBT_REQUIRE(hbt_user_publish(u, topic, line, 1, false) == 0,
		    "the broker takes point %ld", i);
	}
}

long long
hbt_acl_points_landed(struct hbt_influx *influx, const char *measurement,
    const char *gen)
{
	char q[200];

	snprintf(q, sizeof(q), "SELECT count(seq) FROM %s WHERE gen='%s'",
	    measurement, gen);
	return hbt_influx_number(influx, "homebus", q);
}
