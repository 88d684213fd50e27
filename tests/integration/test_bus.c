/*
 * The bus client against a real mosquitto: a publish/subscribe round trip
 * through the broker, reconnection and re-subscription after the broker is
 * restarted, publishes queued while it is away, the last will that
 * marks a killed service offline, messages held back (hb_bus_hold), and
 * overlapping subscriptions each reaching their own callback, and nothing
 * held back inside paho (TCP_NODELAY, its receive thread's sleep).
 */
#include "hbt.h"
#include "hb_bus.h"
#include "hb_bus_internal.h"
#include "hb_config.h"
#include "hb_log.h"

#include <dirent.h>
#include <dlfcn.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

struct state {
	int connects;
	int disconnects;
	int received;
	char last_topic[256];
	char last_payload[256];
};

static void
on_message(void *arg, const struct hb_bus_msg *msg)
{
	struct state *st = arg;

	st->received++;
	snprintf(st->last_topic, sizeof(st->last_topic), "%s", msg->topic);
	snprintf(st->last_payload, sizeof(st->last_payload), "%s", msg->payload);
}

static void
on_connection(void *arg, bool up)
{
	struct state *st = arg;

	if (up)
		st->connects++;
	else
		st->disconnects++;
}

static void
spin(struct event_base *base, int64_t ms)
{
	int64_t end = hb_mono_ms() + ms;

	while (hb_mono_ms() < end) {
		event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
		hbt_sleep_ms(2);
	}
}

#define SPIN_UNTIL(base, cond, ms) ({ \
	int64_t _e = hb_mono_ms() + (ms); \
	while (!(cond) && hb_mono_ms() < _e) { \
		event_base_loop((base), EVLOOP_ONCE | EVLOOP_NONBLOCK); \
		hbt_sleep_ms(2); \
	} \
	(cond); })

/* A bus with these extra "bus" options (a JSON fragment, may be ""). */
static struct hb_bus *
make_bus_with(struct event_base *base, int port, struct state *st,
    const char *extra)
{
	struct hb_bus_config bc;
	struct hb_bus_opts bo = { 0 };
	struct hb_config *cfg;
	char text[1024], err[256];
	struct hb_bus *bus;

	snprintf(text, sizeof(text), "{\"bus\": {\"port\": %d, \"instance\": \"t1\", "
	    "\"client_id\": \"test-bus-t1\", \"reconnect_min_ms\": 100, "
	    "\"reconnect_max_ms\": 500, \"heartbeat_s\": 1%s}}", port, extra);
	cfg = hb_config_parse(text, strlen(text), "bus.json", err, sizeof(err));
	HBT_REQUIRE(cfg != NULL, "%s", err);
	hb_bus_config_read(&bc, cfg, "test", "host");
	HBT_REQUIRE(hb_config_error_count(cfg) == 0, "config errors");
	bo.service = "test";
	bo.on_connection = on_connection;
	bo.arg = st;
	bus = hb_bus_new(base, &bc, &bo, NULL, err, sizeof(err));
	HBT_REQUIRE(bus != NULL, "%s", err);
	hb_bus_config_free(&bc);
	hb_config_free(cfg);
	return bus;
}

static struct hb_bus *
make_bus(struct event_base *base, int port, struct state *st)
{
	return make_bus_with(base, port, st, "");
}

/*
 * TLS to the broker: with the broker's CA the bus connects and a message
 * makes the round trip; without it (the system's CAs do not know a
 * self-signed certificate) it never connects.
 */
static void
test_tls(void)
{
	struct hbt_broker tb;
	struct event_base *base = event_base_new();
	struct state st = { 0 }, st2 = { 0 };
	char cert[600], key[600], conf[1600], extra[800];
	int tls_port = hbt_free_port();
	struct hb_bus *bus, *blind;
	struct hbt_mqtt *peer;

	hbt_make_cert("broker", cert, key);
	snprintf(conf, sizeof(conf), "listener %d 127.0.0.1\ncertfile %s\n"
	    "keyfile %s\n", tls_port, cert, key);
	HBT_REQUIRE(hbt_broker_start(&tb, conf) == 0, "a broker with TLS starts");
	snprintf(extra, sizeof(extra), ", \"tls\": true, \"ca_file\": \"%s\"",
	    cert);
	bus = make_bus_with(base, tls_port, &st, extra);
	hb_bus_subscribe(bus, "tls/#", 1, on_message, &st);
	HBT_CHECK(SPIN_UNTIL(base, st.connects == 1, 10000), "connected over TLS");
	spin(base, 300);
	peer = hbt_mqtt_connect(tb.port, "peer-tls");
	HBT_REQUIRE(peer != NULL, "peer connects (plain listener)");
	hbt_mqtt_publish(peer, "tls/a", "secret", 6, 1, false);
	HBT_CHECK(SPIN_UNTIL(base, st.received == 1, 5000) &&
	    strcmp(st.last_payload, "secret") == 0, "a message over TLS");
	hbt_mqtt_close(peer);
	hb_bus_free(bus);

	blind = make_bus_with(base, tls_port, &st2, ", \"tls\": true");
	spin(base, 1500);
	HBT_CHECK(st2.connects == 0, "without the CA: not connected");
	hb_bus_free(blind);
	hbt_broker_stop(&tb);
	event_base_free(base);
}

