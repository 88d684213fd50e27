/*
 * homebus-notifier against a real mosquitto and the fake Telegram Bot API
 * (tests/fakes/fake_telegram.c), asserting what the fake received — its
 * recorded arrival times, answers and bodies — and what is on the bus.
 *
 *   test_notifier burst|retry_after|sigkill|outage|dead_letter|commands|
 *                 long|webhook|hang|global|offset|fold_shutdown|addressed|
 *                 stale|menu|chats_file|deploy_restart
 *
 * Every scenario ends by checking that the bot token is in no log line
 * (the log of every run: a restart appends to it).
 */
#include "hbt.h"
#include "hbt_telegram.h"

#include <signal.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define TOKEN "987654:SECRET-tok3n_abcXYZ"
#define PRIVATE_CHAT 1001LL
#define GROUP_CHAT (-1002LL)
#define OTHER_CHAT 2002LL

struct fx {
	struct hbt_broker broker;
	struct hbt_telegram tg;
	struct hbt_service nf;
	struct hbt_mqtt *mqtt;
	int http;
	struct hb_buf cfg;
	char outbox[600];
};

/* notifier_extra / telegram_extra: more keys for those sections, or NULL. */
static void
setup(struct fx *f, const char *notifier_extra, const char *telegram_extra)
{
	char token_file[600];

	HBT_REQUIRE(hbt_broker_start(&f->broker, NULL) == 0, "mosquitto");
	HBT_REQUIRE(hbt_telegram_start(&f->tg, TOKEN) == 0, "fake telegram");
	snprintf(token_file, sizeof(token_file), "%s/bot-token", hbt_dir());
	hbt_write_file(token_file, TOKEN "\n");
	snprintf(f->outbox, sizeof(f->outbox), "%s/notifier/notifier-outbox.db",
	    hbt_dir());
	f->http = hbt_free_port();
	hb_buf_printf(&f->cfg,
	    "{\"data_dir\": \"%s/notifier\",\n"
	    " \"log\": {\"format\": \"text\", \"level\": \"debug\"},\n"
	    " \"bus\": {\"port\": %d, \"client_id\": \"notifier\", \"instance\": \"nf\",\n"
	    "         \"reconnect_min_ms\": 100, \"reconnect_max_ms\": 1000,\n"
	    "         \"heartbeat_s\": 1},\n"
	    " \"notifier\": {\"http_port\": %d, \"retry_min_ms\": 200,\n"
	    "   \"retry_max_ms\": 1000%s%s%s,\n"
	    "   \"telegram\": {\"api_url\": \"%s\", \"token_file\": \"%s\",\n"
	    "     \"poll_timeout_s\": 2, \"timeout_ms\": 3000%s%s}}}\n",
	    hbt_dir(), f->broker.port, f->http, notifier_extra &&
	    strstr(notifier_extra, "dedupe_window_s") ? "" :
	    ", \"dedupe_window_s\": 0", notifier_extra ? ", " : "",
	    notifier_extra ? notifier_extra : "", f->tg.url, token_file,
	    telegram_extra ? ", " : "", telegram_extra ? telegram_extra : "");
	HBT_REQUIRE(hbt_service_start(&f->nf, "notifier", "notifier", f->cfg.data,
	    f->http) == 0, "notifier");
	HBT_REQUIRE(HBT_WAIT(hbt_metric(f->http, "homebus_notifier_bus_connected") == 1,
	    10000), "notifier on the bus");
	f->mqtt = hbt_mqtt_connect(f->broker.port, "test-client");
	HBT_REQUIRE(f->mqtt != NULL, "test MQTT client");
}

/* setup for Telegram commands from command_chats (a JSON list): the
 * deploy topic watched, the notifier polling getUpdates */
static void
setup_commands(struct fx *f, const char *command_chats)
{
	char extra[256];

	snprintf(extra, sizeof(extra), "\"chat_ids\": [1001], \"command_chat_ids\": "
	    "%s, \"chat_interval_ms\": 50", command_chats);
	setup(f, NULL, extra);
	HBT_REQUIRE(hbt_mqtt_subscribe(f->mqtt, "homebus/deploy/command", 1) == 0,
	    "subscribe");
	HBT_REQUIRE(HBT_WAIT(hbt_telegram_count(&f->tg, "getUpdates", 0) >= 1, 10000),
	    "the notifier polls getUpdates");
}

static void
teardown(struct fx *f)
{
	/* the token never reaches a log line, whatever happened */
	HBT_CHECK(!hbt_proc_log_has(&f->nf.proc, TOKEN) &&
	    !hbt_proc_log_has(&f->nf.proc, "SECRET-tok3n"),
	    "the bot token appears in the notifier's log");
	hbt_mqtt_close(f->mqtt);
	hb_buf_free(&f->cfg);
}

static void
notify(struct fx *f, const char *severity, const char *title, const char *text,
    const char *key)
{
	json_t *o = json_pack("{s:s, s:s}", "text", text, "source", "test");
	char topic[128], *s;

	if (title)
		json_object_set_new(o, "title", json_string(title));
	if (key)
		json_object_set_new(o, "key", json_string(key));
	s = json_dumps(o, JSON_COMPACT);
	snprintf(topic, sizeof(topic), "homebus/notify/%s", severity);
	HBT_CHECK(hbt_mqtt_publish(f->mqtt, topic, s, strlen(s), 1, false) == 0,
	    "publish %s", text);
	free(s);
	json_decref(o);
}

/* sendMessage records for chat answered with status (0: any), in order. */
static json_t *
sent_to(struct fx *f, long long chat, long status)
{
	json_t *all = hbt_telegram_select(&f->tg, "sendMessage", status);
	json_t *out = json_array(), *r;
	size_t i;

	json_array_foreach(all, i, r) {
		json_t *id = json_object_get(json_object_get(r, "body"), "chat_id");

		if (json_is_integer(id) && json_integer_value(id) == chat)
			json_array_append(out, r);
	}
	json_decref(all);
	return out;
}

static size_t
delivered(struct fx *f, long long chat)
{
	json_t *s = sent_to(f, chat, 200);
	size_t n = json_array_size(s);

	json_decref(s);
	return n;
}

static const char *
rec_text(json_t *r)
{
	const char *t = json_string_value(json_object_get(json_object_get(r, "body"),
	    "text"));

	return t ? t : "";
}

static int64_t
rec_at(json_t *r)
{
	return (int64_t)json_integer_value(json_object_get(r, "at_ms"));
}

/* How many of recs carry needle, and the index of the first (or -1). */
static size_t
count_text(json_t *recs, const char *needle, long *first)
{
	size_t n = 0, i;
	json_t *r;

	if (first)
		*first = -1;
	json_array_foreach(recs, i, r)
		if (strstr(rec_text(r), needle)) {
			if (n == 0 && first)
				*first = (long)i;
			n++;
		}
	return n;
}

/* Each of texts[0..n) delivered exactly once, in that order. */
static void
check_once_in_order(json_t *ok, const char *const *texts, size_t n)
{
	long prev = -1;

	for (size_t i = 0; i < n; i++) {
		long at;
		size_t c = count_text(ok, texts[i], &at);

		HBT_CHECK(c == 1, "\"%s\" delivered %zu times", texts[i], c);
		HBT_CHECK(at > prev, "\"%s\" out of order (%ld after %ld)", texts[i],
		    at, prev);
		prev = at;
	}
}

/* ---------------- scenarios ---------------- */

/*
 * 50 notifications in a burst: all arrive, in order, and never faster than
 * the limits configured (scaled down so that the test takes seconds): 300 ms
 * between messages to a chat, at most 4 in any 3 s to a group. No margin:
 * the fake stamps a request when it arrives, and the notifier counts a
 * message from when Telegram's answer came back, which is later.
 */
static void
scenario_burst(struct fx *f)
{
	char texts[50][32];
	const char *p[50], *g[10];
	json_t *priv, *grp;
	size_t np = 0, ng = 0;

	setup(f, NULL, "\"chat_ids\": [1001, {\"id\": -1002, \"min_severity\": "
	    "\"warning\"}], \"chat_interval_ms\": 300, \"group_max\": 4, "
	    "\"group_window_ms\": 3000");
	for (int i = 0; i < 50; i++) {
		snprintf(texts[i], sizeof(texts[i]), "burst %02d", i);
		p[np++] = texts[i];
		if (i % 5 == 0)
			g[ng++] = texts[i];
		notify(f, i % 5 == 0 ? "warning" : "info", "Burst", texts[i], NULL);
	}
	HBT_CHECK(HBT_WAIT(delivered(f, PRIVATE_CHAT) >= 50 &&
	    delivered(f, GROUP_CHAT) >= 10, 90000), "all delivered: private %zu/50, "
	    "group %zu/10", delivered(f, PRIVATE_CHAT), delivered(f, GROUP_CHAT));
	priv = sent_to(f, PRIVATE_CHAT, 200);
	grp = sent_to(f, GROUP_CHAT, 200);
	check_once_in_order(priv, p, np);
	check_once_in_order(grp, g, ng);
	HBT_CHECK(count_text(grp, "burst 01", NULL) == 0,
	    "an info reached the group whose min_severity is warning");

	/* the pace, from the fake's arrival times */
	for (size_t i = 1; i < json_array_size(priv); i++) {
		int64_t gap = rec_at(json_array_get(priv, i)) -
		    rec_at(json_array_get(priv, i - 1));

		HBT_CHECK(gap >= 300, "messages %zu and %zu to one chat %lld ms "
		    "apart (limit 300)", i - 1, i, (long long)gap);
	}
	HBT_CHECK(rec_at(json_array_get(priv, 49)) - rec_at(json_array_get(priv, 0)) >=
	    49 * 300, "50 messages to one chat in %lld ms",
	    (long long)(rec_at(json_array_get(priv, 49)) -
	    rec_at(json_array_get(priv, 0))));
	for (size_t i = 4; i < json_array_size(grp); i++) {
		int64_t span = rec_at(json_array_get(grp, i)) -
		    rec_at(json_array_get(grp, i - 4));

		HBT_CHECK(span >= 3000, "5 group messages within %lld ms (limit 4 "
		    "per 3000)", (long long)span);
	}
	/* what a person sees: emoji, bold title, silent for info */
	{
		json_t *first = json_object_get(json_array_get(priv, 0), "body");
		json_t *second = json_object_get(json_array_get(priv, 1), "body");
		const char *t = json_string_value(json_object_get(first, "text"));

		HBT_CHECK(t && strcmp(t, "\xe2\x9a\xa0\xef\xb8\x8f <b>Burst</b>\nburst 00")
		    == 0, "warning text: %s", t ? t : "(none)");
		HBT_CHECK(strcmp(json_string_value(json_object_get(first, "parse_mode")),
		    "HTML") == 0, "parse_mode HTML");
		HBT_CHECK(!json_is_true(json_object_get(first, "disable_notification")),
		    "a warning rings");
		HBT_CHECK(json_is_true(json_object_get(second, "disable_notification")),
		    "an info is silent");
	}
	json_decref(priv);
	json_decref(grp);
}

