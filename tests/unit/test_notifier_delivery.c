/*
 * The notifier's delivery alone (services/notifier/delivery.c with
 * channel.c and telegram.c), on a real outbox in a temp dir, with the HTTP
 * client stubbed (stub_http.c: the test answers each request) and the
 * clock injected: nothing here waits or talks to a server.
 *
 * What a user would notice: messages reach each chat in order, one request
 * at a time per chat, and a chat that hangs holds up only itself; about
 * one message a second per chat, 20 a minute per group and 30 a second in
 * all, counted from Telegram's answers; a 429 pauses every chat for its
 * retry_after (which wins over the header) but not the webhook; a refused
 * message goes to the dead letters and the next one follows; failures keep
 * the message first in its lane with backoff, report the channel down and
 * never show the token; a message for a channel or a chat no longer
 * configured is dead-lettered, and so is one on a lane that names no
 * channel (never sent to the webhook); a lane the outbox could not be
 * read for is tried again by itself; after stop nothing new starts.
 */
#include "hbt.h"
#include "stub_http.h"
#include "delivery.h"

#include <event2/event.h>
#include <jansson.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#define TOKEN "111:secret-token"

static int64_t now;

static int64_t
clock_now(void)
{
	return now;
}

struct rig {
	struct event_base *base;
	struct hb_metrics *m;
	struct hb_outbox *ob;
	struct channel ch[CH_COUNT];
	struct delivery *d;
};

/* Telegram's defaults, the webhook off; callers change what they test. */
static struct delivery_config
defaults(void)
{
	struct delivery_config c = {
		.api_url = "http://tg.test",
		.token = TOKEN,
		.tg_timeout_ms = 10000,
		.chat_interval_ms = 1000,
		.group_max = 20,
		.group_window_ms = 60000,
		.global_per_s = 30,
		.webhook_url = "",
		.webhook_timeout_ms = 10000,
		.retry_min_ms = 1000,
		.retry_max_ms = 60000,
		.clock = clock_now,
	};

	return c;
}

static void
rig_open(struct rig *r, const char *name, const struct delivery_config *cfg)
{
	char path[600], err[256];

	memset(r, 0, sizeof(*r));
	now = 0;
	snprintf(path, sizeof(path), "%s/%s.db", hbt_dir(), name);
	r->base = event_base_new();
	r->m = hb_metrics_new("homebus_notifier_");
	r->ob = hb_outbox_open(path, err, sizeof(err));
	HBT_REQUIRE(r->ob != NULL, "outbox: %s", err);
	for (int c = 0; c < CH_COUNT; c++)
		channel_init(&r->ch[c], (enum channel_kind)c, r->m, r->ob);
	r->d = delivery_new(cfg, r->base, NULL, r->ob, r->ch, r->m);
}

static void
rig_close(struct rig *r)
{
	delivery_free(r->d);
	HBT_CHECK(stub_http_count() == 0, "nothing left in flight");
	hb_outbox_close(r->ob);
	hb_metrics_free(r->m);
	event_base_free(r->base);
}

/* A sendMessage body for chat, as route.c puts it in the outbox. */
static void
add(struct rig *r, long long chat, const char *text)
{
	char lane[HB_OUTBOX_LANE_MAX], body[256];

	delivery_telegram_lane(chat, lane, sizeof(lane));
	snprintf(body, sizeof(body), "{\"chat_id\":%lld,\"text\":\"%s\"}", chat,
	    text);
	HBT_REQUIRE(hb_outbox_add(r->ob, lane, text, body, strlen(body)) > 0,
	    "add");
	delivery_note_lane(r->d, lane);
}

static void
add_webhook(struct rig *r, const char *text)
{
	char body[256];

	snprintf(body, sizeof(body), "{\"text\":\"%s\"}", text);
	HBT_REQUIRE(hb_outbox_add(r->ob, DELIVERY_WEBHOOK_LANE, text, body,
	    strlen(body)) > 0, "add");
	delivery_note_lane(r->d, DELIVERY_WEBHOOK_LANE);
}

