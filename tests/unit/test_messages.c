/*
 * Bus messages and topics: filters with captured levels, the JSON codecs
 * refusing what a careless or hostile publisher could send, and client ids
 * that no other account can know.
 */
#include "hbt.h"
#include "hb_bus.h"
#include "hb_msg.h"
#include "hb_topic.h"

#include <stdlib.h>
#include <string.h>

/* A literal payload and its length. */
#define JS(lit) lit, (sizeof(lit) - 1)

static void
test_topics(void)
{
	const char *caps[HB_TOPIC_MAX_LEVELS];
	size_t caplen[HB_TOPIC_MAX_LEVELS], n = 0;
	char err[80], t[HB_TOPIC_MAX];

	HBT_CHECK(hb_topic_match("zigbee2mqtt/+", "zigbee2mqtt/kitchen", caps, caplen, &n) &&
	    n == 1 && caplen[0] == 7 && memcmp(caps[0], "kitchen", 7) == 0, "one +");
	HBT_CHECK(hb_topic_match("ha/+/+/state", "ha/sensor/temp_1/state", caps, caplen, &n) &&
	    n == 2 && memcmp(caps[1], "temp_1", 6) == 0, "two +");
	HBT_CHECK(!hb_topic_match("ha/+/+/state", "ha/sensor/temp_1/attr", NULL, NULL, NULL),
	    "last level differs");
	HBT_CHECK(hb_topic_match("a/#", "a", NULL, NULL, NULL), "a/# matches a");
	HBT_CHECK(hb_topic_match("a/#", "a/b/c", NULL, NULL, NULL), "a/# matches a/b/c");
	HBT_CHECK(hb_topic_match("#", "x/y", NULL, NULL, NULL), "#");
	HBT_CHECK(!hb_topic_match("#", "$SYS/x", NULL, NULL, NULL), "# skips $ topics");
	HBT_CHECK(hb_topic_match("$share/g/p/points/#", "p/points/t", NULL, NULL, NULL),
	    "shared subscription filter");
	HBT_CHECK(!hb_topic_match("a/+", "a/b/c", NULL, NULL, NULL), "+ is one level");
	HBT_CHECK(hb_topic_match("a/+/c", "a//c", caps, caplen, &n) && caplen[0] == 0,
	    "empty level");
	HBT_CHECK(hb_topic_filter_ok("a/+/b/#", err, sizeof(err)), "valid filter");
	HBT_CHECK(!hb_topic_filter_ok("a/b#", err, sizeof(err)), "bad #");
	HBT_CHECK(!hb_topic_filter_ok("a/+b", err, sizeof(err)), "bad +");
	HBT_CHECK(!hb_topic_filter_ok("", err, sizeof(err)), "empty");
	hb_topic_svc(t, sizeof(t), "homebus", "writer", "nuc", "status");
	HBT_CHECK(strcmp(t, "homebus/svc/writer/nuc/status") == 0, "%s", t);
	HBT_CHECK(!hb_topic_level_ok("a/b") && !hb_topic_level_ok("") &&
	    hb_topic_level_ok("nuc-1"), "levels");
}

/*
 * The id a service reads from a configuration, with its password in the
 * environment, and the old id whose session it ends (160 bytes).
 */
static void
client_id_of(const char *json, const char *password, char *out, size_t outlen,
    char old[160])
{
	struct hb_bus_config bc;
	struct hb_config *cfg;
	char err[160];

	if (password)
		setenv("HOMEBUS_BUS_PASSWORD", password, 1);
	else
		unsetenv("HOMEBUS_BUS_PASSWORD");
	cfg = hb_config_parse(json, strlen(json), "test.json", err, sizeof(err));
	HBT_REQUIRE(cfg != NULL, "%s", err);
	hb_bus_config_read(&bc, cfg, "writer", "nuc");
	HBT_CHECK(hb_config_error_count(cfg) == 0, "no error in %s", json);
	snprintf(out, outlen, "%s", bc.client_id);
	snprintf(old, 160, "%s", bc.old_client_id);
	hb_bus_config_free(&bc);
	hb_config_free(cfg);
}

static void
test_client_id(void)
{
	char id[160], again[160], other[160], old[160];

	/* RFC 4231, test case 2: HMAC-SHA256("Jefe", ...) */
	hb_bus_client_id(id, sizeof(id), "what do ya want for nothing?", "Jefe");
	HBT_CHECK(strcmp(id, "what do ya want for nothing?-"
	    "5bdcc146bf60754e6a042426089575c7") == 0, "HMAC-SHA256, 128 bits in "
	    "hex: %s", id);
	hb_bus_client_id(id, 64, "homebus-writer-a-very-long-host-name-that-goes-on"
	    "-and-on-and-on", "pw");
	HBT_CHECK(strlen(id) == 63 && strncmp(id, "homebus-writer-", 15) == 0,
	    "a long base is cut, never the HMAC: %s", id);

	client_id_of("{}", "s3cret", again, sizeof(again), old);
	client_id_of("{}", "other", other, sizeof(other), old);
	client_id_of("{}", "s3cret", id, sizeof(id), old);
	HBT_CHECK(strcmp(old, "homebus-writer-nuc") == 0, "the old default's "
	    "session is ended: %s", old);
	HBT_CHECK(strncmp(id, "homebus-writer-nuc-", 19) == 0 && strlen(id) == 19 + 32,
	    "the default: homebus-<service>-<host>-<HMAC>: %s", id);
	HBT_CHECK(strcmp(id, again) == 0, "the same at every start (its session "
	    "survives restarts)");
	HBT_CHECK(strcmp(id, other) != 0, "another password, another id");
	client_id_of("{}", NULL, id, sizeof(id), old);
	HBT_CHECK(strcmp(id, "homebus-writer-nuc") == 0, "no password, nothing to "
	    "derive it from: %s", id);
	HBT_CHECK(old[0] == '\0', "no password: the id is the old one: %s", old);
	client_id_of("{\"bus\": {\"client_id\": \"writer-2\"}}", "s3cret", id,
	    sizeof(id), old);
	HBT_CHECK(strcmp(id, "writer-2") == 0, "bus.client_id as it is: %s", id);
	HBT_CHECK(old[0] == '\0', "bus.client_id: no old id to end: %s", old);
	unsetenv("HOMEBUS_BUS_PASSWORD");
}

