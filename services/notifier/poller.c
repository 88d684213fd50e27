/*
 * poller: getUpdates, its offset, and getMe (see poller.h).
 */
#include "poller.h"
#include "chat.h"

#include "hb_log.h"
#include "hb_util.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define POLL_LIMIT 20			/* updates per getUpdates answer */
#define POLL_MAX_RESPONSE (4 << 20)	/* far above 20 updates' worth */
#define GETME_RETRY_MS 60000
#define OFFSET_KEY "telegram_offset"

struct poller {
	struct poll_config cfg;
	struct hb_http_client *http;
	struct hb_outbox *outbox;
	struct channel *telegram;
	struct chat *chat;		/* takes each update */
	bool stopping;
	struct hb_http_xfer *poll_xfer;
	long long offset;
	int poll_limit;			/* 1 after an answer too big to take */
	int64_t poll_at_ms;		/* monotonic: no poll before */
	struct hb_backoff backoff;
	struct event *ev_poll;
	struct hb_http_xfer *me_xfer;	/* getMe */
	bool me_tried;			/* the first getMe has answered */
	int64_t me_retry_ms;
	char bot_name[65];		/* from getMe; "" until it answered */
	struct hb_ratelimit log;
	struct hb_counter *m_rate_limited;
};

static void schedule(struct poller *p, int64_t delay_ms);

static int64_t
now_ms(const struct poller *p)
{
	return p->cfg.clock ? p->cfg.clock() : hb_mono_ms();
}

/* ---------------- the offset ---------------- */

long long
poll_next_offset(const struct telegram_update *u, size_t n, long long stored)
{
	long long max = -1;

	for (size_t i = 0; i < n; i++)
		if (u[i].update_id > max && u[i].update_id < LLONG_MAX)
			max = u[i].update_id;
	return max >= 0 ? max + 1 : stored;
}

/*
 * Confirms a batch by storing its offset (in memory only once stored).
 * 0, or -1 when it could not be stored: then nothing in the batch may be
 * acted on, since after a restart Telegram would hand it over again.
 */
static int
save_offset(struct poller *p, long long next)
{
	char val[32];

	snprintf(val, sizeof(val), "%lld", next);
	if (hb_outbox_meta_set(p->outbox, OFFSET_KEY, val) != 0)
		return -1;
	p->offset = next;
	return 0;
}

/* A batch of updates taken whole: confirmed first, then acted on. */
static void
take_updates(struct poller *p, struct telegram_update *u, size_t n)
{
	long long next = poll_next_offset(u, n, p->offset);
	int64_t delay;

	hb_backoff_reset(&p->backoff);
	channel_set(p->telegram, true, NULL);
	p->poll_limit = POLL_LIMIT;
	if (n > 0 && next == p->offset) {
		/* only updates this offset already confirmed: never twice */
		delay = hb_backoff_next(&p->backoff);
		hb_log_limited(&p->log, HB_LOG_WARN, "telegram getUpdates "
		    "returned updates=%zu already confirmed by offset=%lld: "
		    "ignored, asking again in %lld ms", n, p->offset,
		    (long long)delay);
		schedule(p, delay);
		return;
	}
	/*
	 * The offset is stored before anything is acted on: after a crash a
	 * command is lost rather than run twice (a deploy must not be).
	 */
	if (n > 0 && save_offset(p, next) != 0) {
		delay = hb_backoff_next(&p->backoff);
		hb_log_limited(&p->log, HB_LOG_ERROR, "cannot store the telegram "
		    "offset in %s (disk full? read-only?): updates=%zu not acted "
		    "on, asking again in %lld ms", p->cfg.outbox_path, n,
		    (long long)delay);
		schedule(p, delay);
		return;
	}
	for (size_t i = 0; i < n; i++)
		chat_update(p->chat, &u[i], p->bot_name, now_ms(p), hb_wall_ms());
	schedule(p, 0);
}

/* ---------------- getUpdates ---------------- */

/*
 * A failed poll: what went wrong into err (already set for an answer that
 * did not parse), the channel told when the sends would fail the same
 * way, and the next poll after backoff or retry_after.
 */