/*
 * hb_bus_hold: messages that arrive during a hold wait in the mailbox, in
 * order, and are all handed over when it ends or on hb_bus_take().
 */
static void
test_hold(struct hbt_broker *broker)
{
	struct event_base *base = event_base_new();
	struct state st = { 0 };
	struct hb_bus *bus = make_bus(base, broker->port, &st);
	struct hbt_mqtt *peer = hbt_mqtt_connect(broker->port, "peer-hold");
	char payload[16];

	HBT_REQUIRE(peer != NULL, "peer connects");
	hb_bus_subscribe(bus, "h/#", 1, on_message, &st);
	HBT_REQUIRE(SPIN_UNTIL(base, st.connects == 1, 10000), "bus connects");
	spin(base, 200);

	hb_bus_hold(bus, 1500);
	for (int i = 0; i < 5; i++) {
		snprintf(payload, sizeof(payload), "m%d", i);
		hbt_mqtt_publish(peer, "h/a", payload, strlen(payload), 1, false);
	}
	spin(base, 700);
	HBT_CHECK(st.received == 0, "held: nothing handed over yet (%d)", st.received);
	HBT_CHECK(SPIN_UNTIL(base, st.received == 5, 3000) &&
	    strcmp(st.last_payload, "m4") == 0, "the hold ended: all 5, in order "
	    "(%d, last %s)", st.received, st.last_payload);

	hb_bus_hold(bus, 60000);
	hbt_mqtt_publish(peer, "h/a", "late", 4, 1, false);
	spin(base, 500);
	HBT_CHECK(st.received == 5, "held again");
	hb_bus_take(bus);
	HBT_CHECK(st.received == 6 && strcmp(st.last_payload, "late") == 0,
	    "hb_bus_take hands it over at once (%d)", st.received);

	hbt_mqtt_close(peer);
	hb_bus_free(bus);
	event_base_free(base);
}

struct overlap {
	int all, x;
	char rest[64], level[64];
};

static void
on_all(void *arg, const struct hb_bus_msg *msg)
{
	struct overlap *o = arg;

	o->all++;
	snprintf(o->rest, sizeof(o->rest), "%s", msg->rest);
}

static void
on_x(void *arg, const struct hb_bus_msg *msg)
{
	struct overlap *o = arg;

	o->x++;
	hb_bus_msg_level(msg, 0, o->level, sizeof(o->level));
}

/*
 * Two subscriptions whose filters overlap: a message matching both reaches
 * each callback once, one matching only the first reaches only it, and the
 * callbacks see the '+' levels and what '#' stood for.
 */
static void
test_overlap(struct hbt_broker *broker)
{
	struct event_base *base = event_base_new();
	struct state st = { 0 };
	struct overlap o = { 0 };
	struct hb_bus *bus = make_bus(base, broker->port, &st);
	struct hbt_mqtt *peer = hbt_mqtt_connect(broker->port, "peer-overlap");

	HBT_REQUIRE(peer != NULL, "peer connects");
	HBT_CHECK(hb_bus_subscribe(bus, "o/#", 1, on_all, &o) == 0, "o/#");
	HBT_CHECK(hb_bus_subscribe(bus, "o/+/x", 0, on_x, &o) == 0, "o/+/x");
	HBT_CHECK(hb_bus_subscribe(bus, "o/+/#/y", 0, on_x, &o) != 0,
	    "an invalid filter is refused");
	HBT_REQUIRE(SPIN_UNTIL(base, st.connects == 1, 10000), "bus connects");
	spin(base, 300);

	hbt_mqtt_publish(peer, "o/kitchen/x", "1", 1, 1, false);
	HBT_CHECK(SPIN_UNTIL(base, o.all == 1 && o.x == 1, 5000),
	    "a message on both filters reached both callbacks (all=%d x=%d)",
	    o.all, o.x);
	HBT_CHECK(strcmp(o.level, "kitchen") == 0, "the '+' level: %s", o.level);
	HBT_CHECK(strcmp(o.rest, "kitchen/x") == 0, "what '#' matched: %s", o.rest);
	hbt_mqtt_publish(peer, "o/hall/z", "2", 1, 1, false);
	HBT_CHECK(SPIN_UNTIL(base, o.all == 2, 5000), "o/hall/z reached o/#");
	spin(base, 300);
	HBT_CHECK(o.all == 2 && o.x == 1, "and only o/# (all=%d x=%d)", o.all, o.x);
	HBT_CHECK(st.received == 0, "nothing went elsewhere");

	hbt_mqtt_close(peer);
	hb_bus_free(bus);
	event_base_free(base);
}