static void
test_notify(void)
{
	struct hb_notify n;
	char err[160];
	json_t *o;
	char *s;

	HBT_CHECK(hb_notify_decode("{\"text\":\"disk full\",\"title\":\"NUC\",\"key\":\"d\","
	    "\"future\":[1]}", 57, HB_SEV_WARNING, &n, err, sizeof(err)) == 0,
	    "decode: %s", err);
	HBT_CHECK(strcmp(n.text, "disk full") == 0 && strcmp(n.key, "d") == 0 &&
	    n.severity == HB_SEV_WARNING, "fields");
	o = hb_notify_encode(&n);
	s = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
	HBT_CHECK(strcmp(s, "{\"key\":\"d\",\"text\":\"disk full\",\"title\":\"NUC\"}") == 0,
	    "%s", s);
	free(s);
	json_decref(o);
	hb_notify_free(&n);
	HBT_CHECK(hb_notify_decode("not json", 8, 0, &n, err, sizeof(err)) == -1 &&
	    strstr(err, "not JSON"), "%s", err);
	HBT_CHECK(hb_notify_decode("[1]", 3, 0, &n, err, sizeof(err)) == -1, "array");
	HBT_CHECK(hb_notify_decode("{\"text\":5}", 10, 0, &n, err, sizeof(err)) == -1 &&
	    strstr(err, "text"), "%s", err);
	HBT_CHECK(hb_notify_decode("{}", 2, 0, &n, err, sizeof(err)) == -1 &&
	    strstr(err, "missing"), "%s", err);
	{
		char *big = hb_xmalloc(HB_MSG_MAX + 10);

		memset(big, ' ', HB_MSG_MAX + 10);
		HBT_CHECK(hb_notify_decode(big, HB_MSG_MAX + 10, 0, &n, err,
		    sizeof(err)) == -1 && strstr(err, "limit"), "%s", err);
		free(big);
	}
	HBT_CHECK(hb_severity_parse("critical") == HB_SEV_CRITICAL &&
	    hb_severity_parse("bogus") == -1, "severities");
}

