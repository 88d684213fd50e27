/*
 * bench_common: what the benchmark tools share — the result table with
 * ratios against ceilings, process CPU/memory readings, the load generator
 * (bench_loadgen, a process of its own) and the bus ceiling (what mosquitto
 * delivers to a counting subscriber in a process of its own).
 */
#ifndef BENCH_COMMON_H
#define BENCH_COMMON_H

#include "hbt.h"

#include <stdbool.h>
#include <sys/types.h>

/* ---- the table ---- */

/* Adds a row (logged at once); ceiling 0: no ratio. */
void hbb_row(const char *name, double value, const char *unit, double ceiling,
    const char *note);
/* Prints every row as a Markdown table, with the ratio to its ceiling. */
void hbb_print(long n);
/* --only: true when a step's name contains the filter (or there is none). */
void hbb_only(const char *filter);
bool hbb_want(const char *step);

/* ---- a process's cost ---- */

struct hbb_stats {
	long rss_kb;
	long hwm_kb;
	long anon_kb;	/* RssAnon: heap and stacks, no shared library pages */
	long pss_kb;	/* shared pages divided among the processes sharing them */
	double cpu_s;
};

/* Reads /proc; also keeps the largest RssAnon seen (hbb_peak_anon_kb). */
void hbb_stats(pid_t pid, struct hbb_stats *ps);
long hbb_peak_anon_kb(void);
void hbb_reset_peak(void);

/* ---- load ---- */

/*
 * Starts bench_loadgen: n points, `lines` per message, on topic; format
 * "lp" (line protocol of measurement meas) or "z2m" (a zigbee2mqtt JSON
 * object a message). One connection; at QoS 1 a window of 1,000
 * unacknowledged messages, waited for without paho's 100 ms sleep (see
 * loadgen.c), so that the generator is not what limits a run. The ceilings
 * and the services' runs use the same settings.
 */
void hbb_loadgen(struct hbt_proc *p, int port, const char *topic,
    const char *meas, const char *format, int qos, int lines, long n);
/* The same at rate messages/s (0: as fast as the broker takes them). */
void hbb_loadgen_rate(struct hbt_proc *p, int port, const char *topic,
    const char *meas, const char *format, int qos, int lines, long n,
    double rate);

/*
 * Messages/s that mosquitto delivers from bench_loadgen (format as
 * hbb_loadgen's, one line a message) to a subscriber in a process of its
 * own (persistent MQTT v5 session, like the services'); cpu_s (may be
 * NULL): the CPU seconds that subscriber spent on them.
 */
double hbb_bus_ceiling(int port, int qos, const char *format, long n,
    double *cpu_s);

/*
 * The counting subscriber on its own: a bare paho MQTTAsync client in a
 * process of its own, subscribed to topic. Its CPU is the floor of any
 * paho subscriber's (the services' included) for the same messages.
 */
void hbb_counter_start(struct hbt_proc *child, int port, int qos,
    const char *topic);
long hbb_counter_count(void);
void hbb_counter_stop(struct hbt_proc *child);

/*
 * CPU per message against the floor, side by side: n messages at rate/s
 * from bench_loadgen (at qos; format as hbb_loadgen's) on topic, taken at the same time by the service (pid,
 * subscribed to topic) and by the bare paho subscriber, so that both see
 * the same messages at the same moments on the same loaded machine.
 * *svc_cpu and *floor_cpu: the CPU seconds each spent meanwhile.
 */
void hbb_side_by_side(int port, const char *topic, const char *format,
    int qos, pid_t svc, long n, double rate, double *svc_cpu,
    double *floor_cpu);

/*
 * The floor of publishing: a bare paho MQTTAsync client (MQTT v5, in a
 * process of its own) publishes packs messages of `lines` lines of line
 * protocol each at QoS 1, evenly over ms milliseconds, to a topic nobody
 * takes, and waits for every PUBACK. Returns the CPU seconds it spent (not
 * counting its connect).
 */
double hbb_publish_floor(int port, long packs, int lines, int64_t ms);

/* ---- latency: published -> queryable in InfluxDB ---- */

struct hbb_latency {
	/* settings */
	char topic[128];	/* where the points are published */
	const char *meas;	/* the measurement counted in database homebus */
	/* how many have landed; empty: SELECT count(seq) FROM <meas> */
	char query[200];
	double rate;		/* messages/s */
	long n;
	int qos;		/* the publisher's QoS */
	double offset_s;	/* beside other streams: when in each period */
	/* writes message seq into out (appended) */
	void (*payload)(struct hb_buf *out, const char *meas, long seq, void *arg);
	void *arg;
	/* the process whose CPU is measured (the service) */
	pid_t pid;
	/* results */
	double p50, p90, p99, max;	/* ms */
	long seen;
	double cpu_s;
};

/*
 * Publishes l->n messages at l->rate/s (at l->qos, never waiting for an
 * acknowledgement) and polls InfluxDB for the count every 2 ms (1 ms from
 * 100/s); a message is queryable no later than the first poll that counts
 * it.
 */
void hbb_latency(struct hbt_broker *b, struct hbt_influx *ix,
    struct hbb_latency *l);

/*
 * The same for several streams at once, each at its offset within the
 * period, all at streams[0].rate and .n. With traffic, a house's other
 * traffic goes on the bus meanwhile: every second a line-protocol point
 * of another measurement straight to homebus/points/lat_other (QoS 1) and
 * a reading of a second device on zigbee2mqtt/lat-other (at streams[0]'s
 * QoS), half and three quarters of a second after streams[0]'s reading,
 * and a service's heartbeat every 5 s (six services at the default 30 s).
 */
void hbb_latency_streams(struct hbt_broker *b, struct hbt_influx *ix,
    struct hbb_latency *streams, size_t n, bool traffic);

/*
 * The floor of publish -> queryable: a bare client (a plain MQTT 3.1.1
 * socket in a process of its own, no library loop) subscribed to topic at
 * QoS 1 that POSTs each message's payload to InfluxDB's /write (database
 * homebus) the moment it arrives, on one kept-alive connection.
 */
void hbb_floor_start(struct hbt_proc *child, int port, const char *topic,
    const char *influx_url);

/*
 * Call first in main: when the tool was started as the counting subscriber
 * (argv "--counter ..."), runs it and never returns.
 */
void hbb_main(int argc, char **argv);

#endif