/* getUpdates requests after the first one answered 429 (-1: none was). */
static long
polls_after_429(struct fx *f)
{
	json_t *all = hbt_telegram_select(&f->tg, "getUpdates", 0), *r;
	long n = -1;
	size_t i;

	json_array_foreach(all, i, r)
		if (n >= 0)
			n++;
		else if (json_integer_value(json_object_get(r, "status")) == 429)
			n = 0;
	json_decref(all);
	return n;
}

/*
 * 429 with retry_after=2: the next attempt 2 s later, not before; none
 * lost. The same for getUpdates.
 */
static void
scenario_retry_after(struct fx *f)
{
	static const char *const texts[] = { "first one", "second one", "third one" };
	json_t *all, *ok;
	int64_t t429 = -1, next = -1;
	size_t i;
	json_t *r;

	setup(f, NULL, "\"chat_ids\": [1001], \"chat_interval_ms\": 100");
	HBT_REQUIRE(hbt_telegram_rules(&f->tg, "[{\"method\": \"sendMessage\", "
	    "\"match\": \"second one\", \"status\": 429, \"retry_after\": 2, "
	    "\"description\": \"Too Many Requests: retry after 2\", \"times\": 1}]")
	    == 0, "rules");
	for (i = 0; i < 3; i++)
		notify(f, "warning", NULL, texts[i], NULL);
	HBT_CHECK(HBT_WAIT(delivered(f, PRIVATE_CHAT) >= 3, 30000), "3 delivered, got %zu",
	    delivered(f, PRIVATE_CHAT));
	all = sent_to(f, PRIVATE_CHAT, 0);
	json_array_foreach(all, i, r) {
		if (t429 < 0 && json_integer_value(json_object_get(r, "status")) == 429)
			t429 = rec_at(r);
		else if (t429 >= 0 && next < 0)
			next = rec_at(r);
	}
	HBT_CHECK(t429 >= 0 && next >= 0, "a 429 and an attempt after it");
	hbt_log("429 at %lld, next attempt %lld ms later", (long long)t429,
	    (long long)(next - t429));
	HBT_CHECK(next - t429 >= 2000, "next attempt %lld ms after a 429 with "
	    "retry_after=2", (long long)(next - t429));
	ok = sent_to(f, PRIVATE_CHAT, 200);
	check_once_in_order(ok, texts, 3);
	HBT_CHECK(hbt_metric(f->http, "homebus_notifier_rate_limited_total") == 1,
	    "the 429 is counted");
	json_decref(all);
	json_decref(ok);

	/*
	 * getUpdates answered 429: Telegram says how long in the body
	 * (parameters.retry_after) and sends no Retry-After header.
	 */
	HBT_REQUIRE(hbt_telegram_rules(&f->tg, "[{\"method\": \"getUpdates\", "
	    "\"status\": 429, \"retry_after\": 3, \"times\": 1}]") == 0, "rules");
	t429 = next = -1;
	HBT_CHECK(HBT_WAIT(polls_after_429(f) >= 1, 20000), "a poll answered 429, "
	    "then another");
	all = hbt_telegram_select(&f->tg, "getUpdates", 0);
	json_array_foreach(all, i, r) {
		if (t429 < 0 && json_integer_value(json_object_get(r, "status")) == 429)
			t429 = rec_at(r);
		else if (t429 >= 0 && next < 0)
			next = rec_at(r);
	}
	json_decref(all);
	hbt_log("getUpdates 429 at %lld, next poll %lld ms later", (long long)t429,
	    (long long)(next - t429));
	HBT_CHECK(t429 >= 0 && next - t429 >= 3000, "next poll %lld ms after a 429 "
	    "with retry_after=3", (long long)(next - t429));
	HBT_CHECK(next - t429 < 3000 + 2000, "polling resumed after the wait");
}

/* SIGKILL with messages in the outbox; restarted, each delivered once. */
static void
scenario_sigkill(struct fx *f)
{
	char texts[15][32];
	const char *p[15];
	json_t *ok;

	setup(f, NULL, "\"chat_ids\": [1001], \"chat_interval_ms\": 50");
	HBT_REQUIRE(hbt_telegram_rules(&f->tg, "[{\"method\": \"sendMessage\", "
	    "\"status\": 500}]") == 0, "Telegram answers 500 for now");
	for (int i = 0; i < 15; i++) {
		snprintf(texts[i], sizeof(texts[i]), "kill %02d", i);
		p[i] = texts[i];
	}
	for (int i = 0; i < 10; i++)
		notify(f, "error", "Kill", texts[i], NULL);
	HBT_REQUIRE(HBT_WAIT(hbt_metric(f->http, "homebus_notifier_outbox_messages") == 10,
	    15000), "10 messages in the outbox");
	hbt_log("SIGKILL to the notifier with 10 messages in its outbox");
	hbt_proc_stop(&f->nf.proc, SIGKILL, 5000);
	/* while it is away the broker queues for its persistent session */
	for (int i = 10; i < 15; i++)
		notify(f, "error", "Kill", texts[i], NULL);
	HBT_REQUIRE(hbt_telegram_rules(&f->tg, "[]") == 0, "Telegram answers again");
	HBT_REQUIRE(hbt_proc_restart(&f->nf.proc) == 0, "notifier restarts");
	HBT_CHECK(HBT_WAIT(delivered(f, PRIVATE_CHAT) >= 15, 30000),
	    "15 delivered after the restart, got %zu", delivered(f, PRIVATE_CHAT));
	hbt_sleep_ms(1000);	/* anything sent twice would show up by now */
	ok = sent_to(f, PRIVATE_CHAT, 200);
	HBT_CHECK(json_array_size(ok) == 15, "%zu deliveries for 15 messages",
	    json_array_size(ok));
	check_once_in_order(ok, p, 15);
	HBT_CHECK(hbt_proc_log_has(&f->nf.proc, "outbox holds messages=10 from before"),
	    "the restart found the outbox");
	json_decref(ok);
}

/* Telegram unreachable for 20 s: everything is delivered once it is back. */
static void
scenario_outage(struct fx *f)
{
	char texts[13][32];
	const char *p[13];
	char url[128];
	bool unhealthy = false;
	json_t *ok;

	setup(f, NULL, "\"chat_ids\": [1001], \"chat_interval_ms\": 50");
	for (int i = 0; i < 13; i++) {
		snprintf(texts[i], sizeof(texts[i]), "%s %02d", i < 3 ? "before" :
		    "during", i);
		p[i] = texts[i];
	}
	for (int i = 0; i < 3; i++)
		notify(f, "warning", "Outage", texts[i], NULL);
	HBT_REQUIRE(HBT_WAIT(delivered(f, PRIVATE_CHAT) >= 3, 15000), "first three");
	hbt_log("fake Telegram down for 20 s");
	hbt_telegram_kill(&f->tg);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/health", f->http);
	for (int i = 3; i < 13; i++) {
		notify(f, "warning", "Outage", texts[i], NULL);
		hbt_sleep_ms(2000);
		if (hbt_http("GET", url, NULL, NULL) == 503)
			unhealthy = true;
	}
	HBT_CHECK(unhealthy, "/health said 503 while Telegram was unreachable");
	HBT_CHECK(hbt_metric(f->http, "homebus_notifier_outbox_messages") > 0,
	    "messages waited in the outbox");
	HBT_REQUIRE(hbt_telegram_restart(&f->tg) == 0, "fake Telegram back");
	hbt_log("fake Telegram is back");
	HBT_CHECK(HBT_WAIT(delivered(f, PRIVATE_CHAT) >= 13, 30000),
	    "13 delivered, got %zu", delivered(f, PRIVATE_CHAT));
	ok = sent_to(f, PRIVATE_CHAT, 200);
	check_once_in_order(ok, p, 13);
	HBT_CHECK(HBT_WAIT(hbt_http("GET", url, NULL, NULL) == 200, 10000),
	    "/health is 200 again");
	HBT_CHECK(hbt_proc_log_has(&f->nf.proc, "telegram unavailable"),
	    "the outage was logged");
	json_decref(ok);
}

