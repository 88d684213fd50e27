/*
 * bench_writer: how fast homebus-writer moves points from the bus into
 * InfluxDB, how late they become queryable, and what it costs — measured
 * against the ceilings of the same run: what mosquitto delivers to a counting
 * subscriber (the bus) and what InfluxDB takes when the same lines are posted
 * to /write directly. A tool that prints a table, not a test.
 *
 *   bench_writer [-n POINTS] [--quick]
 */
#include "hbt.h"

#include <MQTTAsync.h>
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <signal.h>
#include <limits.h>
#include <sys/mman.h>
#include <unistd.h>

struct row {
	char name[64];
	double value;
	char unit[24];
	double ceiling;		/* 0: none */
	char note[80];
};

static struct row rows[32];
static size_t nrows;
static const char *only;	/* --only: run the steps whose name contains it */

static bool
want(const char *step)
{
	return only == NULL || strstr(step, only) != NULL;
}

static void
add_row(const char *name, double value, const char *unit, double ceiling,
    const char *note)
{
	struct row *r = &rows[nrows++];

	snprintf(r->name, sizeof(r->name), "%s", name);
	r->value = value;
	snprintf(r->unit, sizeof(r->unit), "%s", unit);
	r->ceiling = ceiling;
	snprintf(r->note, sizeof(r->note), "%s", note ? note : "");
	hbt_log("%-44s %12.1f %-10s %s", name, value, unit, note ? note : "");
}

/* ---- the writer process ---- */

struct proc_stats {
	long rss_kb;
	long hwm_kb;
	long anon_kb;	/* RssAnon: heap and stacks, no shared library pages */
	double cpu_s;
};

static long peak_anon_kb;	/* the largest RssAnon seen while polling */

static void
proc_stats(pid_t pid, struct proc_stats *ps)
{
	char path[64], line[256];
	FILE *f;
	unsigned long ut = 0, st = 0;

	memset(ps, 0, sizeof(*ps));
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	if ((f = fopen(path, "r")) != NULL) {
		while (fgets(line, sizeof(line), f)) {
			if (strncmp(line, "VmRSS:", 6) == 0)
				ps->rss_kb = strtol(line + 6, NULL, 10);
			if (strncmp(line, "VmHWM:", 6) == 0)
				ps->hwm_kb = strtol(line + 6, NULL, 10);
			if (strncmp(line, "RssAnon:", 8) == 0)
				ps->anon_kb = strtol(line + 8, NULL, 10);
		}
		fclose(f);
	}
	if (ps->anon_kb > peak_anon_kb)
		peak_anon_kb = ps->anon_kb;
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if ((f = fopen(path, "r")) != NULL) {
		if (fgets(line, sizeof(line), f)) {
			char *p = strrchr(line, ')');

			/* fields after ")": state(3) ... utime(14) stime(15) */
			if (p && sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u "
			    "%*u %lu %lu", &ut, &st) == 2)
				ps->cpu_s = (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
		}
		fclose(f);
	}
}

/* ---- the publisher: bench_loadgen, a process of its own ---- */

static void
loadgen_start(struct hbt_proc *p, int port, const char *topic, const char *meas,
    int qos, int lines, long n)
{
	char bin[600], sport[16], sq[8], sl[16], sn[32];
	char *argv[] = { bin, "-p", sport, "-q", sq, "-l", sl, "-n", sn, "-m",
	    (char *)meas, "-t", (char *)topic, NULL };

	snprintf(bin, sizeof(bin), "%s/bench_loadgen", hbt_bin_dir());
	snprintf(sport, sizeof(sport), "%d", port);
	snprintf(sq, sizeof(sq), "%d", qos);
	snprintf(sl, sizeof(sl), "%d", lines);
	snprintf(sn, sizeof(sn), "%ld", n);
	HBT_REQUIRE(hbt_proc_start(p, "loadgen", argv) == 0, "loadgen");
}

/* ---- bus ceiling: publisher -> mosquitto -> counting subscriber ---- */

/*
 * The counting subscriber runs in a child process: paho runs one send and
 * one receive thread for all the clients of a process, so a counter in the
 * publisher's process would measure paho's threads, not the broker.
 */
struct counter_shm {
	atomic_long counted;
	atomic_llong last_ms;
	atomic_int ready;
};

static struct counter_shm *shm;
static char self_exe[600];

