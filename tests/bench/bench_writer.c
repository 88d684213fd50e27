/*
 * bench_writer: how fast homebus-writer moves points from the bus into
 * InfluxDB, how late they become queryable, and what it costs — measured
 * against the ceilings of the same run: what mosquitto delivers to a counting
 * subscriber (the bus) and what InfluxDB takes when the same lines are posted
 * to /write directly. A tool that prints a table, not a test.
 *
 *   bench_writer [-n POINTS] [--quick]
 */
#include "bench_common.h"

#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <unistd.h>

/* ---- InfluxDB ceiling: the same lines posted to /write directly ---- */

static double
influx_ceiling(struct hbt_influx *ix, long n, int batch)
{
	struct hb_buf body = { 0 };
	char url[256];
	int64_t start = hb_mono_ms(), base = hb_wall_ns();
	long seq = 0;

	snprintf(url, sizeof(url), "%s/write?db=homebus&precision=ns", ix->url);
	while (seq < n) {
		hb_buf_reset(&body);
		for (int i = 0; i < batch && seq < n; i++, seq++)
			hb_buf_printf(&body, "direct,gen=d seq=%ldi,v=%ld.5 %lld\n", seq,
			    seq % 1000, (long long)(base + seq));
		if (hbt_http("POST", url, body.data, NULL) != 204) {
			hbt_log("direct write failed");
			break;
		}
	}
	hb_buf_free(&body);
	return (double)seq * 1000.0 / (double)(hb_mono_ms() - start);
}

/* ---- the writer: publish N points, wait until they are queryable ---- */

struct result {
	double points_per_s;
	long landed;
	long lost;
	double cpu_s;
};

/*
 * Progress is read from the writer's points_written counter (InfluxDB has
 * answered 2xx: the points are queryable), not by counting in InfluxDB, which
 * would cost InfluxDB more CPU than the writes; InfluxDB is counted once at
 * the end to check that nothing is missing.
 */
static void
writer_run(struct hbt_broker *b, struct hbt_influx *ix, pid_t wpid, int http,
    const char *meas, int qos, int lines, long n, struct result *res)
{
	struct hbt_proc gen;
	struct hbb_stats before, after;
	struct hb_buf q = { 0 };
	char topic[128];
	double base = hbt_metric(http, "homebus_writer_points_written_total");
	double have = 0, prev = -1;
	int64_t last_change, start;

	hb_buf_printf(&q, "SELECT count(seq) FROM %s", meas);
	snprintf(topic, sizeof(topic), "homebus/points/%s", meas);
	hbb_stats(wpid, &before);
	start = last_change = hb_mono_ms();
	hbb_loadgen(&gen, b->port, topic, meas, "lp", qos, lines, n);
	for (;;) {
		struct hbb_stats now;

		hbb_stats(wpid, &now);
		have = hbt_metric(http, "homebus_writer_points_written_total") - base;
		if (have != prev) {
			prev = have;
			last_change = hb_mono_ms();
		}
		if (have >= (double)n || hb_mono_ms() - last_change > 15000)
			break;
		hbt_sleep_ms(10);
	}
	hbb_stats(wpid, &after);
	hbt_proc_stop(&gen, SIGTERM, 5000);
	res->landed = hbt_influx_number(ix, "homebus", q.data);
	res->lost = n - res->landed;
	res->points_per_s = have * 1000.0 / (double)(last_change - start);
	res->cpu_s = after.cpu_s - before.cpu_s;
	hb_buf_free(&q);
}

/* ---- latency: publish -> queryable ---- */

static void
lp_point(struct hb_buf *out, const char *meas, long seq, void *arg)
{
	(void)arg;
	hb_buf_printf(out, "%s,gen=l seq=%ldi", meas, seq);
}