/* A 400 for one message: dead-lettered with the reason; the next ones go. */
static void
scenario_dead_letter(struct fx *f)
{
	static const char *const good[] = { "fine 1", "fine 2", "fine 3" };
	sqlite3 *db;
	sqlite3_stmt *st;
	int rows = 0;
	json_t *ok;

	setup(f, NULL, "\"chat_ids\": [1001], \"chat_interval_ms\": 50");
	HBT_REQUIRE(hbt_telegram_rules(&f->tg, "[{\"method\": \"sendMessage\", "
	    "\"match\": \"poison\", \"status\": 400, \"description\": \"Bad Request: "
	    "can't parse entities: poison pill\"}]") == 0, "rules");
	notify(f, "warning", NULL, "fine 1", NULL);
	notify(f, "warning", NULL, "poison", NULL);
	notify(f, "warning", NULL, "fine 2", NULL);
	notify(f, "warning", NULL, "fine 3", NULL);
	HBT_CHECK(HBT_WAIT(delivered(f, PRIVATE_CHAT) >= 3, 20000), "the good ones "
	    "went, got %zu", delivered(f, PRIVATE_CHAT));
	ok = sent_to(f, PRIVATE_CHAT, 200);
	check_once_in_order(ok, good, 3);
	json_decref(ok);
	ok = sent_to(f, PRIVATE_CHAT, 400);
	HBT_CHECK(json_array_size(ok) == 1, "the refused one was tried once, not "
	    "retried: %zu", json_array_size(ok));
	json_decref(ok);
	HBT_CHECK(HBT_WAIT(hbt_metric(f->http, "homebus_notifier_messages_dead_lettered_"
	    "total{channel=\"telegram\"}") == 1, 5000), "dead letter counted");
	HBT_REQUIRE(sqlite3_open_v2(f->outbox, &db, SQLITE_OPEN_READONLY, NULL) ==
	    SQLITE_OK, "open the outbox %s", f->outbox);
	sqlite3_busy_timeout(db, 5000);
	HBT_REQUIRE(sqlite3_prepare_v2(db, "SELECT lane, status, reason, body FROM "
	    "dead_letter", -1, &st, NULL) == SQLITE_OK, "%s", sqlite3_errmsg(db));
	while (sqlite3_step(st) == SQLITE_ROW) {
		const char *lane = (const char *)sqlite3_column_text(st, 0);
		const char *reason = (const char *)sqlite3_column_text(st, 2);
		const char *body = (const char *)sqlite3_column_text(st, 3);

		rows++;
		HBT_CHECK(strcmp(lane, "telegram:1001") == 0, "lane %s", lane);
		HBT_CHECK(sqlite3_column_int(st, 1) == 400, "status %d",
		    sqlite3_column_int(st, 1));
		HBT_CHECK(strstr(reason, "can't parse entities: poison pill") != NULL,
		    "Telegram's description kept: %s", reason);
		HBT_CHECK(strstr(body, "poison") != NULL, "the message kept: %s", body);
	}
	sqlite3_finalize(st);
	sqlite3_close(db);
	HBT_CHECK(rows == 1, "%d dead letters", rows);
	HBT_CHECK(hbt_metric(f->http, "homebus_notifier_outbox_messages") == 0,
	    "outbox empty");
}

static bool
reply_with(struct fx *f, long long chat, const char *needle)
{
	json_t *s = sent_to(f, chat, 200);
	bool found = count_text(s, needle, NULL) > 0;

	json_decref(s);
	return found;
}

/* Whether an editMessageText of chat (answered 200) has needle. */
static bool
edited_with(struct fx *f, long long chat, const char *needle)
{
	json_t *all = hbt_telegram_select(&f->tg, "editMessageText", 200), *r;
	size_t i;
	bool found = false;

	json_array_foreach(all, i, r) {
		json_t *b = json_object_get(r, "body");

		if (json_integer_value(json_object_get(b, "chat_id")) == chat &&
		    strstr(rec_text(r), needle))
			found = true;
	}
	json_decref(all);
	return found;
}

/*
 * A deploy from the chat rang twice: the answer to the command (then
 * edited in place, each step on its own line) and the outcome, a new
 * message replying to the command (command_id). Nothing else was sent.
 */
static void
check_deploy_rings_twice(struct fx *f, long long command_id)
{
	json_t *sent, *edits, *first = NULL, *outcome = NULL, *last, *r, *b;
	long long progress_id = 0;
	size_t i;

	HBT_REQUIRE(HBT_WAIT(edited_with(f, PRIVATE_CHAT, "done"), 10000),
	    "the progress shows the end");
	sent = sent_to(f, PRIVATE_CHAT, 200);
	json_array_foreach(sent, i, r) {
		if (strstr(rec_text(r), "Deploy of abc1234 requested"))
			first = r;
		if (strstr(rec_text(r), "v1 -&gt; abc1234: done"))
			outcome = r;
		HBT_CHECK(!strstr(rec_text(r), "running (step pull)"),
		    "no new message for a step: %s", rec_text(r));
	}
	HBT_REQUIRE(first && outcome, "the request and the outcome were sent");
	progress_id = json_integer_value(json_object_get(first, "message_id"));
	b = json_object_get(first, "body");
	HBT_CHECK(!json_is_true(json_object_get(b, "disable_notification")),
	    "the start rings");
	b = json_object_get(outcome, "body");
	HBT_CHECK(!json_is_true(json_object_get(b, "disable_notification")),
	    "the end rings");
	HBT_CHECK(json_integer_value(json_object_get(json_object_get(b,
	    "reply_parameters"), "message_id")) == command_id, "the outcome "
	    "replies to the command %lld", command_id);
	edits = hbt_telegram_select(&f->tg, "editMessageText", 0);
	HBT_CHECK(json_array_size(edits) >= 1, "edits: %zu",
	    json_array_size(edits));
	json_array_foreach(edits, i, r)
		HBT_CHECK(json_integer_value(json_object_get(json_object_get(r,
		    "body"), "message_id")) == progress_id && json_integer_value(
		    json_object_get(r, "status")) == 200, "each edit of the "
		    "request's message (%lld), taken: %s", progress_id,
		    rec_text(r));
	last = json_array_get(edits, json_array_size(edits) - 1);
	HBT_CHECK(last && strstr(rec_text(last), "Deploy of abc1234 requested") &&
	    strstr(rec_text(last), "\xe2\x9c\x94\xef\xb8\x8f pull\n") &&
	    strstr(rec_text(last), "v1 -&gt; abc1234: done"), "the last edit: "
	    "the request, each step on its line, the end: %s",
	    last ? rec_text(last) : "");
	json_decref(edits);
	json_decref(sent);
}

/* Telegram commands: only from allowed chats, exactly the contract's JSON. */
static void
scenario_commands(struct fx *f)
{
	struct hbt_mqtt_msg *m;
	json_t *r, *ok;
	size_t i;
	const char *state_running = "{\"id\":\"tg-501\",\"action\":\"deploy\","
	    "\"phase\":\"running\",\"from_tag\":\"v1\",\"to_tag\":\"abc1234\","
	    "\"step\":\"pull\",\"started\":\"2026-01-01T10:00:00.000Z\","
	    "\"updated\":\"2026-01-01T10:00:01.000Z\"}";
	const char *state_done = "{\"id\":\"tg-501\",\"action\":\"deploy\","
	    "\"phase\":\"done\",\"from_tag\":\"v1\",\"to_tag\":\"abc1234\","
	    "\"step\":\"record\",\"started\":\"2026-01-01T10:00:00.000Z\","
	    "\"updated\":\"2026-01-01T10:00:30.000Z\"}";
	const char *health = "{\"target\":\"influxdb\",\"state\":\"down\","
	    "\"since\":\"2026-01-01T09:00:00.000Z\",\"reason\":\"connection refused\"}";

	setup_commands(f, "[1001]");

	/* from a chat that is not allowed: nothing on the bus, no answer */
	hbt_telegram_say(&f->tg, 500, OTHER_CHAT, 77, "mallory", "/deploy evil999");
	HBT_CHECK(HBT_WAIT(hbt_metric(f->http, "homebus_notifier_telegram_ignored_total")
	    == 1, 10000), "the stranger's command is counted as ignored");
	hbt_sleep_ms(1000);
	HBT_CHECK(hbt_mqtt_count(f->mqtt, "homebus/deploy/command") == 0,
	    "nothing on the bus for a chat that is not allowed");
	HBT_CHECK(hbt_telegram_count(&f->tg, "sendMessage", 0) == 0,
	    "no answer to a stranger");
	HBT_CHECK(!hbt_proc_log_has(&f->nf.proc, "evil999"),
	    "the stranger's text is not logged");

	/* from the allowed chat: the exact command on the bus */
	hbt_telegram_say(&f->tg, 501, PRIVATE_CHAT, 42, "alice", "/deploy abc1234");
	m = hbt_mqtt_wait(f->mqtt, "homebus/deploy/command", NULL, 10000);
	HBT_REQUIRE(m != NULL, "a deploy command on the bus");
	HBT_CHECK(strcmp(m->payload, "{\"id\":\"tg-501\",\"action\":\"deploy\","
	    "\"tag\":\"abc1234\",\"requested_by\":\"telegram:@alice\"}") == 0,
	    "command: %s", m->payload);
	hbt_mqtt_msg_free(m);
	HBT_CHECK(HBT_WAIT(reply_with(f, PRIVATE_CHAT, "Deploy of abc1234 requested"),
	    10000), "the chat is told");

	/* progress as it happens, from P/deploy/state: edits of that message */
	hbt_mqtt_publish(f->mqtt, "homebus/deploy/state", state_running,
	    strlen(state_running), 1, true);
	HBT_CHECK(HBT_WAIT(edited_with(f, PRIVATE_CHAT, "running (step pull)"),
	    10000), "progress: running, an edit");
	hbt_mqtt_publish(f->mqtt, "homebus/deploy/state", state_done,
	    strlen(state_done), 1, true);
	HBT_CHECK(HBT_WAIT(reply_with(f, PRIVATE_CHAT, "v1 -&gt; abc1234: done"),
	    10000), "the outcome: done");
	check_deploy_rings_twice(f, 5010);

	/* /status: the retained health and the last deploy */
	hbt_mqtt_publish(f->mqtt, "homebus/health/influxdb", health, strlen(health),
	    1, true);
	hbt_sleep_ms(500);
	hbt_telegram_say(&f->tg, 502, PRIVATE_CHAT, 42, "alice", "/status");
	HBT_CHECK(HBT_WAIT(reply_with(f, PRIVATE_CHAT, "influxdb: down (connection "
	    "refused)"), 10000), "/status shows the health");
	HBT_CHECK(reply_with(f, PRIVATE_CHAT, "Last deploy: deploy v1 -&gt; abc1234: "
	    "done"), "/status shows the last deploy");

	/* /mute: warnings arrive silently, critical still rings */
	hbt_telegram_say(&f->tg, 503, PRIVATE_CHAT, 42, "alice", "/mute 30");
	HBT_CHECK(HBT_WAIT(reply_with(f, PRIVATE_CHAT, "For 30 minutes"), 10000),
	    "/mute answered");
	notify(f, "warning", NULL, "muted warning", NULL);
	notify(f, "critical", NULL, "loud critical", NULL);
	HBT_CHECK(HBT_WAIT(reply_with(f, PRIVATE_CHAT, "loud critical"), 10000),
	    "after /mute");
	ok = sent_to(f, PRIVATE_CHAT, 200);
	json_array_foreach(ok, i, r) {
		json_t *silent = json_object_get(json_object_get(r, "body"),
		    "disable_notification");

		if (strstr(rec_text(r), "muted warning"))
			HBT_CHECK(json_is_true(silent), "a warning while muted is silent");
		if (strstr(rec_text(r), "loud critical"))
			HBT_CHECK(!json_is_true(silent), "a critical still rings");
	}
	json_decref(ok);

	/* /help, and a bad argument that must not reach the bus */
	hbt_telegram_say(&f->tg, 504, PRIVATE_CHAT, 42, "alice", "/deploy ../../etc");
	hbt_telegram_say(&f->tg, 505, PRIVATE_CHAT, 42, "alice", "/help");
	HBT_CHECK(HBT_WAIT(reply_with(f, PRIVATE_CHAT, "/rollback - back"), 10000),
	    "/help lists the commands");
	HBT_CHECK(reply_with(f, PRIVATE_CHAT, "usage: /deploy TAG"), "bad tag answered");
	HBT_CHECK(hbt_mqtt_count(f->mqtt, "homebus/deploy/command") == 1,
	    "still one command on the bus");

	/* the offset survives a restart: no update is handled twice */
	HBT_CHECK(hbt_proc_stop(&f->nf.proc, SIGTERM, 15000) == 0, "clean exit");
	{
		size_t polls_before = hbt_telegram_count(&f->tg, "getUpdates", 0);
		json_t *polls;
		long long offset;

		HBT_REQUIRE(hbt_proc_restart(&f->nf.proc) == 0, "restart");
		HBT_REQUIRE(HBT_WAIT(hbt_telegram_count(&f->tg, "getUpdates", 0) >
		    polls_before, 10000), "polls again");
		polls = hbt_telegram_select(&f->tg, "getUpdates", 0);
		offset = json_integer_value(json_object_get(json_array_get(polls,
		    polls_before), "offset"));
		HBT_CHECK(offset == 506, "first poll after the restart asks from "
		    "offset %lld (expected 506)", offset);
		json_decref(polls);
	}
	hbt_sleep_ms(1000);
	HBT_CHECK(hbt_mqtt_count(f->mqtt, "homebus/deploy/command") == 1,
	    "no command published twice");
}

