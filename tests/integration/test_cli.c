/*
 * homebus, the command line, against a real mosquitto (and for `doctor` a
 * real influxd and writer): what a person at the terminal sees and what
 * reaches the bus. Scenarios (argv[1]):
 *
 *	basic   unreachable broker, a hostile tag, no deployer online, status
 *	        exit codes, tail's retained flag, notify from standard input,
 *	        publish, --json that parses
 *	doctor  all ok against the test's servers; with the writer and
 *	        InfluxDB stopped, the findings name both
 *
 * The deploy scenarios, which need the deployer and the fake docker, are in
 * test_cli_deploy.c.
 */
#include "hbt.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char config[600];

/* Runs `homebus -c <config> args...`; output in out, exit code returned. */
static int
cli(struct hb_buf *out, const char *const *args)
{
	char bin[600];
	char *argv[24];
	int n = 0;

	snprintf(bin, sizeof(bin), "%s/homebus", hbt_bin_dir());
	argv[n++] = bin;
	argv[n++] = "-c";
	argv[n++] = config;
	for (int i = 0; args[i] && n < 23; i++)
		argv[n++] = (char *)args[i];
	argv[n] = NULL;
	hb_buf_reset(out);
	return hbt_run(argv, out, 60000);
}

/* `input | homebus -c <config> args`, through sh. */
static int
cli_piped(struct hb_buf *out, const char *input, const char *args)
{
	char cmd[2048];
	char *argv[] = { "/bin/sh", "-c", cmd, NULL };

	snprintf(cmd, sizeof(cmd), "%s | %s/homebus -c %s %s", input,
	    hbt_bin_dir(), config, args);
	hb_buf_reset(out);
	return hbt_run(argv, out, 30000);
}

static bool
has(const struct hb_buf *b, const char *s)
{
	return b->data && strstr(b->data, s) != NULL;
}


static void
write_config(int broker_port, const char *extra)
{
	char text[2048];

	snprintf(config, sizeof(config), "%s/homebus.json", hbt_dir());
	snprintf(text, sizeof(text), "{\"data_dir\": \"%s/data\", \"bus\": "
	    "{\"port\": %d}%s%s}\n", hbt_dir(), broker_port, extra ? ", " : "",
	    extra ? extra : "");
	hbt_write_file(config, text);
}

static void
health_state(struct hbt_mqtt *peer, const char *target, const char *state)
{
	char topic[128], payload[256];

	snprintf(topic, sizeof(topic), "homebus/health/%s", target);
	snprintf(payload, sizeof(payload), "{\"target\":\"%s\",\"state\":\"%s\","
	    "\"since\":\"2026-12-04T10:00:00Z\",\"reason\":\"%s\"}", target, state,
	    strcmp(state, "ok") ? "connection refused" : "");
	hbt_mqtt_publish(peer, topic, payload, strlen(payload), 1, true);
}

