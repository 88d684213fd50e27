/*
 * delivery: lanes, the pump, and what each answer means (see delivery.h).
 */
#include "delivery.h"
#include "telegram.h"

#include "hb_log.h"
#include "hb_rate.h"
#include "hb_util.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#define TG_LANE_PREFIX "telegram:"
#define MAX_ANSWER (64 << 10)	/* an API answer is a few hundred bytes */
#define RETRY_LOCAL_MS 1000	/* after a local failure (outbox, no request) */

/* One destination: messages leave it in order, one request at a time. */
struct lane {
	TAILQ_ENTRY(lane) entry;
	struct delivery *d;
	char name[HB_OUTBOX_LANE_MAX];
	enum channel_kind channel;
	long long chat_id;
	bool group;		/* negative chat id: Telegram's group limit */
	bool unknown;		/* neither "webhook" nor "telegram:<id>" */
	bool configured;	/* its channel and chat are still configured */
	bool has_items;		/* false once the outbox said it is empty */
	bool busy;
	int64_t not_before_ms;	/* monotonic: backoff or retry_after */
	struct hb_rate per_chat;
	struct hb_rate per_group;
	struct hb_backoff backoff;
	struct hb_outbox_item item;	/* the message in flight */
	char progress[160];		/* meta key of its message_id, or "" */
	bool edit;			/* it is an editMessageText */
	struct hb_http_xfer *xfer;
	int64_t sent_ms;		/* when it started */
};

TAILQ_HEAD(lane_list, lane);

struct delivery {
	struct delivery_config cfg;
	struct hb_http_client *http;
	struct hb_outbox *outbox;
	struct channel *ch;		/* [CH_COUNT] */
	struct lane_list lanes;
	struct hb_rate tg_global;
	int64_t tg_not_before_ms;	/* a 429 pauses every chat */
	struct event *ev_pump;
	int64_t wake_ms;		/* when ev_pump fires; INT64_MAX: unarmed */
	bool stopping;
	delivery_answered_fn answered;
	void *answered_arg;
	struct hb_ratelimit send_log;
	struct hb_counter *m_rate_limited;
	struct hb_gauge *m_outbox;
};

static int64_t
max64(int64_t a, int64_t b)
{
	return a > b ? a : b;
}

static int64_t
now_ms(const struct delivery *d)
{
	return d->cfg.clock ? d->cfg.clock() : hb_mono_ms();
}

static bool
telegram_on(const struct delivery *d)
{
	return d->cfg.token != NULL;
}

static bool
webhook_on(const struct delivery *d)
{
	return d->cfg.webhook_url != NULL && d->cfg.webhook_url[0] != '\0';
}

static bool
configured_chat(const struct delivery *d, long long chat_id)
{
	if (d->cfg.chats == NULL)
		return true;
	for (size_t i = 0; i < d->cfg.nchats; i++)
		if (d->cfg.chats[i] == chat_id)
			return true;
	return false;
}

/* ---------------- lanes ---------------- */

void
delivery_telegram_lane(long long chat_id, char *out, size_t outlen)
{
	snprintf(out, outlen, TG_LANE_PREFIX "%lld", chat_id);
}

static struct lane *
lane_get(struct delivery *d, const char *name)
{
	struct lane *l;
	long long id;

	TAILQ_FOREACH(l, &d->lanes, entry)
		if (strcmp(l->name, name) == 0)
			return l;
	l = hb_xcalloc(1, sizeof(*l));
	l->d = d;
	snprintf(l->name, sizeof(l->name), "%s", name);
	if (strncmp(name, TG_LANE_PREFIX, strlen(TG_LANE_PREFIX)) == 0 &&
	    hb_parse_ll(name + strlen(TG_LANE_PREFIX), -TELEGRAM_CHAT_ID_MAX,
	    TELEGRAM_CHAT_ID_MAX, &id) == 0) {
		l->channel = CH_TELEGRAM;
		l->chat_id = id;
		l->group = id < 0;
		l->configured = telegram_on(d) && configured_chat(d, id);
	} else if (strcmp(name, DELIVERY_WEBHOOK_LANE) == 0) {
		l->channel = CH_WEBHOOK;
		l->configured = webhook_on(d);
	} else {
		/*
		 * A row put in the outbox by hand (a dead letter copied back
		 * with a typo): it is for no channel we have, and the webhook
		 * must not get what was meant for somewhere else.
		 */
		l->channel = CH_WEBHOOK;
		l->unknown = true;
		l->configured = false;
	}
	hb_rate_init(&l->per_chat, 1, d->cfg.chat_interval_ms);
	hb_rate_init(&l->per_group, d->cfg.group_max,
	    l->group ? d->cfg.group_window_ms : 0);
	hb_backoff_init(&l->backoff, d->cfg.retry_min_ms, d->cfg.retry_max_ms);
	TAILQ_INSERT_TAIL(&d->lanes, l, entry);
	return l;
}