/*
 * A /deploy sent two hours ago (Telegram keeps updates a day, and the
 * notifier was down): not run, and the chat is told why.
 */
static void
scenario_stale(struct fx *f)
{
	setup_commands(f, "[1001]");
	hbt_telegram_say_at(&f->tg, 601, PRIVATE_CHAT, 42, "alice",
	    "/deploy abc1234", (long long)time(NULL) - 7200);
	HBT_CHECK(HBT_WAIT(reply_with(f, PRIVATE_CHAT, "/deploy was sent 120 min "
	    "ago"), 10000), "the chat is told the command was too old");
	HBT_CHECK(reply_with(f, PRIVATE_CHAT, "commands older than 300 s are not "
	    "run"), "the answer names the limit");
	/* a fresh command after it is taken: the old one had its turn before */
	hbt_telegram_say(&f->tg, 602, PRIVATE_CHAT, 42, "alice", "/rollback");
	HBT_CHECK(HBT_WAIT(hbt_mqtt_count(f->mqtt, "homebus/deploy/command") >= 1,
	    10000), "a fresh /rollback is published");
	HBT_CHECK(hbt_mqtt_count_with(f->mqtt, "homebus/deploy/command",
	    "abc1234") == 0, "the old /deploy is not on homebus/deploy/command");
	HBT_CHECK(hbt_mqtt_count(f->mqtt, "homebus/deploy/command") == 1,
	    "only the fresh command on the bus");
}

static void restart_with(struct fx *f, const char *from, const char *to);

/* P/deploy/state for deploy id in phase at step, retained as the deployer's. */
static void
deploy_state(struct fx *f, const char *id, const char *phase, const char *step)
{
	char s[400];

	snprintf(s, sizeof(s), "{\"id\":\"%s\",\"action\":\"deploy\","
	    "\"phase\":\"%s\",\"from_tag\":\"v1\",\"to_tag\":\"abc1234\","
	    "\"step\":\"%s\",\"started\":\"2026-01-01T10:00:00.000Z\","
	    "\"updated\":\"2026-01-01T10:00:01.000Z\"}", id, phase, step);
	hbt_mqtt_publish(f->mqtt, "homebus/deploy/state", s, strlen(s), 1, true);
}

/*
 * The notifier restarts in the middle of a deploy asked for from the chat:
 * the progress goes on editing the same message, and the outcome still
 * comes, replying to the command.
 */
static void
scenario_deploy_restart(struct fx *f)
{
	setup_commands(f, "[1001]");
	hbt_telegram_say(&f->tg, 501, PRIVATE_CHAT, 42, "alice", "/deploy abc1234");
	HBT_REQUIRE(HBT_WAIT(hbt_mqtt_count(f->mqtt, "homebus/deploy/command") == 1,
	    10000), "the deploy on the bus");
	deploy_state(f, "tg-501", "running", "pull");
	HBT_REQUIRE(HBT_WAIT(edited_with(f, PRIVATE_CHAT, "running (step pull)"),
	    10000), "progress before the restart");
	restart_with(f, NULL, NULL);
	deploy_state(f, "tg-501", "done", "record");
	HBT_CHECK(HBT_WAIT(reply_with(f, PRIVATE_CHAT, "v1 -&gt; abc1234: done"),
	    10000), "the outcome after the restart");
	check_deploy_rings_twice(f, 5010);
}

/*
 * Chats from notifier.telegram.chat_ids_file join those of chat_ids: a
 * notification reaches every one, once; a line that is no chat id is an
 * error naming the file and the line.
 */
static void
scenario_chats_file(struct fx *f)
{
	char path[600], extra[800], json[1400];
	struct hb_buf out = { 0 };
	json_t *s;
	int rc;

	snprintf(path, sizeof(path), "%s/chats", hbt_dir());
	hbt_write_file(path, "# the family\n1001\n\n  -1002   # the house group\n"
	    "3003\n");
	snprintf(extra, sizeof(extra), "\"chat_ids\": [3003, 4004], "
	    "\"chat_ids_file\": \"%s\", \"chat_interval_ms\": 50", path);
	setup(f, NULL, extra);
	notify(f, "warning", "From the file", "to every chat", NULL);
	HBT_CHECK(HBT_WAIT(hbt_telegram_count(&f->tg, "sendMessage", 200) >= 4,
	    10000), "four chats reached");
	hbt_sleep_ms(500);
	for (size_t i = 0; i < 4; i++) {
		static const long long chats[] = { 1001, -1002, 3003, 4004 };

		s = sent_to(f, chats[i], 200);
		HBT_CHECK(json_array_size(s) == 1, "chat %lld got %zu messages",
		    chats[i], json_array_size(s));
		json_decref(s);
	}

	hbt_write_file(path, "1001\n# fine\n12ab\n");
	snprintf(json, sizeof(json), "{\"notifier\": {\"telegram\": "
	    "{\"chat_ids_file\": \"%s\"}}}", path);
	setenv("TELEGRAM_BOT_TOKEN", "1:x", 1);
	rc = hbt_check_config("notifier", json, &out);
	unsetenv("TELEGRAM_BOT_TOKEN");
	HBT_CHECK(rc == 2 && out.data && strstr(out.data, "chats:3: \"12ab\" is "
	    "not a chat id"), "a bad line named: %d %s", rc, out.data);
	hb_buf_free(&out);
}

/* setMyCommands (and deleteMyCommands) records answered 200 for chat. */
static size_t
menu_calls(struct fx *f, const char *method, long long chat)
{
	json_t *all = hbt_telegram_select(&f->tg, method, 200), *r;
	size_t i, n = 0;

	json_array_foreach(all, i, r) {
		json_t *scope = json_object_get(json_object_get(r, "body"), "scope");

		if (strcmp(json_string_value(json_object_get(scope, "type")) ?
		    json_string_value(json_object_get(scope, "type")) : "", "chat") == 0 &&
		    json_integer_value(json_object_get(scope, "chat_id")) == chat)
			n++;
	}
	json_decref(all);
	return n;
}

static long fake_post(struct fx *f, const char *method, const char *body,
    char *desc, size_t desclen);
static long long fake_last_id;	/* result.message_id of fake_post's answer */

