/*
 * bench_ingest: zigbee2mqtt-style JSON messages through homebus-ingest and
 * homebus-writer into InfluxDB — messages/s end to end, loss, and what
 * ingest costs (RSS idle and under load, CPU per 100k messages) — measured
 * against the bus ceiling of the same run (what mosquitto delivers to a
 * counting subscriber; the end-to-end path crosses the broker twice).
 * Latency at a quiet house's pace (a reading a second, published ->
 * queryable in InfluxDB), through ingest and the writer, against the writer
 * alone in the same run. CPU at a steady 1,000 messages/s against paho's
 * floor for receiving them and publishing what ingest made of them. A tool
 * that prints a table, not a test.
 *
 *   bench_ingest [-n MESSAGES] [-l READINGS] [--quick] [--only STEP]
 */
#include "bench_common.h"

#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct e2e {
	double msgs_per_s;
	long landed;
	double ingest_cpu_s, writer_cpu_s;
	double packs, points;	/* what ingest published */
	int64_t ms;		/* from the first message to the last point written */
};

/* Publishes n device messages at QoS qos and waits for the writer to have
 * written them all (or for 15 s without progress). */
static void
run(struct hbt_broker *b, struct hbt_influx *ix, struct hbt_service *in,
    struct hbt_service *w, const char *device, int qos, long n, struct e2e *res)
{
	struct hbt_proc gen;
	struct hbb_stats in0, in1, w0, w1;
	char topic[128], q[160];
	double base = hbt_metric(w->http_port, "homebus_writer_points_written_total");
	double m0 = hbt_metric(in->http_port, "homebus_ingest_messages_published_total");
	double p0 = hbt_metric(in->http_port, "homebus_ingest_points_published_total");
	double have = 0, prev = -1;
	int64_t start, last_change;

	snprintf(topic, sizeof(topic), "zigbee2mqtt/%s", device);
	snprintf(q, sizeof(q), "SELECT count(seq) FROM zigbee WHERE device = '%s'",
	    device);
	hbb_stats(in->proc.pid, &in0);
	hbb_stats(w->proc.pid, &w0);
	start = last_change = hb_mono_ms();
	hbb_loadgen(&gen, b->port, topic, "zigbee", "z2m", qos, 1, n);
	for (;;) {
		struct hbb_stats now;

		hbb_stats(in->proc.pid, &now);
		have = hbt_metric(w->http_port, "homebus_writer_points_written_total") - base;
		if (have != prev) {
			prev = have;
			last_change = hb_mono_ms();
		}
		if (have >= (double)n || hb_mono_ms() - last_change > 15000)
			break;
		hbt_sleep_ms(10);
	}
	hbb_stats(in->proc.pid, &in1);
	hbb_stats(w->proc.pid, &w1);
	hbt_proc_stop(&gen, SIGTERM, 5000);
	res->landed = hbt_influx_number(ix, "homebus", q);
	res->msgs_per_s = have * 1000.0 / (double)(last_change - start);
	res->ingest_cpu_s = in1.cpu_s - in0.cpu_s;
	res->writer_cpu_s = w1.cpu_s - w0.cpu_s;
	res->packs = hbt_metric(in->http_port,
	    "homebus_ingest_messages_published_total") - m0;
	res->points = hbt_metric(in->http_port,
	    "homebus_ingest_points_published_total") - p0;
	res->ms = last_change - start;
}

/*
 * Ingest's CPU in a burst against paho's floor: what the bare subscriber
 * spent on the same messages in the ceiling run, plus a bare publisher of
 * as many packs of as many lines over the same time.
 */
static void
burst_floor_row(int port, const char *name, const struct e2e *r,
    double recv_floor, long n)
{
	int lines = r->packs > 0 ? (int)(r->points / r->packs + 0.5) : 1;
	double pub = hbb_publish_floor(port, (long)r->packs, lines, r->ms);
	char note[120];

	snprintf(note, sizeof(note), "floors: receiving %.2f, publishing %.0f "
	    "packs of %d lines %.2f", recv_floor * 1e5 / (double)n, r->packs, lines,
	    pub * 1e5 / (double)n);
	hbb_row(name, r->ingest_cpu_s * 1e5 / (double)n, "s/100k",
	    (recv_floor + pub) * 1e5 / (double)n, note);
}