/* The request in flight to chat (chat 0: the webhook), NULL if none. */
static struct hb_http_xfer *
to(long long chat)
{
	struct hb_http_xfer *x, *found = NULL;

	for (size_t i = 0; (x = stub_http_nth(i)) != NULL; i++) {
		json_t *o = json_loads(x->body, 0, NULL);
		json_t *id = json_object_get(o, "chat_id");
		bool match = chat == 0 ? id == NULL && strstr(x->url, "hook") :
		    json_is_integer(id) && json_integer_value(id) == chat;

		json_decref(o);
		if (match) {
			HBT_CHECK(found == NULL, "one request at a time to %lld", chat);
			found = x;
		}
	}
	return found;
}

/* The text of x's message ("" if none). */
static const char *
text_of(struct hb_http_xfer *x)
{
	static char text[128];
	json_t *o = json_loads(x ? x->body : "{}", 0, NULL);

	snprintf(text, sizeof(text), "%s",
	    json_string_value(json_object_get(o, "text")) ?
	    json_string_value(json_object_get(o, "text")) : "");
	json_decref(o);
	return text;
}

static size_t
in_flight_to_telegram(void)
{
	size_t n = 0;
	struct hb_http_xfer *x;

	for (size_t i = 0; (x = stub_http_nth(i)) != NULL; i++)
		n += strstr(x->url, "/sendMessage") != NULL;
	return n;
}

static void
ok(struct hb_http_xfer *x)
{
	HBT_REQUIRE(x != NULL, "a request to answer");
	stub_http_answer(x, 200, "{\"ok\":true,\"result\":{}}", -1, NULL);
}

static uint64_t
counter(struct rig *r, const char *name, const char *labels)
{
	return hb_metrics_counter(r->m, name, "", labels)->value;
}

/* In order per chat, one at a time, paced from the answer; a hang is local. */
static void
test_order(void)
{
	struct rig r;
	struct delivery_config cfg = defaults();

	rig_open(&r, "order", &cfg);
	add(&r, 1, "a1");
	add(&r, 1, "a2");
	add(&r, 1, "a3");
	add(&r, 2, "b1");
	add(&r, 2, "b2");
	delivery_pump(r.d);
	HBT_CHECK(stub_http_count() == 2, "one request per chat, got %zu",
	    stub_http_count());
	HBT_CHECK(strcmp(text_of(to(1)), "a1") == 0 &&
	    strcmp(text_of(to(2)), "b1") == 0, "the oldest of each first");
	HBT_CHECK(strstr(to(1)->url, "http://tg.test/bot" TOKEN "/sendMessage")
	    != NULL && strcmp(to(1)->method, "POST") == 0, "sendMessage");

	now = 100;			/* Telegram answers 100 ms later */
	ok(to(1));
	HBT_CHECK(to(1) == NULL, "the next one waits for the chat's second");
	HBT_CHECK(delivery_next_ms(r.d) == 1100, "a second after the answer, "
	    "not after the request: next at %lld",
	    (long long)delivery_next_ms(r.d));
	now = 1099;
	delivery_pump(r.d);
	HBT_CHECK(to(1) == NULL, "not a millisecond early");
	now = 1100;
	delivery_pump(r.d);
	HBT_CHECK(strcmp(text_of(to(1)), "a2") == 0, "then a2");
	ok(to(1));
	now = 2100;
	delivery_pump(r.d);
	HBT_CHECK(strcmp(text_of(to(1)), "a3") == 0, "then a3");
	ok(to(1));
	HBT_CHECK(strcmp(text_of(to(2)), "b1") == 0, "b1 still hangs, alone");
	HBT_CHECK(counter(&r, "messages_delivered_total",
	    "channel=\"telegram\"") == 3, "three delivered");
	HBT_CHECK(hb_outbox_count(r.ob) == 2, "b1 and b2 still in the outbox");

	now = 2300;
	ok(to(2));
	HBT_CHECK(to(2) == NULL, "b2 waits");
	now = 3299;
	delivery_pump(r.d);
	HBT_CHECK(to(2) == NULL, "b2 waits a second after b1's answer");
	now = 3300;
	delivery_pump(r.d);
	HBT_CHECK(strcmp(text_of(to(2)), "b2") == 0, "then b2");
	ok(to(2));
	HBT_CHECK(hb_outbox_count(r.ob) == 0, "all delivered");
	rig_close(&r);
}

