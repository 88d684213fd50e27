/*
 * The notifier's routing alone (services/notifier/route.c with telegram.c
 * and channel.c, and fold.c where it is wired in as the notifier wires
 * it) on a real outbox in a temp dir, with delivery stubbed (the test
 * records which lanes were told and how often it was pumped).
 *
 * What a user would notice: each chat and the webhook get a notification
 * only from their min_severity up; info and, while muted, everything but
 * critical arrive silently, and the mute survives a restart (a mute the
 * outbox cannot store is in force until then, and logged); dedupe is
 * asked only for the destinations that take a notification, so a summary
 * tells each of what it would have received and says how many it stands
 * for; with no channel at all a notification is only logged; a reply goes
 * to the chat that asked, outside the filters; a long text becomes parts;
 * what the outbox cannot take is lost whole (never half a notification)
 * and counted.
 */
#include "hbt.h"
#include "fold.h"
#include "route.h"

#include "hb_log.h"

#include <jansson.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

/* ---- stubs for delivery.c ---- */

static char noted[16][HB_OUTBOX_LANE_MAX];
static int nnoted, npumped;

void
delivery_telegram_lane(long long chat_id, char *out, size_t outlen)
{
	snprintf(out, outlen, "telegram:%lld", chat_id);
}

void
delivery_note_lane(struct delivery *d, const char *lane)
{
	(void)d;
	if (nnoted < 16)
		snprintf(noted[nnoted++], HB_OUTBOX_LANE_MAX, "%s", lane);
}

void
delivery_pump(struct delivery *d)
{
	(void)d;
	npumped++;
}

/* ---- the rig ---- */

struct rig {
	struct hb_metrics *m;
	struct hb_outbox *ob;
	struct channel ch[CH_COUNT];
	struct router *r;
	char path[600];
};

static const struct recipient two_chats[] = {
	{ 1, HB_SEV_INFO },
	{ -100, HB_SEV_ERROR },
};

static void
rig_open(struct rig *g, const char *name, const struct route_config *cfg)
{
	char err[256];

	memset(g, 0, sizeof(*g));
	nnoted = npumped = 0;
	snprintf(g->path, sizeof(g->path), "%s/%s.db", hbt_dir(), name);
	g->m = hb_metrics_new("homebus_notifier_");
	g->ob = hb_outbox_open(g->path, err, sizeof(err));
	HBT_REQUIRE(g->ob != NULL, "outbox: %s", err);
	for (int c = 0; c < CH_COUNT; c++)
		channel_init(&g->ch[c], (enum channel_kind)c, g->m, g->ob);
	g->r = route_new(cfg, g->ob, NULL, g->ch, g->m);
}

static void
rig_close(struct rig *g)
{
	route_free(g->r);
	hb_outbox_close(g->ob);
	hb_metrics_free(g->m);
}

static struct route_config
two_chats_and_webhook(void)
{
	struct route_config c = {
		.chats = two_chats,
		.nchats = 2,
		.telegram = true,
		.webhook_url = "http://hook.test/homebus",
		.webhook_min_sev = HB_SEV_WARNING,
		.instance = "nuc",
		.outbox_path = "test.db",
	};

	return c;
}

static void
notify_key(struct rig *g, enum hb_severity sev, const char *title,
    const char *text, const char *key)
{
	struct hb_notify n = { 0 };

	n.severity = sev;
	n.title = (char *)title;
	n.text = (char *)text;
	n.source = (char *)"writer";
	n.key = (char *)key;
	route_notify(g->r, &n);
}

static void
notify(struct rig *g, enum hb_severity sev, const char *title,
    const char *text)
{
	notify_key(g, sev, title, text, NULL);
}

/* The oldest message of lane, parsed, and removed (NULL if none). */
static json_t *
take(struct rig *g, const char *lane)
{
	struct hb_outbox_item it = { 0 };
	json_t *o = NULL;

	if (hb_outbox_head(g->ob, lane, &it) == 1) {
		o = json_loadb(it.body.data, it.body.len, 0, NULL);
		HBT_CHECK(o != NULL, "the body is JSON");
		hb_outbox_remove(g->ob, it.id);
	}
	hb_buf_free(&it.body);
	return o;
}

