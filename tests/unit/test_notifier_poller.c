/*
 * The notifier's getUpdates poller alone (services/notifier/poller.c with
 * channel.c and telegram.c) on a real outbox in a temp dir, with the HTTP
 * client stubbed (the test answers each request) and the clock injected.
 *
 * What a user would notice: the bot's name is asked first; each batch is
 * confirmed (its offset stored) before any update of it is acted on, so a
 * crash loses a command rather than running it twice; a batch that cannot
 * be confirmed is not acted on at all and asked for again; after a week
 * without updates Telegram's ids start lower and are still taken; a 429 is
 * waited out without growing the backoff of later failures; a wrong token shows on the channel, another poller (409)
 * does not; an answer too big to take is asked for one update at a time.
 */
#include "hbt.h"
#include "stub_http.h"
#include "poller.h"
#include "chat.h"

#include <event2/event.h>
#include <limits.h>
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
	struct channel tg;
	struct poller *p;
	char path[600];
};

/* What the poller handed on, and the offset stored when it did. */
static long long handed[32];
static char offset_then[32][32];
static int nhanded;
static struct rig *current;

/* stub for the chat commands, which the poller hands each update */
void
chat_update(struct chat *c, const struct telegram_update *u,
    const char *bot_name, int64_t now_ms, int64_t wall_now)
{
	char *v = hb_outbox_meta_get(current->ob, "telegram_offset");

	(void)c;
	(void)bot_name;
	(void)now_ms;
	(void)wall_now;
	if (nhanded < 32) {
		handed[nhanded] = u->update_id;
		snprintf(offset_then[nhanded], sizeof(offset_then[0]), "%s",
		    v ? v : "");
	}
	nhanded++;
	free(v);
}

static void
rig_open(struct rig *g, const char *name)
{
	char err[256];

	memset(g, 0, sizeof(*g));
	current = g;
	now = 0;
	nhanded = 0;
	snprintf(g->path, sizeof(g->path), "%s/%s.db", hbt_dir(), name);
	g->base = event_base_new();
	g->m = hb_metrics_new("homebus_notifier_");
	g->ob = hb_outbox_open(g->path, err, sizeof(err));
	HBT_REQUIRE(g->ob != NULL, "outbox: %s", err);
	channel_init(&g->tg, CH_TELEGRAM, g->m, g->ob);
	g->p = poll_new(&(struct poll_config){
		.api = { .url = "http://tg.test", .token = TOKEN,
		    .timeout_ms = 10000, .retry_min_ms = 1000,
		    .retry_max_ms = 60000 },
		.poll_timeout_s = 25,
		.outbox_path = g->path,
		.clock = clock_now,
	    }, g->base, NULL, g->ob, &g->tg, g->m, NULL);
}

static void
rig_close(struct rig *g)
{
	poll_free(g->p);
	HBT_CHECK(stub_http_count() == 0, "nothing left in flight");
	hb_outbox_close(g->ob);
	hb_metrics_free(g->m);
	event_base_free(g->base);
}

/* Runs what is due now on the loop (a poll scheduled without delay). */
static void
run_due(struct rig *g)
{
	event_base_loop(g->base, EVLOOP_NONBLOCK);
}

static struct hb_http_xfer *
get_updates(void)
{
	return stub_http_find("/bot" TOKEN "/getUpdates");
}

static void
answer_me(void)
{
	struct hb_http_xfer *x = stub_http_find("/getMe");

	HBT_REQUIRE(x != NULL, "a getMe");
	stub_http_answer(x, 200, "{\"ok\":true,\"result\":{\"id\":1,"
	    "\"is_bot\":true,\"username\":\"homebus_bot\"}}", -1, NULL);
}

/* A getUpdates answer with a message for each id. */
static void
answer_updates(const long long *ids, size_t n)
{
	struct hb_http_xfer *x = get_updates();
	struct hb_buf b = { 0 };

	HBT_REQUIRE(x != NULL, "a getUpdates to answer");
	hb_buf_puts(&b, "{\"ok\":true,\"result\":[");
	for (size_t i = 0; i < n; i++)
		hb_buf_printf(&b, "%s{\"update_id\":%lld,\"message\":{"
		    "\"message_id\":1,\"chat\":{\"id\":10,\"type\":\"private\"},"
		    "\"from\":{\"id\":7,\"is_bot\":false,\"first_name\":\"Ann\"},"
		    "\"text\":\"/status\"}}", i ? "," : "", ids[i]);
	hb_buf_puts(&b, "]}");
	stub_http_answer(x, 200, b.data, -1, NULL);
	hb_buf_free(&b);
}

