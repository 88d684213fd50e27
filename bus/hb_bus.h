/*
 * hb_bus: the MQTT v5 client every service uses, on paho MQTTAsync.
 *
 * paho calls back on its own threads; hb_bus copies what arrives into a
 * mailbox (mutex + queue, bounded in bytes) and wakes the service's libevent
 * loop through an eventfd. Service code only ever runs on the loop thread.
 * The bus reconnects by itself with backoff and jitter, re-subscribes on
 * every connect, keeps a retained "online"/"offline" status (the last will)
 * on P/svc/<service>/<instance>/status and publishes a heartbeat.
 */
#ifndef HB_BUS_H
#define HB_BUS_H

#include <event2/event.h>
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "hb_config.h"
#include "hb_metrics.h"
#include "hb_topic.h"

struct hb_bus;

struct hb_bus_config {
	char host[256];
	int port;
	bool tls;
	char *ca_file;		/* owned */
	char *username;		/* owned */
	char *password;		/* owned, from password_file / env */
	char prefix[64];
	char client_id[128];
	/*
	 * The default id before ids carried an HMAC ("homebus-<service>-<host>")
	 * when client_id is the HMAC default and differs from it, else "": the
	 * bus ends that id's session (hb_bus_legacy.c).
	 */
	char old_client_id[128];
	char instance[64];
	int keepalive_s;
	int heartbeat_s;
	int session_expiry_s;	/* for persistent sessions */
	int queue_max;		/* publishes buffered while disconnected */
	int reconnect_min_ms;
	int reconnect_max_ms;
	size_t mailbox_max_bytes;
	int coalesce_us;	/* -1: the service's default (hb_bus_opts) */
};

/*
 * Reads the bus section; errors go to cfg. `service` names the defaults.
 * The default client id is hb_bus_client_id("homebus-<service>-<hostname>",
 * bus.password): a session no other account can take over; an explicit
 * bus.client_id is used as it is.
 */
void hb_bus_config_read(struct hb_bus_config *bc, struct hb_config *cfg,
    const char *service, const char *hostname);
void hb_bus_config_free(struct hb_bus_config *bc);

/* Bytes of the HMAC in a client id: 128 bits, 32 hex digits. */
#define HB_BUS_ID_TAG_BYTES 16

/*
 * A client id that only the holder of password can know, so that no other
 * account can take over its session (mosquitto lets any user connect with
 * any client id): "<base>-<HMAC-SHA256(password, base), its first
 * HB_BUS_ID_TAG_BYTES in hex>", base cut to fit outlen (at least 64).
 * Without a password (NULL or ""), base itself. The same base and password
 * always give the same id, so a persistent session survives restarts.
 */
void hb_bus_client_id(char *out, size_t outlen, const char *base,
    const char *password);

/*
 * A message as a subscription's callback sees it. Everything points into
 * the bus's copy and lives until the callback returns.
 */
struct hb_bus_msg {
	const char *topic;
	const char *payload;	/* NUL-terminated copy; len excludes the NUL */
	size_t len;
	int qos;
	bool retained;
	/* the topic levels each '+' of the subscription's filter matched,
	 * in order (not NUL-terminated: levellen[i] bytes) */
	const char *levels[HB_TOPIC_MAX_LEVELS];
	size_t levellen[HB_TOPIC_MAX_LEVELS];
	size_t nlevels;
	/* what a final '#' matched ("" when the filter has none) */
	const char *rest;
};

/*
 * Copies the i-th captured level of msg into out as a string. Returns 0, or
 * -1 (out is "") when there is no such level or it does not fit.
 */
int hb_bus_msg_level(const struct hb_bus_msg *msg, size_t i, char *out,
    size_t n);

typedef void (*hb_bus_message_fn)(void *arg, const struct hb_bus_msg *msg);
typedef void (*hb_bus_connection_fn)(void *arg, bool connected);
/* Adds the service's own counters to the heartbeat object. */
typedef void (*hb_bus_heartbeat_fn)(void *arg, json_t *hb);
typedef void (*hb_bus_done_fn)(void *arg);

