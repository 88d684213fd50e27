/*
 * notifier: the service around telegram.c and commands.c.
 *
 *   P/notify/<severity> -> dedupe -> rendered per destination -> outbox
 *   outbox lane (one per chat, one for the webhook) -> HTTP, one at a time
 *     per lane, paced by the rate limits -> removed | retried | dead letter
 *   getUpdates (long poll) -> allow-listed commands -> P/deploy/command,
 *     replies through the same outbox
 */
#include "notifier.h"
#include "commands.h"
#include "telegram.h"

#include "hb_bus.h"
#include "hb_http_client.h"
#include "hb_log.h"
#include "hb_msg.h"
#include "hb_outbox.h"
#include "hb_rate.h"
#include "hb_topic.h"
#include "hb_util.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>

enum channel {
	CH_TELEGRAM,
	CH_WEBHOOK,
	CH_COUNT,
};

static const char *const channel_names[] = { "telegram", "webhook" };

#define WEBHOOK_LANE "webhook"
#define TG_LANE_PREFIX "telegram:"
#define DEPLOY_WATCH_MS (2 * 3600 * 1000)
#define POLL_LIMIT 20			/* updates per getUpdates answer */
#define POLL_MAX_RESPONSE (4 << 20)	/* far above 20 updates' worth */
#define GETME_RETRY_MS 60000

struct chat {
	long long id;
	int min_sev;
};

/* One destination: messages leave it in order, one request at a time. */
struct lane {
	TAILQ_ENTRY(lane) entry;
	struct notifier *nf;
	char name[HB_OUTBOX_LANE_MAX];
	enum channel channel;
	long long chat_id;
	bool group;		/* negative chat id: Telegram's group limit */
	bool has_items;		/* false once the outbox said it is empty */
	bool busy;
	int64_t not_before_ms;	/* monotonic: backoff or retry_after */
	struct hb_rate per_chat;
	struct hb_rate per_group;
	struct hb_backoff backoff;
	struct hb_outbox_item item;	/* the message in flight */
	struct hb_http_xfer *xfer;
	int64_t sent_ms;		/* when it started */
};

/* Notifications with one key inside the dedupe window. */
struct fold {
	TAILQ_ENTRY(fold) entry;
	char *key;
	int severity;
	char *title;
	char *text;		/* the latest */
	char *source;
	int count;		/* folded after the first */
	int64_t window_end_ms;
};

/* The retained P/health/<target> messages, for /status. */
struct target {
	TAILQ_ENTRY(target) entry;
	struct hb_health_msg health;
};

/* A deploy asked for from Telegram, whose progress goes back to the chat. */
struct watch {
	TAILQ_ENTRY(watch) entry;
	char id[65];
	long long chat_id;
	char last[200];
	int64_t expires_ms;
};

TAILQ_HEAD(lane_list, lane);
TAILQ_HEAD(fold_list, fold);
TAILQ_HEAD(target_list, target);
TAILQ_HEAD(watch_list, watch);

struct channel_state {
	bool ok;
	char reason[256];
	int64_t since_ms;
	struct hb_counter *m_queued, *m_delivered, *m_dead, *m_errors;
};

struct notifier {
	struct hb_service *svc;
	struct hb_app *app;			/* &svc->app */
	const struct hb_bus_config *bus_cfg;	/* svc->bus_cfg */

	/* options */
	int min_sev;
	int64_t dedupe_window_ms;
	char outbox_path[PATH_MAX];
	int64_t retry_min_ms, retry_max_ms, drain_timeout_ms;
	char *token;			/* owned; never logged */
	char api_url[512];
	struct chat *chats;
	size_t nchats;
	long long *cmd_chats;
	size_t ncmd_chats;
	long tg_timeout_ms;
	bool poll;
	int poll_timeout_s;
	int64_t chat_interval_ms;
	int group_max;
	int64_t group_window_ms;
	int global_per_s;
	char webhook_url[1024];
	char *webhook_token;		/* owned; never logged */
	int webhook_min_sev;
	long webhook_timeout_ms;

	/* parts */
	struct hb_bus *bus;
	struct hb_http_client *http;
	struct hb_outbox *outbox;
	struct lane_list lanes;
	struct fold_list folds;
	struct target_list targets;
	struct watch_list watches;
	struct channel_state ch[CH_COUNT];

	/* Telegram */
	struct hb_rate tg_global;
	int64_t tg_not_before_ms;	/* a 429 pauses every chat */
	struct hb_http_xfer *poll_xfer;
	long long offset;
	int poll_limit;			/* 1 after an answer too big to take */
	int64_t poll_at_ms;		/* monotonic: no poll before */
	struct hb_backoff poll_backoff;
	struct hb_http_xfer *me_xfer;	/* getMe */
	bool me_tried;			/* the first getMe has answered */
	int64_t me_retry_ms;
	char bot_username[65];		/* from getMe; "" until it answered */
	int64_t mute_until_ms;		/* wall clock */
	struct hb_deploy_state last_deploy;
	bool have_deploy;

	struct event *ev_pump, *ev_tick, *ev_poll, *ev_drain;
	bool stopping, bus_closed;
	int64_t drain_deadline_ms;

	struct hb_ratelimit bad_log, send_log, ignored_log;

	struct hb_counter *m_received, *m_invalid, *m_folded, *m_filtered,
	    *m_summaries, *m_would_send, *m_rate_limited, *m_updates,
	    *m_ignored, *m_lost;
	struct hb_gauge *m_outbox, *m_dead_letters, *m_tg_up, *m_muted;
};

static void pump(struct notifier *nf);
static void schedule_poll(struct notifier *nf, int64_t delay_ms);
static void check_drained(struct notifier *nf);
static void start_poll(struct notifier *nf);

/* ---------------- configuration ---------------- */

static const char *const severity_choices[] = { "info", "warning", "error",
	"critical", NULL };

static bool
in_list(const long long *ids, size_t n, long long id)
{
	for (size_t i = 0; i < n; i++)
		if (ids[i] == id)
			return true;
	return false;
}

/* Chat ids fit in 52 bits (Telegram's promise); 0 is never a chat. */
#define CHAT_ID_MAX 4503599627370496LL

static void
read_chats(struct notifier *nf, struct hb_config *cfg)
{
	const char *base = "notifier.telegram.chat_ids";
	json_t *arr = hb_cfg_json(cfg, base, JSON_ARRAY, true), *v;
	char path[128], sub[160];
	size_t i;

	if (arr == NULL)
		return;
	nf->chats = hb_xcalloc(json_array_size(arr) + 1, sizeof(*nf->chats));
	json_array_foreach(arr, i, v) {
		struct chat *c = &nf->chats[nf->nchats];

		snprintf(path, sizeof(path), "%s[%zu]", base, i);
		c->min_sev = nf->min_sev;
		if (json_is_integer(v)) {
			c->id = hb_cfg_int(cfg, path, 0, -CHAT_ID_MAX, CHAT_ID_MAX);
		} else if (json_is_object(v)) {
			hb_cfg_json(cfg, path, JSON_OBJECT, true);
			snprintf(sub, sizeof(sub), "%s.id", path);
			c->id = hb_cfg_int(cfg, sub, 0, -CHAT_ID_MAX, CHAT_ID_MAX);
			snprintf(sub, sizeof(sub), "%s.min_severity", path);
			c->min_sev = hb_cfg_enum(cfg, sub, severity_choices, nf->min_sev);
			snprintf(sub, sizeof(sub), "%s.id", path);
			if (!hb_cfg_has(cfg, sub)) {
				hb_cfg_error(cfg, path, "a chat needs an \"id\"");
				continue;
			}
		} else {
			hb_cfg_error(cfg, path, "expected a chat id (an integer) or "
			    "{\"id\": CHAT_ID, \"min_severity\": \"warning\"}");
			continue;
		}
		if (c->id == 0) {
			hb_cfg_error(cfg, path, "0 is not a chat id (ask @userinfobot, "
			    "or read getUpdates, for yours)");
			continue;
		}
		nf->nchats++;
	}
}

static void
read_command_chats(struct notifier *nf, struct hb_config *cfg)
{
	const char *base = "notifier.telegram.command_chat_ids";
	size_t n = hb_cfg_array_len(cfg, base);
	char path[128];

	nf->cmd_chats = hb_xcalloc(n + 1, sizeof(*nf->cmd_chats));
	for (size_t i = 0; i < n; i++) {
		long long id;

		snprintf(path, sizeof(path), "%s[%zu]", base, i);
		id = hb_cfg_int(cfg, path, 0, -CHAT_ID_MAX, CHAT_ID_MAX);
		if (id == 0)
			hb_cfg_error(cfg, path, "expected a non-zero chat id (an integer)");
		else
			nf->cmd_chats[nf->ncmd_chats++] = id;
	}
}

static void
read_url(struct hb_config *cfg, const char *path, const char *def, char *out,
    size_t outlen)
{
	const char *s = hb_cfg_str(cfg, path, def);
	size_t n;

	if (s == NULL)
		s = "";
	if (*s && strncmp(s, "http://", 7) != 0 && strncmp(s, "https://", 8) != 0)
		hb_cfg_error(cfg, path, "\"%s\" must start with http:// or https://", s);
	snprintf(out, outlen, "%s", s);
	n = strlen(out);
	while (n > 0 && out[n - 1] == '/')
		out[--n] = '\0';
}

