/*
 * hb_bus_legacy: the session of a service's client id from before ids
 * carried an HMAC (homebus-<service>-<host>). After an upgrade the broker
 * still keeps it, subscribed, queueing for days what the new session also
 * gets, and holding what was published while the service restarted. Once
 * the new session is subscribed, a second paho client takes the old
 * session over, unsubscribes what the service subscribes, posts what the
 * session delivers to the bus's mailbox as the main connection would, and
 * ends it (session expiry 0) after a quiet spell.
 *
 * Threads: one thread of its own, which alone calls this client's paho
 * functions; paho's receive thread runs on_message. Neither touches the
 * loop's state: messages go through the mailbox (bus__post), the rest
 * through this struct under its lock.
 */
#include "hb_bus_internal.h"
#include "hb_log.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

/* No message for this long: the session delivered what it held. */
#define LEGACY_QUIET_MS 1000
/* A session still delivering after this long is not the service's own. */
#define LEGACY_MAX_MS 120000
/* Connecting (paho's timeout is 10 s) and disconnecting. */
#define LEGACY_CONNECT_MS 15000
#define LEGACY_DISCONNECT_MS 5000

struct bus_legacy {
	struct hb_bus *bus;
	pthread_t thread;
	bool started;			/* loop thread */
	bool running;			/* loop thread: the thread is to join */
	bool answered[HB_BUS_MAX_SUBS];	/* loop thread: SUBACK seen */
	char **filters;			/* the service's, unsubscribed */
	size_t nfilters;

	pthread_mutex_t lock;	/* the rest, between paho's threads and ours */
	pthread_cond_t cond;
	bool stop;		/* the bus is being freed */
	bool connected;		/* CONNACK came: session_present is valid */
	bool refused;		/* the connect failed: why */
	bool lost;		/* the connection closed before we ended it: why */
	bool disconnected;	/* our DISCONNECT went out (or failed) */
	bool session_present;
	char why[128];
	int busy;		/* in on_message, perhaps waiting for room */
	int64_t last_ms;	/* the last message, or the CONNACK */
	unsigned long taken;
};

/* ---------------- paho's threads ---------------- */

static void
set_why(struct bus_legacy *lg, bool *flag, const char *why)
{
	pthread_mutex_lock(&lg->lock);
	*flag = true;
	snprintf(lg->why, sizeof(lg->why), "%s", why);
	pthread_cond_signal(&lg->cond);
	pthread_mutex_unlock(&lg->lock);
}

/*
 * What the old session queued goes where the main connection's messages
 * go, routed by topic: the subscription identifiers are the old process's.
 * paho acknowledged a QoS 1 message before this call, as for the main
 * connection; bus__post waits for room in the mailbox as it does there.
 */
static int
on_message(void *ctx, char *topic, int topiclen, MQTTAsync_message *pm)
{
	struct bus_legacy *lg = ctx;
	struct mail *m = bus__mail_from_paho(topic, topiclen, pm);

	MQTTAsync_freeMessage(&pm);
	MQTTAsync_free(topic);
	pthread_mutex_lock(&lg->lock);
	lg->busy++;
	pthread_mutex_unlock(&lg->lock);
	bus__post(lg->bus, m, true);
	pthread_mutex_lock(&lg->lock);
	lg->busy--;
	lg->taken++;
	lg->last_ms = hb_mono_ms();
	pthread_mutex_unlock(&lg->lock);
	return 1;
}

static void
on_lost(void *ctx, char *cause)
{
	set_why(ctx, &((struct bus_legacy *)ctx)->lost, cause ? cause :
	    "connection lost");
	if (cause)
		MQTTAsync_free(cause);
}

static void
on_broker_disconnect(void *ctx, MQTTProperties *props, enum MQTTReasonCodes rc)
{
	const char *why = MQTTReasonCode_toString(rc);

	(void)props;
	set_why(ctx, &((struct bus_legacy *)ctx)->lost, why ? why :
	    "disconnected by the broker");
}