static void
test_deploy(void)
{
	struct hb_deploy_cmd c;
	struct hb_deploy_state st, back;
	char err[160], *s;
	json_t *o;
	const char *ok = "{\"id\":\"a1\",\"action\":\"deploy\",\"tag\":\"v1.2.3\","
	    "\"services\":[\"writer\"],\"requested_by\":\"telegram:42\"}";

	HBT_CHECK(hb_deploy_cmd_decode(ok, strlen(ok), &c, err, sizeof(err)) == 0,
	    "%s", err);
	HBT_CHECK(c.action == HB_DEPLOY_DEPLOY && strcmp(c.tag, "v1.2.3") == 0 &&
	    c.nservices == 1 && strcmp(c.requested_by, "telegram:42") == 0, "fields");
	o = hb_deploy_cmd_encode(&c);
	s = json_dumps(o, JSON_COMPACT);
	HBT_CHECK(strstr(s, "\"tag\":\"v1.2.3\"") != NULL, "%s", s);
	free(s);
	json_decref(o);

	HBT_CHECK(!hb_deploy_tag_ok("") && !hb_deploy_tag_ok("-x") &&
	    !hb_deploy_tag_ok("a b") && !hb_deploy_tag_ok("a;rm -rf /") &&
	    !hb_deploy_tag_ok("$(id)") && hb_deploy_tag_ok("abc1234") &&
	    hb_deploy_tag_ok("v1.2.3-rc_1"), "tags");
	{
		char longtag[200];

		memset(longtag, 'a', 129);
		longtag[129] = '\0';
		HBT_CHECK(!hb_deploy_tag_ok(longtag), "129 chars refused");
		longtag[128] = '\0';
		HBT_CHECK(hb_deploy_tag_ok(longtag), "128 chars accepted");
	}
	{
		const char *bad[][2] = {
			{ "{\"id\":\"1\",\"action\":\"deploy\",\"tag\":\"x;y\"}", "tag" },
			{ "{\"id\":\"1\",\"action\":\"deploy\"}", "tag" },
			{ "{\"id\":\"1\",\"action\":\"nuke\"}", "action" },
			{ "{\"action\":\"status\"}", "id" },
			{ "{\"id\":\"1\",\"action\":\"deploy\",\"tag\":\"v1\",\"services\":[\"a/b\"]}",
			    "services" },
		};

		for (size_t i = 0; i < HB_ARRAY_LEN(bad); i++)
			HBT_CHECK(hb_deploy_cmd_decode(bad[i][0], strlen(bad[i][0]), &c, err,
			    sizeof(err)) == -1 && strstr(err, bad[i][1]), "%s: %s", bad[i][0],
			    err);
	}

	{
		/* what each action takes; a rejection still names the id */
		const char *bad[][2] = {
			{ "{\"id\":\"r1\",\"action\":\"rollback\",\"tag\":\"v1\"}", "deploy only" },
			{ "{\"id\":\"r2\",\"action\":\"deploy\",\"tag\":\"v1\",\"backup\":\"x\"}",
			    "backup" },
			{ "{\"id\":\"r3\",\"action\":\"rollback\",\"backup\":\"../x\"}", "backup" },
			{ "{\"id\":\"r4\",\"action\":\"deploy\",\"tag\":\"1.0\\nx\"}", "tag" },
			{ "{\"id\":\"r5\",\"action\":\"status\",\"instance\":\"a/b\"}", "instance" },
			{ "{\"id\":\"r6\",\"action\":\"restore\"}", "needs \"backup\"" },
			{ "{\"id\":\"r7\",\"action\":\"restore\",\"backup\":\"b\","
			    "\"only\":[\"../app.db\"]}", "only" },
			{ "{\"id\":\"r8\",\"action\":\"rollback\",\"only\":[\"a.db\"]}",
			    "restore only" },
		};

		for (size_t i = 0; i < HB_ARRAY_LEN(bad); i++) {
			char want[8];

			snprintf(want, sizeof(want), "r%zu", i + 1);
			HBT_CHECK(hb_deploy_cmd_decode(bad[i][0], strlen(bad[i][0]), &c, err,
			    sizeof(err)) == -1 && strstr(err, bad[i][1]) &&
			    strcmp(c.id, want) == 0, "%s: %s (id %s)", bad[i][0], err, c.id);
		}
	}
	{
		const char *rb = "{\"id\":\"r\",\"action\":\"rollback\",\"backup\":"
		    "\"20261125T014532Z-v1.2\",\"instance\":\"nuc\"}";
		const char *bk = "{\"id\":\"b\",\"action\":\"backup\"}";

		HBT_CHECK(hb_deploy_cmd_decode(rb, strlen(rb), &c, err, sizeof(err)) == 0 &&
		    c.action == HB_DEPLOY_ROLLBACK &&
		    strcmp(c.backup, "20261125T014532Z-v1.2") == 0 &&
		    strcmp(c.instance, "nuc") == 0, "rollback to a backup: %s", err);
		o = hb_deploy_cmd_encode(&c);
		s = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
		HBT_CHECK(strcmp(s, "{\"action\":\"rollback\",\"backup\":"
		    "\"20261125T014532Z-v1.2\",\"id\":\"r\",\"instance\":\"nuc\"}") == 0,
		    "%s", s);
		free(s);
		json_decref(o);
		HBT_CHECK(hb_deploy_cmd_decode(bk, strlen(bk), &c, err, sizeof(err)) == 0 &&
		    c.action == HB_DEPLOY_BACKUP, "backup action: %s", err);
	}
	{
		const char *rs = "{\"id\":\"s\",\"action\":\"restore\",\"backup\":"
		    "\"20261125T014532Z-v1.2\",\"only\":[\"app.db\",\"outbox.db\"]}";

		HBT_CHECK(hb_deploy_cmd_decode(rs, strlen(rs), &c, err, sizeof(err)) == 0 &&
		    c.action == HB_DEPLOY_RESTORE && c.nonly == 2 &&
		    strcmp(c.only[1], "outbox.db") == 0, "a restore with only: %s", err);
		o = hb_deploy_cmd_encode(&c);
		s = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
		HBT_CHECK(strcmp(s, "{\"action\":\"restore\",\"backup\":"
		    "\"20261125T014532Z-v1.2\",\"id\":\"s\",\"only\":[\"app.db\","
		    "\"outbox.db\"]}") == 0, "%s", s);
		free(s);
		json_decref(o);
	}
	{
		struct hb_backups_state b = { .newest_ms = 1796680800000,
		    .drill_ms = -1 }, bread;

		snprintf(b.newest, sizeof(b.newest), "20261207T220000Z-v1");
		snprintf(b.drill, sizeof(b.drill), "failed");
		o = hb_backups_state_encode(&b);
		s = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
		HBT_CHECK(strcmp(s, "{\"drill\":\"failed\",\"drill_at\":null,"
		    "\"newest\":\"20261207T220000Z-v1\",\"newest_at\":"
		    "\"2026-12-07T22:00:00.000Z\"}") == 0, "P/deploy/backups: %s", s);
		HBT_CHECK(hb_backups_state_decode(s, strlen(s), &bread, err,
		    sizeof(err)) == 0 && bread.newest_ms == b.newest_ms &&
		    bread.drill_ms == -1 && strcmp(bread.drill, "failed") == 0,
		    "read bread: %s", err);
		free(s);
		json_decref(o);
	}
	/* a follower (homebus ... --wait) must not stop at a restore's steps */
	HBT_CHECK(!hb_deploy_phase_final("stop") && !hb_deploy_phase_final("restore") &&
	    !hb_deploy_phase_final("check"), "stop, restore and check go on");
	HBT_CHECK(!hb_deploy_phase_final("queued") && !hb_deploy_phase_final("verify") &&
	    !hb_deploy_phase_final("rollback") && !hb_deploy_phase_final("running") &&
	    hb_deploy_phase_final("done") && hb_deploy_phase_final("rolled_back") &&
	    hb_deploy_phase_final("busy") && hb_deploy_phase_final("what"),
	    "final phases");
	{
		char tag[129];

		HBT_CHECK(hb_deploy_available_decode("{\"tag\":\"2026.12.1\"}", 19, tag,
		    sizeof(tag), err, sizeof(err)) == 0 && strcmp(tag, "2026.12.1") == 0,
		    "available: %s", err);
		HBT_CHECK(hb_deploy_available_decode("{\"tag\":\"$(id)\"}", 15, tag,
		    sizeof(tag), err, sizeof(err)) == -1 && tag[0] == '\0',
		    "available refuses a hostile tag");
		HBT_CHECK(hb_deploy_backup_name_ok("20261125T014532Z-v1") &&
		    !hb_deploy_backup_name_ok("..") && !hb_deploy_backup_name_ok("a/b"),
		    "backup names");
	}

	memset(&st, 0, sizeof(st));
	snprintf(st.id, sizeof(st.id), "d-1");
	st.action = HB_DEPLOY_ROLLBACK;
	snprintf(st.phase, sizeof(st.phase), "running");
	st.step_index = 3;
	st.step_count = 4;
	snprintf(st.log_tail, sizeof(st.log_tail), "line 1\nline 2");
	snprintf(st.backup, sizeof(st.backup), "20261125T014532Z-v2");
	snprintf(st.running_tag, sizeof(st.running_tag), "v2");
	snprintf(st.previous_tag, sizeof(st.previous_tag), "v1");
	snprintf(st.instance, sizeof(st.instance), "nuc");
	snprintf(st.from_tag, sizeof(st.from_tag), "v2");
	snprintf(st.to_tag, sizeof(st.to_tag), "v1");
	snprintf(st.step, sizeof(st.step), "verify");
	st.started_ms = 1764000000123;
	st.updated_ms = 1764000005456;
	o = hb_deploy_state_encode(&st);
	s = json_dumps(o, JSON_COMPACT);
	HBT_CHECK(hb_deploy_state_decode(s, strlen(s), &back, err, sizeof(err)) == 0,
	    "%s", err);
	HBT_CHECK(back.action == HB_DEPLOY_ROLLBACK && strcmp(back.step, "verify") == 0 &&
	    back.started_ms == st.started_ms && back.updated_ms == st.updated_ms &&
	    back.step_index == 3 && back.step_count == 4 &&
	    strcmp(back.log_tail, st.log_tail) == 0 &&
	    strcmp(back.backup, st.backup) == 0 && strcmp(back.running_tag, "v2") == 0 &&
	    strcmp(back.previous_tag, "v1") == 0 && strcmp(back.instance, "nuc") == 0,
	    "state round trip: %s", s);
	free(s);
	json_decref(o);
}

