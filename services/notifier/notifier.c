/*
 * notifier: the service's own file, wiring its parts together.
 *
 *   P/notify/<severity> -> route (filter, then fold: dedupe per
 *     destination) -> outbox
 *   outbox lanes -> delivery (HTTP, paced) -> removed | retried | dead letter
 *   poller (getUpdates) -> chat (allow-listed commands) -> P/deploy/command,
 *     replies through route
 *   P/health/#, P/deploy/state -> board (for /status), chat (deploy watches)
 *
 * Every part has its own state and header; none calls another back but
 * through a function pointer given here.
 */
#include "notifier.h"
#include "board.h"
#include "channel.h"
#include "chat.h"
#include "delivery.h"
#include "fold.h"
#include "menu.h"
#include "options.h"
#include "poller.h"
#include "route.h"

#include "hb_bus.h"
#include "hb_http_client.h"
#include "hb_log.h"
#include "hb_msg.h"
#include "hb_outbox.h"
#include "hb_topic.h"
#include "hb_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct notifier {
	struct hb_service *svc;
	struct hb_app *app;			/* &svc->app */
	const struct hb_bus_config *bus_cfg;	/* svc->bus_cfg */
	struct notifier_options opt;

	/* parts, in the order they are made */
	struct hb_outbox *outbox;
	struct hb_http_client *http;
	struct channel ch[CH_COUNT];
	struct delivery *delivery;
	struct router *router;
	struct folds *folds;
	struct board *board;
	struct chat *chat;
	struct poller *poller;		/* NULL: no token, or poll off */
	struct menu *menu;		/* NULL: no token */
	long long *lane_chats;		/* chat_ids and command_chat_ids */

	struct event *ev_tick, *ev_drain;
	bool bus_closed;
	int64_t drain_deadline_ms;

	struct hb_ratelimit bad_log;
	struct hb_counter *m_received, *m_invalid;
	struct hb_gauge *m_outbox, *m_dead_letters;
};

static void *
notifier_create(struct hb_service *svc)
{
	struct notifier *nf = hb_xcalloc(1, sizeof(*nf));

	nf->svc = svc;
	nf->app = &svc->app;
	nf->bus_cfg = &svc->bus_cfg;
	options_read(&nf->opt, nf->app);
	return nf;
}

static bool
telegram_on(const struct notifier *nf)
{
	return nf->opt.token != NULL;
}

static bool
webhook_on(const struct notifier *nf)
{
	return nf->opt.webhook_url[0] != '\0';
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
		hb_log_limited(&nf->bad_log, HB_LOG_WARN, "notification on an "
		    "unknown severity topic=\"%.200s\" (use info, warning, error "
		    "or critical)", msg->topic);
		return;
	}
	if (hb_notify_decode(msg->payload, msg->len, (enum hb_severity)sev, &n,
	    err, sizeof(err)) != 0) {
		hb_counter_add(nf->m_invalid, 1);
		hb_log_limited(&nf->bad_log, HB_LOG_WARN, "invalid notification "
		    "topic=\"%.200s\" reason=\"%s\"", msg->topic, err);
		return;
	}
	route_notify(nf->router, &n);
	hb_notify_free(&n);
}

/* P/health/<target> */
static void
on_health(void *arg, const struct hb_bus_msg *msg)
{
	struct notifier *nf = arg;
	char err[200];

	if (board_health(nf->board, msg->rest, msg->payload, msg->len, err,
	    sizeof(err)) != 0)
		hb_log_limited(&nf->bad_log, HB_LOG_WARN, "invalid health message "
		    "topic=\"%.200s\" reason=\"%s\"", msg->topic, err);
}

/* P/deploy/state */
static void
on_deploy_state(void *arg, const struct hb_bus_msg *msg)
{
	struct notifier *nf = arg;
	struct hb_deploy_state s;
	char err[200];

	if (msg->len == 0)
		return;
	if (hb_deploy_state_decode(msg->payload, msg->len, &s, err,
	    sizeof(err)) != 0) {
		hb_log_limited(&nf->bad_log, HB_LOG_WARN, "invalid deploy state "
		    "reason=\"%s\"", err);
		return;
	}
	board_deploy(nf->board, &s);
	chat_deploy_state(nf->chat, &s, hb_mono_ms());
}

