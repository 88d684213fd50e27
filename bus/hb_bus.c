/*
 * hb_bus: paho MQTTAsync handed over to the libevent loop.
 *
 * Threads: paho calls messageArrived with its own client mutex held, and our
 * callback may wait there for room in the mailbox (back-pressure). So the
 * loop thread never calls paho itself: publishes, subscriptions, connects
 * and disconnects go through an outbox to one bus worker thread, the only
 * caller of paho after creation. paho's callbacks only touch the mailbox.
 * This file is what runs on the loop thread (see hb_bus_internal.h).
 */
#include "hb_bus_internal.h"
#include "hb_log.h"
#include "hb_msg.h"
#include "hb_topic.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

/* ---------------- loop thread ---------------- */

static void start_connect(struct hb_bus *bus);

/*
 * The first seconds after a connection is lost are retried every 100-200 ms
 * (a broker restarting is back within a second or two, and a broker without
 * persistence loses what is published to nobody meanwhile); only an outage
 * that lasts backs off, from bus.reconnect_min_ms to bus.reconnect_max_ms.
 */
static void
schedule_reconnect(struct hb_bus *bus)
{
	int64_t ms = hb_mono_ms() - bus->lost_ms < FAST_RETRY_MS ?
	    100 + (int64_t)(hb_rand(&bus->backoff.rng) % 101) :
	    hb_backoff_next(&bus->backoff);
	bus->state = ST_WAITING;
	hb_timer_add_ms(bus->ev_reconnect, ms);
}

static void
on_reconnect_timer(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	start_connect(arg);
}

/* A shared subscription's filter without its "$share/<group>/". */
static const char *
plain_filter(const char *filter)
{
	const char *p;

	if (strncmp(filter, "$share/", 7) != 0 ||
	    (p = strchr(filter + 7, '/')) == NULL)
		return filter;
	return p + 1;
}

/* Whether some topic matches both filters. */
static bool
filters_overlap(const char *a, const char *b)
{
	a = plain_filter(a);
	b = plain_filter(b);
	for (;;) {
		size_t la = strcspn(a, "/"), lb = strcspn(b, "/");

		if ((la == 1 && *a == '#') || (lb == 1 && *b == '#'))
			return true;
		if (!(la == 1 && *a == '+') && !(lb == 1 && *b == '+') &&
		    (la != lb || memcmp(a, b, la) != 0))
			return false;
		a += la;
		b += lb;
		if (*a == '\0' || *b == '\0') {
			/* "x" and "x/#": '#' matches its parent level too */
			const char *rest = *a ? a : b;

			return *rest == '\0' || strcmp(rest, "/#") == 0;
		}
		a++;
		b++;
	}
}

static bool
overlaps_another(const struct hb_bus *bus, size_t i)
{
	for (size_t k = 0; k < bus->nsubs; k++)
		if (k != i && filters_overlap(bus->subs[i].filter, bus->subs[k].filter))
			return true;
	return false;
}

/*
 * Sends subscription i, with its identifier if its filter overlaps
 * another. resend: the broker has it already (without an identifier);
 * replacing it hands over no retained message again.
 */
static void
send_subscription(struct hb_bus *bus, size_t i, bool resend)
{
	struct cmd *c = bus__cmd_new(CMD_SUBSCRIBE, bus->subs[i].filter, NULL, 0);

	c->qos = bus->subs[i].qos;
	bus->subs[i].anon = !overlaps_another(bus, i);
	c->sub_id = bus->subs[i].anon ? 0 : (int)i + 1;
	c->resend = resend;
	bus__enqueue(bus, c);
}

void
bus__publish_status(struct hb_bus *bus, const char *status)
{
	if (bus->opts.client)
		return;
	hb_bus_publish(bus, bus->status_topic, status, strlen(status), 1, true);
}

static void
send_heartbeat(struct hb_bus *bus)
{
	struct hb_heartbeat beat = { 0 };
	json_t *hb;

	snprintf(beat.service, sizeof(beat.service), "%s", bus->opts.service);
	snprintf(beat.instance, sizeof(beat.instance), "%s", bus->cfg.instance);
	snprintf(beat.version, sizeof(beat.version), "%s", HB_VERSION);
	beat.pid = (long)getpid();
	beat.uptime_s = (hb_mono_ms() - bus->started_ms) / 1000;
	beat.rss_kb = hb_rss_kb();
	beat.cpu_s = hb_cpu_seconds();
	beat.interval_s = bus->cfg.heartbeat_s;
	/* the sender's clock, so that a reader can see a clock that is off */
	beat.time_ms = hb_wall_ms();
	hb = hb_heartbeat_encode(&beat);
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
		if (!TAILQ_EMPTY(&bus->retry))
			hb_timer_add_ms(bus->ev_retry, 500);
		return;
	}
	while ((c = TAILQ_FIRST(&bus->retry)) != NULL) {
		TAILQ_REMOVE(&bus->retry, c, entry);
		bus->nretry--;
		if (bus->m_retried)
			hb_counter_add(bus->m_retried, 1);
		bus__enqueue(bus, c);
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
		send_subscription(bus, i, false);
	bus__publish_status(bus, "online");
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
		bus->lost_ms = hb_mono_ms();
		hb_warn("bus connection lost broker=%s reason=\"%s\"", bus->uri, why);
		if (bus->m_connected)
			hb_gauge_set(bus->m_connected, 0);
		if (bus->opts.on_connection)
			bus->opts.on_connection(bus->opts.arg, false);
	}
	if (bus->state != ST_WAITING)
		schedule_reconnect(bus);
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
 * A message goes to the subscriptions the broker names in it; one that
 * names none, to the first subscription whose filter matches: the one
 * subscribed without an identifier (which overlaps no other), or any, from
 * a broker that does not send identifiers.
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