static void
on_connect_ok(void *ctx, MQTTAsync_successData5 *resp)
{
	struct bus_legacy *lg = ctx;

	pthread_mutex_lock(&lg->lock);
	lg->connected = true;
	lg->session_present = resp && resp->alt.connect.sessionPresent;
	lg->last_ms = hb_mono_ms();
	pthread_cond_signal(&lg->cond);
	pthread_mutex_unlock(&lg->lock);
}

static void
on_connect_fail(void *ctx, MQTTAsync_failureData5 *resp)
{
	const char *why = resp && resp->reasonCode ?
	    MQTTReasonCode_toString(resp->reasonCode) :
	    (resp && resp->message ? resp->message : "cannot connect");

	set_why(ctx, &((struct bus_legacy *)ctx)->refused, why);
}

static void
on_disconnect_done(void *ctx, MQTTAsync_successData5 *resp)
{
	struct bus_legacy *lg = ctx;

	(void)resp;
	pthread_mutex_lock(&lg->lock);
	lg->disconnected = true;
	pthread_cond_signal(&lg->cond);
	pthread_mutex_unlock(&lg->lock);
}

static void
on_disconnect_fail(void *ctx, MQTTAsync_failureData5 *resp)
{
	(void)resp;
	on_disconnect_done(ctx, NULL);
}

/* ---------------- the legacy thread ---------------- */

/*
 * Waits (lock held) until done() holds, the bus is stopping, or ms have
 * passed. Returns whether done() holds.
 */
static bool
wait_for(struct bus_legacy *lg, bool (*done)(const struct bus_legacy *), int64_t ms)
{
	int64_t until = hb_mono_ms() + ms;

	while (!done(lg) && !lg->stop && hb_mono_ms() < until) {
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 100000000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&lg->cond, &lg->lock, &ts);
	}
	return done(lg);
}

static bool
answered(const struct bus_legacy *lg)
{
	return lg->connected || lg->refused || lg->lost;
}

static bool
disconnected(const struct bus_legacy *lg)
{
	return lg->disconnected || lg->lost;
}

/* The session delivered what it held: nothing for LEGACY_QUIET_MS. */
static bool
quiet(const struct bus_legacy *lg)
{
	return lg->lost || atomic_load(&lg->bus->input_closed) ||
	    (lg->busy == 0 && hb_mono_ms() - lg->last_ms >= LEGACY_QUIET_MS);
}

/* Connects as the old id, persistent as the old session was. 0 or -1. */
static int
legacy_connect(struct bus_legacy *lg, MQTTAsync client)
{
	const struct hb_bus *bus = lg->bus;
	MQTTAsync_connectOptions co = MQTTAsync_connectOptions_initializer5;
	MQTTAsync_SSLOptions ssl = MQTTAsync_SSLOptions_initializer;
	MQTTProperties props = MQTTProperties_initializer;
	MQTTProperty p;
	int rc;

	co.keepAliveInterval = bus->cfg.keepalive_s;
	co.cleanstart = 0;	/* the broker hands the old session over */
	co.connectTimeout = 10;
	co.automaticReconnect = 0;
	co.onSuccess5 = on_connect_ok;
	co.onFailure5 = on_connect_fail;
	co.context = lg;
	co.username = bus->cfg.username;
	co.password = bus->cfg.password;
	if (bus->cfg.tls) {
		ssl.trustStore = bus->cfg.ca_file;
		ssl.verify = 1;
		co.ssl = &ssl;
	}
	/* if this process dies while draining, the rest waits for the next start */
	memset(&p, 0, sizeof(p));
	p.identifier = MQTTPROPERTY_CODE_SESSION_EXPIRY_INTERVAL;
	p.value.integer4 = (unsigned int)bus->cfg.session_expiry_s;
	MQTTProperties_add(&props, &p);
	memset(&p, 0, sizeof(p));
	p.identifier = MQTTPROPERTY_CODE_RECEIVE_MAXIMUM;
	p.value.integer2 = (unsigned short)(bus->opts.receive_max > 0 ?
	    bus->opts.receive_max : 1000);
	MQTTProperties_add(&props, &p);
	co.connectProperties = &props;
	rc = MQTTAsync_connect(client, &co);
	MQTTProperties_free(&props);
	if (rc != MQTTASYNC_SUCCESS) {
		snprintf(lg->why, sizeof(lg->why), "connect could not start (rc=%d)", rc);
		return -1;
	}
	return 0;
}