static struct counter_shm *
map_counter(const char *path, bool create)
{
	int fd = open(path, O_RDWR | (create ? O_CREAT | O_TRUNC : 0), 0600);
	struct counter_shm *m;

	if (fd < 0 || (create && ftruncate(fd, sizeof(*m)) != 0))
		return NULL;
	m = mmap(NULL, sizeof(*m), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	return m == MAP_FAILED ? NULL : m;
}

static int
count_msg(void *ctx, char *topic, int tlen, MQTTAsync_message *m)
{
	(void)ctx;
	(void)tlen;
	atomic_fetch_add(&shm->counted, 1);
	atomic_store(&shm->last_ms, hb_mono_ms());
	MQTTAsync_freeMessage(&m);
	MQTTAsync_free(topic);
	return 1;
}

/* bench_writer --counter PORT QOS FILE: the child's whole life. */
static void
counter_child(int port, int qos, const char *file)
{
	MQTTAsync_createOptions cro = MQTTAsync_createOptions_initializer5;
	MQTTAsync_connectOptions co = MQTTAsync_connectOptions_initializer5;
	MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;
	MQTTProperties props = MQTTProperties_initializer;
	MQTTProperty p = { 0 };
	MQTTAsync sub;
	char uri[64];

	shm = map_counter(file, false);
	if (shm == NULL)
		exit(2);
	/* The same kind of session as the writer's: MQTT v5, persistent (the
	 * broker stores what it queues for it), receive maximum 1000. */
	snprintf(uri, sizeof(uri), "tcp://127.0.0.1:%d", port);
	MQTTAsync_createWithOptions(&sub, uri, qos ? "bench-counter-1" : "bench-counter-0",
	    MQTTCLIENT_PERSISTENCE_NONE, NULL, &cro);
	MQTTAsync_setCallbacks(sub, NULL, NULL, count_msg, NULL);
	co.cleanstart = 0;
	p.identifier = MQTTPROPERTY_CODE_SESSION_EXPIRY_INTERVAL;
	p.value.integer4 = 600;
	MQTTProperties_add(&props, &p);
	p.identifier = MQTTPROPERTY_CODE_RECEIVE_MAXIMUM;
	p.value.integer2 = 1000;
	MQTTProperties_add(&props, &p);
	co.connectProperties = &props;
	MQTTAsync_connect(sub, &co);
	MQTTProperties_free(&props);
	HBT_WAIT(MQTTAsync_isConnected(sub), 5000);
	MQTTAsync_subscribe(sub, "bench/ceiling", qos, &ro);
	hbt_sleep_ms(300);
	atomic_store(&shm->ready, 1);
	for (;;)
		hbt_sleep_ms(1000);	/* killed by the parent */
}

static double
bus_ceiling(int port, int qos, long n)
{
	struct hbt_proc child, gen;
	int64_t start;
	char file[600], sport[16], sqos[8];
	char *argv[] = { "/proc/self/exe", "--counter", sport, sqos, file, NULL };
	double rate;

	snprintf(file, sizeof(file), "%s/counter.shm", hbt_dir());
	snprintf(sport, sizeof(sport), "%d", port);
	snprintf(sqos, sizeof(sqos), "%d", qos);
	shm = map_counter(file, true);
	HBT_REQUIRE(shm != NULL, "counter file");
	argv[0] = self_exe;
	hbt_proc_start(&child, "counter", argv);
	HBT_REQUIRE(HBT_WAIT(atomic_load(&shm->ready) == 1, 10000), "counter ready");

	start = hb_mono_ms();
	loadgen_start(&gen, port, "bench/ceiling", "ceiling", qos, 1, n);
	HBT_WAIT(atomic_load(&shm->counted) >= n, 120000);
	/* stragglers: wait until nothing arrives for 1 s */
	HBT_WAIT(hb_mono_ms() - atomic_load(&shm->last_ms) > 1000, 10000);
	rate = (double)atomic_load(&shm->counted) * 1000.0 /
	    (double)(atomic_load(&shm->last_ms) - start);
	hbt_proc_stop(&gen, SIGTERM, 5000);
	hbt_proc_stop(&child, SIGKILL, 2000);
	munmap(shm, sizeof(*shm));
	return rate;
}

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
	struct proc_stats before, after;
	struct hb_buf q = { 0 };
	char topic[128];
	double base = hbt_metric(http, "homebus_writer_points_written_total");
	double have = 0, prev = -1;
	int64_t last_change, start;

	hb_buf_printf(&q, "SELECT count(seq) FROM %s", meas);
	snprintf(topic, sizeof(topic), "homebus/points/%s", meas);
	proc_stats(wpid, &before);
	start = last_change = hb_mono_ms();
	loadgen_start(&gen, b->port, topic, meas, qos, lines, n);
	for (;;) {
		struct proc_stats now;

		proc_stats(wpid, &now);
		have = hbt_metric(http, "homebus_writer_points_written_total") - base;
		if (have != prev) {
			prev = have;
			last_change = hb_mono_ms();
		}
		if (have >= (double)n || hb_mono_ms() - last_change > 15000)
			break;
		hbt_sleep_ms(10);
	}
	proc_stats(wpid, &after);
	hbt_proc_stop(&gen, SIGTERM, 5000);
	res->landed = hbt_influx_number(ix, "homebus", q.data);
	res->lost = n - res->landed;
	res->points_per_s = have * 1000.0 / (double)(last_change - start);
	res->cpu_s = after.cpu_s - before.cpu_s;
	hb_buf_free(&q);
}