static char *
stored_offset(struct rig *g)
{
	static char v[32];
	char *s = hb_outbox_meta_get(g->ob, "telegram_offset");

	snprintf(v, sizeof(v), "%s", s ? s : "");
	free(s);
	return v;
}

static void
test_next_offset(void)
{
	struct telegram_update u[3] = { { .update_id = 5 }, { .update_id = 9 },
	    { .update_id = 7 } };

	HBT_CHECK(poll_next_offset(u, 3, 100) == 10, "one past the largest, "
	    "even below the stored offset");
	HBT_CHECK(poll_next_offset(u, 0, 100) == 100, "none: the stored one");
	u[0].update_id = LLONG_MAX;
	HBT_CHECK(poll_next_offset(u, 1, 100) == 100, "no id past the range");
}

static void
test_batches(void)
{
	struct rig g;
	const long long first[] = { 5, 6 }, lower[] = { 3 }, old[] = { 3 };

	rig_open(&g, "batches");
	poll_start(g.p);
	HBT_CHECK(stub_http_count() == 1 && stub_http_find("/bot" TOKEN "/getMe"),
	    "getMe first, alone");
	answer_me();
	HBT_CHECK(strcmp(poll_bot_name(g.p), "homebus_bot") == 0, "the name");
	HBT_REQUIRE(get_updates() != NULL, "then getUpdates");
	HBT_CHECK(strstr(get_updates()->body, "\"limit\":20") &&
	    strstr(get_updates()->body, "\"timeout\":25") &&
	    strstr(get_updates()->body, "\"allowed_updates\":[\"message\"]") &&
	    !strstr(get_updates()->body, "offset"), "no offset yet: %s",
	    get_updates()->body);
	HBT_CHECK(get_updates()->timeout_ms == 35000, "the long poll's timeout");

	answer_updates(first, 2);
	HBT_CHECK(nhanded == 2 && handed[0] == 5 && handed[1] == 6,
	    "handed on in order");
	HBT_CHECK(strcmp(offset_then[0], "7") == 0, "the offset was stored "
	    "before the first was acted on: \"%s\"", offset_then[0]);
	HBT_CHECK(get_updates() == NULL, "the next poll is scheduled, not sent");
	run_due(&g);
	HBT_REQUIRE(get_updates() != NULL, "then sent");
	HBT_CHECK(strstr(get_updates()->body, "\"offset\":7") != NULL,
	    "with the offset: %s", get_updates()->body);

	/* a week without updates: Telegram's ids start again lower */
	answer_updates(lower, 1);
	HBT_CHECK(nhanded == 3 && handed[2] == 3 &&
	    strcmp(stored_offset(&g), "4") == 0, "taken, offset 4");
	run_due(&g);

	/* only what offset 4 already confirmed: never twice */
	now = 500;
	answer_updates(old, 1);
	HBT_CHECK(nhanded == 3, "not handed on again");
	HBT_CHECK(poll_next_ms(g.p) >= 1000 && poll_next_ms(g.p) <= 1500,
	    "asked again after backoff: %lld", (long long)poll_next_ms(g.p));
	poll_stop(g.p);
	HBT_CHECK(stub_http_count() == 0, "stop cancels");
	rig_close(&g);
}

/* An offset that cannot be stored: the batch is not acted on. */
static void
test_unconfirmed(void)
{
	struct rig g;
	const long long ids[] = { 40 };
	sqlite3 *db;

	rig_open(&g, "unconfirmed");
	poll_start(g.p);
	answer_me();
	HBT_REQUIRE(sqlite3_open(g.path, &db) == SQLITE_OK, "open");
	HBT_CHECK(sqlite3_exec(db, "CREATE TRIGGER full BEFORE INSERT ON meta "
	    "BEGIN SELECT RAISE(ABORT, 'disk full'); END", NULL, NULL, NULL) ==
	    SQLITE_OK, "trigger: %s", sqlite3_errmsg(db));
	answer_updates(ids, 1);
	HBT_CHECK(nhanded == 0, "nothing acted on");
	HBT_CHECK(poll_next_ms(g.p) >= 500 && get_updates() == NULL,
	    "asked again after backoff");
	sqlite3_exec(db, "DROP TRIGGER full", NULL, NULL, NULL);
	sqlite3_close(db);
	now = poll_next_ms(g.p);
	poll_start(g.p);
	HBT_CHECK(!strstr(get_updates()->body, "offset"), "from the same offset");
	answer_updates(ids, 1);
	HBT_CHECK(nhanded == 1 && handed[0] == 40 &&
	    strcmp(stored_offset(&g), "41") == 0, "then confirmed and acted on");
	rig_close(&g);
}