/* ---------------- between the parts ---------------- */

static void
note_lane(void *arg, const char *lane)
{
	delivery_note_lane(arg, lane);
}

/* Dedupe, asked by the router for each destination that takes n. */
static bool
hold(void *arg, size_t dest, const struct hb_notify *n)
{
	struct notifier *nf = arg;

	return fold_take(nf->folds, dest, n, hb_mono_ms());
}

static void
on_tick(evutil_socket_t fd, short what, void *arg)
{
	struct notifier *nf = arg;
	int64_t now = hb_mono_ms();

	(void)fd;
	(void)what;
	fold_expire(nf->folds, now);
	chat_tick(nf->chat, now);
	route_tick(nf->router);
}

/* ---------------- health, metrics ---------------- */

static void
refresh(void *arg)
{
	struct notifier *nf = arg;

	hb_gauge_set(nf->m_outbox, (double)hb_outbox_count(nf->outbox));
	hb_gauge_set(nf->m_dead_letters, (double)hb_outbox_dead_count(nf->outbox));
}

static bool
health(void *arg, json_t *out)
{
	struct notifier *nf = arg;
	bool tg = telegram_on(nf), wh = webhook_on(nf);
	bool ok = (!tg || nf->ch[CH_TELEGRAM].ok) && (!wh || nf->ch[CH_WEBHOOK].ok);
	json_t *ob = json_object();
	int64_t oldest = hb_outbox_oldest_ms(nf->outbox);
	int64_t muted_until = route_muted_until(nf->router);

	channel_json(&nf->ch[CH_TELEGRAM], out, tg);
	channel_json(&nf->ch[CH_WEBHOOK], out, wh);
	json_object_set_new(ob, "messages",
	    json_integer(hb_outbox_count(nf->outbox)));
	json_object_set_new(ob, "oldest_age_s", json_integer(oldest ?
	    (hb_wall_ms() - oldest) / 1000 : 0));
	json_object_set_new(ob, "dead_letters",
	    json_integer(hb_outbox_dead_count(nf->outbox)));
	json_object_set_new(ob, "path", json_string(nf->opt.outbox_path));
	json_object_set_new(out, "outbox", ob);
	if (muted_until > 0)
		json_object_set_new(out, "muted_until", hb_msg_time(muted_until));
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
	json_object_set_new(hb, "outbox",
	    json_integer(hb_outbox_count(nf->outbox)));
}

static void
register_metrics(struct notifier *nf, struct hb_metrics *m)
{
	nf->m_received = hb_metrics_counter(m, "notifications_received_total",
	    "Notifications taken off the bus.", NULL);
	nf->m_invalid = hb_metrics_counter(m, "notifications_invalid_total",
	    "Notifications refused (not JSON, no text, unknown severity).", NULL);
	nf->m_outbox = hb_metrics_gauge(m, "outbox_messages",
	    "Messages waiting in the outbox.", NULL);
	nf->m_dead_letters = hb_metrics_gauge(m, "dead_letters",
	    "Rows in the outbox's dead_letter table.", NULL);
}

/* ---------------- stop ---------------- */

static void
check_drained(struct notifier *nf)
{
	if (!nf->bus_closed)
		return;
	if (delivery_busy(nf->delivery) && hb_mono_ms() < nf->drain_deadline_ms)
		return;
	if (hb_outbox_count(nf->outbox) > 0)
		hb_info("exiting with outbox=%lld in %s; they are sent at the next "
		    "start", (long long)hb_outbox_count(nf->outbox),
		    nf->opt.outbox_path);
	else
		hb_info("drained: the outbox is empty");
	hb_service_exit(nf->svc, 0);
}

static void
on_answered(void *arg)
{
	check_drained(arg);
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
	int held = fold_close_all(nf->folds);

	if (held > 0)
		hb_info("dedupe windows closed early: summaries=%d put in the outbox",
		    held);
}

