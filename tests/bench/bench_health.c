/*
 * bench_health: what homebus-health costs — resident memory idle (only the
 * broker watched) and with 200 targets, CPU per 1,000 checks of each kind
 * (http against a loopback server, exec of /bin/true, disk, the mqtt round
 * trip) and of a mix, and how long the status page of 200 targets takes to
 * serve. Starts its own mosquitto. A tool that prints a table, not a test.
 *
 *   bench_health [-s SECONDS] [--quick]
 */
#include "hbt.h"

#include <getopt.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct stats {
	long rss_kb;
	long anon_kb;
	double cpu_s;		/* the watcher's own user + system time */
	double child_cpu_s;	/* its reaped children's (exec targets) */
};

static void
read_stats(pid_t pid, struct stats *st)
{
	char path[64], line[512];
	FILE *f;
	unsigned long ut = 0, stime = 0;
	long cut = 0, cst = 0;

	memset(st, 0, sizeof(*st));
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	if ((f = fopen(path, "r")) != NULL) {
		while (fgets(line, sizeof(line), f)) {
			if (strncmp(line, "VmRSS:", 6) == 0)
				st->rss_kb = strtol(line + 6, NULL, 10);
			if (strncmp(line, "RssAnon:", 8) == 0)
				st->anon_kb = strtol(line + 8, NULL, 10);
		}
		fclose(f);
	}
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if ((f = fopen(path, "r")) != NULL) {
		if (fgets(line, sizeof(line), f)) {
			char *p = strrchr(line, ')');

			/* after ")": state(3) ... utime(14) stime(15) cutime(16) cstime(17) */
			if (p && sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u "
			    "%*u %lu %lu %ld %ld", &ut, &stime, &cut, &cst) == 4) {
				st->cpu_s = (double)(ut + stime) / (double)sysconf(_SC_CLK_TCK);
				st->child_cpu_s = (double)(cut + cst) /
				    (double)sysconf(_SC_CLK_TCK);
			}
		}
		fclose(f);
	}
}

static int
answer(const char *path, const char *authorization, struct hb_buf *body,
    void *arg)
{
	(void)path;
	(void)authorization;
	(void)arg;
	hb_buf_puts(body, "{\"message\":\"API running.\"}");
	return 200;
}

struct mix {
	int http, exec, disk, mqtt;
};

/* The health section with n targets of each kind, checked every interval_s. */
static void
targets_json(struct hb_buf *out, const struct mix *mx, double interval_s,
    int web_port)
{
	int k = 0;

	hb_buf_reset(out);
	/* each run's watcher on an instance of its own, blind to the others */
	hb_buf_printf(out, "\"interval_s\": %g, \"discover_services\": false, "
	    "\"homeassistant\": {\"discovery\": true}, \"targets\": [", interval_s);
	for (int i = 0; i < mx->http; i++)
		hb_buf_printf(out, "%s{\"name\": \"web%d\", \"type\": \"http\", \"url\": "
		    "\"http://127.0.0.1:%d/api/%d\"}", k++ ? ", " : "", i, web_port, i);
	for (int i = 0; i < mx->exec; i++)
		hb_buf_printf(out, "%s{\"name\": \"job%d\", \"type\": \"exec\", "
		    "\"argv\": [\"true\"]}", k++ ? ", " : "", i);
	for (int i = 0; i < mx->disk; i++)
		hb_buf_printf(out, "%s{\"name\": \"disk%d\", \"type\": \"disk\", "
		    "\"path\": \"/\", \"min_free_mb\": 1}", k++ ? ", " : "", i);
	for (int i = 0; i < mx->mqtt; i++)
		hb_buf_printf(out, "%s{\"name\": \"bus%d\", \"type\": \"mqtt\"}",
		    k++ ? ", " : "", i);
	hb_buf_puts(out, "]");
}

