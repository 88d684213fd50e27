/*
 * deploy/quickstart.sh, the README's first command, run for real on the
 * binaries of this build: it must bring the stack up on loopback, feed it,
 * land points from every demo source in InfluxDB, show a status page that
 * is all green once it settles (the watcher checks what the quickstart
 * runs — its InfluxDB, its disk, its broker, its services — and nothing
 * it does not), and stop everything it started, leaving no process behind.
 * In a second terminal, with the HOMEBUS_CONFIG it prints, `homebus status`
 * shows the stack's targets and `homebus deploy` goes through every phase
 * on the deployer's stand-in steps.
 */
#include "hbt.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* argv[0] is the script; the rest: no build, this build's binaries. */
static void
quickstart_argv(char **argv, const char *dir, const char *seconds)
{
	argv[1] = "--no-build";
	argv[2] = "--bin-dir";
	argv[3] = (char *)hbt_bin_dir();
	argv[4] = "--dir";
	argv[5] = (char *)dir;
	argv[6] = "--seconds";
	argv[7] = (char *)seconds;
	argv[8] = NULL;
}

static int
run_quickstart(const char *dir, const char *seconds, struct hb_buf *out)
{
	char script[600];
	char *argv[9] = { script };

	snprintf(script, sizeof(script), "%s/deploy/quickstart.sh", HBT_SOURCE_DIR);
	quickstart_argv(argv, dir, seconds);
	hb_buf_reset(out);
	return hbt_run(argv, out, 240000);
}

/* A line of the summary: "InfluxDB holds N points written by homebus, in: ..." */
static long
points_held(const char *out, const char **list)
{
	const char *p = strstr(out, "InfluxDB holds ");

	if (p == NULL)
		return -1;
	*list = strstr(p, " in: ");
	return strtol(p + 15, NULL, 10);
}

/* The number after `after` in the quickstart's log so far, or -1. */
static int
number_after(const struct hbt_proc *p, const char *after)
{
	char *log = hb_read_file(p->log, 16 << 20, NULL);
	const char *at = log ? strstr(log, after) : NULL;
	int n = at ? (int)strtol(at + strlen(after), NULL, 10) : -1;

	free(log);
	return n;
}

/*
 * The watcher's /health: true when it lists every target named in want
 * and every target it lists is ok. The states it has are logged in seen.
 */
static bool
all_ok(int port, const char *const *want, struct hb_buf *seen)
{
	struct hb_buf body = { 0 };
	char url[128];
	json_t *o = NULL, *targets, *v;
	const char *name;
	bool ok;

	snprintf(url, sizeof(url), "http://127.0.0.1:%d/health", port);
	ok = hbt_http("GET", url, NULL, &body) == 200 && body.data &&
	    (o = json_loads(body.data, 0, NULL)) != NULL &&
	    json_is_object(targets = json_object_get(o, "targets"));
	hb_buf_reset(seen);
	if (ok) {
		json_object_foreach(targets, name, v) {
			hb_buf_printf(seen, "%s=%s ", name, json_string_value(v));
			ok &= json_is_string(v) && strcmp(json_string_value(v), "ok") == 0;
		}
		for (size_t i = 0; want[i]; i++)
			ok &= json_object_get(targets, want[i]) != NULL;
	}
	json_decref(o);
	hb_buf_free(&body);
	return ok;
}

/*
 * What the bus says: every target's state on homebus/health/# ok, taking
 * each topic's last message (a state can change while the test listens).
 */
