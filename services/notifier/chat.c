/*
 * chat: commands from Telegram and deploy watches (see chat.h).
 */
#include "chat.h"
#include "chat_command.h"

#include "hb_log.h"
#include "hb_topic.h"
#include "hb_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>

#define DEPLOY_WATCH_MS (2 * 3600 * 1000)
#define EDIT_MIN_MS 2000	/* at most one edit of a progress message */
#define WATCH_STEPS 16

/*
 * A deploy asked for from Telegram. Its progress is one message, the
 * answer to the command, edited in place (each step on a line of its own
 * as it ends); its outcome a new message replying to the command.
 */
struct watch {
	TAILQ_ENTRY(watch) entry;
	char id[65];
	long long chat_id;
	long long command_message_id;	/* the /deploy the outcome answers */
	char header[300];		/* the first line of the progress */
	char title[32];
	char last[200];
	char steps[WATCH_STEPS][48];	/* the steps seen, in order */
	size_t nsteps;
	char current[300];		/* the latest state, as a line */
	char phase[32];			/* of the latest state */
	bool edit_pending;		/* current is not shown yet */
	bool edited;
	int64_t edited_ms;
	bool done;			/* the outcome is sent */
	int64_t expires_ms;
};

TAILQ_HEAD(watch_list, watch);

struct chat {
	struct chat_config cfg;
	struct hb_bus *bus;
	struct router *router;
	struct board *board;
	struct hb_outbox *outbox;
	struct hb_metrics *metrics;
	char command_topic[HB_TOPIC_MAX];
	struct watch_list watches;
	struct hb_ratelimit ignored_log;
	struct hb_counter *m_updates, *m_ignored, *m_stale;
	struct hb_buf help;		/* the list of commands, for /help */
};

static void
reply(struct chat *c, long long chat_id, const char *icon, const char *title,
    const char *text)
{
	route_reply(c->router, chat_id, icon, title, text);
}

/* ---------------- the commands ---------------- */

static void
send_status(struct chat *c, long long chat_id)
{
	struct hb_buf t = { 0 };
	int64_t until = route_muted_until(c->router);
	char ts[40];

	board_render(c->board, &t);
	if (until > 0) {
		hb_iso8601(until, ts, sizeof(ts));
		hb_buf_printf(&t, "Muted until %.16s UTC\n", ts);
	}
	hb_buf_printf(&t, "Outbox: %lld waiting, %lld dead letters",
	    (long long)hb_outbox_count(c->outbox),
	    (long long)hb_outbox_dead_count(c->outbox));
	reply(c, chat_id, "\xf0\x9f\x93\x8b", "homebus status", t.data);
	hb_buf_free(&t);
}

static void
requested_by(const struct telegram_update *u, char *out, size_t outlen)
{
	if (u->username[0])
		snprintf(out, outlen, "telegram:@%s", u->username);
	else
		snprintf(out, outlen, "telegram:%lld", u->has_from ? u->from_id :
		    u->chat_id);
}

/* ---------------- watches kept across a restart ---------------- */

#define WATCHES_KEY "deploy_watches"

static json_t *
watch_json(const struct watch *w, int64_t now)
{
	json_t *steps = json_array();

	for (size_t i = 0; i < w->nsteps; i++)
		json_array_append_new(steps, json_string(w->steps[i]));
	return json_pack("{s:s, s:I, s:I, s:s, s:s, s:s, s:o, s:s, s:s, s:b, "
	    "s:b, s:I}", "id", w->id, "chat", (json_int_t)w->chat_id,
	    "command_message_id", (json_int_t)w->command_message_id, "title",
	    w->title, "header", w->header, "last", w->last, "steps", steps,
	    "current", w->current, "phase", w->phase, "edit_pending",
	    w->edit_pending, "done", w->done, "expires", (json_int_t)(hb_wall_ms()
	    + (w->expires_ms - now)));
}

