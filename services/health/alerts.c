/*
 * alerts: transitions told on P/notify/<severity>, rate-limited.
 */
#include "alerts.h"
#include "hb_log.h"
#include "hb_msg.h"
#include "hb_topic.h"
#include "hb_util.h"
#include "page.h"

#include <stdio.h>
#include <string.h>

static const char *const sev_choices[] = { "info", "warning", "error",
	"critical", "off", NULL };

void
alerts_read(struct alerts *a, struct hb_config *cfg)
{
	a->enabled = hb_cfg_bool(cfg, "health.notify.enabled", true);
	a->sev_down = hb_cfg_enum(cfg, "health.notify.down", sev_choices,
	    HB_SEV_CRITICAL);
	a->sev_degraded = hb_cfg_enum(cfg, "health.notify.degraded", sev_choices,
	    HB_SEV_WARNING);
	a->sev_recovered = hb_cfg_enum(cfg, "health.notify.recovered", sev_choices,
	    HB_SEV_INFO);
	a->per_minute = (int)hb_cfg_int(cfg, "health.notify.max_per_minute", 20, 1,
	    10000);
}

static void
on_window(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	alerts_flush(arg);
}

void
alerts_start(struct alerts *a, struct event_base *base, struct hb_bus *bus,
    struct hb_metrics *metrics, struct target_list *targets, const char *prefix,
    const char *instance)
{
	char labels[64];

	a->bus = bus;
	a->targets = targets;
	a->prefix = prefix;
	a->instance = instance;
	a->window_ms = hb_mono_ms();
	a->window_wall_ms = hb_wall_ms();
	a->ev_window = evtimer_new(base, on_window, a);
	for (int k = 0; k < 4; k++) {
		snprintf(labels, sizeof(labels), "severity=\"%s\"",
		    hb_severity_name((enum hb_severity)k));
		a->m_notify[k] = hb_metrics_counter(metrics, "notifications_total",
		    "Notifications published on P/notify/<severity>.", labels);
	}
	a->m_folded = hb_metrics_counter(metrics, "notifications_folded_total",
	    "Changes told in one summary because of notify.max_per_minute.", NULL);
}

void
alerts_stop(struct alerts *a)
{
	a->open = false;
	if (a->ev_window)
		evtimer_del(a->ev_window);
}

void
alerts_free(struct alerts *a)
{
	if (a->ev_window)
		event_free(a->ev_window);
	a->ev_window = NULL;
}

/* The severity of telling `to` after `from` was told, or -1 for none. */
static int
severity_for(const struct alerts *a, enum hb_health_state from,
    enum hb_health_state to)
{
	int sev = ALERTS_OFF;

	if (to == HB_HEALTH_DOWN)
		sev = a->sev_down;
	else if (to == HB_HEALTH_DEGRADED)
		sev = a->sev_degraded;
	else if (to == HB_HEALTH_OK && (from == HB_HEALTH_DOWN ||
	    from == HB_HEALTH_DEGRADED))
		sev = a->sev_recovered;
	return sev == ALERTS_OFF ? -1 : sev;
}

static void
send_notification(struct alerts *a, int sev, const char *title, const char *text,
    const char *key)
{
	struct hb_notify n;
	char topic[HB_TOPIC_MAX], source[128];
	json_t *o;

	memset(&n, 0, sizeof(n));
	snprintf(source, sizeof(source), "health/%s", a->instance);
	n.severity = (enum hb_severity)sev;
	n.text = (char *)(uintptr_t)text;
	n.title = (char *)(uintptr_t)title;
	n.key = (char *)(uintptr_t)key;
	n.source = source;
	o = hb_notify_encode(&n);
	hb_topic_notify(topic, sizeof(topic), a->prefix,
	    hb_severity_name((enum hb_severity)sev));
	hb_bus_publish_json(a->bus, topic, o, 1, false);
	json_decref(o);
	hb_counter_add(a->m_notify[sev], 1);
	a->sent_in_window++;
	hb_info("notify severity=%s key=%s text=\"%s\"",
	    hb_severity_name((enum hb_severity)sev), key, text);
}

static void
notify_target(struct alerts *a, const struct target *t, int sev)
{
	struct hb_buf text = { 0 }, title = { 0 };
	char key[TARGET_NAME_MAX + 32], dur[40];
	const char *st = hb_health_state_name(t->state);

	if (t->state == HB_HEALTH_OK) {
		page_duration(hb_wall_ms() - t->notified_since_ms, dur, sizeof(dur));
		hb_buf_printf(&title, "%s is ok again", t->name);
		hb_buf_printf(&text, "%s is ok again (%s for %s): %s", t->name,
		    hb_health_state_name(t->notified), dur, t->reason);
	} else {
		hb_buf_printf(&title, "%s is %s", t->name, st);
		hb_buf_printf(&text, "%s is %s: %s", t->name, st, t->reason);
	}
	/* one key per transition: the notifier folds repeats of a key, and a
	 * second outage is not a repeat of the first; the same transition
	 * told again (a restart, a resend) has the same since */
	snprintf(key, sizeof(key), "health/%s/%s/%lld", t->name, st,
	    (long long)t->since_ms);
	send_notification(a, sev, title.data, text.data, key);
	hb_buf_free(&text);
	hb_buf_free(&title);
}