static void
check_bus_states(int broker_port)
{
	struct hbt_mqtt *c = hbt_mqtt_connect(broker_port, "test-quickstart");
	struct hbt_mqtt_msg *m;
	char topics[64][128], bad[256] = "";
	size_t n = 0, ok = 0;

	HBT_REQUIRE(c != NULL, "a client on the quickstart's broker");
	hbt_mqtt_subscribe(c, "homebus/health/#", 1);
	hbt_sleep_ms(2000);
	for (size_t i = 0; (m = hbt_mqtt_nth(c, "homebus/health/#", i)) != NULL;
	    i++) {
		bool known = false;

		for (size_t k = 0; k < n; k++)
			known |= strcmp(topics[k], m->topic) == 0;
		if (!known && n < 64 && strstr(m->payload, "\"state\""))
			snprintf(topics[n++], sizeof(topics[0]), "%s", m->topic);
		hbt_mqtt_msg_free(m);
	}
	for (size_t k = 0; k < n; k++) {
		m = hbt_mqtt_last(c, topics[k]);
		if (m && strstr(m->payload, "\"state\":\"ok\""))
			ok++;
		else
			snprintf(bad + strlen(bad), sizeof(bad) - strlen(bad), " %s",
			    topics[k]);
		hbt_mqtt_msg_free(m);
	}
	HBT_CHECK(n >= 6 && ok == n, "every target's state on homebus/health/# "
	    "is ok: %zu of %zu (not:%s)", ok, n, bad);
	hbt_mqtt_close(c);
}

/* The page a person opens: "N targets: N ok", nothing else. */
static void
check_page(int port)
{
	struct hb_buf body = { 0 };
	char url[128];
	const char *sum;
	long n = -1, ok = -2;

	snprintf(url, sizeof(url), "http://127.0.0.1:%d/", port);
	if (hbt_http("GET", url, NULL, &body) == 200 && body.data &&
	    (sum = strstr(body.data, "<p class=\"sum\">")) != NULL) {
		char *end;

		n = strtol(sum + 15, &end, 10);
		if (strncmp(end, " targets: ", 10) == 0)
			ok = strtol(end + 10, NULL, 10);
	}
	HBT_CHECK(n > 0 && ok == n && !strstr(body.data, " down,") &&
	    !strstr(body.data, " unknown ·"), "the status page is all green: "
	    "%ld targets, %ld ok", n, ok);
	hb_buf_free(&body);
}

/* The word after `after` in the quickstart's log so far, or "". */
static void
word_after(const struct hbt_proc *p, const char *after, char *out, size_t n)
{
	char *log = hb_read_file(p->log, 16 << 20, NULL);
	const char *at = log ? strstr(log, after) : NULL;
	size_t len = at ? strcspn(at + strlen(after), " \n") : 0;

	snprintf(out, n, "%.*s", (int)len, at ? at + strlen(after) : "");
	free(log);
}

/* The README's "Day to day", from a second terminal with the printed export. */
static void
second_terminal(const struct hbt_proc *qs)
{
	char config[700], cli[700];
	char *status[] = { cli, "status", NULL };
	char *deploy[] = { cli, "deploy", "2026.12.1", "--wait", NULL };
	struct hb_buf out = { 0 };
	int rc;

	word_after(qs, "export HOMEBUS_CONFIG=", config, sizeof(config));
	HBT_REQUIRE(config[0] != '\0', "the quickstart prints "
	    "export HOMEBUS_CONFIG=...");
	setenv("HOMEBUS_CONFIG", config, 1);
	snprintf(cli, sizeof(cli), "%s/homebus", hbt_bin_dir());
	rc = hbt_run(status, &out, 30000);
	hbt_log("homebus status:\n%s", out.data ? out.data : "");
	HBT_CHECK(rc == 0 && out.data && strstr(out.data, "broker ") &&
	    strstr(out.data, "influxdb ") && strstr(out.data, "writer ") &&
	    strstr(out.data, " ok "), "homebus status shows the quickstart's "
	    "targets (rc %d)", rc);
	rc = hbt_run(deploy, &out, 90000);
	hbt_log("homebus deploy:\n%s", out.data ? out.data : "");
	HBT_CHECK(rc == 0 && out.data && strstr(out.data, "deploy 2026.12.1: done"),
	    "homebus deploy --wait ends done on the stand-in steps (rc %d)", rc);
	unsetenv("HOMEBUS_CONFIG");
	hb_buf_free(&out);
}