static void
copy_json_str(json_t *o, const char *key, char *out, size_t outlen)
{
	const char *v = json_string_value(json_object_get(o, key));

	snprintf(out, outlen, "%s", v ? v : "");
}

/*
 * Keeps the watches in the outbox, so that a deploy asked for before a
 * restart still gets its progress and its outcome after it. Not kept
 * (disk full): they hold until the notifier stops, logged.
 */
static void
watches_save(struct chat *c, int64_t now)
{
	json_t *all = json_array();
	struct watch *w;
	char *text;

	TAILQ_FOREACH(w, &c->watches, entry)
		json_array_append_new(all, watch_json(w, now));
	text = json_dumps(all, JSON_COMPACT);
	json_decref(all);
	if (text == NULL || hb_outbox_meta_set(c->outbox, WATCHES_KEY, text) != 0)
		hb_log_limited(&c->ignored_log, HB_LOG_WARN, "cannot store the "
		    "deploys watched for Telegram in the outbox: a restart of the "
		    "notifier forgets them");
	free(text);
}

/* The watches the outbox kept, still within their two hours. */
static void
watches_load(struct chat *c, int64_t now)
{
	char *text = hb_outbox_meta_get(c->outbox, WATCHES_KEY);
	json_t *all = text ? json_loads(text, 0, NULL) : NULL, *o, *st;
	int64_t wall = hb_wall_ms();
	size_t i, k;

	json_array_foreach(all, i, o) {
		struct watch *w;
		int64_t expires = json_integer_value(json_object_get(o, "expires"));

		if (expires <= wall || !json_is_string(json_object_get(o, "id")))
			continue;
		w = hb_xcalloc(1, sizeof(*w));
		copy_json_str(o, "id", w->id, sizeof(w->id));
		w->chat_id = json_integer_value(json_object_get(o, "chat"));
		w->command_message_id = json_integer_value(json_object_get(o,
		    "command_message_id"));
		copy_json_str(o, "title", w->title, sizeof(w->title));
		copy_json_str(o, "header", w->header, sizeof(w->header));
		copy_json_str(o, "last", w->last, sizeof(w->last));
		copy_json_str(o, "current", w->current, sizeof(w->current));
		copy_json_str(o, "phase", w->phase, sizeof(w->phase));
		json_array_foreach(json_object_get(o, "steps"), k, st)
			if (w->nsteps < WATCH_STEPS && json_is_string(st))
				snprintf(w->steps[w->nsteps++], sizeof(w->steps[0]), "%s",
				    json_string_value(st));
		w->edit_pending = json_is_true(json_object_get(o, "edit_pending"));
		w->done = json_is_true(json_object_get(o, "done"));
		w->expires_ms = now + (expires - wall);
		TAILQ_INSERT_TAIL(&c->watches, w, entry);
	}
	json_decref(all);
	free(text);
}

static void
watch_add(struct chat *c, const char *id, const struct telegram_update *u,
    const char *title, const char *header, int64_t now)
{
	struct watch *w = hb_xcalloc(1, sizeof(*w));

	snprintf(w->id, sizeof(w->id), "%s", id);
	w->chat_id = u->chat_id;
	w->command_message_id = u->message_id;
	snprintf(w->title, sizeof(w->title), "%s", title);
	snprintf(w->header, sizeof(w->header), "%s", header);
	w->expires_ms = now + DEPLOY_WATCH_MS;
	TAILQ_INSERT_TAIL(&c->watches, w, entry);
	watches_save(c, now);
}