/*
 * The old session stops queueing what the service reads: from now on it
 * only hands over what it holds. Unanswered: an UNSUBACK tells nothing we
 * would act on.
 */
static void
legacy_unsubscribe(struct bus_legacy *lg, MQTTAsync client)
{
	MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;

	if (lg->nfilters > 0)
		MQTTAsync_unsubscribeMany(client, (int)lg->nfilters, lg->filters, &ro);
}

/* Ends the session: DISCONNECT with session expiry 0, the broker deletes it. */
static void
legacy_end(struct bus_legacy *lg, MQTTAsync client)
{
	MQTTAsync_disconnectOptions dopts = MQTTAsync_disconnectOptions_initializer5;
	MQTTProperty p = { .identifier = MQTTPROPERTY_CODE_SESSION_EXPIRY_INTERVAL };

	p.value.integer4 = 0;
	MQTTProperties_add(&dopts.properties, &p);
	dopts.reasonCode = MQTTREASONCODE_NORMAL_DISCONNECTION;
	dopts.timeout = 0;
	dopts.onSuccess5 = on_disconnect_done;
	dopts.onFailure5 = on_disconnect_fail;
	dopts.context = lg;
	if (MQTTAsync_disconnect(client, &dopts) != MQTTASYNC_SUCCESS)
		on_disconnect_done(lg, NULL);
	MQTTProperties_free(&dopts.properties);
	pthread_mutex_lock(&lg->lock);
	wait_for(lg, disconnected, LEGACY_DISCONNECT_MS);
	pthread_mutex_unlock(&lg->lock);
}

static void *
legacy_main(void *arg)
{
	struct bus_legacy *lg = arg;
	struct hb_bus *bus = lg->bus;
	const char *id = bus->cfg.old_client_id;
	MQTTAsync_createOptions cro = MQTTAsync_createOptions_initializer5;
	MQTTAsync client = NULL;
	int64_t began = hb_mono_ms();
	bool present, ok, capped, stopping;

	if (MQTTAsync_createWithOptions(&client, bus->uri, id,
	    MQTTCLIENT_PERSISTENCE_NONE, NULL, &cro) != MQTTASYNC_SUCCESS) {
		hb_warn("bus cannot end the session of the old client id %s: paho "
		    "refused to create its client (ignored)", id);
		return NULL;
	}
	MQTTAsync_setCallbacks(client, lg, on_lost, on_message, NULL);
	MQTTAsync_setDisconnected(client, lg, on_broker_disconnect);
	/* no paho call under lg->lock: paho's receive thread takes it */
	ok = legacy_connect(lg, client) == 0;
	pthread_mutex_lock(&lg->lock);
	ok = ok && wait_for(lg, answered, LEGACY_CONNECT_MS) && lg->connected;
	present = lg->session_present;
	pthread_mutex_unlock(&lg->lock);
	if (!ok)
		goto out;
	if (present) {
		legacy_unsubscribe(lg, client);
		pthread_mutex_lock(&lg->lock);
		capped = !wait_for(lg, quiet, LEGACY_MAX_MS) && !lg->stop;
		pthread_mutex_unlock(&lg->lock);
		if (capped)
			hb_warn("bus the session of the old client id %s still "
			    "delivers after %d s: not this service's subscriptions; "
			    "ending it", id, LEGACY_MAX_MS / 1000);
	}
	/* stopping, or closing: what is left waits for the next start */
	pthread_mutex_lock(&lg->lock);
	stopping = lg->stop || atomic_load(&bus->input_closed);
	pthread_mutex_unlock(&lg->lock);
	if (!stopping)
		legacy_end(lg, client);
out:
	pthread_mutex_lock(&lg->lock);
	if (lg->stop || atomic_load(&bus->input_closed))
		hb_info("bus left the session of the old client id %s for the next "
		    "start (stopping): %lu messages taken over", id, lg->taken);
	else if (!lg->connected || lg->lost)
		hb_warn("bus cannot end the session of the old client id %s: %s "
		    "(%lu messages taken over; ignored)", id,
		    lg->why[0] ? lg->why : "no answer", lg->taken);
	else if (present)
		hb_info("bus ended the session of the old client id %s: %lu "
		    "messages taken over in %lld ms", id, lg->taken,
		    (long long)(hb_mono_ms() - began));
	else
		hb_debug("bus no session of the old client id %s at the broker", id);
	pthread_mutex_unlock(&lg->lock);
	/* no callback of this client runs after this */
	MQTTAsync_destroy(&client);
	return NULL;
}