static void
test_health(void)
{
	struct hb_health_msg h = { 0 }, back;
	char err[160], *s;
	json_t *o;

	snprintf(h.target, sizeof(h.target), "influxdb");
	h.state = HB_HEALTH_DOWN;
	h.since_ms = 1764000000000;
	snprintf(h.reason, sizeof(h.reason), "connection refused");
	h.latency_ms = 12.5;
	o = hb_health_encode(&h);
	s = json_dumps(o, JSON_COMPACT);
	HBT_CHECK(hb_health_decode(s, strlen(s), &back, err, sizeof(err)) == 0, "%s", err);
	HBT_CHECK(back.state == HB_HEALTH_DOWN && back.since_ms == h.since_ms &&
	    back.latency_ms == 12.5 && strcmp(back.reason, h.reason) == 0, "%s", s);
	free(s);
	json_decref(o);
	HBT_CHECK(hb_health_decode("{\"target\":\"x\",\"state\":\"meh\"}", 29, &back, err,
	    sizeof(err)) == -1, "bad state");
	{
		/* a service target's start time, which a deploy's verify reads */
		const char *svc = "{\"target\":\"ingest\",\"state\":\"ok\",\"type\":"
		    "\"service\",\"started\":\"2025-11-24T16:00:00.250Z\"}";
		const char *odd = "{\"target\":\"ingest\",\"state\":\"ok\",\"type\":5,"
		    "\"started\":7}";

		HBT_CHECK(hb_health_decode(svc, strlen(svc), &back, err, sizeof(err)) == 0 &&
		    strcmp(back.type, "service") == 0 &&
		    back.started_ms == 1764000000250LL, "started: %lld",
		    (long long)back.started_ms);
		HBT_CHECK(hb_health_decode(odd, strlen(odd), &back, err, sizeof(err)) == 0 &&
		    back.type[0] == '\0' && back.started_ms < 0,
		    "odd types leave them unknown");
		HBT_CHECK(!hb_health_started_since(&back, 0), "an unknown start is "
		    "never a restart, even since the epoch");
		/* the contract on started (hb_msg.h): a message in, the answer out */
		hb_health_decode(svc, strlen(svc), &back, err, sizeof(err));
		HBT_CHECK(hb_health_started_since(&back, 1764000000000LL),
		    "started after up began: replaced");
		HBT_CHECK(hb_health_started_since(&back, 1764000000250LL),
		    "started the same millisecond: replaced");
		HBT_CHECK(!hb_health_started_since(&back, 1764000000251LL),
		    "started before up began: not replaced");
	}
}

