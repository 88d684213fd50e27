/*
 * route: a notification made into outbox messages, one for each
 * destination that takes its severity (every Telegram chat, the webhook)
 * and does not hold it back (dedupe), rendered for it and committed in
 * one transaction, all or nothing, then handed to delivery. Replies to
 * chat commands take the same way. The mute (/mute) lives here too, since
 * it decides how a message rings.
 *
 * Destinations are numbered: 0 to nchats - 1 the chats of chat_ids in
 * their order, then nchats the webhook, or the log when there is neither
 * a chat nor the webhook (the quickstart).
 */
#ifndef NOTIFIER_ROUTE_H
#define NOTIFIER_ROUTE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "channel.h"
#include "delivery.h"
#include "options.h"

#include "hb_metrics.h"
#include "hb_msg.h"
#include "hb_outbox.h"

/*
 * True when dest holds n back (folded into an earlier one). Asked only for
 * a destination that takes n's severity, before the router's transaction:
 * it may hand on summaries through route_summary().
 */
typedef bool (*route_hold_fn)(void *arg, size_t dest, const struct hb_notify *n);

/* The pointers are borrowed and must outlive the router. */
struct route_config {
	const struct recipient *chats;	/* where notifications go */
	size_t nchats;
	bool telegram;			/* a bot token is set: replies can go */
	const char *webhook_url;	/* "" or NULL: no webhook */
	int webhook_min_sev;
	const char *instance;		/* this notifier, in the webhook's JSON */
	const char *outbox_path;	/* for log lines */
	route_hold_fn hold;		/* NULL: nothing is held back */
	void *hold_arg;
};

struct router;

/*
 * A router adding to outbox and telling d (both borrowed, both outlive
 * it); channels ([CH_COUNT]) count what is queued. The mute is read from
 * the outbox. Free with route_free.
 */
struct router *route_new(const struct route_config *cfg,
    struct hb_outbox *outbox, struct delivery *d, struct channel *channels,
    struct hb_metrics *m);
void route_free(struct router *r);

/*
 * Puts n in the outbox for every destination that takes its severity and
 * does not hold it back; one that no destination takes is counted as
 * filtered and offered to none. With no channel configured at all, n is
 * only logged. A notification the outbox cannot take is lost, counted and
 * logged with its title.
 */
void route_notify(struct router *r, const struct hb_notify *n);

/*
 * A dedupe summary for destination dest alone, standing for repeats
 * notifications (the webhook's JSON says how many); never held back.
 */
void route_summary(struct router *r, size_t dest, const struct hb_notify *n,
    int repeats);

/* A message to one chat, outside the filters (a command's answer). 0 or -1. */
int route_reply(struct router *r, long long chat_id, const char *icon,
    const char *title, const char *text);

/*
 * How a reply goes beyond route_reply's: a progress message (its
 * message_id kept in the outbox's meta under progress, once Telegram
 * answered) or an edit of one, and the message it answers.
 */
struct reply_how {
	const char *progress;	/* NULL, or the name of a progress message */
	bool edit;		/* edit that progress message (silent, one part) */
	long long reply_to;	/* 0, or the message_id this one answers */
};

/* route_reply, as how says. 0 or -1. */
int route_reply_how(struct router *r, long long chat_id, const char *icon,
    const char *title, const char *text, const struct reply_how *how);

/*
 * Until until_ms (wall clock; 0 ends it) notifications arrive silently,
 * but critical ones. Stored in the outbox to hold across restarts: 0, or
 * -1 when it could not be stored (logged). Either way it is in force from
 * now until the notifier stops.
 */
int route_mute(struct router *r, int64_t until_ms);
/* When the mute ends (wall clock), or 0 when there is none now. */
int64_t route_muted_until(const struct router *r);
/* Puts the mute's gauge back to 0 once the mute ended by itself. */
void route_tick(struct router *r);

#endif