/*
 * Sends all of chat's n messages as fast as the limits allow, each answered
 * at once; the times they started go into at[].
 */
static void
drain(struct rig *r, long long chat, int n, int64_t *at)
{
	int sent = 0;

	for (int guard = 0; sent < n && guard < 10 * n; guard++) {
		struct hb_http_xfer *x = to(chat);

		if (x == NULL) {
			if (delivery_next_ms(r->d) == INT64_MAX)
				break;
			now = delivery_next_ms(r->d);
			delivery_pump(r->d);
			continue;
		}
		at[sent++] = now;
		ok(x);
	}
	HBT_CHECK(sent == n, "sent %d of %d to %lld", sent, n, chat);
}

/* A group: one a second, and 20 in any minute. A private chat: one a second. */
static void
test_group_pacing(void)
{
	struct rig r;
	struct delivery_config cfg = defaults();
	int64_t at[25];
	char text[16];
	int most = 0;

	rig_open(&r, "group", &cfg);
	for (int i = 0; i < 25; i++) {
		snprintf(text, sizeof(text), "g%d", i);
		add(&r, -100123, text);
	}
	delivery_pump(r.d);
	drain(&r, -100123, 25, at);
	HBT_CHECK(at[0] == 0 && at[1] == 1000 && at[19] == 19000,
	    "the first 20 a second apart: %lld %lld %lld", (long long)at[0],
	    (long long)at[1], (long long)at[19]);
	HBT_CHECK(at[20] == 60000 && at[21] == 61000, "the 21st a minute after "
	    "the first: %lld, %lld", (long long)at[20], (long long)at[21]);
	for (int i = 0; i < 25; i++) {
		int in = 0;

		for (int j = i; j < 25 && at[j] < at[i] + 60000; j++)
			in++;
		if (in > most)
			most = in;
	}
	HBT_CHECK(most == 20, "at most 20 in any minute, got %d", most);
	rig_close(&r);

	rig_open(&r, "private", &cfg);
	for (int i = 0; i < 25; i++) {
		snprintf(text, sizeof(text), "p%d", i);
		add(&r, 42, text);
	}
	delivery_pump(r.d);
	drain(&r, 42, 25, at);
	HBT_CHECK(at[20] == 20000 && at[24] == 24000,
	    "a private chat has no group limit: %lld", (long long)at[20]);
	rig_close(&r);
}

/* 30 a second in all, whatever the chats. */
static void
test_global(void)
{
	struct rig r;
	struct delivery_config cfg = defaults();
	struct hb_http_xfer *x;

	rig_open(&r, "global", &cfg);
	for (int chat = 1; chat <= 40; chat++)
		add(&r, chat, "hello");
	delivery_pump(r.d);
	HBT_CHECK(stub_http_count() == 30, "30 at once, got %zu",
	    stub_http_count());
	while ((x = stub_http_nth(0)) != NULL)
		ok(x);
	HBT_CHECK(stub_http_count() == 0 && delivery_next_ms(r.d) == 1000,
	    "the other 10 a second later");
	now = 1000;
	delivery_pump(r.d);
	HBT_CHECK(stub_http_count() == 10, "then 10, got %zu", stub_http_count());
	while ((x = stub_http_nth(0)) != NULL)
		ok(x);
	HBT_CHECK(hb_outbox_count(r.ob) == 0, "all delivered");
	rig_close(&r);
}