static void
test_health_check(void)
{
	struct hb_health_check c = { 0 }, back;
	char err[160], *s;
	json_t *o;

	c.ntargets = 2;
	snprintf(c.targets[0], sizeof(c.targets[0]), "writer");
	snprintf(c.targets[1], sizeof(c.targets[1]), "grafana-http");
	c.until_ms = 1764000300000;
	c.interval_s = 2;
	snprintf(c.requested_by, sizeof(c.requested_by), "deployer/nuc");
	o = hb_health_check_encode(&c);
	s = json_dumps(o, JSON_COMPACT);
	HBT_CHECK(hb_health_check_decode(s, strlen(s), &back, err, sizeof(err)) == 0,
	    "%s", err);
	HBT_CHECK(back.ntargets == 2 && strcmp(back.targets[1], "grafana-http") == 0 &&
	    back.until_ms == c.until_ms && back.interval_s == 2 &&
	    strcmp(back.requested_by, "deployer/nuc") == 0, "round trip: %s", s);
	free(s);
	json_decref(o);
	HBT_CHECK(hb_health_check_decode("{}", 2, &back, err, sizeof(err)) == 0 &&
	    back.ntargets == 0 && back.until_ms == -1, "empty: every target, once");
	HBT_CHECK(hb_health_check_decode("{\"targets\":\"x\"}", 15, &back, err,
	    sizeof(err)) == -1, "targets not a list");
	HBT_CHECK(hb_health_check_decode("{\"until\":\"soon\"}", 16, &back, err,
	    sizeof(err)) == -1 && strstr(err, "until"), "until not a time: %s", err);
	HBT_CHECK(hb_health_check_decode("{\"interval_s\":-1}", 17, &back, err,
	    sizeof(err)) == -1, "negative interval");
}

/* o as it goes on the wire (keys in the encoder's order); o is freed. */
static char *
wire(json_t *o)
{
	char *s = json_dumps(o, JSON_COMPACT);

	json_decref(o);
	return s;
}

static bool
wire_is(json_t *o, const char *want)
{
	char *s = wire(o);
	bool same = s && strcmp(s, want) == 0;

	HBT_CHECK(same, "on the wire: %s\n  wanted: %s", s ? s : "(null)", want);
	free(s);
	return same;
}

/*
 * Every message type, encoded byte for byte as it goes on the bus, and
 * read back into what it was: the codecs may change inside, never on the
 * wire.
 */
static void
test_wire_notify(void)
{
	struct hb_notify n = { .severity = HB_SEV_ERROR,
	    .text = (char *)"InfluxDB \"down\"\n<b>", .title = (char *)"Writer",
	    .key = (char *)"influx", .source = (char *)"writer" };
	struct hb_notify none = { 0 }, back;
	char err[160], *s;

	HBT_CHECK(wire_is(hb_notify_encode(&n), "{\"text\":\"InfluxDB "
	    "\\\"down\\\"\\n<b>\",\"title\":\"Writer\",\"key\":\"influx\","
	    "\"source\":\"writer\"}"), "notify, every field");
	HBT_CHECK(wire_is(hb_notify_encode(&none), "{\"text\":\"\"}"),
	    "notify, none");
	s = wire(hb_notify_encode(&n));
	HBT_CHECK(hb_notify_decode(s, strlen(s), HB_SEV_CRITICAL, &back, err,
	    sizeof(err)) == 0, "%s", err);
	HBT_CHECK(back.severity == HB_SEV_CRITICAL && strcmp(back.text, n.text) == 0 &&
	    strcmp(back.title, "Writer") == 0 && strcmp(back.key, "influx") == 0 &&
	    strcmp(back.source, "writer") == 0, "notify read back, the severity "
	    "from the topic");
	hb_notify_free(&back);
	free(s);
	HBT_CHECK(hb_notify_decode(JS("{\"text\":\"t\",\"title\":\"\",\"key\":null,"
	    "\"source\":\"\"}"), HB_SEV_INFO, &back, err, sizeof(err)) == 0 &&
	    back.title == NULL && back.key == NULL && back.source == NULL,
	    "empty and null strings read as absent: %s", err);
	hb_notify_free(&back);
	{
		char payload[400];

		snprintf(payload, sizeof(payload), "{\"text\":\"t\",\"key\":\"%0257d\"}", 0);
		HBT_CHECK(hb_notify_decode(payload, strlen(payload), HB_SEV_INFO, &back,
		    err, sizeof(err)) == -1 && strcmp(err, "\"key\" is longer than 256 "
		    "characters") == 0, "%s", err);
		HBT_CHECK(back.text == NULL && back.title == NULL,
		    "nothing left to free after an error");
		snprintf(payload, sizeof(payload), "{\"text\":\"t\",\"key\":\"%0256d\"}", 0);
		HBT_CHECK(hb_notify_decode(payload, strlen(payload), HB_SEV_INFO, &back,
		    err, sizeof(err)) == 0 && strlen(back.key) == 256, "256 is fine");
		hb_notify_free(&back);
	}
	HBT_CHECK(hb_notify_decode(JS("{\"text\":\"\"}"), HB_SEV_INFO, &back, err,
	    sizeof(err)) == -1 && strcmp(err, "\"text\" is missing or empty") == 0,
	    "%s", err);
	HBT_CHECK(hb_notify_decode(JS("{\"text\":\"t\",\"title\":[]}"), HB_SEV_INFO,
	    &back, err, sizeof(err)) == -1 && strcmp(err, "\"title\" must be a "
	    "string") == 0, "%s", err);
}

