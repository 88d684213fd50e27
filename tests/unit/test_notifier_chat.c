/*
 * The notifier's chat commands alone (services/notifier/chat.c with
 * commands.c and board.c), with the router and the bus stubbed: the test
 * sees each reply and each publish. The outbox is real (for /status).
 *
 * What a user would notice: only allow-listed chats are obeyed, never a
 * bot, never a command addressed to another bot (nor, before getMe
 * answered, one addressed to any); /status shows the health targets, the
 * last deploy, the mute and the outbox; /deploy publishes one command
 * named by the update and then shows each change of its progress as an
 * edit of its answer (at most one every 2 s) until it ends (or two hours
 * passed), the end as a new message replying to the command, each end
 * with its own icon; a
 * deploy the bus refuses says so; /mute sets the mute, and says so when
 * the outbox could not store it; /help and wrong commands are answered.
 */
#include "hbt.h"
#include "chat.h"

#include <stdlib.h>
#include <string.h>

/* ---- stubs for route.c and hb_bus.c ---- */

static struct reply {
	long long chat_id;
	char icon[16];
	char title[64];
	char text[2048];
	char progress[64];	/* "" unless a progress message or its edit */
	bool edit;
	long long reply_to;
} replies[32];
static int nreplies;
static int64_t mute_until, muted_until;
static int mute_rc, publish_rc;
static char published_topic[256];
static json_t *published;

int
route_reply(struct router *r, long long chat_id, const char *icon,
    const char *title, const char *text)
{
	struct reply *p = &replies[nreplies < 32 ? nreplies : 31];

	(void)r;
	p->chat_id = chat_id;
	snprintf(p->icon, sizeof(p->icon), "%s", icon);
	snprintf(p->title, sizeof(p->title), "%s", title);
	snprintf(p->text, sizeof(p->text), "%s", text);
	p->progress[0] = '\0';
	p->edit = false;
	p->reply_to = 0;
	nreplies++;
	return 0;
}

int
route_reply_how(struct router *r, long long chat_id, const char *icon,
    const char *title, const char *text, const struct reply_how *how)
{
	struct reply *p = &replies[nreplies < 32 ? nreplies : 31];

	route_reply(r, chat_id, icon, title, text);
	snprintf(p->progress, sizeof(p->progress), "%s", how->progress ?
	    how->progress : "");
	p->edit = how->edit;
	p->reply_to = how->reply_to;
	return 0;
}

int
route_mute(struct router *r, int64_t until_ms)
{
	(void)r;
	mute_until = until_ms;
	return mute_rc;
}

int64_t
route_muted_until(const struct router *r)
{
	(void)r;
	return muted_until;
}

int
hb_bus_publish_json(struct hb_bus *bus, const char *topic, const json_t *obj,
    int qos, bool retain)
{
	(void)bus;
	HBT_CHECK(qos == 1 && !retain, "QoS 1, not retained");
	snprintf(published_topic, sizeof(published_topic), "%s", topic);
	json_decref(published);
	published = json_deep_copy(obj);
	return publish_rc;
}

/* ---- the rig ---- */

static const long long allowed[] = { 10, -200 };

struct rig {
	struct hb_metrics *m;
	struct hb_outbox *ob;
	struct board *board;
	struct chat *chat;
};

static void
rig_open(struct rig *g, const char *name)
{
	char path[600], err[256];

	memset(g, 0, sizeof(*g));
	nreplies = 0;
	snprintf(path, sizeof(path), "%s/%s.db", hbt_dir(), name);
	g->m = hb_metrics_new("homebus_notifier_");
	g->ob = hb_outbox_open(path, err, sizeof(err));
	HBT_REQUIRE(g->ob != NULL, "outbox: %s", err);
	g->board = board_new();
	g->chat = chat_new(&(struct chat_config){ .cmd_chats = allowed,
	    .ncmd_chats = 2, .prefix = "homebus" }, NULL, NULL, g->board, g->ob,
	    g->m);
}

static void
rig_close(struct rig *g)
{
	chat_free(g->chat);
	board_free(g->board);
	hb_outbox_close(g->ob);
	hb_metrics_free(g->m);
}