static void
scenario_basic(void)
{
	struct hbt_broker broker;
	struct hb_buf out = { 0 };
	struct hbt_mqtt *peer;
	struct hbt_mqtt_msg *m;
	struct hbt_proc tail;
	char bin[600];
	int rc, dead_port = hbt_free_port();

	/* a broker nobody listens for */
	write_config(dead_port, NULL);
	rc = cli(&out, (const char *[]){ "status", NULL });
	HBT_CHECK(rc == 3 && has(&out, "cannot reach the broker at 127.0.0.1:") &&
	    has(&out, "refused"), "no broker: exit 3 and why (%d): %s", rc, out.data);

	HBT_REQUIRE(hbt_broker_start(&broker, NULL) == 0, "mosquitto starts");
	write_config(broker.port, NULL);
	peer = hbt_mqtt_connect(broker.port, "peer");
	HBT_REQUIRE(peer != NULL, "peer connects");
	hbt_mqtt_subscribe(peer, "homebus/#", 1);

	/* a hostile tag is refused before anything is sent */
	rc = cli(&out, (const char *[]){ "deploy", "1.0;rm -rf /", "--wait", NULL });
	HBT_CHECK(rc == 2 && has(&out, "is not a valid tag"), "hostile tag: exit 2 "
	    "with the rule (%d): %s", rc, out.data);
	rc = cli(&out, (const char *[]){ "deploy", "$(id)", NULL });
	HBT_CHECK(rc == 2, "$(id): exit 2 (%d)", rc);
	/* no deployer online: said at once, nothing sent */
	rc = cli(&out, (const char *[]){ "deploy", "2026.12.1", "--wait", NULL });
	HBT_CHECK(rc == 3 && has(&out, "no deployer"), "no deployer online: exit 3 "
	    "(%d): %s", rc, out.data);
	hbt_sleep_ms(300);
	HBT_CHECK(hbt_mqtt_count(peer, "homebus/deploy/command") == 0,
	    "no deploy command reached the bus");

	/* status: 0 when every target is ok, 1 otherwise */
	rc = cli(&out, (const char *[]){ "status", NULL });
	HBT_CHECK(rc == 1 && has(&out, "no health states"), "no states: exit 1 "
	    "(%d): %s", rc, out.data);
	health_state(peer, "writer", "ok");
	health_state(peer, "influxdb", "ok");
	rc = cli(&out, (const char *[]){ "status", NULL });
	HBT_CHECK(rc == 0 && has(&out, "writer") && has(&out, "influxdb"),
	    "all ok: exit 0 (%d): %s", rc, out.data);
	health_state(peer, "influxdb", "down");
	rc = cli(&out, (const char *[]){ "status", NULL });
	HBT_CHECK(rc == 1 && has(&out, "down") && has(&out, "connection refused"),
	    "one down: exit 1, with the reason (%d): %s", rc, out.data);
	rc = cli(&out, (const char *[]){ "status", "--json", NULL });
	HBT_CHECK(rc == 1 && hbt_json_lines(&out) == 1 && has(&out, "\"targets\""),
	    "status --json parses (%d): %s", rc, out.data);

	/* tail: a retained message with its flag, Ctrl-C ends it cleanly */
	hbt_mqtt_publish(peer, "homebus/x/kept", "{ \"a\" : 1 }", 11, 1, true);
	snprintf(bin, sizeof(bin), "%s/homebus", hbt_bin_dir());
	HBT_REQUIRE(hbt_proc_start(&tail, "tail", (char *const[]){ bin, "-c",
	    config, "tail", "homebus/x/#", NULL }) == 0, "tail starts");
	HBT_CHECK(HBT_WAIT(hbt_proc_log_has(&tail, "homebus/x/kept [retained] "
	    "{\"a\":1}"), 10000), "tail shows the retained message, flagged, "
	    "its JSON compacted");
	hbt_mqtt_publish(peer, "homebus/x/live", "m,k=v f=1", 9, 1, false);
	HBT_CHECK(HBT_WAIT(hbt_proc_log_has(&tail, "homebus/x/live m,k=v f=1"),
	    10000), "tail shows line protocol as is");
	rc = hbt_proc_stop(&tail, SIGINT, 5000);
	HBT_CHECK(rc == 0, "Ctrl-C ends tail with 0 (%d)", rc);
	rc = cli(&out, (const char *[]){ "publish", "--retain", "homebus/x/bin",
	    "\x01\x02", NULL });
	HBT_CHECK(rc == 0, "publish (%d): %s", rc, out.data);

	/* notify -: a multi-line text from standard input */
	rc = cli_piped(&out, "printf 'disk almost full\\nsecond line\\n'",
	    "notify --severity warning --title Disk -");
	m = hbt_mqtt_wait(peer, "homebus/notify/warning", "second line", 10000);
	HBT_CHECK(rc == 0 && m && strstr(m->payload,
	    "\"text\":\"disk almost full\\nsecond line\"") &&
	    strstr(m->payload, "\"title\":\"Disk\""), "notify - sent both lines "
	    "(%d): %s", rc, m ? m->payload : out.data);
	hbt_mqtt_msg_free(m);

	/* publish --retain */
	rc = cli(&out, (const char *[]){ "publish", "--retain", "homebus/x/r", "v1",
	    NULL });
	hbt_mqtt_close(peer);
	peer = hbt_mqtt_connect(broker.port, "peer2");
	hbt_mqtt_subscribe(peer, "homebus/x/r", 1);
	m = hbt_mqtt_wait(peer, "homebus/x/r", "v1", 5000);
	HBT_CHECK(rc == 0 && m && m->retained, "publish --retain kept it (%d)", rc);
	hbt_mqtt_msg_free(m);
	/* tail --json: one object per line */
	HBT_REQUIRE(hbt_proc_start(&tail, "tail-json", (char *const[]){ bin, "-c",
	    config, "tail", "--json", "homebus/x/#", NULL }) == 0, "tail starts");
	HBT_CHECK(HBT_WAIT(hbt_proc_log_has(&tail, "\"payload_hex\":\"0102\""),
	    10000), "binary as hex");
	hbt_proc_stop(&tail, SIGINT, 5000);
	{
		char *text = hb_read_file(tail.log, 1 << 20, NULL);
		struct hb_buf b = { 0 };

		hb_buf_puts(&b, text ? text : "");
		HBT_CHECK(hbt_json_lines(&b) >= 3, "tail --json lines parse (%d)",
		    hbt_json_lines(&b));
		hb_buf_free(&b);
		free(text);
	}
	/* the publish the broker's ACL would refuse is not covered here: see
	 * test_acl; an unknown command is a usage error */
	rc = cli(&out, (const char *[]){ "frobnicate", NULL });
	HBT_CHECK(rc == 2 && has(&out, "unknown command"), "unknown command: 2");

	hbt_mqtt_close(peer);
	hb_buf_free(&out);
	hbt_broker_stop(&broker);
}