/* ---- latency: publish -> queryable ---- */

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/*
 * Publishes n points at rate/s, one per message, and polls InfluxDB for the
 * count; a point is queryable no later than the first poll that counts it.
 */
static void
latency_run(struct hbt_broker *b, struct hbt_influx *ix, pid_t wpid,
    const char *meas, double rate, long n, double *p50, double *p99, double *cpu)
{
	struct hbt_mqtt *pub = hbt_mqtt_connect(b->port, "bench-lat");
	int64_t *sent = hb_xcalloc((size_t)n, sizeof(int64_t));
	double *lat = hb_xcalloc((size_t)n, sizeof(double));
	struct proc_stats before, after;
	struct hb_buf q = { 0 }, line = { 0 };
	long next = 0, seen = 0;
	int64_t start = hb_mono_ms();
	char topic[64];

	snprintf(topic, sizeof(topic), "homebus/points/%s", meas);
	hb_buf_printf(&q, "SELECT count(seq) FROM %s", meas);
	proc_stats(wpid, &before);
	while (seen < n && hb_mono_ms() - start < (int64_t)((double)n / rate * 1000) +
	    20000) {
		int64_t now = hb_mono_ms();
		long long have;

		/* publish what is due (QoS 0: no round trip in the publisher) */
		while (next < n && now >= start + (int64_t)((double)next * 1000.0 / rate)) {
			hb_buf_reset(&line);
			hb_buf_printf(&line, "%s,gen=l seq=%ldi", meas, next);
			sent[next] = hb_mono_us();
			hbt_mqtt_publish(pub, topic, line.data, line.len, 0, false);
			next++;
		}
		have = hbt_influx_number(ix, "homebus", q.data);
		now = hb_mono_us();
		while (seen < have && seen < next) {
			lat[seen] = (double)(now - sent[seen]) / 1000.0;
			seen++;
		}
		hbt_sleep_ms(rate >= 100 ? 1 : 2);
	}
	proc_stats(wpid, &after);
	*cpu = after.cpu_s - before.cpu_s;
	qsort(lat, (size_t)seen, sizeof(double), cmp_double);
	*p50 = seen ? lat[seen / 2] : NAN;
	*p99 = seen ? lat[(size_t)((double)seen * 0.99)] : NAN;
	if (seen < n)
		hbt_log("latency run %s: only %ld of %ld seen", meas, seen, n);
	hbt_mqtt_close(pub);
	free(sent);
	free(lat);
	hb_buf_free(&q);
	hb_buf_free(&line);
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
	struct proc_stats ps;
	struct result r;
	long n = 200000, lat_slow = 30, lat_fast = 10000;
	int http = hbt_free_port(), c;
	double bus0, bus1, influx, p50, p99, cpu, idle_rss, idle_anon;
	char note[80];

	if (argc == 5 && strcmp(argv[1], "--counter") == 0) {
		counter_child(atoi(argv[2]), atoi(argv[3]), argv[4]);
		return 0;
	}
	if (realpath("/proc/self/exe", self_exe) == NULL)
		snprintf(self_exe, sizeof(self_exe), "%s", argv[0]);
	while ((c = getopt_long(argc, argv, "n:qo:", opts, NULL)) != -1) {
		if (c == 'n')
			n = strtol(optarg, NULL, 10);
		else if (c == 'o')
			only = optarg;
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
	proc_stats(w.proc.pid, &ps);
	idle_rss = (double)ps.rss_kb / 1024.0;
	idle_anon = (double)ps.anon_kb / 1024.0;
	peak_anon_kb = 0;

	bus0 = bus1 = influx = 0;
	if (want("bus ceiling, QoS 0") || want("QoS 0, 1 line")) {
		bus0 = bus_ceiling(broker.port, 0, n);
		add_row("bus ceiling, QoS 0, 1 line/msg", bus0, "msg/s", 0,
		    "mosquitto -> counting subscriber");
	}
	if (want("bus ceiling, QoS 1") || want("QoS 1, 1 line")) {
		bus1 = bus_ceiling(broker.port, 1, n);
		add_row("bus ceiling, QoS 1, 1 line/msg", bus1, "msg/s", 0,
		    "mosquitto -> counting subscriber");
	}
	if (want("InfluxDB ceiling") || want("100 lines")) {
		influx = influx_ceiling(&ix, n, 5000);
		add_row("InfluxDB ceiling, direct /write", influx, "points/s", 0,
		    "5000 lines per POST");
	}
	if (want("writer, QoS 0, 1 line")) {
		writer_run(&broker, &ix, w.proc.pid, http, "w_q0_l1", 0, 1, n, &r);
		snprintf(note, sizeof(note), "lost %ld; %.2f CPU-s/100k", r.lost,
		    r.cpu_s * 100000.0 / (double)n);
		add_row("writer, QoS 0, 1 line/msg", r.points_per_s, "points/s", bus0, note);
	}
	if (want("writer, QoS 1, 1 line")) {
		writer_run(&broker, &ix, w.proc.pid, http, "w_q1_l1", 1, 1, n, &r);
		snprintf(note, sizeof(note), "lost %ld; %.2f CPU-s/100k", r.lost,
		    r.cpu_s * 100000.0 / (double)n);
		add_row("writer, QoS 1, 1 line/msg", r.points_per_s, "points/s", bus1, note);
	}
	if (want("writer, QoS 1, 100 lines")) {
		writer_run(&broker, &ix, w.proc.pid, http, "w_q1_l100", 1, 100, n, &r);
		snprintf(note, sizeof(note), "lost %ld; %.2f CPU-s/100k", r.lost,
		    r.cpu_s * 100000.0 / (double)n);
		add_row("writer, QoS 1, 100 lines/msg", r.points_per_s, "points/s", influx,
		    note);
	}
	if (want("latency at 1 point")) {
		latency_run(&broker, &ix, w.proc.pid, "lat1", 1, lat_slow, &p50, &p99, &cpu);
		add_row("latency at 1 point/s, p50", p50, "ms", 0, "publish -> queryable");
	}
	if (want("latency at 1000") || want("steady")) {
		latency_run(&broker, &ix, w.proc.pid, "lat1000", 1000, lat_fast, &p50, &p99,
		    &cpu);
		add_row("latency at 1000 points/s, p99", p99, "ms", 0, "publish -> queryable");
		snprintf(note, sizeof(note), "p50 latency %.1f ms", p50);
		add_row("writer CPU at a steady 1000 points/s", cpu * 100000.0 /
		    (double)lat_fast, "s/100k", 0, note);
	}

	proc_stats(w.proc.pid, &ps);
	add_row("writer RSS idle (after start)", idle_rss, "MB", 0,
	    "mostly shared library pages");
	snprintf(note, sizeof(note), "of it heap and stacks (RssAnon)");
	add_row("writer RSS idle, private", idle_anon, "MB", 0, note);
	add_row("writer peak RSS (VmHWM)", (double)ps.hwm_kb / 1024.0, "MB", 0, NULL);
	add_row("writer peak RssAnon", (double)peak_anon_kb / 1024.0, "MB", 0,
	    "sampled every 10 ms under load");

	printf("\n| measure | value | unit | ceiling | ratio | note |\n"
	    "|---|---:|---|---:|---:|---|\n");
	for (size_t i = 0; i < nrows; i++) {
		printf("| %s | %.1f | %s | ", rows[i].name, rows[i].value, rows[i].unit);
		if (rows[i].ceiling > 0)
			printf("%.0f | %.2f | ", rows[i].ceiling,
			    rows[i].value / rows[i].ceiling);
		else
			printf(" |  | ");
		printf("%s |\n", rows[i].note);
	}
	printf("\n(points: %ld per run; machine: %ld cores)\n", n, sysconf(_SC_NPROCESSORS_ONLN));
	hb_buf_free(&cfg);
	hbt_exit();
}