/*
 * A kept publish that nobody took (or whose send failed): sent again every
 * 0.5 s while connected, until opts.retry_unrouted_s have passed since the
 * first attempt; then dropped, counted and logged. Takes c.
 */
static void
keep_unrouted(struct hb_bus *bus, struct cmd *c)
{
	if (hb_mono_ms() - c->first_ms > (int64_t)bus->opts.retry_unrouted_s * 1000 ||
	    bus->state == ST_CLOSED || atomic_load(&bus->input_closed) ||
	    bus->nretry >= (size_t)bus->cfg.queue_max) {
		if (bus->m_unrouted_dropped)
			hb_counter_add(bus->m_unrouted_dropped, 1);
		hb_log_limited(&bus->unrouted_log, HB_LOG_ERROR, "bus dropped a "
		    "message nobody subscribed to for %ds topic=\"%s\" (is the "
		    "writer running?)", bus->opts.retry_unrouted_s, c->topic);
		free(c);
		return;
	}
	TAILQ_INSERT_TAIL(&bus->retry, c, entry);
	bus->nretry++;
	if (!evtimer_pending(bus->ev_retry, NULL)) {
		hb_timer_add_ms(bus->ev_retry, 500);
	}
}

void
bus__dispatch(struct hb_bus *bus, struct mail *m)
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
			if (bus->opts.on_connect_failed)
				bus->opts.on_connect_failed(bus->opts.arg, m->code,
				    m->text);
		}
		break;
	case MAIL_LOST:
		handle_lost(bus, m->text);
		break;
	case MAIL_DISCONNECTED:
		if (bus->state == ST_SHUTTING)
			bus__finish_shutdown(bus);
		break;
	case MAIL_SUB_RESULT:
		if (m->code >= 0x80)
			hb_error("bus subscription refused filter=\"%s\" reason=\"%s\" "
			    "(check the broker ACL)", m->topic,
			    MQTTReasonCode_toString((enum MQTTReasonCodes)m->code));
		else
			hb_debug("bus subscribed filter=\"%s\" qos=%d", m->topic, m->code);
		bus__legacy_subscribed(bus, m->topic);
		break;
	case MAIL_QUIET:
		/* shutting down: bus__drain() looks again once the mailbox is
		 * empty; running: the service may send what it gathered */
		if (bus->state == ST_CONNECTED && bus->opts.on_idle &&
		    hb_bus_inflight(bus) == 0)
			bus->opts.on_idle(bus->opts.arg);
		break;
	case MAIL_PUB_FAILED:
		hb_debug("bus publish failed code=%d reason=\"%s\"", m->code, m->text);
		if (bus->opts.on_publish_failed)
			bus->opts.on_publish_failed(bus->opts.arg, m->code, m->text);
		break;
	case MAIL_PUB_UNROUTED:
		keep_unrouted(bus, m->ptr);
		break;
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
start_connect(struct hb_bus *bus)
{
	if (bus->state == ST_SHUTTING || bus->state == ST_CLOSED)
		return;
	bus->state = ST_CONNECTING;
	bus__enqueue(bus, bus__cmd_new(CMD_CONNECT, NULL, NULL, 0));
}

static void
register_metrics(struct hb_bus *bus, struct hb_metrics *metrics)
{
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

struct hb_bus *
hb_bus_new(struct event_base *base, const struct hb_bus_config *bc,
    const struct hb_bus_opts *opts, struct hb_metrics *metrics, char *err,
    size_t errlen)
{
	struct hb_bus *bus = hb_xcalloc(1, sizeof(*bus));

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
	bus->ev_mail = event_new(base, bus->efd, EV_READ | EV_PERSIST, bus__on_mail, bus);
	bus->ev_drain = evtimer_new(base, bus__drain, bus);
	bus->ev_hold = evtimer_new(base, bus__on_hold_end, bus);
	bus->ev_retry = evtimer_new(base, on_retry_timer, bus);
	TAILQ_INIT(&bus->retry);
	TAILQ_INIT(&bus->flying);
	hb_ratelimit_init(&bus->unrouted_log, 6, 2);
	bus->ev_reconnect = evtimer_new(base, on_reconnect_timer, bus);
	bus->ev_heartbeat = event_new(base, -1, EV_PERSIST, on_heartbeat_timer, bus);
	event_add(bus->ev_mail, NULL);
	if (!opts->client)
		hb_timer_add_ms(bus->ev_heartbeat, bc->heartbeat_s * 1000LL);

	if (metrics)
		register_metrics(bus, metrics);

	if (bus__paho_start(bus, err, errlen) != 0)
		goto err;
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
	struct cmd *c;

	if (bus == NULL)
		return;
	bus__paho_stop(bus);
	bus__legacy_free(bus);
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
	s->anon = false;
	if (bus->state != ST_CONNECTED)
		return 0;	/* sent on connect */
	send_subscription(bus, bus->nsubs - 1, false);
	/* one that overlapped nothing until now needs its identifier */
	for (size_t i = 0; i + 1 < bus->nsubs; i++)
		if (bus->subs[i].anon && filters_overlap(bus->subs[i].filter, filter))
			send_subscription(bus, i, true);
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
	c = bus__cmd_new(CMD_PUBLISH, topic, payload, len);
	c->first_ms = hb_mono_ms();
	c->qos = qos;
	c->retain = retain ? 1 : 0;
	bus__enqueue(bus, c);
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

int
hb_bus_inflight(const struct hb_bus *bus)
{
	struct hb_bus *b = (struct hb_bus *)(uintptr_t)bus;
	int n;

	pthread_mutex_lock(&b->fly_lock);
	n = b->inflight;
	pthread_mutex_unlock(&b->fly_lock);
	return hb_bus_pending(bus) + n;
}
