/*
 * route: notifications and replies into the outbox (see route.h).
 */
#include "route.h"
#include "telegram.h"

#include "hb_log.h"
#include "hb_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MUTE_KEY "mute_until_ms"

struct router {
	struct route_config cfg;
	struct hb_outbox *outbox;
	struct delivery *delivery;
	struct channel *ch;		/* [CH_COUNT] */
	int64_t mute_until_ms;		/* wall clock; 0: none */
	struct hb_counter *m_filtered, *m_would_send, *m_lost;
	struct hb_gauge *m_muted;
};

static bool
webhook_on(const struct router *r)
{
	return r->cfg.webhook_url != NULL && r->cfg.webhook_url[0] != '\0';
}

static bool
muted(const struct router *r)
{
	return r->mute_until_ms > hb_wall_ms();
}

static const char *
default_title(const struct hb_notify *n)
{
	static const char *const titles[] = { "Info", "Warning", "Error",
	    "Critical" };

	if (n->title)
		return n->title;
	if (n->source)
		return n->source;
	return titles[n->severity <= HB_SEV_CRITICAL ? n->severity : 0];
}

/* Adds the parts of one Telegram message to the outbox (in a transaction). */
static int
queue_telegram(struct router *r, long long chat_id, const char *icon,
    const char *title, const char *text, bool silent, const char *label,
    const struct reply_how *how)
{
	struct telegram_text t = { chat_id, icon, title, text, silent };
	json_t *parts = telegram_render(&t, TELEGRAM_MAX_CHARS), *part;
	char lane[HB_OUTBOX_LANE_MAX];
	size_t i;
	int rc = 0;

	delivery_telegram_lane(chat_id, lane, sizeof(lane));
	json_array_foreach(parts, i, part) {
		char *body;

		/* delivery reads these private keys and sends without them */
		if (how && how->progress && i == 0)
			json_object_set_new(part, how->edit ? DELIVERY_EDIT_KEY :
			    DELIVERY_PROGRESS_KEY, json_string(how->progress));
		if (how && how->edit && i > 0)
			break;		/* an edit is one message */
		if (how && how->reply_to > 0 && i == 0)
			json_object_set_new(part, "reply_parameters", json_pack(
			    "{s:I, s:b}", "message_id", (json_int_t)how->reply_to,
			    "allow_sending_without_reply", 1));
		body = json_dumps(part, JSON_COMPACT);

		if (body == NULL || hb_outbox_add(r->outbox, lane, label, body,
		    strlen(body)) < 0)
			rc = -1;
		free(body);
		if (rc != 0)
			break;
		hb_counter_add(r->ch[CH_TELEGRAM].m_queued, 1);
	}
	json_decref(parts);
	if (rc == 0)
		delivery_note_lane(r->delivery, lane);
	return rc;
}

static int
queue_webhook(struct router *r, const struct hb_notify *n, int repeats,
    const char *label)
{
	json_t *o = json_object();
	char *body;
	int rc;

	json_object_set_new(o, "severity",
	    json_string(hb_severity_name(n->severity)));
	json_object_set_new(o, "title", json_string(default_title(n)));
	json_object_set_new(o, "text", json_string(n->text));
	if (n->key)
		json_object_set_new(o, "key", json_string(n->key));
	if (n->source)
		json_object_set_new(o, "source", json_string(n->source));
	if (repeats > 0)
		json_object_set_new(o, "repeats", json_integer(repeats));
	json_object_set_new(o, "time", hb_msg_time(hb_wall_ms()));
	json_object_set_new(o, "instance", json_string(r->cfg.instance));
	body = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	rc = body && hb_outbox_add(r->outbox, DELIVERY_WEBHOOK_LANE, label, body,
	    strlen(body)) > 0 ? 0 : -1;
	free(body);
	if (rc == 0) {
		hb_counter_add(r->ch[CH_WEBHOOK].m_queued, 1);
		delivery_note_lane(r->delivery, DELIVERY_WEBHOOK_LANE);
	}
	return rc;
}