static bool
silent(json_t *o)
{
	return json_is_true(json_object_get(o, "disable_notification"));
}

static const char *
str(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s ? s : "";
}

static uint64_t
counter(struct rig *g, const char *name, const char *labels)
{
	return hb_metrics_counter(g->m, name, "", labels)->value;
}

/* ---- the tests ---- */

static void
test_min_severity(void)
{
	struct rig g;
	struct route_config cfg = two_chats_and_webhook();
	json_t *o;

	rig_open(&g, "severity", &cfg);
	notify(&g, HB_SEV_INFO, "Backup", "done");
	HBT_CHECK(hb_outbox_count(g.ob) == 1, "info: only chat 1");
	o = take(&g, "telegram:1");
	HBT_CHECK(o && json_integer_value(json_object_get(o, "chat_id")) == 1 &&
	    silent(o) && strstr(str(o, "text"), "<b>Backup</b>") &&
	    strstr(str(o, "text"), "done"), "info arrives silently");
	json_decref(o);
	HBT_CHECK(nnoted == 1 && strcmp(noted[0], "telegram:1") == 0 &&
	    npumped == 1, "delivery told of telegram:1 and pumped");

	notify(&g, HB_SEV_WARNING, NULL, "disk 91 %");
	HBT_CHECK(hb_outbox_count(g.ob) == 2, "warning: chat 1 and the webhook");
	o = take(&g, "telegram:1");
	HBT_CHECK(o && !silent(o), "a warning rings");
	json_decref(o);
	o = take(&g, DELIVERY_WEBHOOK_LANE);
	HBT_CHECK(o && strcmp(str(o, "severity"), "warning") == 0 &&
	    strcmp(str(o, "title"), "writer") == 0 &&
	    strcmp(str(o, "text"), "disk 91 %") == 0 &&
	    strcmp(str(o, "instance"), "nuc") == 0 &&
	    json_object_get(o, "repeats") == NULL && str(o, "time")[0],
	    "the webhook's JSON, titled by the source");
	json_decref(o);

	notify(&g, HB_SEV_ERROR, "Writer", "InfluxDB unreachable");
	HBT_CHECK(hb_outbox_count(g.ob) == 3, "error: everyone");
	o = take(&g, "telegram:-100");
	HBT_CHECK(o != NULL, "the group from error up");
	json_decref(o);
	o = take(&g, "telegram:1");
	json_decref(o);
	o = take(&g, DELIVERY_WEBHOOK_LANE);
	HBT_CHECK(o && json_object_get(o, "repeats") == NULL, "not a summary");
	json_decref(o);
	HBT_CHECK(counter(&g, "messages_queued_total", "channel=\"telegram\"") ==
	    4 && counter(&g, "messages_queued_total", "channel=\"webhook\"") == 2,
	    "queued counted per channel");
	rig_close(&g);

	cfg.chats = two_chats + 1;	/* only the group: error and up */
	cfg.nchats = 1;
	cfg.webhook_url = "";
	rig_open(&g, "filtered", &cfg);
	notify(&g, HB_SEV_WARNING, "x", "y");
	HBT_CHECK(hb_outbox_count(g.ob) == 0 &&
	    counter(&g, "notifications_filtered_total", NULL) == 1,
	    "below every destination: filtered, counted");
	rig_close(&g);
}

