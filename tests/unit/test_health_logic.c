/*
 * The health watcher's logic without a bus: hysteresis in every direction
 * (ok, degraded, down, from unknown, after a forced state), the reasons it
 * gives on the way, the hour of history, Home Assistant ids and configs,
 * the probe and status payloads, the page's escaping, output excerpts,
 * reading health.targets, removing a metrics series, heartbeats with
 * absurd uptimes; and, on a loop, the checks themselves: disk space
 * through a child (a statvfs that hangs does not hang the loop), reasons
 * that stay the same from check to check, the watchdog for a check that
 * never ends, and no second child while one is stuck after SIGKILL.
 */
#include "hbt.h"
#include "checkreq.h"
#include "checks.h"
#include "ha_discovery.h"
#include "hb_http_client.h"
#include "hb_metrics.h"
#include "hb_proc.h"
#include "page.h"
#include "probe.h"
#include "target.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const struct target_defaults defaults = { 1000, 500, 3, 2 };

static struct target *
new_target(void)
{
	return target_new_service("t", "svc", "hub", &defaults);
}

/* Records one result; returns the state after it. */
static enum hb_health_state
feed(struct target *t, enum check_level level, int64_t now)
{
	struct check_result r = { level, 1.5, "", 0, 0 };

	snprintf(r.reason, sizeof(r.reason), "%s", level == LEVEL_OK ? "fine" :
	    level == LEVEL_DEGRADED ? "slow" : "broken");
	target_record(t, &r, now);
	return t->state;
}

static void
test_hysteresis(void)
{
	struct target *t = new_target();
	int64_t now = 1000000;

	HBT_CHECK(t->state == HB_HEALTH_UNKNOWN, "starts unknown");
	HBT_CHECK(feed(t, LEVEL_OK, now) == HB_HEALTH_OK, "from unknown, one good "
	    "check is enough");
	HBT_CHECK(t->since_ms == now, "since is the transition");
	HBT_CHECK(feed(t, LEVEL_FAIL, now + 1) == HB_HEALTH_OK &&
	    strcmp(t->reason, "broken (1 of 3 failed checks)") == 0, "1 of 3: %s",
	    t->reason);
	HBT_CHECK(feed(t, LEVEL_FAIL, now + 2) == HB_HEALTH_OK &&
	    strstr(t->reason, "(2 of 3 failed checks)"), "2 of 3: %s", t->reason);
	HBT_CHECK(t->since_ms == now, "since stays while the state does");
	HBT_CHECK(feed(t, LEVEL_FAIL, now + 3) == HB_HEALTH_DOWN &&
	    strcmp(t->reason, "broken") == 0, "3 of 3: down, %s", t->reason);
	HBT_CHECK(t->since_ms == now + 3, "since moves");
	HBT_CHECK(feed(t, LEVEL_OK, now + 4) == HB_HEALTH_DOWN &&
	    strcmp(t->reason, "fine (1 of 2 good checks)") == 0, "1 of 2: %s",
	    t->reason);
	HBT_CHECK(feed(t, LEVEL_FAIL, now + 5) == HB_HEALTH_DOWN, "a failure resets");
	HBT_CHECK(feed(t, LEVEL_OK, now + 6) == HB_HEALTH_DOWN, "1 of 2 again");
	HBT_CHECK(feed(t, LEVEL_OK, now + 7) == HB_HEALTH_OK, "2 of 2: ok");
	/* an interrupted bad run does not count */
	feed(t, LEVEL_FAIL, now + 8);
	feed(t, LEVEL_FAIL, now + 9);
	feed(t, LEVEL_OK, now + 10);
	HBT_CHECK(feed(t, LEVEL_FAIL, now + 11) == HB_HEALTH_OK &&
	    strstr(t->reason, "(1 of 3"), "the count starts again: %s", t->reason);
	HBT_CHECK(t->checks == 12, "checks counted: %llu",
	    (unsigned long long)t->checks);
	target_free(t);

	/* from unknown, bad results need fail_after too */
	t = new_target();
	feed(t, LEVEL_FAIL, now);
	HBT_CHECK(feed(t, LEVEL_FAIL, now) == HB_HEALTH_UNKNOWN &&
	    strstr(t->reason, "(2 of 3 failed checks)"), "unknown for 2: %s", t->reason);
	HBT_CHECK(feed(t, LEVEL_FAIL, now) == HB_HEALTH_DOWN, "down on the third");
	target_free(t);

	/* degraded: between ok and down, in both directions */
	t = new_target();
	feed(t, LEVEL_OK, now);
	feed(t, LEVEL_DEGRADED, now);
	feed(t, LEVEL_FAIL, now);
	HBT_CHECK(feed(t, LEVEL_DEGRADED, now) == HB_HEALTH_DEGRADED,
	    "three results no better than degraded: degraded");
	feed(t, LEVEL_FAIL, now);
	HBT_CHECK(feed(t, LEVEL_FAIL, now) == HB_HEALTH_DEGRADED, "two fails: still "
	    "degraded");
	HBT_CHECK(feed(t, LEVEL_FAIL, now) == HB_HEALTH_DOWN, "three: down");
	feed(t, LEVEL_DEGRADED, now);
	HBT_CHECK(feed(t, LEVEL_DEGRADED, now) == HB_HEALTH_DEGRADED,
	    "two results no worse than degraded: back to degraded");
	feed(t, LEVEL_OK, now);
	HBT_CHECK(feed(t, LEVEL_OK, now) == HB_HEALTH_OK, "then ok");
	target_free(t);

	/* fail_after 1, recover_after 1: no hysteresis at all */
	t = new_target();
	t->fail_after = t->recover_after = 1;
	HBT_CHECK(feed(t, LEVEL_FAIL, now) == HB_HEALTH_DOWN, "fail_after 1");
	HBT_CHECK(feed(t, LEVEL_OK, now) == HB_HEALTH_OK, "recover_after 1");
	target_free(t);

	/* forced (a last will): at once, and the good results before it do not
	 * count towards the recovery */
	t = new_target();
	feed(t, LEVEL_OK, now);
	feed(t, LEVEL_OK, now);
	HBT_CHECK(target_force(t, HB_HEALTH_DOWN, "offline", now + 1) &&
	    t->state == HB_HEALTH_DOWN && strcmp(t->reason, "offline") == 0,
	    "forced down");
	HBT_CHECK(!target_force(t, HB_HEALTH_DOWN, "offline", now + 2) &&
	    t->since_ms == now + 1, "forcing the same state changes nothing");
	HBT_CHECK(feed(t, LEVEL_OK, now + 3) == HB_HEALTH_DOWN, "one good check is "
	    "not enough after a force");
	HBT_CHECK(feed(t, LEVEL_OK, now + 4) == HB_HEALTH_OK, "two are");
	target_free(t);
}

