/*
 * hb_bus: paho MQTTAsync handed over to the libevent loop.
 *
 * Threads: paho calls messageArrived with its own client mutex held, and our
 * callback may wait there for room in the mailbox (back-pressure). So the
 * loop thread never calls paho itself: publishes, subscriptions, connects
 * and disconnects go through an outbox to one bus worker thread, the only
 * caller of paho after creation. paho's callbacks only touch the mailbox.
 * Everything else in this file runs on the loop thread.
 */
#include "hb_bus.h"
#include "hb_log.h"
#include "hb_topic.h"
#include "hb_util.h"

#include <MQTTAsync.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/queue.h>
#include <time.h>
#include <unistd.h>

/*
 * On shutdown, how long messages that keep arriving are still taken (and
 * what the service publishes for them still sent) before the bus stops
 * taking them and disconnects.
 */
#define DRAIN_MS 2000

/* Kept QoS 1 publishes in flight, in bytes of payload (see inflight_bytes). */
#define INFLIGHT_BYTES_MAX (2u << 20)

enum mail_kind {
	MAIL_MESSAGE,
	MAIL_CONNECTED,
	MAIL_CONNECT_FAILED,
	MAIL_LOST,
	MAIL_DISCONNECTED,
	MAIL_SUB_RESULT,
	MAIL_PUB_FAILED,
	MAIL_PUB_REFUSED,	/* paho's buffer was full */
	MAIL_PUB_UNROUTED,	/* acknowledged, but no subscriber took it */
};

/* A message matching several subscriptions may name each of them. */
#define MAIL_SUB_IDS 4

struct mail {
	TAILQ_ENTRY(mail) entry;
	enum mail_kind kind;
	void *ptr;	/* MAIL_PUB_UNROUTED: the struct cmd to publish again */
	int sub_ids[MAIL_SUB_IDS];	/* MQTT v5 subscription identifiers */
	int nsub_ids;
	int qos;
	int retained;
	int code;
	size_t len;
	char *topic;
	char *payload;
	char text[];	/* topic NUL payload NUL, or a reason */
};

TAILQ_HEAD(mail_list, mail);

/* Work for the bus worker thread. */
enum cmd_kind {
	CMD_PUBLISH,
	CMD_SUBSCRIBE,
	CMD_CONNECT,
	CMD_DISCONNECT,
};

struct cmd {
	TAILQ_ENTRY(cmd) entry;
	enum cmd_kind kind;
	struct hb_bus *bus;
	int64_t first_ms;	/* first attempt, for unrouted retries */
	int sub_id;		/* CMD_SUBSCRIBE: the subscription identifier */
	int qos;
	int retain;
	size_t len;
	char *topic;
	char *payload;
	char data[];	/* topic NUL payload */
};

TAILQ_HEAD(cmd_list, cmd);

enum bus_state {
	ST_CONNECTING,
	ST_CONNECTED,
	ST_WAITING,	/* for the reconnect timer */
	ST_SHUTTING,
	ST_CLOSED,
};

/*
 * A subscription: its filter, and who takes what arrives on it. Its
 * identifier (MQTT v5) is its index + 1; the broker names it in every
 * message it sends for this subscription, so that overlapping filters
 * still reach the right callback.
 */
struct sub {
	char *filter;
	int qos;
	hb_bus_message_fn fn;
	void *arg;
};

struct hb_bus {
	struct event_base *base;
	struct hb_bus_config cfg;
	struct hb_bus_opts opts;
	MQTTAsync client;
	char uri[300];
	char status_topic[HB_TOPIC_MAX];
	char heartbeat_topic[HB_TOPIC_MAX];

	/* mailbox: shared with paho threads */
	pthread_mutex_t lock;
	pthread_cond_t room;
	struct mail_list mail;
	size_t mail_bytes;
	bool closing;
	bool wake_pending;	/* the loop was woken and has not drained yet */
	bool held;		/* hb_bus_hold(): messages wait without a wake-up */
	int efd;
	struct event *ev_mail;
	struct event *ev_drain;	/* the coalescing delay */
	struct event *ev_hold;	/* the end of a hold */

	/* outbox: loop thread -> bus worker thread */
	pthread_t worker;
	bool worker_running;
	pthread_mutex_t out_lock;
	pthread_cond_t out_cond;
	struct cmd_list out;
	size_t out_count;
	atomic_bool out_stop;	/* read by the worker under fly_lock too */

	/*
	 * QoS 1 publishes not yet acknowledged. paho 1.3.12's send thread, once
	 * the broker's receive maximum is reached, sleeps up to a second unless
	 * another publish wakes it (fixed upstream after 1.3.12); the worker
	 * keeps under the limit so that paho never gets there.
	 */
	pthread_mutex_t fly_lock;
	pthread_cond_t fly_cond;
	int inflight;
	int server_receive_max;	/* from CONNACK; 65535 when absent */
	/*
	 * Bytes of the kept publishes (retry_unrouted_s) in flight: packed
	 * points make few but large messages, and each is held twice (paho's
	 * copy and ours) until acknowledged. Bounded so that a slow broker
	 * costs a bounded amount of memory, not receive-maximum times 50 KB.
	 */
	size_t inflight_bytes;
	/* kept publishes paho holds, freed here if its callbacks never come */
	struct cmd_list flying;

	/* loop thread only */
	enum bus_state state;
	struct hb_backoff backoff;
	struct hb_ratelimit connect_log;
	struct event *ev_reconnect;
	struct event *ev_heartbeat;
	struct event *ev_done;
	struct event *ev_quiesce;	/* shutdown: waits for the bus to go quiet */
	int64_t drain_deadline_ms;
	bool disconnect_sent;
	int64_t disconnect_ms;
	/* set by the loop past the drain deadline; read by paho's receive thread */
	atomic_bool input_closed;
	atomic_long dropped_at_close;	/* messages that arrived while closing */
	struct sub *subs;
	size_t nsubs;
	struct cmd_list retry;		/* unrouted publishes waiting to go again */
	size_t nretry;
	struct event *ev_retry;
	struct hb_ratelimit unrouted_log;
	hb_bus_done_fn done;
	void *done_arg;
	int64_t started_ms;
	unsigned long long refused;
	unsigned long long connects;

	struct hb_counter *m_received;
	struct hb_counter *m_published;
	struct hb_counter *m_refused;
	struct hb_counter *m_connects;
	struct hb_gauge *m_connected;
	struct hb_counter *m_retried;
	struct hb_counter *m_unrouted_dropped;
};

/* ---------------- configuration ---------------- */

