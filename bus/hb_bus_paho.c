/*
 * hb_bus_paho: paho's threads and the bus worker thread, the only code that
 * calls paho. paho's callbacks turn what happens into mail for the loop;
 * the worker takes commands from the outbox (publish, subscribe, connect,
 * disconnect) and hands them to paho, keeping under the broker's receive
 * maximum. Nothing here touches the loop's state.
 */
#include "hb_bus_internal.h"
#include "hb_log.h"

#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static void worker_connect(struct hb_bus *bus);

/* ---------------- where paho waits for nothing ---------------- */

int
bus__paho_sleep_us(bool receive_thread, unsigned long asked_us,
    int64_t since_last_ms)
{
	if (receive_thread && asked_us == 100000 && since_last_ms >= 500)
		return 1000;
	return (int)(asked_us > 1000000000ul ? 1000000000ul : asked_us);
}

/*
 * paho 1.3.12 (and upstream since) ends each poll of its receive thread
 * that found nothing to read, a second without a packet, with a 100 ms
 * sleep, and a packet that arrives meanwhile waits for the end of it: a
 * reading a second often arrives just then. paho sleeps through usleep(),
 * which the dynamic linker resolves to this one before libc's: on paho's
 * receive thread (it names itself MQTTAsync_rcv) that sleep is 1 ms when
 * it follows a second of polling (bus__paho_sleep_us); back-to-back ones
 * (nothing to poll while disconnected, a socket whose writes are stuck)
 * stay as paho meant them. Every other caller sleeps as with libc's.
 */
int
usleep(useconds_t usec)
{
	static _Thread_local int receive_thread = -1;
	static _Thread_local int64_t last_end_ms;
	struct timespec ts;
	long us;
	int rc;

	if (receive_thread < 0) {
		char name[17] = "";

		receive_thread = prctl(PR_GET_NAME, name) == 0 &&
		    strcmp(name, "MQTTAsync_rcv") == 0;
	}
	us = bus__paho_sleep_us(receive_thread == 1, usec, hb_mono_ms() -
	    last_end_ms);
	ts.tv_sec = us / 1000000;
	ts.tv_nsec = (us % 1000000) * 1000;
	rc = nanosleep(&ts, NULL);
	if (receive_thread == 1)
		last_end_ms = hb_mono_ms();
	return rc == 0 ? 0 : -1;
}

/*
 * paho never sets TCP_NODELAY. Its receive thread acknowledges a QoS 1
 * message (a 4-byte PUBACK) and what the service publishes for it follows
 * at once: Nagle's algorithm would hold that publish until the broker's
 * kernel acknowledges the PUBACK, which it delays (the broker has nothing
 * to answer a PUBACK with). Called on paho's receive thread when a
 * connection is up: the process's TCP sockets to the broker's port send
 * at once. paho gives no access to its socket, so they are found among the
 * process's descriptors.
 */
static void
paho_sockets_nodelay(int port)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;

	if (d == NULL)
		return;
	while ((e = readdir(d)) != NULL) {
		struct sockaddr_storage peer;
		socklen_t plen = sizeof(peer), tlen;
		char *end;
		long fd = strtol(e->d_name, &end, 10);
		int type = 0, one = 1, pport;

		if (end == e->d_name || *end != '\0' || fd == dirfd(d))
			continue;
		tlen = sizeof(type);
		if (getsockopt((int)fd, SOL_SOCKET, SO_TYPE, &type, &tlen) != 0 ||
		    type != SOCK_STREAM ||
		    getpeername((int)fd, (struct sockaddr *)&peer, &plen) != 0)
			continue;
		if (peer.ss_family == AF_INET)
			pport = ntohs(((struct sockaddr_in *)&peer)->sin_port);
		else if (peer.ss_family == AF_INET6)
			pport = ntohs(((struct sockaddr_in6 *)&peer)->sin6_port);
		else
			continue;
		if (pport == port)
			setsockopt((int)fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	}
	closedir(d);
}

/* ---------------- paho's callbacks (paho's threads) ---------------- */

struct mail *
bus__mail_from_paho(const char *topic, int topiclen, const MQTTAsync_message *pm)
{
	size_t tl = topiclen > 0 ? (size_t)topiclen : strlen(topic);
	struct mail *m = bus__mail_new(MAIL_MESSAGE, topic, tl, pm->payload,
	    pm->payloadlen > 0 ? (size_t)pm->payloadlen : 0);

	m->qos = pm->qos;
	m->retained = pm->retained;
	return m;
}

