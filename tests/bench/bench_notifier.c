/*
 * bench_notifier: what homebus-notifier costs and how late a notification
 * reaches Telegram (the fake Bot API on loopback), with Telegram's default
 * limits: publish-to-arrival latency of lone notifications, how fast
 * notifications are taken into the outbox while Telegram is unreachable
 * (each is a SQLite transaction), how long the backlog takes to drain at
 * 1 message/s per chat and 30/s overall (after a restart with a fresh
 * outbox, so that it takes seconds), and RSS / CPU. A tool that prints
 * a table, not a test.
 *
 *   bench_notifier [-n NOTIFICATIONS] [--quick]
 */
#include "hbt.h"
#include "hbt_telegram.h"

#include <getopt.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#define TOKEN "111:bench-token"

static long
proc_rss_kb(pid_t pid)
{
	char path[64], *text, *p;
	long kb = -1;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	text = hb_read_file(path, 1 << 16, NULL);
	if (text && (p = strstr(text, "VmRSS:")) != NULL)
		kb = strtol(p + 6, NULL, 10);
	free(text);
	return kb;
}

static double
proc_cpu_s(pid_t pid)
{
	char path[64], *text, *p;
	unsigned long ut = 0, st = 0;
	double v = -1;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	text = hb_read_file(path, 1 << 16, NULL);
	/* fields 14 and 15 after the command name in parentheses */
	if (text && (p = strrchr(text, ')')) != NULL &&
	    sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu",
	    &ut, &st) == 2)
		v = (double)(ut + st) / 100.0;
	free(text);
	return v;
}

static int
cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

/* info goes to the first chat only, warning to all of them */
static void
publish(struct hbt_mqtt *m, const char *severity, const char *text)
{
	char payload[256], topic[64];

	snprintf(payload, sizeof(payload), "{\"text\":\"%s\",\"source\":\"bench\"}",
	    text);
	snprintf(topic, sizeof(topic), "homebus/notify/%s", severity);
	hbt_mqtt_publish(m, topic, payload, strlen(payload), 1, false);
}

/* Publishes n notifications while Telegram is away; returns how many per
 * second went into the outbox. */
static double
intake(struct hbt_mqtt *m, int http, const char *severity, int n, int rows_each)
{
	double before = hbt_metric(http, "homebus_notifier_outbox_messages");
	int64_t t0 = hb_mono_ms(), t1;
	char text[64];

	for (int i = 0; i < n; i++) {
		snprintf(text, sizeof(text), "%s backlog %05d", severity, i);
		publish(m, severity, text);
	}
	HBT_REQUIRE(HBT_WAIT(hbt_metric(http, "homebus_notifier_outbox_messages") >=
	    before + (double)n * rows_each, 600000), "backlog in the outbox");
	t1 = hb_mono_ms();
	return n * 1000.0 / (double)(t1 - t0);
}