static void
request_deploy(struct chat *c, const struct telegram_update *u,
    const struct command *cmd_in, int64_t now)
{
	struct hb_deploy_cmd cmd;
	char text[400];
	json_t *o;
	int rc;

	memset(&cmd, 0, sizeof(cmd));
	/* The update id names the request: the same update is never two deploys. */
	snprintf(cmd.id, sizeof(cmd.id), "tg-%lld", u->update_id);
	cmd.action = cmd_in->kind == CMD_DEPLOY ? HB_DEPLOY_DEPLOY :
	    HB_DEPLOY_ROLLBACK;
	snprintf(cmd.tag, sizeof(cmd.tag), "%s", cmd_in->tag);
	requested_by(u, cmd.requested_by, sizeof(cmd.requested_by));
	o = hb_deploy_cmd_encode(&cmd);
	rc = hb_bus_publish_json(c->bus, c->command_topic, o, 1, false);
	json_decref(o);
	hb_info("deploy command from telegram id=%s action=%s tag=%s "
	    "requested_by=%s chat=%lld published=%s", cmd.id,
	    hb_deploy_action_name(cmd.action), cmd.tag[0] ? cmd.tag : "-",
	    cmd.requested_by, u->chat_id, rc == 0 ? "yes" : "no");
	if (rc != 0) {
		reply(c, u->chat_id, "\xe2\x9d\x8c", "Not sent", "The bus refused "
		    "the command (is the broker reachable?). Nothing was started.");
		return;
	}
	if (cmd.action == HB_DEPLOY_DEPLOY)
		snprintf(text, sizeof(text), "Deploy of %s requested (id %s). "
		    "Progress follows here.", cmd.tag, cmd.id);
	else
		snprintf(text, sizeof(text), "Rollback requested (id %s). Progress "
		    "follows here.", cmd.id);
	/* it rings: the start; its edits do not; the outcome rings again */
	route_reply_how(c->router, u->chat_id, "\xf0\x9f\x9a\x80",
	    cmd.action == HB_DEPLOY_DEPLOY ? "Deploy" : "Rollback", text,
	    &(struct reply_how){ .progress = cmd.id });
	watch_add(c, cmd.id, u, cmd.action == HB_DEPLOY_DEPLOY ? "Deploy" :
	    "Rollback", text, now);
}

static void
set_mute(struct chat *c, long long chat_id, long minutes)
{
	int64_t until = minutes > 0 ? hb_wall_ms() + (int64_t)minutes * 60000 : 0;
	bool stored = route_mute(c->router, until) == 0;
	char ts[40], text[400];

	if (minutes == 0) {
		hb_info("unmuted from telegram chat=%lld stored=%s", chat_id,
		    stored ? "yes" : "no");
		if (stored)
			reply(c, chat_id, "\xf0\x9f\x94\x94", "Unmuted",
			    "Notifications ring again.");
		else
			reply(c, chat_id, "\xe2\x9a\xa0\xef\xb8\x8f",
			    "Unmuted, but not saved", "Notifications ring again, "
			    "but the outbox could not store it (disk full?): after "
			    "a restart of the notifier the earlier mute comes back "
			    "until it ends. Send /mute 0 again once there is room.");
		return;
	}
	hb_iso8601(until, ts, sizeof(ts));
	hb_info("muted from telegram chat=%lld minutes=%ld stored=%s", chat_id,
	    minutes, stored ? "yes" : "no");
	if (stored) {
		snprintf(text, sizeof(text), "For %ld minutes, until %.16s UTC, "
		    "notifications arrive silently; critical ones still ring. "
		    "/mute 0 ends it.", minutes, ts);
		reply(c, chat_id, "\xf0\x9f\x94\x95", "Muted", text);
		return;
	}
	snprintf(text, sizeof(text), "For %ld minutes, until %.16s UTC, "
	    "notifications arrive silently; critical ones still ring. But the "
	    "outbox could not store the mute (disk full?): it will not survive "
	    "a restart of the notifier. /mute 0 ends it.", minutes, ts);
	reply(c, chat_id, "\xe2\x9a\xa0\xef\xb8\x8f", "Muted, but not saved",
	    text);
}

/* ---------------- who is obeyed ---------------- */

