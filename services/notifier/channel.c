/*
 * channel: the state of one way out (see channel.h).
 */
#include "channel.h"

#include "hb_log.h"
#include "hb_msg.h"
#include "hb_util.h"

#include <stdio.h>
#include <string.h>

static const char *const channel_names[] = { "telegram", "webhook" };

void
channel_init(struct channel *ch, enum channel_kind kind, struct hb_metrics *m,
    struct hb_outbox *outbox)
{
	char labels[64];

	memset(ch, 0, sizeof(*ch));
	ch->name = channel_names[kind];
	ch->ok = true;
	ch->outbox = outbox;
	snprintf(labels, sizeof(labels), "channel=\"%s\"", ch->name);
	ch->m_queued = hb_metrics_counter(m, "messages_queued_total",
	    "Messages put in the outbox (a long notification is several).",
	    labels);
	ch->m_delivered = hb_metrics_counter(m, "messages_delivered_total",
	    "Messages the channel accepted.", labels);
	ch->m_dead = hb_metrics_counter(m, "messages_dead_lettered_total",
	    "Messages refused for good, kept in the dead_letter table.", labels);
	ch->m_errors = hb_metrics_counter(m, "send_errors_total",
	    "Failed sends that will be retried.", labels);
	if (kind == CH_TELEGRAM) {
		ch->m_up = hb_metrics_gauge(m, "telegram_up",
		    "1 when the last Telegram request succeeded.", NULL);
		hb_gauge_set(ch->m_up, 1);
	}
}

void
channel_set(struct channel *ch, bool ok, const char *reason)
{
	if (ok != ch->ok || ch->since_ms == 0) {
		if (ok && ch->since_ms != 0)
			hb_info("%s reachable again outbox=%lld", ch->name,
			    (long long)hb_outbox_count(ch->outbox));
		else if (!ok)
			hb_warn("%s unavailable reason=\"%s\" (messages wait in the "
			    "outbox; nothing is lost)", ch->name, reason);
		ch->since_ms = hb_wall_ms();
	}
	ch->ok = ok;
	snprintf(ch->reason, sizeof(ch->reason), "%s", ok ? "" : reason);
	if (ch->m_up)
		hb_gauge_set(ch->m_up, ok ? 1 : 0);
}

void
channel_json(const struct channel *ch, json_t *out, bool configured)
{
	json_t *o = json_object();

	json_object_set_new(o, "configured", json_boolean(configured));
	if (configured) {
		json_object_set_new(o, "state", json_string(ch->ok ? "ok" : "down"));
		if (!ch->ok)
			json_object_set_new(o, "reason", json_string(ch->reason));
		json_object_set_new(o, "since", hb_msg_time(ch->since_ms));
	}
	json_object_set_new(o, "delivered",
	    json_integer((json_int_t)ch->m_delivered->value));
	json_object_set_new(o, "dead_lettered",
	    json_integer((json_int_t)ch->m_dead->value));
	json_object_set_new(out, ch->name, o);
}