static void
test_round_trip_and_restart(struct hbt_broker *broker)
{
	struct event_base *base = event_base_new();
	struct state st = { 0 };
	struct hb_bus *bus = make_bus(base, broker->port, &st);
	struct hbt_mqtt *peer = hbt_mqtt_connect(broker->port, "peer");
	struct hbt_mqtt_msg *m;

	HBT_REQUIRE(peer != NULL, "peer connects");
	HBT_REQUIRE(hbt_mqtt_subscribe(peer, "homebus/#", 1) == 0, "peer subscribes");
	hb_bus_subscribe(bus, "t/#", 1, on_message, &st);
	HBT_REQUIRE(SPIN_UNTIL(base, st.connects == 1, 10000), "bus connects");
	spin(base, 200);	/* let the SUBSCRIBE reach the broker */

	/* peer -> broker -> bus */
	hbt_mqtt_publish(peer, "t/a", "hello", 5, 1, false);
	HBT_CHECK(SPIN_UNTIL(base, st.received == 1, 5000), "bus received the message");
	HBT_CHECK(strcmp(st.last_topic, "t/a") == 0 && strcmp(st.last_payload, "hello") == 0,
	    "topic=%s payload=%s", st.last_topic, st.last_payload);

	/* bus -> broker -> peer */
	hb_bus_publish(bus, "homebus/x", "from-bus", 8, 1, false);
	spin(base, 50);
	m = hbt_mqtt_wait(peer, "homebus/x", "from-bus", 5000);
	HBT_CHECK(m != NULL, "peer received the bus's message");
	hbt_mqtt_msg_free(m);

	/* retained online status and a heartbeat with process facts */
	m = hbt_mqtt_wait(peer, "homebus/svc/test/t1/status", "online", 5000);
	HBT_CHECK(m != NULL, "status online");
	hbt_mqtt_msg_free(m);
	SPIN_UNTIL(base, hbt_mqtt_count(peer, "homebus/svc/test/t1/heartbeat") > 0, 3000);
	m = hbt_mqtt_wait(peer, "homebus/svc/test/t1/heartbeat", "\"rss_kb\"", 3000);
	HBT_CHECK(m && strstr(m->payload, "\"uptime_s\"") && strstr(m->payload, "\"pid\""),
	    "heartbeat: %s", m ? m->payload : "(none)");
	hbt_mqtt_msg_free(m);
	hbt_mqtt_close(peer);

	/* the broker restarts: the bus notices, reconnects, re-subscribes */
	hbt_broker_stop(broker);
	HBT_CHECK(SPIN_UNTIL(base, st.disconnects == 1, 10000), "bus saw the broker go");
	hb_bus_publish(bus, "homebus/queued", "while-away", 10, 1, false);
	spin(base, 1000);
	HBT_REQUIRE(hbt_broker_restart(broker) == 0, "broker restarts");
	peer = hbt_mqtt_connect(broker->port, "peer2");
	HBT_REQUIRE(peer != NULL, "peer reconnects");
	hbt_mqtt_subscribe(peer, "homebus/#", 1);
	HBT_CHECK(SPIN_UNTIL(base, st.connects == 2, 15000), "bus reconnected by itself");
	spin(base, 300);
	m = hbt_mqtt_wait(peer, "homebus/queued", "while-away", 5000);
	HBT_CHECK(m != NULL, "a publish made while the broker was away arrives afterwards");
	hbt_mqtt_msg_free(m);
	hbt_mqtt_publish(peer, "t/b", "again", 5, 1, false);
	HBT_CHECK(SPIN_UNTIL(base, st.received == 2, 5000) &&
	    strcmp(st.last_topic, "t/b") == 0, "re-subscribed after the restart");

	hbt_mqtt_close(peer);
	hb_bus_free(bus);
	event_base_free(base);
}

/* The process's TCP sockets to port, and how many of them send at once. */
static void
sockets_to(int port, int *n, int *nodelay)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;

	*n = *nodelay = 0;
	HBT_REQUIRE(d != NULL, "/proc/self/fd");
	while ((e = readdir(d)) != NULL) {
		struct sockaddr_in peer;
		socklen_t plen = sizeof(peer), olen = sizeof(int);
		int fd = atoi(e->d_name), on = 0;

		if (fd <= 2 || getpeername(fd, (struct sockaddr *)&peer, &plen) != 0 ||
		    peer.sin_family != AF_INET || ntohs(peer.sin_port) != port)
			continue;
		(*n)++;
		if (getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, &olen) == 0 && on)
			(*nodelay)++;
	}
	closedir(d);
}

