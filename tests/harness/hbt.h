/*
 * hbt: the test harness. Starts a real mosquitto and a real influxd on free
 * loopback ports with their own temp dirs, starts homebus services as child
 * processes with a generated config, talks MQTT and HTTP to them, and
 * reports checks. Every child it starts is killed when the test exits.
 */
#ifndef HBT_H
#define HBT_H

#include <jansson.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "hb_util.h"

/* ---- checks ---- */

extern int hbt_failures;

#define HBT_CHECK(cond, ...) \
	hbt_check((cond), __FILE__, __LINE__, #cond, __VA_ARGS__)
#define HBT_REQUIRE(cond, ...) do { \
	if (!hbt_check((cond), __FILE__, __LINE__, #cond, __VA_ARGS__)) \
		hbt_exit(); \
} while (0)

bool hbt_check(bool ok, const char *file, int line, const char *expr,
    const char *fmt, ...) __attribute__((format(printf, 5, 6)));
void hbt_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Ends the test: kills children, removes the temp dir if it passed. */
__attribute__((noreturn)) void hbt_exit(void);

/* Sets up the test (name for logs, temp dir, cleanup); call first in main. */
void hbt_init(const char *name);
const char *hbt_dir(void);
/* The folder holding the homebus binaries. */
const char *hbt_bin_dir(void);
void hbt_sleep_ms(int64_t ms);
int hbt_free_port(void);
/* True when something accepts TCP connections on 127.0.0.1:port. */
bool hbt_port_open(int port);
/* Writes text to path (the test fails if it cannot). */
void hbt_write_file(const char *path, const char *text);

/* Polls cond every 50 ms until it holds or timeout_ms passes. */
#define HBT_WAIT(cond, timeout_ms) ({ \
	int64_t _end = hb_mono_ms() + (timeout_ms); bool _ok; \
	while (!(_ok = (cond)) && hb_mono_ms() < _end) hbt_sleep_ms(50); \
	_ok; })

/* ---- child processes ---- */

#define HBT_MAX_ARGS 24

struct hbt_proc {
	pid_t pid;
	char name[64];
	char log[512];
	char args[HBT_MAX_ARGS][256];
	char *argv[HBT_MAX_ARGS + 1];
};

/* Starts argv (NULL-terminated) with output to <dir>/<name>.log. */
int hbt_proc_start(struct hbt_proc *p, const char *name, char *const argv[]);
/* Restarts with the same argv and log (appended). */
int hbt_proc_restart(struct hbt_proc *p);
/* Sends sig and waits up to timeout_ms; returns the exit status or -1. */
int hbt_proc_stop(struct hbt_proc *p, int sig, int64_t timeout_ms);
bool hbt_proc_alive(struct hbt_proc *p);
/* True when the log contains s. */
bool hbt_proc_log_has(const struct hbt_proc *p, const char *s);
/* How many times s is in the log. */
size_t hbt_proc_log_count(const struct hbt_proc *p, const char *s);
/* Runs argv to completion; captures output into out; returns exit code. */
int hbt_run(char *const argv[], struct hb_buf *out, int64_t timeout_ms);
/*
 * homebus-<service> --check-config -c <a file holding json>: its output in
 * out, its exit code returned.
 */
int hbt_check_config(const char *service, const char *json, struct hb_buf *out);
/*
 * A self-signed certificate for 127.0.0.1 (openssl req), its PEM files in
 * the test's directory as <name>-cert.pem and <name>-key.pem; the paths in
 * cert and key (each at least 600 bytes). Ends the test if it cannot.
 */
void hbt_make_cert(const char *name, char *cert, char *key);

/* ---- mosquitto ---- */

struct hbt_broker {
	struct hbt_proc proc;
	int port;
	char dir[512];
};

/* extra: more mosquitto.conf lines (may be NULL). */
int hbt_broker_start(struct hbt_broker *b, const char *extra);
int hbt_broker_restart(struct hbt_broker *b);
void hbt_broker_stop(struct hbt_broker *b);

/* ---- influxd ---- */

struct hbt_influx {
	struct hbt_proc proc;
	int port;
	int rpc_port;
	char dir[512];
	char url[128];
};

/* extra_http: more lines for the [http] section (may be NULL). */
int hbt_influx_start(struct hbt_influx *ix, const char *extra_http);
int hbt_influx_restart(struct hbt_influx *ix);
void hbt_influx_kill(struct hbt_influx *ix);
/* Runs an InfluxQL query; returns the parsed answer (decref it) or NULL. */
json_t *hbt_influx_query(struct hbt_influx *ix, const char *db, const char *q);
int hbt_influx_create_db(struct hbt_influx *ix, const char *db);
/* First value of the first series of a one-number query, or -1. */
long long hbt_influx_number(struct hbt_influx *ix, const char *db, const char *q);
/* Rows of the first series (borrowed from *root, which the caller decrefs). */
json_t *hbt_influx_rows(struct hbt_influx *ix, const char *db, const char *q,
    json_t **root);