static void
lane_free(struct lane *l)
{
	if (l->xfer)
		hb_http_cancel(l->xfer);
	hb_rate_free(&l->per_chat);
	hb_rate_free(&l->per_group);
	hb_buf_free(&l->item.body);
	free(l);
}

void
delivery_note_lane(struct delivery *d, const char *lane)
{
	lane_get(d, lane)->has_items = true;
}

/* When the lane may send next (monotonic ms). */
static int64_t
lane_ready_at(struct delivery *d, struct lane *l, int64_t now)
{
	int64_t at = max64(now, l->not_before_ms);

	if (l->channel == CH_TELEGRAM) {
		at = max64(at, d->tg_not_before_ms);
		at = max64(at, hb_rate_next(&l->per_chat, now));
		at = max64(at, hb_rate_next(&l->per_group, now));
		at = max64(at, hb_rate_next(&d->tg_global, now));
	}
	return at;
}

/* ---------------- sending ---------------- */

static void on_sent(const struct hb_http_response *resp, void *arg);

/*
 * The Telegram request for the lane's head message: its method and body
 * (malloc'd, caller frees) with the private keys of delivery.h read and
 * removed. A body that is not JSON goes as it is (Telegram judges it).
 */
static char *
telegram_request(struct delivery *d, struct lane *l, const char **method)
{
	json_t *o = json_loadb(l->item.body.data, l->item.body.len, 0, NULL);
	const char *progress, *edit;
	char *out, *v;
	long long id;

	*method = "sendMessage";
	l->progress[0] = '\0';
	l->edit = false;
	if (!json_is_object(o)) {
		json_decref(o);
		return hb_xstrndup(l->item.body.data, l->item.body.len);
	}
	progress = json_string_value(json_object_get(o, DELIVERY_PROGRESS_KEY));
	edit = json_string_value(json_object_get(o, DELIVERY_EDIT_KEY));
	if (progress)
		snprintf(l->progress, sizeof(l->progress), "progress:%lld:%s",
		    l->chat_id, progress);
	if (edit) {
		char key[160];

		snprintf(key, sizeof(key), "progress:%lld:%s", l->chat_id, edit);
		v = hb_outbox_meta_get(d->outbox, key);
		if (v && hb_parse_ll(v, 1, LLONG_MAX, &id) == 0) {
			*method = "editMessageText";
			l->edit = true;
			json_object_set_new(o, "message_id", json_integer(id));
			json_object_del(o, "disable_notification");
		} else {
			/* no message to edit: the progress goes anew, quietly */
			json_object_set_new(o, "disable_notification", json_true());
		}
		free(v);
	}
	json_object_del(o, DELIVERY_PROGRESS_KEY);
	json_object_del(o, DELIVERY_EDIT_KEY);
	out = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	return out;
}

/* Starts the request for the lane's head message. 0, or -1 if it did not. */
static int
lane_send(struct delivery *d, struct lane *l, int64_t now)
{
	struct hb_http_request req = { 0 };
	const char *headers[3] = { "Content-Type: application/json", NULL, NULL };
	struct hb_buf url = { 0 }, auth = { 0 };
	const char *method;
	char *body = NULL;

	if (!l->configured)
		return -1;
	if (l->channel == CH_TELEGRAM) {
		body = telegram_request(d, l, &method);
		hb_buf_printf(&url, "%s/bot%s/%s", d->cfg.api_url, d->cfg.token,
		    method);
		req.timeout_ms = d->cfg.tg_timeout_ms;
	} else {
		hb_buf_puts(&url, d->cfg.webhook_url);
		if (d->cfg.webhook_token) {
			hb_buf_printf(&auth, "Authorization: Bearer %s",
			    d->cfg.webhook_token);
			headers[1] = auth.data;
		}
		req.timeout_ms = d->cfg.webhook_timeout_ms;
	}
	req.method = "POST";
	req.url = url.data;
	req.headers = headers;
	req.body = body ? body : l->item.body.data;
	req.body_len = body ? strlen(body) : l->item.body.len;
	req.max_response = MAX_ANSWER;
	l->xfer = hb_http_request(d->http, &req, on_sent, l);
	hb_buf_free(&url);
	hb_buf_free(&auth);
	free(body);
	if (l->xfer == NULL)
		return -1;
	l->busy = true;
	l->sent_ms = now;
	if (l->channel == CH_TELEGRAM) {
		hb_rate_take(&l->per_chat, now);
		hb_rate_take(&l->per_group, now);
		hb_rate_take(&d->tg_global, now);
	}
	return 0;
}