static void
test_mute(void)
{
	struct rig g;
	struct route_config cfg = two_chats_and_webhook();
	int64_t until = hb_wall_ms() + 3600 * 1000;
	json_t *o;

	rig_open(&g, "mute", &cfg);
	route_mute(g.r, until);
	HBT_CHECK(route_muted_until(g.r) == until, "muted for an hour");
	notify(&g, HB_SEV_ERROR, "a", "b");
	o = take(&g, "telegram:1");
	HBT_CHECK(o && silent(o), "muted: an error arrives silently");
	json_decref(o);
	notify(&g, HB_SEV_CRITICAL, "a", "b");
	o = take(&g, "telegram:1");
	HBT_CHECK(o && !silent(o), "critical still rings");
	json_decref(o);
	route_free(g.r);

	/* a restart */
	g.r = route_new(&cfg, g.ob, NULL, g.ch, g.m);
	HBT_CHECK(route_muted_until(g.r) == until, "the mute is kept");
	HBT_CHECK(hb_metrics_gauge(g.m, "muted", "", NULL)->value == 1,
	    "muted gauge 1");
	route_mute(g.r, 0);
	HBT_CHECK(route_muted_until(g.r) == 0 &&
	    hb_metrics_gauge(g.m, "muted", "", NULL)->value == 0, "unmuted");
	route_mute(g.r, hb_wall_ms() - 1);
	route_tick(g.r);
	HBT_CHECK(route_muted_until(g.r) == 0 &&
	    hb_metrics_gauge(g.m, "muted", "", NULL)->value == 0,
	    "a mute that ended: gauge back to 0");
	rig_close(&g);
}

/* True when the log file at path holds s. */
static bool
logged(const char *path, const char *s)
{
	char *text = hb_read_file(path, 1 << 20, NULL);
	bool found = text && strstr(text, s);

	free(text);
	return found;
}

/* The outbox cannot store the mute (disk full): in force, logged, said. */
static void
test_mute_not_stored(void)
{
	struct rig g;
	struct route_config cfg = two_chats_and_webhook();
	int64_t until = hb_wall_ms() + 3600 * 1000;
	char log[700];
	sqlite3 *db;
	json_t *o;

	snprintf(log, sizeof(log), "%s/mute_not_stored.log", hbt_dir());
	HBT_REQUIRE(hb_log_setup("notifier", HB_LOG_INFO, HB_LOG_TEXT, log) == 0,
	    "log to %s", log);
	rig_open(&g, "mute_not_stored", &cfg);
	HBT_REQUIRE(sqlite3_open(g.path, &db) == SQLITE_OK, "open");
	HBT_CHECK(sqlite3_exec(db, "CREATE TRIGGER full BEFORE INSERT ON meta "
	    "BEGIN SELECT RAISE(ABORT, 'disk full'); END", NULL, NULL, NULL) ==
	    SQLITE_OK, "trigger: %s", sqlite3_errmsg(db));
	HBT_CHECK(route_mute(g.r, until) == -1, "not stored: said so");
	HBT_CHECK(logged(log, "cannot store the mute in test.db") &&
	    logged(log, "not across a restart"), "and logged");
	HBT_CHECK(route_muted_until(g.r) == until &&
	    hb_metrics_gauge(g.m, "muted", "", NULL)->value == 1,
	    "in force all the same");
	notify(&g, HB_SEV_ERROR, "a", "b");
	o = take(&g, "telegram:1");
	HBT_CHECK(o && silent(o), "an error arrives silently");
	json_decref(o);
	sqlite3_exec(db, "DROP TRIGGER full", NULL, NULL, NULL);
	sqlite3_close(db);

	/* a restart: what was said is what happens */
	route_free(g.r);
	g.r = route_new(&cfg, g.ob, NULL, g.ch, g.m);
	HBT_CHECK(route_muted_until(g.r) == 0, "gone after a restart");
	HBT_CHECK(route_mute(g.r, until) == 0, "stored once there is room");
	rig_close(&g);
	hb_log_setup("notifier", HB_LOG_INFO, HB_LOG_TEXT, NULL);
}