static long long next_update = 100;

/* A message in chat from a person (user 7, @ann). */
static void
say(struct rig *g, long long chat, const char *text, const char *bot_name,
    int64_t now)
{
	struct telegram_update u = { 0 };

	u.update_id = next_update++;
	u.message_id = u.update_id * 10;
	u.has_message = true;
	u.chat_id = chat;
	u.has_from = true;
	u.from_id = 7;
	snprintf(u.username, sizeof(u.username), "ann");
	u.text = (char *)text;
	chat_update(g->chat, &u, bot_name, now, 0);
}

static uint64_t
counter(struct rig *g, const char *name, const char *labels)
{
	return hb_metrics_counter(g->m, name, "", labels)->value;
}

/* ---- the tests ---- */

static void
test_who_is_obeyed(void)
{
	struct rig g;
	struct telegram_update u = { 0 };

	rig_open(&g, "obeyed");
	say(&g, 11, "/status", "homebus_bot", 0);
	HBT_CHECK(nreplies == 0, "a chat not allowed gets no answer");
	u.update_id = 1;
	u.chat_id = 10;
	chat_update(g.chat, &u, "homebus_bot", 0, 0);
	u.has_message = true;
	u.from_bot = true;
	u.text = (char *)"/status";
	chat_update(g.chat, &u, "homebus_bot", 0, 0);
	HBT_CHECK(nreplies == 0, "nor an update without a message, nor a bot");
	say(&g, 10, "hello there", "homebus_bot", 0);
	HBT_CHECK(nreplies == 0, "chatter is not answered");
	say(&g, -200, "/status@other_bot", "homebus_bot", 0);
	HBT_CHECK(nreplies == 0, "a command for another bot is not ours");
	say(&g, -200, "/status@homebus_bot", "", 0);
	HBT_CHECK(nreplies == 0, "an addressed one while our name is unknown");
	HBT_CHECK(counter(&g, "telegram_ignored_total", NULL) == 6,
	    "six ignored, got %llu",
	    (unsigned long long)counter(&g, "telegram_ignored_total", NULL));
	say(&g, -200, "/status", "", 0);
	say(&g, -200, "/status@HomeBus_Bot", "homebus_bot", 0);
	HBT_CHECK(nreplies == 2 && replies[1].chat_id == -200,
	    "a plain command, and one addressed to us in any case");
	HBT_CHECK(counter(&g, "telegram_updates_total", NULL) == 8,
	    "every update counted");
	HBT_CHECK(counter(&g, "commands_total", "command=\"status\"") == 2,
	    "commands_total{command=\"status\"} 2");
	rig_close(&g);
}