/* With no channel at all (the quickstart), a notification is only logged. */
static void
log_only(struct router *r, const struct hb_notify *n, const char *title)
{
	char text[600];

	hb_log_sanitize(n->text, strlen(n->text), text, sizeof(text));
	hb_counter_add(r->m_would_send, 1);
	hb_info("would send (no channel configured: set notifier.telegram."
	    "chat_ids or notifier.webhook.url) severity=%s title=\"%s\" "
	    "text=\"%s\"", hb_severity_name(n->severity), title, text);
}

static bool
log_only_mode(const struct router *r)
{
	return r->cfg.nchats == 0 && !webhook_on(r);
}

/* How many destinations there are: the chats, then the webhook or the log. */
static size_t
destinations(const struct router *r)
{
	return r->cfg.nchats + 1;
}

/* True when destination d takes severity sev. */
static bool
takes(const struct router *r, size_t d, enum hb_severity sev)
{
	if (d < r->cfg.nchats)
		return (int)sev >= r->cfg.chats[d].min_sev;
	if (d == r->cfg.nchats && webhook_on(r))
		return (int)sev >= r->cfg.webhook_min_sev;
	/* the log, with no channel at all, shows what would have been sent */
	return d == r->cfg.nchats && log_only_mode(r);
}

/*
 * Adds n for each destination d with to[d], inside the caller's
 * transaction. 0, or -1 when the outbox refused one.
 */
static int
queue_to(struct router *r, const struct hb_notify *n, int repeats,
    const char *label, const bool *to)
{
	const char *title = default_title(n);
	bool silent = n->severity == HB_SEV_INFO ||
	    (muted(r) && n->severity < HB_SEV_CRITICAL);

	for (size_t i = 0; i < r->cfg.nchats; i++) {
		if (!to[i])
			continue;
		if (queue_telegram(r, r->cfg.chats[i].id,
		    telegram_severity_icon((int)n->severity), title, n->text,
		    silent, label, NULL) != 0)
			return -1;
	}
	if (to[r->cfg.nchats] && webhook_on(r) &&
	    queue_webhook(r, n, repeats, label) != 0)
		return -1;
	return 0;
}

/* Puts n in the outbox for the destinations d with to[d], all or nothing. */
static void
deliver(struct router *r, const struct hb_notify *n, int repeats,
    const bool *to)
{
	const char *title = default_title(n);
	char label[256], safe[200];

	hb_log_sanitize(title, strlen(title), safe, sizeof(safe));
	snprintf(label, sizeof(label), "%s: %s", hb_severity_name(n->severity),
	    safe);
	if (log_only_mode(r)) {
		if (to[0])
			log_only(r, n, safe);
		return;
	}
	if (hb_outbox_begin(r->outbox) != 0) {
		hb_counter_add(r->m_lost, 1);
		hb_error("outbox unavailable (%s): notification lost label=\"%s\"",
		    r->cfg.outbox_path, label);
		return;
	}
	if (queue_to(r, n, repeats, label, to) != 0) {
		hb_outbox_rollback(r->outbox);
		hb_counter_add(r->m_lost, 1);
		hb_error("cannot write to the outbox %s (disk full?): notification "
		    "lost label=\"%s\"", r->cfg.outbox_path, label);
		return;
	}
	if (hb_outbox_commit(r->outbox) != 0) {
		hb_counter_add(r->m_lost, 1);
		hb_error("outbox commit failed: notification lost label=\"%s\"",
		    label);
		return;
	}
	delivery_pump(r->delivery);
}

void
route_notify(struct router *r, const struct hb_notify *n)
{
	size_t nd = destinations(r);
	bool *to = hb_xcalloc(nd, sizeof(*to));
	bool any = false;

	/*
	 * Filter first, then dedupe: a destination that does not take n
	 * neither opens a window for it nor counts it as folded, so that a
	 * summary tells a destination only of what it would have received.
	 */
	for (size_t d = 0; d < nd; d++) {
		to[d] = takes(r, d, n->severity);
		any = any || to[d];
	}
	if (!any) {
		hb_counter_add(r->m_filtered, 1);
		hb_debug("no destination takes severity=%s",
		    hb_severity_name(n->severity));
		goto out;
	}
	/* before our transaction: a hold may hand on summaries of its own */
	any = false;
	for (size_t d = 0; d < nd; d++) {
		if (to[d] && r->cfg.hold && r->cfg.hold(r->cfg.hold_arg, d, n))
			to[d] = false;
		any = any || to[d];
	}
	if (any)
		deliver(r, n, 0, to);
out:
	free(to);
}