static void
test_history(void)
{
	struct target *t = new_target();
	int64_t minute = 29000000, at = minute * 60000;
	unsigned checks = 0;

	feed(t, LEVEL_OK, at);
	feed(t, LEVEL_FAIL, at + 1000);
	feed(t, LEVEL_OK, at + 2000);
	feed(t, LEVEL_DEGRADED, at + 61000);
	HBT_CHECK(target_history_at(t, minute, &checks) == LEVEL_FAIL && checks == 3,
	    "a minute shows its worst result: %d checks=%u",
	    target_history_at(t, minute, NULL), checks);
	HBT_CHECK(target_history_at(t, minute + 1, NULL) == LEVEL_DEGRADED,
	    "the next minute");
	HBT_CHECK(target_history_at(t, minute - 1, NULL) == -1, "no checks: -1");
	HBT_CHECK(target_history_at(t, minute + 2, NULL) == -1, "not yet: -1");
	feed(t, LEVEL_OK, at + 60 * 60000);
	HBT_CHECK(target_history_at(t, minute + 60, NULL) == LEVEL_OK &&
	    target_history_at(t, minute, NULL) == -1, "an hour later the slot is reused");
	target_free(t);
}

static void
test_names(void)
{
	char a[160], b[160];

	HBT_CHECK(target_name_ok("influxdb") && target_name_ok("ha.api-1") &&
	    !target_name_ok("") && !target_name_ok("_all") && !target_name_ok("a b") &&
	    !target_name_ok("a/b") && !target_name_ok("x@y") && !target_name_ok(".x"),
	    "target names");
	target_ha_id("influxdb", a, sizeof(a));
	HBT_CHECK(strcmp(a, "influxdb") == 0, "plain ids stay: %s", a);
	target_ha_id("writer@nuc.lan", a, sizeof(a));
	target_ha_id("writer@nuc_lan", b, sizeof(b));
	HBT_CHECK(strncmp(a, "writer_nuc_lan_", 15) == 0 && strlen(a) == 23,
	    "other characters become _ plus a hash: %s", a);
	HBT_CHECK(strcmp(a, b) != 0, "two names, two ids: %s %s", a, b);
	for (const char *p = a; *p; p++)
		HBT_CHECK((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
		    *p == '_', "id character %c", *p);
	ha_device_id("nuc.lan", a, sizeof(a));
	HBT_CHECK(strncmp(a, "homebus_health_nuc_lan_", 23) == 0, "device id %s", a);
}

static void
test_payloads(void)
{
	char name[64], buf[200];
	uint64_t seq = 0;
	int64_t us = 0;

	HBT_CHECK(svc_status_parse("online", 6) == SVC_ONLINE &&
	    svc_status_parse("offline", 7) == SVC_OFFLINE &&
	    svc_status_parse("", 0) == SVC_UNSEEN &&
	    svc_status_parse("onlinex", 7) == -1 && svc_status_parse("online", 5) == -1,
	    "status payloads");
	HBT_CHECK(probe_encode(buf, sizeof(buf), 42, 123456789, "broker") > 0 &&
	    strcmp(buf, "42 123456789 broker") == 0, "probe: %s", buf);
	HBT_CHECK(probe_decode(buf, strlen(buf), &seq, &us, name, sizeof(name)) == 0 &&
	    seq == 42 && us == 123456789 && strcmp(name, "broker") == 0, "decoded");
	HBT_CHECK(probe_decode("42 1", 4, &seq, &us, name, sizeof(name)) != 0 &&
	    probe_decode("x 1 b", 5, &seq, &us, name, sizeof(name)) != 0 &&
	    probe_decode("-1 1 b", 6, &seq, &us, name, sizeof(name)) != 0 &&
	    probe_decode("1 1 ", 4, &seq, &us, name, sizeof(name)) != 0 &&
	    probe_decode("1 1 a\0b", 7, &seq, &us, name, sizeof(name)) != 0 &&
	    probe_decode("", 0, &seq, &us, name, sizeof(name)) != 0,
	    "malformed probes refused");
	HBT_CHECK(probe_decode("1 2 0123456789", 14, &seq, &us, name, 8) != 0,
	    "a name too long for the buffer is refused");
}

static void
test_ha(void)
{
	struct ha_opts o = { "homeassistant", "homebus_health_hub", "homebus health",
	    "homebus/svc/health/hub/status", NULL };
	char id[200], topic[300], node[200], other[200], key[220];
	json_t *c;
	char *text;

	ha_node_id("hub", "influxdb", node, sizeof(node));
	HBT_CHECK(strcmp(node, "homebus_hub_influxdb") == 0, "the node id carries "
	    "the watcher's instance: %s", node);
	ha_node_id("hub2", "influxdb", other, sizeof(other));
	HBT_CHECK(strcmp(node, other) != 0, "two watchers, two node ids: %s %s", node,
	    other);
	ha_node_id("nuc.lan", "_all", other, sizeof(other));
	HBT_CHECK(strncmp(other, "homebus_nuc_lan_", 16) == 0 &&
	    strcmp(other + strlen(other) - 5, "__all") == 0, "instances as ids: %s",
	    other);
	c = ha_config(&o, "influxdb", node, "homebus/health/influxdb");
	text = json_dumps(c, JSON_COMPACT);
	HBT_CHECK(ha_key(key, sizeof(key), HA_BINARY_SENSOR, node) == 0 &&
	    ha_config_topic(topic, sizeof(topic), "homeassistant", key) == 0 &&
	    strcmp(topic, "homeassistant/binary_sensor/homebus_hub_influxdb/health/config")
	    == 0, "topic %s", topic);
	HBT_CHECK(ha_topic_node(topic, "homeassistant", id, sizeof(id)) &&
	    strcmp(id, "binary_sensor/homebus_hub_influxdb") == 0,
	    "key from the topic: %s", id);
	HBT_CHECK(ha_topic_node("homeassistant/sensor/homebus_hub_disk_free_mb/"
	    "health/config", "homeassistant", id, sizeof(id)) &&
	    strcmp(id, "sensor/homebus_hub_disk_free_mb") == 0,
	    "a sensor's key from its topic: %s", id);
	HBT_CHECK(ha_topic_node("homeassistant/binary_sensor/homebus_influxdb/"
	    "health/config", "homeassistant", id, sizeof(id)) &&
	    strcmp(id, "binary_sensor/homebus_influxdb") == 0, "an old node id "
	    "(without the instance) is found too, to be removed: %s", id);
	HBT_CHECK(!ha_topic_node("homeassistant/binary_sensor/zigbee_x/health/config",
	    "homeassistant", id, sizeof(id)) &&
	    !ha_topic_node("homeassistant/binary_sensor/homebus_/health/config",
	    "homeassistant", id, sizeof(id)) &&
	    !ha_topic_node("homeassistant/binary_sensor/homebus_a/b/health/config",
	    "homeassistant", id, sizeof(id)) &&
	    !ha_topic_node("other/binary_sensor/homebus_a/health/config",
	    "homeassistant", id, sizeof(id)) &&
	    !ha_topic_node("homeassistant/switch/homebus_a/health/config",
	    "homeassistant", id, sizeof(id)) &&
	    !ha_topic_node("homeassistant/sensor/homebus_a/b/health/config",
	    "homeassistant", id, sizeof(id)), "other topics are not ours");
	HBT_CHECK(ha_config_is_ours(text, strlen(text), "homebus_health_hub"),
	    "our config is recognised");
	HBT_CHECK(!ha_config_is_ours(text, strlen(text), "homebus_health_other"),
	    "another watcher's is not");
	HBT_CHECK(ha_config_is_ours("{\"dev\":{\"ids\":\"homebus_health_hub\"}}", 36,
	    "homebus_health_hub"), "abbreviated keys");
	HBT_CHECK(!ha_config_is_ours("", 0, "x") && !ha_config_is_ours("[]", 2, "x") &&
	    !ha_config_is_ours("{\"device\":[]}", 13, "x") &&
	    !ha_config_is_ours("{\"device\":{\"identifiers\":[1]}}", 30, "1"),
	    "anything else is not ours");
	HBT_CHECK(strstr(text, "\"unique_id\":\"homebus_hub_influxdb\"") &&
	    strstr(text, "\"device_class\":\"problem\"") &&
	    strstr(text, "\"state_topic\":\"homebus/health/influxdb\"") &&
	    strstr(text, "\"identifiers\":[\"homebus_health_hub\"]"), "config: %s", text);
	free(text);
	json_decref(c);
}

static void
test_page(void)
{
	struct target_list list;
	struct target *t = new_target();
	struct page_info pi = { "hub<1>", HB_HEALTH_DOWN, false, 15, 0, NULL };
	struct hb_buf b = { 0 };
	char d[40];

	page_escape(&b, "<a href='x'>&\"</a>");
	HBT_CHECK(strcmp(b.data, "&lt;a href=&#39;x&#39;&gt;&amp;&quot;&lt;/a&gt;") == 0,
	    "escaped: %s", b.data);
	hb_buf_reset(&b);
	page_duration(42000, d, sizeof(d));
	HBT_CHECK(strcmp(d, "42 s") == 0, "%s", d);
	page_duration(3 * 3600000 + 12 * 60000, d, sizeof(d));
	HBT_CHECK(strcmp(d, "3 h 12 min") == 0, "%s", d);
	page_duration(2 * 86400000LL + 3600000, d, sizeof(d));
	HBT_CHECK(strcmp(d, "2 d 1 h") == 0, "%s", d);

	TAILQ_INIT(&list);
	snprintf(t->name, sizeof(t->name), "svc@host");
	target_ha_id(t->name, t->ha_id, sizeof(t->ha_id));
	pi.now_ms = 29000000LL * 60000;
	feed(t, LEVEL_FAIL, pi.now_ms);
	target_force(t, HB_HEALTH_DOWN, "<script>alert(1)</script>", pi.now_ms);
	TAILQ_INSERT_TAIL(&list, t, entry);
	page_render(&b, &list, &pi);
	HBT_CHECK(strstr(b.data, "<script") == NULL && strstr(b.data,
	    "&lt;script&gt;alert(1)&lt;/script&gt;"), "reasons are escaped");
	HBT_CHECK(strstr(b.data, "hub&lt;1&gt;") != NULL, "the instance is escaped");
	HBT_CHECK(strstr(b.data, "not connected to the broker") != NULL,
	    "the page says the watcher is cut off");
	HBT_CHECK(strstr(b.data, "<i class=\"down\"></i></div>") != NULL,
	    "this minute's cell, last in the strip, is red");
	targets_free(&list);
	hb_buf_free(&b);
}

static void
test_excerpt(void)
{
	char out[16];
	const char bad[] = "ok\xff\xfe";

	check_excerpt("first\nsecond\n\n", 14, true, out, sizeof(out));
	HBT_CHECK(strcmp(out, "second") == 0, "last line: %s", out);
	check_excerpt("first\nsecond\n", 13, false, out, sizeof(out));
	HBT_CHECK(strcmp(out, "first") == 0, "first line: %s", out);
	check_excerpt("a\tb\x1b[31mc", 9, true, out, sizeof(out));
	HBT_CHECK(strcmp(out, "a b [31mc") == 0, "control characters: %s", out);
	check_excerpt(bad, sizeof(bad) - 1, true, out, sizeof(out));
	HBT_CHECK(strcmp(out, "ok??") == 0, "invalid UTF-8: %s", out);
	check_excerpt("h\xc3\xa9h\xc3\xa9h\xc3\xa9h\xc3\xa9h\xc3\xa9h\xc3\xa9", 18, true, out, 8);
	HBT_CHECK(strcmp(out, "h\xc3\xa9h\xc3\xa9h") == 0, "cut between characters: %s",
	    out);
}

static void
test_config(void)
{
	const char *text = "{\"health\": {\"interval_s\": 10, \"targets\": ["
	    "{\"name\": \"web\", \"type\": \"http\", \"url\": \"http://x/\"},"
	    "{\"name\": \"job\", \"type\": \"exec\", \"argv\": [\"true\", \"a b\"], "
	    "\"interval_s\": 2, \"fail_after\": 5}]}}";
	struct target_defaults d = { 10000, 5000, 3, 2 };
	struct target_list list;
	struct hb_config *cfg;
	struct target *t;
	char err[200];

	TAILQ_INIT(&list);
	cfg = hb_config_parse(text, strlen(text), "test", err, sizeof(err));
	HBT_REQUIRE(cfg != NULL, "%s", err);
	targets_read(cfg, &d, &list);
	HBT_CHECK(hb_config_error_count(cfg) == 0, "no errors");
	t = targets_find(&list, "web");
	HBT_CHECK(t && t->type == TT_HTTP && t->interval_ms == 10000 &&
	    t->timeout_ms == 5000 && t->fail_after == 3 && t->expect_status == 0 &&
	    strcmp(t->method, "GET") == 0, "defaults");
	t = targets_find(&list, "job");
	HBT_CHECK(t && t->argv && strcmp(t->argv[1], "a b") == 0 && !t->argv[2] &&
	    t->interval_ms == 2000 && t->timeout_ms == 1800 && t->fail_after == 5,
	    "its own values; a default timeout shrinks with a short interval: %lld",
	    t ? (long long)t->timeout_ms : -1);
	t = targets_find(&list, "broker");
	HBT_CHECK(t && t->type == TT_MQTT, "the broker is always watched");
	targets_free(&list);
	hb_config_free(cfg);
}

/* checkreq's "check now": counts what it was handed. */
static void
count_now(void *arg, struct target *t)
{
	(void)t;
	(*(int *)arg)++;
}

/*
 * Check requests: a named target is hurried to the request's interval
 * until its end (at most 15 minutes ahead, at least every second), then
 * back to its own; no names is every target; unknown names and unreadable
 * requests change nothing.
 */
static void
test_check_requests(void)
{
	struct target_list list;
	struct checkreq c;
	struct target *web, *job;
	int64_t now = 1764800000000;
	char req[300];
	int handed = 0;

	TAILQ_INIT(&list);
	web = new_target();
	snprintf(web->name, sizeof(web->name), "web");
	web->interval_ms = 30000;
	job = new_target();
	snprintf(job->name, sizeof(job->name), "job");
	job->interval_ms = 30000;
	TAILQ_INSERT_TAIL(&list, web, entry);
	TAILQ_INSERT_TAIL(&list, job, entry);
	checkreq_init(&c, &list);
	HBT_CHECK(target_next_ms(web, now) == 30000, "its own interval at first");

	snprintf(req, sizeof(req), "{\"targets\": [\"web\", \"nope\"], "
	    "\"until\": \"2025-12-03T22:14:20Z\", \"interval_s\": 1}");
	HBT_CHECK(checkreq_take(&c, req, strlen(req), now, count_now, &handed) == 1 &&
	    handed == 1, "the named target is checked now, the unknown one skipped");
	HBT_CHECK(target_next_ms(web, now) == 1000 &&
	    target_next_ms(job, now) == 30000, "then every second, the other not");
	HBT_CHECK(target_next_ms(web, now + 61000) == 30000,
	    "back to its own interval after until (+60 s)");

	handed = 0;
	snprintf(req, sizeof(req), "{\"targets\": [], \"until\": "
	    "\"2026-12-04T00:00:00Z\"}");
	HBT_CHECK(checkreq_take(&c, req, strlen(req), now, count_now, &handed) == 2 &&
	    handed == 2, "no names: every target");
	HBT_CHECK(target_next_ms(job, now) == CHECKREQ_INTERVAL_MS,
	    "every 2 s when the request does not say");
	HBT_CHECK(target_next_ms(job, now + CHECKREQ_MAX_MS - 1000) ==
	    CHECKREQ_INTERVAL_MS && target_next_ms(job, now + CHECKREQ_MAX_MS + 1) ==
	    30000, "a year ahead is taken as 15 minutes");
	HBT_CHECK(target_next_ms(web, now) == 1000,
	    "an overlapping request keeps the shorter interval");

	handed = 0;
	snprintf(req, sizeof(req), "{\"targets\": [\"web\"]}");
	web->hurry_until_ms = 0;
	HBT_CHECK(checkreq_take(&c, req, strlen(req), now, count_now, &handed) == 1 &&
	    target_next_ms(web, now) == 30000, "no until: once, now");
	HBT_CHECK(checkreq_take(&c, "not json", 8, now, count_now, &handed) == -1 &&
	    checkreq_take(&c, "{\"targets\": 5}", 14, now, count_now, &handed) == -1 &&
	    handed == 1, "unreadable requests change nothing");
	HBT_CHECK(target_name_reserved("check") && target_name_reserved("_all") &&
	    !target_name_reserved("checks"), "reserved names");
	targets_free(&list);
}

static void
test_metrics_remove(void)
{
	struct hb_metrics *m = hb_metrics_new("x_");
	struct hb_buf b = { 0 };

	hb_gauge_set(hb_metrics_gauge(m, "g", "help", "t=\"a\""), 1);
	hb_gauge_set(hb_metrics_gauge(m, "g", "help", "t=\"b\""), 2);
	hb_metrics_remove(m, "g", "t=\"a\"");
	hb_metrics_remove(m, "g", "t=\"none\"");
	hb_metrics_render(m, &b);
	HBT_CHECK(strstr(b.data, "x_g{t=\"a\"}") == NULL &&
	    strstr(b.data, "x_g{t=\"b\"} 2") && strstr(b.data, "# TYPE x_g gauge"),
	    "one series removed:\n%s", b.data);
	hb_buf_free(&b);
	hb_metrics_free(m);
}

static void
test_heartbeat(void)
{
	struct target *t = new_target();
	struct target_list list;
	struct page_info pi = { "hub", HB_HEALTH_OK, true, 15, 29000000LL * 60000,
	    NULL };
	struct hb_heartbeat beat = { .uptime_s = INT64_MAX, .interval_s = 1,
	    .rss_kb = 1024 };
	struct hb_buf b = { 0 };

	target_heartbeat(t, &beat, 1000, pi.now_ms);
	HBT_CHECK(t->heartbeat.uptime_s == HEARTBEAT_UPTIME_MAX_S &&
	    t->heartbeat_ms == 1000, "an absurd uptime is clamped to 10 years: %lld",
	    (long long)t->heartbeat.uptime_s);
	beat.uptime_s = -5;
	target_heartbeat(t, &beat, 2000, pi.now_ms);
	HBT_CHECK(t->heartbeat.uptime_s == 0, "a negative one to 0: %lld",
	    (long long)t->heartbeat.uptime_s);
	/* what the page multiplies, at the largest it can be */
	beat.uptime_s = INT64_MAX / 10;
	target_heartbeat(t, &beat, 3000, pi.now_ms);
	t->status = SVC_ONLINE;
	TAILQ_INIT(&list);
	TAILQ_INSERT_TAIL(&list, t, entry);
	page_render(&b, &list, &pi);
	HBT_CHECK(b.data && strstr(b.data, "up 3660 d 0 h"), "the page shows "
	    "10 years at most");
	/* the uptime counts from the start, between heartbeats too */
	beat.uptime_s = 0;
	target_heartbeat(t, &beat, 4000, pi.now_ms - 42000);
	hb_buf_reset(&b);
	page_render(&b, &list, &pi);
	HBT_CHECK(b.data && strstr(b.data, "up 42 s"), "42 s after a heartbeat "
	    "saying 0 s, the page says up 42 s");
	targets_free(&list);
	hb_buf_free(&b);
}

/* ---- the checks, on a loop ---- */

struct outcome {
	bool done;
	int calls;
	struct check_result r;
};

static void
on_checked(struct target *t, const struct check_result *r, void *arg)
{
	struct outcome *o = arg;

	(void)t;
	o->done = true;
	o->calls++;
	o->r = *r;
}

static void
loop_until(struct event_base *base, bool *flag, int64_t timeout_ms)
{
	int64_t end = hb_mono_ms() + timeout_ms;

	while (!*flag && hb_mono_ms() < end)
		event_base_loop(base, EVLOOP_ONCE);
}

/* Runs one check of t to its end. */
static void
check(struct check_env *env, struct target *t, struct outcome *o)
{
	memset(o, 0, sizeof(*o));
	check_start(env, t, on_checked, o);
	loop_until(env->base, &o->done, 20000);
	HBT_CHECK(o->done && o->calls == 1 && t->pending == NULL,
	    "%s: one result (%d)", t->name, o->calls);
}

static struct target *
disk_target(const char *path, int64_t min_free_mb, int64_t warn_free_mb)
{
	struct target *t = new_target();

	t->type = TT_DISK;
	t->path = hb_xstrdup(path);
	t->min_free_mb = min_free_mb;
	t->warn_free_mb = warn_free_mb;
	t->timeout_ms = 5000;
	return t;
}

static struct target *
exec_target(const char *const *argv, int64_t timeout_ms)
{
	struct target *t = new_target();
	size_t n = 0;

	while (argv[n])
		n++;
	t->type = TT_EXEC;
	t->argv = hb_xcalloc(n + 1, sizeof(char *));
	for (size_t i = 0; i < n; i++)
		t->argv[i] = hb_xstrdup(argv[i]);
	t->timeout_ms = timeout_ms;
	return t;
}

static int ticks;

static void
on_tick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	ticks++;
}