/* A 429 pauses every chat for parameters.retry_after; not the webhook. */
static void
test_retry_after(void)
{
	struct rig r;
	struct delivery_config cfg = defaults();
	struct hb_outbox_item it = { 0 };

	cfg.webhook_url = "http://hook.test/homebus";
	rig_open(&r, "retry_after", &cfg);
	add(&r, 1, "a1");
	add(&r, 2, "b1");
	add_webhook(&r, "w1");
	delivery_pump(r.d);
	HBT_REQUIRE(stub_http_count() == 3, "three lanes, three requests");
	/* the header says 1 s, the body 7 s: the body wins */
	stub_http_answer(to(1), 429, "{\"ok\":false,\"error_code\":429,"
	    "\"description\":\"Too Many Requests: retry after 7\","
	    "\"parameters\":{\"retry_after\":7}}", 1, NULL);
	now = 10;
	ok(to(2));
	add(&r, 2, "b2");
	ok(to(0));
	add_webhook(&r, "w2");
	delivery_pump(r.d);
	HBT_CHECK(in_flight_to_telegram() == 0, "no chat gets anything");
	HBT_CHECK(strcmp(text_of(to(0)), "w2") == 0, "the webhook goes on");
	ok(to(0));
	HBT_CHECK(delivery_next_ms(r.d) == 7000, "next at 7000, got %lld",
	    (long long)delivery_next_ms(r.d));
	now = 6999;
	delivery_pump(r.d);
	HBT_CHECK(in_flight_to_telegram() == 0, "not at 6999");
	now = 7000;
	delivery_pump(r.d);
	HBT_CHECK(strcmp(text_of(to(1)), "a1") == 0 &&
	    strcmp(text_of(to(2)), "b2") == 0, "at 7000 a1 again, and b2");
	HBT_CHECK(hb_outbox_head(r.ob, "telegram:1", &it) == 1 &&
	    it.attempts == 1, "a1 kept first with its attempt counted");
	HBT_CHECK(counter(&r, "rate_limited_total", NULL) == 1,
	    "rate_limited_total 1");
	HBT_CHECK(r.ch[CH_TELEGRAM].ok, "a 429 is not an outage");
	ok(to(1));
	ok(to(2));
	hb_buf_free(&it.body);
	rig_close(&r);
}

/* 5xx, network, 401: kept first, backoff, channel down; 400: dead letter. */
static void
test_failures(void)
{
	struct rig r;
	struct delivery_config cfg = defaults();
	int64_t next;

	cfg.chat_interval_ms = 0;	/* only the backoff paces here */
	cfg.retry_min_ms = 4000;
	cfg.retry_max_ms = 8000;
	rig_open(&r, "failures", &cfg);
	add(&r, 1, "m1");
	add(&r, 1, "m2");
	delivery_pump(r.d);
	stub_http_answer(to(1), 502, "{\"ok\":false,\"error_code\":502,"
	    "\"description\":\"Bad Gateway at /bot" TOKEN "/sendMessage\"}", -1,
	    NULL);
	next = delivery_next_ms(r.d);
	HBT_CHECK(next >= 2000 && next <= 4000, "backoff from retry_min_ms: %lld",
	    (long long)next);
	HBT_CHECK(!r.ch[CH_TELEGRAM].ok && strstr(r.ch[CH_TELEGRAM].reason,
	    "Bad Gateway") && strstr(r.ch[CH_TELEGRAM].reason, "***") &&
	    !strstr(r.ch[CH_TELEGRAM].reason, "secret"), "down, token masked: %s",
	    r.ch[CH_TELEGRAM].reason);
	now = next;
	delivery_pump(r.d);
	HBT_CHECK(strcmp(text_of(to(1)), "m1") == 0, "m1 again");
	stub_http_answer(to(1), 0, NULL, -1, "Connection refused");
	HBT_CHECK(strcmp(r.ch[CH_TELEGRAM].reason, "Connection refused") == 0,
	    "no answer: the transport's reason");
	now = delivery_next_ms(r.d);
	HBT_CHECK(now >= next + 4000 && now <= next + 8000, "the backoff grows");
	delivery_pump(r.d);
	stub_http_answer(to(1), 401, "{\"ok\":false,\"error_code\":401,"
	    "\"description\":\"Unauthorized\"}", -1, NULL);
	HBT_CHECK(strstr(r.ch[CH_TELEGRAM].reason, "token_file") != NULL,
	    "a 401 says where the token comes from: %s", r.ch[CH_TELEGRAM].reason);
	HBT_CHECK(counter(&r, "send_errors_total", "channel=\"telegram\"") == 3,
	    "three errors");
	now = delivery_next_ms(r.d);
	delivery_pump(r.d);
	stub_http_answer(to(1), 400, "{\"ok\":false,\"error_code\":400,"
	    "\"description\":\"Bad Request: can't parse entities\"}", -1, NULL);
	HBT_CHECK(hb_outbox_dead_count(r.ob) == 1, "m1 dead-lettered");
	HBT_CHECK(r.ch[CH_TELEGRAM].ok, "Telegram answered: the channel works");
	HBT_CHECK(strcmp(text_of(to(1)), "m2") == 0, "m2 follows at once");
	ok(to(1));
	HBT_CHECK(hb_outbox_count(r.ob) == 0, "nothing left but the dead letter");
	rig_close(&r);
}

