/*
 * What every service shares, seen from outside: --check-config with good
 * and bad files (one line per error naming the key, exit code 2), and
 * /health and /metrics over HTTP.
 */
#include "hbt.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static void
expect_error(const char *json, const char *needle)
{
	struct hb_buf out = { 0 };
	int rc = hbt_check_config("writer", json, &out);

	HBT_CHECK(rc == 2, "exit code %d for %s", rc, json);
	HBT_CHECK(out.data && strstr(out.data, needle), "output lacks \"%s\":\n%s",
	    needle, out.data ? out.data : "");
	hb_buf_free(&out);
}

static void
test_check_config(void)
{
	struct hb_buf out = { 0 };
	char json[600];
	int rc;

	rc = hbt_check_config("writer", "{\"writer\": {\"batch_size\": 100}}",
	    &out);
	HBT_CHECK(rc == 0 && strstr(out.data, "configuration OK"), "good config: %d %s",
	    rc, out.data);
	expect_error("{\"writer\": {\"batch_size\": 100,}}", "not valid JSON");
	expect_error("{\n\"writer\": {\n\"batch_size\": \"lots\"}}",
	    "check.json:3: writer.batch_size: expected an integer, got a string");
	expect_error("{\"writer\": {\"batchsize\": 10}}", "writer.batchsize: unknown key");
	/* a misspelt environment override: a warning, and the file is still OK */
	setenv("HOMEBUS_WRITER_BATCHSIZE", "10", 1);
	rc = hbt_check_config("writer", "{\"writer\": {\"batch_size\": 100}}",
	    &out);
	unsetenv("HOMEBUS_WRITER_BATCHSIZE");
	HBT_CHECK(rc == 0 && strstr(out.data, "configuration OK") &&
	    strstr(out.data, "HOMEBUS_WRITER_BATCHSIZE is ignored") &&
	    strstr(out.data, "HOMEBUS_WRITER_BATCH_SIZE"), "env typo: %d %s", rc,
	    out.data);
	expect_error("{\"writer\": {\"influx\": {\"password_file\": \"/nonexistent/pw\"}}}",
	    "writer.influx.password_file: cannot read secret file \"/nonexistent/pw\"");
	expect_error("{\"writer\": {\"influx\": {\"url\": \"influx:8086\"}}}",
	    "writer.influx.url: \"influx:8086\" must start with http://");
	expect_error("{\"bus\": {\"port\": 70000}}", "bus.port: 70000 is out of range");
	expect_error("{\"writer\": {\"influx\": {\"api\": \"v3\"}}}",
	    "writer.influx.api: \"v3\" is not one of");

	/* every error on a line of its own: three errors, three lines + summary */
	rc = hbt_check_config("writer",
	    "{\"writer\": {\"a\": 1, \"b\": 2, \"batch_size\": true}}", &out);
	{
		int lines = 0;

		for (char *p = out.data; p && *p; p++)
			lines += *p == '\n';
		HBT_CHECK(rc == 2 && lines == 4, "three errors -> %d lines:\n%s", lines,
		    out.data);
	}
	/* a log file that is a folder, a data_dir that is a file: named with
	 * the line and path, as every other error */
	{
		char text[1400];

		snprintf(text, sizeof(text), "{\n\"log\": {\"file\": \"%s\"},\n"
		    "\"data_dir\": \"%s/missing.json.d\"}", hbt_dir(), hbt_dir());
		snprintf(json, sizeof(json), "%s/missing.json.d", hbt_dir());
		hbt_write_file(json, "not a folder");
		expect_error(text, "check.json:2: log.file: ");
		expect_error(text, "is a directory");
		expect_error(text, "check.json:3: data_dir: ");
		expect_error(text, "is not a directory");
	}
	snprintf(json, sizeof(json), "%s/missing.json", hbt_dir());
	{
		char bin[600];
		char *argv[] = { bin, "-c", json, NULL };

		snprintf(bin, sizeof(bin), "%s/homebus-writer", hbt_bin_dir());
		hb_buf_reset(&out);
		rc = hbt_run(argv, &out, 10000);
		HBT_CHECK(rc == 2 && strstr(out.data, "cannot read") &&
		    strstr(out.data, "missing.json"), "missing file: %d %s", rc, out.data);
	}
	hb_buf_free(&out);
}

/* deploy/homebus.example.json documents every option: each service takes it. */
static void
test_example_config(void)
{
	static const char *const services[] = { "writer", "ingest", "health",
	    "notifier", "deployer" };
	char bin[600], example[600];
	char *argv[] = { bin, "--check-config", "-c", example, NULL };
	struct hb_buf out = { 0 };

	snprintf(example, sizeof(example), "%s/deploy/homebus.example.json",
	    HBT_SOURCE_DIR);
	for (size_t i = 0; i < HB_ARRAY_LEN(services); i++) {
		int rc;

		snprintf(bin, sizeof(bin), "%s/homebus-%s", hbt_bin_dir(), services[i]);
		if (access(bin, X_OK) != 0)
			continue;
		hb_buf_reset(&out);
		rc = hbt_run(argv, &out, 10000);
		HBT_CHECK(rc == 0 && strstr(out.data, "configuration OK"),
		    "homebus-%s --check-config on the example: %d %s", services[i], rc,
		    out.data);
	}
	hb_buf_free(&out);
}

/*
 * The Prometheus conventions every service keeps on /metrics: the
 * exposition format's Content-Type, homebus_build_info{service,version} 1
 * and process_start_time_seconds, a moment of this test.
 */