/*
 * A message on a lane its channel no longer has, for a chat no longer in
 * chat_ids or command_chat_ids (the configuration changed), or on a lane
 * that names no channel at all.
 */
static int
lane_orphan(struct delivery *d, struct lane *l)
{
	char name[2 * HB_OUTBOX_LANE_MAX];

	if (hb_outbox_dead_letter(d->outbox, &l->item, 0, l->unknown ?
	    "unknown lane: neither webhook nor telegram:<chat id>" :
	    "channel no longer configured") != 0)
		return -1;
	hb_log_sanitize(l->name, strlen(l->name), name, sizeof(name));
	if (l->unknown) {
		/* no channel of ours: not counted as the webhook's */
		hb_error("outbox message on lane=\"%s\", which is neither webhook "
		    "nor telegram:<chat id> (copied back by hand with a typo?): "
		    "dead-lettered id=%lld label=\"%s\"", name,
		    (long long)l->item.id, l->item.label);
		return 0;
	}
	hb_error("outbox message for %s, which is no longer configured: "
	    "dead-lettered id=%lld label=\"%s\"", name, (long long)l->item.id,
	    l->item.label);
	hb_counter_add(d->ch[l->channel].m_dead, 1);
	return 0;
}

/*
 * Sends what the lane may send now. Returns when it may send next
 * (monotonic ms), or INT64_MAX when only an answer or a new message can
 * move it.
 */
static int64_t
lane_pump(struct delivery *d, struct lane *l, int64_t now)
{
	int64_t at;
	int r;

	while (!l->busy && l->has_items) {
		at = lane_ready_at(d, l, now);
		if (at > now)
			return at;
		r = hb_outbox_head(d->outbox, l->name, &l->item);
		if (r == 0) {
			l->has_items = false;
			break;
		}
		if (r < 0) {
			/* a read error: this lane tries again by itself, not only
			 * when another lane or a new message wakes the pump */
			l->not_before_ms = now + RETRY_LOCAL_MS;
			return l->not_before_ms;
		}
		if (lane_send(d, l, now) == 0)
			break;
		if (!l->configured && lane_orphan(d, l) == 0)
			continue;
		l->not_before_ms = now + RETRY_LOCAL_MS;
	}
	return INT64_MAX;
}

static void
on_pump_timer(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	delivery_pump(arg);
}

void
delivery_pump(struct delivery *d)
{
	int64_t now = now_ms(d), wake = INT64_MAX;
	struct lane *l;

	if (d->stopping)
		return;
	TAILQ_FOREACH(l, &d->lanes, entry) {
		int64_t at = lane_pump(d, l, now);

		if (at < wake)
			wake = at;
	}
	hb_gauge_set(d->m_outbox, (double)hb_outbox_count(d->outbox));
	evtimer_del(d->ev_pump);
	d->wake_ms = wake;
	if (wake != INT64_MAX) {
		int64_t ms = wake - now;
		hb_timer_add_ms(d->ev_pump, ms);
	}
}

int64_t
delivery_next_ms(const struct delivery *d)
{
	return d->wake_ms;
}

/* ---------------- answers ---------------- */

/* The webhook's answers, in Telegram's terms. */
static void
webhook_answer(const struct hb_http_response *resp, struct telegram_answer *a)
{
	long st = resp->status;

	memset(a, 0, sizeof(*a));
	a->error_code = st;
	a->retry_after_s = resp->retry_after_s;
	if (st >= 200 && st < 300)
		a->verdict = TG_DELIVERED;
	else if (st == 429)
		a->verdict = TG_WAIT;
	else if (st == 401 || st == 403 || st == 404)
		a->verdict = TG_AUTH;	/* the URL or token is wrong: keep */
	else if (st >= 400 && st < 500 && st != 408)
		a->verdict = TG_REFUSED;
	else
		a->verdict = TG_RETRY;
	if (st > 0) {
		char excerpt[160];

		hb_log_sanitize(resp->body, resp->body_len < 120 ? resp->body_len :
		    120, excerpt, sizeof(excerpt));
		snprintf(a->description, sizeof(a->description), "HTTP %ld%s%s", st,
		    excerpt[0] ? ": " : "", excerpt);
	}
}