static int
on_paho_message(void *ctx, char *topic, int topiclen, MQTTAsync_message *pm)
{
	struct hb_bus *bus = ctx;
	struct mail *m = bus__mail_from_paho(topic, topiclen, pm);

	/* each paho call costs a mutex and a copied name: none when there is
	 * no property (a subscription without an identifier) */
	m->nsub_ids = pm->properties.count == 0 ? 0 :
	    MQTTProperties_propertyCount(&pm->properties,
	    MQTTPROPERTY_CODE_SUBSCRIPTION_IDENTIFIER);
	if (m->nsub_ids > MAIL_SUB_IDS)
		m->nsub_ids = MAIL_SUB_IDS;
	for (int i = 0; i < m->nsub_ids; i++)
		m->sub_ids[i] = MQTTProperties_getNumericValueAt(&pm->properties,
		    MQTTPROPERTY_CODE_SUBSCRIPTION_IDENTIFIER, i);
	MQTTAsync_freeMessage(&pm);
	MQTTAsync_free(topic);
	bus__post(bus, m, true);
	return 1;
}

static void
on_paho_lost(void *ctx, char *cause)
{
	struct hb_bus *bus = ctx;
	const char *why = cause ? cause : "connection lost";

	bus__post(bus, bus__mail_new(MAIL_LOST, why, strlen(why), NULL, 0), false);
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
	m = bus__mail_new(MAIL_LOST, why ? why : "disconnected by the broker",
	    strlen(why ? why : "disconnected by the broker"), NULL, 0);
	m->code = (int)rc;
	bus__post(bus, m, false);
}

static void
on_connect_ok(void *ctx, MQTTAsync_successData5 *resp)
{
	struct hb_bus *bus = ctx;
	struct mail *m = bus__mail_new(MAIL_CONNECTED, "", 0, NULL, 0);
	int rmax = 65535;

	paho_sockets_nodelay(bus->cfg.port);
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
	bus__post(bus, m, false);
}

static void
on_connect_fail(void *ctx, MQTTAsync_failureData5 *resp)
{
	struct hb_bus *bus = ctx;
	const char *why = resp && resp->message ? resp->message :
	    (resp && resp->reasonCode ? MQTTReasonCode_toString(resp->reasonCode) :
	    "cannot connect");
	struct mail *m = bus__mail_new(MAIL_CONNECT_FAILED, why, strlen(why), NULL, 0);

	m->code = resp ? (resp->reasonCode ? (int)resp->reasonCode : resp->code) : -1;
	bus__post(bus, m, false);
}

static void
on_disconnect_done(void *ctx, MQTTAsync_successData5 *resp)
{
	(void)resp;

	bus__post(ctx, bus__mail_new(MAIL_DISCONNECTED, "", 0, NULL, 0), false);
}

static void
on_disconnect_fail(void *ctx, MQTTAsync_failureData5 *resp)
{
	(void)resp;
	bus__post(ctx, bus__mail_new(MAIL_DISCONNECTED, "", 0, NULL, 0), false);
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
	struct mail *m = bus__mail_new(MAIL_SUB_RESULT, sc->filter, strlen(sc->filter),
	    NULL, 0);

	m->code = resp ? (int)resp->reasonCode : 0;
	bus__post(sc->bus, m, false);
	free(sc);
}

static void
on_sub_fail(void *ctx, MQTTAsync_failureData5 *resp)
{
	struct sub_ctx *sc = ctx;
	struct mail *m = bus__mail_new(MAIL_SUB_RESULT, sc->filter, strlen(sc->filter),
	    NULL, 0);

	m->code = resp && resp->reasonCode ? (int)resp->reasonCode : 0x80;
	bus__post(sc->bus, m, false);
	free(sc);
}

static void
landed(struct hb_bus *bus, size_t bytes)
{
	bool quiet;

	pthread_mutex_lock(&bus->fly_lock);
	if (bus->inflight > 0)
		bus->inflight--;
	bus->inflight_bytes -= bytes < bus->inflight_bytes ? bytes : bus->inflight_bytes;
	pthread_cond_signal(&bus->fly_cond);
	quiet = bus->inflight == 0;
	pthread_mutex_unlock(&bus->fly_lock);
	if (quiet)
		bus__wake_quiesce(bus);
}

static void
on_pub_ok(void *ctx, MQTTAsync_successData5 *resp)
{
	(void)resp;
	landed(ctx, 0);
}

/* A kept publish is no longer paho's (its callback came, or sending failed). */
static void
unfly(struct hb_bus *bus, struct cmd *c)
{
	pthread_mutex_lock(&bus->fly_lock);
	TAILQ_REMOVE(&bus->flying, c, entry);
	pthread_mutex_unlock(&bus->fly_lock);
}

