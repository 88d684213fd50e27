/*
 * delivery: the outbox sent out. Each destination is a lane (one per
 * Telegram chat, one for the webhook): one request at a time, oldest
 * first, paced by Telegram's limits (per chat, per group, per bot, and a
 * 429's retry_after for every chat). Each answer removes the message,
 * keeps it first in its lane for a later try, or moves it to the dead
 * letters; a lane that fails or hangs holds up only itself.
 *
 * It reads the outbox but never adds to it: whoever adds a message says
 * so with delivery_note_lane() and delivery_pump().
 */
#ifndef NOTIFIER_DELIVERY_H
#define NOTIFIER_DELIVERY_H

#include <event2/event.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "channel.h"
#include "hb_http_client.h"
#include "hb_metrics.h"
#include "hb_outbox.h"

#define DELIVERY_WEBHOOK_LANE "webhook"

/*
 * Private keys of a Telegram body in the outbox, removed before it is
 * sent. A sendMessage with DELIVERY_PROGRESS_KEY "<name>" is a progress
 * message: once Telegram answered, its message_id is kept in the outbox's
 * meta ("progress:<chat>:<name>"). A body with DELIVERY_EDIT_KEY "<name>"
 * is that message's new text: sent as editMessageText (Telegram's "message
 * is not modified" counts as delivered), or as a new silent sendMessage
 * when no message_id is known (the first was dead-lettered).
 */
#define DELIVERY_PROGRESS_KEY "homebus_progress"
#define DELIVERY_EDIT_KEY "homebus_edit"

/* The strings are borrowed and must outlive the delivery. */
struct delivery_config {
	const char *api_url;		/* Telegram's, without a trailing '/' */
	const char *token;		/* NULL: Telegram off; never logged */
	const long long *chats;		/* the chats still configured (notified or
					 * obeyed); NULL: any chat */
	size_t nchats;
	long tg_timeout_ms;
	int64_t chat_interval_ms;	/* at least this long between two to a chat */
	int group_max;			/* at most this many to a group ... */
	int64_t group_window_ms;	/* ... in any window this long */
	int global_per_s;		/* at most this many a second in all */
	const char *webhook_url;	/* "" or NULL: no webhook */
	const char *webhook_token;	/* NULL: no Authorization header */
	long webhook_timeout_ms;
	int64_t retry_min_ms, retry_max_ms;	/* backoff per lane */
	int64_t (*clock)(void);		/* monotonic ms; NULL: hb_mono_ms */
};

struct delivery;

/*
 * A delivery over http and outbox (both borrowed, both outlive it), with
 * its wake-up timer on base; channels points to CH_COUNT channels it
 * reports into. Lanes are made as they are named. Free with delivery_free.
 */
struct delivery *delivery_new(const struct delivery_config *cfg,
    struct event_base *base, struct hb_http_client *http,
    struct hb_outbox *outbox, struct channel *channels, struct hb_metrics *m);
/* Cancels what is in flight (the messages stay in the outbox). */
void delivery_free(struct delivery *d);

/* The lane of a Telegram chat: "telegram:<id>". */
void delivery_telegram_lane(long long chat_id, char *out, size_t outlen);

/* Lane (made if new) holds messages in the outbox. */
void delivery_note_lane(struct delivery *d, const char *lane);

/*
 * Starts a request on every lane that is idle, holds messages and may send
 * now; arms the timer for the earliest lane that may send later.
 */
void delivery_pump(struct delivery *d);

/* When the pump runs by itself next (monotonic ms); INT64_MAX: never. */
int64_t delivery_next_ms(const struct delivery *d);

/*
 * No request starts from now on. answered(arg), if not NULL, is called
 * after each answer that comes back from then on.
 */
typedef void (*delivery_answered_fn)(void *arg);
void delivery_stop(struct delivery *d, delivery_answered_fn answered,
    void *arg);

/* True while a request is in flight. */
bool delivery_busy(const struct delivery *d);

#endif