static void
poll_failed(struct poller *p, const struct hb_http_response *resp, char *err,
    size_t errlen)
{
	struct telegram_answer a;
	char masked[400];
	int64_t delay = -1;

	if (resp->status == 0)
		snprintf(err, errlen, "%s", resp->error ? resp->error : "no answer");
	else if (resp->status != 200) {
		telegram_answer(resp->status, resp->body, resp->body_len,
		    resp->retry_after_s, &a);
		snprintf(err, errlen, "status %ld: %s", resp->status,
		    a.description);
		/* Telegram says how long in parameters.retry_after, not a header */
		if (a.verdict == TG_WAIT && a.retry_after_s > 0) {
			delay = a.retry_after_s * 1000;
			hb_counter_add(p->m_rate_limited, 1);
		}
	}
	/*
	 * A 429 says how long itself: it is no failure of ours, and growing
	 * the backoff for it would make the next real failure wait longer.
	 */
	if (delay < 0)
		delay = hb_backoff_next(&p->backoff);
	telegram_mask(err, p->cfg.api.token, masked, sizeof(masked));
	/* unreachable, or a wrong token: the sends would fail the same way */
	if (resp->status == 0 || resp->status >= 500 || resp->status == 401 ||
	    resp->status == 404)
		channel_set(p->telegram, false, masked);
	hb_log_limited(&p->log, HB_LOG_WARN, "telegram getUpdates failed "
	    "url=%s/bot***/getUpdates reason=\"%s\" retry_in_ms=%lld%s",
	    p->cfg.api.url, masked, (long long)delay, resp->status == 409 ?
	    " (another program polls this bot, or it has a webhook set: one bot "
	    "token per notifier)" : "");
	schedule(p, delay);
}

static void
on_polled(const struct hb_http_response *resp, void *arg)
{
	struct poller *p = arg;
	struct telegram_update *u = NULL;
	size_t n = 0;
	char err[300];

	p->poll_xfer = NULL;
	err[0] = '\0';
	if (resp->status == 200 && resp->body_len >= POLL_MAX_RESPONSE) {
		/* cut at max_response: it would fail to parse the same way forever */
		snprintf(err, sizeof(err), "answer truncated at %zu bytes with "
		    "limit=%d", resp->body_len, p->poll_limit);
		if (p->poll_limit > 1) {
			hb_error("telegram getUpdates %s: asking for one update at a "
			    "time until an answer fits", err);
			p->poll_limit = 1;
			schedule(p, 0);
			return;
		}
	} else if (resp->status == 200 && telegram_updates_parse(resp->body,
	    resp->body_len, &u, &n, err, sizeof(err)) == 0) {
		take_updates(p, u, n);
		telegram_updates_free(u, n);
		return;
	}
	poll_failed(p, resp, err, sizeof(err));
}

static void start_me(struct poller *p);

/* Starts a getUpdates unless one is in flight or getMe comes first. */
static void
start_poll(struct poller *p)
{
	struct hb_http_request req = { 0 };
	const char *headers[] = { "Content-Type: application/json", NULL };
	struct hb_buf url = { 0 };
	json_t *o, *types;
	char *body;

	if (p->stopping)
		return;
	if (p->bot_name[0] == '\0' && p->me_xfer == NULL &&
	    now_ms(p) >= p->me_retry_ms)
		start_me(p);
	/* the first poll waits for the bot's name; later ones do not */
	if (p->poll_xfer || (p->me_xfer && !p->me_tried))
		return;
	o = json_object();
	types = json_array();
	if (p->offset > 0)
		json_object_set_new(o, "offset", json_integer(p->offset));
	/* a bounded answer: a busy group cannot make one too big to take */
	json_object_set_new(o, "limit", json_integer(p->poll_limit));
	json_object_set_new(o, "timeout", json_integer(p->cfg.poll_timeout_s));
	json_array_append_new(types, json_string("message"));
	json_object_set_new(o, "allowed_updates", types);
	body = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	hb_buf_printf(&url, "%s/bot%s/getUpdates", p->cfg.api.url, p->cfg.api.token);
	req.method = "POST";
	req.url = url.data;
	req.headers = headers;
	req.body = body;
	req.body_len = strlen(body);
	req.timeout_ms = (long)p->cfg.poll_timeout_s * 1000 + p->cfg.api.timeout_ms;
	req.max_response = POLL_MAX_RESPONSE;
	p->poll_xfer = hb_http_request(p->http, &req, on_polled, p);
	hb_buf_free(&url);
	free(body);
	if (p->poll_xfer == NULL)
		schedule(p, 1000);
}

/* ---------------- getMe ---------------- */