/* A zigbee2mqtt reading: what a climate sensor sends. */
static void
z2m_reading(struct hb_buf *out, const char *meas, long seq, void *arg)
{
	(void)meas;
	(void)arg;
	hb_buf_printf(out, "{\"temperature\":%.1f,\"humidity\":%.1f,"
	    "\"battery\":97,\"linkquality\":120,\"seq\":%ld}",
	    20.0 + (double)(seq % 50) / 10.0, 40.0 + (double)(seq % 30), seq);
}

static void
lp_reading(struct hb_buf *out, const char *meas, long seq, void *arg)
{
	(void)arg;
	hb_buf_printf(out, "%s,device=lat temperature=21.5,seq=%ldi", meas, seq);
}

/* One latency row: the p99 with the rest of the distribution beside it. */
static void
latency_row(const char *path, int qos, bool traffic, const struct hbb_latency *l)
{
	char name[64], note[80];

	snprintf(name, sizeof(name), "%s, QoS %d, %s: p99", path, qos,
	    traffic ? "busy" : "quiet");
	snprintf(note, sizeof(note), "p50 %.1f, p90 %.1f, max %.1f ms; %ld of %ld",
	    l->p50, l->p90, l->max, l->seen, l->n);
	hbb_row(name, l->p99, "ms", 0, note);
}

/*
 * A reading a second, published -> queryable, with the shipped defaults:
 * through ingest and the writer (a zigbee2mqtt reading) with the floor
 * beside it (a bare client that POSTs each message to InfluxDB at once),
 * then straight to the writer (line protocol on homebus/points/...); at
 * publisher QoS 0 and 1, on a quiet bus and with a house's other traffic
 * (hbb_latency_streams).
 */
static void
latency_rows(struct hbt_broker *b, struct hbt_influx *ix, long n)
{
	struct hbt_proc floor;

	hbb_floor_start(&floor, b->port, "bench/floor", ix->url);
	for (int qos = 0; qos <= 1; qos++) {
		for (int busy = 0; busy <= 1; busy++) {
			struct hbb_latency pair[2] = {
				{ .meas = "zigbee", .rate = 1, .n = n, .qos = qos,
				    .payload = z2m_reading },
				{ .rate = 1, .n = n, .qos = qos, .offset_s = 0.4,
				    .payload = lp_reading },
			};
			struct hbb_latency direct = { .rate = 1, .n = n, .qos = qos,
			    .payload = lp_reading };
			char device[32], meas_floor[32], meas_direct[32];

			snprintf(device, sizeof(device), "lat-q%d-%s", qos,
			    busy ? "busy" : "quiet");
			snprintf(pair[0].topic, sizeof(pair[0].topic),
			    "zigbee2mqtt/%s", device);
			snprintf(pair[0].query, sizeof(pair[0].query), "SELECT "
			    "count(seq) FROM zigbee WHERE device = '%s'", device);
			snprintf(meas_floor, sizeof(meas_floor), "lat_floor_q%d_%d",
			    qos, busy);
			pair[1].meas = meas_floor;
			snprintf(pair[1].topic, sizeof(pair[1].topic), "bench/floor");
			snprintf(meas_direct, sizeof(meas_direct), "lat_direct_q%d_%d",
			    qos, busy);
			direct.meas = meas_direct;
			snprintf(direct.topic, sizeof(direct.topic),
			    "homebus/points/%s", meas_direct);
			hbb_latency_streams(b, ix, pair, 2, busy);
			hbb_latency_streams(b, ix, &direct, 1, busy);
			latency_row("through ingest", qos, busy, &pair[0]);
			latency_row("straight to the writer", qos, busy, &direct);
			latency_row("floor: bare client POSTs", qos, busy, &pair[1]);
		}
	}
	hbt_proc_stop(&floor, SIGKILL, 2000);
}

/*
 * What ingest costs at a steady 1,000 messages/s against the floor of
 * paho: a bare subscriber beside it on the same stream, plus a bare
 * publisher of as many packs of as many lines as ingest published, at
 * QoS 1, over the same time.
 */