static void
latency_run(struct hbt_broker *b, struct hbt_influx *ix, pid_t wpid,
    const char *meas, double rate, long n, double *p50, double *p99)
{
	struct hbb_latency l = { .meas = meas, .rate = rate, .n = n,
	    .payload = lp_point, .pid = wpid };

	snprintf(l.topic, sizeof(l.topic), "homebus/points/%s", meas);
	hbb_latency(b, ix, &l);
	*p50 = l.p50;
	*p99 = l.p99;
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "quick", no_argument, NULL, 'q' },
		{ "only", required_argument, NULL, 'o' }, { NULL, 0, NULL, 0 },
	};
	struct hbt_broker broker;
	struct hbt_influx ix;
	struct hbt_service w;
	struct hb_buf cfg = { 0 };
	struct hbb_stats ps;
	struct result r;
	long n = 200000, lat_slow = 30, lat_fast = 10000;
	int http = hbt_free_port(), c;
	double idle_pss, bus0, bus1, influx, p50, p99, cpu, idle_rss, idle_anon;
	double floor_cpu = 0, sub0_cpu = 0, sub1_cpu = 0;
	char note[160];

	hbb_main(argc, argv);
	while ((c = getopt_long(argc, argv, "n:qo:", opts, NULL)) != -1) {
		if (c == 'n')
			n = strtol(optarg, NULL, 10);
		else if (c == 'o')
			hbb_only(optarg);
		else if (c == 'q') {
			n = 5000;
			lat_slow = 3;
			lat_fast = 500;
		}
	}
	hbt_init("bench_writer");
	HBT_REQUIRE(hbt_broker_start(&broker, NULL) == 0, "mosquitto");
	HBT_REQUIRE(hbt_influx_start(&ix, NULL) == 0, "influxd");
	hbt_influx_create_db(&ix, "homebus");
	hbt_writer_config(&cfg, "writer", broker.port, ix.url, http, NULL, NULL);
	HBT_REQUIRE(hbt_service_start(&w, "writer", "writer", cfg.data, http) == 0,
	    "writer");
	HBT_WAIT(hbt_metric(http, "homebus_writer_bus_connected") == 1, 10000);
	hbt_sleep_ms(2000);
	hbb_stats(w.proc.pid, &ps);
	idle_rss = (double)ps.rss_kb / 1024.0;
	idle_anon = (double)ps.anon_kb / 1024.0;
	idle_pss = (double)ps.pss_kb / 1024.0;
	hbb_reset_peak();

	bus0 = bus1 = influx = 0;
	if (hbb_want("bus ceiling, QoS 0") || hbb_want("QoS 0, 1 line")) {
		bus0 = hbb_bus_ceiling(broker.port, 0, "lp", n, &sub0_cpu);
		snprintf(note, sizeof(note), "mosquitto -> counting subscriber; "
		    "it spent %.2f CPU-s/100k", sub0_cpu * 100000.0 / (double)n);
		hbb_row("bus ceiling, QoS 0, 1 line/msg", bus0, "msg/s", 0, note);
	}
	if (hbb_want("bus ceiling, QoS 1") || hbb_want("QoS 1, 1 line")) {
		bus1 = hbb_bus_ceiling(broker.port, 1, "lp", n, &sub1_cpu);
		snprintf(note, sizeof(note), "mosquitto -> counting subscriber; "
		    "it spent %.2f CPU-s/100k", sub1_cpu * 100000.0 / (double)n);
		hbb_row("bus ceiling, QoS 1, 1 line/msg", bus1, "msg/s", 0, note);
	}
	if (hbb_want("InfluxDB ceiling") || hbb_want("100 lines")) {
		influx = influx_ceiling(&ix, n, 5000);
		hbb_row("InfluxDB ceiling, direct /write", influx, "points/s", 0,
		    "5000 lines per POST");
	}
	if (hbb_want("writer, QoS 0, 1 line")) {
		writer_run(&broker, &ix, w.proc.pid, http, "w_q0_l1", 0, 1, n, &r);
		snprintf(note, sizeof(note), "lost %ld; %.2f CPU-s/100k", r.lost,
		    r.cpu_s * 100000.0 / (double)n);
		hbb_row("writer, QoS 0, 1 line/msg", r.points_per_s, "points/s", bus0, note);
	}
	if (hbb_want("writer, QoS 1, 1 line")) {
		writer_run(&broker, &ix, w.proc.pid, http, "w_q1_l1", 1, 1, n, &r);
		snprintf(note, sizeof(note), "lost %ld; %.2f CPU-s/100k", r.lost,
		    r.cpu_s * 100000.0 / (double)n);
		hbb_row("writer, QoS 1, 1 line/msg", r.points_per_s, "points/s", bus1, note);
	}
	if (hbb_want("writer, QoS 1, 100 lines")) {
		writer_run(&broker, &ix, w.proc.pid, http, "w_q1_l100", 1, 100, n, &r);
		snprintf(note, sizeof(note), "lost %ld; %.2f CPU-s/100k", r.lost,
		    r.cpu_s * 100000.0 / (double)n);
		hbb_row("writer, QoS 1, 100 lines/msg", r.points_per_s, "points/s", influx,
		    note);
	}
	if (hbb_want("latency at 1 point")) {
		latency_run(&broker, &ix, w.proc.pid, "lat1", 1, lat_slow, &p50, &p99);
		hbb_row("latency at 1 point/s, p50", p50, "ms", 0, "publish -> queryable");
	}
	if (hbb_want("latency at 1000")) {
		latency_run(&broker, &ix, w.proc.pid, "lat1000", 1000, lat_fast, &p50,
		    &p99);
		snprintf(note, sizeof(note), "publish -> queryable; p50 %.1f ms", p50);
		hbb_row("latency at 1000 points/s, p99", p99, "ms", 0, note);
	}
	if (hbb_want("steady")) {
		/* the writer and the bare subscriber side by side on one stream */
		hbb_side_by_side(broker.port, "homebus/points/steady", "lp", 0,
		    w.proc.pid, lat_fast, 1000, &cpu, &floor_cpu);
		hbb_row("bare paho subscriber CPU, same stream", floor_cpu * 100000.0 /
		    (double)lat_fast, "s/100k", 0, "beside the writer: the floor");
		hbb_row("writer CPU at a steady 1000 points/s", cpu * 100000.0 /
		    (double)lat_fast, "s/100k", floor_cpu * 100000.0 / (double)lat_fast,
		    "ratio: x the floor");
	}

	hbb_stats(w.proc.pid, &ps);
	hbb_row("writer RSS idle (after start)", idle_rss, "MB", 0,
	    "mostly shared library pages");
	snprintf(note, sizeof(note), "of it heap and stacks (RssAnon)");
	hbb_row("writer RSS idle, private", idle_anon, "MB", 0, note);
	hbb_row("writer PSS idle", idle_pss, "MB", 0,
	    "shared library pages divided among the processes using them");
	hbb_row("writer peak RSS (VmHWM)", (double)ps.hwm_kb / 1024.0, "MB", 0, NULL);
	hbb_row("writer peak RssAnon", (double)hbb_peak_anon_kb() / 1024.0, "MB", 0,
	    "sampled every 10 ms under load");

	hbb_print(n);
	hb_buf_free(&cfg);
	hbt_exit();
}
