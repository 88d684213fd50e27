/*
 * bench_common: the table, /proc readings, the load generator and the bus
 * ceiling shared by the benchmark tools.
 */
#include "bench_common.h"

#include <MQTTAsync.h>
#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
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

bool
hbb_want(const char *step)
{
	return only == NULL || strstr(step, only) != NULL;
}

void
hbb_row(const char *name, double value, const char *unit, double ceiling,
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

void
hbb_only(const char *filter)
{
	only = filter;
}

void
hbb_print(long n)
{
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
	printf("\n(%ld per run; machine: %ld cores)\n", n,
	    sysconf(_SC_NPROCESSORS_ONLN));
}

static long peak_anon_kb;	/* the largest RssAnon seen while polling */

void
hbb_stats(pid_t pid, struct hbb_stats *ps)
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
	snprintf(path, sizeof(path), "/proc/%d/smaps_rollup", (int)pid);
	if ((f = fopen(path, "r")) != NULL) {
		while (fgets(line, sizeof(line), f))
			if (strncmp(line, "Pss:", 4) == 0)
				ps->pss_kb = strtol(line + 4, NULL, 10);
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

void
hbb_loadgen_rate(struct hbt_proc *p, int port, const char *topic,
    const char *meas, const char *format, int qos, int lines, long n,
    double rate)
{
	char bin[600], sport[16], sq[8], sl[16], sn[32], sr[32];
	char *argv[] = { bin, "-p", sport, "-q", sq, "-l", sl, "-n", sn, "-m",
	    (char *)meas, "-t", (char *)topic, "-f", (char *)format, "-r", sr,
	    NULL };

	snprintf(bin, sizeof(bin), "%s/bench_loadgen", hbt_bin_dir());
	snprintf(sport, sizeof(sport), "%d", port);
	snprintf(sq, sizeof(sq), "%d", qos);
	snprintf(sl, sizeof(sl), "%d", lines);
	snprintf(sn, sizeof(sn), "%ld", n);
	snprintf(sr, sizeof(sr), "%g", rate);
	HBT_REQUIRE(hbt_proc_start(p, "loadgen", argv) == 0, "loadgen");
}

void
hbb_loadgen(struct hbt_proc *p, int port, const char *topic, const char *meas,
    const char *format, int qos, int lines, long n)
{
	hbb_loadgen_rate(p, port, topic, meas, format, qos, lines, n, 0);
}

/* ---- bus ceiling: publisher -> mosquitto -> counting subscriber ---- */

/*
 * The counting subscriber runs in a child process: paho runs one send and
 * one receive thread for all the clients of a process, so a counter in the
 * publisher's process would measure paho's threads, not the broker.
 */
struct counter_shm {
	atomic_long counted;	/* the publisher: PUBACKs */
	atomic_llong last_ms;
	atomic_int ready;
	atomic_int go;		/* the publisher starts */
};

static struct counter_shm *shm;
static char self_exe[600];

static void floor_child(int port, const char *topic, const char *url,
    const char *file);

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

/* bench_writer --counter PORT QOS FILE TOPIC: the child's whole life. */
static void
counter_child(int port, int qos, const char *file, const char *topic)
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
	/* paho tuned as hb_bus tunes it (no in-memory trace), so that the
	 * ceiling is paho's best, not a handicapped one */
	MQTTAsync_setTraceLevel(MQTTASYNC_TRACE_ERROR);
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
	MQTTAsync_subscribe(sub, topic, qos, &ro);
	hbt_sleep_ms(300);
	atomic_store(&shm->ready, 1);
	for (;;)
		hbt_sleep_ms(1000);	/* killed by the parent */
}

void
hbb_counter_start(struct hbt_proc *child, int port, int qos, const char *topic)
{
	char file[600], sport[16], sqos[8];
	char *argv[] = { self_exe, "--counter", sport, sqos, file, (char *)topic,
	    NULL };

	snprintf(file, sizeof(file), "%s/counter.shm", hbt_dir());
	snprintf(sport, sizeof(sport), "%d", port);
	snprintf(sqos, sizeof(sqos), "%d", qos);
	shm = map_counter(file, true);
	HBT_REQUIRE(shm != NULL, "counter file");
	hbt_proc_start(child, "counter", argv);
	HBT_REQUIRE(HBT_WAIT(atomic_load(&shm->ready) == 1, 10000), "counter ready");
}

long
hbb_counter_count(void)
{
	return atomic_load(&shm->counted);
}

void
hbb_counter_stop(struct hbt_proc *child)
{
	hbt_proc_stop(child, SIGKILL, 2000);
	munmap(shm, sizeof(*shm));
	shm = NULL;
}

double
hbb_bus_ceiling(int port, int qos, const char *format, long n, double *cpu_s)
{
	struct hbt_proc child, gen;
	struct hbb_stats before, after;
	int64_t start;
	double rate;

	hbb_counter_start(&child, port, qos, "bench/ceiling");
	hbb_stats(child.pid, &before);
	start = hb_mono_ms();
	hbb_loadgen(&gen, port, "bench/ceiling", "ceiling", format, qos, 1, n);
	HBT_WAIT(atomic_load(&shm->counted) >= n, 120000);
	/* stragglers: wait until nothing arrives for 1 s */
	HBT_WAIT(hb_mono_ms() - atomic_load(&shm->last_ms) > 1000, 10000);
	rate = (double)atomic_load(&shm->counted) * 1000.0 /
	    (double)(atomic_load(&shm->last_ms) - start);
	hbt_proc_stop(&gen, SIGTERM, 5000);
	hbb_stats(child.pid, &after);
	if (cpu_s)
		*cpu_s = after.cpu_s - before.cpu_s;
	hbb_counter_stop(&child);
	return rate;
}

void
hbb_side_by_side(int port, const char *topic, const char *format, int qos,
    pid_t svc, long n, double rate, double *svc_cpu, double *floor_cpu)
{
	struct hbt_proc counter, gen;
	struct hbb_stats s0, s1, f0, f1;

	hbb_counter_start(&counter, port, 1, topic);
	hbb_stats(svc, &s0);
	hbb_stats(counter.pid, &f0);
	hbb_loadgen_rate(&gen, port, topic, "steady", format, qos, 1, n, rate);
	hbt_proc_stop(&gen, 0, (int64_t)((double)n / rate * 1000) + 30000);
	HBT_WAIT(hbb_counter_count() >= n, 10000);
	hbt_sleep_ms(500);	/* what the service still gathers goes out */
	hbb_stats(svc, &s1);
	hbb_stats(counter.pid, &f1);
	if (hbb_counter_count() < n)
		hbt_log("side by side: the bare subscriber saw %ld of %ld",
		    hbb_counter_count(), n);
	hbb_counter_stop(&counter);
	*svc_cpu = s1.cpu_s - s0.cpu_s;
	*floor_cpu = f1.cpu_s - f0.cpu_s;
}

/* ---- the floor of publishing: a bare paho publisher ---- */

static atomic_long pub_inflight;

static void
pub_acked(void *ctx, MQTTAsync_successData5 *resp)
{
	(void)ctx;
	(void)resp;
	atomic_fetch_add(&shm->counted, 1);
	atomic_fetch_sub(&pub_inflight, 1);
}

static void
pub_failed(void *ctx, MQTTAsync_failureData5 *resp)
{
	(void)resp;
	pub_acked(ctx, NULL);
}

/* bench_* --publisher PORT FILE PACKS LINES MS: the child's whole life. */
static void
publisher_child(int port, const char *file, long packs, int lines, long ms)
{
	MQTTAsync_createOptions cro = MQTTAsync_createOptions_initializer5;
	MQTTAsync_connectOptions co = MQTTAsync_connectOptions_initializer5;
	struct hb_buf body = { 0 };
	MQTTAsync pub;
	char uri[64];
	int64_t start;

	shm = map_counter(file, false);
	if (shm == NULL)
		exit(2);
	/* as hb_bus sets paho up: MQTT v5, no in-memory trace */
	snprintf(uri, sizeof(uri), "tcp://127.0.0.1:%d", port);
	MQTTAsync_setTraceLevel(MQTTASYNC_TRACE_ERROR);
	MQTTAsync_createWithOptions(&pub, uri, "bench-publisher",
	    MQTTCLIENT_PERSISTENCE_NONE, NULL, &cro);
	co.cleanstart = 1;
	MQTTAsync_connect(pub, &co);
	HBT_WAIT(MQTTAsync_isConnected(pub), 5000);
	atomic_store(&shm->ready, 1);
	HBT_WAIT(atomic_load(&shm->go) == 1, 60000);
	start = hb_mono_us();
	for (long i = 0; i < packs; i++) {
		MQTTAsync_message m = MQTTAsync_message_initializer;
		MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;
		int64_t due = start + (int64_t)((double)i * (double)ms * 1000.0 /
		    (double)packs), now = hb_mono_us();

		if (due > now)
			hbt_sleep_ms((due - now) / 1000);
		/* what ingest makes of a zigbee2mqtt climate reading */
		hb_buf_reset(&body);
		for (int l = 0; l < lines; l++)
			hb_buf_printf(&body, "%szigbee,device=bench-steady battery=97i,"
			    "humidity=%ld.5,seq=%ldi,temperature=21.%ld,voltage=2950i "
			    "%lld", l ? "\n" : "", 40 + i % 20, i * lines + l, i % 10,
			    (long long)hb_wall_ns());
		m.payload = body.data;
		m.payloadlen = (int)body.len;
		m.qos = 1;
		ro.onSuccess5 = pub_acked;
		ro.onFailure5 = pub_failed;
		while (atomic_load(&pub_inflight) > 500)	/* under the broker's
								 * receive maximum */
			hbt_sleep_ms(1);
		atomic_fetch_add(&pub_inflight, 1);
		if (MQTTAsync_sendMessage(pub, "bench/floor/packs", &m, &ro) !=
		    MQTTASYNC_SUCCESS)
			pub_acked(NULL, NULL);
	}
	for (;;)
		hbt_sleep_ms(1000);	/* killed by the parent */
}

double
hbb_publish_floor(int port, long packs, int lines, int64_t ms)
{
	char file[600], sport[16], spacks[32], slines[16], sms[32];
	char *argv[] = { self_exe, "--publisher", sport, file, spacks, slines, sms,
	    NULL };
	struct hbt_proc child;
	struct hbb_stats before, after;

	snprintf(file, sizeof(file), "%s/publisher.shm", hbt_dir());
	snprintf(sport, sizeof(sport), "%d", port);
	snprintf(spacks, sizeof(spacks), "%ld", packs);
	snprintf(slines, sizeof(slines), "%d", lines < 1 ? 1 : lines);
	snprintf(sms, sizeof(sms), "%lld", (long long)ms);
	shm = map_counter(file, true);
	HBT_REQUIRE(shm != NULL, "publisher file");
	hbt_proc_start(&child, "publisher", argv);
	HBT_REQUIRE(HBT_WAIT(atomic_load(&shm->ready) == 1, 10000), "publisher ready");
	hbb_stats(child.pid, &before);
	atomic_store(&shm->go, 1);
	if (!HBT_WAIT(atomic_load(&shm->counted) >= packs, ms + 30000))
		hbt_log("publisher floor: %ld of %ld acknowledged",
		    atomic_load(&shm->counted), packs);
	hbb_stats(child.pid, &after);
	hbt_proc_stop(&child, SIGKILL, 2000);
	munmap(shm, sizeof(*shm));
	shm = NULL;
	return after.cpu_s - before.cpu_s;
}

long
hbb_peak_anon_kb(void)
{
	return peak_anon_kb;
}

void
hbb_reset_peak(void)
{
	peak_anon_kb = 0;
}

void
hbb_main(int argc, char **argv)
{
	if (argc == 6 && strcmp(argv[1], "--counter") == 0) {
		counter_child(atoi(argv[2]), atoi(argv[3]), argv[4], argv[5]);
		exit(0);
	}
	if (argc == 7 && strcmp(argv[1], "--publisher") == 0) {
		publisher_child(atoi(argv[2]), argv[3], strtol(argv[4], NULL, 10),
		    atoi(argv[5]), strtol(argv[6], NULL, 10));
		exit(0);
	}
	if (argc == 6 && strcmp(argv[1], "--floor") == 0)
		floor_child(atoi(argv[2]), argv[3], argv[4], argv[5]);
	if (realpath("/proc/self/exe", self_exe) == NULL)
		snprintf(self_exe, sizeof(self_exe), "%s", argv[0]);
}

/* ---- latency: published -> queryable ---- */

/* The latency runs' publisher: paho's asynchronous client, never waiting. */
static MQTTAsync
lat_publisher(int port)
{
	MQTTAsync_connectOptions co = MQTTAsync_connectOptions_initializer;
	MQTTAsync pub;
	char uri[64];

	snprintf(uri, sizeof(uri), "tcp://127.0.0.1:%d", port);
	MQTTAsync_setTraceLevel(MQTTASYNC_TRACE_ERROR);
	MQTTAsync_create(&pub, uri, "bench-lat", MQTTCLIENT_PERSISTENCE_NONE, NULL);
	co.cleansession = 1;
	co.keepAliveInterval = 60;
	MQTTAsync_connect(pub, &co);
	HBT_REQUIRE(HBT_WAIT(MQTTAsync_isConnected(pub), 5000), "latency publisher");
	return pub;
}

static void
lat_publish(MQTTAsync pub, const char *topic, const struct hb_buf *body, int qos)
{
	MQTTAsync_message m = MQTTAsync_message_initializer;

	m.payload = body->data;
	m.payloadlen = (int)body->len;
	m.qos = qos;
	if (MQTTAsync_sendMessage(pub, topic, &m, NULL) != MQTTASYNC_SUCCESS)
		hbt_log("latency: publish to %s refused", topic);
}

/* The other traffic of a house in slot `tick` (four a second) of the run. */
static void
lat_traffic(MQTTAsync pub, long tick, int qos, struct hb_buf *msg)
{
	static const char *const services[] = { "health", "notifier",
	    "deployer", "writer2", "ingest2", "health2" };
	long sec = tick / 4;

	hb_buf_reset(msg);
	switch (tick % 4) {
	case 1:
		if (sec % 5 != 0)
			return;
		hb_buf_printf(msg, "{\"service\":\"%s\",\"instance\":\"bench\","
		    "\"version\":\"bench\",\"pid\":1,\"uptime_s\":%ld,\"rss_kb\":6200,"
		    "\"cpu_s\":1.25,\"interval_s\":30,\"messages\":%ld,\"points\":%ld}",
		    services[(sec / 5) % 6], sec, sec * 3, sec * 3);
		{
			char topic[128];

			snprintf(topic, sizeof(topic), "homebus/svc/%s/bench/heartbeat",
			    services[(sec / 5) % 6]);
			lat_publish(pub, topic, msg, 0);
		}
		break;
	case 2:
		hb_buf_printf(msg, "lat_other,room=hall power=%ld.5,seq=%ldi", 100 +
		    sec % 50, sec);
		lat_publish(pub, "homebus/points/lat_other", msg, 1);
		break;
	case 3:
		hb_buf_printf(msg, "{\"temperature\":%.1f,\"humidity\":%ld.0,"
		    "\"battery\":88,\"linkquality\":90,\"seq\":%ld}", 19.0 +
		    (double)(sec % 20) / 10.0, 50 + sec % 10, sec);
		lat_publish(pub, "zigbee2mqtt/lat-other", msg, qos);
		break;
	default:
		break;
	}
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double
percentile(const double *sorted, long n, double p)
{
	long i = (long)ceil(p * (double)n) - 1;

	if (n == 0)
		return NAN;
	return sorted[i < 0 ? 0 : (i >= n ? n - 1 : i)];
}

struct lat_stream {
	struct hbb_latency *l;
	int64_t *sent;
	double *lat;
	long next, seen;
	long long base;		/* counted before the run: the warm-up reading */
	char query[200];
};

void
hbb_latency_streams(struct hbt_broker *b, struct hbt_influx *ix,
    struct hbb_latency *streams, size_t ns, bool traffic)
{
	MQTTAsync pub = lat_publisher(b->port);
	struct lat_stream st[8];
	struct hbb_stats before, after;
	struct hb_buf msg = { 0 };
	double rate = streams[0].rate;
	long n = streams[0].n, tick = 0, left = (long)ns * n;
	int64_t start, period_us = (int64_t)(1e6 / rate);

	HBT_REQUIRE(ns >= 1 && ns <= 8, "1 to 8 streams");
	memset(st, 0, sizeof(st));
	for (size_t k = 0; k < ns; k++) {
		st[k].l = &streams[k];
		st[k].sent = hb_xcalloc((size_t)n, sizeof(int64_t));
		st[k].lat = hb_xcalloc((size_t)n, sizeof(double));
		if (streams[k].query[0])
			snprintf(st[k].query, sizeof(st[k].query), "%s", streams[k].query);
		else
			snprintf(st[k].query, sizeof(st[k].query),
			    "SELECT count(seq) FROM %s", streams[k].meas);
	}
	/*
	 * A reading of each stream first, untimed: the first point of a
	 * series makes InfluxDB create it, which a house's readings, whose
	 * series exist, never wait for.
	 */
	for (size_t k = 0; k < ns; k++) {
		hb_buf_reset(&msg);
		streams[k].payload(&msg, streams[k].meas, n, streams[k].arg);
		lat_publish(pub, streams[k].topic, &msg, streams[k].qos);
	}
	for (size_t k = 0; k < ns; k++) {
		HBT_WAIT((st[k].base = hbt_influx_number(ix, "homebus",
		    st[k].query)) >= 1, 10000);
		if (st[k].base < 0)
			st[k].base = 0;
	}
	hbb_stats(streams[0].pid, &before);
	start = hb_mono_us();
	while (left > 0 && hb_mono_us() - start < (int64_t)n * period_us +
	    20000000) {
		int64_t now = hb_mono_us();

		for (size_t k = 0; k < ns; k++) {
			struct lat_stream *s = &st[k];

			while (s->next < n && now >= start + s->next * period_us +
			    (int64_t)(s->l->offset_s * 1e6)) {
				hb_buf_reset(&msg);
				s->l->payload(&msg, s->l->meas, s->next, s->l->arg);
				s->sent[s->next] = hb_mono_us();
				lat_publish(pub, s->l->topic, &msg, s->l->qos);
				s->next++;
			}
		}
		/* the house's traffic: four slots a second */
		if (traffic && tick < n * 4 && now >= start + tick * period_us / 4) {
			lat_traffic(pub, tick, streams[0].qos, &msg);
			tick++;
		}
		for (size_t k = 0; k < ns; k++) {
			struct lat_stream *s = &st[k];
			long long have;

			if (s->seen >= s->next)
				continue;	/* nothing outstanding: no query */
			have = hbt_influx_number(ix, "homebus", s->query) - s->base;
			now = hb_mono_us();
			while (s->seen < have && s->seen < s->next) {
				s->lat[s->seen] = (double)(now - s->sent[s->seen]) / 1000.0;
				if (rate < 100 && s->lat[s->seen] > 30)
					hbt_log("latency %s: reading %ld took %.1f ms", s->l->meas,
					    s->seen, s->lat[s->seen]);
				s->seen++;
				left--;
			}
		}
		hbt_sleep_ms(rate >= 100 ? 1 : 2);
	}
	hbb_stats(streams[0].pid, &after);
	for (size_t k = 0; k < ns; k++) {
		struct lat_stream *s = &st[k];
		struct hbb_latency *l = s->l;

		l->cpu_s = after.cpu_s - before.cpu_s;
		qsort(s->lat, (size_t)s->seen, sizeof(double), cmp_double);
		l->p50 = percentile(s->lat, s->seen, 0.50);
		l->p90 = percentile(s->lat, s->seen, 0.90);
		l->p99 = percentile(s->lat, s->seen, 0.99);
		l->max = s->seen ? s->lat[s->seen - 1] : NAN;
		l->seen = s->seen;
		if (s->seen < n)
			hbt_log("latency run %s: only %ld of %ld seen", l->meas,
			    s->seen, n);
		free(s->sent);
		free(s->lat);
	}
	MQTTAsync_disconnect(pub, NULL);
	hbt_sleep_ms(100);
	MQTTAsync_destroy(&pub);
	hb_buf_free(&msg);
}

void
hbb_latency(struct hbt_broker *b, struct hbt_influx *ix, struct hbb_latency *l)
{
	hbb_latency_streams(b, ix, l, 1, false);
}

/* ---- the floor: a bare MQTT client that POSTs what it takes ---- */

static bool
read_full(int fd, void *buf, size_t len)
{
	unsigned char *p = buf;

	while (len > 0) {
		ssize_t r = read(fd, p, len);

		if (r <= 0)
			return false;
		p += r;
		len -= (size_t)r;
	}
	return true;
}

/* One MQTT packet: its first byte in *type, its body in body. */
static bool
read_packet(int fd, unsigned char *type, struct hb_buf *body)
{
	size_t len = 0;
	unsigned char c;
	int shift = 0;

	if (!read_full(fd, type, 1))
		return false;
	do {
		if (!read_full(fd, &c, 1) || shift > 21)
			return false;
		len |= (size_t)(c & 0x7f) << shift;
		shift += 7;
	} while (c & 0x80);
	hb_buf_reset(body);
	hb_buf_reserve(body, len + 1);
	if (!read_full(fd, body->data, len))
		return false;
	body->len = len;
	return true;
}

static void
put_str(struct hb_buf *b, const char *s)
{
	size_t n = strlen(s);

	hb_buf_putc(b, (char)(n >> 8));
	hb_buf_putc(b, (char)(n & 0xff));
	hb_buf_append(b, s, n);
}

/* A packet: type byte, remaining length, body. */
static bool
send_packet(int fd, unsigned char type, const struct hb_buf *body)
{
	unsigned char head[5];
	size_t n = 0, len = body->len;

	head[n++] = type;
	do {
		head[n] = (unsigned char)(len & 0x7f);
		len >>= 7;
		if (len)
			head[n] |= 0x80;
		n++;
	} while (len);
	return write(fd, head, n) == (ssize_t)n && (body->len == 0 ||
	    write(fd, body->data, body->len) == (ssize_t)body->len);
}

/* bench_* --floor PORT TOPIC URL FILE: the child's whole life. */
static void
floor_child(int port, const char *topic, const char *url, const char *file)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	struct hb_buf pkt = { 0 }, body = { 0 };
	char write_url[300];
	unsigned char type;
	int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
	CURL *c = curl_easy_init();

	shm = map_counter(file, false);
	if (shm == NULL || fd < 0 || c == NULL)
		exit(2);
	sa.sin_port = htons((uint16_t)port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0)
		exit(2);
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	/* CONNECT: MQTT 3.1.1, clean session, no keep-alive */
	put_str(&pkt, "MQTT");
	hb_buf_append(&pkt, "\x04\x02\x00\x00", 4);
	put_str(&pkt, "bench-floor");
	if (!send_packet(fd, 0x10, &pkt) || !read_packet(fd, &type, &body) ||
	    type != 0x20)
		exit(2);
	hb_buf_reset(&pkt);
	hb_buf_append(&pkt, "\x00\x01", 2);
	put_str(&pkt, topic);
	hb_buf_putc(&pkt, 1);
	if (!send_packet(fd, 0x82, &pkt) || !read_packet(fd, &type, &body) ||
	    type != 0x90)
		exit(2);
	snprintf(write_url, sizeof(write_url), "%s/write?db=homebus", url);
	curl_easy_setopt(c, CURLOPT_URL, write_url);
	curl_easy_setopt(c, CURLOPT_POST, 1L);
	curl_easy_setopt(c, CURLOPT_TCP_NODELAY, 1L);
	atomic_store(&shm->ready, 1);
	while (read_packet(fd, &type, &body)) {
		size_t tl, off;
		int qos = (type >> 1) & 3;

		if ((type & 0xf0) != 0x30 || body.len < 2)
			continue;
		tl = ((size_t)(unsigned char)body.data[0] << 8) |
		    (unsigned char)body.data[1];
		off = 2 + tl + (qos ? 2 : 0);
		if (off > body.len)
			continue;
		if (qos) {
			hb_buf_reset(&pkt);
			hb_buf_append(&pkt, body.data + 2 + tl, 2);
			send_packet(fd, 0x40, &pkt);
		}
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body.data + off);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)(body.len - off));
		curl_easy_perform(c);
		atomic_fetch_add(&shm->counted, 1);
	}
	exit(0);
}

void
hbb_floor_start(struct hbt_proc *child, int port, const char *topic,
    const char *influx_url)
{
	char file[600], sport[16];
	char *argv[] = { self_exe, "--floor", sport, (char *)topic,
	    (char *)influx_url, file, NULL };

	snprintf(file, sizeof(file), "%s/floor.shm", hbt_dir());
	snprintf(sport, sizeof(sport), "%d", port);
	shm = map_counter(file, true);
	HBT_REQUIRE(shm != NULL, "floor file");
	hbt_proc_start(child, "floor", argv);
	HBT_REQUIRE(HBT_WAIT(atomic_load(&shm->ready) == 1, 10000), "floor ready");
	munmap(shm, sizeof(*shm));
	shm = NULL;
}
