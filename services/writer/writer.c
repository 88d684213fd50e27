/*
 * writer: the batch writer's parts, wired together.
 *
 *   bus message -> intake (checked, stamped) -> batch (group commit)
 *   batch -> spool -> send -> InfluxDB -> deleted | settled | retried
 *   caps keep the spool in bounds, drops tell what they dropped,
 *   status answers /health and /metrics.
 *
 * Each part has its own state and header and calls the parts it needs
 * directly; what concerns the whole writer comes back here: a batch to
 * commit (writer_commit) and an answer acted on (writer_answered).
 */
#include "writer.h"
#include "batch.h"
#include "drops.h"
#include "influx.h"
#include "intake.h"
#include "caps.h"
#include "options.h"
#include "retry.h"
#include "send.h"
#include "spool.h"
#include "status.h"

#include "hb_bus.h"
#include "hb_http_client.h"
#include "hb_log.h"
#include "hb_topic.h"
#include "hb_util.h"

#include <stdlib.h>
#include <string.h>

struct writer {
	struct hb_service *svc;
	struct writer_options opt;
	struct writer_metrics m;

	struct hb_bus *bus;		/* svc->bus, once started */
	struct hb_http_client *http;
	struct influx *influx;
	struct spool *spool;

	struct intake intake;
	struct batch batch;
	struct retry retry;
	struct database database;
	struct sender send;
	struct caps caps;
	struct drops drops;
	struct status status;

	struct event *ev_drain;
	struct event *ev_stage;		/* the next staged batch is due on disk */
	bool stopping;
	bool bus_closed;
	int64_t drain_deadline_ms;
};

static void check_drained(struct writer *w);

/* ---------------- between the parts ---------------- */

/*
 * The staged batches that are due go to disk, one at a time with the cap
 * enforced after each (as for a batch committed at once), so that a backlog
 * written in one go does not carry the file past writer.spool.max_mb; the
 * timer follows the next.
 */
static void
write_due(struct writer *w)
{
	int64_t now = hb_mono_ms(), next;

	do {
		int64_t staged = spool_staged_batches(w->spool);

		next = spool_write_due(w->spool, now, 1);
		if (spool_staged_batches(w->spool) == staged)
			break;
		/* the file grew, or the disk said no */
		caps_watch(&w->caps);
		caps_enforce(&w->caps);
	} while (next > 0 && next <= now);
	if (next > 0)
		hb_timer_add_ms(w->ev_stage, next - now);
	else
		evtimer_del(w->ev_stage);
}

static void
on_stage_timer(evutil_socket_t fd, short what, void *arg)
{
	struct writer *w = arg;

	(void)fd;
	(void)what;
	write_due(w);
}

/*
 * The spool takes the batch whatever the disk does (in memory when SQLite
 * cannot write), so that what is received is always sent. While InfluxDB
 * takes writes the batch is staged: sent from memory, and committed to
 * SQLite only if InfluxDB has not taken it writer.spool.commit_ms after its
 * oldest point arrived (less the min_write_interval_ms a point may wait in
 * the bus's mailbox), so a SIGKILL loses at most the last commit_ms. While
 * InfluxDB is away, while the writer stops, and behind writer.max_inflight
 * staged batches, it is committed at once: a burst waits on disk, not in
 * memory.
 */
void
writer_commit(struct writer *w, struct hb_buf *lines, int64_t points,
    int64_t first_ms)
{
	int64_t id, due;

	if (w->retry.ok && !w->stopping &&
	    spool_staged_batches(w->spool) < w->opt.max_inflight) {
		due = (first_ms > 0 ? first_ms : hb_mono_ms()) + w->opt.commit_ms -
		    w->opt.min_interval_ms;
		id = spool_stage_buf(w->spool, lines, points, due);
		if (!evtimer_pending(w->ev_stage, NULL))
			write_due(w);
	} else {
		id = spool_commit_buf(w->spool, lines, points);
		caps_watch(&w->caps);
		caps_enforce(&w->caps);
	}
	send_committed(&w->send, id);
	send_pump(&w->send);
}

void
writer_answered(struct writer *w)
{
	/* nothing staged is left to write: no wake-up for it */
	if (spool_staged_batches(w->spool) == 0)
		evtimer_del(w->ev_stage);
	/* dead letters, the halves of a split and a staged batch committed
	 * because its write failed take room too */
	caps_enforce(&w->caps);
	caps_watch(&w->caps);
	/* the slot is free: what gathered meanwhile goes out as one batch */
	if (!batch_empty(&w->batch) && w->send.ninflight == 0 &&
	    retry_may_send(&w->retry))
		batch_kick(&w->batch);
	else
		send_pump(&w->send);
	if (w->stopping)
		check_drained(w);
}