static void
ignore(struct chat *c, const struct telegram_update *u, const char *why)
{
	hb_counter_add(c->m_ignored, 1);
	/* never the text: it may be anything from anyone */
	hb_log_limited(&c->ignored_log, HB_LOG_INFO, "ignored telegram message "
	    "update_id=%lld chat=%lld user=%lld reason=%s", u->update_id,
	    u->chat_id, u->has_from ? u->from_id : 0, why);
}

/*
 * Reads u as a command into *cmd. True when it is one this notifier
 * obeys; otherwise it was counted and logged as ignored.
 */
static bool
obeyed(struct chat *c, const struct telegram_update *u, const char *bot_name,
    struct command *cmd)
{
	if (!u->has_message) {
		ignore(c, u, "not-a-message");
		return false;
	}
	if (u->from_bot) {
		ignore(c, u, "from-a-bot");
		return false;
	}
	if (!telegram_chat_in(c->cfg.cmd_chats, c->cfg.ncmd_chats, u->chat_id)) {
		ignore(c, u, "chat-not-allowed");
		return false;
	}
	command_parse(u->text ? u->text : "", cmd);
	if (cmd->kind == CMD_NONE) {
		/* chatter in an allowed group: counted, logged only for debugging */
		hb_counter_add(c->m_ignored, 1);
		hb_debug("ignored telegram message update_id=%lld chat=%lld "
		    "user=%lld reason=not-a-command", u->update_id, u->chat_id,
		    u->has_from ? u->from_id : 0);
		return false;
	}
	/*
	 * "/deploy@other_bot" in a group is for another bot. Without our own
	 * name (getMe has not answered) no addressed command is taken as ours.
	 */
	if (cmd->to_bot && (bot_name[0] == '\0' ||
	    strcasecmp(cmd->bot, bot_name) != 0)) {
		ignore(c, u, bot_name[0] ? "for-another-bot" : "bot-name-unknown");
		return false;
	}
	return true;
}

static const char *
command_label(enum command_kind kind)
{
	switch (kind) {
	case CMD_DEPLOY: return "command=\"deploy\"";
	case CMD_ROLLBACK: return "command=\"rollback\"";
	case CMD_STATUS: return "command=\"status\"";
	case CMD_MUTE: return "command=\"mute\"";
	case CMD_HELP: return "command=\"help\"";
	default: return "command=\"other\"";
	}
}

/*
 * True when u was sent longer ago than the chat allows (by message.date):
 * Telegram keeps updates for a day, and a command typed while the notifier
 * was down means nothing hours later. The chat is told why.
 */
static bool
too_old(struct chat *c, const struct telegram_update *u,
    const struct command *cmd, int64_t wall_now)
{
	int64_t age_s;
	char text[400];

	if (c->cfg.max_age_ms <= 0 || u->date <= 0)
		return false;
	age_s = wall_now / 1000 - u->date;
	if (age_s * 1000 <= c->cfg.max_age_ms)
		return false;
	hb_counter_add(c->m_stale, 1);
	hb_info("telegram command=%s chat=%lld update_id=%lld not run: sent "
	    "age_s=%lld ago, max_command_age_s=%lld", command_kind_name(cmd->kind),
	    u->chat_id, u->update_id, (long long)age_s,
	    (long long)(c->cfg.max_age_ms / 1000));
	snprintf(text, sizeof(text), "/%s was sent %lld min ago, while the "
	    "notifier could not read it; commands older than %lld s are not run. "
	    "Send it again if you still want it.", cmd->name,
	    (long long)(age_s / 60), (long long)(c->cfg.max_age_ms / 1000));
	reply(c, u->chat_id, "\xe2\x8c\x9b", "Too old, not run", text);
	return true;
}