static void
test_disk(struct check_env *env)
{
	struct target *t = disk_target("/", 1, 0);
	struct outcome o, o2;
	char bin[600], script[700], path[2000];
	const char *old_path = getenv("PATH");
	char *saved = hb_xstrdup(old_path ? old_path : "/usr/bin:/bin");
	struct timeval tv = { 0, 50000 };
	struct event *tick;
	int64_t t0;

	/* a real look at / */
	check(env, t, &o);
	HBT_CHECK(o.r.level == LEVEL_OK && strcmp(o.r.reason, "more than 1 MB free "
	    "on /") == 0, "ok: %s", o.r.reason);
	HBT_CHECK(o.r.total_mb > 0 && o.r.free_mb > 0 && o.r.free_mb <= o.r.total_mb,
	    "the figures in their own fields: %.1f of %.1f MB", o.r.free_mb,
	    o.r.total_mb);
	target_free(t);

	/* too little room: the same words every time, whatever the figure */
	t = disk_target("/", 1LL << 40, 0);
	check(env, t, &o);
	check(env, t, &o2);
	HBT_CHECK(o.r.level == LEVEL_FAIL && strcmp(o.r.reason, "less than "
	    "1073741824.0 GB free on / (min_free_mb)") == 0, "down: %s", o.r.reason);
	HBT_CHECK(strcmp(o.r.reason, o2.r.reason) == 0, "the same reason twice");
	target_free(t);
	t = disk_target("/", 1, 1LL << 40);
	check(env, t, &o);
	HBT_CHECK(o.r.level == LEVEL_DEGRADED && strcmp(o.r.reason, "less than "
	    "1073741824.0 GB free on / (warn_free_mb)") == 0, "degraded: %s",
	    o.r.reason);
	target_free(t);

	t = disk_target("/homebus-no-such-dir", 1, 0);
	check(env, t, &o);
	HBT_CHECK(o.r.level == LEVEL_FAIL && strcmp(o.r.reason, "cannot look at "
	    "/homebus-no-such-dir: No such file or directory") == 0, "missing: %s",
	    o.r.reason);
	target_free(t);

	/* statvfs that hangs (a dead NFS server): a stat that never answers.
	 * The loop goes on meanwhile, and the check fails on its timeout. */
	snprintf(bin, sizeof(bin), "%s/bin", hbt_dir());
	hb_mkdirs(bin);
	snprintf(script, sizeof(script), "%s/stat", bin);
	hbt_write_file(script, "#!/bin/sh\nexec sleep 30\n");
	chmod(script, 0755);
	snprintf(path, sizeof(path), "%s:%s", bin, saved);
	setenv("PATH", path, 1);
	t = disk_target("/mnt/nas", 1, 0);
	t->timeout_ms = 400;
	tick = event_new(env->base, -1, EV_PERSIST, on_tick, NULL);
	event_add(tick, &tv);
	ticks = 0;
	t0 = hb_mono_ms();
	check(env, t, &o);
	HBT_CHECK(o.r.level == LEVEL_FAIL && strcmp(o.r.reason, "no answer from "
	    "statvfs within 400 ms: /mnt/nas hangs (a dead network mount or "
	    "disk?)") == 0, "a hung statvfs: %s", o.r.reason);
	/* bounds a loaded machine cannot break: the stand-in sleeps 30 s, and
	 * a blocked loop would tick not at all */
	HBT_CHECK(hb_mono_ms() - t0 < 20000, "told on the timeout, not when the "
	    "stat ends: %lld ms", (long long)(hb_mono_ms() - t0));
	HBT_CHECK(ticks >= 1, "the loop went on meanwhile: %d ticks of 50 ms", ticks);
	event_free(tick);
	setenv("PATH", saved, 1);

	/* while the child of an earlier check is stuck after SIGKILL, no other
	 * is started: the same failure, at once */
	{
		const char *argv[] = { "sleep", "60", NULL };
		struct hb_proc_opts po;
		char err[200];

		memset(&po, 0, sizeof(po));
		po.argv = argv;
		t->lingering = hb_proc_start(env->base, &po, NULL, NULL, NULL, err,
		    sizeof(err));
		HBT_REQUIRE(t->lingering != NULL, "%s", err);
		memset(&o, 0, sizeof(o));
		check_start(env, t, on_checked, &o);
		HBT_CHECK(o.done && o.r.level == LEVEL_FAIL && strstr(o.r.reason,
		    "no answer from statvfs within 400 ms") && t->pending == NULL,
		    "no second child while one is stuck: %s", o.r.reason);
		check_release(t);
		HBT_CHECK(t->lingering == NULL, "released");
	}
	target_free(t);
	free(saved);
}