/* ---------------- taking points ---------------- */

static void
on_message(void *arg, const struct hb_bus_msg *msg)
{
	struct writer *w = arg;
	struct intake_cursor cur = { 0 };

	if (intake_skip_retained(&w->intake, msg))
		return;
	while (!cur.done)
		batch_added(&w->batch, intake_lines(&w->intake, msg, &cur,
		    &w->batch.lines, batch_room(&w->batch)));
	batch_arrived(&w->batch);
}

/* ---------------- start ---------------- */

static void *
writer_create(struct hb_service *svc)
{
	struct writer *w = hb_xcalloc(1, sizeof(*w));

	w->svc = svc;
	writer_options_read(&w->opt, &svc->app, svc->bus_cfg.client_id);
	return w;
}

/* Builds the parts on the spool and InfluxDB's client, and wires them. */
static void
build_parts(struct writer *w, struct event_base *base)
{
	const struct writer_options *o = &w->opt;
	const struct batch_policy policy = { o->batch_size, o->min_interval_ms,
	    o->commit_ms };

	intake_init(&w->intake, &o->limits, o->influx.precision, o->stamp_slot,
	    o->accept_retained);
	w->intake.received = w->m.received;
	w->intake.rejected = w->m.rejected;
	w->intake.retained = w->m.retained;
	batch_init(&w->batch, base, &policy, w, &w->send);
	w->batch.bus = w->bus;
	w->batch.spooled = w->m.spooled;
	w->batch.batch_points = w->m.batch_points;
	retry_init(&w->retry, base, w->influx, influx_display_url(w->influx),
	    o->retry_max_ms, &w->send, w->spool);
	w->retry.up = w->m.influx_up;
	database_init(&w->database, w->influx, &w->retry, &o->influx);
	send_init(&w->send, o, w->spool, w->influx, &w->retry, w);
	w->send.database = &w->database;
	w->send.written = w->m.written;
	w->send.batches_written = w->m.batches_written;
	w->send.replayed = w->m.replayed;
	w->send.write_errors = w->m.write_errors;
	w->send.inflight = w->m.inflight;
	w->send.write_seconds = w->m.write_seconds;
	w->send.settle.dead = w->m.dead;
	caps_init(&w->caps, base, w->spool, o->spool_max_bytes,
	    o->held_max_bytes, &w->send, &w->drops);
	w->caps.dropped = w->m.dropped;
	w->caps.dead_dropped = w->m.dead_dropped;
	w->caps.batches_dropped = w->m.batches_dropped;
	w->caps.spool_ok = w->m.spool_ok;
	drops_init(&w->drops, base, w->spool, &w->retry, o->spool_max_bytes,
	    o->held_max_bytes, o->drop_notify_ms);
	w->drops.bus = w->bus;
	w->status = (struct status){ .bus = w->bus, .spool = w->spool,
	    .retry = &w->retry, .spool_path = o->spool_path, .m = &w->m };
}

static int
subscribe(struct writer *w)
{
	char filter[HB_TOPIC_MAX];

	hb_topic_points(filter, sizeof(filter), hb_service_prefix(w->svc), "#");
	if (w->opt.share_group[0]) {
		char plain[HB_TOPIC_MAX];

		snprintf(plain, sizeof(plain), "%s", filter);
		hb_topic_share(filter, sizeof(filter), w->opt.share_group, plain);
	}
	if (hb_bus_subscribe(w->bus, filter, 1, on_message, w) != 0)
		return -1;
	hb_info("writer ready influx=%s api=v%d subscription=\"%s\" spool=%s",
	    influx_display_url(w->influx), w->opt.influx.api, filter,
	    w->opt.spool_path);
	return 0;
}

static void on_drain_timer(evutil_socket_t fd, short what, void *arg);