static void
test_no_channel_and_replies(void)
{
	struct rig g;
	struct route_config cfg = { .outbox_path = "test.db", .instance = "nuc" };
	json_t *o;

	rig_open(&g, "quickstart", &cfg);
	notify(&g, HB_SEV_CRITICAL, "a", "b");
	HBT_CHECK(hb_outbox_count(g.ob) == 0 &&
	    counter(&g, "notifications_logged_total", NULL) == 1,
	    "no channel: logged only");
	HBT_CHECK(route_reply(g.r, 5, "i", "t", "x") == -1 &&
	    hb_outbox_count(g.ob) == 0, "no token: no reply");
	rig_close(&g);

	cfg = two_chats_and_webhook();
	rig_open(&g, "replies", &cfg);
	HBT_CHECK(route_reply(g.r, 99, "\xf0\x9f\x93\x8b", "homebus status",
	    "all ok") == 0, "a reply");
	o = take(&g, "telegram:99");
	HBT_CHECK(o && !silent(o) && strstr(str(o, "text"), "all ok"),
	    "to the chat that asked, whatever the recipients");
	json_decref(o);
	rig_close(&g);
}

static void
test_parts(void)
{
	struct rig g;
	struct route_config cfg = two_chats_and_webhook();
	struct hb_buf text = { 0 };
	json_t *o;

	cfg.webhook_url = "";
	rig_open(&g, "parts", &cfg);
	for (int i = 0; i < 100; i++)
		hb_buf_printf(&text, "line %03d of a long report, 50 characters\n",
		    i);
	notify(&g, HB_SEV_INFO, "Report", text.data);
	HBT_CHECK(hb_outbox_count(g.ob) == 2, "4,400 characters: two parts");
	o = take(&g, "telegram:1");
	HBT_CHECK(o && strstr(str(o, "text"), "(1/2)") &&
	    strstr(str(o, "text"), "line 000"), "part 1 first");
	json_decref(o);
	o = take(&g, "telegram:1");
	HBT_CHECK(o && strstr(str(o, "text"), "(2/2)") &&
	    strstr(str(o, "text"), "line 099"), "then part 2");
	json_decref(o);
	hb_buf_free(&text);
	rig_close(&g);
}

/* ---- dedupe: asked per destination, after the filters ---- */

static int asked[8];		/* how often hold was asked, per destination */
static bool holding[8];		/* what it answers, per destination */

static bool
hold_stub(void *arg, size_t dest, const struct hb_notify *n)
{
	(void)arg;
	(void)n;
	HBT_REQUIRE(dest < 8, "a destination in range: %zu", dest);
	asked[dest]++;
	return holding[dest];
}

static void
hold_reset(void)
{
	memset(asked, 0, sizeof(asked));
	memset(holding, 0, sizeof(holding));
}

