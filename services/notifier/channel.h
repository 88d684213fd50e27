/*
 * channel: one way out of the notifier (Telegram, the webhook) as /health
 * and /metrics show it: working or not, why, since when, and what went
 * through it. Delivery and polling report into it; nothing here sends.
 */
#ifndef NOTIFIER_CHANNEL_H
#define NOTIFIER_CHANNEL_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "hb_metrics.h"
#include "hb_outbox.h"

enum channel_kind {
	CH_TELEGRAM,
	CH_WEBHOOK,
	CH_COUNT,
};

struct channel {
	const char *name;		/* "telegram", "webhook" */
	bool ok;			/* true until a request says otherwise */
	char reason[256];		/* why not ok; "" when ok */
	int64_t since_ms;		/* wall clock of the last change, 0: none */
	struct hb_outbox *outbox;	/* borrowed: its size is logged on a change */
	struct hb_counter *m_queued, *m_delivered, *m_dead, *m_errors;
	struct hb_gauge *m_up;		/* telegram_up; NULL for the webhook */
};

/*
 * Sets ch up as kind, ok, with its series registered in m. outbox is only
 * read, for log lines, and must outlive ch.
 */
void channel_init(struct channel *ch, enum channel_kind kind,
    struct hb_metrics *m, struct hb_outbox *outbox);

/* Records that the channel works, or not and why (logged on a change). */
void channel_set(struct channel *ch, bool ok, const char *reason);

/* Adds "<name>": {configured, state, reason, since, delivered, ...} to out. */
void channel_json(const struct channel *ch, json_t *out, bool configured);

#endif