void
hb_bus_config_read(struct hb_bus_config *bc, struct hb_config *cfg,
    const char *service, const char *hostname)
{
	char def[160];
	const char *s;

	memset(bc, 0, sizeof(*bc));
	snprintf(bc->host, sizeof(bc->host), "%s",
	    hb_cfg_str(cfg, "bus.host", "127.0.0.1"));
	bc->tls = hb_cfg_bool(cfg, "bus.tls", false);
	bc->port = (int)hb_cfg_int(cfg, "bus.port", bc->tls ? 8883 : 1883, 1, 65535);
	s = hb_cfg_str(cfg, "bus.ca_file", NULL);
	bc->ca_file = s ? hb_xstrdup(s) : NULL;
	s = hb_cfg_str(cfg, "bus.username", NULL);
	bc->username = s ? hb_xstrdup(s) : NULL;
	bc->password = hb_cfg_secret(cfg, "bus.password", "HOMEBUS_BUS_PASSWORD");
	s = hb_cfg_str(cfg, "bus.prefix", "homebus");
	if (!hb_topic_level_ok(s) || strlen(s) >= sizeof(bc->prefix))
		hb_cfg_error(cfg, "bus.prefix", "\"%s\" must be one topic level "
		    "(no '/', '+', '#'), at most 63 characters", s);
	snprintf(bc->prefix, sizeof(bc->prefix), "%s", s);
	snprintf(def, sizeof(def), "homebus-%s-%s", service, hostname);
	s = hb_cfg_str(cfg, "bus.client_id", def);
	if (*s == '\0' || strlen(s) >= sizeof(bc->client_id))
		hb_cfg_error(cfg, "bus.client_id", "must be 1 to 127 characters");
	snprintf(bc->client_id, sizeof(bc->client_id), "%s", s);
	s = hb_cfg_str(cfg, "bus.instance", hostname);
	if (!hb_topic_level_ok(s) || strlen(s) >= sizeof(bc->instance))
		hb_cfg_error(cfg, "bus.instance", "\"%s\" must be one topic level "
		    "(no '/', '+', '#'), at most 63 characters", s);
	snprintf(bc->instance, sizeof(bc->instance), "%s", s);
	bc->keepalive_s = (int)hb_cfg_int(cfg, "bus.keepalive_s", 30, 5, 3600);
	bc->heartbeat_s = (int)hb_cfg_int(cfg, "bus.heartbeat_s", 30, 1, 3600);
	bc->session_expiry_s = (int)hb_cfg_int(cfg, "bus.session_expiry_s",
	    7 * 86400, 60, 0xfffffffeLL);
	bc->queue_max = (int)hb_cfg_int(cfg, "bus.queue_max", 100000, 0, 10000000);
	bc->reconnect_min_ms = (int)hb_cfg_int(cfg, "bus.reconnect_min_ms", 250,
	    10, 600000);
	bc->reconnect_max_ms = (int)hb_cfg_int(cfg, "bus.reconnect_max_ms", 15000,
	    10, 3600000);
	bc->mailbox_max_bytes = (size_t)hb_cfg_int(cfg, "bus.mailbox_max_kb",
	    1024, 64, 1048576) * 1024;
	bc->coalesce_us = (int)hb_cfg_int(cfg, "bus.coalesce_us", -1, -1, 100000);
}

void
hb_bus_config_free(struct hb_bus_config *bc)
{
	free(bc->ca_file);
	free(bc->username);
	if (bc->password) {
		explicit_bzero(bc->password, strlen(bc->password));
		free(bc->password);
	}
	bc->ca_file = bc->username = bc->password = NULL;
}

/* ---------------- mailbox (any thread) ---------------- */

static struct mail *
mail_new(enum mail_kind kind, const char *a, size_t alen, const char *b,
    size_t blen)
{
	struct mail *m = hb_xmalloc(sizeof(*m) + alen + blen + 2);

	memset(m, 0, sizeof(*m));
	m->kind = kind;
	m->topic = m->text;
	memcpy(m->text, a, alen);
	m->text[alen] = '\0';
	m->payload = m->text + alen + 1;
	if (blen)
		memcpy(m->payload, b, blen);
	m->payload[blen] = '\0';
	m->len = blen;
	return m;
}

static void
post(struct hb_bus *bus, struct mail *m, bool wait_for_room)
{
	uint64_t one = 1;
	bool wake;

	pthread_mutex_lock(&bus->lock);
	/* Back-pressure: a slow loop makes paho's receive thread wait, which
	 * stops reading the socket, which makes the broker hold the messages. */
	while (wait_for_room && !bus->closing && !atomic_load(&bus->input_closed) &&
	    bus->mail_bytes > bus->cfg.mailbox_max_bytes) {
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += 1;
		pthread_cond_timedwait(&bus->room, &bus->lock, &ts);
	}
	if (m->kind == MAIL_MESSAGE && atomic_load(&bus->input_closed)) {
		/*
		 * Closing: paho has acknowledged a QoS 1 message before handing
		 * it over (it sends PUBACK first), so neither QoS can be given
		 * back to the broker. What arrives in the last moments before
		 * the DISCONNECT is counted and reported, never silently lost.
		 * Decided under the lock that close_input() takes, so that no
		 * message slips in after the bus saw its mailbox empty.
		 */
		atomic_fetch_add(&bus->dropped_at_close, 1);
		pthread_mutex_unlock(&bus->lock);
		free(m);
		return;
	}
	TAILQ_INSERT_TAIL(&bus->mail, m, entry);
	bus->mail_bytes += m->len + sizeof(*m);
	/* A hold ends early when the mailbox is half full, so that a hold
	 * never makes paho's thread wait for room. */
	if (bus->held && bus->mail_bytes > bus->cfg.mailbox_max_bytes / 2)
		bus->held = false;
	/* One wake-up per drain, not per message: under load the loop is
	 * woken about once per coalescing delay; while held, not at all. */
	wake = !bus->wake_pending && !bus->held;
	if (wake)
		bus->wake_pending = true;
	pthread_mutex_unlock(&bus->lock);
	/* A failed write means the counter is full: a wake-up is pending. */
	if (wake && write(bus->efd, &one, sizeof(one)) < 0)
		return;
}

static int
on_paho_message(void *ctx, char *topic, int topiclen, MQTTAsync_message *pm)
{
	struct hb_bus *bus = ctx;
	size_t tl = topiclen > 0 ? (size_t)topiclen : strlen(topic);
	struct mail *m = mail_new(MAIL_MESSAGE, topic, tl, pm->payload,
	    pm->payloadlen > 0 ? (size_t)pm->payloadlen : 0);

	m->qos = pm->qos;
	m->retained = pm->retained;
	m->nsub_ids = MQTTProperties_propertyCount(&pm->properties,
	    MQTTPROPERTY_CODE_SUBSCRIPTION_IDENTIFIER);
	if (m->nsub_ids > MAIL_SUB_IDS)
		m->nsub_ids = MAIL_SUB_IDS;
	for (int i = 0; i < m->nsub_ids; i++)
		m->sub_ids[i] = MQTTProperties_getNumericValueAt(&pm->properties,
		    MQTTPROPERTY_CODE_SUBSCRIPTION_IDENTIFIER, i);
	MQTTAsync_freeMessage(&pm);
	MQTTAsync_free(topic);
	post(bus, m, true);
	return 1;
}

static void
on_paho_lost(void *ctx, char *cause)
{
	struct hb_bus *bus = ctx;
	const char *why = cause ? cause : "connection lost";

	post(bus, mail_new(MAIL_LOST, why, strlen(why), NULL, 0), false);
	if (cause)
		MQTTAsync_free(cause);
}

static void
on_paho_disconnected(void *ctx, MQTTProperties *props, enum MQTTReasonCodes rc)
{
	struct hb_bus *bus = ctx;
	const char *why = MQTTReasonCode_toString(rc);
	struct mail *m;

	(void)props;
	m = mail_new(MAIL_LOST, why ? why : "disconnected by the broker",
	    strlen(why ? why : "disconnected by the broker"), NULL, 0);
	m->code = (int)rc;
	post(bus, m, false);
}

static void
on_connect_ok(void *ctx, MQTTAsync_successData5 *resp)
{
	struct hb_bus *bus = ctx;
	struct mail *m = mail_new(MAIL_CONNECTED, "", 0, NULL, 0);
	int rmax = 65535;

	if (resp && MQTTProperties_hasProperty(&resp->properties,
	    MQTTPROPERTY_CODE_RECEIVE_MAXIMUM))
		rmax = MQTTProperties_getNumericValue(&resp->properties,
		    MQTTPROPERTY_CODE_RECEIVE_MAXIMUM);
	pthread_mutex_lock(&bus->fly_lock);
	bus->server_receive_max = rmax > 0 ? rmax : 65535;
	/* what was in flight before a reconnect is re-sent or gone */
	bus->inflight = 0;
	bus->inflight_bytes = 0;
	pthread_cond_broadcast(&bus->fly_cond);
	pthread_mutex_unlock(&bus->fly_lock);

	m->code = resp ? resp->alt.connect.sessionPresent : 0;
	post(bus, m, false);
}