static void *
notifier_create(struct hb_service *svc)
{
	struct notifier *nf = hb_xcalloc(1, sizeof(*nf));
	struct hb_app *app = &svc->app;
	struct hb_config *cfg = app->cfg;

	nf->svc = svc;
	nf->app = app;
	nf->bus_cfg = &svc->bus_cfg;
	TAILQ_INIT(&nf->lanes);
	TAILQ_INIT(&nf->folds);
	TAILQ_INIT(&nf->targets);
	TAILQ_INIT(&nf->watches);
	nf->min_sev = hb_cfg_enum(cfg, "notifier.min_severity", severity_choices,
	    HB_SEV_INFO);
	nf->dedupe_window_ms = hb_cfg_int(cfg, "notifier.dedupe_window_s", 300, 0,
	    86400) * 1000;
	hb_app_data_path(app, hb_cfg_str(cfg, "notifier.outbox.path",
	    "notifier-outbox.db"), nf->outbox_path, sizeof(nf->outbox_path));
	nf->retry_min_ms = hb_cfg_int(cfg, "notifier.retry_min_ms", 1000, 10, 600000);
	nf->retry_max_ms = hb_cfg_int(cfg, "notifier.retry_max_ms", 60000, 10,
	    3600000);
	if (nf->retry_max_ms < nf->retry_min_ms)
		hb_cfg_error(cfg, "notifier.retry_max_ms", "%lld is below "
		    "notifier.retry_min_ms (%lld)", (long long)nf->retry_max_ms,
		    (long long)nf->retry_min_ms);
	nf->drain_timeout_ms = hb_cfg_int(cfg, "notifier.drain_timeout_ms", 3000, 0,
	    600000);

	read_url(cfg, "notifier.telegram.api_url", "https://api.telegram.org",
	    nf->api_url, sizeof(nf->api_url));
	nf->token = hb_cfg_secret(cfg, "notifier.telegram.token",
	    "TELEGRAM_BOT_TOKEN");
	read_chats(nf, cfg);
	read_command_chats(nf, cfg);
	nf->tg_timeout_ms = (long)hb_cfg_int(cfg, "notifier.telegram.timeout_ms",
	    10000, 100, 600000);
	nf->poll = hb_cfg_bool(cfg, "notifier.telegram.poll", true);
	nf->poll_timeout_s = (int)hb_cfg_int(cfg, "notifier.telegram.poll_timeout_s",
	    25, 1, 600);
	nf->chat_interval_ms = hb_cfg_int(cfg, "notifier.telegram.chat_interval_ms",
	    1000, 0, 3600000);
	nf->group_max = (int)hb_cfg_int(cfg, "notifier.telegram.group_max", 20, 1,
	    10000);
	nf->group_window_ms = hb_cfg_int(cfg, "notifier.telegram.group_window_ms",
	    60000, 0, 3600000);
	nf->global_per_s = (int)hb_cfg_int(cfg, "notifier.telegram.global_per_s", 30,
	    1, 10000);
	if (nf->token == NULL && (nf->nchats > 0 || nf->ncmd_chats > 0))
		hb_cfg_error(cfg, "notifier.telegram.chat_ids", "Telegram chats are "
		    "configured but there is no bot token: set "
		    "notifier.telegram.token_file or TELEGRAM_BOT_TOKEN");

	read_url(cfg, "notifier.webhook.url", "", nf->webhook_url,
	    sizeof(nf->webhook_url));
	nf->webhook_token = hb_cfg_secret(cfg, "notifier.webhook.token",
	    "HOMEBUS_WEBHOOK_TOKEN");
	nf->webhook_min_sev = hb_cfg_enum(cfg, "notifier.webhook.min_severity",
	    severity_choices, nf->min_sev);
	nf->webhook_timeout_ms = (long)hb_cfg_int(cfg, "notifier.webhook.timeout_ms",
	    10000, 100, 600000);
	return nf;
}

/* ---------------- lanes ---------------- */

static bool
telegram_on(const struct notifier *nf)
{
	return nf->token != NULL;
}