/* The bot's own name, for commands addressed "/deploy@name_bot". */
static void
on_me(const struct hb_http_response *resp, void *arg)
{
	struct poller *p = arg;
	char err[300], masked[400];

	p->me_xfer = NULL;
	p->me_tried = true;
	if (resp->status == 200 && telegram_me_parse(resp->body, resp->body_len,
	    p->bot_name, sizeof(p->bot_name), err, sizeof(err)) == 0) {
		hb_info("telegram bot is @%s: commands addressed to another bot are "
		    "ignored", p->bot_name);
	} else {
		if (resp->status == 0)
			snprintf(err, sizeof(err), "%s", resp->error ? resp->error :
			    "no answer");
		else if (resp->status != 200)
			snprintf(err, sizeof(err), "status %ld", resp->status);
		telegram_mask(err, p->cfg.api.token, masked, sizeof(masked));
		p->me_retry_ms = now_ms(p) + GETME_RETRY_MS;
		hb_warn("telegram getMe failed url=%s/bot***/getMe reason=\"%s\": "
		    "commands addressed to a bot by name (/status@name_bot) are "
		    "ignored until it answers; retry in %d s", p->cfg.api.url,
		    masked, GETME_RETRY_MS / 1000);
	}
	start_poll(p);
}

static void
start_me(struct poller *p)
{
	struct hb_http_request req = { 0 };
	struct hb_buf url = { 0 };

	hb_buf_printf(&url, "%s/bot%s/getMe", p->cfg.api.url, p->cfg.api.token);
	req.method = "GET";
	req.url = url.data;
	req.timeout_ms = p->cfg.api.timeout_ms;
	p->me_xfer = hb_http_request(p->http, &req, on_me, p);
	hb_buf_free(&url);
	if (p->me_xfer == NULL) {
		p->me_tried = true;
		p->me_retry_ms = now_ms(p) + GETME_RETRY_MS;
	}
}

/* ---------------- the timer ---------------- */

static void
arm(struct poller *p, int64_t delay_ms)
{
	evtimer_del(p->ev_poll);
	hb_timer_add_ms(p->ev_poll, delay_ms);
}

/*
 * libevent counts timers on a coarse clock that lags by a few ms: a timer
 * may fire before its delay has passed, and a retry_after must not be cut
 * short. Hence the deadline on our own clock, checked here.
 */
static void
on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct poller *p = arg;
	int64_t now = now_ms(p);

	(void)fd;
	(void)what;
	if (now < p->poll_at_ms) {
		arm(p, p->poll_at_ms - now);
		return;
	}
	start_poll(p);
}

static void
schedule(struct poller *p, int64_t delay_ms)
{
	if (p->stopping)
		return;
	p->poll_at_ms = now_ms(p) + delay_ms;
	arm(p, delay_ms);
}

/* ---------------- life ---------------- */

struct poller *
poll_new(const struct poll_config *cfg, struct event_base *base,
    struct hb_http_client *http, struct hb_outbox *outbox,
    struct channel *telegram, struct hb_metrics *m, struct chat *chat)
{
	struct poller *p = hb_xcalloc(1, sizeof(*p));
	char *v;
	long long n;

	p->cfg = *cfg;
	p->http = http;
	p->outbox = outbox;
	p->telegram = telegram;
	p->chat = chat;
	p->poll_limit = POLL_LIMIT;
	hb_backoff_init(&p->backoff, cfg->api.retry_min_ms, cfg->api.retry_max_ms);
	hb_ratelimit_init(&p->log, 12, 5);
	p->ev_poll = evtimer_new(base, on_timer, p);
	p->m_rate_limited = hb_metrics_counter(m, "rate_limited_total",
	    "429 answers (retry_after honoured).", NULL);
	v = hb_outbox_meta_get(outbox, OFFSET_KEY);
	if (v && hb_parse_ll(v, 0, LLONG_MAX, &n) == 0)
		p->offset = n;
	free(v);
	return p;
}

void
poll_start(struct poller *p)
{
	start_poll(p);
}

void
poll_stop(struct poller *p)
{
	p->stopping = true;
	if (p->poll_xfer) {
		hb_http_cancel(p->poll_xfer);
		p->poll_xfer = NULL;
	}
	if (p->me_xfer) {
		hb_http_cancel(p->me_xfer);
		p->me_xfer = NULL;
	}
	evtimer_del(p->ev_poll);
}

int64_t
poll_next_ms(const struct poller *p)
{
	return p->poll_at_ms;
}

const char *
poll_bot_name(const struct poller *p)
{
	return p->bot_name;
}

void
poll_free(struct poller *p)
{
	if (p == NULL)
		return;
	if (p->poll_xfer)
		hb_http_cancel(p->poll_xfer);
	if (p->me_xfer)
		hb_http_cancel(p->me_xfer);
	if (p->ev_poll)
		event_free(p->ev_poll);
	free(p);
}