static void
test_wire_health(void)
{
	struct hb_health_msg h = { .target = "nas", .state = HB_HEALTH_DEGRADED,
	    .since_ms = 1764000000123, .reason = "slow", .latency_ms = 12.5,
	    .type = "http", .started_ms = 1764000000250 };
	struct hb_health_msg least = { .target = "x",
	    .state = (enum hb_health_state)9, .latency_ms = -1 }, back;
	char err[160], *s;

	HBT_CHECK(wire_is(hb_health_encode(&h), "{\"target\":\"nas\",\"state\":"
	    "\"degraded\",\"since\":\"2025-11-24T16:00:00.123Z\",\"reason\":\"slow\","
	    "\"latency_ms\":12.5,\"type\":\"http\",\"started\":"
	    "\"2025-11-24T16:00:00.250Z\"}"), "health, every field");
	HBT_CHECK(wire_is(hb_health_encode(&least), "{\"target\":\"x\",\"state\":"
	    "\"unknown\",\"since\":\"1970-01-01T00:00:00.000Z\",\"reason\":\"\"}"),
	    "health, the least; a state out of range is unknown");
	s = wire(hb_health_encode(&h));
	HBT_CHECK(hb_health_decode(s, strlen(s), &back, err, sizeof(err)) == 0,
	    "%s", err);
	HBT_CHECK(strcmp(back.target, "nas") == 0 && back.state == HB_HEALTH_DEGRADED &&
	    back.since_ms == h.since_ms && strcmp(back.reason, "slow") == 0 &&
	    back.latency_ms == 12.5 && strcmp(back.type, "http") == 0 &&
	    back.started_ms == h.started_ms, "health read back: %s", s);
	free(s);
	HBT_CHECK(hb_health_decode(JS("{\"target\":\"x\",\"state\":\"ok\"}"), &back,
	    err, sizeof(err)) == 0 && back.since_ms == -1 && back.started_ms == -1 &&
	    back.latency_ms < 0 && back.type[0] == '\0' && back.reason[0] == '\0',
	    "health, the least read back: %s", err);
	HBT_CHECK(hb_health_decode(JS("{\"target\":\"x\",\"state\":\"ok\",\"since\":"
	    "\"yesterday\",\"latency_ms\":\"fast\",\"type\":\"a-type-too-long-to-"
	    "keep\"}"), &back, err, sizeof(err)) == 0 && back.since_ms == -1 &&
	    back.latency_ms < 0 && back.type[0] == '\0', "facts that do not read "
	    "are unknown: %s", err);
	HBT_CHECK(hb_health_decode(JS("{\"state\":\"ok\"}"), &back, err,
	    sizeof(err)) == -1 && strcmp(err, "\"target\" is missing") == 0, "%s",
	    err);
	HBT_CHECK(hb_health_decode(JS("{\"target\":\"x\",\"state\":\"ok\","
	    "\"since\":5}"), &back, err, sizeof(err)) == -1 &&
	    strcmp(err, "\"since\" must be "
	    "a string") == 0, "%s", err);
	HBT_CHECK(hb_health_decode(JS("{\"target\":\"x\"}"), &back, err,
	    sizeof(err)) == -1 && strcmp(err, "\"state\" must be ok, degraded, down "
	    "or unknown") == 0, "%s", err);
}

static void
test_wire_heartbeat(void)
{
	/* as hb_bus sends it, with a service's counters after */
	const char *beat = "{\"service\":\"writer\",\"instance\":\"nuc\",\"version\":"
	    "\"1.4.0\",\"pid\":4242,\"uptime_s\":3600,\"rss_kb\":5120,\"cpu_s\":1.25,"
	    "\"interval_s\":10,\"time\":\"2025-11-24T16:00:00.250Z\",\"points\":7}";
	struct hb_heartbeat hb;
	char err[160];

	HBT_CHECK(hb_heartbeat_decode(beat, strlen(beat), &hb, err, sizeof(err)) == 0,
	    "%s", err);
	HBT_CHECK(hb.uptime_s == 3600 && hb.rss_kb == 5120 && hb.cpu_s == 1.25 &&
	    hb.interval_s == 10 && hb.time_ms == 1764000000250LL, "heartbeat read");
	HBT_CHECK(hb_heartbeat_decode(JS("{\"uptime_s\":\"long\",\"rss_kb\":1.5,"
	    "\"cpu_s\":2,\"interval_s\":null,\"time\":7}"), &hb, err,
	    sizeof(err)) == 0 && hb.uptime_s == 0 && hb.rss_kb == 0 &&
	    hb.cpu_s == 2 && hb.interval_s == 0 && hb.time_ms == -1,
	    "what does not read is left out, not refused: %s", err);
	HBT_CHECK(hb_heartbeat_decode(JS("[]"), &hb, err, sizeof(err)) == -1,
	    "not an object");

	/* encoded in the order hb_bus sends it, and read back whole */
	HBT_CHECK(hb_heartbeat_decode(beat, strlen(beat), &hb, err, sizeof(err)) == 0,
	    "%s", err);
	HBT_CHECK(strcmp(hb.service, "writer") == 0 && strcmp(hb.instance, "nuc") == 0 &&
	    strcmp(hb.version, "1.4.0") == 0 && hb.pid == 4242, "who sent it");
	{
		struct hb_heartbeat back;
		char *s = wire(hb_heartbeat_encode(&hb));

		HBT_CHECK(strcmp(s, "{\"service\":\"writer\",\"instance\":\"nuc\","
		    "\"version\":\"1.4.0\",\"pid\":4242,\"uptime_s\":3600,"
		    "\"rss_kb\":5120,\"cpu_s\":1.25,\"interval_s\":10,\"time\":"
		    "\"2025-11-24T16:00:00.250Z\"}") == 0, "heartbeat: %s", s);
		HBT_CHECK(hb_heartbeat_decode(s, strlen(s), &back, err, sizeof(err)) == 0 &&
		    memcmp(&back, &hb, sizeof(hb)) == 0, "heartbeat read back");
		free(s);
	}
}