static struct lane *
lane_get(struct notifier *nf, const char *name)
{
	struct lane *l;
	long long id;

	TAILQ_FOREACH(l, &nf->lanes, entry)
		if (strcmp(l->name, name) == 0)
			return l;
	l = hb_xcalloc(1, sizeof(*l));
	l->nf = nf;
	snprintf(l->name, sizeof(l->name), "%s", name);
	if (strncmp(name, TG_LANE_PREFIX, strlen(TG_LANE_PREFIX)) == 0 &&
	    hb_parse_ll(name + strlen(TG_LANE_PREFIX), -CHAT_ID_MAX, CHAT_ID_MAX,
	    &id) == 0) {
		l->channel = CH_TELEGRAM;
		l->chat_id = id;
		l->group = id < 0;
	} else
		l->channel = CH_WEBHOOK;
	hb_rate_init(&l->per_chat, 1, nf->chat_interval_ms);
	hb_rate_init(&l->per_group, nf->group_max, l->group ? nf->group_window_ms : 0);
	hb_backoff_init(&l->backoff, nf->retry_min_ms, nf->retry_max_ms);
	TAILQ_INSERT_TAIL(&nf->lanes, l, entry);
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

static void
note_lane(void *arg, const char *name)
{
	lane_get(arg, name)->has_items = true;
}

static void
tg_lane_name(long long chat_id, char *out, size_t outlen)
{
	snprintf(out, outlen, TG_LANE_PREFIX "%lld", chat_id);
}

/* ---------------- channel state ---------------- */

static void
set_channel(struct notifier *nf, enum channel c, bool ok, const char *reason)
{
	struct channel_state *cs = &nf->ch[c];

	if (ok != cs->ok || cs->since_ms == 0) {
		if (ok && cs->since_ms != 0)
			hb_info("%s reachable again outbox=%lld", channel_names[c],
			    (long long)hb_outbox_count(nf->outbox));
		else if (!ok)
			hb_warn("%s unavailable reason=\"%s\" (messages wait in the "
			    "outbox; nothing is lost)", channel_names[c], reason);
		cs->since_ms = hb_wall_ms();
	}
	cs->ok = ok;
	snprintf(cs->reason, sizeof(cs->reason), "%s", ok ? "" : reason);
	if (c == CH_TELEGRAM)
		hb_gauge_set(nf->m_tg_up, ok ? 1 : 0);
}

/* ---------------- sending ---------------- */

static void on_sent(const struct hb_http_response *resp, void *arg);

static int64_t
max64(int64_t a, int64_t b)
{
	return a > b ? a : b;
}

/* When the lane may send next (monotonic ms). */
static int64_t
lane_ready_at(struct notifier *nf, struct lane *l, int64_t now)
{
	int64_t at = max64(now, l->not_before_ms);

	if (l->channel == CH_TELEGRAM) {
		at = max64(at, nf->tg_not_before_ms);
		at = max64(at, hb_rate_next(&l->per_chat, now));
		at = max64(at, hb_rate_next(&l->per_group, now));
		at = max64(at, hb_rate_next(&nf->tg_global, now));
	}
	return at;
}

static int
start_send(struct notifier *nf, struct lane *l, int64_t now)
{
	struct hb_http_request req = { 0 };
	const char *headers[3] = { "Content-Type: application/json", NULL, NULL };
	struct hb_buf url = { 0 }, auth = { 0 };

	if (l->channel == CH_TELEGRAM) {
		if (!telegram_on(nf))
			return -1;
		hb_buf_printf(&url, "%s/bot%s/sendMessage", nf->api_url, nf->token);
		req.timeout_ms = nf->tg_timeout_ms;
	} else {
		if (nf->webhook_url[0] == '\0')
			return -1;
		hb_buf_puts(&url, nf->webhook_url);
		if (nf->webhook_token) {
			hb_buf_printf(&auth, "Authorization: Bearer %s", nf->webhook_token);
			headers[1] = auth.data;
		}
		req.timeout_ms = nf->webhook_timeout_ms;
	}
	req.method = "POST";
	req.url = url.data;
	req.headers = headers;
	req.body = l->item.body.data;
	req.body_len = l->item.body.len;
	req.max_response = 64 << 10;
	l->xfer = hb_http_request(nf->http, &req, on_sent, l);
	hb_buf_free(&url);
	hb_buf_free(&auth);
	if (l->xfer == NULL)
		return -1;
	l->busy = true;
	l->sent_ms = now;
	if (l->channel == CH_TELEGRAM) {
		hb_rate_take(&l->per_chat, now);
		hb_rate_take(&l->per_group, now);
		hb_rate_take(&nf->tg_global, now);
	}
	return 0;
}

/* A message on a lane its channel no longer has (configuration changed). */
static int
orphan(struct notifier *nf, struct lane *l)
{
	if (hb_outbox_dead_letter(nf->outbox, &l->item, 0,
	    "channel no longer configured") != 0)
		return -1;
	hb_error("outbox message for %s, which is no longer configured: "
	    "dead-lettered id=%lld label=\"%s\"", l->name, (long long)l->item.id,
	    l->item.label);
	hb_counter_add(nf->ch[l->channel].m_dead, 1);
	return 0;
}

static void
on_pump_timer(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	pump(arg);
}

static void
pump(struct notifier *nf)
{
	int64_t now = hb_mono_ms(), wake = INT64_MAX;
	struct lane *l;

	if (nf->stopping || nf->outbox == NULL)
		return;
	TAILQ_FOREACH(l, &nf->lanes, entry) {
		int64_t at;
		int r;

		while (!l->busy && l->has_items) {
			at = lane_ready_at(nf, l, now);
			if (at > now) {
				if (at < wake)
					wake = at;
				break;
			}
			r = hb_outbox_head(nf->outbox, l->name, &l->item);
			if (r != 1) {
				l->has_items = r < 0;	/* on a read error, try later */
				if (r < 0)
					l->not_before_ms = now + 1000;
				break;
			}
			if (start_send(nf, l, now) == 0)
				break;
			if ((l->channel == CH_TELEGRAM && !telegram_on(nf)) ||
			    (l->channel == CH_WEBHOOK && nf->webhook_url[0] == '\0')) {
				if (orphan(nf, l) == 0)
					continue;
			}
			l->not_before_ms = now + 1000;
		}
	}
	hb_gauge_set(nf->m_outbox, (double)hb_outbox_count(nf->outbox));
	evtimer_del(nf->ev_pump);
	if (wake != INT64_MAX) {
		int64_t d = wake - now;
		struct timeval tv = { (time_t)(d / 1000), (suseconds_t)((d % 1000) * 1000) };

		evtimer_add(nf->ev_pump, &tv);
	}
}

/* The webhook's answers, in Telegram's terms. */
static void
webhook_answer(const struct hb_http_response *resp, struct hb_telegram_answer *a)
{
	long st = resp->status;

	memset(a, 0, sizeof(*a));
	a->error_code = st;
	a->retry_after_s = resp->retry_after_s;
	if (st >= 200 && st < 300)
		a->verdict = HB_TG_DELIVERED;
	else if (st == 429)
		a->verdict = HB_TG_WAIT;
	else if (st == 401 || st == 403 || st == 404)
		a->verdict = HB_TG_AUTH;	/* the URL or token is wrong: keep */
	else if (st >= 400 && st < 500 && st != 408)
		a->verdict = HB_TG_REFUSED;
	else
		a->verdict = HB_TG_RETRY;
	if (st > 0) {
		char excerpt[160];

		hb_log_sanitize(resp->body, resp->body_len < 120 ? resp->body_len : 120,
		    excerpt, sizeof(excerpt));
		snprintf(a->description, sizeof(a->description), "HTTP %ld%s%s", st,
		    excerpt[0] ? ": " : "", excerpt);
	}
}

static void
on_sent(const struct hb_http_response *resp, void *arg)
{
	struct lane *l = arg;
	struct notifier *nf = l->nf;
	struct hb_telegram_answer a;
	int64_t now = hb_mono_ms(), delay;
	char reason[512];

	l->xfer = NULL;
	l->busy = false;
	if (l->channel == CH_TELEGRAM) {
		/*
		 * Telegram had the message by the time its answer came: count the
		 * limits from now, so that they hold for what Telegram sees even
		 * when one request took longer on the way than the next.
		 */
		hb_rate_move(&l->per_chat, l->sent_ms, now);
		hb_rate_move(&l->per_group, l->sent_ms, now);
		hb_rate_move(&nf->tg_global, l->sent_ms, now);
		hb_telegram_answer(resp->status, resp->body, resp->body_len,
		    resp->retry_after_s, &a);
	}
	else
		webhook_answer(resp, &a);
	if (resp->status == 0) {
		a.verdict = HB_TG_RETRY;
		snprintf(a.description, sizeof(a.description), "%s",
		    resp->error ? resp->error : "no answer");
	}
	/* whatever the server said, no token in what we keep or log */
	hb_telegram_mask(a.description, nf->token, reason, sizeof(reason));
	if (nf->webhook_token)
		hb_telegram_mask(reason, nf->webhook_token, a.description,
		    sizeof(a.description));
	else
		snprintf(a.description, sizeof(a.description), "%s", reason);

	switch (a.verdict) {
	case HB_TG_DELIVERED:
		hb_outbox_remove(nf->outbox, l->item.id);
		hb_counter_add(nf->ch[l->channel].m_delivered, 1);
		hb_backoff_reset(&l->backoff);
		set_channel(nf, l->channel, true, NULL);
		hb_debug("delivered lane=%s id=%lld label=\"%s\" attempts=%d", l->name,
		    (long long)l->item.id, l->item.label, l->item.attempts + 1);
		break;
	case HB_TG_WAIT:
		hb_outbox_note_attempt(nf->outbox, l->item.id);
		hb_counter_add(nf->m_rate_limited, 1);
		delay = a.retry_after_s >= 0 ? a.retry_after_s * 1000 :
		    hb_backoff_next(&l->backoff);
		l->not_before_ms = now + delay;
		if (l->channel == CH_TELEGRAM)
			nf->tg_not_before_ms = max64(nf->tg_not_before_ms, now + delay);
		hb_log_limited(&nf->send_log, HB_LOG_WARN, "%s asked us to slow down "
		    "lane=%s retry_after_ms=%lld reason=\"%s\"", channel_names[l->channel],
		    l->name, (long long)delay, a.description);
		break;
	case HB_TG_REFUSED:
		if (hb_outbox_dead_letter(nf->outbox, &l->item, (int)a.error_code,
		    a.description) != 0) {
			l->not_before_ms = now + 1000;
			break;
		}
		hb_counter_add(nf->ch[l->channel].m_dead, 1);
		set_channel(nf, l->channel, true, NULL);
		hb_error("%s refused a message for good: dead-lettered lane=%s id=%lld "
		    "label=\"%s\" status=%ld reason=\"%s\"%s", channel_names[l->channel],
		    l->name, (long long)l->item.id, l->item.label, a.error_code,
		    a.description, a.migrate_to_chat_id ? " (the group became a "
		    "supergroup: put its new id in notifier.telegram.chat_ids)" : "");
		break;
	case HB_TG_AUTH:
	case HB_TG_RETRY:
		hb_outbox_note_attempt(nf->outbox, l->item.id);
		hb_counter_add(nf->ch[l->channel].m_errors, 1);
		delay = hb_backoff_next(&l->backoff);
		l->not_before_ms = now + delay;
		if (a.verdict == HB_TG_AUTH)
			snprintf(reason, sizeof(reason), "%s (%s)", a.description,
			    l->channel == CH_TELEGRAM ? "is the bot token right? "
			    "notifier.telegram.token_file" : "check notifier.webhook.url "
			    "and its token");
		else
			snprintf(reason, sizeof(reason), "%s", a.description);
		set_channel(nf, l->channel, false, reason);
		hb_log_limited(&nf->send_log, HB_LOG_WARN, "%s send failed lane=%s "
		    "id=%lld status=%ld reason=\"%s\" retry_in_ms=%lld outbox=%lld",
		    channel_names[l->channel], l->name, (long long)l->item.id,
		    resp->status, reason, (long long)delay,
		    (long long)hb_outbox_count(nf->outbox));
		break;
	}
	l->has_items = true;
	if (nf->stopping)
		check_drained(nf);
	else
		pump(nf);
}

/* ---------------- routing notifications into the outbox ---------------- */

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

static bool
muted(const struct notifier *nf)
{
	return nf->mute_until_ms > hb_wall_ms();
}

/* Adds the parts of one Telegram message to the outbox (in a transaction). */
static int
queue_telegram(struct notifier *nf, long long chat_id, const char *icon,
    const char *title, const char *text, bool silent, const char *label)
{
	struct hb_telegram_text t = { chat_id, icon, title, text, silent };
	json_t *parts = hb_telegram_render(&t, HB_TELEGRAM_MAX_CHARS), *part;
	char lane[HB_OUTBOX_LANE_MAX];
	size_t i;
	int rc = 0;

	tg_lane_name(chat_id, lane, sizeof(lane));
	json_array_foreach(parts, i, part) {
		char *body = json_dumps(part, JSON_COMPACT);

		if (body == NULL || hb_outbox_add(nf->outbox, lane, label, body,
		    strlen(body)) < 0)
			rc = -1;
		free(body);
		if (rc != 0)
			break;
		hb_counter_add(nf->ch[CH_TELEGRAM].m_queued, 1);
	}
	json_decref(parts);
	if (rc == 0)
		lane_get(nf, lane)->has_items = true;
	return rc;
}

static int
queue_webhook(struct notifier *nf, const struct hb_notify *n, int repeats,
    const char *label)
{
	json_t *o = json_object();
	char *body;
	int rc;

	json_object_set_new(o, "severity", json_string(hb_severity_name(n->severity)));
	json_object_set_new(o, "title", json_string(default_title(n)));
	json_object_set_new(o, "text", json_string(n->text));
	if (n->key)
		json_object_set_new(o, "key", json_string(n->key));
	if (n->source)
		json_object_set_new(o, "source", json_string(n->source));
	if (repeats > 0)
		json_object_set_new(o, "repeats", json_integer(repeats));
	json_object_set_new(o, "time", hb_msg_time(hb_wall_ms()));
	json_object_set_new(o, "instance", json_string(nf->bus_cfg->instance));
	body = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	rc = body && hb_outbox_add(nf->outbox, WEBHOOK_LANE, label, body,
	    strlen(body)) > 0 ? 0 : -1;
	free(body);
	if (rc == 0) {
		hb_counter_add(nf->ch[CH_WEBHOOK].m_queued, 1);
		lane_get(nf, WEBHOOK_LANE)->has_items = true;
	}
	return rc;
}

/*
 * Puts a notification in the outbox for every destination that wants its
 * severity, all or nothing. repeats > 0 marks a dedupe summary.
 */
static void
route(struct notifier *nf, const struct hb_notify *n, int repeats)
{
	const char *title = default_title(n);
	char label[256], safe[200];
	bool any = false, failed = false;

	hb_log_sanitize(title, strlen(title), safe, sizeof(safe));
	snprintf(label, sizeof(label), "%s: %s", hb_severity_name(n->severity), safe);
	if (nf->nchats == 0 && nf->webhook_url[0] == '\0') {
		char text[600];

		hb_log_sanitize(n->text, strlen(n->text), text, sizeof(text));
		hb_counter_add(nf->m_would_send, 1);
		hb_info("would send (no channel configured: set notifier.telegram."
		    "chat_ids or notifier.webhook.url) severity=%s title=\"%s\" "
		    "text=\"%s\"", hb_severity_name(n->severity), safe, text);
		return;
	}
	if (hb_outbox_begin(nf->outbox) != 0) {
		hb_counter_add(nf->m_lost, 1);
		hb_error("outbox unavailable (%s): notification lost label=\"%s\"",
		    nf->outbox_path, label);
		return;
	}
	for (size_t i = 0; i < nf->nchats && !failed; i++) {
		const struct chat *c = &nf->chats[i];
		bool silent = n->severity == HB_SEV_INFO ||
		    (muted(nf) && n->severity < HB_SEV_CRITICAL);

		if ((int)n->severity < c->min_sev)
			continue;
		any = true;
		failed = queue_telegram(nf, c->id,
		    hb_telegram_severity_icon((int)n->severity), title, n->text, silent,
		    label) != 0;
	}
	if (!failed && nf->webhook_url[0] && (int)n->severity >= nf->webhook_min_sev) {
		any = true;
		failed = queue_webhook(nf, n, repeats, label) != 0;
	}
	if (failed) {
		hb_outbox_rollback(nf->outbox);
		hb_counter_add(nf->m_lost, 1);
		hb_error("cannot write to the outbox %s (disk full?): notification "
		    "lost label=\"%s\"", nf->outbox_path, label);
		return;
	}
	if (hb_outbox_commit(nf->outbox) != 0) {
		hb_counter_add(nf->m_lost, 1);
		hb_error("outbox commit failed: notification lost label=\"%s\"", label);
		return;
	}
	if (!any) {
		hb_counter_add(nf->m_filtered, 1);
		hb_debug("no destination takes severity=%s label=\"%s\"",
		    hb_severity_name(n->severity), label);
	}
	pump(nf);
}

/* ---------------- dedupe ---------------- */

static void
fold_free(struct fold *f)
{
	free(f->key);
	free(f->title);
	free(f->text);
	free(f->source);
	free(f);
}

static void
human_duration(int64_t ms, char *out, size_t outlen)
{
	int64_t s = ms / 1000;

	if (s >= 3600 && s % 3600 == 0)
		snprintf(out, outlen, "%lld h", (long long)(s / 3600));
	else if (s >= 60 && s % 60 == 0)
		snprintf(out, outlen, "%lld min", (long long)(s / 60));
	else
		snprintf(out, outlen, "%lld s", (long long)s);
}

/* The window of f closed: a summary if anything was folded into it. */
static void
fold_close(struct notifier *nf, struct fold *f)
{
	TAILQ_REMOVE(&nf->folds, f, entry);
	if (f->count > 0) {
		struct hb_notify s = { 0 };
		struct hb_buf text = { 0 };
		char window[32];

		human_duration(nf->dedupe_window_ms, window, sizeof(window));
		hb_buf_printf(&text, "and %d more like this in the last %s; the "
		    "latest:\n%s", f->count, window, f->text);
		s.severity = (enum hb_severity)f->severity;
		s.text = text.data;
		s.title = f->title;
		s.source = f->source;
		s.key = f->key;
		hb_counter_add(nf->m_summaries, 1);
		route(nf, &s, f->count);
		hb_buf_free(&text);
	}
	fold_free(f);
}

/* True when n is folded into an open window (and so not sent now). */
static bool
dedupe(struct notifier *nf, const struct hb_notify *n)
{
	int64_t now = hb_mono_ms();
	struct fold *f;

	if (n->key == NULL || nf->dedupe_window_ms == 0)
		return false;
	TAILQ_FOREACH(f, &nf->folds, entry)
		if (strcmp(f->key, n->key) == 0)
			break;
	if (f && now < f->window_end_ms && (int)n->severity <= f->severity) {
		f->count++;
		free(f->text);
		f->text = hb_xstrdup(n->text);
		hb_counter_add(nf->m_folded, 1);
		return true;
	}
	if (f)		/* window over, or worse news: summarise, start again */
		fold_close(nf, f);
	f = hb_xcalloc(1, sizeof(*f));
	f->key = hb_xstrdup(n->key);
	f->severity = (int)n->severity;
	f->title = n->title ? hb_xstrdup(n->title) : NULL;
	f->text = hb_xstrdup(n->text);
	f->source = n->source ? hb_xstrdup(n->source) : NULL;
	f->window_end_ms = now + nf->dedupe_window_ms;
	TAILQ_INSERT_TAIL(&nf->folds, f, entry);
	return false;
}

/* ---------------- replies and commands ---------------- */

static void
reply(struct notifier *nf, long long chat_id, const char *icon, const char *title,
    const char *text)
{
	if (!telegram_on(nf))
		return;
	if (hb_outbox_begin(nf->outbox) != 0)
		return;
	if (queue_telegram(nf, chat_id, icon, title, text, false, "reply") != 0 ||
	    hb_outbox_commit(nf->outbox) != 0) {
		hb_outbox_rollback(nf->outbox);
		hb_error("cannot queue a Telegram reply chat=%lld", chat_id);
		return;
	}
	pump(nf);
}

static const char *
health_icon(enum hb_health_state st)
{
	switch (st) {
	case HB_HEALTH_OK: return "\xe2\x9c\x85";		/* check mark */
	case HB_HEALTH_DEGRADED: return "\xf0\x9f\x9f\xa1";	/* yellow circle */
	case HB_HEALTH_DOWN: return "\xe2\x9d\x8c";		/* cross */
	default: return "\xe2\x9d\x94";				/* question mark */
	}
}

static void
deploy_line(struct hb_buf *out, const struct hb_deploy_state *s)
{
	char ts[40];

	hb_iso8601(s->updated_ms > 0 ? s->updated_ms : s->started_ms, ts, sizeof(ts));
	hb_buf_printf(out, "%s %s%s%s: %s", hb_deploy_action_name(s->action),
	    s->from_tag[0] ? s->from_tag : "", s->from_tag[0] ? " -> " : "",
	    s->to_tag[0] ? s->to_tag : "?", s->phase);
	if (s->step[0])
		hb_buf_printf(out, " (step %s)", s->step);
	if (s->error[0])
		hb_buf_printf(out, ": %s", s->error);
	if (s->requested_by[0])
		hb_buf_printf(out, ", requested by %s", s->requested_by);
	hb_buf_printf(out, ", %.16s UTC", ts);
}

static void
send_status(struct notifier *nf, long long chat_id)
{
	struct hb_buf t = { 0 };
	struct target *tg;
	char ts[40];

	hb_buf_puts(&t, "Health:\n");
	if (TAILQ_EMPTY(&nf->targets))
		hb_buf_puts(&t, "(nothing on the bus yet: is homebus-health running?)\n");
	TAILQ_FOREACH(tg, &nf->targets, entry) {
		const struct hb_health_msg *h = &tg->health;

		hb_buf_printf(&t, "%s %s: %s", health_icon(h->state), h->target,
		    hb_health_state_name(h->state));
		if (h->reason[0])
			hb_buf_printf(&t, " (%s)", h->reason);
		if (h->since_ms > 0) {
			hb_iso8601(h->since_ms, ts, sizeof(ts));
			hb_buf_printf(&t, " since %.16s UTC", ts);
		}
		hb_buf_putc(&t, '\n');
	}
	hb_buf_puts(&t, "\nLast deploy: ");
	if (nf->have_deploy)
		deploy_line(&t, &nf->last_deploy);
	else
		hb_buf_puts(&t, "none known");
	hb_buf_putc(&t, '\n');
	if (muted(nf)) {
		hb_iso8601(nf->mute_until_ms, ts, sizeof(ts));
		hb_buf_printf(&t, "Muted until %.16s UTC\n", ts);
	}
	hb_buf_printf(&t, "Outbox: %lld waiting, %lld dead letters",
	    (long long)hb_outbox_count(nf->outbox),
	    (long long)hb_outbox_dead_count(nf->outbox));
	reply(nf, chat_id, "\xf0\x9f\x93\x8b", "homebus status", t.data);
	hb_buf_free(&t);
}

static void
requested_by(const struct hb_telegram_update *u, char *out, size_t outlen)
{
	if (u->username[0])
		snprintf(out, outlen, "telegram:@%s", u->username);
	else
		snprintf(out, outlen, "telegram:%lld", u->has_from ? u->from_id :
		    u->chat_id);
}

static void
request_deploy(struct notifier *nf, const struct hb_telegram_update *u,
    const struct hb_command *c)
{
	struct hb_deploy_cmd cmd;
	struct watch *w;
	char topic[HB_TOPIC_MAX], text[400];
	json_t *o;
	int rc;

	memset(&cmd, 0, sizeof(cmd));
	/* The update id names the request: the same update is never two deploys. */
	snprintf(cmd.id, sizeof(cmd.id), "tg-%lld", u->update_id);
	cmd.action = c->kind == HB_CMD_DEPLOY ? HB_DEPLOY_DEPLOY : HB_DEPLOY_ROLLBACK;
	snprintf(cmd.tag, sizeof(cmd.tag), "%s", c->tag);
	requested_by(u, cmd.requested_by, sizeof(cmd.requested_by));
	o = hb_deploy_cmd_encode(&cmd);
	hb_topic_join(topic, sizeof(topic), nf->bus_cfg->prefix, "deploy/command");
	rc = hb_bus_publish_json(nf->bus, topic, o, 1, false);
	json_decref(o);
	hb_info("deploy command from telegram id=%s action=%s tag=%s "
	    "requested_by=%s chat=%lld published=%s", cmd.id,
	    hb_deploy_action_name(cmd.action), cmd.tag[0] ? cmd.tag : "-",
	    cmd.requested_by, u->chat_id, rc == 0 ? "yes" : "no");
	if (rc != 0) {
		reply(nf, u->chat_id, "\xe2\x9d\x8c", "Not sent", "The bus refused "
		    "the command (is the broker reachable?). Nothing was started.");
		return;
	}
	if (cmd.action == HB_DEPLOY_DEPLOY)
		snprintf(text, sizeof(text), "Deploy of %s requested (id %s). "
		    "Progress follows here.", cmd.tag, cmd.id);
	else
		snprintf(text, sizeof(text), "Rollback requested (id %s). Progress "
		    "follows here.", cmd.id);
	reply(nf, u->chat_id, "\xf0\x9f\x9a\x80", cmd.action == HB_DEPLOY_DEPLOY ?
	    "Deploy" : "Rollback", text);
	w = hb_xcalloc(1, sizeof(*w));
	snprintf(w->id, sizeof(w->id), "%s", cmd.id);
	w->chat_id = u->chat_id;
	w->expires_ms = hb_mono_ms() + DEPLOY_WATCH_MS;
	TAILQ_INSERT_TAIL(&nf->watches, w, entry);
}

static void
set_mute(struct notifier *nf, long long chat_id, long minutes)
{
	char val[32], ts[40], text[300];

	nf->mute_until_ms = minutes > 0 ? hb_wall_ms() + (int64_t)minutes * 60000 : 0;
	snprintf(val, sizeof(val), "%lld", (long long)nf->mute_until_ms);
	hb_outbox_meta_set(nf->outbox, "mute_until_ms", val);
	hb_gauge_set(nf->m_muted, minutes > 0 ? 1 : 0);
	if (minutes == 0) {
		hb_info("unmuted from telegram chat=%lld", chat_id);
		reply(nf, chat_id, "\xf0\x9f\x94\x94", "Unmuted",
		    "Notifications ring again.");
		return;
	}
	hb_iso8601(nf->mute_until_ms, ts, sizeof(ts));
	hb_info("muted from telegram chat=%lld minutes=%ld", chat_id, minutes);
	snprintf(text, sizeof(text), "For %ld minutes, until %.16s UTC, "
	    "notifications arrive silently; critical ones still ring. /mute 0 "
	    "ends it.", minutes, ts);
	reply(nf, chat_id, "\xf0\x9f\x94\x95", "Muted", text);
}

static const char help_text[] =
    "/status - health of every target and the last deploy\n"
    "/deploy TAG - deploy that image tag (verified by health, rolled back on "
    "failure)\n"
    "/rollback - back to the version before the last deploy\n"
    "/mute MINUTES - notifications arrive silently for a while (0 ends it); "
    "critical ones still ring\n"
    "/help - this list";

static void
ignore(struct notifier *nf, const struct hb_telegram_update *u, const char *why)
{
	hb_counter_add(nf->m_ignored, 1);
	/* never the text: it may be anything from anyone */
	hb_log_limited(&nf->ignored_log, HB_LOG_INFO, "ignored telegram message "
	    "update_id=%lld chat=%lld user=%lld reason=%s", u->update_id, u->chat_id,
	    u->has_from ? u->from_id : 0, why);
}

static void
handle_update(struct notifier *nf, const struct hb_telegram_update *u)
{
	struct hb_command c;
	char text[300];

	hb_counter_add(nf->m_updates, 1);
	if (!u->has_message) {
		ignore(nf, u, "not-a-message");
		return;
	}
	if (u->from_bot) {
		ignore(nf, u, "from-a-bot");
		return;
	}
	if (!in_list(nf->cmd_chats, nf->ncmd_chats, u->chat_id)) {
		ignore(nf, u, "chat-not-allowed");
		return;
	}
	hb_command_parse(u->text ? u->text : "", &c);
	if (c.kind == HB_CMD_NONE) {
		/* chatter in an allowed group: counted, logged only for debugging */
		hb_counter_add(nf->m_ignored, 1);
		hb_debug("ignored telegram message update_id=%lld chat=%lld user=%lld "
		    "reason=not-a-command", u->update_id, u->chat_id,
		    u->has_from ? u->from_id : 0);
		return;
	}
	/*
	 * "/deploy@other_bot" in a group is for another bot. Without our own
	 * name (getMe has not answered) no addressed command is taken as ours.
	 */
	if (c.to_bot && (nf->bot_username[0] == '\0' ||
	    strcasecmp(c.bot, nf->bot_username) != 0)) {
		ignore(nf, u, nf->bot_username[0] ? "for-another-bot" :
		    "bot-name-unknown");
		return;
	}
	hb_counter_add(hb_metrics_counter(nf->app->metrics, "commands_total",
	    "Commands taken from allowed Telegram chats, by command.",
	    c.kind == HB_CMD_DEPLOY ? "command=\"deploy\"" :
	    c.kind == HB_CMD_ROLLBACK ? "command=\"rollback\"" :
	    c.kind == HB_CMD_STATUS ? "command=\"status\"" :
	    c.kind == HB_CMD_MUTE ? "command=\"mute\"" :
	    c.kind == HB_CMD_HELP ? "command=\"help\"" : "command=\"other\""), 1);
	hb_info("telegram command=%s chat=%lld user=%lld update_id=%lld",
	    hb_command_kind_name(c.kind), u->chat_id, u->has_from ? u->from_id : 0,
	    u->update_id);
	switch (c.kind) {
	case HB_CMD_HELP:
		reply(nf, u->chat_id, "\xe2\x84\xb9\xef\xb8\x8f", "homebus commands",
		    help_text);
		break;
	case HB_CMD_STATUS:
		send_status(nf, u->chat_id);
		break;
	case HB_CMD_DEPLOY:
	case HB_CMD_ROLLBACK:
		request_deploy(nf, u, &c);
		break;
	case HB_CMD_MUTE:
		set_mute(nf, u->chat_id, c.minutes);
		break;
	case HB_CMD_BAD:
		reply(nf, u->chat_id, "\xe2\x9d\x93", "Not understood", c.error);
		break;
	default:
		snprintf(text, sizeof(text), "/%s is not a command here.\n\n%s", c.name,
		    help_text);
		reply(nf, u->chat_id, "\xe2\x9d\x93", "Unknown command", text);
		break;
	}
}

/* ---------------- getUpdates long polling ---------------- */

/*
 * The offset that confirms a batch: one past its largest update_id, whatever
 * the stored offset. Telegram picks the next update_id at random after a
 * week without updates, so a batch may well be below the stored offset.
 * Returns the stored offset when no id in the batch is usable.
 */
static long long
next_offset(const struct notifier *nf, const struct hb_telegram_update *u,
    size_t n)
{
	long long max = -1;

	for (size_t i = 0; i < n; i++)
		if (u[i].update_id > max && u[i].update_id < LLONG_MAX)
			max = u[i].update_id;
	return max >= 0 ? max + 1 : nf->offset;
}

/*
 * Confirms a batch by storing its offset (in memory only once stored).
 * 0, or -1 when it could not be stored: then nothing in the batch may be
 * acted on, since after a restart Telegram would hand it over again.
 */
static int
save_offset(struct notifier *nf, long long next)
{
	char val[32];

	snprintf(val, sizeof(val), "%lld", next);
	if (hb_outbox_meta_set(nf->outbox, "telegram_offset", val) != 0)
		return -1;
	nf->offset = next;
	return 0;
}

/* A batch of updates taken whole: confirmed first, then acted on. */
static void
take_updates(struct notifier *nf, struct hb_telegram_update *u, size_t n)
{
	long long next = next_offset(nf, u, n);
	int64_t delay;

	hb_backoff_reset(&nf->poll_backoff);
	set_channel(nf, CH_TELEGRAM, true, NULL);
	nf->poll_limit = POLL_LIMIT;
	if (n > 0 && next == nf->offset) {
		/* only updates this offset already confirmed: never twice */
		delay = hb_backoff_next(&nf->poll_backoff);
		hb_log_limited(&nf->send_log, HB_LOG_WARN, "telegram getUpdates "
		    "returned updates=%zu already confirmed by offset=%lld: ignored, "
		    "asking again in %lld ms", n, nf->offset, (long long)delay);
		schedule_poll(nf, delay);
		return;
	}
	/*
	 * The offset is stored before anything is acted on: after a crash a
	 * command is lost rather than run twice (a deploy must not be).
	 */
	if (n > 0 && save_offset(nf, next) != 0) {
		delay = hb_backoff_next(&nf->poll_backoff);
		hb_log_limited(&nf->send_log, HB_LOG_ERROR, "cannot store the "
		    "telegram offset in %s (disk full? read-only?): updates=%zu not "
		    "acted on, asking again in %lld ms", nf->outbox_path, n,
		    (long long)delay);
		schedule_poll(nf, delay);
		return;
	}
	for (size_t i = 0; i < n; i++)
		handle_update(nf, &u[i]);
	schedule_poll(nf, 0);
}

static void
on_polled(const struct hb_http_response *resp, void *arg)
{
	struct notifier *nf = arg;
	struct hb_telegram_update *u = NULL;
	struct hb_telegram_answer a;
	size_t n = 0;
	char err[300], masked[400];
	int64_t delay;

	nf->poll_xfer = NULL;
	if (resp->status == 200 && resp->body_len >= POLL_MAX_RESPONSE) {
		/* cut at max_response: it would fail to parse the same way forever */
		snprintf(err, sizeof(err), "answer truncated at %zu bytes with "
		    "limit=%d", resp->body_len, nf->poll_limit);
		if (nf->poll_limit > 1) {
			hb_error("telegram getUpdates %s: asking for one update at a "
			    "time until an answer fits", err);
			nf->poll_limit = 1;
			schedule_poll(nf, 0);
			return;
		}
	} else if (resp->status == 200 && hb_telegram_updates_parse(resp->body,
	    resp->body_len, &u, &n, err, sizeof(err)) == 0) {
		take_updates(nf, u, n);
		hb_telegram_updates_free(u, n);
		return;
	}
	delay = hb_backoff_next(&nf->poll_backoff);
	if (resp->status == 0)
		snprintf(err, sizeof(err), "%s", resp->error ? resp->error : "no answer");
	else if (resp->status != 200) {
		hb_telegram_answer(resp->status, resp->body, resp->body_len,
		    resp->retry_after_s, &a);
		snprintf(err, sizeof(err), "status %ld: %s", resp->status,
		    a.description);
		/* Telegram says how long in parameters.retry_after, not a header */
		if (a.verdict == HB_TG_WAIT && a.retry_after_s > 0) {
			delay = a.retry_after_s * 1000;
			hb_counter_add(nf->m_rate_limited, 1);
		}
	}
	hb_telegram_mask(err, nf->token, masked, sizeof(masked));
	/* unreachable, or a wrong token: the sends would fail the same way */
	if (resp->status == 0 || resp->status >= 500 || resp->status == 401 ||
	    resp->status == 404)
		set_channel(nf, CH_TELEGRAM, false, masked);
	hb_log_limited(&nf->send_log, HB_LOG_WARN, "telegram getUpdates failed "
	    "url=%s/bot***/getUpdates reason=\"%s\" retry_in_ms=%lld%s", nf->api_url,
	    masked, (long long)delay, resp->status == 409 ? " (another program "
	    "polls this bot, or it has a webhook set: one bot token per notifier)" :
	    "");
	schedule_poll(nf, delay);
}

/* The bot's own name, for commands addressed "/deploy@name_bot". */
static void
on_me(const struct hb_http_response *resp, void *arg)
{
	struct notifier *nf = arg;
	char err[300], masked[400];

	nf->me_xfer = NULL;
	nf->me_tried = true;
	if (resp->status == 200 && hb_telegram_me_parse(resp->body, resp->body_len,
	    nf->bot_username, sizeof(nf->bot_username), err, sizeof(err)) == 0) {
		hb_info("telegram bot is @%s: commands addressed to another bot are "
		    "ignored", nf->bot_username);
	} else {
		if (resp->status == 0)
			snprintf(err, sizeof(err), "%s", resp->error ? resp->error :
			    "no answer");
		else if (resp->status != 200)
			snprintf(err, sizeof(err), "status %ld", resp->status);
		hb_telegram_mask(err, nf->token, masked, sizeof(masked));
		nf->me_retry_ms = hb_mono_ms() + GETME_RETRY_MS;
		hb_warn("telegram getMe failed url=%s/bot***/getMe reason=\"%s\": "
		    "commands addressed to a bot by name (/status@name_bot) are "
		    "ignored until it answers; retry in %d s", nf->api_url, masked,
		    GETME_RETRY_MS / 1000);
	}
	start_poll(nf);
}

static void
start_me(struct notifier *nf)
{
	struct hb_http_request req = { 0 };
	struct hb_buf url = { 0 };

	hb_buf_printf(&url, "%s/bot%s/getMe", nf->api_url, nf->token);
	req.method = "GET";
	req.url = url.data;
	req.timeout_ms = nf->tg_timeout_ms;
	nf->me_xfer = hb_http_request(nf->http, &req, on_me, nf);
	hb_buf_free(&url);
	if (nf->me_xfer == NULL) {
		nf->me_tried = true;
		nf->me_retry_ms = hb_mono_ms() + GETME_RETRY_MS;
	}
}

static void
start_poll(struct notifier *nf)
{
	struct hb_http_request req = { 0 };
	const char *headers[] = { "Content-Type: application/json", NULL };
	struct hb_buf url = { 0 };
	json_t *o, *types;
	char *body;

	if (!telegram_on(nf) || !nf->poll || nf->stopping)
		return;
	if (nf->bot_username[0] == '\0' && nf->me_xfer == NULL &&
	    hb_mono_ms() >= nf->me_retry_ms)
		start_me(nf);
	/* the first poll waits for the bot's name; later ones do not */
	if (nf->poll_xfer || (nf->me_xfer && !nf->me_tried))
		return;
	o = json_object();
	types = json_array();
	if (nf->offset > 0)
		json_object_set_new(o, "offset", json_integer(nf->offset));
	/* a bounded answer: a busy group cannot make one too big to take */
	json_object_set_new(o, "limit", json_integer(nf->poll_limit));
	json_object_set_new(o, "timeout", json_integer(nf->poll_timeout_s));
	json_array_append_new(types, json_string("message"));
	json_object_set_new(o, "allowed_updates", types);
	body = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	hb_buf_printf(&url, "%s/bot%s/getUpdates", nf->api_url, nf->token);
	req.method = "POST";
	req.url = url.data;
	req.headers = headers;
	req.body = body;
	req.body_len = strlen(body);
	req.timeout_ms = (long)nf->poll_timeout_s * 1000 + nf->tg_timeout_ms;
	req.max_response = POLL_MAX_RESPONSE;
	nf->poll_xfer = hb_http_request(nf->http, &req, on_polled, nf);
	hb_buf_free(&url);
	free(body);
	if (nf->poll_xfer == NULL)
		schedule_poll(nf, 1000);
}

static void
arm_poll(struct notifier *nf, int64_t delay_ms)
{
	struct timeval tv = { (time_t)(delay_ms / 1000),
	    (suseconds_t)((delay_ms % 1000) * 1000) };

	evtimer_del(nf->ev_poll);
	evtimer_add(nf->ev_poll, &tv);
}

/*
 * libevent counts timers on a coarse clock that lags by a few ms: a timer
 * may fire before its delay has passed, and a retry_after must not be cut
 * short. Hence the deadline on our own clock, checked here.
 */
static void
on_poll_timer(evutil_socket_t fd, short what, void *arg)
{
	struct notifier *nf = arg;
	int64_t now = hb_mono_ms();

	(void)fd;
	(void)what;
	if (now < nf->poll_at_ms) {
		arm_poll(nf, nf->poll_at_ms - now);
		return;
	}
	start_poll(nf);
}

static void
schedule_poll(struct notifier *nf, int64_t delay_ms)
{
	if (nf->stopping)
		return;
	nf->poll_at_ms = hb_mono_ms() + delay_ms;
	arm_poll(nf, delay_ms);
}

/* ---------------- the bus ---------------- */

/* P/notify/<severity> */
static void
on_notify(void *arg, const struct hb_bus_msg *msg)
{
	struct notifier *nf = arg;
	struct hb_notify n;
	char err[200];
	int sev = hb_severity_parse(msg->rest);

	hb_counter_add(nf->m_received, 1);
	if (sev < 0) {
		hb_counter_add(nf->m_invalid, 1);
		hb_log_limited(&nf->bad_log, HB_LOG_WARN, "notification on an unknown "
		    "severity topic=\"%.200s\" (use info, warning, error or critical)",
		    msg->topic);
		return;
	}
	if (hb_notify_decode(msg->payload, msg->len, (enum hb_severity)sev, &n, err,
	    sizeof(err)) != 0) {
		hb_counter_add(nf->m_invalid, 1);
		hb_log_limited(&nf->bad_log, HB_LOG_WARN, "invalid notification "
		    "topic=\"%.200s\" reason=\"%s\"", msg->topic, err);
		return;
	}
	if (!dedupe(nf, &n))
		route(nf, &n, 0);
	hb_notify_free(&n);
}

/* P/health/<target> */
static void
on_health(void *arg, const struct hb_bus_msg *msg)
{
	struct notifier *nf = arg;
	const char *name = msg->rest;
	struct hb_health_msg h;
	struct target *t;
	char err[200];

	TAILQ_FOREACH(t, &nf->targets, entry)
		if (strcmp(t->health.target, name) == 0)
			break;
	if (msg->len == 0) {		/* retained message cleared */
		if (t) {
			TAILQ_REMOVE(&nf->targets, t, entry);
			free(t);
		}
		return;
	}
	if (hb_health_decode(msg->payload, msg->len, &h, err, sizeof(err)) != 0) {
		hb_log_limited(&nf->bad_log, HB_LOG_WARN, "invalid health message "
		    "topic=\"%.200s\" reason=\"%s\"", msg->topic, err);
		return;
	}
	snprintf(h.target, sizeof(h.target), "%s", name);
	if (t == NULL) {
		if (strlen(name) >= sizeof(h.target))
			return;
		t = hb_xcalloc(1, sizeof(*t));
		TAILQ_INSERT_TAIL(&nf->targets, t, entry);
	}
	t->health = h;
}

static const char *
phase_icon(const char *phase)
{
	if (strcmp(phase, "succeeded") == 0)
		return "\xe2\x9c\x85";
	if (strcmp(phase, "failed") == 0)
		return "\xe2\x9d\x8c";
	if (strcmp(phase, "rolled_back") == 0)
		return "\xe2\x86\xa9\xef\xb8\x8f";
	if (strcmp(phase, "busy") == 0)
		return "\xe2\x9b\x94";
	return "\xe2\x8f\xb3";
}

static bool
phase_final(const char *phase)
{
	return hb_deploy_phase_final(phase);
}

static void
on_deploy_state(void *arg, const struct hb_bus_msg *msg)
{
	struct notifier *nf = arg;
	struct hb_deploy_state s;
	struct watch *w, *next;
	char err[200];

	if (msg->len == 0)
		return;
	if (hb_deploy_state_decode(msg->payload, msg->len, &s, err,
	    sizeof(err)) != 0) {
		hb_log_limited(&nf->bad_log, HB_LOG_WARN, "invalid deploy state "
		    "reason=\"%s\"", err);
		return;
	}
	nf->last_deploy = s;
	nf->have_deploy = true;
	for (w = TAILQ_FIRST(&nf->watches); w; w = next) {
		char key[200];

		next = TAILQ_NEXT(w, entry);
		if (strcmp(w->id, s.id) != 0)
			continue;
		/* one message per change of phase, step or error, not per repeat */
		snprintf(key, sizeof(key), "%s/%s/%s", s.phase, s.step, s.error);
		if (strcmp(key, w->last) != 0) {
			struct hb_buf line = { 0 };

			snprintf(w->last, sizeof(w->last), "%s", key);
			deploy_line(&line, &s);
			reply(nf, w->chat_id, phase_icon(s.phase), s.id, line.data);
			hb_buf_free(&line);
		}
		if (phase_final(s.phase)) {
			TAILQ_REMOVE(&nf->watches, w, entry);
			free(w);
		}
	}
}

/* ---------------- timers, health, metrics ---------------- */

static void
on_tick(evutil_socket_t fd, short what, void *arg)
{
	struct notifier *nf = arg;
	int64_t now = hb_mono_ms();
	struct fold *f, *fnext;
	struct watch *w, *wnext;

	(void)fd;
	(void)what;
	for (f = TAILQ_FIRST(&nf->folds); f; f = fnext) {
		fnext = TAILQ_NEXT(f, entry);
		if (now >= f->window_end_ms)
			fold_close(nf, f);
	}
	for (w = TAILQ_FIRST(&nf->watches); w; w = wnext) {
		wnext = TAILQ_NEXT(w, entry);
		if (now >= w->expires_ms) {
			TAILQ_REMOVE(&nf->watches, w, entry);
			free(w);
		}
	}
	if (nf->mute_until_ms && !muted(nf))
		hb_gauge_set(nf->m_muted, 0);
}

static void
refresh(void *arg)
{
	struct notifier *nf = arg;

	hb_gauge_set(nf->m_outbox, (double)hb_outbox_count(nf->outbox));
	hb_gauge_set(nf->m_dead_letters, (double)hb_outbox_dead_count(nf->outbox));
}

static void
channel_json(struct notifier *nf, json_t *out, enum channel c, bool configured)
{
	json_t *o = json_object();
	struct channel_state *cs = &nf->ch[c];

	json_object_set_new(o, "configured", json_boolean(configured));
	if (configured) {
		json_object_set_new(o, "state", json_string(cs->ok ? "ok" : "down"));
		if (!cs->ok)
			json_object_set_new(o, "reason", json_string(cs->reason));
		json_object_set_new(o, "since", hb_msg_time(cs->since_ms));
	}
	json_object_set_new(o, "delivered", json_integer((json_int_t)cs->m_delivered->value));
	json_object_set_new(o, "dead_lettered", json_integer((json_int_t)cs->m_dead->value));
	json_object_set_new(out, channel_names[c], o);
}

static bool
health(void *arg, json_t *out)
{
	struct notifier *nf = arg;
	bool tg = telegram_on(nf), wh = nf->webhook_url[0] != '\0';
	bool ok = (!tg || nf->ch[CH_TELEGRAM].ok) && (!wh || nf->ch[CH_WEBHOOK].ok);
	json_t *ob = json_object();
	int64_t oldest = hb_outbox_oldest_ms(nf->outbox);

	channel_json(nf, out, CH_TELEGRAM, tg);
	channel_json(nf, out, CH_WEBHOOK, wh);
	json_object_set_new(ob, "messages", json_integer(hb_outbox_count(nf->outbox)));
	json_object_set_new(ob, "oldest_age_s", json_integer(oldest ?
	    (hb_wall_ms() - oldest) / 1000 : 0));
	json_object_set_new(ob, "dead_letters",
	    json_integer(hb_outbox_dead_count(nf->outbox)));
	json_object_set_new(ob, "path", json_string(nf->outbox_path));
	json_object_set_new(out, "outbox", ob);
	if (muted(nf))
		json_object_set_new(out, "muted_until", hb_msg_time(nf->mute_until_ms));
	return ok;
}

static void
heartbeat(void *arg, json_t *hb)
{
	struct notifier *nf = arg;

	json_object_set_new(hb, "notifications_received",
	    json_integer((json_int_t)nf->m_received->value));
	json_object_set_new(hb, "delivered", json_integer((json_int_t)
	    (nf->ch[CH_TELEGRAM].m_delivered->value +
	    nf->ch[CH_WEBHOOK].m_delivered->value)));
	json_object_set_new(hb, "outbox", json_integer(hb_outbox_count(nf->outbox)));
}

static void
register_metrics(struct notifier *nf, struct hb_metrics *m)
{
	for (int c = 0; c < CH_COUNT; c++) {
		char labels[64];
		struct channel_state *cs = &nf->ch[c];

		snprintf(labels, sizeof(labels), "channel=\"%s\"", channel_names[c]);
		cs->m_queued = hb_metrics_counter(m, "messages_queued_total",
		    "Messages put in the outbox (a long notification is several).",
		    labels);
		cs->m_delivered = hb_metrics_counter(m, "messages_delivered_total",
		    "Messages the channel accepted.", labels);
		cs->m_dead = hb_metrics_counter(m, "messages_dead_lettered_total",
		    "Messages refused for good, kept in the dead_letter table.", labels);
		cs->m_errors = hb_metrics_counter(m, "send_errors_total",
		    "Failed sends that will be retried.", labels);
	}
	nf->m_received = hb_metrics_counter(m, "notifications_received_total",
	    "Notifications taken off the bus.", NULL);
	nf->m_invalid = hb_metrics_counter(m, "notifications_invalid_total",
	    "Notifications refused (not JSON, no text, unknown severity).", NULL);
	nf->m_folded = hb_metrics_counter(m, "notifications_folded_total",
	    "Notifications folded into an earlier one with the same key.", NULL);
	nf->m_summaries = hb_metrics_counter(m, "summaries_total",
	    "\"and N more like this\" summaries sent when a dedupe window closed.",
	    NULL);
	nf->m_filtered = hb_metrics_counter(m, "notifications_filtered_total",
	    "Notifications below every destination's min_severity.", NULL);
	nf->m_would_send = hb_metrics_counter(m, "notifications_logged_total",
	    "Notifications only logged because no channel is configured.", NULL);
	nf->m_lost = hb_metrics_counter(m, "notifications_lost_total",
	    "Notifications that could not be written to the outbox.", NULL);
	nf->m_rate_limited = hb_metrics_counter(m, "rate_limited_total",
	    "429 answers (retry_after honoured).", NULL);
	nf->m_updates = hb_metrics_counter(m, "telegram_updates_total",
	    "Updates received from getUpdates.", NULL);
	nf->m_ignored = hb_metrics_counter(m, "telegram_ignored_total",
	    "Updates ignored: from chats not in command_chat_ids, not commands, "
	    "from bots.", NULL);
	nf->m_outbox = hb_metrics_gauge(m, "outbox_messages",
	    "Messages waiting in the outbox.", NULL);
	nf->m_dead_letters = hb_metrics_gauge(m, "dead_letters",
	    "Rows in the outbox's dead_letter table.", NULL);
	nf->m_tg_up = hb_metrics_gauge(m, "telegram_up",
	    "1 when the last Telegram request succeeded.", NULL);
	nf->m_muted = hb_metrics_gauge(m, "muted", "1 while /mute is in force.",
	    NULL);
}

/* ---------------- start and stop ---------------- */

static void
check_drained(struct notifier *nf)
{
	struct lane *l;
	bool busy = false;

	if (!nf->bus_closed)
		return;
	TAILQ_FOREACH(l, &nf->lanes, entry)
		busy |= l->busy;
	if (busy && hb_mono_ms() < nf->drain_deadline_ms)
		return;
	if (hb_outbox_count(nf->outbox) > 0)
		hb_info("exiting with outbox=%lld in %s; they are sent at the next "
		    "start", (long long)hb_outbox_count(nf->outbox), nf->outbox_path);
	else
		hb_info("drained: the outbox is empty");
	hb_service_exit(nf->svc, 0);
}

static void
on_drain_timer(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	check_drained(arg);
}

/*
 * Closes every dedupe window at once: the summaries they hold go to the
 * outbox (sent at the next start if not now) instead of being forgotten.
 */
static void
close_folds(struct notifier *nf)
{
	struct fold *f;
	int held = 0;

	while ((f = TAILQ_FIRST(&nf->folds)) != NULL) {
		held += f->count > 0;
		fold_close(nf, f);
	}
	if (held > 0)
		hb_info("dedupe windows closed early: summaries=%d put in the outbox",
		    held);
}

static void
closed(void *arg)
{
	struct notifier *nf = arg;
	struct timeval tv = { 0, 100000 };

	/* nothing more comes from the bus: nothing more can be folded */
	close_folds(nf);
	nf->bus_closed = true;
	nf->drain_deadline_ms = hb_mono_ms() + nf->drain_timeout_ms;
	event_add(nf->ev_drain, &tv);
	check_drained(nf);
}

static void
stop(void *arg)
{
	struct notifier *nf = arg;

	nf->stopping = true;
	if (nf->poll_xfer) {
		hb_http_cancel(nf->poll_xfer);
		nf->poll_xfer = NULL;
	}
	if (nf->me_xfer) {
		hb_http_cancel(nf->me_xfer);
		nf->me_xfer = NULL;
	}
	evtimer_del(nf->ev_poll);
}

static void
load_meta(struct notifier *nf)
{
	char *v;
	long long n;

	v = hb_outbox_meta_get(nf->outbox, "telegram_offset");
	if (v && hb_parse_ll(v, 0, LLONG_MAX, &n) == 0)
		nf->offset = n;
	free(v);
	v = hb_outbox_meta_get(nf->outbox, "mute_until_ms");
	if (v && hb_parse_ll(v, 0, LLONG_MAX, &n) == 0)
		nf->mute_until_ms = n;
	free(v);
	hb_gauge_set(nf->m_muted, muted(nf) ? 1 : 0);
}

static int
start(void *arg)
{
	struct notifier *nf = arg;
	struct hb_app *app = nf->app;
	const char *prefix = nf->bus_cfg->prefix;
	char err[512], filter[HB_TOPIC_MAX];
	int rc = 0;
	struct timeval tick = { 0, 250000 };

	register_metrics(nf, app->metrics);
	hb_ratelimit_init(&nf->bad_log, 20, 10);
	hb_ratelimit_init(&nf->send_log, 12, 5);
	hb_ratelimit_init(&nf->ignored_log, 20, 10);
	hb_backoff_init(&nf->poll_backoff, nf->retry_min_ms, nf->retry_max_ms);
	nf->poll_limit = POLL_LIMIT;
	hb_rate_init(&nf->tg_global, nf->global_per_s, 1000);
	for (int c = 0; c < CH_COUNT; c++)
		nf->ch[c].ok = true;	/* until a request says otherwise */
	hb_gauge_set(nf->m_tg_up, 1);

	nf->outbox = hb_outbox_open(nf->outbox_path, err, sizeof(err));
	if (nf->outbox == NULL) {
		hb_error("outbox: %s (set notifier.outbox.path or data_dir)", err);
		return -1;
	}
	load_meta(nf);
	hb_outbox_lanes(nf->outbox, note_lane, nf);
	if (hb_outbox_count(nf->outbox) > 0)
		hb_info("outbox holds messages=%lld from before; sending them first",
		    (long long)hb_outbox_count(nf->outbox));
	nf->http = hb_http_client_new(app->base);
	nf->ev_pump = evtimer_new(app->base, on_pump_timer, nf);
	nf->ev_poll = evtimer_new(app->base, on_poll_timer, nf);
	nf->ev_tick = event_new(app->base, -1, EV_PERSIST, on_tick, nf);
	nf->ev_drain = event_new(app->base, -1, EV_PERSIST, on_drain_timer, nf);
	event_add(nf->ev_tick, &tick);

	nf->bus = nf->svc->bus;
	hb_topic_notify(filter, sizeof(filter), prefix, "#");
	rc |= hb_bus_subscribe(nf->bus, filter, 1, on_notify, nf);
	hb_topic_health(filter, sizeof(filter), prefix, "#");
	rc |= hb_bus_subscribe(nf->bus, filter, 1, on_health, nf);
	hb_topic_join(filter, sizeof(filter), prefix, "deploy/state");
	rc |= hb_bus_subscribe(nf->bus, filter, 1, on_deploy_state, nf);
	if (rc != 0)
		return -1;
	if (telegram_on(nf))
		hb_info("notifier ready telegram=%s/bot***/ chats=%zu command_chats=%zu "
		    "poll=%s webhook=%s outbox=%s", nf->api_url, nf->nchats,
		    nf->ncmd_chats, nf->poll ? "yes" : "no",
		    nf->webhook_url[0] ? "yes" : "no", nf->outbox_path);
	else
		hb_info("notifier ready telegram=off webhook=%s outbox=%s%s",
		    nf->webhook_url[0] ? "yes" : "no", nf->outbox_path,
		    nf->webhook_url[0] ? "" : " (no channel: notifications are only "
		    "logged)");
	start_poll(nf);
	pump(nf);
	return 0;
}

static void
destroy(void *arg)
{
	struct notifier *nf = arg;
	struct lane *l;
	struct fold *f;
	struct target *t;
	struct watch *w;

	if (nf->poll_xfer)
		hb_http_cancel(nf->poll_xfer);
	if (nf->me_xfer)
		hb_http_cancel(nf->me_xfer);
	if (nf->outbox && !TAILQ_EMPTY(&nf->folds)) {
		/* stopped some other way than on_stop: keep the summaries too */
		nf->stopping = true;
		close_folds(nf);
	}
	while ((l = TAILQ_FIRST(&nf->lanes)) != NULL) {
		TAILQ_REMOVE(&nf->lanes, l, entry);
		lane_free(l);
	}
	while ((f = TAILQ_FIRST(&nf->folds)) != NULL) {
		TAILQ_REMOVE(&nf->folds, f, entry);
		fold_free(f);
	}
	while ((t = TAILQ_FIRST(&nf->targets)) != NULL) {
		TAILQ_REMOVE(&nf->targets, t, entry);
		free(t);
	}
	while ((w = TAILQ_FIRST(&nf->watches)) != NULL) {
		TAILQ_REMOVE(&nf->watches, w, entry);
		free(w);
	}
	hb_http_client_free(nf->http);
	hb_outbox_close(nf->outbox);
	hb_rate_free(&nf->tg_global);
	if (nf->ev_pump)
		event_free(nf->ev_pump);
	if (nf->ev_poll)
		event_free(nf->ev_poll);
	if (nf->ev_tick)
		event_free(nf->ev_tick);
	if (nf->ev_drain)
		event_free(nf->ev_drain);
	free(nf->chats);
	free(nf->cmd_chats);
	free(nf->token);
	free(nf->webhook_token);
	free(nf);
}

const struct hb_service_def notifier_service = {
	.name = "notifier",
	.persistent = true,
	.receive_max = 100,
	.create = notifier_create,
	.start = start,
	.stop = stop,
	.closed = closed,
	.health = health,
	.refresh = refresh,
	.heartbeat = heartbeat,
	.destroy = destroy,
};