/* Lanes whose channel is gone; requests the client would not start. */
static void
test_orphans_and_refusals(void)
{
	struct rig r;
	struct delivery_config cfg = defaults();

	cfg.token = NULL;		/* Telegram off, the webhook off */
	rig_open(&r, "orphans", &cfg);
	add(&r, 5, "left over");
	add_webhook(&r, "left over too");
	delivery_pump(r.d);
	HBT_CHECK(stub_http_count() == 0, "nothing sent");
	HBT_CHECK(hb_outbox_count(r.ob) == 0 && hb_outbox_dead_count(r.ob) == 2,
	    "both dead-lettered");
	rig_close(&r);

	/* chat 2 left chat_ids (and was never a command chat) */
	cfg = defaults();
	cfg.chats = (const long long[]){ 1 };
	cfg.nchats = 1;
	rig_open(&r, "chat_removed", &cfg);
	add(&r, 2, "for a chat removed");
	add(&r, 1, "for a chat kept");
	delivery_pump(r.d);
	HBT_CHECK(stub_http_count() == 1 && to(1) != NULL && to(2) == NULL,
	    "only the chat kept gets its message");
	HBT_CHECK(hb_outbox_dead_count(r.ob) == 1, "the other dead-lettered");
	ok(to(1));
	rig_close(&r);

	cfg = defaults();
	rig_open(&r, "refused", &cfg);
	add(&r, 1, "m1");
	stub_http_refuse = true;
	delivery_pump(r.d);
	stub_http_refuse = false;
	HBT_CHECK(stub_http_count() == 0 && delivery_next_ms(r.d) == 1000,
	    "tried again a second later");
	now = 1000;
	delivery_pump(r.d);
	ok(to(1));
	HBT_CHECK(hb_outbox_count(r.ob) == 0, "then delivered");
	rig_close(&r);
}