/* ---------------- the loop thread ---------------- */

static void
legacy_start(struct hb_bus *bus, struct bus_legacy *lg)
{
	lg->started = true;
	lg->bus = bus;
	lg->filters = hb_xcalloc(bus->nsubs + 1, sizeof(*lg->filters));
	for (size_t i = 0; i < bus->nsubs; i++)
		lg->filters[lg->nfilters++] = hb_xstrdup(bus->subs[i].filter);
	if (pthread_create(&lg->thread, NULL, legacy_main, lg) != 0) {
		hb_warn("bus cannot start the thread that ends the session of the "
		    "old client id %s (ignored)", bus->cfg.old_client_id);
		return;
	}
	lg->running = true;
}

void
bus__legacy_subscribed(struct hb_bus *bus, const char *filter)
{
	struct bus_legacy *lg = bus->legacy;
	char id[sizeof(bus->cfg.client_id)];
	bool all = true;

	if (bus->cfg.old_client_id[0] == '\0' || !bus->opts.persistent ||
	    bus->opts.client || bus->state != ST_CONNECTED ||
	    (lg != NULL && lg->started))
		return;
	if (lg == NULL) {
		/* a caller that made an id of its own has no old one */
		hb_bus_client_id(id, sizeof(id), bus->cfg.old_client_id,
		    bus->cfg.password);
		if (strcmp(id, bus->cfg.client_id) != 0)
			return;
		lg = bus->legacy = hb_xcalloc(1, sizeof(*lg));
		pthread_mutex_init(&lg->lock, NULL);
		pthread_cond_init(&lg->cond, NULL);
	}
	for (size_t i = 0; i < bus->nsubs; i++) {
		if (strcmp(bus->subs[i].filter, filter) == 0)
			lg->answered[i] = true;
		all = all && lg->answered[i];
	}
	if (all)
		legacy_start(bus, lg);
}

void
bus__legacy_free(struct hb_bus *bus)
{
	struct bus_legacy *lg = bus->legacy;

	if (lg == NULL)
		return;
	if (lg->running) {
		pthread_mutex_lock(&lg->lock);
		lg->stop = true;
		pthread_cond_signal(&lg->cond);
		pthread_mutex_unlock(&lg->lock);
		pthread_join(lg->thread, NULL);
	}
	for (size_t i = 0; i < lg->nfilters; i++)
		free(lg->filters[i]);
	free(lg->filters);
	pthread_mutex_destroy(&lg->lock);
	pthread_cond_destroy(&lg->cond);
	free(lg);
	bus->legacy = NULL;
}
