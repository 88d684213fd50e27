/*
 * poller: Telegram's getUpdates long poll, one request at a time, and
 * getMe for the bot's own name (asked before the first poll, again every
 * minute until it answers). The offset that confirms a batch is stored in
 * the outbox before any update of it is handed on: after a crash a command
 * is lost rather than run twice. Failures are retried with backoff, a 429
 * after its retry_after.
 */
#ifndef NOTIFIER_POLLER_H
#define NOTIFIER_POLLER_H

#include <event2/event.h>
#include <stdint.h>

#include "channel.h"
#include "telegram.h"

#include "hb_http_client.h"
#include "hb_metrics.h"
#include "hb_outbox.h"

/* The strings are borrowed and must outlive the poller. */
struct poll_config {
	struct telegram_api api;	/* its timeout: getMe, and on top of
					 * the long poll */
	int poll_timeout_s;		/* the long poll */
	const char *outbox_path;	/* for log lines */
	int64_t (*clock)(void);		/* monotonic ms; NULL: hb_mono_ms */
};

struct chat;
struct poller;

/*
 * A poller over http and outbox (the offset is read from it now), its
 * timer on base, reporting into the telegram channel; each update of a
 * confirmed batch goes to chat_update(chat). All borrowed, all outlive it.
 * Free with poll_free.
 */
struct poller *poll_new(const struct poll_config *cfg, struct event_base *base,
    struct hb_http_client *http, struct hb_outbox *outbox,
    struct channel *telegram, struct hb_metrics *m, struct chat *chat);
/* Cancels what is in flight. */
void poll_free(struct poller *p);

/* Polls now, unless a poll is in flight (getMe first while it is due). */
void poll_start(struct poller *p);
/* Stops: cancels what is in flight, nothing new starts. */
void poll_stop(struct poller *p);

/* No poll starts before this (monotonic ms): a backoff or retry_after. */
int64_t poll_next_ms(const struct poller *p);

/* The bot's username without '@', "" until getMe answered. */
const char *poll_bot_name(const struct poller *p);

/*
 * The offset that confirms a batch: one past its largest update_id,
 * whatever the stored one (Telegram picks the next update_id at random
 * after a week without updates, so a batch may well be below it), or
 * stored when no id in the batch is usable.
 */
long long poll_next_offset(const struct telegram_update *u, size_t n,
    long long stored);

#endif