static double
checks_total(int port)
{
	static const char *const types[] = { "http", "exec", "disk", "mqtt",
	    "service" };
	double sum = 0;

	for (size_t i = 0; i < HB_ARRAY_LEN(types); i++) {
		char series[96];
		double v;

		snprintf(series, sizeof(series), "homebus_health_checks_total{type=\"%s\"}",
		    types[i]);
		v = hbt_metric(port, series);
		if (v > 0)
			sum += v;
	}
	return sum;
}

struct run {
	double checks;
	double cpu_s;
	double child_cpu_s;
	double seconds;
	long rss_kb;
	long anon_kb;
	double page_ms;
	size_t page_bytes;
};

/* Starts a watcher with mx, lets it settle, measures for `seconds`. */
static void
measure(int broker_port, int web_port, const char *name, const struct mix *mx,
    double interval_s, int seconds, bool page, struct run *r)
{
	struct hbt_service h;
	struct hb_buf cfg = { 0 }, targets = { 0 }, body = { 0 };
	struct stats a, b;
	double c0, c1;
	int64_t t0, t1;
	int port = hbt_free_port();
	char url[64];

	memset(r, 0, sizeof(*r));
	targets_json(&targets, mx, interval_s, web_port);
	hbt_health_config(&cfg, name, broker_port, name, port, targets.data);
	HBT_REQUIRE(hbt_service_start(&h, "health", name, cfg.data, port) == 0,
	    "health %s", name);
	/* settled, every target checked at least once, a moment more */
	HBT_WAIT(hbt_metric(port, "homebus_health_targets{state=\"unknown\"}") == 0,
	    30000);
	hbt_sleep_ms(2000);
	read_stats(h.proc.pid, &a);
	c0 = checks_total(port);
	t0 = hb_mono_ms();
	hbt_sleep_ms((int64_t)seconds * 1000);
	read_stats(h.proc.pid, &b);
	c1 = checks_total(port);
	t1 = hb_mono_ms();
	r->checks = c1 - c0;
	r->cpu_s = b.cpu_s - a.cpu_s;
	r->child_cpu_s = b.child_cpu_s - a.child_cpu_s;
	r->seconds = (double)(t1 - t0) / 1000.0;
	r->rss_kb = b.rss_kb;
	r->anon_kb = b.anon_kb;
	if (page) {
		int n = 20;

		snprintf(url, sizeof(url), "http://127.0.0.1:%d/", port);
		t0 = hb_mono_us();
		for (int i = 0; i < n; i++) {
			hb_buf_reset(&body);
			hbt_http("GET", url, NULL, &body);
		}
		r->page_ms = (double)(hb_mono_us() - t0) / 1000.0 / n;
		r->page_bytes = body.len;
	}
	hbt_log("%s: %.0f checks in %.1f s, %.3f CPU-s (+%.3f children), RSS %ld kB "
	    "(anon %ld kB)", name, r->checks, r->seconds, r->cpu_s, r->child_cpu_s,
	    r->rss_kb, r->anon_kb);
	HBT_CHECK(hbt_proc_stop(&h.proc, SIGTERM, 15000) == 0, "%s exits cleanly", name);
	hb_buf_free(&cfg);
	hb_buf_free(&targets);
	hb_buf_free(&body);
}