static void
stop(void *arg)
{
	struct notifier *nf = arg;

	delivery_stop(nf->delivery, on_answered, nf);
	if (nf->poller)
		poll_stop(nf->poller);
	/* what is not registered yet is at the next start */
	menu_free(nf->menu);
	nf->menu = NULL;
}

static void
closed(void *arg)
{
	struct notifier *nf = arg;

	/* nothing more comes from the bus: nothing more can be folded */
	close_folds(nf);
	nf->bus_closed = true;
	nf->drain_deadline_ms = hb_mono_ms() + nf->opt.drain_timeout_ms;
	hb_timer_add_ms(nf->ev_drain, 100);
	check_drained(nf);
}

/* ---------------- start ---------------- */

/* The parts that send: delivery, and route in front of it. */
static void
start_sending(struct notifier *nf)
{
	struct hb_app *app = nf->app;

	for (int c = 0; c < CH_COUNT; c++)
		channel_init(&nf->ch[c], (enum channel_kind)c, app->metrics,
		    nf->outbox);
	/* the chats a message may still go to: notified, or answered */
	nf->lane_chats = hb_xcalloc(nf->opt.nchats + nf->opt.ncmd_chats + 1,
	    sizeof(*nf->lane_chats));
	for (size_t i = 0; i < nf->opt.nchats; i++)
		nf->lane_chats[i] = nf->opt.chats[i].id;
	memcpy(nf->lane_chats + nf->opt.nchats, nf->opt.cmd_chats,
	    nf->opt.ncmd_chats * sizeof(*nf->lane_chats));
	nf->http = hb_http_client_new(app->base);
	nf->delivery = delivery_new(&(struct delivery_config){
		.api_url = nf->opt.api_url,
		.token = nf->opt.token,
		.chats = nf->lane_chats,
		.nchats = nf->opt.nchats + nf->opt.ncmd_chats,
		.tg_timeout_ms = nf->opt.tg_timeout_ms,
		.chat_interval_ms = nf->opt.chat_interval_ms,
		.group_max = nf->opt.group_max,
		.group_window_ms = nf->opt.group_window_ms,
		.global_per_s = nf->opt.global_per_s,
		.webhook_url = nf->opt.webhook_url,
		.webhook_token = nf->opt.webhook_token,
		.webhook_timeout_ms = nf->opt.webhook_timeout_ms,
		.retry_min_ms = nf->opt.retry_min_ms,
		.retry_max_ms = nf->opt.retry_max_ms,
	    }, app->base, nf->http, nf->outbox, nf->ch, app->metrics);
	nf->router = route_new(&(struct route_config){
		.chats = nf->opt.chats,
		.nchats = nf->opt.nchats,
		.telegram = telegram_on(nf),
		.webhook_url = nf->opt.webhook_url,
		.webhook_min_sev = nf->opt.webhook_min_sev,
		.instance = nf->bus_cfg->instance,
		.outbox_path = nf->opt.outbox_path,
		.hold = hold,
		.hold_arg = nf,
	    }, nf->outbox, nf->delivery, nf->ch, app->metrics);
	nf->folds = fold_new(nf->opt.dedupe_window_ms, nf->router, app->metrics);
}

/* The parts that listen: the board, chat commands, and their poller. */
static void
start_listening(struct notifier *nf)
{
	struct hb_app *app = nf->app;
	struct telegram_api api = {
		.url = nf->opt.api_url,
		.token = nf->opt.token,
		.timeout_ms = nf->opt.tg_timeout_ms,
		.retry_min_ms = nf->opt.retry_min_ms,
		.retry_max_ms = nf->opt.retry_max_ms,
	};

	nf->board = board_new();
	nf->chat = chat_new(&(struct chat_config){
		.cmd_chats = nf->opt.cmd_chats,
		.ncmd_chats = nf->opt.ncmd_chats,
		.prefix = nf->bus_cfg->prefix,
		.max_age_ms = nf->opt.max_command_age_ms,
	    }, nf->svc->bus, nf->router, nf->board, nf->outbox, app->metrics);
	if (telegram_on(nf) && nf->opt.poll)
		nf->poller = poll_new(&(struct poll_config){
			.api = api,
			.poll_timeout_s = nf->opt.poll_timeout_s,
			.outbox_path = nf->opt.outbox_path,
		    }, app->base, nf->http, nf->outbox, &nf->ch[CH_TELEGRAM],
		    app->metrics, nf->chat);
	if (telegram_on(nf))
		nf->menu = menu_new(&(struct menu_config){
			.api = api,
			.chats = nf->opt.cmd_chats,
			.nchats = nf->opt.ncmd_chats,
		    }, app->base, nf->http, nf->outbox);
}