void
route_summary(struct router *r, size_t dest, const struct hb_notify *n,
    int repeats)
{
	size_t nd = destinations(r);
	bool *to;

	if (dest >= nd)
		return;
	to = hb_xcalloc(nd, sizeof(*to));
	to[dest] = true;
	deliver(r, n, repeats, to);
	free(to);
}

int
route_reply(struct router *r, long long chat_id, const char *icon,
    const char *title, const char *text)
{
	return route_reply_how(r, chat_id, icon, title, text, NULL);
}

int
route_reply_how(struct router *r, long long chat_id, const char *icon,
    const char *title, const char *text, const struct reply_how *how)
{
	if (!r->cfg.telegram)
		return -1;
	if (hb_outbox_begin(r->outbox) != 0)
		return -1;
	if (queue_telegram(r, chat_id, icon, title, text, how && how->edit,
	    how && how->edit ? "progress" : "reply", how) != 0 ||
	    hb_outbox_commit(r->outbox) != 0) {
		hb_outbox_rollback(r->outbox);
		hb_error("cannot queue a Telegram reply chat=%lld", chat_id);
		return -1;
	}
	delivery_pump(r->delivery);
	return 0;
}

int
route_mute(struct router *r, int64_t until_ms)
{
	char val[32];

	/* in memory first: whoever asked gets the mute they asked for now */
	r->mute_until_ms = until_ms;
	hb_gauge_set(r->m_muted, until_ms > 0 ? 1 : 0);
	snprintf(val, sizeof(val), "%lld", (long long)until_ms);
	if (hb_outbox_meta_set(r->outbox, MUTE_KEY, val) != 0) {
		if (until_ms > 0)
			hb_error("cannot store the mute in %s (disk full? "
			    "read-only?): in force until the notifier stops, not "
			    "across a restart", r->cfg.outbox_path);
		else
			hb_error("cannot store the end of the mute in %s (disk full? "
			    "read-only?): a restart brings back the mute stored "
			    "before", r->cfg.outbox_path);
		return -1;
	}
	return 0;
}

int64_t
route_muted_until(const struct router *r)
{
	return muted(r) ? r->mute_until_ms : 0;
}

/* The mute's gauge falls back to 0 once it ended by itself. */
void
route_tick(struct router *r)
{
	if (r->mute_until_ms && !muted(r))
		hb_gauge_set(r->m_muted, 0);
}

struct router *
route_new(const struct route_config *cfg, struct hb_outbox *outbox,
    struct delivery *d, struct channel *channels, struct hb_metrics *m)
{
	struct router *r = hb_xcalloc(1, sizeof(*r));
	char *v;
	long long n;

	r->cfg = *cfg;
	r->outbox = outbox;
	r->delivery = d;
	r->ch = channels;
	r->m_filtered = hb_metrics_counter(m, "notifications_filtered_total",
	    "Notifications below every destination's min_severity.", NULL);
	r->m_would_send = hb_metrics_counter(m, "notifications_logged_total",
	    "Notifications only logged because no channel is configured.", NULL);
	r->m_lost = hb_metrics_counter(m, "notifications_lost_total",
	    "Notifications that could not be written to the outbox.", NULL);
	r->m_muted = hb_metrics_gauge(m, "muted", "1 while /mute is in force.",
	    NULL);
	v = hb_outbox_meta_get(outbox, MUTE_KEY);
	if (v && hb_parse_ll(v, 0, LLONG_MAX, &n) == 0)
		r->mute_until_ms = n;
	free(v);
	hb_gauge_set(r->m_muted, muted(r) ? 1 : 0);
	return r;
}

void
route_free(struct router *r)
{
	free(r);
}
