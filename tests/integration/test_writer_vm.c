/*
 * The writer against VictoriaMetrics (Debian's victoria-metrics, a single
 * node on a free loopback port; its /write takes InfluxDB line protocol, as
 * the cluster's vminsert does): two writers in one share group, the backend
 * stopped for 5 s under load and started again. Every point lands exactly
 * once, counted from VictoriaMetrics' raw samples (/api/v1/export).
 *
 *   test_writer_vm            the test
 *   test_writer_vm measure    points/s for one writer and for two in a share
 *                             group, against VictoriaMetrics and InfluxDB
 *                             (the figures of docs/scaling.md); not a test
 */
#include "hbt.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>

struct vm {
	struct hbt_proc proc;
	int port;
	char dir[512];
	char url[128];
};

static bool
vm_up(struct vm *v)
{
	char url[200];

	snprintf(url, sizeof(url), "%s/health", v->url);
	return HBT_WAIT(hbt_http("GET", url, NULL, NULL) == 200 ||
	    !hbt_proc_alive(&v->proc), 30000) && hbt_proc_alive(&v->proc);
}

/*
 * A single-node VictoriaMetrics with its data in the test's folder. Its
 * searches see a sample as soon as it is in (no 30 s latency offset).
 */
static int
vm_start(struct vm *v)
{
	char listen[64], storage[600];
	char *argv[] = { "/usr/bin/victoria-metrics", listen, storage,
	    "-search.latencyOffset=0s", "-loggerLevel=WARN",
	    "-retentionPeriod=1y", NULL };

	memset(v, 0, sizeof(*v));
	v->port = hbt_free_port();
	snprintf(v->dir, sizeof(v->dir), "%s/vm", hbt_dir());
	snprintf(v->url, sizeof(v->url), "http://127.0.0.1:%d", v->port);
	snprintf(listen, sizeof(listen), "-httpListenAddr=127.0.0.1:%d", v->port);
	snprintf(storage, sizeof(storage), "-storageDataPath=%s", v->dir);
	if (hbt_proc_start(&v->proc, "victoria-metrics", argv) != 0)
		return -1;
	return vm_up(v) ? 0 : -1;
}

/*
 * The generator's points as VictoriaMetrics holds them: every raw sample of
 * <measurement>_seq{gen="<gen>"}, each seq counted (see struct hbt_landed).
 */
static void
vm_landed(struct vm *v, struct hbt_load *l, struct hbt_landed *out)
{
	struct hb_buf body = { 0 };
	size_t n = 0, cap = 1024;
	long *seqs = hb_xcalloc(cap, sizeof(long));
	char url[300], name[128];
	char *line, *next;

	memset(out, 0, sizeof(*out));
	snprintf(name, sizeof(name), "%s_seq", l->measurement);
	snprintf(url, sizeof(url), "%s/api/v1/export?match%%5B%%5D=%s", v->url, name);
	if (hbt_http("GET", url, NULL, &body) != 200 || body.data == NULL) {
		out->missing = l->points;
		goto done;
	}
	for (line = body.data; line && *line; line = next) {
		json_t *o, *vals;
		json_error_t err;
		const char *gen;
		size_t i;

		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		o = json_loads(line, 0, &err);
		gen = json_string_value(json_object_get(json_object_get(o, "metric"), "gen"));
		vals = json_object_get(o, "values");
		if (gen && strcmp(gen, l->gen) == 0) {
			for (i = 0; i < json_array_size(vals); i++) {
				if (n == cap) {
					cap *= 2;
					seqs = hb_xrealloc(seqs, cap * sizeof(long));
				}
				seqs[n++] = (long)json_number_value(json_array_get(vals,
				    i));
			}
		}
		json_decref(o);
	}
	hbt_load_tally(l, seqs, n, out);
done:
	hb_buf_free(&body);
	free(seqs);
}

static double
sum_metric(const int *http, int n, const char *series)
{
	double sum = 0;

	for (int i = 0; i < n; i++)
		sum += hbt_metric(http[i], series);
	return sum;
}