/*
 * Nothing waits inside paho. Its socket to the broker sends at once
 * (TCP_NODELAY), so a publish right after the PUBACK of a QoS 1 message is
 * not held back until the broker's kernel acknowledges the PUBACK; and
 * paho's receive thread sleeps through the bus's usleep, whose 100 ms
 * after a second of polling is 1 ms.
 */
static void
test_no_waits(struct hbt_broker *broker)
{
	struct event_base *base = event_base_new();
	struct state st = { 0 };
	struct hb_bus *bus = make_bus(base, broker->port, &st);
	Dl_info in_usleep = { 0 }, in_bus = { 0 };
	int n, nodelay;

	HBT_REQUIRE(SPIN_UNTIL(base, st.connects == 1, 10000), "connected");
	sockets_to(broker->port, &n, &nodelay);
	HBT_CHECK(n == 1 && nodelay == 1, "the socket to the broker sends at once "
	    "(%d of %d with TCP_NODELAY)", nodelay, n);
	HBT_CHECK(dladdr(dlsym(RTLD_DEFAULT, "usleep"), &in_usleep) != 0 &&
	    dladdr((void *)sockets_to, &in_bus) != 0 &&
	    in_usleep.dli_fbase == in_bus.dli_fbase,
	    "paho's usleep is the bus's, not libc's (%s)", in_usleep.dli_fname);
	HBT_CHECK(bus__paho_sleep_us(true, 100000, 1000) == 1000,
	    "after a second of polling, paho's receive thread sleeps 1 ms");
	HBT_CHECK(bus__paho_sleep_us(true, 100000, 3) == 100000,
	    "back-to-back sleeps (nothing to poll) are taken in full");
	HBT_CHECK(bus__paho_sleep_us(false, 100000, 1000) == 100000 &&
	    bus__paho_sleep_us(true, 250000, 1000) == 250000,
	    "any other sleep is as asked");
	hb_bus_free(bus);
	event_base_free(base);
}

static void
test_last_will(struct hbt_broker *broker)
{
	struct hbt_service w;
	struct hbt_mqtt *peer;
	struct hbt_mqtt_msg *m;
	char cfg[512];
	int http = hbt_free_port();

	snprintf(cfg, sizeof(cfg), "{\"data_dir\": \"%s/w\", \"bus\": {\"port\": %d, "
	    "\"instance\": \"lw\", \"client_id\": \"lw-writer\"}, \"writer\": "
	    "{\"http_port\": %d, \"influx\": {\"url\": \"http://127.0.0.1:%d\"}}}",
	    hbt_dir(), broker->port, http, hbt_free_port());
	HBT_REQUIRE(hbt_service_start(&w, "writer", "writer-lw", cfg, http) == 0,
	    "writer starts");
	peer = hbt_mqtt_connect(broker->port, "peer-lw");
	HBT_REQUIRE(peer != NULL, "peer");
	hbt_mqtt_subscribe(peer, "homebus/svc/writer/lw/status", 1);
	m = hbt_mqtt_wait(peer, "homebus/svc/writer/lw/status", "online", 10000);
	HBT_CHECK(m != NULL, "writer announced itself online");
	hbt_mqtt_msg_free(m);

	hbt_proc_stop(&w.proc, SIGKILL, 5000);
	m = hbt_mqtt_wait(peer, "homebus/svc/writer/lw/status", "offline", 10000);
	HBT_CHECK(m != NULL, "the last will marked the killed writer offline");
	hbt_mqtt_msg_free(m);
	hbt_mqtt_close(peer);

	/* and it is retained for whoever looks later */
	peer = hbt_mqtt_connect(broker->port, "peer-lw2");
	hbt_mqtt_subscribe(peer, "homebus/svc/writer/lw/status", 1);
	m = hbt_mqtt_wait(peer, "homebus/svc/writer/lw/status", "offline", 5000);
	HBT_CHECK(m != NULL && m->retained, "offline is retained");
	hbt_mqtt_msg_free(m);
	hbt_mqtt_close(peer);
}

int
main(void)
{
	struct hbt_broker broker;

	hbt_init("bus");
	hb_log_setup("test", HB_LOG_INFO, HB_LOG_TEXT, NULL);
	HBT_REQUIRE(hbt_broker_start(&broker, NULL) == 0, "mosquitto starts");
	test_no_waits(&broker);
	test_round_trip_and_restart(&broker);
	test_last_will(&broker);
	test_hold(&broker);
	test_overlap(&broker);
	test_tls();
	hbt_exit();
}