/*
 * A QoS 1 publish of a service that asked for retries (opts.retry_unrouted_s)
 * carries its command as context: "no matching subscribers" (the broker
 * took it and dropped it, e.g. just after a restart, before the writers'
 * shared subscription is back) or a failure sends it back to the loop.
 */
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
	m = bus__mail_new(MAIL_PUB_UNROUTED, "", 0, NULL, 0);
	m->ptr = c;
	bus__post(bus, m, false);
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
	m = bus__mail_new(MAIL_PUB_UNROUTED, "", 0, NULL, 0);
	m->ptr = c;
	bus__post(bus, m, false);
}

static void
on_pub_fail(void *ctx, MQTTAsync_failureData5 *resp)
{
	struct hb_bus *bus = ctx;
	const char *why = resp && resp->reasonCode ?
	    MQTTReasonCode_toString(resp->reasonCode) :
	    (resp && resp->message ? resp->message : "the publish failed");
	struct mail *m = bus__mail_new(MAIL_PUB_FAILED, why, strlen(why), NULL, 0);

	landed(bus, 0);
	/* the broker's reason (0x87 not authorised, ...) or paho's error */
	m->code = resp ? (resp->reasonCode ? (int)resp->reasonCode : resp->code) : -1;
	bus__post(bus, m, false);
}

struct cmd *
bus__cmd_new(enum cmd_kind kind, const char *topic, const void *payload, size_t len)
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
void
bus__enqueue(struct hb_bus *bus, struct cmd *c)
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
		struct mail *m = bus__mail_new(MAIL_PUB_REFUSED, c->topic, strlen(c->topic),
		    NULL, 0);

		m->code = rc;
		bus__post(bus, m, false);
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
	if (c->resend)
		ro.subscribeOptions.retainHandling = 1;	/* only if new: none */
	id.value.integer4 = (unsigned int)c->sub_id;
	if (c->sub_id > 0)
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
		bus__post(bus, bus__mail_new(MAIL_DISCONNECTED, "", 0, NULL, 0), false);
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
		m = bus__mail_new(MAIL_CONNECT_FAILED, why, strlen(why), NULL, 0);
		m->code = rc;
		bus__post(bus, m, false);
	}
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
			bool kept = false, quiet;

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
			quiet = --bus->out_count == 0;
			pthread_mutex_unlock(&bus->out_lock);
			if (quiet)
				bus__wake_quiesce(bus);
		}
	}
	return NULL;
}

/* ---------------- the client's life (loop thread) ---------------- */

static pthread_once_t paho_once = PTHREAD_ONCE_INIT;

/*
 * Once per process, before the first client. OpenSSL 1.1 and later
 * initialise themselves on first use, thread-safely: paho's own
 * initialisation of it only adds what OpenSSL before 1.1 needed, and costs
 * a daemon that never speaks TLS about 3 MB of libcrypto pages. paho's
 * in-memory trace, at its default level, formats a line with vsnprintf
 * under a mutex for every packet whether or not anyone reads it: errors
 * only.
 */
static void
paho_global_init(void)
{
	MQTTAsync_init_options io = MQTTAsync_init_options_initializer;

	io.do_openssl_init = 0;
	MQTTAsync_global_init(&io);
	MQTTAsync_setTraceLevel(MQTTASYNC_TRACE_ERROR);
}

int
bus__paho_start(struct hb_bus *bus, char *err, size_t errlen)
{
	MQTTAsync_createOptions cro = MQTTAsync_createOptions_initializer5;
	int rc;

	pthread_once(&paho_once, paho_global_init);
	cro.sendWhileDisconnected = 1;
	cro.maxBufferedMessages = bus->cfg.queue_max;
	cro.allowDisconnectedSendAtAnyTime = 1;
	cro.deleteOldestMessages = 0;
	cro.restoreMessages = 0;
	cro.persistQoS0 = 0;
	rc = MQTTAsync_createWithOptions(&bus->client, bus->uri, bus->cfg.client_id,
	    MQTTCLIENT_PERSISTENCE_NONE, NULL, &cro);
	if (rc != MQTTASYNC_SUCCESS) {
		snprintf(err, errlen, "bus: cannot create the MQTT client for %s "
		    "(rc=%d); check bus.host and bus.client_id", bus->uri, rc);
		return -1;
	}
	MQTTAsync_setCallbacks(bus->client, bus, on_paho_lost, on_paho_message, NULL);
	MQTTAsync_setDisconnected(bus->client, bus, on_paho_disconnected);
	if (pthread_create(&bus->worker, NULL, worker_main, bus) != 0) {
		snprintf(err, errlen, "bus: cannot start the bus thread");
		return -1;
	}
	bus->worker_running = true;
	return 0;
}

void
bus__paho_stop(struct hb_bus *bus)
{
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
		bus->worker_running = false;
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
}