/* editMessageText and reply_parameters, refused as Telegram refuses them. */
static void
check_fake_refuses_edits(struct fx *f)
{
	char desc[300], body[200];
	long long id;
	long st;

	st = fake_post(f, "sendMessage", "{\"chat_id\":9,\"text\":\"one\"}",
	    desc, sizeof(desc));
	id = fake_last_id;
	HBT_REQUIRE(st == 200 && id > 0, "a message to edit: %ld %s", st, desc);
	snprintf(body, sizeof(body), "{\"chat_id\":9,\"message_id\":%lld,"
	    "\"text\":\"one\"}", id);
	st = fake_post(f, "editMessageText", body, desc, sizeof(desc));
	HBT_CHECK(st == 400 && strstr(desc, "message is not modified"),
	    "the same text again: %ld %s", st, desc);
	snprintf(body, sizeof(body), "{\"chat_id\":9,\"message_id\":%lld,"
	    "\"text\":\"two\"}", id);
	st = fake_post(f, "editMessageText", body, desc, sizeof(desc));
	HBT_CHECK(st == 200, "a new text: %ld %s", st, desc);
	snprintf(body, sizeof(body), "{\"chat_id\":8,\"message_id\":%lld,"
	    "\"text\":\"three\"}", id);
	st = fake_post(f, "editMessageText", body, desc, sizeof(desc));
	HBT_CHECK(st == 400 && strstr(desc, "message to edit not found"),
	    "a message of another chat: %ld %s", st, desc);
	st = fake_post(f, "editMessageText", "{\"chat_id\":9,\"text\":\"x\"}",
	    desc, sizeof(desc));
	HBT_CHECK(st == 400 && strstr(desc, "message identifier"),
	    "no message_id: %ld %s", st, desc);
	st = fake_post(f, "sendMessage", "{\"chat_id\":9,\"text\":\"r\","
	    "\"reply_parameters\":{\"message_id\":999999}}", desc, sizeof(desc));
	HBT_CHECK(st == 400 && strstr(desc, "message to be replied not found"),
	    "a reply to no message: %ld %s", st, desc);
	st = fake_post(f, "sendMessage", "{\"chat_id\":9,\"text\":\"r\","
	    "\"reply_parameters\":{\"message_id\":999999,"
	    "\"allow_sending_without_reply\":true}}", desc, sizeof(desc));
	HBT_CHECK(st == 200, "allowed without it: %ld %s", st, desc);
}

/* The fake refuses the menus and methods Telegram refuses. */
static void
check_fake_refuses_menu(struct fx *f)
{
	static const struct {
		const char *method, *body;
		long status;
		const char *desc;
	} cases[] = {
		{ "setMyCommands", "{\"commands\":[{\"command\":\"ok_1\","
		    "\"description\":\"fine\"}],\"scope\":{\"type\":\"chat\","
		    "\"chat_id\":5}}", 200, "" },
		{ "setMyCommands", "{\"commands\":[]}", 400, "commands" },
		{ "setMyCommands", "{\"commands\":[{\"command\":\"Deploy\","
		    "\"description\":\"x\"}]}", 400, "BOT_COMMAND_INVALID" },
		{ "setMyCommands", "{\"commands\":[{\"command\":\"deploy\","
		    "\"description\":\"\"}]}", 400, "DESCRIPTION_INVALID" },
		{ "setMyCommands", "{\"commands\":[{\"command\":\"deploy\","
		    "\"description\":\"x\"}],\"scope\":{\"type\":\"chat\"}}",
		    400, "chat_id is empty" },
		{ "deleteMyCommands", "{\"scope\":{\"type\":\"room\"}}", 400,
		    "BotCommandScope" },
		{ "setMyCommandz", "{}", 404, "method not found" },
	};
	char desc[300];
	long st;

	for (size_t i = 0; i < HB_ARRAY_LEN(cases); i++) {
		st = fake_post(f, cases[i].method, cases[i].body, desc, sizeof(desc));
		HBT_CHECK(st == cases[i].status && strstr(desc, cases[i].desc),
		    "fake Telegram on %s %s: %ld %s", cases[i].method, cases[i].body,
		    st, desc);
	}
	check_fake_refuses_edits(f);
}

/* Restarts the notifier after SIGTERM, with its configuration edited. */
static void
restart_with(struct fx *f, const char *from, const char *to)
{
	char *at;

	HBT_REQUIRE(hbt_proc_stop(&f->nf.proc, SIGTERM, 15000) == 0, "clean exit");
	if (from) {
		at = strstr(f->cfg.data, from);
		HBT_REQUIRE(at != NULL && strlen(from) == strlen(to), "config edit");
		memcpy(at, to, strlen(to));
		hbt_write_file(f->nf.config, f->cfg.data);
	}
	HBT_REQUIRE(hbt_proc_restart(&f->nf.proc) == 0, "restart");
	HBT_REQUIRE(HBT_WAIT(hbt_metric(f->http, "homebus_notifier_bus_connected")
	    == 1, 10000), "back on the bus");
}

/*
 * Telegram's "/" menu: each allowed chat gets the commands at start, once;
 * a restart with the same allow-list registers nothing, a changed one
 * registers again and takes the menu away from a chat no longer allowed.
 */
static void
scenario_menu(struct fx *f)
{
	json_t *all, *body, *cmds, *c;
	size_t i, polls;
	bool deploy_seen = false;

	setup_commands(f, "[1001, -1002]");
	HBT_CHECK(HBT_WAIT(menu_calls(f, "setMyCommands", PRIVATE_CHAT) == 1 &&
	    menu_calls(f, "setMyCommands", GROUP_CHAT) == 1, 10000),
	    "each allowed chat gets its menu");
	all = hbt_telegram_select(&f->tg, "setMyCommands", 200);
	body = json_object_get(json_array_get(all, 0), "body");
	cmds = json_object_get(body, "commands");
	HBT_CHECK(json_array_size(cmds) == 5, "five commands: %zu",
	    json_array_size(cmds));
	json_array_foreach(cmds, i, c)
		if (strcmp(json_string_value(json_object_get(c, "command")), "deploy")
		    == 0 && strstr(json_string_value(json_object_get(c,
		    "description")), "deploy that image tag"))
			deploy_seen = true;
	HBT_CHECK(deploy_seen, "/deploy with its description");
	json_decref(all);

	/* the same list: nothing registered again */
	polls = hbt_telegram_count(&f->tg, "getUpdates", 0);
	restart_with(f, NULL, NULL);
	HBT_REQUIRE(HBT_WAIT(hbt_telegram_count(&f->tg, "getUpdates", 0) > polls,
	    10000), "polls again");
	hbt_sleep_ms(1000);
	HBT_CHECK(hbt_telegram_count(&f->tg, "setMyCommands", 0) == 2,
	    "no setMyCommands after a restart with the same list: %zu",
	    hbt_telegram_count(&f->tg, "setMyCommands", 0));

	/* the group dropped: its menu deleted, the private chat's set again */
	restart_with(f, "[1001, -1002]", "[1001]       ");
	HBT_CHECK(HBT_WAIT(menu_calls(f, "setMyCommands", PRIVATE_CHAT) == 2,
	    10000), "the changed list is registered again");
	HBT_CHECK(HBT_WAIT(menu_calls(f, "deleteMyCommands", GROUP_CHAT) == 1,
	    10000), "the chat no longer allowed loses its menu");
	HBT_CHECK(menu_calls(f, "setMyCommands", GROUP_CHAT) == 1,
	    "nothing set for the chat no longer allowed");
	HBT_CHECK(hbt_telegram_count(&f->tg, "setMyCommands", 400) == 0 &&
	    hbt_telegram_count(&f->tg, "deleteMyCommands", 400) == 0,
	    "Telegram refused nothing");
	check_fake_refuses_menu(f);
}

/* A request straight to the fake: its status, Telegram's description. */
static long
fake_post(struct fx *f, const char *method, const char *body, char *desc,
    size_t desclen)
{
	char url[300];
	struct hb_buf out = { 0 };
	json_t *a;
	long st;

	snprintf(url, sizeof(url), "%s/bot%s/%s", f->tg.url, TOKEN, method);
	st = hbt_http("POST", url, body, &out);
	a = out.data ? json_loadb(out.data, out.len, 0, NULL) : NULL;
	snprintf(desc, desclen, "%s", json_string_value(json_object_get(a,
	    "description")) ? json_string_value(json_object_get(a, "description")) :
	    "");
	fake_last_id = json_integer_value(json_object_get(json_object_get(a,
	    "result"), "message_id"));
	json_decref(a);
	hb_buf_free(&out);
	return st;
}

/* A sendMessage straight to the fake in HTML to chat 9. */
static long
fake_send(struct fx *f, const char *text, char *desc, size_t desclen)
{
	json_t *o = json_pack("{s:I, s:s, s:s}", "chat_id", (json_int_t)9, "text",
	    text, "parse_mode", "HTML");
	char *s = json_dumps(o, JSON_COMPACT);
	long st = fake_post(f, "sendMessage", s, desc, desclen);

	json_decref(o);
	free(s);
	return st;
}

/*
 * The fake refuses what Telegram refuses, so that a delivery proves the
 * escaping and the length: each case with the answer Telegram gives.
 */
static void
check_fake_refuses(struct fx *f)
{
	static const struct {
		const char *text;
		long status;
		const char *desc;
	} cases[] = {
		{ "\xf0\x9f\x94\xb4 <b>a &lt; b &amp;&amp; c &gt; d</b>\n&quot;x&#38;&#x1F6AA;",
		    200, "" },
		{ "a < b", 400, "can't parse entities" },
		{ "a & b", 400, "can't parse entities" },
		{ "AT&T;", 400, "can't parse entities" },
		{ "<b>bold", 400, "can't parse entities" },
		{ "<b>x</i>", 400, "can't parse entities" },
		{ "x</b>", 400, "can't parse entities" },
		{ "<blink>x</blink>", 400, "can't parse entities" },
		{ "<b></b>", 400, "message text is empty" },
	};
	struct hb_buf t = { 0 };
	char desc[300];
	long st;

	for (size_t i = 0; i < HB_ARRAY_LEN(cases); i++) {
		st = fake_send(f, cases[i].text, desc, sizeof(desc));
		HBT_CHECK(st == cases[i].status && strstr(desc, cases[i].desc),
		    "fake Telegram on \"%s\": %ld %s", cases[i].text, st, desc);
	}
	/* 4096 units after entity parsing, then one more */
	hb_buf_puts(&t, "<b>");
	for (int i = 0; i < 4093; i++)
		hb_buf_putc(&t, 'x');
	hb_buf_puts(&t, "&amp;</b>\xf0\x9f\x9a\xaa");	/* a door: 2 units */
	st = fake_send(f, t.data, desc, sizeof(desc));
	HBT_CHECK(st == 200, "4096 units: %ld %s", st, desc);
	hb_buf_putc(&t, 'y');
	st = fake_send(f, t.data, desc, sizeof(desc));
	HBT_CHECK(st == 400 && strstr(desc, "message is too long"), "4097 units: %ld %s",
	    st, desc);
	hb_buf_free(&t);
}