static void
test_status(void)
{
	struct rig g;
	struct hb_health_msg h = { 0 };
	struct hb_deploy_state s = { 0 };
	json_t *o;
	char *payload, err[200];

	rig_open(&g, "status");
	say(&g, 10, "/status", "", 0);
	HBT_CHECK(nreplies == 1 && strstr(replies[0].text, "nothing on the bus "
	    "yet") && strstr(replies[0].text, "Last deploy: none known") &&
	    strstr(replies[0].text, "Outbox: 0 waiting, 0 dead letters"),
	    "an empty board: %s", replies[0].text);

	h.state = HB_HEALTH_DOWN;
	snprintf(h.reason, sizeof(h.reason), "ping timeout");
	h.since_ms = 1700000000000;
	h.latency_ms = -1;
	o = hb_health_encode(&h);
	payload = json_dumps(o, JSON_COMPACT);
	HBT_CHECK(board_health(g.board, "nas", payload, strlen(payload), err,
	    sizeof(err)) == 0, "health: %s", err);
	HBT_CHECK(board_health(g.board, "bad", "{", 1, err, sizeof(err)) == -1,
	    "not a health message");
	free(payload);
	json_decref(o);
	{
		/* the deployer's request on P/health/check, during every verify */
		struct hb_health_check c = { .ntargets = 1, .until_ms = -1,
		    .interval_s = 2 };

		snprintf(c.targets[0], sizeof(c.targets[0]), "ingest");
		o = hb_health_check_encode(&c);
		payload = json_dumps(o, JSON_COMPACT);
		err[0] = '\0';
		HBT_CHECK(board_health(g.board, "check", payload, strlen(payload),
		    err, sizeof(err)) == 0, "a check request is no state, and no "
		    "invalid one either: %s", err);
		free(payload);
		json_decref(o);
	}
	snprintf(s.id, sizeof(s.id), "cli-1");
	s.action = HB_DEPLOY_DEPLOY;
	snprintf(s.phase, sizeof(s.phase), "done");
	snprintf(s.from_tag, sizeof(s.from_tag), "v1");
	snprintf(s.to_tag, sizeof(s.to_tag), "v2");
	board_deploy(g.board, &s);
	muted_until = hb_wall_ms() + 60000;
	hb_outbox_add(g.ob, "telegram:10", "x", "{}", 2);
	say(&g, 10, "/status", "", 0);
	HBT_CHECK(nreplies == 2 && strstr(replies[1].text, "nas: down (ping "
	    "timeout) since 2023-11-14T22:13 UTC") &&
	    !strstr(replies[1].text, "check") &&
	    strstr(replies[1].text, "Last deploy: deploy v1 -> v2: done") &&
	    strstr(replies[1].text, "Muted until") &&
	    strstr(replies[1].text, "Outbox: 1 waiting"), "the board: %s",
	    replies[1].text);
	muted_until = 0;
	HBT_CHECK(board_health(g.board, "nas", "", 0, err, sizeof(err)) == 0,
	    "a cleared retained message");
	say(&g, 10, "/status", "", 0);
	HBT_CHECK(!strstr(replies[2].text, "nas:"), "forgets the target");
	rig_close(&g);
}

static void
progress_at(struct rig *g, const char *id, const char *phase,
    const char *step, int64_t now)
{
	struct hb_deploy_state s = { 0 };

	snprintf(s.id, sizeof(s.id), "%s", id);
	s.action = HB_DEPLOY_DEPLOY;
	snprintf(s.phase, sizeof(s.phase), "%s", phase);
	snprintf(s.step, sizeof(s.step), "%s", step);
	snprintf(s.to_tag, sizeof(s.to_tag), "v2");
	chat_deploy_state(g->chat, &s, now);
}

static void
progress(struct rig *g, const char *id, const char *phase, const char *step)
{
	progress_at(g, id, phase, step, 0);
}