static void
test_wire_deploy(void)
{
	struct hb_deploy_cmd c = { .id = "cli-7", .action = HB_DEPLOY_DEPLOY,
	    .tag = "v1.2", .nservices = 2, .services = { "writer", "ingest" },
	    .requested_by = "ci" };
	struct hb_deploy_cmd least = { .id = "x",
	    .action = (enum hb_deploy_action)9 }, cback;
	struct hb_deploy_state st = { .id = "d-1", .action = HB_DEPLOY_ROLLBACK,
	    .phase = "verify", .from_tag = "v2", .to_tag = "v1", .step = "verify",
	    .step_index = 0, .step_count = 4, .started_ms = 1764000000123,
	    .updated_ms = 1764000005456, .error = "e", .requested_by = "r",
	    .instance = "nuc", .log_tail = "a\nb", .backup = "bk",
	    .restored = "/d/app.db (the file it replaced kept as "
	    "app.db.failed-20261125T014532Z)", .running_tag = "v2",
	    .previous_tag = "v1" };
	struct hb_deploy_state sleast = { .step_index = 3 }, sback;
	char err[160], tag[129], small[4], *s;

	HBT_CHECK(wire_is(hb_deploy_cmd_encode(&c), "{\"id\":\"cli-7\",\"action\":"
	    "\"deploy\",\"tag\":\"v1.2\",\"services\":[\"writer\",\"ingest\"],"
	    "\"requested_by\":\"ci\"}"), "command");
	HBT_CHECK(wire_is(hb_deploy_cmd_encode(&least), "{\"id\":\"x\",\"action\":"
	    "\"status\"}"), "command, the least; an action out of range is status");
	s = wire(hb_deploy_cmd_encode(&c));
	HBT_CHECK(hb_deploy_cmd_decode(s, strlen(s), &cback, err, sizeof(err)) == 0 &&
	    memcmp(&cback, &c, sizeof(c)) == 0, "command read back: %s %s", s, err);
	free(s);
	snprintf(c.instance, sizeof(c.instance), "nuc");
	c.action = HB_DEPLOY_ROLLBACK;
	memset(c.tag, 0, sizeof(c.tag));
	c.nservices = 0;
	memset(c.services, 0, sizeof(c.services));
	snprintf(c.backup, sizeof(c.backup), "20261125T014532Z-v1.2");
	HBT_CHECK(wire_is(hb_deploy_cmd_encode(&c), "{\"id\":\"cli-7\",\"action\":"
	    "\"rollback\",\"instance\":\"nuc\",\"backup\":\"20261125T014532Z-v1.2\","
	    "\"requested_by\":\"ci\"}"), "a rollback to a backup");
	s = wire(hb_deploy_cmd_encode(&c));
	HBT_CHECK(hb_deploy_cmd_decode(s, strlen(s), &cback, err, sizeof(err)) == 0 &&
	    memcmp(&cback, &c, sizeof(c)) == 0, "read back: %s %s", s, err);
	free(s);
	HBT_CHECK(hb_deploy_cmd_decode(JS("{\"id\":\"1\",\"action\":\"deploy\",\"tag\":"
	    "\"v1\",\"services\":\"writer\"}"), &cback, err, sizeof(err)) == -1 &&
	    strcmp(err, "\"services\" must be a list of at most 32 names") == 0,
	    "%s", err);
	HBT_CHECK(hb_deploy_cmd_decode(JS("{\"id\":\"1\",\"action\":\"deploy\",\"tag\":"
	    "\"v1\",\"services\":[\"ok\",7]}"), &cback, err, sizeof(err)) == -1 &&
	    strcmp(err, "\"services\"[1] is not a valid service name") == 0, "%s",
	    err);

	HBT_CHECK(wire_is(hb_deploy_state_encode(&st), "{\"id\":\"d-1\",\"action\":"
	    "\"rollback\",\"phase\":\"verify\",\"from_tag\":\"v2\",\"to_tag\":\"v1\","
	    "\"step\":\"verify\",\"step_index\":0,\"step_count\":4,\"started\":"
	    "\"2025-11-24T16:00:00.123Z\",\"updated\":\"2025-11-24T16:00:05.456Z\","
	    "\"error\":\"e\",\"requested_by\":\"r\",\"instance\":\"nuc\",\"log_tail\":"
	    "\"a\\nb\",\"backup\":\"bk\",\"restored\":\"/d/app.db (the file it "
	    "replaced kept as app.db.failed-20261125T014532Z)\",\"running_tag\":"
	    "\"v2\",\"previous_tag\":\"v1\"}"), "state, every field");
	HBT_CHECK(wire_is(hb_deploy_state_encode(&sleast), "{\"id\":\"\",\"action\":"
	    "\"deploy\",\"phase\":\"\",\"from_tag\":\"\",\"to_tag\":\"\",\"step\":\"\","
	    "\"started\":\"1970-01-01T00:00:00.000Z\",\"updated\":"
	    "\"1970-01-01T00:00:00.000Z\"}"), "state, the least: no step numbers "
	    "without a count");
	s = wire(hb_deploy_state_encode(&st));
	HBT_CHECK(hb_deploy_state_decode(s, strlen(s), &sback, err, sizeof(err)) == 0 &&
	    memcmp(&sback, &st, sizeof(st)) == 0, "state read back: %s", err);
	free(s);
	HBT_CHECK(hb_deploy_state_decode(JS("{\"action\":\"restore\",\"phase\":"
	    "\"done\",\"restored\":\"/d/a.db\"}"), &sback, err, sizeof(err)) == 0 &&
	    strcmp(sback.restored, "/d/a.db") == 0 && sback.error[0] == '\0',
	    "what a restore put back, read: %s", err);
	HBT_CHECK(hb_deploy_state_decode(JS("{\"action\":\"deploy\",\"phase\":"
	    "\"up\"}"), &sback, err, sizeof(err)) == 0 && sback.started_ms == -1 &&
	    sback.updated_ms == -1 && sback.id[0] == '\0' && sback.step_count == 0,
	    "state, the least read back: %s", err);
	HBT_CHECK(hb_deploy_state_decode(JS("{\"action\":\"deploy\",\"phase\":\"up\","
	    "\"step_index\":101}"), &sback, err, sizeof(err)) == -1 &&
	    strcmp(err, "\"step_index\" must be an integer from 0 to 100") == 0,
	    "%s", err);
	HBT_CHECK(hb_deploy_state_decode(JS("{\"phase\":\"up\"}"), &sback, err,
	    sizeof(err)) == -1 && strcmp(err, "\"action\" must be deploy, rollback, "
	    "backup, restore, verify, drill or status") == 0, "%s", err);

	HBT_CHECK(wire_is(hb_deploy_available_encode("2026.12.1"),
	    "{\"tag\":\"2026.12.1\"}"), "available");
	HBT_CHECK(hb_deploy_available_decode(JS("{\"tag\":\"2026.12.1\","
	    "\"built\":1}"), tag, sizeof(tag), err, sizeof(err)) == 0 &&
	    strcmp(tag, "2026.12.1") == 0, "available read back: %s", err);
	HBT_CHECK(hb_deploy_available_decode(JS("{\"tag\":\"2026.12.1\"}"), small,
	    sizeof(small), err, sizeof(err)) == -1 && small[0] == '\0' &&
	    strcmp(err, "\"tag\" is missing or not a valid tag") == 0,
	    "a tag longer than the caller's buffer: %s", err);
	HBT_CHECK(hb_deploy_available_decode(JS("{}"), tag, sizeof(tag), err,
	    sizeof(err)) == -1 && strcmp(err, "\"tag\" is missing or not a valid "
	    "tag") == 0, "%s", err);
	HBT_CHECK(hb_deploy_available_decode(JS("{\"tag\":5}"), tag, sizeof(tag),
	    err, sizeof(err)) == -1 && strcmp(err, "\"tag\" is missing or not a "
	    "valid tag") == 0, "a tag of another type: %s", err);
}

