/*
 * hb_bus_internal: what the files of the bus share, and which thread runs
 * what. Not for services: their contract is hb_bus.h.
 *
 * Threads. paho calls messageArrived with its own client mutex held, and our
 * callback may wait there for room in the mailbox (back-pressure). So the
 * loop thread never calls paho itself: publishes, subscriptions, connects
 * and disconnects go through an outbox to one bus worker thread, the only
 * caller of paho after creation. The files split along those lines:
 *
 *	hb_bus_paho.c      paho's threads and the bus worker: the only code
 *	                   that calls paho; it touches only the mailbox, the
 *	                   outbox and the in-flight count
 *	hb_bus_mailbox.c   the mailbox: posted to from any thread, drained on
 *	                   the loop (hold, take, coalescing)
 *	hb_bus.c           the loop thread: connection state, subscriptions,
 *	                   routing, publishing, status and heartbeat
 *	hb_bus_shutdown.c  the loop thread: the drain-then-disconnect sequence
 *	hb_bus_config.c    the bus section of the configuration
 *	hb_bus_legacy.c    a thread of its own with a second paho client: the
 *	                   session of the id before HMAC ids, drained and ended
 */
#ifndef HB_BUS_INTERNAL_H
#define HB_BUS_INTERNAL_H

#include "hb_bus.h"
#include "hb_log.h"
#include "hb_util.h"

#include <MQTTAsync.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/queue.h>

/*
 * On shutdown, how long messages that keep arriving are still taken (and
 * what the service publishes for them still sent) before the bus stops
 * taking them and disconnects.
 */
#define DRAIN_MS 2000

/* After a connection is lost, how long reconnects are tried without backoff. */
#define FAST_RETRY_MS 5000

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
	MAIL_QUIET,		/* shutdown: the outbox or the in-flight count emptied */
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
	int sub_id;		/* CMD_SUBSCRIBE: the subscription identifier, 0 none */
	bool resend;		/* CMD_SUBSCRIBE: replaces one the broker has */
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
 * A subscription: its filter, and who takes what arrives on it. A filter
 * that overlaps another has an identifier (MQTT v5), its index + 1: the
 * broker names it in every message it sends for this subscription, so that
 * overlapping filters still reach the right callback. A filter that
 * overlaps none is subscribed without one (anon): its messages are routed
 * by their topic, and paho copies and frees no property list per message.
 */
struct sub {
	char *filter;
	int qos;
	bool anon;	/* the broker has it without an identifier */
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
	 * QoS 1 publishes not yet acknowledged, which the worker keeps under
	 * the broker's receive maximum: at the maximum, paho 1.3.12's send
	 * thread sleeps up to a second unless another publish wakes it.
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
	int64_t lost_ms;		/* when the connection was lost */
	struct hb_ratelimit connect_log;
	struct event *ev_reconnect;
	struct event *ev_heartbeat;
	struct event *ev_done;
	struct event *ev_quiesce;	/* shutdown: the next deadline */
	int draining;			/* depth of bus__drain() calls */
	int64_t drain_deadline_ms;
	bool disconnect_sent;
	int64_t disconnect_ms;
	/* set by the loop past the drain deadline; read by paho's receive thread */
	atomic_bool input_closed;
	atomic_long dropped_at_close;	/* messages that arrived while closing */
	/* shutting down: the worker and paho's callbacks say when they go quiet */
	atomic_bool quiesce_watch;
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

	struct bus_legacy *legacy;	/* hb_bus_legacy.c; NULL until needed */

	struct hb_counter *m_received;
	struct hb_counter *m_published;
	struct hb_counter *m_refused;
	struct hb_counter *m_connects;
	struct hb_gauge *m_connected;
	struct hb_counter *m_retried;
	struct hb_counter *m_unrouted_dropped;
};

/* hb_bus_paho.c: the outbox (loop thread) and the worker behind it */
struct cmd *bus__cmd_new(enum cmd_kind kind, const char *topic,
    const void *payload, size_t len);
void bus__enqueue(struct hb_bus *bus, struct cmd *c);
/* Creates the paho client and starts the worker. 0, or -1 with err. */
int bus__paho_start(struct hb_bus *bus, char *err, size_t errlen);
/* Stops the worker, then paho; frees what either still held. */
void bus__paho_stop(struct hb_bus *bus);

/*
 * How long paho's usleep(asked_us) sleeps: a 100 ms sleep of its receive
 * thread that comes since_last_ms >= 500 after the previous one ended
 * (the poll before it waited a whole second) is 1 ms; the rest as asked.
 */
int bus__paho_sleep_us(bool receive_thread, unsigned long asked_us,
    int64_t since_last_ms);

/* hb_bus_mailbox.c: any thread may post; the loop drains */
struct mail *bus__mail_new(enum mail_kind kind, const char *a, size_t alen,
    const char *b, size_t blen);
/* hb_bus_paho.c: a message paho handed over, as mail (topic, payload, QoS,
 * retain); pm and topic stay the caller's to free */
struct mail *bus__mail_from_paho(const char *topic, int topiclen,
    const MQTTAsync_message *pm);
void bus__post(struct hb_bus *bus, struct mail *m, bool wait_for_room);
void bus__drain(evutil_socket_t fd, short what, void *arg);
void bus__on_mail(evutil_socket_t fd, short what, void *arg);
void bus__on_hold_end(evutil_socket_t fd, short what, void *arg);

/* hb_bus.c: the loop thread */
void bus__dispatch(struct hb_bus *bus, struct mail *m);
void bus__publish_status(struct hb_bus *bus, const char *status);

/*
 * hb_bus_legacy.c. Loop thread: the broker answered the subscription of
 * filter; once it has answered every subscription (the new session gets
 * what is published from now on), the session of cfg.old_client_id is
 * taken over, what it queued is posted to the mailbox as if the main
 * connection had received it, and the session is ended. Once per bus.
 */
void bus__legacy_subscribed(struct hb_bus *bus, const char *filter);
/* After bus__paho_stop (the mailbox no longer waits for room). */
void bus__legacy_free(struct hb_bus *bus);

/* hb_bus_shutdown.c */
void bus__finish_shutdown(struct hb_bus *bus);
/* Shutting down: something changed; send the DISCONNECT if all is quiet. */
void bus__quiesce(struct hb_bus *bus);
/*
 * Any thread: the outbox or the in-flight count emptied; wakes the loop to
 * look again, while shutting down or for a service's opts.on_idle.
 */
void bus__wake_quiesce(struct hb_bus *bus);

#endif