/*
 * The first run, in the background: while it runs, the status page and the
 * bus are all green once it settles; then it ends by itself.
 */
static void
first_run(const char *dir, struct hb_buf *out)
{
	static const char *const want[] = { "broker", "influxdb", "data-disk",
	    "writer", "ingest", NULL };
	static const char *const gone[] = { "home-assistant", "grafana",
	    "mosquitto.service", NULL };
	struct hbt_proc qs;
	struct hb_buf seen = { 0 };
	char script[600], *argv[9] = { script }, *log;
	int page_port = -1, broker_port, rc;
	bool settled;

	snprintf(script, sizeof(script), "%s/deploy/quickstart.sh", HBT_SOURCE_DIR);
	quickstart_argv(argv, dir, "60");
	HBT_REQUIRE(hbt_proc_start(&qs, "quickstart", argv) == 0, "quickstart");
	HBT_WAIT((page_port = number_after(&qs, "Status page: http://127.0.0.1:")) > 0,
	    120000);
	broker_port = number_after(&qs, "== starting mosquitto (127.0.0.1:");
	HBT_REQUIRE(page_port > 0 && broker_port > 0, "the quickstart says where "
	    "its status page (%d) and broker (%d) are", page_port, broker_port);
	settled = HBT_WAIT(all_ok(page_port, want, &seen), 30000);
	HBT_CHECK(settled, "every target is ok once it settles: %s",
	    seen.data ? seen.data : "");
	for (size_t i = 0; gone[i]; i++)
		HBT_CHECK(seen.data && !strstr(seen.data, gone[i]), "%s, which the "
		    "quickstart does not run, is not watched", gone[i]);
	check_bus_states(broker_port);
	check_page(page_port);
	second_terminal(&qs);
	rc = hbt_proc_stop(&qs, 0, 180000);
	log = hb_read_file(qs.log, 16 << 20, NULL);
	hb_buf_reset(out);
	hb_buf_puts(out, log ? log : "");
	free(log);
	hb_buf_free(&seen);
	hbt_log("quickstart said:\n%s", out->data ? out->data : "");
	HBT_REQUIRE(rc == 0, "quickstart exits 0 (rc %d)", rc);
}

int
main(void)
{
	struct hb_buf out = { 0 };
	char dir[600], path[700];
	const char *list = NULL;
	long first, second;
	int rc;

	hbt_init("quickstart");
	snprintf(dir, sizeof(dir), "%s/qs", hbt_dir());
	first_run(dir, &out);
	first = points_held(out.data, &list);
	HBT_CHECK(first > 10, "points landed: %ld", first);
	HBT_CHECK(list && strstr(list, "zigbee") && strstr(list, "tasmota") &&
	    strstr(list, "°C") && strstr(list, "light.hallway"),
	    "every demo source has its measurement: %s", list ? list : "(none)");
	HBT_CHECK(strstr(out.data, "writer:ok") && strstr(out.data, "ingest:ok"),
	    "the status line shows the services healthy");
	HBT_CHECK(strstr(out.data, "Health: all ") != NULL,
	    "it ends saying every target is ok");
	HBT_CHECK(strstr(out.data, "did not stop") == NULL, "every process stopped");
	HBT_CHECK(strstr(out.data, "influx -port") != NULL, "it says how to query");
	snprintf(path, sizeof(path), "%s/homebus/writer-spool.db", dir);
	HBT_CHECK(access(path, F_OK) == 0, "the writer's spool is under the folder");

	/* nothing of it is left running: a second run starts on the same data */
	rc = run_quickstart(dir, "8", &out);
	HBT_CHECK(rc == 0, "a second run on the same folder exits 0 (%d):\n%s", rc,
	    out.data);
	second = points_held(out.data, &list);
	HBT_CHECK(second > 0, "the second run wrote points too: %ld", second);
	hb_buf_free(&out);
	hbt_exit();
}