/*
 * 10,000 characters arrive in three parts, escaped, nothing lost; a title
 * longer than a message arrives cut (the fake refuses what Telegram would).
 */
static void
scenario_long(struct fx *f)
{
	struct hb_buf text = { 0 }, back = { 0 }, title = { 0 };
	json_t *ok;

	setup(f, NULL, "\"chat_ids\": [1001], \"chat_interval_ms\": 50");
	check_fake_refuses(f);
	for (int i = 0; i < 100; i++) {
		struct hb_buf line = { 0 };

		hb_buf_printf(&line, "line %03d: a<b && c>d ", i);
		while (line.len < (i == 99 ? 100u : 99u))
			hb_buf_putc(&line, (char)('a' + (int)line.len % 26));
		if (i > 0)
			hb_buf_putc(&text, '\n');
		hb_buf_append(&text, line.data, line.len);
		hb_buf_free(&line);
	}
	HBT_REQUIRE(text.len == 10000, "the text is %zu characters", text.len);
	{
		json_t *o = json_pack("{s:s, s:s}", "text", text.data, "title",
		    "Big <report> & more");
		char *s = json_dumps(o, JSON_COMPACT);

		hbt_mqtt_publish(f->mqtt, "homebus/notify/error", s, strlen(s), 1, false);
		free(s);
		json_decref(o);
	}
	HBT_CHECK(HBT_WAIT(delivered(f, PRIVATE_CHAT) >= 3, 20000), "parts: %zu",
	    delivered(f, PRIVATE_CHAT));
	hbt_sleep_ms(500);
	ok = sent_to(f, PRIVATE_CHAT, 200);
	HBT_CHECK(json_array_size(ok) == 3, "three parts, got %zu", json_array_size(ok));
	for (size_t k = 0; k < json_array_size(ok); k++) {
		const char *t = rec_text(json_array_get(ok, k)), *body;
		char head[128];
		size_t visible = 0;

		snprintf(head, sizeof(head), "\xf0\x9f\x94\xb4 <b>Big &lt;report&gt; "
		    "&amp; more</b> (%zu/3)\n", k + 1);
		HBT_CHECK(strncmp(t, head, strlen(head)) == 0, "part %zu starts: %.80s",
		    k + 1, t);
		body = strncmp(t, head, strlen(head)) == 0 ? t + strlen(head) : t;
		if (k > 0)
			hb_buf_putc(&back, '\n');
		/* undo the escaping; a raw '<' or '>' would be a markup error */
		for (const char *p = body; *p; p++) {
			HBT_CHECK(*p != '<' && *p != '>', "unescaped %c in part %zu", *p,
			    k + 1);
			if (strncmp(p, "&lt;", 4) == 0) {
				hb_buf_putc(&back, '<');
				p += 3;
			} else if (strncmp(p, "&gt;", 4) == 0) {
				hb_buf_putc(&back, '>');
				p += 3;
			} else if (strncmp(p, "&amp;", 5) == 0) {
				hb_buf_putc(&back, '&');
				p += 4;
			} else {
				HBT_CHECK(*p != '&', "bare & in part %zu", k + 1);
				hb_buf_putc(&back, *p);
			}
		}
		/* what Telegram counts: the text after entity parsing */
		for (const char *p = t; *p; p++) {
			if (strncmp(p, "<b>", 3) == 0) {
				p += 2;
				continue;
			}
			if (strncmp(p, "</b>", 4) == 0) {
				p += 3;
				continue;
			}
			if (*p == '&') {
				p = strchr(p, ';');
				visible++;
				continue;
			}
			if (((unsigned char)*p & 0xC0) != 0x80)
				visible += (unsigned char)*p >= 0xF0 ? 2 : 1;
		}
		HBT_CHECK(visible <= 4096, "part %zu is %zu characters", k + 1, visible);
		hbt_log("part %zu: %zu characters as Telegram counts them", k + 1, visible);
	}
	HBT_CHECK(back.len == text.len && memcmp(back.data, text.data, text.len) == 0,
	    "the parts give back the text (%zu of %zu bytes)", back.len, text.len);
	json_decref(ok);

	/* a title of 5,000 characters: shown cut, the message delivered */
	while (title.len < 5000)
		hb_buf_puts(&title, "Title <x> & ");
	notify(f, "error", title.data, "short body", NULL);
	HBT_CHECK(HBT_WAIT(delivered(f, PRIVATE_CHAT) >= 4, 10000), "the message with "
	    "a long title delivered (%zu)", delivered(f, PRIVATE_CHAT));
	ok = sent_to(f, PRIVATE_CHAT, 0);
	{
		const char *t = rec_text(json_array_get(ok, json_array_size(ok) - 1));

		HBT_CHECK(strncmp(t, "\xf0\x9f\x94\xb4 <b>Title &lt;x&gt; &amp; Title",
		    30) == 0 && strstr(t, "\xe2\x80\xa6</b>\nshort body") != NULL,
		    "title cut with an ellipsis: %.60s...%s", t,
		    strlen(t) > 40 ? t + strlen(t) - 40 : t);
	}
	HBT_CHECK(json_array_size(ok) == 4, "nothing refused: %zu sendMessage for 4 "
	    "messages", json_array_size(ok));
	json_decref(ok);
	hb_buf_free(&title);
	hb_buf_free(&text);
	hb_buf_free(&back);
}

/*
 * The webhook channel (same outbox, its own min_severity), dedupe with a
 * summary when the window closes, and the quickstart case (no channel: the
 * notification is logged).
 */
static void
scenario_webhook(struct fx *f)
{
	char extra[600], cfg[1024];
	struct hbt_service quiet;
	json_t *hooks, *h, *ok;
	int quiet_http = hbt_free_port();
	size_t i;
	bool warning_seen = false, summary_seen = false;

	/*
	 * The fake's port is only known once it runs: start, then reconfigure
	 * and restart the same process entry, whose log goes on (so that the
	 * token check covers both runs).
	 */
	setup(f, NULL, "\"chat_ids\": [1001], \"chat_interval_ms\": 50");
	HBT_REQUIRE(hbt_proc_stop(&f->nf.proc, SIGTERM, 15000) == 0, "stop");
	snprintf(extra, sizeof(extra), "\"dedupe_window_s\": 2, \"webhook\": "
	    "{\"url\": \"%s/hook/homeassistant\", \"min_severity\": \"warning\"}",
	    f->tg.url);
	{
		/* same config with the webhook and a 2 s dedupe window */
		char *at = strstr(f->cfg.data, "\"dedupe_window_s\": 0");
		struct hb_buf c = { 0 };

		HBT_REQUIRE(at != NULL, "config shape");
		hb_buf_append(&c, f->cfg.data, (size_t)(at - f->cfg.data));
		hb_buf_puts(&c, extra);
		hb_buf_puts(&c, at + strlen("\"dedupe_window_s\": 0"));
		hbt_write_file(f->nf.config, c.data);
		HBT_REQUIRE(hbt_proc_restart(&f->nf.proc) == 0, "notifier with a webhook");
		hb_buf_free(&c);
	}
	HBT_REQUIRE(HBT_WAIT(hbt_metric(f->http, "homebus_notifier_bus_connected") == 1,
	    10000), "on the bus");
	HBT_CHECK(hbt_proc_log_count(&f->nf.proc, "notifier ready") == 2, "the log holds both "
	    "runs: %zu", hbt_proc_log_count(&f->nf.proc, "notifier ready"));

	notify(f, "info", NULL, "only telegram", NULL);
	notify(f, "warning", "Door", "front door open 0", "door");
	for (int k = 1; k <= 14; k++) {
		char t[64];

		snprintf(t, sizeof(t), "front door open %d", k);
		notify(f, "warning", "Door", t, "door");
	}
	HBT_CHECK(HBT_WAIT(hbt_telegram_count(&f->tg, "webhook", 200) >= 2 &&
	    delivered(f, PRIVATE_CHAT) >= 3, 20000), "webhook %zu, telegram %zu",
	    hbt_telegram_count(&f->tg, "webhook", 200), delivered(f, PRIVATE_CHAT));
	hbt_sleep_ms(3000);	/* nothing more may come */
	hooks = hbt_telegram_select(&f->tg, "webhook", 200);
	HBT_CHECK(json_array_size(hooks) == 2, "webhook got %zu (first + summary)",
	    json_array_size(hooks));
	json_array_foreach(hooks, i, h) {
		json_t *b = json_object_get(h, "body");
		const char *text = json_string_value(json_object_get(b, "text"));

		HBT_CHECK(text && !strstr(text, "only telegram"),
		    "an info reached the warning-only webhook");
		if (text && strcmp(text, "front door open 0") == 0) {
			warning_seen = true;
			HBT_CHECK(strcmp(json_string_value(json_object_get(b, "severity")),
			    "warning") == 0 && strcmp(json_string_value(json_object_get(b,
			    "title")), "Door") == 0 && strcmp(json_string_value(
			    json_object_get(b, "key")), "door") == 0, "webhook JSON");
		}
		if (text && strstr(text, "and 14 more like this") &&
		    strstr(text, "front door open 14")) {
			summary_seen = true;
			HBT_CHECK(json_integer_value(json_object_get(b, "repeats")) == 14,
			    "repeats 14");
		}
	}
	HBT_CHECK(warning_seen && summary_seen, "the first and the summary");
	HBT_CHECK(hbt_metric(f->http, "homebus_notifier_notifications_folded_total")
	    == 28, "folded for each destination: 14 for the chat, 14 for the "
	    "webhook");
	json_decref(hooks);
	ok = sent_to(f, PRIVATE_CHAT, 200);
	HBT_CHECK(json_array_size(ok) == 3, "telegram: info, first, summary; got %zu",
	    json_array_size(ok));
	HBT_CHECK(count_text(ok, "front door open", NULL) == 2 &&
	    count_text(ok, "and 14 more like this", NULL) == 1, "folded on telegram");
	json_decref(ok);

	/* no channel at all: the quickstart logs what it would send */
	snprintf(cfg, sizeof(cfg), "{\"data_dir\": \"%s/quiet\", \"log\": "
	    "{\"format\": \"text\"}, \"bus\": {\"port\": %d, \"client_id\": \"quiet\", "
	    "\"instance\": \"quiet\"}, \"notifier\": {\"http_port\": %d}}",
	    hbt_dir(), f->broker.port, quiet_http);
	HBT_REQUIRE(hbt_service_start(&quiet, "notifier", "quiet", cfg, quiet_http) == 0,
	    "notifier without channels");
	HBT_REQUIRE(HBT_WAIT(hbt_metric(quiet_http, "homebus_notifier_bus_connected") == 1,
	    10000), "on the bus");
	hbt_sleep_ms(300);
	notify(f, "error", "Quickstart", "the disk is full", NULL);
	HBT_CHECK(HBT_WAIT(hbt_proc_log_has(&quiet.proc, "would send") &&
	    hbt_proc_log_has(&quiet.proc, "the disk is full"), 10000),
	    "logged what it would send");
}