static void
on_connect_fail(void *ctx, MQTTAsync_failureData5 *resp)
{
	struct hb_bus *bus = ctx;
	const char *why = resp && resp->message ? resp->message :
	    (resp && resp->reasonCode ? MQTTReasonCode_toString(resp->reasonCode) :
	    "cannot connect");
	struct mail *m = mail_new(MAIL_CONNECT_FAILED, why, strlen(why), NULL, 0);

	m->code = resp ? (resp->reasonCode ? (int)resp->reasonCode : resp->code) : -1;
	post(bus, m, false);
}

static void
on_disconnect_done(void *ctx, MQTTAsync_successData5 *resp)
{
	(void)resp;

	post(ctx, mail_new(MAIL_DISCONNECTED, "", 0, NULL, 0), false);
}

static void
on_disconnect_fail(void *ctx, MQTTAsync_failureData5 *resp)
{
	(void)resp;
	post(ctx, mail_new(MAIL_DISCONNECTED, "", 0, NULL, 0), false);
}

/* Subscription results carry the filter in the mail so it can be logged. */
struct sub_ctx {
	struct hb_bus *bus;
	char filter[];
};

static void
on_sub_ok(void *ctx, MQTTAsync_successData5 *resp)
{
	struct sub_ctx *sc = ctx;
	struct mail *m = mail_new(MAIL_SUB_RESULT, sc->filter, strlen(sc->filter),
	    NULL, 0);

	m->code = resp ? (int)resp->reasonCode : 0;
	post(sc->bus, m, false);
	free(sc);
}

static void
on_sub_fail(void *ctx, MQTTAsync_failureData5 *resp)
{
	struct sub_ctx *sc = ctx;
	struct mail *m = mail_new(MAIL_SUB_RESULT, sc->filter, strlen(sc->filter),
	    NULL, 0);

	m->code = resp && resp->reasonCode ? (int)resp->reasonCode : 0x80;
	post(sc->bus, m, false);
	free(sc);
}

static void
landed(struct hb_bus *bus, size_t bytes)
{
	pthread_mutex_lock(&bus->fly_lock);
	if (bus->inflight > 0)
		bus->inflight--;
	bus->inflight_bytes -= bytes < bus->inflight_bytes ? bytes : bus->inflight_bytes;
	pthread_cond_signal(&bus->fly_cond);
	pthread_mutex_unlock(&bus->fly_lock);
}

static void
on_pub_ok(void *ctx, MQTTAsync_successData5 *resp)
{
	(void)resp;
	landed(ctx, 0);
}

/*
 * A QoS 1 publish of a service that asked for retries (opts.retry_unrouted_s)
 * carries its command as context: "no matching subscribers" (the broker
 * took it and dropped it, e.g. just after a restart, before the writers'
 * shared subscription is back) or a failure sends it back to the loop.
 */
/* A kept publish is no longer paho's (its callback came, or sending failed). */
static void
unfly(struct hb_bus *bus, struct cmd *c)
{
	pthread_mutex_lock(&bus->fly_lock);
	TAILQ_REMOVE(&bus->flying, c, entry);
	pthread_mutex_unlock(&bus->fly_lock);
}

static void
on_pub_ok_keep(void *ctx, MQTTAsync_successData5 *resp)
{
	struct cmd *c = ctx;
	struct hb_bus *bus = c->bus;
	struct mail *m;

	unfly(bus, c);
	landed(bus, c->len);
	if (resp == NULL || resp->reasonCode != MQTTREASONCODE_NO_MATCHING_SUBSCRIBERS) {
		free(c);
		return;
	}
	m = mail_new(MAIL_PUB_UNROUTED, "", 0, NULL, 0);
	m->ptr = c;
	post(bus, m, false);
}

static void
on_pub_fail_keep(void *ctx, MQTTAsync_failureData5 *resp)
{
	struct cmd *c = ctx;
	struct hb_bus *bus = c->bus;
	struct mail *m;

	(void)resp;
	unfly(bus, c);
	landed(bus, c->len);
	m = mail_new(MAIL_PUB_UNROUTED, "", 0, NULL, 0);
	m->ptr = c;
	post(bus, m, false);
}

static void
on_pub_fail(void *ctx, MQTTAsync_failureData5 *resp)
{
	struct hb_bus *bus = ctx;
	struct mail *m = mail_new(MAIL_PUB_FAILED, "", 0, NULL, 0);

	landed(bus, 0);

	m->code = resp ? resp->code : -1;
	post(bus, m, false);
}

/* ---------------- the bus worker thread ---------------- */

static void worker_connect(struct hb_bus *bus);

static struct cmd *
cmd_new(enum cmd_kind kind, const char *topic, const void *payload, size_t len)
{
	size_t tl = topic ? strlen(topic) : 0;
	struct cmd *c = hb_xmalloc(sizeof(*c) + tl + len + 2);

	memset(c, 0, sizeof(*c));
	c->kind = kind;
	c->topic = c->data;
	if (tl)
		memcpy(c->topic, topic, tl);
	c->topic[tl] = '\0';
	c->payload = c->data + tl + 1;
	if (len)
		memcpy(c->payload, payload, len);
	c->payload[len] = '\0';
	c->len = len;
	return c;
}

/* Loop thread: hands a command to the worker. Never waits on paho. */
static void
enqueue(struct hb_bus *bus, struct cmd *c)
{
	pthread_mutex_lock(&bus->out_lock);
	TAILQ_INSERT_TAIL(&bus->out, c, entry);
	bus->out_count++;
	pthread_cond_signal(&bus->out_cond);
	pthread_mutex_unlock(&bus->out_lock);
}

/* Returns true when paho's callbacks took ownership of c. */
static bool
worker_publish(struct hb_bus *bus, struct cmd *c)
{
	MQTTAsync_message msg = MQTTAsync_message_initializer;
	MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;
	size_t kept_bytes = 0;
	int rc;

	msg.payload = c->payload;
	msg.payloadlen = (int)c->len;
	msg.qos = c->qos;
	msg.retained = c->retain;
	if (c->qos > 0) {
		struct timespec until;

		ro.onSuccess5 = on_pub_ok;
		ro.onFailure5 = on_pub_fail;
		ro.context = bus;
		/* a retained message is stored by the broker: nobody need listen */
		if (bus->opts.retry_unrouted_s > 0 && !c->retain) {
			ro.onSuccess5 = on_pub_ok_keep;
			ro.onFailure5 = on_pub_fail_keep;
			ro.context = c;
			c->bus = bus;
		}
		/* stay under the broker's receive maximum (see fly_lock); never
		 * longer than 200 ms, in case an acknowledgement got lost */
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_nsec += 200000000;
		if (until.tv_nsec >= 1000000000) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000;
		}
		kept_bytes = ro.context == c ? c->len : 0;
		pthread_mutex_lock(&bus->fly_lock);
		while ((bus->inflight >= bus->server_receive_max -
		    bus->server_receive_max / 10 - 1 || (bus->inflight_bytes > 0 &&
		    bus->inflight_bytes + kept_bytes > INFLIGHT_BYTES_MAX)) &&
		    !bus->out_stop &&
		    pthread_cond_timedwait(&bus->fly_cond, &bus->fly_lock, &until) == 0)
			;
		bus->inflight++;
		bus->inflight_bytes += kept_bytes;
		if (ro.context == c)
			TAILQ_INSERT_TAIL(&bus->flying, c, entry);
		pthread_mutex_unlock(&bus->fly_lock);
	}
	rc = MQTTAsync_sendMessage(bus->client, c->topic, &msg, &ro);
	if (rc != MQTTASYNC_SUCCESS && ro.context == c)
		unfly(bus, c);
	if (rc != MQTTASYNC_SUCCESS && c->qos > 0)
		landed(bus, kept_bytes);
	if (rc == MQTTASYNC_SUCCESS && ro.context == c)
		return true;	/* the callbacks own it now */
	if (rc != MQTTASYNC_SUCCESS) {
		struct mail *m = mail_new(MAIL_PUB_REFUSED, c->topic, strlen(c->topic),
		    NULL, 0);

		m->code = rc;
		post(bus, m, false);
	}
	return false;
}