static void
test_exec(struct check_env *env)
{
	const char *slow[] = { "sleep", "0.05", NULL };
	const char *hang[] = { "sleep", "30", NULL };
	struct target *t = exec_target(slow, 5000);
	struct outcome o, o2;
	int64_t now;

	/* slow: degraded, and the latency is not in the reason */
	t->degraded_ms = 1;
	check(env, t, &o);
	check(env, t, &o2);
	HBT_CHECK(o.r.level == LEVEL_DEGRADED && strcmp(o.r.reason, "exit 0, slower "
	    "than 1 ms") == 0 && o.r.latency_ms >= 40, "degraded: %s (%.1f ms)",
	    o.r.reason, o.r.latency_ms);
	HBT_CHECK(strcmp(o.r.reason, o2.r.reason) == 0, "the same reason twice");
	target_free(t);

	/* the watchdog: a check in flight far past its timeout is abandoned
	 * and recorded as failed; its child goes */
	t = exec_target(hang, 5000);
	memset(&o, 0, sizeof(o));
	check_start(env, t, on_checked, &o);
	HBT_REQUIRE(t->pending != NULL, "in flight");
	now = hb_mono_us();
	HBT_CHECK(!check_overdue(t, now + (5000 + CHECK_OVERDUE_MS - 100) * 1000LL) &&
	    !o.done, "not before timeout_ms + %d ms", CHECK_OVERDUE_MS);
	HBT_CHECK(check_overdue(t, now + (5000 + CHECK_OVERDUE_MS + 100) * 1000LL),
	    "the watchdog fires");
	HBT_CHECK(o.done && o.calls == 1 && o.r.level == LEVEL_FAIL &&
	    strcmp(o.r.reason, "no result within 10000 ms: the check was "
	    "abandoned") == 0 && t->pending == NULL, "a failure: %s", o.r.reason);
	{
		int64_t end = hb_mono_ms() + 10000;

		while (t->lingering != NULL && hb_mono_ms() < end)
			event_base_loop(env->base, EVLOOP_ONCE);
	}
	HBT_CHECK(t->lingering == NULL && o.calls == 1, "its child reaped, no "
	    "second result");
	target_free(t);
}