/* Once per other watcher seen: a person has to stop one of the two. */
static void
tell_other_watcher(struct alerts *a)
{
	char text[400], key[128];

	snprintf(text, sizeof(text), "Two health watchers on one broker: %s and %s "
	    "both publish %s/health/<target> and overwrite each other. Run one "
	    "watcher per bus prefix.", a->instance, a->watcher, a->prefix);
	snprintf(key, sizeof(key), "health/_watchers/%s", a->watcher);
	send_notification(a, HB_SEV_WARNING, "two health watchers", text, key);
	a->watcher_told = true;
}

void
alerts_other_watcher(struct alerts *a, const char *instance)
{
	if (instance == NULL) {
		a->watcher[0] = '\0';
		return;
	}
	if (strcmp(a->watcher, instance) == 0)
		return;
	snprintf(a->watcher, sizeof(a->watcher), "%s", instance);
	a->watcher_told = false;
	alerts_flush(a);
}

/*
 * Counts the targets with something to tell, and the worst severity among
 * them; a change that is not to be told (off, notify false) is taken as
 * told.
 */
static int
waiting_changes(struct alerts *a, int *worst)
{
	struct target *t;
	int waiting = 0;

	*worst = -1;
	TAILQ_FOREACH(t, a->targets, entry) {
		int sev;

		if (t->state == t->notified || t->state == HB_HEALTH_UNKNOWN)
			continue;
		sev = severity_for(a, t->notified, t->state);
		if (sev < 0 || !t->notify || !a->enabled) {
			t->notified = t->state;	/* nothing to tell */
			t->notified_since_ms = t->since_ms;
			continue;
		}
		waiting++;
		if (sev > *worst)
			*worst = sev;
	}
	return waiting;
}

/* Past the window's room: what waits goes out as one message. */
static void
send_summary(struct alerts *a, int waiting, int worst, const struct hb_buf *list,
    int listed)
{
	struct hb_buf full = { 0 };
	char key[64];

	hb_buf_printf(&full, "%d health changes at once: %s%s", waiting,
	    list->data, listed > 20 ? ", ..." : "");
	hb_counter_add(a->m_folded, (uint64_t)waiting);
	/* one summary a window (what changes after it waits for the next), so
	 * the window's start makes its key unique */
	snprintf(key, sizeof(key), "health/_summary/%lld",
	    (long long)a->window_wall_ms);
	send_notification(a, worst, "many health changes", full.data, key);
	a->sent_in_window = a->per_minute;
	hb_buf_free(&full);
}

void
alerts_flush(struct alerts *a)
{
	struct target *t;
	struct hb_buf list = { 0 };
	int64_t now = hb_mono_ms();
	int waiting, worst, listed = 0, room;

	if (!a->open)
		return;
	if (now - a->window_ms >= 60000) {
		a->window_ms = now;
		a->window_wall_ms = hb_wall_ms();
		a->sent_in_window = 0;
	}
	if (a->watcher[0] && !a->watcher_told && a->enabled)
		tell_other_watcher(a);
	waiting = waiting_changes(a, &worst);
	if (waiting == 0)
		return;
	room = a->per_minute - a->sent_in_window;
	if (room <= 0) {
		/* on the second after the window ends */
		if (!evtimer_pending(a->ev_window, NULL))
			hb_timer_add_ms(a->ev_window, ((a->window_ms + 60000 - now) /
			    1000 + 1) * 1000);
		return;
	}
	TAILQ_FOREACH(t, a->targets, entry) {
		if (t->state == t->notified || t->state == HB_HEALTH_UNKNOWN)
			continue;
		if (waiting <= room)
			notify_target(a, t, severity_for(a, t->notified, t->state));
		else if (listed++ < 20)
			hb_buf_printf(&list, "%s%s %s", listed > 1 ? ", " : "", t->name,
			    t->state == HB_HEALTH_OK ? "ok again" :
			    hb_health_state_name(t->state));
		t->notified = t->state;
		t->notified_since_ms = t->since_ms;
	}
	if (waiting > room)
		send_summary(a, waiting, worst, &list, listed);
	hb_buf_free(&list);
}