/* The reason of dead letter n (1-based, in order), "" if none. */
static const char *
dead_reason(const char *name, int n)
{
	static char reason[256];
	char path[600];
	sqlite3 *db;
	sqlite3_stmt *st;

	reason[0] = '\0';
	snprintf(path, sizeof(path), "%s/%s.db", hbt_dir(), name);
	HBT_REQUIRE(sqlite3_open(path, &db) == SQLITE_OK, "open %s", path);
	HBT_REQUIRE(sqlite3_prepare_v2(db, "SELECT reason FROM dead_letter "
	    "ORDER BY id LIMIT 1 OFFSET ?", -1, &st, NULL) == SQLITE_OK, "%s",
	    sqlite3_errmsg(db));
	sqlite3_bind_int(st, 1, n - 1);
	if (sqlite3_step(st) == SQLITE_ROW)
		snprintf(reason, sizeof(reason), "%s",
		    (const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	sqlite3_close(db);
	return reason;
}

/*
 * Rows copied back by hand onto a lane that names no channel: never
 * POSTed to the webhook, dead-lettered with a reason that says why.
 */
static void
test_unknown_lanes(void)
{
	static const char *const bad[] = { "webhok", "telegram:abc",
	    "telegram:", "Webhook" };
	struct rig r;
	struct delivery_config cfg = defaults();

	cfg.webhook_url = "http://hook.test/homebus";
	rig_open(&r, "unknown_lanes", &cfg);
	for (size_t i = 0; i < HB_ARRAY_LEN(bad); i++) {
		HBT_REQUIRE(hb_outbox_add(r.ob, bad[i], "copied back",
		    "{\"text\":\"typo\"}", 15) > 0, "add");
		delivery_note_lane(r.d, bad[i]);
	}
	add_webhook(&r, "w1");
	delivery_pump(r.d);
	HBT_CHECK(stub_http_count() == 1 && strcmp(text_of(to(0)), "w1") == 0,
	    "only the webhook's own message is POSTed, got %zu requests",
	    stub_http_count());
	HBT_CHECK(hb_outbox_dead_count(r.ob) == HB_ARRAY_LEN(bad),
	    "each dead-lettered, got %lld", (long long)hb_outbox_dead_count(r.ob));
	for (size_t i = 0; i < HB_ARRAY_LEN(bad); i++)
		HBT_CHECK(strstr(dead_reason("unknown_lanes", (int)i + 1),
		    "unknown lane: neither webhook nor telegram:<chat id>") != NULL,
		    "%s: the reason says why: %s", bad[i],
		    dead_reason("unknown_lanes", (int)i + 1));
	HBT_CHECK(counter(&r, "messages_dead_lettered_total",
	    "channel=\"webhook\"") == 0, "not counted as the webhook's");
	ok(to(0));
	HBT_CHECK(hb_outbox_count(r.ob) == 0, "nothing left");
	rig_close(&r);
}

/* Runs sql on the outbox's file through a connection of its own. */
static void
outbox_sql(const char *name, const char *sql)
{
	char path[600];
	sqlite3 *db;

	snprintf(path, sizeof(path), "%s/%s.db", hbt_dir(), name);
	HBT_REQUIRE(sqlite3_open(path, &db) == SQLITE_OK, "open %s", path);
	HBT_CHECK(sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK, "%s: %s",
	    sql, sqlite3_errmsg(db));
	sqlite3_close(db);
}

/* A failed outbox read: the lane tries again a second later, by itself. */
static void
test_read_error(void)
{
	struct rig r;
	struct delivery_config cfg = defaults();

	rig_open(&r, "read_error", &cfg);
	add(&r, 1, "m1");
	outbox_sql("read_error", "ALTER TABLE outbox RENAME TO outbox_away");
	delivery_pump(r.d);
	HBT_CHECK(stub_http_count() == 0, "nothing could be read");
	HBT_CHECK(delivery_next_ms(r.d) == 1000, "the pump comes back a second "
	    "later, got %lld", (long long)delivery_next_ms(r.d));
	outbox_sql("read_error", "ALTER TABLE outbox_away RENAME TO outbox");
	now = 1000;
	delivery_pump(r.d);
	HBT_CHECK(strcmp(text_of(to(1)), "m1") == 0, "then m1 goes");
	if (to(1))
		ok(to(1));
	rig_close(&r);
}

static void
on_answered(void *arg)
{
	(*(int *)arg)++;
}

/* After stop: nothing new starts; each answer is reported. */
static void
test_stop(void)
{
	struct rig r;
	struct delivery_config cfg = defaults();
	int answered = 0;

	rig_open(&r, "stop", &cfg);
	add(&r, 1, "m1");
	delivery_pump(r.d);
	HBT_CHECK(delivery_busy(r.d), "busy with m1");
	delivery_stop(r.d, on_answered, &answered);
	add(&r, 2, "m2");
	delivery_pump(r.d);
	HBT_CHECK(stub_http_count() == 1, "m2 does not start");
	ok(to(1));
	HBT_CHECK(answered == 1 && !delivery_busy(r.d), "m1's answer reported");
	HBT_CHECK(stub_http_count() == 0 && hb_outbox_count(r.ob) == 1,
	    "m2 waits in the outbox for the next start");
	rig_close(&r);
}

int
main(void)
{
	hbt_init("notifier_delivery");
	test_order();
	test_group_pacing();
	test_global();
	test_retry_after();
	test_failures();
	test_orphans_and_refusals();
	test_unknown_lanes();
	test_read_error();
	test_stop();
	hbt_exit();
}