/*
 * A request that hangs: retried after notifier.telegram.timeout_ms, once
 * delivered, in order, and the other chat does not wait for it.
 */
static void
scenario_hang(struct fx *f)
{
	static const char *const texts[] = { "stuck one", "after 1", "after 2" };
	json_t *all, *r, *hung_ok, *other_ok;
	long long hung = 0, other;
	size_t i;
	long at;

	setup(f, NULL, "\"chat_ids\": [1001, 1003], \"chat_interval_ms\": 50");
	HBT_REQUIRE(hbt_telegram_rules(&f->tg, "[{\"method\": \"sendMessage\", "
	    "\"match\": \"stuck one\", \"hang\": true, \"times\": 1}]") == 0, "rules");
	for (i = 0; i < 3; i++)
		notify(f, "warning", NULL, texts[i], NULL);
	HBT_CHECK(HBT_WAIT(delivered(f, 1001) >= 3 && delivered(f, 1003) >= 3, 30000),
	    "all delivered: %zu, %zu", delivered(f, 1001), delivered(f, 1003));
	all = hbt_telegram_select(&f->tg, "sendMessage", 0);
	json_array_foreach(all, i, r)
		if (json_integer_value(json_object_get(r, "status")) == 0)
			hung = json_integer_value(json_object_get(json_object_get(r, "body"),
			    "chat_id"));
	json_decref(all);
	HBT_REQUIRE(hung == 1001 || hung == 1003, "one request hung");
	other = hung == 1001 ? 1003 : 1001;
	hung_ok = sent_to(f, hung, 200);
	other_ok = sent_to(f, other, 200);
	check_once_in_order(hung_ok, texts, 3);
	check_once_in_order(other_ok, texts, 3);
	count_text(hung_ok, "stuck one", &at);
	HBT_CHECK(at >= 0 && rec_at(json_array_get(other_ok, 2)) <
	    rec_at(json_array_get(hung_ok, (size_t)at)),
	    "the other chat was not held up by the hung request");
	json_decref(hung_ok);
	json_decref(other_ok);
}

/* The limit over all chats (global_per_s), from the arrival times. */
static void
scenario_global(struct fx *f)
{
	json_t *all;
	size_t n;

	setup(f, NULL, "\"chat_ids\": [11, 12, 13, 14, 15, 16, 17, 18], "
	    "\"chat_interval_ms\": 0, \"global_per_s\": 5");
	for (int i = 0; i < 3; i++) {
		char t[32];

		snprintf(t, sizeof(t), "global %d", i);
		notify(f, "warning", NULL, t, NULL);
	}
	HBT_CHECK(HBT_WAIT(hbt_telegram_count(&f->tg, "sendMessage", 200) >= 24, 30000),
	    "24 delivered, got %zu", hbt_telegram_count(&f->tg, "sendMessage", 200));
	all = hbt_telegram_select(&f->tg, "sendMessage", 200);
	n = json_array_size(all);
	for (size_t i = 5; i < n; i++) {
		int64_t span = rec_at(json_array_get(all, i)) -
		    rec_at(json_array_get(all, i - 5));

		/* requests to different chats overlap: their arrival order is
		 * not their start order, hence a margin here */
		HBT_CHECK(span >= 1000 - 150, "6 messages within %lld ms (limit 5/s)",
		    (long long)span);
	}
	HBT_CHECK(n == 24 && rec_at(json_array_get(all, 23)) -
	    rec_at(json_array_get(all, 0)) >= 3000 - 150, "24 messages at 5/s take "
	    "at least 3 s");
	json_decref(all);
}

/* Whether some getUpdates request asked from offset (and, if limit > 0, with
 * that limit). */
static bool
polled_with(struct fx *f, long long offset, long long limit)
{
	json_t *polls = hbt_telegram_select(&f->tg, "getUpdates", 0), *p;
	bool found = false;
	size_t i;

	json_array_foreach(polls, i, p) {
		json_t *b = json_object_get(p, "body");

		if ((offset == 0 || json_integer_value(json_object_get(b, "offset")) ==
		    offset) && (limit == 0 ||
		    json_integer_value(json_object_get(b, "limit")) == limit))
			found = true;
	}
	json_decref(polls);
	return found;
}

/* The limit asked for by the last getUpdates request (-1: none). */
static long long
last_limit(struct fx *f)
{
	json_t *polls = hbt_telegram_select(&f->tg, "getUpdates", 0);
	json_t *b = json_object_get(json_array_get(polls, json_array_size(polls) - 1),
	    "body");
	long long limit = json_is_integer(json_object_get(b, "limit")) ?
	    json_integer_value(json_object_get(b, "limit")) : -1;

	json_decref(polls);
	return limit;
}

static size_t
commands_with(struct fx *f, const char *needle)
{
	return hbt_mqtt_count_with(f->mqtt, "homebus/deploy/command", needle);
}

static size_t
replies_with(struct fx *f, long long chat, const char *needle)
{
	json_t *s = sent_to(f, chat, 200);
	size_t n = count_text(s, needle, NULL);

	json_decref(s);
	return n;
}

/*
 * getUpdates: a bounded answer; update ids that Telegram restarted below
 * the stored offset (the command runs once, the offset moves); an offset
 * that cannot be stored (nothing acted on until it can); an answer too big
 * to take (one update at a time, then back to the limit).
 */
