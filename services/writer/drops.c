/*
 * drops: the drop notification's text and its window.
 */
#include "drops.h"
#include "hb_msg.h"
#include "hb_topic.h"
#include "hb_util.h"

#include <stdio.h>
#include <string.h>

static void
on_window(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	drops_tell(arg, hb_mono_ms());
}

void
drops_init(struct drops *d, struct event_base *base, struct spool *spool,
    const struct retry *retry, int64_t spool_max_bytes, int64_t held_max_bytes,
    int64_t window_ms)
{
	memset(d, 0, sizeof(*d));
	d->spool = spool;
	d->retry = retry;
	d->spool_max_bytes = spool_max_bytes;
	d->held_max_bytes = held_max_bytes;
	d->window_ms = window_ms;
	d->ev_window = evtimer_new(base, on_window, d);
}

void
drops_free(struct drops *d)
{
	if (d->ev_window)
		event_free(d->ev_window);
	d->ev_window = NULL;
}

/* "<n> points (<m> batches)" of the drops of one cause, and why. */
static void
put_cause(struct drops *d, struct hb_buf *text, const struct spool_drops *n,
    bool cap)
{
	struct spool_state st;
	const char *why = retry_reason(d->retry);

	if (n->batches == 0)
		return;
	spool_state(d->spool, &st);
	if (text->len > 0)
		hb_buf_puts(text, "; ");
	hb_buf_printf(text, "%lld points (%lld batches) ", (long long)n->points,
	    (long long)n->batches);
	if (cap)
		hb_buf_printf(text, "because the spool reached writer.spool.max_mb "
		    "(%lld MB) while InfluxDB was unavailable (%s)",
		    (long long)(d->spool_max_bytes >> 20), why[0] ? why : "slow");
	else
		hb_buf_printf(text, "because the spool could not write (%s) and the "
		    "points held in memory reached writer.spool.memory_max_mb "
		    "(%lld MB)", st.error ? st.error : "disk trouble",
		    (long long)(d->held_max_bytes >> 20));
}

static void
publish(struct drops *d, char *text)
{
	char topic[HB_TOPIC_MAX], key[128], source[128];
	struct hb_notify n = { 0 };
	json_t *obj;

	snprintf(key, sizeof(key), "writer-spool-full-%s", hb_bus_instance(d->bus));
	snprintf(source, sizeof(source), "writer/%s", hb_bus_instance(d->bus));
	n.severity = HB_SEV_WARNING;
	n.text = text;
	n.title = "homebus: points dropped";
	n.key = key;
	n.source = source;
	obj = hb_notify_encode(&n);
	hb_topic_notify(topic, sizeof(topic), hb_bus_prefix(d->bus), "warning");
	hb_bus_publish_json(d->bus, topic, obj, 1, false);
	json_decref(obj);
}

/*
 * Called when a window of writer.spool.drop_notify_s ends, so that drops
 * that stopped inside a window are told too, and before the bus closes.
 */
void
drops_tell(struct drops *d, int64_t now_ms)
{
	struct hb_buf why = { 0 }, text = { 0 };

	if ((d->cap.batches == 0 && d->held.batches == 0) || d->bus == NULL ||
	    d->closed)
		return;
	put_cause(d, &why, &d->cap, true);
	put_cause(d, &why, &d->held, false);
	hb_buf_printf(&text, "homebus-writer on %s dropped %lld points (the oldest "
	    "waiting): %s.", hb_bus_instance(d->bus),
	    (long long)(d->cap.points + d->held.points), why.data);
	publish(d, text.data);
	hb_buf_free(&why);
	hb_buf_free(&text);
	memset(&d->cap, 0, sizeof(d->cap));
	memset(&d->held, 0, sizeof(d->held));
	d->last_told_ms = now_ms;
}

void
drops_note(struct drops *d, const struct spool_drops *cap,
    const struct spool_drops *held, int64_t now_ms)
{
	int64_t wait_ms = d->last_told_ms + d->window_ms - now_ms;

	d->cap.batches += cap->batches;
	d->cap.points += cap->points;
	d->held.batches += held->batches;
	d->held.points += held->points;
	if (d->last_told_ms == 0 || wait_ms <= 0) {
		drops_tell(d, now_ms);
		return;
	}
	if (evtimer_pending(d->ev_window, NULL))
		return;
	hb_timer_add_ms(d->ev_window, wait_ms);
}