static void
test_hold_after_filter(void)
{
	struct rig g;
	struct route_config cfg = two_chats_and_webhook();
	struct hb_notify n = { .severity = HB_SEV_ERROR, .title = (char *)"DB",
	    .text = (char *)"and 14 more like this", .key = (char *)"db" };
	uint64_t logged_before;
	json_t *o;

	/* destinations: 0 chat 1 (info), 1 chat -100 (error), 2 the webhook */
	cfg.hold = hold_stub;
	rig_open(&g, "hold", &cfg);
	hold_reset();
	notify_key(&g, HB_SEV_INFO, "Door", "open", "door");
	HBT_CHECK(asked[0] == 1 && asked[1] == 0 && asked[2] == 0,
	    "an info: only chat 1, which takes it, is asked (%d %d %d)",
	    asked[0], asked[1], asked[2]);
	notify_key(&g, HB_SEV_WARNING, "Door", "open", "door");
	HBT_CHECK(asked[0] == 2 && asked[1] == 0 && asked[2] == 1,
	    "a warning: chat 1 and the webhook (%d %d %d)", asked[0], asked[1],
	    asked[2]);
	while ((o = take(&g, "telegram:1")) != NULL)
		json_decref(o);
	json_decref(take(&g, DELIVERY_WEBHOOK_LANE));

	hold_reset();
	holding[0] = true;
	notify_key(&g, HB_SEV_ERROR, "DB", "down", "db");
	HBT_CHECK(hb_outbox_count(g.ob) == 2 && hb_outbox_head(g.ob,
	    "telegram:1", &(struct hb_outbox_item){ 0 }) == 0,
	    "held back from chat 1 alone: %lld queued",
	    (long long)hb_outbox_count(g.ob));
	json_decref(take(&g, "telegram:-100"));
	json_decref(take(&g, DELIVERY_WEBHOOK_LANE));
	holding[1] = holding[2] = true;
	npumped = 0;
	notify_key(&g, HB_SEV_ERROR, "DB", "down", "db");
	HBT_CHECK(hb_outbox_count(g.ob) == 0 && npumped == 0 &&
	    counter(&g, "notifications_filtered_total", NULL) == 0,
	    "held back from all: nothing queued, and not counted as filtered");

	/* a summary goes to its destination alone, whatever the others hold */
	route_summary(g.r, 2, &n, 14);
	HBT_CHECK(hb_outbox_count(g.ob) == 1, "one message");
	o = take(&g, DELIVERY_WEBHOOK_LANE);
	HBT_CHECK(o && json_integer_value(json_object_get(o, "repeats")) == 14,
	    "the webhook's says how many it stands for");
	json_decref(o);
	route_summary(g.r, 1, &n, 14);
	o = take(&g, "telegram:-100");
	HBT_CHECK(o && hb_outbox_count(g.ob) == 0 && strstr(str(o, "text"),
	    "and 14 more"), "the group's, to the group alone");
	json_decref(o);
	route_summary(g.r, 3, &n, 14);
	HBT_CHECK(hb_outbox_count(g.ob) == 0, "no destination 3");
	rig_close(&g);

	/* below every destination: filtered, and offered to no dedupe window */
	cfg.chats = two_chats + 1;
	cfg.nchats = 1;
	cfg.webhook_url = "";
	rig_open(&g, "hold_filtered", &cfg);
	hold_reset();
	notify_key(&g, HB_SEV_WARNING, "Door", "open", "door");
	HBT_CHECK(asked[0] == 0 && counter(&g, "notifications_filtered_total",
	    NULL) == 1, "never asked, counted as filtered");
	rig_close(&g);

	/* no channel at all: the log is destination 0, and dedupe holds there */
	cfg = (struct route_config){ .outbox_path = "test.db", .instance = "nuc",
	    .hold = hold_stub };
	rig_open(&g, "hold_log", &cfg);
	hold_reset();
	notify_key(&g, HB_SEV_INFO, "Door", "open", "door");
	logged_before = counter(&g, "notifications_logged_total", NULL);
	holding[0] = true;
	notify_key(&g, HB_SEV_INFO, "Door", "open", "door");
	HBT_CHECK(asked[0] == 2 && logged_before == 1 &&
	    counter(&g, "notifications_logged_total", NULL) == 1,
	    "the first logged, the one held back not");
	route_summary(g.r, 0, &n, 3);
	HBT_CHECK(counter(&g, "notifications_logged_total", NULL) == 2,
	    "the summary logged");
	rig_close(&g);
}

/* The router and the real folds, wired as the notifier wires them. */
static struct folds *wired_folds;
static int64_t wired_now;

static bool
hold_fold(void *arg, size_t dest, const struct hb_notify *n)
{
	(void)arg;
	return fold_take(wired_folds, dest, n, wired_now);
}

/*
 * A summary tells each destination of what it would have received: the
 * webhook (warning and up) hears nothing of the infos chat 1 got, and
 * what no destination takes opens no window and folds nothing.
 */