static void
worker_subscribe(struct hb_bus *bus, struct cmd *c)
{
	MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;
	MQTTProperty id = { .identifier = MQTTPROPERTY_CODE_SUBSCRIPTION_IDENTIFIER };
	size_t fl = strlen(c->topic);
	struct sub_ctx *sc = hb_xmalloc(sizeof(*sc) + fl + 1);
	int rc;

	sc->bus = bus;
	memcpy(sc->filter, c->topic, fl + 1);
	ro.onSuccess5 = on_sub_ok;
	ro.onFailure5 = on_sub_fail;
	ro.context = sc;
	id.value.integer4 = (unsigned int)c->sub_id;
	MQTTProperties_add(&ro.properties, &id);
	rc = MQTTAsync_subscribe(bus->client, c->topic, c->qos, &ro);
	MQTTProperties_free(&ro.properties);
	if (rc != MQTTASYNC_SUCCESS) {
		/* reported as refused; re-sent on the next connect */
		on_sub_fail(sc, NULL);
	}
}

static void
worker_disconnect(struct hb_bus *bus)
{
	MQTTAsync_disconnectOptions dopts = MQTTAsync_disconnectOptions_initializer5;

	/* sent when nothing is in flight (or given up): at once */
	dopts.timeout = 0;
	dopts.onSuccess5 = on_disconnect_done;
	dopts.onFailure5 = on_disconnect_fail;
	dopts.context = bus;
	if (MQTTAsync_disconnect(bus->client, &dopts) != MQTTASYNC_SUCCESS)
		post(bus, mail_new(MAIL_DISCONNECTED, "", 0, NULL, 0), false);
}

static void *
worker_main(void *arg)
{
	struct hb_bus *bus = arg;
	struct cmd_list batch;
	struct cmd *c;

	for (;;) {
		TAILQ_INIT(&batch);
		pthread_mutex_lock(&bus->out_lock);
		while (TAILQ_EMPTY(&bus->out) && !bus->out_stop)
			pthread_cond_wait(&bus->out_cond, &bus->out_lock);
		if (bus->out_stop) {
			pthread_mutex_unlock(&bus->out_lock);
			break;
		}
		TAILQ_CONCAT(&batch, &bus->out, entry);
		pthread_mutex_unlock(&bus->out_lock);
		while ((c = TAILQ_FIRST(&batch)) != NULL) {
			bool kept = false;

			TAILQ_REMOVE(&batch, c, entry);
			switch (c->kind) {
			case CMD_PUBLISH:
				kept = worker_publish(bus, c);
				break;
			case CMD_SUBSCRIBE:
				worker_subscribe(bus, c);
				break;
			case CMD_CONNECT:
				worker_connect(bus);
				break;
			case CMD_DISCONNECT:
				worker_disconnect(bus);
				break;
			}
			if (!kept)
				free(c);
			pthread_mutex_lock(&bus->out_lock);
			bus->out_count--;
			pthread_mutex_unlock(&bus->out_lock);
		}
	}
	return NULL;
}

/* ---------------- loop thread ---------------- */

static void start_connect(struct hb_bus *bus);

static void
schedule_reconnect(struct hb_bus *bus)
{
	int64_t ms = hb_backoff_next(&bus->backoff);
	struct timeval tv = { (time_t)(ms / 1000), (suseconds_t)((ms % 1000) * 1000) };

	bus->state = ST_WAITING;
	evtimer_add(bus->ev_reconnect, &tv);
}

static void
on_reconnect_timer(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	start_connect(arg);
}

static void
send_subscription(struct hb_bus *bus, size_t i)
{
	struct cmd *c = cmd_new(CMD_SUBSCRIBE, bus->subs[i].filter, NULL, 0);

	c->qos = bus->subs[i].qos;
	c->sub_id = (int)i + 1;
	enqueue(bus, c);
}

static void
publish_status(struct hb_bus *bus, const char *status)
{
	if (bus->opts.client)
		return;
	hb_bus_publish(bus, bus->status_topic, status, strlen(status), 1, true);
}

static void
send_heartbeat(struct hb_bus *bus)
{
	json_t *hb = json_object();

	json_object_set_new(hb, "service", json_string(bus->opts.service));
	json_object_set_new(hb, "instance", json_string(bus->cfg.instance));
	json_object_set_new(hb, "version", json_string(HB_VERSION));
	json_object_set_new(hb, "pid", json_integer(getpid()));
	json_object_set_new(hb, "uptime_s",
	    json_integer((hb_mono_ms() - bus->started_ms) / 1000));
	json_object_set_new(hb, "rss_kb", json_integer(hb_rss_kb()));
	json_object_set_new(hb, "cpu_s", json_real(hb_cpu_seconds()));
	json_object_set_new(hb, "interval_s", json_integer(bus->cfg.heartbeat_s));
	if (bus->opts.on_heartbeat)
		bus->opts.on_heartbeat(bus->opts.arg, hb);
	hb_bus_publish_json(bus, bus->heartbeat_topic, hb, 0, false);
	json_decref(hb);
}

static void
on_heartbeat_timer(evutil_socket_t fd, short what, void *arg)
{
	struct hb_bus *bus = arg;

	(void)fd;
	(void)what;
	if (bus->state == ST_CONNECTED)
		send_heartbeat(bus);
}

/* Sends the unrouted publishes again, in their order, while connected. */
static void
on_retry_timer(evutil_socket_t fd, short what, void *arg)
{
	struct hb_bus *bus = arg;
	struct cmd *c;

	(void)fd;
	(void)what;
	if (bus->state != ST_CONNECTED) {
		struct timeval tv = { 0, 500000 };

		if (!TAILQ_EMPTY(&bus->retry))
			evtimer_add(bus->ev_retry, &tv);
		return;
	}
	while ((c = TAILQ_FIRST(&bus->retry)) != NULL) {
		TAILQ_REMOVE(&bus->retry, c, entry);
		bus->nretry--;
		if (bus->m_retried)
			hb_counter_add(bus->m_retried, 1);
		enqueue(bus, c);
	}
}

static void
handle_connected(struct hb_bus *bus, bool session_present)
{
	if (bus->state == ST_SHUTTING || bus->state == ST_CLOSED)
		return;
	bus->state = ST_CONNECTED;
	bus->connects++;
	hb_backoff_reset(&bus->backoff);
	if (bus->m_connects)
		hb_counter_add(bus->m_connects, 1);
	if (bus->m_connected)
		hb_gauge_set(bus->m_connected, 1);
	hb_info("bus connected broker=%s client_id=%s session_present=%d",
	    bus->uri, bus->cfg.client_id, session_present);
	for (size_t i = 0; i < bus->nsubs; i++)
		send_subscription(bus, i);
	publish_status(bus, "online");
	if (!bus->opts.client)
		send_heartbeat(bus);
	if (bus->opts.on_connection)
		bus->opts.on_connection(bus->opts.arg, true);
}