void
chat_update(struct chat *c, const struct telegram_update *u,
    const char *bot_name, int64_t now, int64_t wall_now)
{
	struct command cmd;
	char text[300];

	hb_counter_add(c->m_updates, 1);
	if (!obeyed(c, u, bot_name, &cmd) || too_old(c, u, &cmd, wall_now))
		return;
	hb_counter_add(hb_metrics_counter(c->metrics, "commands_total",
	    "Commands taken from allowed Telegram chats, by command.",
	    command_label(cmd.kind)), 1);
	hb_info("telegram command=%s chat=%lld user=%lld update_id=%lld",
	    command_kind_name(cmd.kind), u->chat_id, u->has_from ? u->from_id : 0,
	    u->update_id);
	switch (cmd.kind) {
	case CMD_HELP:
		reply(c, u->chat_id, "\xe2\x84\xb9\xef\xb8\x8f", "homebus commands",
		    c->help.data);
		break;
	case CMD_STATUS:
		send_status(c, u->chat_id);
		break;
	case CMD_DEPLOY:
	case CMD_ROLLBACK:
		request_deploy(c, u, &cmd, now);
		break;
	case CMD_MUTE:
		set_mute(c, u->chat_id, cmd.minutes);
		break;
	case CMD_BAD:
		reply(c, u->chat_id, "\xe2\x9d\x93", "Not understood", cmd.error);
		break;
	default:
		snprintf(text, sizeof(text), "/%s is not a command here.\n\n%s",
		    cmd.name, c->help.data);
		reply(c, u->chat_id, "\xe2\x9d\x93", "Unknown command", text);
		break;
	}
}

/* ---------------- deploy watches ---------------- */

/*
 * Each final phase of hb_deploy_phase_final() its own icon, so that the
 * end of a deploy reads at a glance; a deploy still going, an hourglass.
 */
static const struct {
	const char *phase;
	const char *icon;
} phase_icons[] = {
	{ "done", "\xe2\x9c\x85" },				/* check mark */
	{ "failed", "\xe2\x9d\x8c" },			/* cross */
	{ "rolled_back", "\xe2\x86\xa9\xef\xb8\x8f" },	/* back arrow */
	{ "rollback_failed", "\xf0\x9f\x86\x98" },		/* SOS: needs a person */
	{ "rejected", "\xf0\x9f\x9a\xab" },		/* prohibited */
	{ "busy", "\xe2\x9b\x94" },				/* no entry */
};

static const char *
phase_icon(const char *phase)
{
	for (size_t i = 0; i < HB_ARRAY_LEN(phase_icons); i++)
		if (strcmp(phase, phase_icons[i].phase) == 0)
			return phase_icons[i].icon;
	return "\xe2\x8f\xb3";					/* hourglass */
}

/* The progress message's text: the request, each step ended, the latest. */
static void
watch_render(const struct watch *w, struct hb_buf *out)
{
	hb_buf_puts(out, w->header);
	for (size_t i = 0; i + 1 < w->nsteps; i++)
		hb_buf_printf(out, "\n\xe2\x9c\x94\xef\xb8\x8f %s", w->steps[i]);
	if (w->current[0])
		hb_buf_printf(out, "\n%s %s", phase_icon(w->phase), w->current);
}

/* Shows the latest state by an edit, if one is due and allowed now. */
static void
watch_flush(struct chat *c, struct watch *w, int64_t now)
{
	struct hb_buf t = { 0 };

	if (!w->edit_pending || (w->edited && now - w->edited_ms < EDIT_MIN_MS))
		return;
	watch_render(w, &t);
	route_reply_how(c->router, w->chat_id, "\xf0\x9f\x9a\x80", w->title,
	    t.data, &(struct reply_how){ .progress = w->id, .edit = true });
	hb_buf_free(&t);
	w->edit_pending = false;
	w->edited = true;
	w->edited_ms = now;
}

static void
watch_free(struct chat *c, struct watch *w)
{
	TAILQ_REMOVE(&c->watches, w, entry);
	free(w);
}