static void
test_http_reasons(struct check_env *env)
{
	struct target *t = new_target();
	struct outcome o, o2;
	char url[200], want[200];
	int port = hbt_free_port();	/* nothing listens there */

	t->type = TT_HTTP;
	snprintf(url, sizeof(url), "http://user:s3cret@127.0.0.1:%d/ping", port);
	t->url = hb_xstrdup(url);
	t->method = hb_xstrdup("GET");
	t->timeout_ms = 2000;
	check(env, t, &o);
	check(env, t, &o2);
	snprintf(want, sizeof(want), "request to 127.0.0.1:%d failed: Couldn't "
	    "connect to server", port);
	HBT_CHECK(o.r.level == LEVEL_FAIL && strcmp(o.r.reason, want) == 0,
	    "curl's short text and the host, no password: %s", o.r.reason);
	HBT_CHECK(strcmp(o.r.reason, o2.r.reason) == 0, "the same reason twice");
	target_free(t);
}

static void
test_checks(void)
{
	struct check_env env;

	signal(SIGPIPE, SIG_IGN);
	env.base = event_base_new();
	env.http = hb_http_client_new(env.base);
	test_disk(&env);
	test_exec(&env);
	test_http_reasons(&env);
	hb_http_client_free(env.http);
	event_base_free(env.base);
}

int
main(void)
{
	hbt_init("health_logic");
	test_hysteresis();
	test_history();
	test_names();
	test_payloads();
	test_ha();
	test_page();
	test_excerpt();
	test_config();
	test_check_requests();
	test_metrics_remove();
	test_heartbeat();
	test_checks();
	hbt_exit();
}
