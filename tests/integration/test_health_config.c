/*
 * homebus-health --check-config: a good file says "configuration OK"; a bad
 * one names every mistake with its JSON path, one line each, and exits 2
 * (unknown target type, URL without a scheme, negative interval, and the
 * other mistakes a person makes writing targets by hand).
 */
#include "hbt.h"

#include <string.h>

static int
lines(const char *s)
{
	int n = 0;

	for (; s && *s; s++)
		n += *s == '\n';
	return n;
}

static void
expect_error(const char *json, const char *needle)
{
	struct hb_buf out = { 0 };
	int rc = hbt_check_config("health", json, &out);

	HBT_CHECK(rc == 2, "exit code %d for %s", rc, json);
	HBT_CHECK(out.data && strstr(out.data, needle), "output lacks \"%s\":\n%s",
	    needle, out.data ? out.data : "");
	hb_buf_free(&out);
}

int
main(void)
{
	struct hb_buf out = { 0 };
	char json[2048];
	int rc;

	hbt_init("health_config");

	/* http.public_url: a host as a browser reaches it, the port is each
	 * service's own */
	expect_error("{\"http\": {\"public_url\": \"nuc.local\"}}",
	    "http.public_url: \"nuc.local\" must start with http:// or https://");
	expect_error("{\"http\": {\"public_url\": \"http://nuc.local:8123\"}}",
	    "http.public_url: \"http://nuc.local:8123\" names a port");
	rc = hbt_check_config("health", "{\"http\": {\"public_url\": "
	    "\"https://nuc.local/\"}}", &out);
	HBT_CHECK(rc == 0, "a public_url is taken: %d %s", rc, out.data);

	rc = hbt_check_config("health",
	    "{\"health\": {\"interval_s\": 10, \"targets\": ["
	    "{\"name\": \"influxdb\", \"type\": \"http\", \"url\": "
	    "\"http://127.0.0.1:8086/ping\", \"expect_status\": 204},"
	    "{\"name\": \"mosquitto.service\", \"type\": \"exec\", \"argv\": "
	    "[\"systemctl\", \"is-active\", \"--quiet\", \"mosquitto\"]},"
	    "{\"name\": \"data\", \"type\": \"disk\", \"path\": \"/var\", "
	    "\"min_free_mb\": 500, \"warn_free_mb\": 2000},"
	    "{\"name\": \"bus\", \"type\": \"mqtt\", \"degraded_ms\": 200}],"
	    "\"expected_services\": [\"writer\", \"ingest/nuc2\"]}}", &out);
	HBT_CHECK(rc == 0 && strstr(out.data, "configuration OK"), "good config: %d %s",
	    rc, out.data);

	/* the three of the issue, in one file: three lines naming three paths */
	rc = hbt_check_config("health", "{\"health\": {\"targets\": [\n"
	    "{\"name\": \"a\", \"type\": \"ftp\", \"url\": \"ftp://x\"},\n"
	    "{\"name\": \"b\", \"type\": \"http\", \"url\": \"influx:8086/ping\"},\n"
	    "{\"name\": \"c\", \"type\": \"disk\", \"path\": \"/\", \"interval_s\": -5}\n"
	    "]}}\n", &out);
	HBT_CHECK(rc == 2, "exit 2: %d", rc);
	HBT_CHECK(strstr(out.data, "check.json:2: health.targets[0].type: \"ftp\" is "
	    "not one of \"http\", \"exec\", \"disk\", \"mqtt\""), "unknown type:\n%s",
	    out.data);
	HBT_CHECK(strstr(out.data, "check.json:3: health.targets[1].url: "
	    "\"influx:8086/ping\" must start with http:// or https://"),
	    "no scheme:\n%s", out.data);
	HBT_CHECK(strstr(out.data, "check.json:4: health.targets[2].interval_s: -5 is "
	    "out of range"), "negative interval:\n%s", out.data);
	HBT_CHECK(lines(out.data) == 4, "one line per error plus the summary:\n%s",
	    out.data);

	expect_error("{\"health\": {\"interval_s\": -1}}",
	    "health.interval_s: -1 is out of range");
	expect_error("{\"health\": {\"targets\": [{\"type\": \"mqtt\"}]}}",
	    "health.targets[0].name: every target needs a name");
	expect_error("{\"health\": {\"targets\": [{\"name\": \"x\"}]}}",
	    "health.targets[0].type: every target needs a type");
	expect_error("{\"health\": {\"targets\": [{\"name\": \"x\", \"type\": \"mqtt\"},"
	    "{\"name\": \"x\", \"type\": \"mqtt\"}]}}",
	    "health.targets[1].name: \"x\" is the name of another target too");
	expect_error("{\"health\": {\"targets\": [{\"name\": \"bad name\", "
	    "\"type\": \"mqtt\"}]}}", "health.targets[0].name: \"bad name\": use");
	/* P/health/check takes requests and P/health/_all is the overall state */
	expect_error("{\"health\": {\"targets\": [{\"name\": \"check\", "
	    "\"type\": \"mqtt\"}]}}", "health.targets[0].name: \"check\" is reserved: "
	    "<prefix>/health/check is where the watcher takes check requests");
	expect_error("{\"health\": {\"targets\": [{\"name\": \"_all\", "
	    "\"type\": \"mqtt\"}]}}", "health.targets[0].name: \"_all\": use");
	expect_error("{\"health\": {\"targets\": [{\"name\": \"e\", \"type\": \"exec\"}]}}",
	    "health.targets[0].argv: an exec target needs argv");
	expect_error("{\"health\": {\"targets\": [{\"name\": \"e\", \"type\": \"exec\", "
	    "\"argv\": \"systemctl is-active x\"}]}}",
	    "health.targets[0].argv: expected a list, got a string");
	expect_error("{\"health\": {\"targets\": [{\"name\": \"d\", \"type\": \"disk\", "
	    "\"path\": \"var\"}]}}", "health.targets[0].path: a disk target needs an "
	    "absolute path");
	expect_error("{\"health\": {\"targets\": [{\"name\": \"d\", \"type\": \"disk\", "
	    "\"path\": \"/\", \"min_free_mb\": 100, \"warn_free_mb\": 50}]}}",
	    "health.targets[0].warn_free_mb: 50 must be more than min_free_mb");
	expect_error("{\"health\": {\"targets\": [{\"name\": \"h\", \"type\": \"http\", "
	    "\"url\": \"http://x/\", \"token\": \"abc\"}]}}",
	    "health.targets[0].token: secrets are not read from the JSON");
	expect_error("{\"health\": {\"targets\": [{\"name\": \"h\", \"type\": \"http\", "
	    "\"url\": \"http://x/\", \"token_file\": \"/nonexistent/token\"}]}}",
	    "health.targets[0].token_file: cannot read secret file");
	expect_error("{\"health\": {\"targets\": [{\"name\": \"h\", \"type\": \"http\", "
	    "\"url\": \"http://x/\", \"urll\": \"http://x/\"}]}}",
	    "health.targets[0].urll: unknown key");
	expect_error("{\"health\": {\"targets\": [{\"name\": \"h\", \"type\": \"disk\", "
	    "\"path\": \"/\", \"url\": \"http://x/\"}]}}",
	    "health.targets[0].url: unknown key");
	expect_error("{\"health\": {\"targets\": [{\"name\": \"h\", \"type\": \"http\", "
	    "\"url\": \"http://x/\", \"interval_s\": 1, \"timeout_ms\": 1000}]}}",
	    "health.targets[0].timeout_ms: 1000 ms must be shorter than the interval");
	expect_error("{\"health\": {\"targets\": [{\"name\": \"h\", \"type\": \"http\", "
	    "\"url\": \"http://x/\", \"method\": \"FETCH\"}]}}",
	    "health.targets[0].method: \"FETCH\" is not one of");
	expect_error("{\"health\": {\"expected_services\": [\"writer/nuc/2\"]}}",
	    "health.expected_services[0]: \"writer/nuc/2\": expected a service name");
	expect_error("{\"bus\": {\"heartbeat_s\": 30}, \"health\": "
	    "{\"heartbeat_timeout_s\": 20}}", "health.heartbeat_timeout_s: 20 s must be "
	    "longer than bus.heartbeat_s (30 s)");
	expect_error("{\"health\": {\"notify\": {\"down\": \"loud\"}}}",
	    "health.notify.down: \"loud\" is not one of");
	expect_error("{\"health\": {\"intervall_s\": 5}}",
	    "health.intervall_s: unknown key");
	snprintf(json, sizeof(json), "{\"health\": {\"homeassistant\": {\"prefix\": "
	    "\"home/#\"}}}");
	expect_error(json, "health.homeassistant.prefix: \"home/#\" must be a topic");
	hb_buf_free(&out);
	hbt_exit();
}