/* A new state of w's deploy: a line in the progress, the outcome at the end. */
static void
watch_state(struct chat *c, struct watch *w, const struct hb_deploy_state *s,
    int64_t now)
{
	struct hb_buf line = { 0 };
	char key[200];

	/* one change of phase, step or error is one line, not each repeat */
	snprintf(key, sizeof(key), "%s/%s/%s", s->phase, s->step, s->error);
	if (w->done || strcmp(key, w->last) == 0)
		return;
	snprintf(w->last, sizeof(w->last), "%s", key);
	if (s->step[0] && w->nsteps < WATCH_STEPS && (w->nsteps == 0 ||
	    strcmp(w->steps[w->nsteps - 1], s->step) != 0))
		snprintf(w->steps[w->nsteps++], sizeof(w->steps[0]), "%s", s->step);
	board_deploy_line(&line, s);
	snprintf(w->current, sizeof(w->current), "%s", line.data);
	snprintf(w->phase, sizeof(w->phase), "%s", s->phase);
	w->edit_pending = true;
	if (hb_deploy_phase_final(s->phase)) {
		w->done = true;
		route_reply_how(c->router, w->chat_id, phase_icon(w->phase), s->id,
		    line.data, &(struct reply_how){
			.reply_to = w->command_message_id });
	}
	hb_buf_free(&line);
	watch_flush(c, w, now);
}

void
chat_deploy_state(struct chat *c, const struct hb_deploy_state *s, int64_t now)
{
	struct watch *w, *next;

	for (w = TAILQ_FIRST(&c->watches); w; w = next) {
		next = TAILQ_NEXT(w, entry);
		if (strcmp(w->id, s->id) != 0)
			continue;
		watch_state(c, w, s, now);
		if (w->done && !w->edit_pending)
			watch_free(c, w);
		watches_save(c, now);
	}
}

void
chat_tick(struct chat *c, int64_t now)
{
	struct watch *w, *next;
	bool changed = false;

	for (w = TAILQ_FIRST(&c->watches); w; w = next) {
		next = TAILQ_NEXT(w, entry);
		if (w->edit_pending) {
			watch_flush(c, w, now);
			changed |= !w->edit_pending;
		}
		if ((w->done && !w->edit_pending) || now >= w->expires_ms) {
			watch_free(c, w);
			changed = true;
		}
	}
	if (changed)
		watches_save(c, now);
}

/* ---------------- life ---------------- */

struct chat *
chat_new(const struct chat_config *cfg, struct hb_bus *bus, struct router *r,
    struct board *board, struct hb_outbox *outbox, struct hb_metrics *m)
{
	struct chat *c = hb_xcalloc(1, sizeof(*c));

	c->cfg = *cfg;
	c->bus = bus;
	c->router = r;
	c->board = board;
	c->outbox = outbox;
	c->metrics = m;
	TAILQ_INIT(&c->watches);
	hb_ratelimit_init(&c->ignored_log, 20, 10);
	watches_load(c, hb_mono_ms());
	hb_topic_join(c->command_topic, sizeof(c->command_topic), cfg->prefix,
	    "deploy/command");
	for (size_t i = 0; i < command_count; i++)
		hb_buf_printf(&c->help, "%s/%s%s - %s", i ? "\n" : "",
		    command_list[i].name, command_list[i].args,
		    command_list[i].description);
	c->m_updates = hb_metrics_counter(m, "telegram_updates_total",
	    "Updates received from getUpdates.", NULL);
	c->m_ignored = hb_metrics_counter(m, "telegram_ignored_total",
	    "Updates ignored: from chats not in command_chat_ids, not commands, "
	    "from bots.", NULL);
	c->m_stale = hb_metrics_counter(m, "telegram_commands_too_old_total",
	    "Commands not run because they were older than "
	    "notifier.telegram.max_command_age_s.", NULL);
	return c;
}

void
chat_free(struct chat *c)
{
	struct watch *w;

	if (c == NULL)
		return;
	while ((w = TAILQ_FIRST(&c->watches)) != NULL) {
		TAILQ_REMOVE(&c->watches, w, entry);
		free(w);
	}
	hb_buf_free(&c->help);
	free(c);
}