/* ---- HTTP ---- */

/* Blocking request for tests. Returns the status (0 on transport error). */
long hbt_http(const char *method, const char *url, const char *body,
    struct hb_buf *out);
/* A GET, with the answer's Content-Type in ctype ("" if none). */
long hbt_http_get(const char *url, struct hb_buf *out, char *ctype,
    size_t ctypelen);

/* ---- MQTT (paho synchronous client, for the test's own view of the bus) ---- */

struct hbt_mqtt_msg {
	char *topic;
	char *payload;
	size_t len;
	bool retained;
	int64_t at_ms;
};

/*
 * Among msgs[0..n), those whose topic matches filter and whose payload
 * contains `contains` (NULL: any). The caller holds whatever guards msgs.
 */
size_t hbt_msgs_count(const struct hbt_mqtt_msg *msgs, size_t n,
    const char *filter, const char *contains);
/*
 * Appends a copy of a received message to msgs (n of cap, grown as
 * needed), stamped now. The caller holds whatever guards msgs.
 */
void hbt_msgs_add(struct hbt_mqtt_msg **msgs, size_t *n, size_t *cap,
    const char *topic, size_t topiclen, const char *payload, size_t len,
    bool retained);

struct hbt_mqtt;

struct hbt_mqtt *hbt_mqtt_connect(int port, const char *client_id);
/*
 * The same with a persistent session (clean session off): the broker keeps
 * its subscriptions and queues QoS 1 messages for it while it reconnects,
 * across a broker restart too. For tests that restart the broker and must
 * not miss what is published meanwhile.
 */
struct hbt_mqtt *hbt_mqtt_connect_persistent(int port, const char *client_id);
void hbt_mqtt_close(struct hbt_mqtt *m);
int hbt_mqtt_subscribe(struct hbt_mqtt *m, const char *filter, int qos);
int hbt_mqtt_publish(struct hbt_mqtt *m, const char *topic, const void *payload,
    size_t len, int qos, bool retained);
/* Messages received so far whose topic matches filter. */
size_t hbt_mqtt_count(struct hbt_mqtt *m, const char *filter);
/* ... and whose payload contains `contains` (NULL: any). */
size_t hbt_mqtt_count_with(struct hbt_mqtt *m, const char *filter,
    const char *contains);
/*
 * The payloads received so far on topics matching filter that contain
 * `contains` (NULL: any), in the order they arrived, as a JSON array of
 * strings (decref it).
 */
json_t *hbt_mqtt_payloads(struct hbt_mqtt *m, const char *filter,
    const char *contains);
/*
 * Waits for a message on a topic matching filter whose payload contains
 * `contains` (NULL: any), among all received so far and those to come;
 * returns a copy (free with hbt_mqtt_msg_free) or NULL.
 */
struct hbt_mqtt_msg *hbt_mqtt_wait(struct hbt_mqtt *m, const char *filter,
    const char *contains, int64_t timeout_ms);
/* The same, for a payload that contains every string of `all` (NULL-terminated). */
struct hbt_mqtt_msg *hbt_mqtt_wait_all(struct hbt_mqtt *m, const char *filter,
    const char *const *all, int64_t timeout_ms);
/*
 * The lines of out that start with '{' (a command's --json output): how
 * many, all parsing as JSON; -1 if one does not.
 */
int hbt_json_lines(const struct hb_buf *out);
/* o[key] if it is a string, else "" (never NULL). */
const char *hbt_json_str(json_t *o, const char *key);
/*
 * A deploy job's state on homebus/deploy/state: the first with job id and,
 * unless phase is NULL, that phase, among all received and those to come;
 * parsed (decref it) or NULL.
 */
json_t *hbt_deploy_state(struct hbt_mqtt *m, const char *id, const char *phase,
    int64_t timeout_ms);
/* The phases job id went through so far, repeats folded: "a,b,c". */
void hbt_deploy_phases(struct hbt_mqtt *m, const char *id, char *out,
    size_t outlen);
/* The nth (0: the first) message received on a topic matching filter (copy) or NULL. */
struct hbt_mqtt_msg *hbt_mqtt_nth(struct hbt_mqtt *m, const char *filter,
    size_t nth);
