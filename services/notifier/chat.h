/*
 * chat: Telegram messages read as commands. Only allow-listed chats are
 * obeyed, and in a group only commands for this bot; then /status, /deploy
 * and /rollback (published on P/deploy/command, and their progress on
 * P/deploy/state sent back to the chat until the deploy ends), /mute and
 * /help. Every answer goes out through the router, like a notification.
 */
#ifndef NOTIFIER_CHAT_H
#define NOTIFIER_CHAT_H

#include <stddef.h>
#include <stdint.h>

#include "board.h"
#include "route.h"
#include "telegram.h"

#include "hb_bus.h"
#include "hb_metrics.h"
#include "hb_msg.h"
#include "hb_outbox.h"

/* The pointers are borrowed and must outlive the chat. */
struct chat_config {
	const long long *cmd_chats;	/* the only chats obeyed */
	size_t ncmd_chats;
	const char *prefix;		/* the bus prefix, for P/deploy/command */
	int64_t max_age_ms;		/* older commands are refused; 0: any */
};

struct chat;

/*
 * Commands published on bus, answered through r, /status read from board
 * and outbox (all borrowed, all outlive it). Free with chat_free.
 */
struct chat *chat_new(const struct chat_config *cfg, struct hb_bus *bus,
    struct router *r, struct board *board, struct hb_outbox *outbox,
    struct hb_metrics *m);
void chat_free(struct chat *c);

/*
 * One update from getUpdates. bot_name is this bot's username, "" while
 * unknown (then no command addressed to a bot by name is obeyed); now is
 * monotonic ms, wall_now wall-clock ms (a command older than max_age_ms by
 * its message.date is answered, not run).
 */
void chat_update(struct chat *c, const struct telegram_update *u,
    const char *bot_name, int64_t now, int64_t wall_now);

/*
 * P/deploy/state: progress of a deploy a chat asked for goes back to it,
 * as edits of the message that answered the command (at most one every
 * 2 s), and its outcome as a new message replying to the command. now is
 * monotonic ms.
 */
void chat_deploy_state(struct chat *c, const struct hb_deploy_state *s,
    int64_t now);

/*
 * Shows progress held back by the 2 s between edits, and forgets deploys
 * watched for longer than they may take. Call it often (every 250 ms).
 */
void chat_tick(struct chat *c, int64_t now);

#endif