/* Starts n writers (one share group when n > 1) on the backend at url. */
static void
start_writers(struct hbt_service *w, int *http, int n, int broker_port,
    const char *url, const char *tag)
{
	struct hb_buf cfg = { 0 };
	char name[64];

	for (int i = 0; i < n; i++) {
		http[i] = hbt_free_port();
		snprintf(name, sizeof(name), "writer-%s-%c", tag, 'a' + i);
		hbt_writer_config(&cfg, name, broker_port, url, http[i],
		    n > 1 ? "\"share_group\": \"homebus-writer\"" : NULL, NULL);
		HBT_REQUIRE(hbt_service_start(&w[i], "writer", name, cfg.data,
		    http[i]) == 0, "%s starts", name);
	}
	HBT_REQUIRE(HBT_WAIT(sum_metric(http, n, "homebus_writer_bus_connected") == n,
	    10000), "%d writer(s) on the bus", n);
	hbt_sleep_ms(500);	/* the subscriptions are in */
	hb_buf_free(&cfg);
}

static void
load_init(struct hbt_load *l, int port, const char *meas, const char *gen,
    int lines, long points, double rate)
{
	memset(l, 0, sizeof(*l));
	l->port = port;
	snprintf(l->measurement, sizeof(l->measurement), "%s", meas);
	snprintf(l->gen, sizeof(l->gen), "%s", gen);
	l->qos = 1;
	l->lines_per_msg = lines;
	l->points = points;
	l->points_per_s = rate;
}

static void
test(void)
{
	struct hbt_broker broker;
	struct vm vm;
	struct hbt_service w[2];
	struct hbt_load load;
	struct hbt_landed l;
	int http[2];
	double r0, r1, spooled = 0;

	memset(&l, 0, sizeof(l));
	HBT_REQUIRE(hbt_broker_start(&broker, NULL) == 0, "mosquitto");
	HBT_REQUIRE(vm_start(&vm) == 0, "victoria-metrics on %s", vm.url);
	start_writers(w, http, 2, broker.port, vm.url, "share");

	/* about 8 s of load; the backend goes away once some of it is in */
	load_init(&load, broker.port, "vmshare", "s", 10, 40000, 5000);
	HBT_REQUIRE(hbt_load_start(&load) == 0, "load");
	HBT_REQUIRE(HBT_WAIT(sum_metric(http, 2, "homebus_writer_points_written_total")
	    >= 5000, 30000), "points reach VictoriaMetrics");
	hbt_log("stopping victoria-metrics for 5 s under load");
	HBT_CHECK(hbt_proc_stop(&vm.proc, SIGTERM, 30000) == 0,
	    "victoria-metrics stops cleanly");
	for (int i = 0; i < 50; i++) {	/* 5 s: the outage itself */
		double s = sum_metric(http, 2, "homebus_writer_spool_points");

		if (s > spooled)
			spooled = s;
		hbt_sleep_ms(100);
	}
	HBT_CHECK(spooled > 0, "while it is away the writers keep points in their "
	    "spools (%g at most)", spooled);
	HBT_REQUIRE(hbt_proc_restart(&vm.proc) == 0 && vm_up(&vm),
	    "victoria-metrics starts again on its data");

	HBT_CHECK(hbt_load_wait(&load, 90000), "every point published and "
	    "acknowledged by the broker (%ld of %ld)", atomic_load(&load.acked),
	    load.points);
	HBT_CHECK(HBT_WAIT(sum_metric(http, 2, "homebus_writer_points_written_total")
	    >= (double)load.points && sum_metric(http, 2,
	    "homebus_writer_spool_points") == 0, 90000),
	    "the writers wrote every point and their spools are empty");
	HBT_CHECK(HBT_WAIT((vm_landed(&vm, &load, &l), l.distinct >= load.points),
	    30000), "every point is in VictoriaMetrics (%ld of %ld)", l.distinct,
	    load.points);
	hbt_sleep_ms(1000);	/* anything extra would show up now */
	vm_landed(&vm, &load, &l);
	r0 = hbt_metric(http[0], "homebus_writer_points_received_total");
	r1 = hbt_metric(http[1], "homebus_writer_points_received_total");
	hbt_log("writer a took %g, writer b took %g; samples=%ld distinct=%ld "
	    "dups=%ld missing=%ld", r0, r1, l.rows, l.distinct, l.dups, l.missing);
	HBT_CHECK(l.rows == load.points && l.distinct == load.points &&
	    l.dups == 0 && l.missing == 0, "exactly %ld points, each once "
	    "(samples %ld, distinct %ld, dups %ld, missing %ld)", load.points,
	    l.rows, l.distinct, l.dups, l.missing);
	HBT_CHECK(r0 > 0 && r1 > 0 && r0 + r1 == (double)load.points,
	    "both writers took a share, none twice (%g + %g)", r0, r1);
	hbt_load_free(&load);
}