static int
subscribe(struct notifier *nf)
{
	struct hb_bus *bus = nf->svc->bus;
	const char *prefix = nf->bus_cfg->prefix;
	char filter[HB_TOPIC_MAX];
	int rc = 0;

	hb_topic_notify(filter, sizeof(filter), prefix, "#");
	rc |= hb_bus_subscribe(bus, filter, 1, on_notify, nf);
	hb_topic_health(filter, sizeof(filter), prefix, "#");
	rc |= hb_bus_subscribe(bus, filter, 1, on_health, nf);
	hb_topic_join(filter, sizeof(filter), prefix, "deploy/state");
	rc |= hb_bus_subscribe(bus, filter, 1, on_deploy_state, nf);
	return rc;
}

static void
log_ready(struct notifier *nf)
{
	const char *wh = webhook_on(nf) ? "yes" : "no";

	if (telegram_on(nf))
		hb_info("notifier ready telegram=%s/bot***/ chats=%zu "
		    "command_chats=%zu poll=%s webhook=%s outbox=%s",
		    nf->opt.api_url, nf->opt.nchats, nf->opt.ncmd_chats,
		    nf->opt.poll ? "yes" : "no", wh, nf->opt.outbox_path);
	else
		hb_info("notifier ready telegram=off webhook=%s outbox=%s%s", wh,
		    nf->opt.outbox_path, webhook_on(nf) ? "" : " (no channel: "
		    "notifications are only logged)");
}

static int
start(void *arg)
{
	struct notifier *nf = arg;
	struct hb_app *app = nf->app;
	char err[512];

	register_metrics(nf, app->metrics);
	hb_ratelimit_init(&nf->bad_log, 20, 10);
	nf->outbox = hb_outbox_open(nf->opt.outbox_path, err, sizeof(err));
	if (nf->outbox == NULL) {
		hb_error("outbox: %s (set notifier.outbox.path or data_dir)", err);
		return -1;
	}
	start_sending(nf);
	start_listening(nf);
	hb_outbox_lanes(nf->outbox, note_lane, nf->delivery);
	if (hb_outbox_count(nf->outbox) > 0)
		hb_info("outbox holds messages=%lld from before; sending them first",
		    (long long)hb_outbox_count(nf->outbox));
	nf->ev_tick = event_new(app->base, -1, EV_PERSIST, on_tick, nf);
	nf->ev_drain = event_new(app->base, -1, EV_PERSIST, on_drain_timer, nf);
	hb_timer_add_ms(nf->ev_tick, 250);
	if (subscribe(nf) != 0)
		return -1;
	log_ready(nf);
	if (nf->poller)
		poll_start(nf->poller);
	if (nf->menu)
		menu_start(nf->menu);
	delivery_pump(nf->delivery);
	return 0;
}

static void
destroy(void *arg)
{
	struct notifier *nf = arg;

	if (nf->poller)
		poll_stop(nf->poller);
	if (nf->folds && fold_open_count(nf->folds) > 0) {
		/* stopped some other way than on_stop: keep the summaries too */
		delivery_stop(nf->delivery, NULL, NULL);
		close_folds(nf);
	}
	poll_free(nf->poller);
	menu_free(nf->menu);
	chat_free(nf->chat);
	board_free(nf->board);
	fold_free(nf->folds);
	route_free(nf->router);
	delivery_free(nf->delivery);
	hb_http_client_free(nf->http);
	hb_outbox_close(nf->outbox);
	if (nf->ev_tick)
		event_free(nf->ev_tick);
	if (nf->ev_drain)
		event_free(nf->ev_drain);
	free(nf->lane_chats);
	options_free(&nf->opt);
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