/*
 * What the answer means, in Telegram's terms for either channel, with no
 * token left in its description. For Telegram, the limits are counted
 * from now: Telegram had the message by the time its answer came, so they
 * hold for what Telegram sees even when one request took longer on the
 * way than the next.
 */
static void
lane_judge(struct lane *l, const struct hb_http_response *resp, int64_t now,
    struct telegram_answer *a)
{
	struct delivery *d = l->d;
	char reason[512];

	if (l->channel == CH_TELEGRAM) {
		hb_rate_move(&l->per_chat, l->sent_ms, now);
		hb_rate_move(&l->per_group, l->sent_ms, now);
		hb_rate_move(&d->tg_global, l->sent_ms, now);
		telegram_answer(resp->status, resp->body, resp->body_len,
		    resp->retry_after_s, a);
	} else
		webhook_answer(resp, a);
	if (resp->status == 0) {
		a->verdict = TG_RETRY;
		snprintf(a->description, sizeof(a->description), "%s",
		    resp->error ? resp->error : "no answer");
	}
	/* whatever the server said, no token in what we keep or log */
	telegram_mask(a->description, d->cfg.token, reason, sizeof(reason));
	if (d->cfg.webhook_token)
		telegram_mask(reason, d->cfg.webhook_token, a->description,
		    sizeof(a->description));
	else
		snprintf(a->description, sizeof(a->description), "%s", reason);
}

/* A progress message delivered: its message_id kept for the edits. */
static void
keep_progress(struct lane *l, const struct hb_http_response *resp)
{
	json_t *o = json_loadb(resp->body, resp->body_len, 0, NULL);
	json_t *id = json_object_get(json_object_get(o, "result"), "message_id");
	char val[32];

	if (json_is_integer(id)) {
		snprintf(val, sizeof(val), "%lld", (long long)json_integer_value(id));
		if (hb_outbox_meta_set(l->d->outbox, l->progress, val) != 0)
			hb_warn("cannot store %s in the outbox: its progress comes as "
			    "new messages", l->progress);
	}
	json_decref(o);
}

static void
lane_delivered(struct lane *l)
{
	struct delivery *d = l->d;

	hb_outbox_remove(d->outbox, l->item.id);
	hb_counter_add(d->ch[l->channel].m_delivered, 1);
	hb_backoff_reset(&l->backoff);
	channel_set(&d->ch[l->channel], true, NULL);
	hb_debug("delivered lane=%s id=%lld label=\"%s\" attempts=%d", l->name,
	    (long long)l->item.id, l->item.label, l->item.attempts + 1);
}

/* 429: the lane waits retry_after, and for Telegram every chat does. */
static void
lane_wait(struct lane *l, const struct telegram_answer *a, int64_t now)
{
	struct delivery *d = l->d;
	int64_t delay;

	hb_outbox_note_attempt(d->outbox, l->item.id);
	hb_counter_add(d->m_rate_limited, 1);
	delay = a->retry_after_s >= 0 ? a->retry_after_s * 1000 :
	    hb_backoff_next(&l->backoff);
	l->not_before_ms = now + delay;
	if (l->channel == CH_TELEGRAM)
		d->tg_not_before_ms = max64(d->tg_not_before_ms, now + delay);
	hb_log_limited(&d->send_log, HB_LOG_WARN, "%s asked us to slow down "
	    "lane=%s retry_after_ms=%lld reason=\"%s\"", d->ch[l->channel].name,
	    l->name, (long long)delay, a->description);
}

/* Refused for good: to the dead letters, and the next one goes. */
static void
lane_refused(struct lane *l, const struct telegram_answer *a, int64_t now)
{
	struct delivery *d = l->d;

	if (hb_outbox_dead_letter(d->outbox, &l->item, (int)a->error_code,
	    a->description) != 0) {
		l->not_before_ms = now + RETRY_LOCAL_MS;
		return;
	}
	hb_counter_add(d->ch[l->channel].m_dead, 1);
	channel_set(&d->ch[l->channel], true, NULL);
	hb_error("%s refused a message for good: dead-lettered lane=%s id=%lld "
	    "label=\"%s\" status=%ld reason=\"%s\"%s", d->ch[l->channel].name,
	    l->name, (long long)l->item.id, l->item.label, a->error_code,
	    a->description, a->migrate_to_chat_id ? " (the group became a "
	    "supergroup: put its new id in notifier.telegram.chat_ids)" : "");
}