static void
handle_lost(struct hb_bus *bus, const char *why)
{
	if (bus->state == ST_SHUTTING || bus->state == ST_CLOSED)
		return;
	if (bus->state == ST_CONNECTED) {
		hb_warn("bus connection lost broker=%s reason=\"%s\"", bus->uri, why);
		if (bus->m_connected)
			hb_gauge_set(bus->m_connected, 0);
		if (bus->opts.on_connection)
			bus->opts.on_connection(bus->opts.arg, false);
	}
	if (bus->state != ST_WAITING)
		schedule_reconnect(bus);
}

static void drain(evutil_socket_t fd, short what, void *arg);

static void
finish_shutdown(struct hb_bus *bus)
{
	hb_bus_done_fn done = bus->done;

	if (bus->state == ST_CLOSED)
		return;
	if (bus->ev_quiesce)
		event_del(bus->ev_quiesce);
	bus->state = ST_CLOSED;
	/* a service that keeps what it takes gets what is still waiting */
	if (!bus->opts.republish)
		drain(-1, 0, bus);
	bus->done = NULL;
	if (bus->m_connected)
		hb_gauge_set(bus->m_connected, 0);
	if (done)
		done(bus->done_arg);
}

/* Hands a message to the callback of subscription i (0-based). */
static void
deliver(struct hb_bus *bus, size_t i, struct mail *m)
{
	const struct sub *s = &bus->subs[i];
	struct hb_bus_msg msg;

	memset(&msg, 0, sizeof(msg));
	if (!hb_topic_match(s->filter, m->topic, msg.levels, msg.levellen,
	    &msg.nlevels))
		return;	/* a broker naming the wrong subscription */
	msg.topic = m->topic;
	msg.rest = hb_topic_rest(s->filter, m->topic);
	msg.payload = m->payload;
	msg.len = m->len;
	msg.qos = m->qos;
	msg.retained = m->retained != 0;
	s->fn(s->arg, &msg);
}

/*
 * A message goes to the subscriptions the broker names in it; from a
 * broker that names none, to the first subscription whose filter matches.
 */
static void
route(struct hb_bus *bus, struct mail *m)
{
	bool routed = false;

	if (bus->m_received)
		hb_counter_add(bus->m_received, 1);
	for (int k = 0; k < m->nsub_ids; k++) {
		if (m->sub_ids[k] < 1 || (size_t)m->sub_ids[k] > bus->nsubs)
			continue;
		deliver(bus, (size_t)m->sub_ids[k] - 1, m);
		routed = true;
	}
	for (size_t i = 0; !routed && i < bus->nsubs; i++) {
		if (hb_topic_match(bus->subs[i].filter, m->topic, NULL, NULL, NULL)) {
			deliver(bus, i, m);
			routed = true;
		}
	}
	if (!routed)
		hb_debug("bus message on no subscription topic=\"%s\"", m->topic);
}

static void
dispatch(struct hb_bus *bus, struct mail *m)
{
	switch (m->kind) {
	case MAIL_MESSAGE:
		route(bus, m);
		break;
	case MAIL_CONNECTED:
		handle_connected(bus, m->code != 0);
		break;
	case MAIL_CONNECT_FAILED:
		if (bus->state == ST_CONNECTING) {
			hb_log_limited(&bus->connect_log, HB_LOG_WARN,
			    "bus cannot connect broker=%s reason=\"%s\" code=%d "
			    "(retrying with backoff)", bus->uri, m->text, m->code);
			schedule_reconnect(bus);
		}
		break;
	case MAIL_LOST:
		handle_lost(bus, m->text);
		break;
	case MAIL_DISCONNECTED:
		if (bus->state == ST_SHUTTING)
			finish_shutdown(bus);
		break;
	case MAIL_SUB_RESULT:
		if (m->code >= 0x80)
			hb_error("bus subscription refused filter=\"%s\" reason=\"%s\" "
			    "(check the broker ACL)", m->topic,
			    MQTTReasonCode_toString((enum MQTTReasonCodes)m->code));
		else
			hb_debug("bus subscribed filter=\"%s\" qos=%d", m->topic, m->code);
		break;
	case MAIL_PUB_FAILED:
		hb_debug("bus publish failed code=%d", m->code);
		break;
	case MAIL_PUB_UNROUTED: {
		struct cmd *c = m->ptr;

		if (hb_mono_ms() - c->first_ms > (int64_t)bus->opts.retry_unrouted_s * 1000 ||
		    bus->state == ST_CLOSED || atomic_load(&bus->input_closed) ||
		    bus->nretry >= (size_t)bus->cfg.queue_max) {
			if (bus->m_unrouted_dropped)
				hb_counter_add(bus->m_unrouted_dropped, 1);
			hb_log_limited(&bus->unrouted_log, HB_LOG_ERROR, "bus dropped a "
			    "message nobody subscribed to for %ds topic=\"%s\" (is the "
			    "writer running?)", bus->opts.retry_unrouted_s, c->topic);
			free(c);
			break;
		}
		TAILQ_INSERT_TAIL(&bus->retry, c, entry);
		bus->nretry++;
		if (!evtimer_pending(bus->ev_retry, NULL)) {
			struct timeval tv = { 0, 500000 };

			evtimer_add(bus->ev_retry, &tv);
		}
		break;
	}
	case MAIL_PUB_REFUSED:
		bus->refused++;
		if (bus->m_refused)
			hb_counter_add(bus->m_refused, 1);
		hb_log_limited(&bus->connect_log, HB_LOG_WARN, "bus publish refused by "
		    "paho topic=\"%s\" rc=%d%s", m->topic, m->code,
		    m->code == MQTTASYNC_MAX_BUFFERED_MESSAGES ? " (buffer full while "
		    "disconnected: bus.queue_max)" : "");
		break;
	}
}

static void
drain(evutil_socket_t fd, short what, void *arg)
{
	struct hb_bus *bus = arg;
	struct mail_list batch;
	struct mail *m;

	(void)fd;
	(void)what;
	TAILQ_INIT(&batch);
	pthread_mutex_lock(&bus->lock);
	TAILQ_CONCAT(&batch, &bus->mail, entry);
	bus->mail_bytes = 0;
	bus->wake_pending = false;
	pthread_cond_broadcast(&bus->room);
	pthread_mutex_unlock(&bus->lock);
	while ((m = TAILQ_FIRST(&batch)) != NULL) {
		TAILQ_REMOVE(&batch, m, entry);
		dispatch(bus, m);
		free(m);
	}
}

static void
on_hold_end(evutil_socket_t fd, short what, void *arg)
{
	hb_bus_take(arg);
	(void)fd;
	(void)what;
}

void
hb_bus_hold(struct hb_bus *bus, int ms)
{
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };

	if (ms <= 0)
		return;
	pthread_mutex_lock(&bus->lock);
	bus->held = true;
	pthread_mutex_unlock(&bus->lock);
	evtimer_add(bus->ev_hold, &tv);
}

void
hb_bus_take(struct hb_bus *bus)
{
	evtimer_del(bus->ev_hold);
	pthread_mutex_lock(&bus->lock);
	bus->held = false;
	pthread_mutex_unlock(&bus->lock);
	drain(-1, 0, bus);
}