static void
test_deploy(void)
{
	struct rig g;
	char id[32];

	rig_open(&g, "deploy");
	publish_rc = 0;
	snprintf(id, sizeof(id), "tg-%lld", next_update);
	say(&g, 10, "/deploy v2", "", 0);
	HBT_CHECK(strcmp(published_topic, "homebus/deploy/command") == 0,
	    "on P/deploy/command: %s", published_topic);
	HBT_CHECK(strcmp(json_string_value(json_object_get(published, "id")),
	    id) == 0 && strcmp(json_string_value(json_object_get(published,
	    "action")), "deploy") == 0 && strcmp(json_string_value(
	    json_object_get(published, "tag")), "v2") == 0 &&
	    strcmp(json_string_value(json_object_get(published,
	    "requested_by")), "telegram:@ann") == 0, "named by the update, "
	    "with the tag and who asked");
	HBT_CHECK(nreplies == 1 && strstr(replies[0].text, "Deploy of v2 "
	    "requested") && strstr(replies[0].text, id) &&
	    strcmp(replies[0].progress, id) == 0 && !replies[0].edit,
	    "acknowledged by the message its progress will edit: %s",
	    replies[0].text);

	progress(&g, "someone-else", "pulling", "pull");
	HBT_CHECK(nreplies == 1, "another deploy's progress is not sent");
	progress(&g, id, "running", "pull");
	progress(&g, id, "running", "pull");
	HBT_CHECK(nreplies == 2 && replies[1].chat_id == 10 && replies[1].edit &&
	    strcmp(replies[1].progress, id) == 0 &&
	    strstr(replies[1].text, "Deploy of v2 requested") &&
	    strstr(replies[1].text, "running (step pull)"),
	    "a change is an edit, once: %s", replies[1].text);
	progress_at(&g, id, "running", "verify", 1000);
	HBT_CHECK(nreplies == 2, "no second edit within 2 s");
	progress_at(&g, id, "done", "verify", 1500);
	HBT_CHECK(nreplies == 3 && !replies[2].edit && replies[2].reply_to ==
	    (next_update - 1) * 10 && strcmp(replies[2].title, id) == 0 &&
	    strstr(replies[2].text, "done"), "the outcome at once, a new message "
	    "replying to the /deploy: %s", replies[2].text);
	chat_tick(g.chat, 1999);
	HBT_CHECK(nreplies == 3, "the edit waits its 2 s");
	chat_tick(g.chat, 2000);
	HBT_CHECK(nreplies == 4 && replies[3].edit && strstr(replies[3].text,
	    "\xe2\x9c\x94\xef\xb8\x8f pull\n") && strstr(replies[3].text,
	    "done"), "then the last edit: each step ended on its line: %s",
	    replies[3].text);
	progress_at(&g, id, "running", "again", 5000);
	chat_tick(g.chat, 9000);
	HBT_CHECK(nreplies == 4, "the watch ended with the deploy");

	say(&g, 10, "/rollback", "", 1000);
	snprintf(id, sizeof(id), "tg-%lld", next_update - 1);
	HBT_CHECK(strcmp(json_string_value(json_object_get(published,
	    "action")), "rollback") == 0, "a rollback");
	chat_tick(g.chat, 1000 + 2 * 3600 * 1000 - 1);
	progress(&g, id, "running", "pull");
	HBT_CHECK(nreplies == 6, "watched for two hours");
	chat_tick(g.chat, 1000 + 2 * 3600 * 1000);
	progress(&g, id, "running", "verify");
	HBT_CHECK(nreplies == 6, "and no longer");

	publish_rc = -1;
	say(&g, 10, "/deploy v3", "", 0);
	HBT_CHECK(nreplies == 7 && strcmp(replies[6].title, "Not sent") == 0,
	    "a refused publish is said");
	snprintf(id, sizeof(id), "tg-%lld", next_update - 1);
	progress(&g, id, "running", "pull");
	HBT_CHECK(nreplies == 7, "and not watched");
	publish_rc = 0;
	rig_close(&g);
}

/* A deploy watched before a restart is watched after it (the outbox keeps it). */
static void
test_deploy_restart(void)
{
	struct rig g;
	char id[32];
	long long command;

	rig_open(&g, "restart");
	publish_rc = 0;
	snprintf(id, sizeof(id), "tg-%lld", next_update);
	command = next_update * 10;
	say(&g, 10, "/deploy v2", "", 0);
	progress(&g, id, "running", "pull");
	HBT_REQUIRE(nreplies == 2, "request and first edit");
	chat_free(g.chat);
	g.chat = chat_new(&(struct chat_config){ .cmd_chats = allowed,
	    .ncmd_chats = 2, .prefix = "homebus" }, NULL, NULL, g.board, g.ob,
	    g.m);
	progress(&g, id, "running", "pull");
	HBT_CHECK(nreplies == 2, "the state seen before is not shown again");
	progress_at(&g, id, "done", "verify", 3000);
	HBT_CHECK(nreplies == 4 && replies[2].reply_to == command &&
	    strstr(replies[2].text, "done") && replies[3].edit &&
	    strstr(replies[3].text, "\xe2\x9c\x94\xef\xb8\x8f pull\n"),
	    "after the restart: the outcome replies to the command, the edit "
	    "keeps the steps before it (%d replies)", nreplies);
	rig_close(&g);
}