/*
 * Back on the bus: the broker stopped, down 1 s, started again; how long
 * after it accepts connections again ingest and the writer are connected
 * (their bus_connected gauges, read every 5 ms). The median of the runs.
 */
static void
wait_back(int in_port, int w_port, double *in_ms, double *w_ms)
{
	int64_t t0 = hb_mono_ms();

	*in_ms = *w_ms = -1;
	while (hb_mono_ms() - t0 < 15000 && (*in_ms < 0 || *w_ms < 0)) {
		if (*in_ms < 0 &&
		    hbt_metric(in_port, "homebus_ingest_bus_connected") == 1)
			*in_ms = (double)(hb_mono_ms() - t0);
		if (*w_ms < 0 &&
		    hbt_metric(w_port, "homebus_writer_bus_connected") == 1)
			*w_ms = (double)(hb_mono_ms() - t0);
		hbt_sleep_ms(5);
	}
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static void
reconnect_rows(struct hbt_broker *b, struct hbt_service *in,
    struct hbt_service *w, int runs)
{
	double back_in[3], back_w[3];
	char note[160];

	for (int i = 0; i < runs; i++) {
		if (i > 0)
			hbt_sleep_ms(6000);	/* past the fast-retry window */
		hbt_broker_stop(b);
		HBT_CHECK(HBT_WAIT(hbt_metric(in->http_port,
		    "homebus_ingest_bus_connected") == 0 && hbt_metric(w->http_port,
		    "homebus_writer_bus_connected") == 0, 10000),
		    "both saw the broker go");
		hbt_sleep_ms(1000);
		HBT_REQUIRE(hbt_broker_restart(b) == 0, "mosquitto back");
		wait_back(in->http_port, w->http_port, &back_in[i], &back_w[i]);
		HBT_CHECK(back_in[i] >= 0 && back_w[i] >= 0, "both back (%g, %g)",
		    back_in[i], back_w[i]);
	}
	qsort(back_in, (size_t)runs, sizeof(double), cmp_double);
	qsort(back_w, (size_t)runs, sizeof(double), cmp_double);
	snprintf(note, sizeof(note), "after the broker, down 1 s, accepts "
	    "again; median of %d (%.0f-%.0f)", runs, back_in[0], back_in[runs - 1]);
	hbb_row("ingest back on the bus after a broker restart",
	    back_in[runs / 2], "ms", 0, note);
	snprintf(note, sizeof(note), "median of %d (%.0f-%.0f)", runs, back_w[0],
	    back_w[runs - 1]);
	hbb_row("writer back on the bus after a broker restart", back_w[runs / 2],
	    "ms", 0, note);
}

static void
steady_rows(struct hbt_broker *b, struct hbt_influx *ix, struct hbt_service *in,
    long n)
{
	double m0 = hbt_metric(in->http_port, "homebus_ingest_messages_published_total");
	double p0 = hbt_metric(in->http_port, "homebus_ingest_points_published_total");
	double cpu, recv_floor, pub_floor, bridge_floor, packs, points;
	int64_t ms = (int64_t)((double)n / 1000.0 * 1000.0);
	struct hbb_latency fast = { .topic = "zigbee2mqtt/lat-1000",
	    .meas = "zigbee", .query = "SELECT count(seq) FROM zigbee WHERE "
	    "device = 'lat-1000'", .rate = 1000, .n = n / 2, .qos = 1,
	    .payload = z2m_reading };
	int lines;
	char note[120];

	hbb_side_by_side(b->port, "zigbee2mqtt/bench-steady", "z2m", 1,
	    in->proc.pid, n, 1000, &cpu, &recv_floor);
	packs = hbt_metric(in->http_port, "homebus_ingest_messages_published_total") - m0;
	points = hbt_metric(in->http_port, "homebus_ingest_points_published_total") - p0;
	lines = packs > 0 ? (int)(points / packs + 0.5) : 1;
	pub_floor = hbb_publish_floor(b->port, (long)packs, lines, ms);
	bridge_floor = hbb_publish_floor(b->port, n, 1, ms);
	hbb_row("bare paho subscriber CPU, same stream", recv_floor * 1e5 /
	    (double)n, "s/100k", 0, "QoS 1, beside ingest: the floor for receiving");
	snprintf(note, sizeof(note), "%.0f packs of %d lines at QoS 1, as ingest "
	    "sent them", packs, lines);
	hbb_row("bare paho publisher CPU, the same packs", pub_floor * 1e5 /
	    (double)n, "s/100k", 0, note);
	hbb_row("bare paho publisher CPU, a message each", bridge_floor * 1e5 /
	    (double)n, "s/100k", 0, "what a one-hop bridge sends on");
	snprintf(note, sizeof(note), "x a bare bridge (receiving + a publish "
	    "each); x %.2f receiving + the same packs", cpu / (recv_floor +
	    pub_floor));
	hbb_row("ingest CPU at a steady 1000 messages/s", cpu * 1e5 / (double)n,
	    "s/100k", (recv_floor + bridge_floor) * 1e5 / (double)n, note);
	/* what the gathering costs a reading at that rate */
	hbb_latency(b, ix, &fast);
	snprintf(note, sizeof(note), "QoS 1; p50 %.1f, p90 %.1f, max %.1f ms; "
	    "%ld of %ld", fast.p50, fast.p90, fast.max, fast.seen, fast.n);
	hbb_row("through ingest at 1000 messages/s: p99", fast.p99, "ms", 0, note);
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "quick", no_argument, NULL, 'q' },
		{ "only", required_argument, NULL, 'o' },
		{ "readings", required_argument, NULL, 'l' }, { NULL, 0, NULL, 0 },
	};
	struct hbt_broker broker;
	struct hbt_influx ix;
	struct hbt_service w, in;
	struct hb_buf cfg = { 0 };
	struct hbb_stats ps;
	struct e2e r;
	long n = 200000, lat_n = 60, steady_n = 10000;
	int c, restarts = 3;
	double idle_pss, bus0, bus1, idle_rss, idle_anon, sub_cpu;
	char note[80];

	hbb_main(argc, argv);
	while ((c = getopt_long(argc, argv, "n:qo:l:", opts, NULL)) != -1) {
		if (c == 'n')
			n = strtol(optarg, NULL, 10);
		else if (c == 'l')
			lat_n = strtol(optarg, NULL, 10);
		else if (c == 'o')
			hbb_only(optarg);
		else if (c == 'q') {
			n = 5000;
			lat_n = 3;
			steady_n = 500;
			restarts = 1;
		}
	}
	hbt_init("bench_ingest");
	HBT_REQUIRE(hbt_broker_start(&broker, NULL) == 0, "mosquitto");
	HBT_REQUIRE(hbt_influx_start(&ix, NULL) == 0, "influxd");
	hbt_influx_create_db(&ix, "homebus");
	/*
	 * One configuration file for both, with the shipped defaults
	 * (deploy/homebus.example.json's): a zigbee2mqtt rule and the rule
	 * that makes every service's heartbeat a point.
	 */
	w.http_port = hbt_free_port();
	in.http_port = hbt_free_port();
	hb_buf_printf(&cfg, "{\"data_dir\": \"%s/stack\", \"log\": {\"format\": "
	    "\"text\"}, \"bus\": {\"port\": %d}, "
	    "\"writer\": {\"http_port\": %d, \"influx\": {\"url\": \"%s\", "
	    "\"db\": \"homebus\"}}, "
	    "\"ingest\": {\"http_port\": %d, \"sources\": [{\"name\": \"z2m\", "
	    "\"topic\": \"zigbee2mqtt/+\", \"format\": \"json\", \"measurement\": "
	    "\"zigbee\", \"tags\": {\"device\": \"{1}\"}, \"exclude\": "
	    "[\"linkquality\"], \"integer_fields\": [\"seq\", \"battery\"]}, "
	    "{\"name\": \"homebus-heartbeat\", \"topic\": \"homebus/svc/+/+/heartbeat\", "
	    "\"format\": \"json\", \"qos\": 0, \"measurement\": \"homebus_service\", "
	    "\"tags\": {\"service\": \"{1}\", \"instance\": \"{2}\"}, \"tag_keys\": "
	    "[\"version\"], \"exclude\": [\"service\", \"instance\", \"pid\", "
	    "\"time\", \"interval_s\"]}]}}",
	    hbt_dir(), broker.port, w.http_port, ix.url, in.http_port);
	HBT_REQUIRE(hbt_service_start(&w, "writer", "writer", cfg.data, w.http_port) == 0,
	    "writer");
	HBT_REQUIRE(hbt_service_start(&in, "ingest", "ingest", cfg.data, in.http_port) ==
	    0, "ingest");
	HBT_WAIT(hbt_metric(w.http_port, "homebus_writer_bus_connected") == 1 &&
	    hbt_metric(in.http_port, "homebus_ingest_bus_connected") == 1, 10000);
	hbt_sleep_ms(2000);
	hbb_stats(in.proc.pid, &ps);
	idle_rss = (double)ps.rss_kb / 1024.0;
	idle_anon = (double)ps.anon_kb / 1024.0;
	idle_pss = (double)ps.pss_kb / 1024.0;
	hbb_reset_peak();

	if (hbb_want("latency")) {
		/* the first point of a series makes InfluxDB create a shard: not
		 * what a reading costs once the house runs */
		hbt_sleep_ms(10);
		latency_rows(&broker, &ix, lat_n);
	}
	if (hbb_want("steady"))
		steady_rows(&broker, &ix, &in, steady_n);
	if (hbb_want("QoS 0")) {
		bus0 = hbb_bus_ceiling(broker.port, 0, "z2m", n, NULL);
		hbb_row("bus ceiling, QoS 0", bus0, "msg/s", 0,
		    "mosquitto -> counting subscriber");
		run(&broker, &ix, &in, &w, "bench-q0", 0, n, &r);
		snprintf(note, sizeof(note), "lost %ld; ingest %.2f, writer %.2f "
		    "CPU-s/100k", n - r.landed, r.ingest_cpu_s * 1e5 / (double)n,
		    r.writer_cpu_s * 1e5 / (double)n);
		hbb_row("z2m JSON, QoS 0 -> ingest -> writer", r.msgs_per_s, "msg/s",
		    bus0, note);
	}
	if (hbb_want("QoS 1")) {
		bus1 = hbb_bus_ceiling(broker.port, 1, "z2m", n, &sub_cpu);
		hbb_row("bus ceiling, QoS 1", bus1, "msg/s", 0,
		    "mosquitto -> counting subscriber");
		run(&broker, &ix, &in, &w, "bench-q1", 1, n, &r);
		snprintf(note, sizeof(note), "lost %ld; ingest %.2f, writer %.2f "
		    "CPU-s/100k", n - r.landed, r.ingest_cpu_s * 1e5 / (double)n,
		    r.writer_cpu_s * 1e5 / (double)n);
		hbb_row("z2m JSON, QoS 1 -> ingest -> writer", r.msgs_per_s, "msg/s",
		    bus1, note);
		burst_floor_row(broker.port, "ingest CPU in the QoS 1 burst", &r,
		    sub_cpu, n);
	}
	if (hbb_want("back on the bus"))
		reconnect_rows(&broker, &in, &w, restarts);

	hbb_stats(in.proc.pid, &ps);
	hbb_row("ingest RSS idle (after start)", idle_rss, "MB", 0,
	    "mostly shared library pages");
	hbb_row("ingest RSS idle, private", idle_anon, "MB", 0,
	    "heap and stacks (RssAnon)");
	hbb_row("ingest PSS idle", idle_pss, "MB", 0,
	    "shared library pages divided among the processes using them");
	hbb_row("ingest peak RSS (VmHWM)", (double)ps.hwm_kb / 1024.0, "MB", 0, NULL);
	hbb_row("ingest peak RssAnon", (double)hbb_peak_anon_kb() / 1024.0, "MB", 0,
	    "sampled every 10 ms under load");
	hbb_print(n);
	hb_buf_free(&cfg);
	hbt_exit();
}