static int
writer_start(void *arg)
{
	struct writer *w = arg;
	struct hb_app *app = &w->svc->app;
	char err[512];

	writer_metrics_register(&w->m, app->metrics);
	w->spool = spool_open(w->opt.spool_path, w->opt.spool_max_bytes, err,
	    sizeof(err));
	if (w->spool == NULL) {
		hb_error("spool: %s (set writer.spool.path or data_dir)", err);
		return -1;
	}
	if (spool_batches(w->spool) > 0)
		hb_info("spool holds points=%lld batches=%lld from before; replaying "
		    "oldest first", (long long)spool_points(w->spool),
		    (long long)spool_batches(w->spool));
	w->http = hb_http_client_new(app->base);
	w->influx = influx_new(w->http, &w->opt.influx);
	w->bus = w->svc->bus;
	build_parts(w, app->base);
	/* a spool opened on a full disk with rows left to delete: retried */
	caps_watch(&w->caps);
	retry_start(&w->retry);
	w->ev_drain = event_new(app->base, -1, EV_PERSIST, on_drain_timer, w);
	w->ev_stage = evtimer_new(app->base, on_stage_timer, w);
	if (subscribe(w) != 0)
		return -1;
	send_pump(&w->send);
	return 0;
}

/* ---------------- stop: drain, then exit ---------------- */

static void
drain_done(struct writer *w)
{
	struct spool_state st;
	int r;

	/* what is staged goes to disk now; a last chance for what the spool
	 * holds in memory */
	spool_write_due(w->spool, INT64_MAX, INT64_MAX);
	do {
		r = spool_retry(w->spool);
		spool_state(w->spool, &st);
	} while (r == 1 && !st.failing);
	if (st.held_points > 0) {
		hb_counter_add(w->m.dropped, (uint64_t)st.held_points);
		hb_error("exiting with points=%lld held in memory that the spool could "
		    "not write (%s): they are lost", (long long)st.held_points,
		    st.error ? st.error : "?");
	}
	if (spool_points(w->spool) - st.held_points > 0)
		hb_info("exiting with spooled_points=%lld in %s; they are sent at the "
		    "next start", (long long)(spool_points(w->spool) -
		    st.held_points), w->opt.spool_path);
	else if (st.held_points == 0)
		hb_info("drained: every point is in InfluxDB");
	hb_service_exit(w->svc, 0);
}

static void
check_drained(struct writer *w)
{
	if (!w->bus_closed)
		return;
	if ((spool_batches(w->spool) == 0 && w->send.ninflight == 0 &&
	    batch_empty(&w->batch)) || hb_mono_ms() >= w->drain_deadline_ms)
		drain_done(w);
}

static void
on_drain_timer(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	check_drained(arg);
}

static void
writer_closed(void *arg)
{
	struct writer *w = arg;

	w->bus_closed = true;
	w->drops.closed = true;
	batch_commit(&w->batch);
	w->drain_deadline_ms = hb_mono_ms() + w->opt.drain_timeout_ms;
	hb_timer_add_ms(w->ev_drain, 100);
	check_drained(w);
}

static void
writer_stop(void *arg)
{
	struct writer *w = arg;

	w->stopping = true;
	retry_stop(&w->retry);
	drops_tell(&w->drops, hb_mono_ms());	/* while the bus still takes it */
}

/* ---------------- health, metrics, heartbeat ---------------- */

static bool
writer_health(void *arg, json_t *out)
{
	struct writer *w = arg;

	return status_health(&w->status, out);
}

static void
writer_refresh(void *arg)
{
	struct writer *w = arg;

	status_refresh(&w->status);
}

static void
writer_heartbeat(void *arg, json_t *hb)
{
	struct writer *w = arg;

	status_heartbeat(&w->status, hb);
}

static void
writer_destroy(void *arg)
{
	struct writer *w = arg;

	send_free(&w->send);
	database_free(&w->database);
	retry_free(&w->retry);
	influx_free(w->influx);
	hb_http_client_free(w->http);
	caps_free(&w->caps);
	drops_free(&w->drops);
	batch_free(&w->batch);
	spool_close(w->spool);
	if (w->ev_drain)
		event_free(w->ev_drain);
	if (w->ev_stage)
		event_free(w->ev_stage);
	writer_options_free(&w->opt);
	free(w);
}

const struct hb_service_def writer_service = {
	.name = "writer",
	.persistent = true,
	.receive_max = 1000,
	.coalesce_us = 3000,
	.create = writer_create,
	.start = writer_start,
	.stop = writer_stop,
	.closed = writer_closed,
	.health = writer_health,
	.refresh = writer_refresh,
	.heartbeat = writer_heartbeat,
	.destroy = writer_destroy,
};