/* The last message on exactly this topic (copy) or NULL. */
struct hbt_mqtt_msg *hbt_mqtt_last(struct hbt_mqtt *m, const char *topic);
/*
 * Where the first empty message (a cleared retained one) on exactly topic
 * arrived among those received so far (0: the first), or -1: to tell in
 * which order things were cleared.
 */
long hbt_mqtt_index_empty(struct hbt_mqtt *m, const char *topic);
void hbt_mqtt_msg_free(struct hbt_mqtt_msg *msg);
void hbt_mqtt_clear(struct hbt_mqtt *m);

/* ---- a loopback HTTP server on a thread of its own ---- */

/*
 * Answers one request on the server's thread: returns the status to send
 * with `body` (0: never answer, the request hangs until the client gives
 * up). `authorization` is the request's Authorization header or NULL.
 */
typedef int (*hbt_web_fn)(const char *path, const char *authorization,
    struct hb_buf *body, void *arg);

struct hbt_web;

/* Listens on a free loopback port. */
struct hbt_web *hbt_web_start(hbt_web_fn fn, void *arg);
int hbt_web_port(const struct hbt_web *w);
void hbt_web_stop(struct hbt_web *w);

/* ---- load generator ---- */

struct hbt_load {
	/* settings */
	int port;
	char topic[128];
	char measurement[64];
	char gen[32];		/* tag "gen" value, distinguishes generators */
	int qos;
	int lines_per_msg;
	double points_per_s;	/* 0: as fast as the broker takes them */
	long points;		/* total */
	bool explicit_time;	/* stamp points in the generator (ns) */
	/* results */
	atomic_long published;	/* points handed to paho */
	atomic_long acked;	/* points the broker acknowledged */
	atomic_long failed;	/* points whose publish failed */
	atomic_long unrouted;	/* messages waiting to be sent again */
	atomic_long unrouted_total;	/* "no matching subscribers" answers */
	uint8_t *acked_map;	/* per seq */
	int64_t started_ms, finished_ms;
	/* internals */
	void *client;
	void *thread;
	void *priv;
	atomic_bool stop;
};

int hbt_load_start(struct hbt_load *l);
/* Waits until every point is acknowledged or timeout; true if all were. */
bool hbt_load_wait(struct hbt_load *l, int64_t timeout_ms);
void hbt_load_free(struct hbt_load *l);

/*
 * Reads the seq values of the generator's points back from InfluxDB and
 * compares with what the broker acknowledged: missing = acknowledged but
 * absent, dups = rows beyond one per seq.
 */
struct hbt_landed {
	long rows;
	long distinct;
	long missing;
	long dups;
};

void hbt_load_landed(struct hbt_load *l, struct hbt_influx *ix, const char *db,
    struct hbt_landed *out);
/* The same for the seq values read back from any other backend. */
void hbt_load_tally(struct hbt_load *l, const long *seqs, size_t n,
    struct hbt_landed *out);

/* ---- services ---- */

struct hbt_service {
	struct hbt_proc proc;
	char config[512];
	int http_port;
};

/*
 * Writes config_json to <dir>/<name>.json and starts homebus-<service> -c it.
 * name distinguishes several instances of one service.
 */
int hbt_service_start(struct hbt_service *s, const char *service,
    const char *name, const char *config_json, int http_port);
/*
 * A writer's configuration for tests: data_dir <test dir>/<name>, the broker,
 * InfluxDB database "homebus", the given HTTP port, bus client id and instance
 * <name>. The extras are spliced into the writer and bus sections
 * ("\"batch_size\": 100"); either may be NULL.
 */
void hbt_writer_config(struct hb_buf *out, const char *name, int broker_port,
    const char *influx_url, int http_port, const char *writer_extra,
    const char *bus_extra);
/*
 * A health watcher's configuration for tests: data_dir <test dir>/<name>,
 * the broker, bus instance `instance` (client id health-<instance>),
 * heartbeats every second, quick reconnects, the given HTTP port, and
 * health_extra spliced into the health section ("\"interval_s\": 1, ...").
 */
void hbt_health_config(struct hb_buf *out, const char *name, int broker_port,
    const char *instance, int http_port, const char *health_extra);
/*
 * A service that only lives on the bus (homebus-ingest with no sources):
 * instance `instance`, client id <name>, heartbeats every second.
 */
void hbt_bus_service_config(struct hb_buf *out, const char *name,
    int broker_port, const char *instance, int http_port);
/* GET http://127.0.0.1:<port>/metrics and return the value of a series (-1). */
double hbt_metric(int http_port, const char *series);

#endif