static void
test_summaries_per_destination(void)
{
	struct rig g;
	struct route_config cfg = two_chats_and_webhook();
	json_t *o;

	cfg.hold = hold_fold;
	rig_open(&g, "summaries", &cfg);
	wired_folds = fold_new(60000, g.r, g.m);
	wired_now = 0;
	notify_key(&g, HB_SEV_WARNING, "Door", "front door open", "door");
	for (int i = 1; i <= 3; i++) {
		wired_now = i;
		notify_key(&g, HB_SEV_INFO, "Door", "still open", "door");
	}
	HBT_CHECK(hb_outbox_count(g.ob) == 2, "the first to chat 1 and the "
	    "webhook, the infos folded: %lld", (long long)hb_outbox_count(g.ob));
	HBT_CHECK(counter(&g, "notifications_folded_total", NULL) == 3,
	    "three folded, for chat 1");
	fold_expire(wired_folds, 60000);
	o = take(&g, "telegram:1");
	json_decref(o);
	o = take(&g, "telegram:1");
	HBT_CHECK(o && strstr(str(o, "text"), "and 3 more like this"),
	    "chat 1's summary counts the infos it takes");
	json_decref(o);
	o = take(&g, DELIVERY_WEBHOOK_LANE);
	HBT_CHECK(o && strcmp(str(o, "text"), "front door open") == 0, "the "
	    "webhook's first");
	json_decref(o);
	o = take(&g, DELIVERY_WEBHOOK_LANE);
	HBT_CHECK(o == NULL, "and no summary of infos it would never have got");
	json_decref(o);
	fold_free(wired_folds);
	rig_close(&g);

	/* only the group, from error up: warnings go nowhere, fold nothing */
	cfg.chats = two_chats + 1;
	cfg.nchats = 1;
	cfg.webhook_url = "";
	rig_open(&g, "summaries_filtered", &cfg);
	wired_folds = fold_new(60000, g.r, g.m);
	for (int i = 0; i < 5; i++)
		notify_key(&g, HB_SEV_WARNING, "Door", "open", "door");
	HBT_CHECK(fold_open_count(wired_folds) == 0 &&
	    counter(&g, "notifications_folded_total", NULL) == 0 &&
	    counter(&g, "notifications_filtered_total", NULL) == 5,
	    "filtered, no window, nothing folded");
	HBT_CHECK(fold_close_all(wired_folds) == 0 && hb_outbox_count(g.ob) == 0,
	    "and no summary at exit");
	fold_free(wired_folds);
	rig_close(&g);
}

/* The outbox takes the first chat's message but not the webhook's. */
static void
test_lost_whole(void)
{
	struct rig g;
	struct route_config cfg = two_chats_and_webhook();
	sqlite3 *db;

	rig_open(&g, "lost", &cfg);
	HBT_REQUIRE(sqlite3_open(g.path, &db) == SQLITE_OK, "open");
	/* a trigger refuses what goes to the webhook's lane */
	HBT_CHECK(sqlite3_exec(db, "CREATE TRIGGER no_webhook BEFORE INSERT ON "
	    "outbox WHEN NEW.lane = 'webhook' BEGIN SELECT RAISE(ABORT, "
	    "'disk full'); END", NULL, NULL, NULL) == SQLITE_OK, "trigger: %s",
	    sqlite3_errmsg(db));
	notify(&g, HB_SEV_WARNING, "a", "b");
	HBT_CHECK(hb_outbox_count(g.ob) == 0, "not even chat 1's: all or nothing");
	HBT_CHECK(counter(&g, "notifications_lost_total", NULL) == 1,
	    "lost, counted");
	HBT_CHECK(npumped == 0, "nothing to pump");
	sqlite3_exec(db, "DROP TRIGGER no_webhook", NULL, NULL, NULL);
	sqlite3_close(db);
	notify(&g, HB_SEV_WARNING, "a", "b");
	HBT_CHECK(hb_outbox_count(g.ob) == 2, "the next one goes whole");
	rig_close(&g);
}

int
main(void)
{
	hbt_init("notifier_route");
	test_min_severity();
	test_mute();
	test_mute_not_stored();
	test_no_channel_and_replies();
	test_parts();
	test_hold_after_filter();
	test_summaries_per_destination();
	test_lost_whole();
	hbt_exit();
}
