/*
 * bench_common: the table, /proc readings, the load generator and the bus
 * ceiling shared by the benchmark tools.
 */
#include "bench_common.h"

#include <MQTTAsync.h>
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
hbb_side_by_side(int port, const char *topic, const char *format, pid_t svc,
    long n, double rate, double *svc_cpu, double *floor_cpu)
{
	struct hbt_proc counter, gen;
	struct hbb_stats s0, s1, f0, f1;

	hbb_counter_start(&counter, port, 1, topic);
	hbb_stats(svc, &s0);
	hbb_stats(counter.pid, &f0);
	hbb_loadgen_rate(&gen, port, topic, "steady", format, 0, 1, n, rate);
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
	if (realpath("/proc/self/exe", self_exe) == NULL)
		snprintf(self_exe, sizeof(self_exe), "%s", argv[0]);
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

void
hbb_latency(struct hbt_broker *b, struct hbt_influx *ix, struct hbb_latency *l)
{
	struct hbt_mqtt *pub = hbt_mqtt_connect(b->port, "bench-lat");
	int64_t *sent = hb_xcalloc((size_t)l->n, sizeof(int64_t));
	double *lat = hb_xcalloc((size_t)l->n, sizeof(double));
	struct hbb_stats before, after;
	struct hb_buf q = { 0 }, msg = { 0 };
	long next = 0, seen = 0;
	pid_t pid = l->pid;
	int64_t start;

	hb_buf_printf(&q, "SELECT count(seq) FROM %s", l->meas);
	hbb_stats(pid, &before);
	start = hb_mono_ms();
	while (seen < l->n &&
	    hb_mono_ms() - start < (int64_t)((double)l->n / l->rate * 1000) + 20000) {
		int64_t now = hb_mono_ms();
		long long have;

		while (next < l->n && now >= start + (int64_t)((double)next * 1000.0 /
		    l->rate)) {
			hb_buf_reset(&msg);
			l->payload(&msg, l->meas, next, l->arg);
			sent[next] = hb_mono_us();
			hbt_mqtt_publish(pub, l->topic, msg.data, msg.len, 0, false);
			next++;
		}
		have = hbt_influx_number(ix, "homebus", q.data);
		now = hb_mono_us();
		while (seen < have && seen < next) {
			lat[seen] = (double)(now - sent[seen]) / 1000.0;
			seen++;
		}
		hbt_sleep_ms(l->rate >= 100 ? 1 : 2);
	}
	hbb_stats(pid, &after);
	l->cpu_s = after.cpu_s - before.cpu_s;
	qsort(lat, (size_t)seen, sizeof(double), cmp_double);
	l->p50 = seen ? lat[seen / 2] : NAN;
	l->p99 = seen ? lat[(size_t)((double)seen * 0.99)] : NAN;
	l->max = seen ? lat[seen - 1] : NAN;
	l->seen = seen;
	if (seen < l->n)
		hbt_log("latency run %s: only %ld of %ld seen", l->meas, seen, l->n);
	hbt_mqtt_close(pub);
	free(sent);
	free(lat);
	hb_buf_free(&q);
	hb_buf_free(&msg);
}