static void
scenario_doctor(void)
{
	struct hbt_broker broker;
	struct hbt_influx ix;
	struct hbt_service w;
	struct hb_buf cfg = { 0 }, out = { 0 };
	int http = hbt_free_port(), rc;

	HBT_REQUIRE(hbt_broker_start(&broker, NULL) == 0, "mosquitto starts");
	HBT_REQUIRE(hbt_influx_start(&ix, NULL) == 0, "influxd starts");
	HBT_REQUIRE(hbt_influx_create_db(&ix, "homebus") == 0, "database");
	hbt_writer_config(&cfg, "writer", broker.port, ix.url, http, NULL, NULL);
	HBT_REQUIRE(hbt_service_start(&w, "writer", "writer", cfg.data, http) == 0,
	    "writer starts");
	/* the CLI reads the stack's own file */
	snprintf(config, sizeof(config), "%s", w.config);
	hbt_sleep_ms(1500);
	rc = cli(&out, (const char *[]){ "doctor", NULL });
	HBT_CHECK(rc == 0 && !has(&out, "fail ") && !has(&out, "warn "),
	    "doctor against a working stack: all ok (%d):\n%s", rc, out.data);
	HBT_CHECK(has(&out, "ok   sessions") && has(&out, "1100 of 1100"),
	    "the broker's queue was checked past 1000: %s", out.data);
	HBT_CHECK(has(&out, "ok   influxdb") && has(&out, "database \"homebus\""),
	    "InfluxDB with the writer's settings");
	HBT_CHECK(has(&out, "writer on writer online"), "the writer heard");
	rc = cli(&out, (const char *[]){ "doctor", "--json", NULL });
	HBT_CHECK(rc == 0 && hbt_json_lines(&out) == 1, "doctor --json parses (%d)",
	    rc);

	hbt_proc_stop(&w.proc, SIGTERM, 10000);
	hbt_influx_kill(&ix);
	rc = cli(&out, (const char *[]){ "doctor", NULL });
	HBT_CHECK(rc == 1, "doctor with the writer and InfluxDB stopped: exit 1 "
	    "(%d)", rc);
	HBT_CHECK(has(&out, "fail influxdb") && has(&out, "cannot reach InfluxDB"),
	    "names InfluxDB:\n%s", out.data);
	HBT_CHECK(has(&out, "fail services") && has(&out, "writer on writer is "
	    "offline"), "names the writer (services)");
	HBT_CHECK(has(&out, "fail spool") && has(&out, "is homebus-writer running"),
	    "names the writer (spool)");
	hb_buf_free(&cfg);
	hb_buf_free(&out);
	hbt_broker_stop(&broker);
}

int
main(int argc, char **argv)
{
	const char *which = argc > 1 ? argv[1] : "basic";

	hbt_init(which);
	if (strcmp(which, "basic") == 0)
		scenario_basic();
	else if (strcmp(which, "doctor") == 0)
		scenario_doctor();
	else
		HBT_REQUIRE(false, "unknown scenario %s", which);
	hbt_exit();
}