static void
check_prometheus(int http, const char *service)
{
	struct hb_buf body = { 0 };
	char url[128], ctype[128], want[160];
	const char *at;
	double started = 0, now = (double)time(NULL);
	long st;

	snprintf(url, sizeof(url), "http://127.0.0.1:%d/metrics", http);
	st = hbt_http_get(url, &body, ctype, sizeof(ctype));
	HBT_CHECK(st == 200 && strcmp(ctype, "text/plain; version=0.0.4; "
	    "charset=utf-8") == 0, "%s /metrics: %ld Content-Type: %s", service,
	    st, ctype);
	snprintf(want, sizeof(want), "\nhomebus_build_info{service=\"%s\","
	    "version=\"%s\"} 1\n", service, HB_VERSION);
	HBT_CHECK(body.data && strstr(body.data, want) &&
	    strstr(body.data, "# TYPE homebus_build_info gauge\n"),
	    "%s: no %s", service, want + 1);
	at = body.data ? strstr(body.data, "\nprocess_start_time_seconds ") : NULL;
	if (at)
		started = strtod(at + 28, NULL);
	HBT_CHECK(at && strstr(body.data, "# TYPE process_start_time_seconds "
	    "gauge\n") && started > now - 600 && started <= now + 1,
	    "%s: process_start_time_seconds %.2f (now %.0f)", service, started, now);
	hb_buf_free(&body);
}

/* ingest, health, notifier and deployer on a broker: their /metrics */
static void
test_prometheus_conventions(void)
{
	static const char *const services[] = { "ingest", "health", "notifier",
	    "deployer" };
	struct hbt_broker broker;
	char cfg[1024], bin[600];

	HBT_REQUIRE(hbt_broker_start(&broker, NULL) == 0, "mosquitto");
	for (size_t i = 0; i < HB_ARRAY_LEN(services); i++) {
		struct hbt_service s;
		int http = hbt_free_port();

		snprintf(bin, sizeof(bin), "%s/homebus-%s", hbt_bin_dir(), services[i]);
		if (access(bin, X_OK) != 0)
			continue;
		snprintf(cfg, sizeof(cfg), "{\"data_dir\": \"%s/%s\", \"bus\": "
		    "{\"port\": %d}, \"%s\": {\"http_port\": %d}}", hbt_dir(),
		    services[i], broker.port, services[i], http);
		HBT_CHECK(hbt_service_start(&s, services[i], services[i], cfg, http)
		    == 0, "%s starts", services[i]);
		check_prometheus(http, services[i]);
		HBT_CHECK(hbt_proc_stop(&s.proc, SIGTERM, 15000) == 0, "%s stops",
		    services[i]);
	}
}

static void
test_health_metrics(void)
{
	struct hbt_broker broker;
	struct hbt_influx ix;
	struct hbt_service w;
	struct hb_buf body = { 0 };
	char cfg[1024], url[128];
	int http = hbt_free_port();
	long st;

	HBT_REQUIRE(hbt_broker_start(&broker, NULL) == 0, "mosquitto");
	HBT_REQUIRE(hbt_influx_start(&ix, NULL) == 0, "influxd");
	hbt_influx_create_db(&ix, "homebus");
	snprintf(cfg, sizeof(cfg), "{\"data_dir\": \"%s/w\", \"bus\": {\"port\": %d}, "
	    "\"writer\": {\"http_port\": %d, \"influx\": {\"url\": \"%s\"}}}", hbt_dir(),
	    broker.port, http, ix.url);
	HBT_REQUIRE(hbt_service_start(&w, "writer", "writer", cfg, http) == 0, "writer");

	snprintf(url, sizeof(url), "http://127.0.0.1:%d/health", http);
	HBT_CHECK(HBT_WAIT(hbt_http("GET", url, NULL, NULL) == 200, 10000),
	    "/health says 200 with the broker and InfluxDB up");
	st = hbt_http("GET", url, NULL, &body);
	HBT_CHECK(st == 200 && strstr(body.data, "\"status\":\"ok\"") &&
	    strstr(body.data, "\"spool\""), "%ld %s", st, body.data);

	snprintf(url, sizeof(url), "http://127.0.0.1:%d/metrics", http);
	hb_buf_reset(&body);
	st = hbt_http("GET", url, NULL, &body);
	HBT_CHECK(st == 200 && strstr(body.data, "# TYPE homebus_writer_points_written_total counter") &&
	    strstr(body.data, "process_resident_memory_bytes") &&
	    strstr(body.data, "homebus_writer_bus_connected 1"), "metrics:\n%.400s", body.data);
	check_prometheus(http, "writer");

	snprintf(url, sizeof(url), "http://127.0.0.1:%d/nope", http);
	HBT_CHECK(hbt_http("GET", url, NULL, NULL) == 404, "unknown path is 404");

	/* InfluxDB gone: /health turns 503 and says why */
	hbt_influx_kill(&ix);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/health", http);
	HBT_CHECK(HBT_WAIT(hbt_http("GET", url, NULL, NULL) == 503, 15000),
	    "/health is 503 without InfluxDB");
	hb_buf_reset(&body);
	hbt_http("GET", url, NULL, &body);
	HBT_CHECK(strstr(body.data, "\"reachable\":false") && strstr(body.data, "reason"),
	    "%s", body.data);
	HBT_CHECK(hbt_proc_stop(&w.proc, SIGTERM, 15000) == 0, "clean exit on SIGTERM");
	hb_buf_free(&body);
}

int
main(void)
{
	hbt_init("service_basics");
	test_check_config();
	test_example_config();
	test_health_metrics();
	test_prometheus_conventions();
	hbt_exit();
}