static void
scenario_offset(struct fx *f)
{
	json_t *polls, *p;
	sqlite3 *db;
	char *err = NULL;
	size_t i, n0;

	setup_commands(f, "[1001]");
	polls = hbt_telegram_select(&f->tg, "getUpdates", 0);
	json_array_foreach(polls, i, p) {
		json_t *limit = json_object_get(json_object_get(p, "body"), "limit");

		HBT_CHECK(json_is_integer(limit) && json_integer_value(limit) >= 1 &&
		    json_integer_value(limit) <= 20, "poll %zu asks for limit %lld (1 "
		    "to 20)", i, json_is_integer(limit) ? json_integer_value(limit) : -1);
	}
	json_decref(polls);

	/* ids of the old sequence: the offset is 2001 */
	hbt_telegram_say(&f->tg, 2000, PRIVATE_CHAT, 42, "alice", "/help");
	HBT_REQUIRE(HBT_WAIT(reply_with(f, PRIVATE_CHAT, "/rollback - back"), 10000),
	    "/help answered");
	HBT_REQUIRE(HBT_WAIT(polled_with(f, 2001, 0), 10000), "offset 2001");

	/* a week later Telegram starts again from a lower id */
	hbt_telegram_say(&f->tg, 7, PRIVATE_CHAT, 42, "alice", "/deploy low1");
	HBT_CHECK(HBT_WAIT(commands_with(f, "low1") >= 1, 10000),
	    "the command of a restarted id sequence runs");
	HBT_CHECK(HBT_WAIT(polled_with(f, 8, 0), 10000), "the offset moved to 8");
	hbt_sleep_ms(1500);	/* a repeat would show by now */
	HBT_CHECK(commands_with(f, "low1") == 1, "/deploy low1 published %zu times",
	    commands_with(f, "low1"));
	HBT_CHECK(replies_with(f, PRIVATE_CHAT, "Deploy of low1 requested") == 1,
	    "/deploy low1 answered %zu times", replies_with(f, PRIVATE_CHAT,
	    "Deploy of low1 requested"));

	/* the offset cannot be stored: nothing acted on until it can */
	HBT_REQUIRE(sqlite3_open_v2(f->outbox, &db, SQLITE_OPEN_READWRITE, NULL) ==
	    SQLITE_OK, "open the outbox %s", f->outbox);
	sqlite3_busy_timeout(db, 5000);
	HBT_REQUIRE(sqlite3_exec(db, "CREATE TRIGGER no_offset BEFORE INSERT ON meta "
	    "WHEN NEW.key = 'telegram_offset' BEGIN SELECT RAISE(ABORT, "
	    "'disk I/O error (test)'); END", NULL, NULL, &err) == SQLITE_OK, "%s",
	    err ? err : "");
	hbt_telegram_say(&f->tg, 9, PRIVATE_CHAT, 42, "alice", "/deploy stuck1");
	HBT_CHECK(HBT_WAIT(hbt_proc_log_has(&f->nf.proc, "cannot store the telegram "
	    "offset"), 10000), "the failure is logged");
	hbt_sleep_ms(1500);
	HBT_CHECK(commands_with(f, "stuck1") == 0, "acted on while the offset could "
	    "not be stored");
	HBT_CHECK(replies_with(f, PRIVATE_CHAT, "stuck1") == 0, "answered while the "
	    "offset could not be stored");
	HBT_REQUIRE(sqlite3_exec(db, "DROP TRIGGER no_offset", NULL, NULL, &err) ==
	    SQLITE_OK, "%s", err ? err : "");
	sqlite3_close(db);
	HBT_CHECK(HBT_WAIT(commands_with(f, "stuck1") >= 1, 10000), "acted on once "
	    "the offset is stored");
	HBT_CHECK(HBT_WAIT(polled_with(f, 10, 0), 10000), "the offset moved to 10");

	/* an answer too big to take: one update at a time, then back to 20 */
	HBT_REQUIRE(hbt_telegram_rules(&f->tg, "[{\"method\": \"getUpdates\", "
	    "\"pad\": 5000000, \"times\": 1}]") == 0, "rules");
	n0 = hbt_telegram_count(&f->tg, "getUpdates", 0);
	HBT_REQUIRE(HBT_WAIT(hbt_telegram_count(&f->tg, "getUpdates", 0) > n0, 10000),
	    "a poll that gets the big answer");
	hbt_telegram_say(&f->tg, 11, PRIVATE_CHAT, 42, "alice", "/deploy big1");
	HBT_CHECK(HBT_WAIT(hbt_proc_log_has(&f->nf.proc, "getUpdates answer "
	    "truncated"), 10000), "the truncated answer is logged");
	HBT_CHECK(HBT_WAIT(polled_with(f, 0, 1), 10000), "then one update at a time");
	HBT_CHECK(HBT_WAIT(commands_with(f, "big1") >= 1, 10000), "the command "
	    "arrives all the same");
	HBT_CHECK(HBT_WAIT(last_limit(f) == 20, 10000), "back to limit 20: %lld",
	    last_limit(f));

	/* a restart asks from the stored offset; nothing runs twice */
	HBT_CHECK(hbt_proc_stop(&f->nf.proc, SIGTERM, 15000) == 0, "clean exit");
	n0 = hbt_telegram_count(&f->tg, "getUpdates", 0);
	HBT_REQUIRE(hbt_proc_restart(&f->nf.proc) == 0, "restart");
	HBT_REQUIRE(HBT_WAIT(hbt_telegram_count(&f->tg, "getUpdates", 0) > n0, 10000),
	    "polls again");
	polls = hbt_telegram_select(&f->tg, "getUpdates", 0);
	HBT_CHECK(json_integer_value(json_object_get(json_object_get(json_array_get(
	    polls, n0), "body"), "offset")) == 12, "first poll after the restart "
	    "from offset 12");
	json_decref(polls);
	hbt_sleep_ms(1000);
	HBT_CHECK(commands_with(f, "low1") == 1 && commands_with(f, "stuck1") == 1 &&
	    commands_with(f, "big1") == 1 && hbt_mqtt_count(f->mqtt,
	    "homebus/deploy/command") == 3, "each command once: %zu on the bus",
	    hbt_mqtt_count(f->mqtt, "homebus/deploy/command"));
}

/* SIGTERM inside a dedupe window: the summary arrives after the restart. */
static void
scenario_fold_shutdown(struct fx *f)
{
	json_t *ok;

	setup(f, "\"dedupe_window_s\": 600", "\"chat_ids\": [1001], "
	    "\"chat_interval_ms\": 50");
	notify(f, "warning", "Door", "front door open 0", "door");
	HBT_REQUIRE(HBT_WAIT(delivered(f, PRIVATE_CHAT) >= 1, 10000), "the first");
	for (int k = 1; k <= 4; k++) {
		char t[64];

		snprintf(t, sizeof(t), "front door open %d", k);
		notify(f, "warning", "Door", t, "door");
	}
	HBT_REQUIRE(HBT_WAIT(hbt_metric(f->http,
	    "homebus_notifier_notifications_folded_total") == 4, 10000), "4 folded");
	HBT_CHECK(hbt_proc_stop(&f->nf.proc, SIGTERM, 15000) == 0, "clean exit");
	HBT_CHECK(hbt_proc_log_has(&f->nf.proc, "summaries=1"), "the summary kept at "
	    "exit");
	HBT_REQUIRE(hbt_proc_restart(&f->nf.proc) == 0, "restart");
	HBT_CHECK(HBT_WAIT(reply_with(f, PRIVATE_CHAT, "and 4 more like this"), 15000),
	    "the summary arrives after the restart");
	hbt_sleep_ms(1000);
	ok = sent_to(f, PRIVATE_CHAT, 200);
	HBT_CHECK(json_array_size(ok) == 2 && count_text(ok, "front door open 4",
	    NULL) == 1, "the first and the summary with the latest: %zu",
	    json_array_size(ok));
	json_decref(ok);
}

/*
 * "/deploy@other_bot" is for another bot: only commands addressed to this
 * one (getMe's username, any case) or to no bot are obeyed; while getMe
 * fails, addressed ones are not.
 */
static void
scenario_addressed(struct fx *f)
{
	size_t n0;

	setup_commands(f, "[1001, -1002]");
	HBT_CHECK(hbt_telegram_count(&f->tg, "getMe", 200) == 1, "getMe once");
	HBT_CHECK(hbt_proc_log_has(&f->nf.proc, "telegram bot is @homebus_test_bot"),
	    "the bot's name is logged");
	hbt_telegram_say(&f->tg, 600, GROUP_CHAT, 42, "alice", "/deploy@other_bot evil1");
	hbt_telegram_say(&f->tg, 601, GROUP_CHAT, 42, "alice",
	    "/deploy@HomeBus_Test_Bot good1");
	HBT_CHECK(HBT_WAIT(commands_with(f, "good1") == 1, 10000), "a command "
	    "addressed to this bot is obeyed");
	HBT_CHECK(HBT_WAIT(hbt_metric(f->http, "homebus_notifier_telegram_ignored_total")
	    == 1, 10000), "the other bot's command is counted as ignored");
	hbt_sleep_ms(1000);
	HBT_CHECK(commands_with(f, "evil1") == 0, "a command for another bot obeyed");
	HBT_CHECK(replies_with(f, GROUP_CHAT, "evil1") == 0, "answered for another bot");

	/* getMe fails: addressed commands wait, plain ones still work */
	HBT_CHECK(hbt_proc_stop(&f->nf.proc, SIGTERM, 15000) == 0, "clean exit");
	HBT_REQUIRE(hbt_telegram_rules(&f->tg, "[{\"method\": \"getMe\", \"status\": "
	    "502}]") == 0, "getMe fails from now on");
	n0 = hbt_telegram_count(&f->tg, "getUpdates", 0);
	HBT_REQUIRE(hbt_proc_restart(&f->nf.proc) == 0, "restart");
	HBT_REQUIRE(HBT_WAIT(hbt_telegram_count(&f->tg, "getUpdates", 0) > n0, 10000),
	    "polls again");
	hbt_telegram_say(&f->tg, 602, GROUP_CHAT, 42, "alice",
	    "/deploy@homebus_test_bot name2");
	hbt_telegram_say(&f->tg, 603, GROUP_CHAT, 42, "alice", "/deploy plain3");
	HBT_CHECK(HBT_WAIT(commands_with(f, "plain3") == 1, 10000), "a plain command "
	    "is obeyed without getMe");
	hbt_sleep_ms(1000);
	HBT_CHECK(commands_with(f, "name2") == 0, "an addressed command obeyed while "
	    "the bot's name is unknown");
	HBT_CHECK(hbt_proc_log_has(&f->nf.proc, "telegram getMe failed"),
	    "the getMe failure is logged");
	HBT_CHECK(hbt_telegram_count(&f->tg, "getMe", 502) == 1, "getMe not retried "
	    "at every poll: %zu", hbt_telegram_count(&f->tg, "getMe", 502));
}

int
main(int argc, char **argv)
{
	struct fx f;
	const char *which = argc > 1 ? argv[1] : "burst";
	char name[64];

	memset(&f, 0, sizeof(f));
	snprintf(name, sizeof(name), "notifier_%s", which);
	hbt_init(name);
	if (strcmp(which, "burst") == 0)
		scenario_burst(&f);
	else if (strcmp(which, "retry_after") == 0)
		scenario_retry_after(&f);
	else if (strcmp(which, "sigkill") == 0)
		scenario_sigkill(&f);
	else if (strcmp(which, "outage") == 0)
		scenario_outage(&f);
	else if (strcmp(which, "dead_letter") == 0)
		scenario_dead_letter(&f);
	else if (strcmp(which, "commands") == 0)
		scenario_commands(&f);
	else if (strcmp(which, "long") == 0)
		scenario_long(&f);
	else if (strcmp(which, "webhook") == 0)
		scenario_webhook(&f);
	else if (strcmp(which, "hang") == 0)
		scenario_hang(&f);
	else if (strcmp(which, "global") == 0)
		scenario_global(&f);
	else if (strcmp(which, "offset") == 0)
		scenario_offset(&f);
	else if (strcmp(which, "fold_shutdown") == 0)
		scenario_fold_shutdown(&f);
	else if (strcmp(which, "addressed") == 0)
		scenario_addressed(&f);
	else if (strcmp(which, "stale") == 0)
		scenario_stale(&f);
	else if (strcmp(which, "menu") == 0)
		scenario_menu(&f);
	else if (strcmp(which, "chats_file") == 0)
		scenario_chats_file(&f);
	else if (strcmp(which, "deploy_restart") == 0)
		scenario_deploy_restart(&f);
	else
		HBT_REQUIRE(false, "unknown scenario %s", which);
	teardown(&f);
	hbt_exit();
}