static void
test_wire_health_check(void)
{
	struct hb_health_check c = { .ntargets = 2,
	    .targets = { "writer", "grafana-http" }, .until_ms = 1764000300000,
	    .interval_s = 2, .requested_by = "deployer/nuc" };
	struct hb_health_check least = { .until_ms = -1, .interval_s = -3 },
	    zero = { 0 }, back;
	char err[160], *s;

	HBT_CHECK(wire_is(hb_health_check_encode(&c), "{\"targets\":[\"writer\","
	    "\"grafana-http\"],\"until\":\"2025-11-24T16:05:00.000Z\",\"interval_s\":2,"
	    "\"requested_by\":\"deployer/nuc\"}"), "check, every field");
	HBT_CHECK(wire_is(hb_health_check_encode(&least), "{\"targets\":[]}"),
	    "check, the least: always a list");
	HBT_CHECK(wire_is(hb_health_check_encode(&zero), "{\"targets\":[],\"until\":"
	    "\"1970-01-01T00:00:00.000Z\"}"), "check, until 0 is a time");
	s = wire(hb_health_check_encode(&c));
	HBT_CHECK(hb_health_check_decode(s, strlen(s), &back, err, sizeof(err)) == 0 &&
	    memcmp(&back, &c, sizeof(c)) == 0, "check read back: %s", err);
	free(s);
	HBT_CHECK(hb_health_check_decode(JS("{\"interval_s\":3601}"), &back, err,
	    sizeof(err)) == -1 && strcmp(err, "\"interval_s\" must be an integer "
	    "from 0 to 3600") == 0, "%s", err);
	HBT_CHECK(hb_health_check_decode(JS("{\"targets\":[\"a\",\"\"]}"), &back, err,
	    sizeof(err)) == -1 && strcmp(err, "\"targets\"[1] is not a target "
	    "name") == 0, "%s", err);
	HBT_CHECK(hb_health_check_decode(JS("{\"until\":\"soon\"}"), &back, err,
	    sizeof(err)) == -1 && strcmp(err, "\"until\" is not an ISO 8601 UTC "
	    "time") == 0, "%s", err);
}

int
main(void)
{
	hbt_init("messages");
	test_topics();
	test_client_id();
	test_notify();
	test_deploy();
	test_health();
	test_health_check();
	test_wire_notify();
	test_wire_health();
	test_wire_heartbeat();
	test_wire_deploy();
	test_wire_health_check();
	hbt_exit();
}