static double
per_1000(const struct run *r, double cpu)
{
	return r->checks > 0 ? cpu * 1000.0 / r->checks : 0;
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "quick", no_argument, NULL, 'q' },
		{ "seconds", required_argument, NULL, 's' }, { NULL, 0, NULL, 0 },
	};
	struct hbt_broker broker;
	struct hbt_web *web;
	struct run idle, http, exec, disk, mqtt, mixed;
	int seconds = 20, n = 200, c;
	struct mix none = { 0, 0, 0, 0 };
	struct mix m_http, m_exec, m_disk, m_mqtt, m_mixed;

	while ((c = getopt_long(argc, argv, "qs:", opts, NULL)) != -1) {
		if (c == 's')
			seconds = (int)strtol(optarg, NULL, 10);
		else if (c == 'q') {
			seconds = 3;
			n = 20;
		}
	}
	hbt_init("bench_health");
	HBT_REQUIRE(hbt_broker_start(&broker, NULL) == 0, "mosquitto");
	web = hbt_web_start(answer, NULL);
	HBT_REQUIRE(web != NULL, "loopback server");

	m_http = (struct mix){ n, 0, 0, 0 };
	m_exec = (struct mix){ 0, n / 4, 0, 0 };
	m_disk = (struct mix){ 0, 0, n, 0 };
	m_mqtt = (struct mix){ 0, 0, 0, n / 4 };
	/* what a home hub might watch, times ten */
	m_mixed = (struct mix){ n * 7 / 10, n / 10, n / 5, 0 };

	measure(broker.port, hbt_web_port(web), "idle", &none, 1, seconds, false, &idle);
	measure(broker.port, hbt_web_port(web), "http", &m_http, 1, seconds, false, &http);
	measure(broker.port, hbt_web_port(web), "exec", &m_exec, 1, seconds, false, &exec);
	measure(broker.port, hbt_web_port(web), "disk", &m_disk, 1, seconds, false, &disk);
	measure(broker.port, hbt_web_port(web), "mqtt", &m_mqtt, 1, seconds, false, &mqtt);
	measure(broker.port, hbt_web_port(web), "mixed", &m_mixed, 5, seconds * 2, true,
	    &mixed);
	HBT_CHECK(http.checks > 0 && exec.checks > 0 && disk.checks > 0 &&
	    mqtt.checks > 0 && mixed.checks > 0, "every run made checks");

	printf("\n| measure | value | note |\n|---|---:|---|\n");
	printf("| RSS idle (only the broker watched) | %.1f MB | private (RssAnon) "
	    "%.1f MB |\n", (double)idle.rss_kb / 1024, (double)idle.anon_kb / 1024);
	printf("| RSS with %d targets | %.1f MB | private %.1f MB; %d%% http, "
	    "%d%% disk, %d%% exec, every 5 s |\n", m_mixed.http + m_mixed.exec +
	    m_mixed.disk + 1, (double)mixed.rss_kb / 1024,
	    (double)mixed.anon_kb / 1024, 70, 20, 10);
	printf("| CPU per 1,000 http checks | %.3f CPU-s | %d targets every 1 s, "
	    "a loopback HTTP server |\n",
	    per_1000(&http, http.cpu_s), m_http.http);
	printf("| CPU per 1,000 exec checks | %.3f CPU-s | %d targets every 1 s; "
	    "the commands themselves (/bin/true) another %.3f |\n",
	    per_1000(&exec, exec.cpu_s), m_exec.exec,
	    per_1000(&exec, exec.child_cpu_s));
	printf("| CPU per 1,000 disk checks | %.3f CPU-s | %d targets every 1 s; "
	    "their `stat -f` children another %.3f |\n",
	    per_1000(&disk, disk.cpu_s), m_disk.disk,
	    per_1000(&disk, disk.child_cpu_s));
	printf("| CPU per 1,000 mqtt round trips | %.3f CPU-s | %d targets every 1 s |\n",
	    per_1000(&mqtt, mqtt.cpu_s), m_mqtt.mqtt);
	printf("| CPU per 1,000 checks, mixed | %.3f CPU-s | %.1f checks/s: %.2f %% "
	    "of a core |\n", per_1000(&mixed, mixed.cpu_s), mixed.checks /
	    mixed.seconds, mixed.cpu_s * 100.0 / mixed.seconds);
	printf("| idle CPU | %.2f %% of a core | heartbeats, the broker's round "
	    "trip every second |\n", idle.cpu_s * 100.0 / idle.seconds);
	printf("| status page, %d targets | %.1f ms | %zu bytes, GET / over "
	    "loopback, mean of 20 |\n", m_mixed.http + m_mixed.exec + m_mixed.disk +
	    1, mixed.page_ms, mixed.page_bytes);
	printf("\n(%d s per run; machine: %ld cores)\n", seconds,
	    sysconf(_SC_NPROCESSORS_ONLN));
	hbt_web_stop(web);
	hbt_exit();
}