/* ---- measure: points/s, one writer and two in a share group ---- */

/*
 * A broker of its own for each run: the sessions of the writers of earlier
 * runs (persistent, subscribed) would have it queue every point for them.
 */
static double
measure_run(const char *url, int nwriters, int lines, long points,
    const char *tag)
{
	struct hbt_broker broker;
	struct hbt_service w[2];
	struct hbt_load load;
	int http[2];
	char meas[64];
	int64_t start, end;
	double rate;

	HBT_REQUIRE(hbt_broker_start(&broker, NULL) == 0, "mosquitto");
	start_writers(w, http, nwriters, broker.port, url, tag);
	snprintf(meas, sizeof(meas), "m_%s", tag);
	load_init(&load, broker.port, meas, tag, lines, points, 0);
	start = hb_mono_ms();
	HBT_REQUIRE(hbt_load_start(&load) == 0, "load");
	HBT_WAIT(sum_metric(http, nwriters, "homebus_writer_points_written_total") >=
	    (double)points, 600000);
	end = hb_mono_ms();
	rate = (double)points * 1000.0 / (double)(end - start);
	hbt_load_wait(&load, 10000);
	hbt_load_free(&load);
	for (int i = 0; i < nwriters; i++)
		hbt_proc_stop(&w[i].proc, SIGTERM, 15000);
	hbt_broker_stop(&broker);
	return rate;
}

static void
measure(void)
{
	struct hbt_influx influx;
	struct vm vm;
	const long n = 200000;
	static const int lines[] = { 1, 100 };
	int k = 0;

	HBT_REQUIRE(vm_start(&vm) == 0, "victoria-metrics");
	HBT_REQUIRE(hbt_influx_start(&influx, NULL) == 0, "influxd");
	HBT_REQUIRE(hbt_influx_create_db(&influx, "homebus") == 0, "database");
	printf("\n| backend | lines/msg | 1 writer | 2 writers, one share group |\n"
	    "|---|---:|---:|---:|\n");
	for (int b = 0; b < 2; b++) {
		const char *url = b == 0 ? influx.url : vm.url;

		for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
			char t1[32], t2[32];
			double one, two;

			snprintf(t1, sizeof(t1), "r%d", k++);
			one = measure_run(url, 1, lines[i], n, t1);
			snprintf(t2, sizeof(t2), "r%d", k++);
			two = measure_run(url, 2, lines[i], n, t2);
			printf("| %s | %d | %.0f points/s | %.0f points/s |\n",
			    b == 0 ? "InfluxDB 1.6" : "VictoriaMetrics 1.79", lines[i],
			    one, two);
			fflush(stdout);
		}
	}
	printf("\n%ld points a run at QoS 1, published as fast as the broker takes "
	    "them; until the writers' points_written_total reaches it.\n", n);
}

int
main(int argc, char **argv)
{
	hbt_init("writer_vm");
	if (argc > 1 && strcmp(argv[1], "measure") == 0)
		measure();
	else
		test();
	hbt_exit();
}