/* A network error, 5xx, or a wrong token: kept first, backoff, reported. */
static void
lane_failed(struct lane *l, const struct telegram_answer *a, long status,
    int64_t now)
{
	struct delivery *d = l->d;
	char reason[512];
	int64_t delay;

	hb_outbox_note_attempt(d->outbox, l->item.id);
	hb_counter_add(d->ch[l->channel].m_errors, 1);
	delay = hb_backoff_next(&l->backoff);
	l->not_before_ms = now + delay;
	if (a->verdict == TG_AUTH)
		snprintf(reason, sizeof(reason), "%s (%s)", a->description,
		    l->channel == CH_TELEGRAM ? "is the bot token right? "
		    "notifier.telegram.token_file" : "check notifier.webhook.url "
		    "and its token");
	else
		snprintf(reason, sizeof(reason), "%s", a->description);
	channel_set(&d->ch[l->channel], false, reason);
	hb_log_limited(&d->send_log, HB_LOG_WARN, "%s send failed lane=%s "
	    "id=%lld status=%ld reason=\"%s\" retry_in_ms=%lld outbox=%lld",
	    d->ch[l->channel].name, l->name, (long long)l->item.id, status, reason,
	    (long long)delay, (long long)hb_outbox_count(d->outbox));
}

static void
on_sent(const struct hb_http_response *resp, void *arg)
{
	struct lane *l = arg;
	struct delivery *d = l->d;
	struct telegram_answer a;
	int64_t now = now_ms(d);

	l->xfer = NULL;
	l->busy = false;
	lane_judge(l, resp, now, &a);
	/* an edit to the text it already has: nothing left to do */
	if (l->edit && a.verdict == TG_REFUSED &&
	    strstr(a.description, "message is not modified"))
		a.verdict = TG_DELIVERED;
	if (a.verdict == TG_DELIVERED && l->progress[0])
		keep_progress(l, resp);
	switch (a.verdict) {
	case TG_DELIVERED:
		lane_delivered(l);
		break;
	case TG_WAIT:
		lane_wait(l, &a, now);
		break;
	case TG_REFUSED:
		lane_refused(l, &a, now);
		break;
	case TG_AUTH:
	case TG_RETRY:
		lane_failed(l, &a, resp->status, now);
		break;
	}
	l->has_items = true;
	if (!d->stopping)
		delivery_pump(d);
	else if (d->answered)
		d->answered(d->answered_arg);
}

/* ---------------- life ---------------- */

struct delivery *
delivery_new(const struct delivery_config *cfg, struct event_base *base,
    struct hb_http_client *http, struct hb_outbox *outbox,
    struct channel *channels, struct hb_metrics *m)
{
	struct delivery *d = hb_xcalloc(1, sizeof(*d));

	d->cfg = *cfg;
	d->http = http;
	d->outbox = outbox;
	d->ch = channels;
	TAILQ_INIT(&d->lanes);
	hb_rate_init(&d->tg_global, cfg->global_per_s, 1000);
	d->ev_pump = evtimer_new(base, on_pump_timer, d);
	d->wake_ms = INT64_MAX;
	hb_ratelimit_init(&d->send_log, 12, 5);
	d->m_rate_limited = hb_metrics_counter(m, "rate_limited_total",
	    "429 answers (retry_after honoured).", NULL);
	d->m_outbox = hb_metrics_gauge(m, "outbox_messages",
	    "Messages waiting in the outbox.", NULL);
	return d;
}

void
delivery_stop(struct delivery *d, delivery_answered_fn answered, void *arg)
{
	d->stopping = true;
	d->answered = answered;
	d->answered_arg = arg;
	evtimer_del(d->ev_pump);
	d->wake_ms = INT64_MAX;
}

bool
delivery_busy(const struct delivery *d)
{
	const struct lane *l;

	TAILQ_FOREACH(l, &d->lanes, entry)
		if (l->busy)
			return true;
	return false;
}

void
delivery_free(struct delivery *d)
{
	struct lane *l;

	if (d == NULL)
		return;
	while ((l = TAILQ_FIRST(&d->lanes)) != NULL) {
		TAILQ_REMOVE(&d->lanes, l, entry);
		lane_free(l);
	}
	hb_rate_free(&d->tg_global);
	if (d->ev_pump)
		event_free(d->ev_pump);
	free(d);
}