struct hb_bus_opts {
	const char *service;		/* "writer": topics and default client id */
	bool persistent;		/* clean start off, session expiry on */
	int receive_max;		/* QoS 1 messages in flight to us; 0: 1000 */
	/*
	 * Microseconds to wait after a wake-up before taking the mailbox, so
	 * that a busy stream is handed over in batches (0: at once). A latency
	 * bound, not a timer a lone message waits for beyond it.
	 */
	int coalesce_us;
	/*
	 * For QoS 1 publishes that must reach a subscriber (points): when the
	 * broker answers "no matching subscribers" (after a broker restart
	 * mosquitto 2.0 has forgotten shared subscriptions until the writers
	 * re-subscribe) or the publish fails, send it again every 0.5 s for
	 * up to this many seconds, then drop and count it. 0: off.
	 */
	int retry_unrouted_s;
	/*
	 * The service publishes what it makes of the messages it takes
	 * (ingest): on shutdown the bus stops taking messages before it
	 * disconnects, so that nothing taken is made into a publish too late
	 * to be sent. Without it (the writer, which spools what it takes),
	 * messages are taken until the connection is closed.
	 */
	bool republish;
	/*
	 * Not a service but a person's tool (the CLI): no retained status, no
	 * last will, no heartbeat, so that nobody watches it come and go.
	 */
	bool client;
	hb_bus_connection_fn on_connection;	/* may be NULL */
	/*
	 * A connection attempt failed (before the retry with backoff): code is
	 * the MQTT reason code (0x86 bad user name or password, 0x87 not
	 * authorised, ...) or paho's negative error. May be NULL.
	 */
	void (*on_connect_failed)(void *arg, int code, const char *reason);
	/*
	 * A QoS 1 publish the broker refused (0x87 not authorised by its ACL,
	 * ...) or paho could not complete. May be NULL.
	 */
	void (*on_publish_failed)(void *arg, int code, const char *reason);
	/*
	 * Every publish handed to the bus has left it and, at QoS 1, been
	 * acknowledged (hb_bus_inflight() is 0): a service that gathers what
	 * it publishes while something is in flight (ingest's packs) sends it
	 * now. May be NULL.
	 */
	void (*on_idle)(void *arg);
	hb_bus_heartbeat_fn on_heartbeat;	/* may be NULL */
	void *arg;
};

/*
 * Creates the client and starts connecting. Returns NULL with a message in
 * err if paho refuses the options. The configuration is copied; metrics is
 * borrowed (may be NULL).
 */
struct hb_bus *hb_bus_new(struct event_base *base, const struct hb_bus_config *bc,
    const struct hb_bus_opts *opts, struct hb_metrics *metrics, char *err,
    size_t errlen);
/* Stops the client at once (no offline status). Use hb_bus_shutdown first. */
void hb_bus_free(struct hb_bus *bus);

#define HB_BUS_MAX_SUBS 256

/*
 * Subscribes now if connected and again on every connect; what arrives on
 * this subscription is handed to fn(arg, msg) on the loop thread. A shared
 * subscription is written "$share/<group>/<filter>" (hb_topic_share).
 * Overlapping filters each get their own copy from the broker, each to its
 * own callback (MQTT v5 subscription identifiers). 0, or -1 if invalid.
 */
int hb_bus_subscribe(struct hb_bus *bus, const char *filter, int qos,
    hb_bus_message_fn fn, void *arg);

/*
 * The service needs no message for the next ms milliseconds (the writer
 * gathering a batch): until then messages wait in the mailbox without waking
 * the loop, a thread wake-up less per message on a steady stream. They are
 * handed over when the hold ends, on hb_bus_take(), or at once when the
 * mailbox is half full.
 */
void hb_bus_hold(struct hb_bus *bus, int ms);
/* Ends a hold: hands over, now, whatever waits in the mailbox. */
void hb_bus_take(struct hb_bus *bus);

/*
 * Publishes (or queues while disconnected). Returns 0 if accepted, -1 if
 * refused (queue full, invalid topic); refusals are counted in metrics.
 */
int hb_bus_publish(struct hb_bus *bus, const char *topic, const void *payload,
    size_t len, int qos, bool retain);
/* Publishes a JSON object (not consumed) compactly. */
int hb_bus_publish_json(struct hb_bus *bus, const char *topic, const json_t *obj,
    int qos, bool retain);

/*
 * Stops taking messages: publishes "offline", disconnects (a persistent
 * session stays at the broker, which queues for us), delivers what is still
 * in the mailbox, then calls done on the loop thread.
 */
void hb_bus_shutdown(struct hb_bus *bus, hb_bus_done_fn done, void *arg);

bool hb_bus_connected(const struct hb_bus *bus);
const char *hb_bus_prefix(const struct hb_bus *bus);
const char *hb_bus_instance(const struct hb_bus *bus);
/* Publishes handed to the bus thread and not yet passed to paho. */
int hb_bus_pending(const struct hb_bus *bus);
/* ... plus the QoS 1 publishes paho sent and the broker has not acknowledged. */
int hb_bus_inflight(const struct hb_bus *bus);
/* Publishes refused since start. */
unsigned long long hb_bus_refused(const struct hb_bus *bus);

#endif