/* Arrival time of the first delivered message containing needle, or -1. */
static int64_t
arrival(struct hbt_telegram *tg, const char *needle)
{
	json_t *all = hbt_telegram_select(tg, "sendMessage", 200), *r;
	int64_t at = -1;
	size_t i;

	json_array_foreach(all, i, r) {
		const char *t = json_string_value(json_object_get(json_object_get(r,
		    "body"), "text"));

		if (t && strstr(t, needle)) {
			at = json_integer_value(json_object_get(r, "at_ms"));
			break;
		}
	}
	json_decref(all);
	return at;
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "quick", no_argument, NULL, 'q' }, { NULL, 0, NULL, 0 } };
	struct hbt_broker broker;
	struct hbt_telegram tg;
	struct hbt_service nf;
	struct hbt_mqtt *m;
	struct hb_buf cfg = { 0 };
	char token_file[600], text[64];
	int http = hbt_free_port(), c, lone = 20, backlog = 2000, chats = 60;
	int drain_n = 10;
	int64_t *lat;
	double rate_one, rate_all;
	long rss_idle, rss_peak;
	double cpu0, cpu1;

	while ((c = getopt_long(argc, argv, "n:", opts, NULL)) != -1) {
		if (c == 'q') {
			lone = 3;
			backlog = 100;
			chats = 10;
			drain_n = 3;
		} else if (c == 'n')
			backlog = (int)strtol(optarg, NULL, 10);
	}
	hbt_init("bench_notifier");
	HBT_REQUIRE(hbt_broker_start(&broker, NULL) == 0, "mosquitto");
	HBT_REQUIRE(hbt_telegram_start(&tg, TOKEN) == 0, "fake telegram");
	snprintf(token_file, sizeof(token_file), "%s/token", hbt_dir());
	hbt_write_file(token_file, TOKEN);
	hb_buf_printf(&cfg, "{\"data_dir\": \"%s/nf\", \"log\": {\"format\": "
	    "\"text\"}, \"bus\": {\"port\": %d}, \"notifier\": {\"http_port\": %d, "
	    "\"retry_min_ms\": 200, \"retry_max_ms\": 1000, \"telegram\": "
	    "{\"api_url\": \"%s\", \"token_file\": \"%s\", \"chat_ids\": [",
	    hbt_dir(), broker.port, http, tg.url, token_file);
	hb_buf_puts(&cfg, "5000");
	for (int i = 1; i < chats; i++)
		hb_buf_printf(&cfg, ", {\"id\": %d, \"min_severity\": \"warning\"}",
		    5000 + i);
	hb_buf_puts(&cfg, "]}}}");
	HBT_REQUIRE(hbt_service_start(&nf, "notifier", "notifier", cfg.data, http) == 0,
	    "notifier");
	HBT_REQUIRE(HBT_WAIT(hbt_metric(http, "homebus_notifier_bus_connected") == 1,
	    10000), "on the bus");
	m = hbt_mqtt_connect(broker.port, "bench");
	HBT_REQUIRE(m != NULL, "mqtt");
	hbt_sleep_ms(1000);
	rss_idle = proc_rss_kb(nf.proc.pid);

	/* lone notifications, far enough apart that no limit applies */
	lat = hb_xcalloc((size_t)lone, sizeof(*lat));
	for (int i = 0; i < lone; i++) {
		int64_t sent;

		snprintf(text, sizeof(text), "lone %03d", i);
		sent = hb_mono_ms();
		publish(m, "info", text);
		HBT_REQUIRE(HBT_WAIT(arrival(&tg, text) >= 0, 10000), "%s arrives", text);
		lat[i] = arrival(&tg, text) - sent;
		hbt_sleep_ms(1100);
	}
	qsort(lat, (size_t)lone, sizeof(*lat), cmp_i64);

	/* Telegram unreachable: how fast notifications go into the outbox */
	hbt_telegram_kill(&tg);
	rate_one = intake(m, http, "info", backlog, 1);
	rate_all = intake(m, http, "warning", backlog, chats);
	rss_peak = proc_rss_kb(nf.proc.pid);

	/* start again with an empty outbox, and a backlog small enough to drain */
	HBT_CHECK(hbt_proc_stop(&nf.proc, SIGTERM, 15000) == 0, "clean stop");
	{
		const char *const sfx[] = { "", "-wal", "-shm" };
		char path[700];

		for (size_t i = 0; i < HB_ARRAY_LEN(sfx); i++) {
			snprintf(path, sizeof(path), "%s/nf/notifier-outbox.db%s", hbt_dir(),
			    sfx[i]);
			unlink(path);
		}
	}
	HBT_REQUIRE(hbt_proc_restart(&nf.proc) == 0, "notifier restarts");
	HBT_REQUIRE(HBT_WAIT(hbt_metric(http, "homebus_notifier_bus_connected") == 1,
	    10000), "on the bus");
	cpu0 = proc_cpu_s(nf.proc.pid);
	for (int i = 0; i < drain_n; i++) {
		snprintf(text, sizeof(text), "drain %05d", i);
		publish(m, "warning", text);
	}
	HBT_REQUIRE(HBT_WAIT(hbt_metric(http, "homebus_notifier_outbox_messages") >=
	    (double)drain_n * chats, 60000), "drain backlog in the outbox");

	/* Telegram back: the backlog drains at the limits */
	HBT_REQUIRE(hbt_telegram_restart(&tg) == 0, "fake back");
	{
		int64_t start = hb_mono_ms(), end;
		double msgs = (double)drain_n * chats;
		long rss_drain;

		HBT_REQUIRE(HBT_WAIT(hbt_metric(http, "homebus_notifier_outbox_messages")
		    == 0, (int64_t)(msgs / 25 * 1000) + 120000), "drained");
		end = hb_mono_ms();
		rss_drain = proc_rss_kb(nf.proc.pid);
		if (rss_drain > rss_peak)
			rss_peak = rss_drain;
		cpu1 = proc_cpu_s(nf.proc.pid);
		printf("\n| measure | value | note |\n|---|---:|---|\n");
		printf("| publish -> Telegram, lone notification, p50 | %lld ms | %d "
		    "samples, fake Bot API on loopback |\n", (long long)lat[lone / 2],
		    lone);
		printf("| publish -> Telegram, lone notification, max | %lld ms | |\n",
		    (long long)lat[lone - 1]);
		printf("| into the outbox while Telegram is down, 1 chat | %.0f "
		    "notifications/s | %d notifications, one transaction each; the publisher "
		    "waits for each PUBACK |\n",
		    rate_one, backlog);
		printf("| into the outbox while Telegram is down, %d chats | %.0f "
		    "notifications/s | %d notifications = %d rows |\n", chats, rate_all,
		    backlog, backlog * chats);
		printf("| backlog drained when Telegram is back | %.1f messages/s | "
		    "%.0f messages to %d chats; limits 30/s overall, 1/s per chat |\n",
		    msgs * 1000.0 / (double)(end - start), msgs, chats);
		printf("| RSS idle | %.1f MB | |\n", (double)rss_idle / 1024.0);
		printf("| RSS peak | %.1f MB | with %d rows in the outbox |\n",
		    (double)rss_peak / 1024.0, backlog * (chats + 1));
		printf("| CPU after the restart | %.2f s | taking %d notifications and "
		    "sending %.0f messages |\n", cpu1 - cpu0, drain_n, msgs);
	}
	free(lat);
	hbt_mqtt_close(m);
	hb_buf_free(&cfg);
	hbt_exit();
}