static void
test_failures(void)
{
	struct rig g;
	struct hb_buf big = { 0 };

	rig_open(&g, "failures");
	poll_start(g.p);
	stub_http_answer(stub_http_find("/getMe"), 0, NULL, -1, "Timeout");
	HBT_CHECK(poll_bot_name(g.p)[0] == '\0' && get_updates() != NULL,
	    "getMe failed: polling goes on without the name");

	now = 1000;
	stub_http_answer(get_updates(), 429, "{\"ok\":false,\"error_code\":429,"
	    "\"description\":\"Too Many Requests: retry after 5\","
	    "\"parameters\":{\"retry_after\":5}}", -1, NULL);
	HBT_CHECK(poll_next_ms(g.p) == 6000, "a 429 waits its retry_after: %lld",
	    (long long)poll_next_ms(g.p));
	HBT_CHECK(hb_metrics_counter(g.m, "rate_limited_total", "", NULL)->value
	    == 1 && g.tg.ok, "counted; not an outage");

	now = 6000;
	poll_start(g.p);
	HBT_CHECK(stub_http_find("/getMe") == NULL, "getMe waits its minute");
	stub_http_answer(get_updates(), 429, "{\"ok\":false,\"error_code\":429,"
	    "\"description\":\"Too Many Requests: retry after 1\","
	    "\"parameters\":{\"retry_after\":1}}", -1, NULL);
	HBT_CHECK(poll_next_ms(g.p) == 7000, "a second 429, its own retry_after: "
	    "%lld", (long long)poll_next_ms(g.p));

	/* the 429s were no failures: the first real one waits the least */
	now = 7000;
	poll_start(g.p);
	stub_http_answer(get_updates(), 409, "{\"ok\":false,\"error_code\":409,"
	    "\"description\":\"Conflict: terminated by other getUpdates\"}", -1,
	    NULL);
	HBT_CHECK(poll_next_ms(g.p) >= 7000 + 500 && poll_next_ms(g.p) <= 7000 +
	    1000, "a failure after 429s waits the first backoff step, "
	    "retry_min_ms/2 to retry_min_ms: %lld", (long long)poll_next_ms(g.p));
	HBT_CHECK(g.tg.ok, "another poller does not make the channel down");

	now = 60000;
	poll_start(g.p);
	HBT_CHECK(stub_http_find("/getMe") != NULL, "a minute later, getMe again");
	answer_me();
	stub_http_answer(get_updates(), 401, "{\"ok\":false,\"error_code\":401,"
	    "\"description\":\"Unauthorized\"}", -1, NULL);
	HBT_CHECK(!g.tg.ok && strstr(g.tg.reason, "Unauthorized"),
	    "a wrong token: the channel is down: %s", g.tg.reason);

	poll_start(g.p);
	hb_buf_puts(&big, "{\"ok\":true,\"result\":[");
	while (big.len < (4u << 20))
		hb_buf_puts(&big, "                                                ");
	stub_http_answer(get_updates(), 200, big.data, -1, NULL);
	run_due(&g);
	HBT_CHECK(get_updates() && strstr(get_updates()->body, "\"limit\":1,"),
	    "too big an answer: one update at a time");
	answer_updates(NULL, 0);
	HBT_CHECK(g.tg.ok, "an answer: the channel works again");
	run_due(&g);
	HBT_CHECK(get_updates() && strstr(get_updates()->body, "\"limit\":20"),
	    "then 20 again");
	hb_buf_free(&big);
	rig_close(&g);
}

int
main(void)
{
	hbt_init("notifier_poller");
	test_next_offset();
	test_batches();
	test_unconfirmed();
	test_failures();
	hbt_exit();
}