static void
on_mail(evutil_socket_t fd, short what, void *arg)
{
	struct hb_bus *bus = arg;
	uint64_t n;

	if (read(fd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		hb_debug("bus eventfd read: %s", strerror(errno));
	/* Wait a moment for more to arrive, then take it all at once. */
	if (bus->opts.coalesce_us > 0) {
		struct timeval tv = { 0, bus->opts.coalesce_us };

		if (!evtimer_pending(bus->ev_drain, NULL))
			evtimer_add(bus->ev_drain, &tv);
		return;
	}
	drain(fd, what, arg);
}

/* Worker thread: builds the connect options and starts connecting. */
static void
worker_connect(struct hb_bus *bus)
{
	MQTTAsync_connectOptions co = MQTTAsync_connectOptions_initializer5;
	MQTTAsync_willOptions will = MQTTAsync_willOptions_initializer;
	MQTTAsync_SSLOptions ssl = MQTTAsync_SSLOptions_initializer;
	MQTTProperties props = MQTTProperties_initializer;
	MQTTProperty p;
	int rc;

	co.keepAliveInterval = bus->cfg.keepalive_s;
	co.cleanstart = bus->opts.persistent ? 0 : 1;
	co.connectTimeout = 10;
	co.automaticReconnect = 0;
	co.onSuccess5 = on_connect_ok;
	co.onFailure5 = on_connect_fail;
	co.context = bus;
	co.username = bus->cfg.username;
	co.password = bus->cfg.password;
	will.topicName = bus->status_topic;
	will.message = "offline";
	will.retained = 1;
	will.qos = 1;
	if (!bus->opts.client)
		co.will = &will;
	if (bus->cfg.tls) {
		ssl.trustStore = bus->cfg.ca_file;
		ssl.verify = 1;
		co.ssl = &ssl;
	}
	if (bus->opts.persistent) {
		memset(&p, 0, sizeof(p));
		p.identifier = MQTTPROPERTY_CODE_SESSION_EXPIRY_INTERVAL;
		p.value.integer4 = (unsigned int)bus->cfg.session_expiry_s;
		MQTTProperties_add(&props, &p);
	}
	memset(&p, 0, sizeof(p));
	p.identifier = MQTTPROPERTY_CODE_RECEIVE_MAXIMUM;
	p.value.integer2 = (unsigned short)(bus->opts.receive_max > 0 ?
	    bus->opts.receive_max : 1000);
	MQTTProperties_add(&props, &p);
	co.connectProperties = &props;
	rc = MQTTAsync_connect(bus->client, &co);
	MQTTProperties_free(&props);
	if (rc != MQTTASYNC_SUCCESS) {
		char why[64];
		struct mail *m;

		snprintf(why, sizeof(why), "connect could not start (rc=%d)", rc);
		m = mail_new(MAIL_CONNECT_FAILED, why, strlen(why), NULL, 0);
		m->code = rc;
		post(bus, m, false);
	}
}

static void
start_connect(struct hb_bus *bus)
{
	if (bus->state == ST_SHUTTING || bus->state == ST_CLOSED)
		return;
	bus->state = ST_CONNECTING;
	enqueue(bus, cmd_new(CMD_CONNECT, NULL, NULL, 0));
}

struct hb_bus *
hb_bus_new(struct event_base *base, const struct hb_bus_config *bc,
    const struct hb_bus_opts *opts, struct hb_metrics *metrics, char *err,
    size_t errlen)
{
	MQTTAsync_createOptions cro = MQTTAsync_createOptions_initializer5;
	struct hb_bus *bus = hb_xcalloc(1, sizeof(*bus));
	struct timeval hbtv;
	int rc;

	bus->base = base;
	bus->cfg = *bc;
	bus->cfg.ca_file = bc->ca_file ? hb_xstrdup(bc->ca_file) : NULL;
	bus->cfg.username = bc->username ? hb_xstrdup(bc->username) : NULL;
	bus->cfg.password = bc->password ? hb_xstrdup(bc->password) : NULL;
	bus->opts = *opts;
	if (bc->coalesce_us >= 0)
		bus->opts.coalesce_us = bc->coalesce_us;
	bus->started_ms = hb_mono_ms();
	pthread_mutex_init(&bus->lock, NULL);
	pthread_cond_init(&bus->room, NULL);
	TAILQ_INIT(&bus->mail);
	pthread_mutex_init(&bus->out_lock, NULL);
	pthread_cond_init(&bus->out_cond, NULL);
	TAILQ_INIT(&bus->out);
	pthread_mutex_init(&bus->fly_lock, NULL);
	pthread_cond_init(&bus->fly_cond, NULL);
	bus->server_receive_max = 65535;
	hb_backoff_init(&bus->backoff, bc->reconnect_min_ms, bc->reconnect_max_ms);
	hb_ratelimit_init(&bus->connect_log, 6, 3);
	bus->efd = -1;
	snprintf(bus->uri, sizeof(bus->uri), "%s://%s:%d", bc->tls ? "ssl" : "tcp",
	    bc->host, bc->port);
	hb_topic_svc(bus->status_topic, sizeof(bus->status_topic), bc->prefix,
	    opts->service, bc->instance, "status");
	hb_topic_svc(bus->heartbeat_topic, sizeof(bus->heartbeat_topic),
	    bc->prefix, opts->service, bc->instance, "heartbeat");

	bus->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (bus->efd < 0) {
		snprintf(err, errlen, "bus: eventfd: %s", strerror(errno));
		goto err;
	}
	bus->ev_mail = event_new(base, bus->efd, EV_READ | EV_PERSIST, on_mail, bus);
	bus->ev_drain = evtimer_new(base, drain, bus);
	bus->ev_hold = evtimer_new(base, on_hold_end, bus);
	bus->ev_retry = evtimer_new(base, on_retry_timer, bus);
	TAILQ_INIT(&bus->retry);
	TAILQ_INIT(&bus->flying);
	hb_ratelimit_init(&bus->unrouted_log, 6, 2);
	bus->ev_reconnect = evtimer_new(base, on_reconnect_timer, bus);
	bus->ev_heartbeat = event_new(base, -1, EV_PERSIST, on_heartbeat_timer, bus);
	event_add(bus->ev_mail, NULL);
	hbtv.tv_sec = bc->heartbeat_s;
	hbtv.tv_usec = 0;
	if (!opts->client)
		event_add(bus->ev_heartbeat, &hbtv);

	if (metrics) {
		bus->m_received = hb_metrics_counter(metrics, "bus_messages_received_total",
		    "MQTT messages received.", NULL);
		bus->m_published = hb_metrics_counter(metrics,
		    "bus_messages_published_total", "MQTT messages published or queued.",
		    NULL);
		bus->m_refused = hb_metrics_counter(metrics, "bus_publish_refused_total",
		    "Publishes refused (queue full while disconnected, bad topic).", NULL);
		bus->m_connects = hb_metrics_counter(metrics, "bus_connects_total",
		    "Successful connections to the broker.", NULL);
		bus->m_connected = hb_metrics_gauge(metrics, "bus_connected",
		    "1 when connected to the broker.", NULL);
		bus->m_retried = hb_metrics_counter(metrics, "bus_publish_retried_total",
		    "QoS 1 publishes sent again: no subscriber took them, or the "
		    "connection failed under them.", NULL);
		bus->m_unrouted_dropped = hb_metrics_counter(metrics,
		    "bus_publish_unrouted_dropped_total",
		    "Publishes given up after bus retry_unrouted_s without a subscriber.",
		    NULL);
	}

	{
		/*
		 * paho initialises OpenSSL for every client unless told not to,
		 * which costs a daemon that never speaks TLS about 3 MB of
		 * libcrypto pages. Once per process, before the first client.
		 */
		static bool paho_ready;
		MQTTAsync_init_options io = MQTTAsync_init_options_initializer;

		if (!paho_ready) {
			io.do_openssl_init = bc->tls;
			MQTTAsync_global_init(&io);
			/*
			 * paho keeps a trace of its own in memory at "minimum"
			 * level, which formats a line with vsnprintf under a
			 * mutex for every packet sent and received, whether or
			 * not anyone ever reads it. Errors only.
			 */
			MQTTAsync_setTraceLevel(MQTTASYNC_TRACE_ERROR);
			paho_ready = true;
		}
	}
	cro.sendWhileDisconnected = 1;
	cro.maxBufferedMessages = bc->queue_max;
	cro.allowDisconnectedSendAtAnyTime = 1;
	cro.deleteOldestMessages = 0;
	cro.restoreMessages = 0;
	cro.persistQoS0 = 0;
	rc = MQTTAsync_createWithOptions(&bus->client, bus->uri, bc->client_id,
	    MQTTCLIENT_PERSISTENCE_NONE, NULL, &cro);
	if (rc != MQTTASYNC_SUCCESS) {
		snprintf(err, errlen, "bus: cannot create the MQTT client for %s "
		    "(rc=%d); check bus.host and bus.client_id", bus->uri, rc);
		goto err;
	}
	MQTTAsync_setCallbacks(bus->client, bus, on_paho_lost, on_paho_message, NULL);
	MQTTAsync_setDisconnected(bus->client, bus, on_paho_disconnected);
	if (pthread_create(&bus->worker, NULL, worker_main, bus) != 0) {
		snprintf(err, errlen, "bus: cannot start the bus thread");
		goto err;
	}
	bus->worker_running = true;
	start_connect(bus);
	return bus;
err:
	hb_bus_free(bus);
	return NULL;
}

void
hb_bus_free(struct hb_bus *bus)
{
	struct mail *m;

	if (bus == NULL)
		return;
	struct cmd *c;

	/* Unblock paho's receive thread, then stop the worker (which may be
	 * waiting for paho's mutex held by that thread), then paho itself. */
	pthread_mutex_lock(&bus->lock);
	bus->closing = true;
	pthread_cond_broadcast(&bus->room);
	pthread_mutex_unlock(&bus->lock);
	if (bus->worker_running) {
		pthread_mutex_lock(&bus->out_lock);
		bus->out_stop = true;
		pthread_cond_signal(&bus->out_cond);
		pthread_mutex_unlock(&bus->out_lock);
		pthread_mutex_lock(&bus->fly_lock);
		pthread_cond_broadcast(&bus->fly_cond);
		pthread_mutex_unlock(&bus->fly_lock);
		pthread_join(bus->worker, NULL);
	}
	while ((c = TAILQ_FIRST(&bus->out)) != NULL) {
		TAILQ_REMOVE(&bus->out, c, entry);
		free(c);
	}
	if (bus->client) {
		if (MQTTAsync_isConnected(bus->client))
			MQTTAsync_disconnect(bus->client, NULL);
		MQTTAsync_destroy(&bus->client);
	}
	/* paho is gone: what it still held for us will not be called back */
	while ((c = TAILQ_FIRST(&bus->flying)) != NULL) {
		TAILQ_REMOVE(&bus->flying, c, entry);
		free(c);
	}
	while ((m = TAILQ_FIRST(&bus->mail)) != NULL) {
		TAILQ_REMOVE(&bus->mail, m, entry);
		if (m->kind == MAIL_MESSAGE)
			atomic_fetch_add(&bus->dropped_at_close, 1);
		/* paho fails what was in flight when destroyed: such a publish
		 * comes back as a mail that owns its command */
		if (m->kind == MAIL_PUB_UNROUTED)
			free(m->ptr);
		free(m);
	}
	/* no callback runs any more: the count is final */
	if (atomic_load(&bus->dropped_at_close) > 0)
		hb_warn("bus closed while messages kept arriving: %ld arrived after "
		    "the service stopped taking them and are lost (MQTT has no way "
		    "to hand them back)", atomic_load(&bus->dropped_at_close));
	if (bus->ev_mail)
		event_free(bus->ev_mail);
	if (bus->ev_drain)
		event_free(bus->ev_drain);
	if (bus->ev_hold)
		event_free(bus->ev_hold);
	if (bus->ev_quiesce)
		event_free(bus->ev_quiesce);
	if (bus->ev_retry)
		event_free(bus->ev_retry);
	while ((c = TAILQ_FIRST(&bus->retry)) != NULL) {
		TAILQ_REMOVE(&bus->retry, c, entry);
		free(c);
	}
	if (bus->ev_reconnect)
		event_free(bus->ev_reconnect);
	if (bus->ev_heartbeat)
		event_free(bus->ev_heartbeat);
	if (bus->ev_done)
		event_free(bus->ev_done);
	if (bus->efd >= 0)
		close(bus->efd);
	for (size_t i = 0; i < bus->nsubs; i++)
		free(bus->subs[i].filter);
	free(bus->subs);
	hb_bus_config_free(&bus->cfg);
	pthread_mutex_destroy(&bus->lock);
	pthread_cond_destroy(&bus->room);
	pthread_mutex_destroy(&bus->out_lock);
	pthread_cond_destroy(&bus->out_cond);
	pthread_mutex_destroy(&bus->fly_lock);
	pthread_cond_destroy(&bus->fly_cond);
	free(bus);
}

int
hb_bus_subscribe(struct hb_bus *bus, const char *filter, int qos,
    hb_bus_message_fn fn, void *arg)
{
	char err[128];
	struct sub *s;

	if (!hb_topic_filter_ok(filter, err, sizeof(err))) {
		hb_error("bus subscribe filter=\"%s\": %s", filter, err);
		return -1;
	}
	if (bus->nsubs >= HB_BUS_MAX_SUBS) {
		hb_error("bus subscribe filter=\"%s\": more than %d subscriptions",
		    filter, HB_BUS_MAX_SUBS);
		return -1;
	}
	bus->subs = hb_xrealloc(bus->subs, (bus->nsubs + 1) * sizeof(*bus->subs));
	s = &bus->subs[bus->nsubs++];
	s->filter = hb_xstrdup(filter);
	s->qos = qos;
	s->fn = fn;
	s->arg = arg;
	if (bus->state == ST_CONNECTED)
		send_subscription(bus, bus->nsubs - 1);
	return 0;
}

int
hb_bus_msg_level(const struct hb_bus_msg *msg, size_t i, char *out, size_t n)
{
	if (n == 0)
		return -1;
	out[0] = '\0';
	if (i >= msg->nlevels || msg->levellen[i] >= n)
		return -1;
	memcpy(out, msg->levels[i], msg->levellen[i]);
	out[msg->levellen[i]] = '\0';
	return 0;
}

/*
 * A topic the broker takes: UTF-8, no wildcard, no control character
 * (mosquitto disconnects a client that publishes U+0000-U+001F or
 * U+007F-U+009F, and paho refuses invalid UTF-8).
 */
static bool
topic_ok(const char *topic)
{
	size_t n = strlen(topic);

	if (n == 0 || n > 65535 || strpbrk(topic, "+#") != NULL ||
	    !hb_utf8_valid(topic, n))
		return false;
	for (const unsigned char *p = (const unsigned char *)topic; *p; p++)
		if (*p < 0x20 || *p == 0x7f || (p[0] == 0xc2 && p[1] >= 0x80 &&
		    p[1] <= 0x9f))
			return false;
	return true;
}

int
hb_bus_publish(struct hb_bus *bus, const char *topic, const void *payload,
    size_t len, int qos, bool retain)
{
	struct cmd *c;
	size_t queued;

	if (!topic_ok(topic)) {
		char shown[160];

		hb_log_sanitize(topic, strlen(topic), shown, sizeof(shown));
		hb_log_limited(&bus->connect_log, HB_LOG_ERROR, "bus publish refused: "
		    "\"%s\" is not a topic the broker takes (a bug: please report it)",
		    shown);
		goto refused;
	}
	if (bus->state == ST_CLOSED || len > 256 * 1024 * 1024)
		goto refused;
	pthread_mutex_lock(&bus->out_lock);
	queued = bus->out_count;
	pthread_mutex_unlock(&bus->out_lock);
	if (queued >= (size_t)bus->cfg.queue_max)
		goto refused;
	c = cmd_new(CMD_PUBLISH, topic, payload, len);
	c->first_ms = hb_mono_ms();
	c->qos = qos;
	c->retain = retain ? 1 : 0;
	enqueue(bus, c);
	if (bus->m_published)
		hb_counter_add(bus->m_published, 1);
	return 0;
refused:
	bus->refused++;
	if (bus->m_refused)
		hb_counter_add(bus->m_refused, 1);
	hb_debug("bus publish refused topic=\"%s\"", topic);
	return -1;
}

int
hb_bus_publish_json(struct hb_bus *bus, const char *topic, const json_t *obj,
    int qos, bool retain)
{
	char *text = json_dumps(obj, JSON_COMPACT);
	int rc;

	if (text == NULL)
		return -1;
	rc = hb_bus_publish(bus, topic, text, strlen(text), qos, retain);
	free(text);
	return rc;
}

static void
on_done_timer(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	finish_shutdown(arg);
}

/*
 * Shutdown: nothing waiting in the mailbox and the drain timer (with
 * mailbox), in the outbox, and (with in_flight) for the broker's
 * acknowledgement.
 */
static bool
quiet(struct hb_bus *bus, bool mailbox, bool in_flight)
{
	bool empty;

	if (mailbox) {
		if (evtimer_pending(bus->ev_drain, NULL) ||
		    evtimer_pending(bus->ev_hold, NULL))
			return false;
		pthread_mutex_lock(&bus->lock);
		empty = TAILQ_EMPTY(&bus->mail);
		pthread_mutex_unlock(&bus->lock);
		if (!empty)
			return false;
	}
	pthread_mutex_lock(&bus->out_lock);
	empty = bus->out_count == 0;
	pthread_mutex_unlock(&bus->out_lock);
	if (!empty || !in_flight)
		return empty;
	pthread_mutex_lock(&bus->fly_lock);
	empty = bus->inflight == 0;
	pthread_mutex_unlock(&bus->fly_lock);
	return empty;
}

/*
 * Shutdown, every millisecond. A service that publishes what it makes of
 * the messages it takes (opts.republish: ingest) keeps taking them while
 * what it publishes goes out; once nothing waits in the mailbox or the
 * outbox it stops taking, waits for the acknowledgements and sends the
 * DISCONNECT at once, so that the instant in which a message can arrive
 * and not be taken is as short as the network makes it. Any other service
 * (the writer spools what it takes) goes on taking messages until the
 * connection is closed, and disconnects once its own publishes are out.
 * Under a flood that never goes quiet: taking stops at the drain deadline,
 * what is unsent 2 s later is given up (and said so), and 2 s after the
 * DISCONNECT the bus closes whatever paho is doing.
 */
static void
close_input(struct hb_bus *bus)
{
	if (atomic_load(&bus->input_closed))
		return;
	/* publishes nobody took are not sent again: the outbox drains */
	evtimer_del(bus->ev_retry);
	pthread_mutex_lock(&bus->lock);
	atomic_store(&bus->input_closed, true);
	/* let a receive thread waiting for room go on */
	pthread_cond_broadcast(&bus->room);
	pthread_mutex_unlock(&bus->lock);
}

static void
on_quiesce(evutil_socket_t fd, short what, void *arg)
{
	struct hb_bus *bus = arg;
	int64_t now = hb_mono_ms(), deadline = bus->drain_deadline_ms;
	struct cmd *c;

	(void)fd;
	(void)what;
	if (bus->disconnect_sent) {
		if (now >= bus->disconnect_ms + DRAIN_MS) {
			hb_warn("bus: the broker did not confirm the disconnect; closing");
			finish_shutdown(bus);
		}
		return;
	}
	/* taken messages handed over and sent: stop taking, then wait for acks */
	if (bus->opts.republish && (now >= deadline ||
	    (bus->nretry == 0 && quiet(bus, true, false))))
		close_input(bus);
	if (now >= deadline + DRAIN_MS) {
		/* the broker does not take what we send: give up, loudly */
		size_t lost = 0;

		pthread_mutex_lock(&bus->out_lock);
		while ((c = TAILQ_FIRST(&bus->out)) != NULL) {
			TAILQ_REMOVE(&bus->out, c, entry);
			bus->out_count--;
			free(c);
			lost++;
		}
		pthread_mutex_unlock(&bus->out_lock);
		pthread_mutex_lock(&bus->fly_lock);
		lost += (size_t)bus->inflight;
		pthread_mutex_unlock(&bus->fly_lock);
		if (lost)
			hb_error("bus closing: %zu publishes could not be sent or were not "
			    "acknowledged within %d ms (the broker is not acknowledging); "
			    "they may be lost", lost, 2 * DRAIN_MS);
	} else if (bus->opts.republish ? !atomic_load(&bus->input_closed) ||
	    !quiet(bus, true, true) : !quiet(bus, false, true) ||
	    (now < deadline && bus->nretry > 0))
		return;
	if (bus->opts.republish)
		close_input(bus);
	if (bus->nretry > 0)
		hb_error("bus closing with %zu publishes nobody subscribed to; they "
		    "are dropped (is the writer running?)", bus->nretry);
	enqueue(bus, cmd_new(CMD_DISCONNECT, NULL, NULL, 0));
	bus->disconnect_sent = true;
	bus->disconnect_ms = now;
}

void
hb_bus_shutdown(struct hb_bus *bus, hb_bus_done_fn done, void *arg)
{
	bool was_connected = bus->state == ST_CONNECTED;
	/* often: every moment between the last message taken and the
	 * DISCONNECT is a moment in which one can arrive and be lost */
	struct timeval tv = { 0, 1000 };

	bus->done = done;
	bus->done_arg = arg;
	evtimer_del(bus->ev_reconnect);
	event_del(bus->ev_heartbeat);
	if (was_connected)
		publish_status(bus, "offline");
	bus->state = ST_SHUTTING;
	if (was_connected) {
		/* what arrives meanwhile is still taken, up to the deadline */
		bus->drain_deadline_ms = hb_mono_ms() + DRAIN_MS;
		bus->ev_quiesce = event_new(bus->base, -1, EV_PERSIST, on_quiesce, bus);
		event_add(bus->ev_quiesce, &tv);
		return;
	}
	{
		int pending = hb_bus_pending(bus);

		if (pending > 0)
			hb_error("bus closing while the broker is unreachable: %d "
			    "publishes were not sent", pending);
	}
	/* Not connected: finish on the next loop turn, never from inside. */
	bus->ev_done = evtimer_new(bus->base, on_done_timer, bus);
	event_active(bus->ev_done, EV_TIMEOUT, 0);
}

bool
hb_bus_connected(const struct hb_bus *bus)
{
	return bus->state == ST_CONNECTED;
}

const char *
hb_bus_prefix(const struct hb_bus *bus)
{
	return bus->cfg.prefix;
}

const char *
hb_bus_instance(const struct hb_bus *bus)
{
	return bus->cfg.instance;
}

int
hb_bus_pending(const struct hb_bus *bus)
{
	struct hb_bus *b = (struct hb_bus *)(uintptr_t)bus;
	size_t n;

	pthread_mutex_lock(&b->out_lock);
	n = b->out_count;
	pthread_mutex_unlock(&b->out_lock);
	return (int)n;
}

unsigned long long
hb_bus_refused(const struct hb_bus *bus)
{
	return bus->refused;
}