/* The end of a deploy reads at a glance: each final phase its own icon. */
static void
test_deploy_icons(void)
{
	static const char *const final[] = { "done", "failed", "rolled_back",
	    "rollback_failed", "rejected", "busy" };
	static const char hourglass[] = "\xe2\x8f\xb3";
	char icons[HB_ARRAY_LEN(final)][16], id[32];
	struct rig g;

	rig_open(&g, "icons");
	publish_rc = 0;
	snprintf(id, sizeof(id), "tg-%lld", next_update);
	say(&g, 10, "/deploy v2", "", 0);
	progress(&g, id, "pull", "pull");
	HBT_CHECK(nreplies == 2 && strstr(replies[1].text, hourglass),
	    "a deploy still going: the hourglass");
	for (size_t i = 0; i < HB_ARRAY_LEN(final); i++) {
		HBT_REQUIRE(hb_deploy_phase_final(final[i]), "%s is final",
		    final[i]);
		nreplies = 0;
		snprintf(id, sizeof(id), "tg-%lld", next_update);
		say(&g, 10, "/deploy v2", "", 0);
		progress(&g, id, final[i], "verify");
		HBT_REQUIRE(nreplies == 3 && replies[1].reply_to > 0, "%s sent back",
		    final[i]);
		snprintf(icons[i], sizeof(icons[i]), "%s", replies[1].icon);
		HBT_CHECK(strcmp(icons[i], hourglass) != 0, "%s: not the hourglass",
		    final[i]);
		for (size_t j = 0; j < i; j++)
			HBT_CHECK(strcmp(icons[i], icons[j]) != 0, "%s and %s look "
			    "alike", final[i], final[j]);
	}
	HBT_CHECK(strcmp(icons[0], "\xe2\x9c\x85") == 0, "done: a check mark");
	rig_close(&g);
}

static void
test_mute_help_and_mistakes(void)
{
	struct rig g;
	int64_t before, after;

	rig_open(&g, "mute");
	before = hb_wall_ms();
	say(&g, 10, "/mute 30", "", 0);
	after = hb_wall_ms();
	HBT_CHECK(mute_until >= before + 1800000 && mute_until <= after + 1800000,
	    "muted for 30 minutes");
	HBT_CHECK(nreplies == 1 && strcmp(replies[0].title, "Muted") == 0,
	    "said so");
	say(&g, 10, "/mute 0", "", 0);
	HBT_CHECK(mute_until == 0 && strcmp(replies[1].title, "Unmuted") == 0,
	    "/mute 0 ends it");
	say(&g, 10, "/help", "", 0);
	HBT_CHECK(strstr(replies[2].text, "/deploy TAG") != NULL, "the list");
	say(&g, 10, "/reboot", "", 0);
	HBT_CHECK(strstr(replies[3].text, "/reboot is not a command here") &&
	    strstr(replies[3].text, "/status"), "unknown: the list");
	say(&g, 10, "/deploy", "", 0);
	HBT_CHECK(strcmp(replies[4].title, "Not understood") == 0 &&
	    strstr(replies[4].text, "usage: /deploy TAG"), "wrong arguments: "
	    "what is wrong");

	/* the outbox cannot store the mute (disk full): in force, and said so */
	mute_rc = -1;
	say(&g, 10, "/mute 15", "", 0);
	HBT_CHECK(mute_until > 0, "muted all the same");
	HBT_CHECK(strcmp(replies[5].title, "Muted") != 0 &&
	    strstr(replies[5].title, "not saved") &&
	    strstr(replies[5].text, "could not store") &&
	    strstr(replies[5].text, "will not survive a restart") &&
	    strstr(replies[5].text, "For 15 minutes"), "the chat is told it was "
	    "not stored: %s: %s", replies[5].title, replies[5].text);
	say(&g, 10, "/mute 0", "", 0);
	HBT_CHECK(mute_until == 0 && strcmp(replies[6].title, "Unmuted") != 0 &&
	    strstr(replies[6].text, "after a restart"), "nor its end: %s: %s",
	    replies[6].title, replies[6].text);
	mute_rc = 0;
	HBT_CHECK(counter(&g, "commands_total", "command=\"other\"") == 2 &&
	    counter(&g, "commands_total", "command=\"mute\"") == 4,
	    "commands_total by command");
	rig_close(&g);
}

int
main(void)
{
	hbt_init("notifier_chat");
	test_who_is_obeyed();
	test_status();
	test_deploy();
	test_deploy_restart();
	test_deploy_icons();
	test_mute_help_and_mistakes();
	json_decref(published);
	hbt_exit();
}
