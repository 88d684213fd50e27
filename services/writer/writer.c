/*
 * writer: the batch writer's data path.
 *
 *   bus message -> lines validated, stamped -> pending
 *   pending -> (group commit) -> spool batch
 *   spool batch -> InfluxDB -> deleted | split | dead-lettered | retried
 *
 * A batch is committed when no write is in flight (so a lone point never
 * waits for a timer), when it reaches writer.batch_size, or after
 * writer.spool.commit_ms, which bounds what a SIGKILL can lose.
 */
#include "writer.h"
#include "influx.h"
#include "spool.h"

#include "hb_bus.h"
#include "hb_http_client.h"
#include "hb_log.h"
#include "hb_lp.h"
#include "hb_msg.h"
#include "hb_topic.h"
#include "hb_util.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#define MAX_INFLIGHT 4

struct send {
	struct writer *w;
	struct spool_batch batch;
	struct hb_http_xfer *xfer;
	bool busy;
};

struct writer {
	struct hb_service *svc;
	struct influx_config influx_cfg;
	char spool_path[PATH_MAX];
	char share_group[64];
	int64_t batch_size;
	int64_t flush_interval_ms;
	int64_t commit_ms;
	int64_t spool_max_bytes;
	int64_t drain_timeout_ms;
	int64_t retry_max_ms;
	int64_t min_interval_ms;
	int64_t stamp_slot;
	int64_t unit_ns;		/* nanoseconds in one unit of influx.precision */
	bool accept_retained;
	struct hb_lp_limits limits;
	int max_inflight;

	struct hb_bus *bus;		/* svc->bus, once started */
	struct hb_http_client *http;
	struct influx *influx;
	struct spool *spool;

	/* lines received, not yet committed */
	struct hb_buf pending;
	int64_t pending_points;
	int64_t pending_since_ms;
	int64_t last_stamp;

	struct send sends[MAX_INFLIGHT];
	int ninflight;
	int64_t cursor;			/* every batch id <= cursor was handed out */
	int64_t first_id_this_run;

	/* what we know of InfluxDB */
	bool influx_ok;
	enum influx_verdict last_failure;
	char influx_reason[512];
	int64_t influx_since_ms;
	int64_t last_write_ms;
	struct hb_backoff backoff;
	bool retry_wait;
	int64_t not_before_ms;
	struct hb_http_xfer *ping;
	int64_t last_ping_ms;

	int64_t last_send_ms;		/* when the last write started */
	struct event *ev_kick;
	struct event *ev_linger;
	struct event *ev_commit;
	struct event *ev_retry;
	struct event *ev_ping;
	struct event *ev_drain;
	bool stopping;
	bool bus_closed;
	int64_t drain_deadline_ms;

	/* the spool's disk trouble, and what it held in memory meanwhile */
	int64_t held_max_bytes;
	struct event *ev_spool_retry;

	/* drops waiting to be told, by cause; told at most once a window */
	struct spool_drops unreported_cap, unreported_held;
	int64_t drop_notify_ms;
	int64_t last_drop_notify_ms;
	struct event *ev_drop_notify;

	struct hb_ratelimit bad_line_log;
	struct hb_ratelimit write_log;
	struct hb_ratelimit drop_log;

	struct hb_counter *m_received, *m_rejected, *m_retained, *m_written,
	    *m_dropped, *m_dead_dropped,
	    *m_dead, *m_spooled, *m_batches_written, *m_replayed, *m_batches_dropped,
	    *m_write_errors;
	struct hb_gauge *m_spool_bytes, *m_spool_batches, *m_spool_points,
	    *m_spool_file_bytes, *m_spool_held_points, *m_spool_ok, *m_influx_up,
	    *m_inflight;
	struct hb_histogram *m_write_seconds, *m_batch_points;
};

static void pump(struct writer *w);
static void commit_pending(struct writer *w);
static void check_drained(struct writer *w);

/* ---------------- configuration ---------------- */

static int64_t
precision_unit_ns(const char *precision)
{
	if (strcmp(precision, "us") == 0)
		return 1000;
	if (strcmp(precision, "ms") == 0)
		return 1000000;
	if (strcmp(precision, "s") == 0)
		return 1000000000;
	return 1;
}

static void *
writer_create(struct hb_service *svc)
{
	struct writer *w = hb_xcalloc(1, sizeof(*w));
	struct hb_app *app = &svc->app;
	struct hb_config *cfg = app->cfg;
	const char *s;

	w->svc = svc;
	influx_config_read(&w->influx_cfg, cfg);
	w->batch_size = hb_cfg_int(cfg, "writer.batch_size", 5000, 1, 1000000);
	w->flush_interval_ms = hb_cfg_int(cfg, "writer.flush_interval_ms", 1000, 1,
	    600000);
	/*
	 * No shared subscription unless asked for: mosquitto 2.0.11 does not
	 * restore shared subscriptions from its store after a restart, so until
	 * the writers subscribe again the broker routes points to nobody (and
	 * acknowledges them). A plain subscription is restored with the session.
	 */
	s = hb_cfg_str(cfg, "writer.share_group", "");
	if (*s && !hb_topic_level_ok(s))
		hb_cfg_error(cfg, "writer.share_group", "\"%s\" must be one topic "
		    "level (no '/', '+', '#'), or \"\" for no shared subscription", s);
	snprintf(w->share_group, sizeof(w->share_group), "%s", s);
	hb_app_data_path(app, hb_cfg_str(cfg, "writer.spool.path", "writer-spool.db"),
	    w->spool_path, sizeof(w->spool_path));
	w->spool_max_bytes = hb_cfg_int(cfg, "writer.spool.max_mb", 512, 1,
	    1024 * 1024) * 1024 * 1024;
	w->commit_ms = hb_cfg_int(cfg, "writer.spool.commit_ms", 200, 1, 60000);
	w->held_max_bytes = hb_cfg_int(cfg, "writer.spool.memory_max_mb", 16, 1,
	    64 * 1024) * 1024 * 1024;
	w->drop_notify_ms = hb_cfg_int(cfg, "writer.spool.drop_notify_s", 60, 1,
	    86400) * 1000;
	/* a cap reached under load drops a batch per commit: a flood */
	hb_ratelimit_init(&w->drop_log, 12, 5);
	w->limits.max_line = (size_t)hb_cfg_int(cfg, "writer.max_line_bytes", 65536,
	    64, 16 * 1024 * 1024);
	w->limits.allow_uint = w->influx_cfg.api == 2;
	w->max_inflight = (int)hb_cfg_int(cfg, "writer.max_inflight", 2, 1,
	    MAX_INFLIGHT);
	w->drain_timeout_ms = hb_cfg_int(cfg, "writer.drain_timeout_ms", 5000, 0,
	    600000);
	w->retry_max_ms = hb_cfg_int(cfg, "writer.retry_max_ms", 30000, 100,
	    3600000);
	w->min_interval_ms = hb_cfg_int(cfg, "writer.min_write_interval_ms", 20, 0,
	    10000);
	{
		/* default slot: a hash of the client id, stable across restarts */
		uint32_t h = 2166136261u;

		for (const char *c = svc->bus_cfg.client_id; *c; c++)
			h = (h ^ (uint8_t)*c) * 16777619u;
		w->stamp_slot = hb_cfg_int(cfg, "writer.stamp_slot", h % 1000, 0, 999);
	}
	w->unit_ns = precision_unit_ns(w->influx_cfg.precision);
	w->accept_retained = hb_cfg_bool(cfg, "writer.accept_retained", false);
	if (w->commit_ms > w->flush_interval_ms)
		hb_cfg_error(cfg, "writer.spool.commit_ms", "%lld is larger than "
		    "writer.flush_interval_ms (%lld)", (long long)w->commit_ms,
		    (long long)w->flush_interval_ms);
	return w;
}

/* ---------------- InfluxDB state ---------------- */

static void
set_influx(struct writer *w, bool ok, enum influx_verdict why, const char *reason)
{
	if (ok != w->influx_ok || w->influx_since_ms == 0) {
		if (ok && w->influx_since_ms != 0)
			hb_info("influx reachable url=%s spooled_points=%lld",
			    influx_display_url(w->influx),
			    (long long)spool_points(w->spool));
		else if (!ok)
			hb_warn("influx unavailable url=%s reason=\"%s\" (spooling; "
			    "nothing is lost)", influx_display_url(w->influx), reason);
		w->influx_since_ms = hb_wall_ms();
	}
	w->influx_ok = ok;
	hb_gauge_set(w->m_influx_up, ok ? 1 : 0);
	if (!ok) {
		w->last_failure = why;
		snprintf(w->influx_reason, sizeof(w->influx_reason), "%s", reason);
	} else
		w->influx_reason[0] = '\0';
}

/* ---------------- receiving ---------------- */

static int64_t
stamp(struct writer *w)
{
	int64_t ns = hb_wall_ns(), t;
	const char *p = w->influx_cfg.precision;

	/* Nanoseconds: microsecond time, and the writer's slot in the last three
	 * digits, so that two writers sharing the load never stamp two points of
	 * one series alike (InfluxDB would keep only the last). */
	if (strcmp(p, "ns") == 0) {
		t = ns / 1000 * 1000 + w->stamp_slot;
		if (t <= w->last_stamp)
			t = w->last_stamp + 1000;
		w->last_stamp = t;
		return t;
	}
	if (strcmp(p, "us") == 0)
		t = ns / 1000;
	else if (strcmp(p, "ms") == 0)
		return ns / 1000000;
	else
		return ns / 1000000000;
	/* Points of one series stamped in the same tick would overwrite each
	 * other in InfluxDB; keep fine-grained stamps strictly increasing. */
	if (t <= w->last_stamp)
		t = w->last_stamp + 1;
	w->last_stamp = t;
	return t;
}

static void
arm_commit_timer(struct writer *w)
{
	struct timeval tv;

	if (w->pending.len == 0 || evtimer_pending(w->ev_commit, NULL))
		return;
	tv.tv_sec = (time_t)(w->commit_ms / 1000);
	tv.tv_usec = (suseconds_t)((w->commit_ms % 1000) * 1000);
	evtimer_add(w->ev_commit, &tv);
}

/*
 * Logs a refused line: its own first bytes, not the message's, so that line
 * 51 of 100 shows what is wrong with line 51. [from, to) is what the parser
 * consumed for it, newline included.
 */
static void
log_rejected(struct writer *w, const struct hb_bus_msg *msg, size_t from,
    size_t to, const char *why)
{
	char excerpt[96];
	size_t n;

	while (from < to && (msg->payload[from] == ' ' || msg->payload[from] == '\t'))
		from++;
	n = to - from;
	for (size_t i = 0; i < n; i++)
		if (msg->payload[from + i] == '\n') {
			n = i;
			break;
		}
	if (n > 64)
		n = 64;
	hb_log_sanitize(msg->payload + from, n, excerpt, sizeof(excerpt));
	hb_log_limited(&w->bad_line_log, HB_LOG_WARN, "rejected line topic=\"%.128s\" "
	    "reason=\"%s\" line=\"%s\"", msg->topic, why, excerpt);
}

/*
 * A retained message is the broker's copy of something already taken: the
 * broker hands it over again at every subscribe, so at every restart of the
 * writer. Its points are counted and left alone, unless
 * writer.accept_retained says the retained copy is wanted.
 */
static void
skip_retained(struct writer *w, const struct hb_bus_msg *msg)
{
	struct hb_lp_line line;
	size_t pos = 0;
	uint64_t points = 0;
	char err[160];
	enum hb_lp_result r;

	while ((r = hb_lp_next(msg->payload, msg->len, &pos, &w->limits, &line,
	    err, sizeof(err))) != HB_LP_END)
		if (r == HB_LP_OK)
			points++;
	hb_counter_add(w->m_retained, points);
	hb_log_limited(&w->bad_line_log, HB_LOG_WARN, "skipped a retained message "
	    "topic=\"%.128s\" points=%llu: it was written when it was published "
	    "(clear it: mosquitto_pub -r -n -t '%.128s', or set "
	    "writer.accept_retained)", msg->topic, (unsigned long long)points,
	    msg->topic);
}

/*
 * Appends a line whose time is in nanoseconds (the bus's unit, line
 * protocol's default) with that time in writer.influx.precision, truncated
 * toward the earlier time: InfluxDB reads the number in the unit the write
 * names, and a nanosecond time read as milliseconds is out of its range.
 */
static void
put_converted(struct writer *w, const struct hb_lp_line *line)
{
	size_t keep = line->len;
	int64_t t = line->time / w->unit_ns;

	/* the time is the last token: a line ends right after it */
	while (keep > 0 && line->start[keep - 1] != ' ')
		keep--;
	if (line->time % w->unit_ns < 0)
		t--;
	hb_buf_append(&w->pending, line->start, keep);
	hb_buf_put_i64(&w->pending, t);
}

static void
on_message(void *arg, const struct hb_bus_msg *msg)
{
	struct writer *w = arg;
	struct hb_lp_line line;
	size_t pos = 0;
	char err[160];
	int64_t ts = 0;

	if (msg->retained && !w->accept_retained) {
		skip_retained(w, msg);
		return;
	}
	for (;;) {
		size_t line_start = pos;
		enum hb_lp_result r = hb_lp_next(msg->payload, msg->len, &pos,
		    &w->limits, &line, err, sizeof(err));

		if (r == HB_LP_END)
			break;
		if (r == HB_LP_SKIP)
			continue;
		if (r == HB_LP_ERROR) {
			hb_counter_add(w->m_rejected, 1);
			log_rejected(w, msg, line_start, pos, err);
			continue;
		}
		if (w->pending.len == 0)
			w->pending_since_ms = hb_mono_ms();
		if (line.has_time && w->unit_ns > 1)
			put_converted(w, &line);
		else
			hb_buf_append(&w->pending, line.start, line.len);
		if (!line.has_time) {
			if (ts == 0 || strcmp(w->influx_cfg.precision, "ns") == 0 ||
			    strcmp(w->influx_cfg.precision, "us") == 0)
				ts = stamp(w);
			hb_buf_putc(&w->pending, ' ');
			hb_buf_put_i64(&w->pending, ts);
		}
		hb_buf_putc(&w->pending, '\n');
		w->pending_points++;
		hb_counter_add(w->m_received, 1);
		if (w->pending_points >= w->batch_size)
			commit_pending(w);
	}
	if (w->pending.len > 0) {
		arm_commit_timer(w);
		event_active(w->ev_kick, EV_TIMEOUT, 0);
	}
}

/*
 * After a burst of messages: commit at once if nothing is being written.
 * A steady stream is gathered for writer.min_write_interval_ms after the
 * previous write started, so that 1,000 points/s cost 50 writes, not 1,000;
 * a point after a quiet spell still goes out at once.
 */
static void
on_kick(evutil_socket_t fd, short what, void *arg)
{
	struct writer *w = arg;
	int64_t wait_ms;

	(void)fd;
	(void)what;
	if (w->ninflight > 0 || w->retry_wait) {
		pump(w);
		return;
	}
	wait_ms = w->last_send_ms + w->min_interval_ms - hb_mono_ms();
	if (wait_ms > 0 && w->pending_points < w->batch_size) {
		struct timeval tv = { 0, (suseconds_t)(wait_ms * 1000) };

		if (!evtimer_pending(w->ev_linger, NULL)) {
			evtimer_add(w->ev_linger, &tv);
			/* Nothing is needed before then: let messages wait in
			 * the bus's mailbox without waking the loop for each. */
			hb_bus_hold(w->bus, (int)wait_ms);
		}
		return;
	}
	commit_pending(w);
}

/* The gathering is over: take what the bus held back, then write. */
static void
on_linger(evutil_socket_t fd, short what, void *arg)
{
	struct writer *w = arg;

	hb_bus_take(w->bus);
	on_kick(fd, what, w);
}

static void
on_commit_timer(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	commit_pending(arg);
}

/* ---------------- spool ---------------- */

/* "<n> points (<m> batches)" of the drops of one cause, and why. */
static void
put_drops(struct writer *w, struct hb_buf *text, const struct spool_drops *d,
    bool cap)
{
	struct spool_state st;

	if (d->batches == 0)
		return;
	spool_state(w->spool, &st);
	if (text->len > 0)
		hb_buf_puts(text, "; ");
	hb_buf_printf(text, "%lld points (%lld batches) ", (long long)d->points,
	    (long long)d->batches);
	if (cap)
		hb_buf_printf(text, "because the spool reached writer.spool.max_mb "
		    "(%lld MB) while InfluxDB was unavailable (%s)",
		    (long long)(w->spool_max_bytes >> 20),
		    w->influx_reason[0] ? w->influx_reason : "slow");
	else
		hb_buf_printf(text, "because the spool could not write (%s) and the "
		    "points held in memory reached writer.spool.memory_max_mb "
		    "(%lld MB)", st.error ? st.error : "disk trouble",
		    (long long)(w->held_max_bytes >> 20));
}

/*
 * Tells the bus what was dropped since the last notification, if anything:
 * called when a window of writer.spool.drop_notify_s ends, so that drops
 * that stopped inside a window are told too, and before the bus closes.
 */
static void
notify_drops(struct writer *w)
{
	char topic[HB_TOPIC_MAX], key[128], source[128];
	struct hb_notify n = { 0 };
	struct hb_buf why = { 0 }, text = { 0 };
	json_t *obj;

	if ((w->unreported_cap.batches == 0 && w->unreported_held.batches == 0) ||
	    w->bus == NULL || w->bus_closed)
		return;
	put_drops(w, &why, &w->unreported_cap, true);
	put_drops(w, &why, &w->unreported_held, false);
	hb_buf_printf(&text, "homebus-writer on %s dropped %lld points (the oldest "
	    "waiting): %s.", hb_bus_instance(w->bus),
	    (long long)(w->unreported_cap.points + w->unreported_held.points),
	    why.data);
	snprintf(key, sizeof(key), "writer-spool-full-%s", hb_bus_instance(w->bus));
	snprintf(source, sizeof(source), "writer/%s", hb_bus_instance(w->bus));
	n.severity = HB_SEV_WARNING;
	n.text = text.data;
	n.title = "homebus: points dropped";
	n.key = key;
	n.source = source;
	obj = hb_notify_encode(&n);
	hb_topic_notify(topic, sizeof(topic), hb_bus_prefix(w->bus), "warning");
	hb_bus_publish_json(w->bus, topic, obj, 1, false);
	json_decref(obj);
	hb_buf_free(&why);
	hb_buf_free(&text);
	memset(&w->unreported_cap, 0, sizeof(w->unreported_cap));
	memset(&w->unreported_held, 0, sizeof(w->unreported_held));
	w->last_drop_notify_ms = hb_mono_ms();
}

static void
on_drop_notify_timer(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	notify_drops(arg);
}

/* After a drop: tell now, or when the current window ends. */
static void
note_drops(struct writer *w)
{
	int64_t wait_ms = w->last_drop_notify_ms + w->drop_notify_ms - hb_mono_ms();
	struct timeval tv;

	if (w->last_drop_notify_ms == 0 || wait_ms <= 0) {
		notify_drops(w);
		return;
	}
	if (w->ev_drop_notify == NULL)
		w->ev_drop_notify = evtimer_new(w->svc->app.base, on_drop_notify_timer, w);
	if (evtimer_pending(w->ev_drop_notify, NULL))
		return;
	tv.tv_sec = (time_t)(wait_ms / 1000);
	tv.tv_usec = (suseconds_t)((wait_ms % 1000) * 1000);
	evtimer_add(w->ev_drop_notify, &tv);
}

/*
 * Keeps the spool file under writer.spool.max_mb and what the spool holds
 * in memory under writer.spool.memory_max_mb. Batches in flight are kept:
 * they may yet be written.
 */
static void
enforce_limits(struct writer *w)
{
	int64_t keep[MAX_INFLIGHT];
	struct spool_drops cap, held;
	size_t nkeep = 0;

	for (int i = 0; i < MAX_INFLIGHT; i++)
		if (w->sends[i].busy)
			keep[nkeep++] = w->sends[i].batch.id;
	spool_enforce_cap(w->spool, keep, nkeep, &cap);
	spool_enforce_held(w->spool, w->held_max_bytes, keep, nkeep, &held);
	if (cap.dead_points > 0) {
		hb_counter_add(w->m_dead_dropped, (uint64_t)cap.dead_points);
		hb_log_limited(&w->drop_log, HB_LOG_WARN, "spool over "
		    "writer.spool.max_mb=%lld: removed the oldest dead letters "
		    "points=%lld", (long long)(w->spool_max_bytes >> 20),
		    (long long)cap.dead_points);
	}
	if (cap.batches > 0) {
		hb_log_limited(&w->drop_log, HB_LOG_ERROR, "spool over "
		    "writer.spool.max_mb=%lld: dropped the oldest points=%lld "
		    "batches=%lld", (long long)(w->spool_max_bytes >> 20),
		    (long long)cap.points, (long long)cap.batches);
		w->unreported_cap.batches += cap.batches;
		w->unreported_cap.points += cap.points;
	}
	if (held.batches > 0) {
		hb_log_limited(&w->drop_log, HB_LOG_ERROR, "points held in memory "
		    "over writer.spool.memory_max_mb=%lld while the spool cannot "
		    "write: dropped the oldest points=%lld batches=%lld",
		    (long long)(w->held_max_bytes >> 20),
		    (long long)held.points, (long long)held.batches);
		w->unreported_held.batches += held.batches;
		w->unreported_held.points += held.points;
	}
	if (cap.batches + held.batches == 0)
		return;
	hb_counter_add(w->m_batches_dropped, (uint64_t)(cap.batches + held.batches));
	hb_counter_add(w->m_dropped, (uint64_t)(cap.points + held.points));
	note_drops(w);
}

static void watch_spool(struct writer *w);

/* Once a second while the spool is not whole on disk: put it right. */
static void
on_spool_retry(evutil_socket_t fd, short what, void *arg)
{
	struct writer *w = arg;

	(void)fd;
	(void)what;
	spool_retry(w->spool);
	enforce_limits(w);
	watch_spool(w);
	pump(w);
}

static void
watch_spool(struct writer *w)
{
	struct timeval tv = { 1, 0 };

	hb_gauge_set(w->m_spool_ok, spool_whole(w->spool) ? 1 : 0);
	if (spool_whole(w->spool))
		return;
	if (w->ev_spool_retry == NULL)
		w->ev_spool_retry = evtimer_new(w->svc->app.base, on_spool_retry, w);
	if (!evtimer_pending(w->ev_spool_retry, NULL))
		evtimer_add(w->ev_spool_retry, &tv);
}

/*
 * The spool takes the batch whatever the disk does (in memory when SQLite
 * cannot write), so that what is received is always sent.
 */
static void
commit_pending(struct writer *w)
{
	int64_t id;

	if (w->pending.len == 0)
		return;
	id = spool_commit_buf(w->spool, &w->pending, w->pending_points);
	if (w->first_id_this_run == 0)
		w->first_id_this_run = id;
	hb_counter_add(w->m_spooled, 1);
	hb_histogram_observe(w->m_batch_points, (double)w->pending_points);
	w->pending_points = 0;
	evtimer_del(w->ev_commit);
	watch_spool(w);
	enforce_limits(w);
	pump(w);
}

/* ---------------- sending ---------------- */

static void on_written(const struct influx_result *res, double elapsed_s,
    void *arg);

static bool
in_flight(const struct writer *w, int64_t id)
{
	for (int i = 0; i < MAX_INFLIGHT; i++)
		if (w->sends[i].busy && w->sends[i].batch.id == id)
			return true;
	return false;
}

static struct send *
free_slot(struct writer *w)
{
	for (int i = 0; i < w->max_inflight; i++)
		if (!w->sends[i].busy)
			return &w->sends[i];
	return NULL;
}

static void
pump(struct writer *w)
{
	struct send *s;

	while (w->ninflight < w->max_inflight && !w->retry_wait &&
	    (s = free_slot(w)) != NULL) {
		int r;

		/* While InfluxDB is failing, probe with one batch at a time. */
		if (!w->influx_ok && w->ninflight > 0)
			break;
		r = spool_next(w->spool, w->cursor, &s->batch);
		if (r != 1)
			break;
		if (in_flight(w, s->batch.id)) {
			w->cursor = s->batch.id;
			continue;
		}
		/* A second concurrent write only for a batch that is full, old, or
		 * a backlog; otherwise let it grow while the first one runs. */
		if (w->ninflight > 0 && s->batch.points < w->batch_size &&
		    hb_wall_ms() - s->batch.created_ms < w->flush_interval_ms &&
		    s->batch.id >= w->first_id_this_run && s->batch.attempts == 0)
			break;
		w->cursor = s->batch.id;
		s->w = w;
		s->xfer = influx_write(w->influx, s->batch.body.data,
		    s->batch.body.len, on_written, s);
		if (s->xfer == NULL) {
			hb_error("cannot start an InfluxDB request");
			w->cursor = s->batch.id - 1;
			break;
		}
		s->busy = true;
		w->ninflight++;
		w->last_send_ms = hb_mono_ms();
	}
	hb_gauge_set(w->m_inflight, w->ninflight);
}

static void
schedule_retry(struct writer *w, const struct influx_result *res)
{
	int64_t delay = hb_backoff_next(&w->backoff);
	struct timeval tv;

	if (res->retry_after_s >= 0 && res->retry_after_s * 1000 > delay)
		delay = res->retry_after_s * 1000;
	w->not_before_ms = res->status == 429 || res->retry_after_s >= 0 ?
	    hb_mono_ms() + delay : 0;
	w->retry_wait = true;
	tv.tv_sec = (time_t)(delay / 1000);
	tv.tv_usec = (suseconds_t)((delay % 1000) * 1000);
	evtimer_del(w->ev_retry);
	evtimer_add(w->ev_retry, &tv);
}

static void
on_retry_timer(evutil_socket_t fd, short what, void *arg)
{
	struct writer *w = arg;

	(void)fd;
	(void)what;
	w->retry_wait = false;
	pump(w);
}

/* Splits a batch that InfluxDB found too large (413) in two halves. */
static void
split_batch(struct writer *w, struct send *s, const struct influx_result *res)
{
	struct spool_batch *b = &s->batch;
	size_t pos = 0, cut = 0;
	int64_t n = 0, half = b->points / 2;
	struct hb_lp_line line;
	char err[128];

	if (b->points <= 1) {
		hb_error("a single line is larger than InfluxDB accepts "
		    "(max-body-size); dead-lettered batch=%lld", (long long)b->id);
		spool_dead_letter(w->spool, b->body.data, b->body.len, b->points,
		    (int)res->status, "line larger than the server's max-body-size");
		spool_delete(w->spool, b->id);
		hb_counter_add(w->m_dead, (uint64_t)b->points);
		return;
	}
	while (n < half) {
		enum hb_lp_result r = hb_lp_next(b->body.data, b->body.len, &pos, NULL,
		    &line, err, sizeof(err));

		if (r == HB_LP_END)
			break;
		if (r != HB_LP_SKIP)
			n++;
		cut = pos;
	}
	hb_info("influx answered 413 (body too large); splitting batch=%lld "
	    "points=%lld into %lld + %lld", (long long)b->id, (long long)b->points,
	    (long long)n, (long long)(b->points - n));
	if (spool_split(w->spool, b->id, b->body.data, b->body.len, cut, n,
	    b->points - n) != 0) {
		w->cursor = b->id - 1 < w->cursor ? b->id - 1 : w->cursor;
		schedule_retry(w, res);
	}
}

/* 400/422: dead-letter the lines InfluxDB names, re-send the others. */
static void
drop_bad_points(struct writer *w, struct send *s, const struct influx_result *res)
{
	struct spool_batch *b = &s->batch;
	size_t nlines = (size_t)b->points, marked, pos = 0, idx = 0;
	bool *bad = hb_xcalloc(nlines ? nlines : 1, sizeof(bool));
	struct hb_buf good = { 0 }, refused = { 0 };
	struct hb_lp_line line;
	char err[128];

	marked = influx_bad_lines(res->reason, b->body.data, b->body.len, bad,
	    nlines);
	if (marked == 0) {
		hb_error("influx refused batch=%lld points=%lld status=%ld "
		    "reason=\"%s\"; the whole batch is in the dead-letter table",
		    (long long)b->id, (long long)b->points, res->status, res->reason);
		spool_dead_letter(w->spool, b->body.data, b->body.len, b->points,
		    (int)res->status, res->reason);
		spool_delete(w->spool, b->id);
		hb_counter_add(w->m_dead, (uint64_t)b->points);
		free(bad);
		return;
	}
	while (idx < nlines) {
		size_t before = pos;
		enum hb_lp_result r = hb_lp_next(b->body.data, b->body.len, &pos, NULL,
		    &line, err, sizeof(err));

		if (r == HB_LP_END)
			break;
		if (r == HB_LP_SKIP)
			continue;
		hb_buf_append(bad[idx] ? &refused : &good, b->body.data + before,
		    pos - before);
		if (pos == before || b->body.data[pos - 1] != '\n')
			hb_buf_putc(bad[idx] ? &refused : &good, '\n');
		idx++;
	}
	hb_log_limited(&w->write_log, HB_LOG_WARN, "influx refused points=%zu of "
	    "batch=%lld status=%ld reason=\"%s\"; those are in the dead-letter "
	    "table, the other %lld are sent again", marked, (long long)b->id,
	    res->status, res->reason, (long long)(b->points - (int64_t)marked));
	spool_dead_letter(w->spool, refused.data, refused.len, (int64_t)marked,
	    (int)res->status, res->reason);
	hb_counter_add(w->m_dead, marked);
	if (good.len == 0)
		spool_delete(w->spool, b->id);
	else {
		spool_replace(w->spool, b->id, good.data, good.len,
		    b->points - (int64_t)marked);
		if (b->id - 1 < w->cursor)
			w->cursor = b->id - 1;
	}
	hb_buf_free(&good);
	hb_buf_free(&refused);
	free(bad);
}

static void
on_written(const struct influx_result *res, double elapsed_s, void *arg)
{
	struct send *s = arg;
	struct writer *w = s->w;
	struct spool_batch *b = &s->batch;

	s->xfer = NULL;
	s->busy = false;
	w->ninflight--;
	hb_histogram_observe(w->m_write_seconds, elapsed_s);
	switch (res->verdict) {
	case INFLUX_OK:
		spool_delete(w->spool, b->id);
		hb_counter_add(w->m_written, (uint64_t)b->points);
		hb_counter_add(w->m_batches_written, 1);
		if (b->attempts > 0 || b->id < w->first_id_this_run ||
		    w->first_id_this_run == 0)
			hb_counter_add(w->m_replayed, 1);
		w->last_write_ms = hb_wall_ms();
		hb_backoff_reset(&w->backoff);
		set_influx(w, true, INFLUX_OK, NULL);
		break;
	case INFLUX_TOO_LARGE:
		set_influx(w, true, INFLUX_OK, NULL);
		split_batch(w, s, res);
		break;
	case INFLUX_BAD_POINTS:
		set_influx(w, true, INFLUX_OK, NULL);
		drop_bad_points(w, s, res);
		break;
	case INFLUX_REFUSED:
	case INFLUX_RETRY:
		hb_counter_add(w->m_write_errors, 1);
		spool_note_attempt(w->spool, b->id);
		set_influx(w, false, res->verdict, res->reason);
		hb_log_limited(&w->write_log, HB_LOG_WARN, "influx write failed "
		    "batch=%lld points=%lld status=%ld reason=\"%s\" spooled_points=%lld",
		    (long long)b->id, (long long)b->points, res->status, res->reason,
		    (long long)spool_points(w->spool));
		if (b->id - 1 < w->cursor)
			w->cursor = b->id - 1;
		schedule_retry(w, res);
		break;
	}
	/* dead letters and the halves of a split take room too */
	if (res->verdict == INFLUX_BAD_POINTS || res->verdict == INFLUX_TOO_LARGE)
		enforce_limits(w);
	watch_spool(w);
	if (w->pending.len > 0 && w->ninflight == 0 && !w->retry_wait)
		event_active(w->ev_kick, EV_TIMEOUT, 0);
	else
		pump(w);
	if (w->stopping)
		check_drained(w);
}

/* ---------------- probing InfluxDB while it is away ---------------- */

static void
on_ping(const struct influx_result *res, double elapsed_s, void *arg)
{
	struct writer *w = arg;

	(void)elapsed_s;
	w->ping = NULL;
	if (res->verdict != INFLUX_OK) {
		if (w->ninflight == 0 && w->influx_ok)
			set_influx(w, false, res->verdict, res->reason);
		return;
	}
	/* A server that answers again ends the backoff early, unless it asked
	 * us to wait (429/Retry-After) or refused us (auth, no database). */
	if (!w->influx_ok && w->last_failure == INFLUX_RETRY &&
	    hb_mono_ms() >= w->not_before_ms) {
		if (w->retry_wait) {
			evtimer_del(w->ev_retry);
			w->retry_wait = false;
		}
		pump(w);
	}
}

static void
on_ping_timer(evutil_socket_t fd, short what, void *arg)
{
	struct writer *w = arg;
	bool idle = hb_wall_ms() - w->last_write_ms > 10000;

	(void)fd;
	(void)what;
	if (w->ping || w->stopping)
		return;
	/* Every second while InfluxDB is away; every 10 s when idle. */
	if (!w->influx_ok || (idle && w->ninflight == 0 &&
	    hb_mono_ms() - w->last_ping_ms > 10000)) {
		w->last_ping_ms = hb_mono_ms();
		w->ping = influx_ping(w->influx, on_ping, w);
	}
}

/* ---------------- health, metrics, heartbeat ---------------- */

static void
refresh(void *arg)
{
	struct writer *w = arg;
	struct spool_state st;

	hb_gauge_set(w->m_spool_bytes, (double)spool_bytes(w->spool));
	hb_gauge_set(w->m_spool_batches, (double)spool_batches(w->spool));
	hb_gauge_set(w->m_spool_points, (double)spool_points(w->spool));
	hb_gauge_set(w->m_spool_file_bytes, (double)spool_file_bytes(w->spool));
	hb_gauge_set(w->m_spool_ok, spool_whole(w->spool) ? 1 : 0);
	spool_state(w->spool, &st);
	hb_gauge_set(w->m_spool_held_points, (double)st.held_points);
}

/* Why the spool is not whole on disk, for /health; "" when it is. */
static void
spool_reason(struct writer *w, const struct spool_state *st, char *out,
    size_t outlen)
{
	out[0] = '\0';
	if (st->failing)
		snprintf(out, outlen, "cannot write %s: %s; %lld points held in "
		    "memory are sent from there (up to writer.spool.memory_max_mb), "
		    "and lost if the writer stops before the disk takes them",
		    w->spool_path, st->error, (long long)st->held_points);
	else if (st->held_batches > 0)
		snprintf(out, outlen, "writes again; %lld points held in memory are "
		    "being moved to disk", (long long)st->held_points);
	else if (st->undeleted > 0)
		snprintf(out, outlen, "%zu batches sent but not yet deleted",
		    st->undeleted);
}

/*
 * ok: on the bus, InfluxDB takes writes, everything waiting is on disk.
 * degraded: points flow, but the spool cannot keep them (a full disk).
 * down: no bus or no InfluxDB. Anything but ok answers 503.
 */
static bool
health(void *arg, json_t *out)
{
	struct writer *w = arg;
	bool bus_ok = w->bus && hb_bus_connected(w->bus);
	bool spool_ok = spool_whole(w->spool);
	json_t *influx = json_object(), *spool = json_object();
	int64_t oldest = spool_oldest_ms(w->spool);
	bool ok = w->influx_ok && spool_ok;
	struct spool_state st;
	char why[768];
	struct hb_buf reason = { 0 };

	spool_state(w->spool, &st);
	spool_reason(w, &st, why, sizeof(why));
	if (!bus_ok)
		hb_buf_puts(&reason, "bus: not connected");
	if (!w->influx_ok)
		hb_buf_printf(&reason, "%sinflux: %s", reason.len ? "; " : "",
		    w->influx_reason[0] ? w->influx_reason : "not reached yet");
	if (!spool_ok)
		hb_buf_printf(&reason, "%sspool: %s", reason.len ? "; " : "", why);
	json_object_set_new(out, "status", json_string(ok && bus_ok ? "ok" :
	    !bus_ok || !w->influx_ok ? "down" : "degraded"));
	if (reason.len)
		json_object_set_new(out, "reason", json_string(reason.data));
	hb_buf_free(&reason);
	json_object_set_new(influx, "url", json_string(influx_display_url(w->influx)));
	json_object_set_new(influx, "reachable", json_boolean(w->influx_ok));
	json_object_set_new(influx, "state", json_string(w->influx_ok ? "ok" : "down"));
	if (!w->influx_ok)
		json_object_set_new(influx, "reason", json_string(w->influx_reason[0] ?
		    w->influx_reason : "not reached yet"));
	json_object_set_new(influx, "since", hb_msg_time(w->influx_since_ms));
	json_object_set_new(out, "influx", influx);
	json_object_set_new(spool, "state", json_string(spool_ok ? "ok" : "degraded"));
	if (!spool_ok)
		json_object_set_new(spool, "reason", json_string(why));
	if (st.failing)
		json_object_set_new(spool, "since", hb_msg_time(st.since_ms));
	json_object_set_new(spool, "batches", json_integer(spool_batches(w->spool)));
	json_object_set_new(spool, "points", json_integer(spool_points(w->spool)));
	json_object_set_new(spool, "held_points", json_integer(st.held_points));
	json_object_set_new(spool, "bytes", json_integer(spool_bytes(w->spool)));
	json_object_set_new(spool, "file_bytes",
	    json_integer(spool_file_bytes(w->spool)));
	json_object_set_new(spool, "oldest_age_s", json_integer(oldest ?
	    (hb_wall_ms() - oldest) / 1000 : 0));
	json_object_set_new(spool, "path", json_string(w->spool_path));
	json_object_set_new(out, "spool", spool);
	json_object_set_new(out, "dead_letters",
	    json_integer(spool_dead_letters(w->spool)));
	json_object_set_new(out, "points_received", json_integer((json_int_t)w->m_received->value));
	json_object_set_new(out, "points_written", json_integer((json_int_t)w->m_written->value));
	return ok;
}

static void
heartbeat(void *arg, json_t *hb)
{
	struct writer *w = arg;

	json_object_set_new(hb, "points_received", json_integer((json_int_t)w->m_received->value));
	json_object_set_new(hb, "points_written", json_integer((json_int_t)w->m_written->value));
	json_object_set_new(hb, "points_rejected", json_integer((json_int_t)w->m_rejected->value));
	json_object_set_new(hb, "spool_points", json_integer(spool_points(w->spool)));
	json_object_set_new(hb, "influx_ok", json_boolean(w->influx_ok));
}

static void
register_metrics(struct writer *w, struct hb_metrics *m)
{
	static const double secs[] = { 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
	    0.1, 0.25, 0.5, 1, 2.5, 5, 10 };
	static const double sizes[] = { 1, 10, 100, 500, 1000, 5000, 10000, 50000 };

	w->m_received = hb_metrics_counter(m, "points_received_total",
	    "Valid lines taken off the bus.", NULL);
	w->m_rejected = hb_metrics_counter(m, "points_rejected_total",
	    "Lines refused as invalid line protocol (never forwarded).", NULL);
	w->m_retained = hb_metrics_counter(m, "points_retained_skipped_total",
	    "Points of retained messages left alone (writer.accept_retained).",
	    NULL);
	w->m_written = hb_metrics_counter(m, "points_written_total",
	    "Points InfluxDB accepted.", NULL);
	w->m_dropped = hb_metrics_counter(m, "points_dropped_total",
	    "Points dropped because the spool reached writer.spool.max_mb, or "
	    "could not write and held writer.spool.memory_max_mb in memory.", NULL);
	w->m_dead_dropped = hb_metrics_counter(m, "dead_letters_dropped_total",
	    "Dead-lettered points removed to keep the spool under "
	    "writer.spool.max_mb.", NULL);
	w->m_dead = hb_metrics_counter(m, "points_dead_lettered_total",
	    "Points InfluxDB refused for good, kept in the dead-letter table.", NULL);
	w->m_spooled = hb_metrics_counter(m, "batches_spooled_total",
	    "Batches committed to the spool.", NULL);
	w->m_batches_written = hb_metrics_counter(m, "batches_written_total",
	    "Batches InfluxDB accepted.", NULL);
	w->m_replayed = hb_metrics_counter(m, "batches_replayed_total",
	    "Batches written after a failed attempt or a restart.", NULL);
	w->m_batches_dropped = hb_metrics_counter(m, "batches_dropped_total",
	    "Batches dropped because the spool reached its cap.", NULL);
	w->m_write_errors = hb_metrics_counter(m, "write_errors_total",
	    "Failed InfluxDB writes that will be retried.", NULL);
	w->m_spool_bytes = hb_metrics_gauge(m, "spool_bytes",
	    "Bytes of line protocol waiting in the spool.", NULL);
	w->m_spool_batches = hb_metrics_gauge(m, "spool_batches",
	    "Batches waiting in the spool.", NULL);
	w->m_spool_points = hb_metrics_gauge(m, "spool_points",
	    "Points waiting in the spool (on disk or held in memory).", NULL);
	w->m_spool_file_bytes = hb_metrics_gauge(m, "spool_file_bytes",
	    "Bytes of the spool file in use: batches, dead letters, SQLite's "
	    "pages (what writer.spool.max_mb caps).", NULL);
	w->m_spool_held_points = hb_metrics_gauge(m, "spool_held_points",
	    "Points held in memory because the spool could not write them.", NULL);
	w->m_spool_ok = hb_metrics_gauge(m, "spool_ok",
	    "1 when everything waiting is on disk; 0 while the spool cannot "
	    "write or still holds points in memory.", NULL);
	w->m_influx_up = hb_metrics_gauge(m, "influx_up",
	    "1 when the last InfluxDB write or ping succeeded.", NULL);
	w->m_inflight = hb_metrics_gauge(m, "writes_in_flight",
	    "InfluxDB writes in flight.", NULL);
	w->m_write_seconds = hb_metrics_histogram(m, "write_duration_seconds",
	    "Time of each InfluxDB write request.", NULL, secs, HB_ARRAY_LEN(secs));
	w->m_batch_points = hb_metrics_histogram(m, "batch_points",
	    "Points per committed batch.", NULL, sizes, HB_ARRAY_LEN(sizes));
}

/* ---------------- start and stop ---------------- */

static void
drain_done(struct writer *w)
{
	struct spool_state st;
	int r;

	/* a last chance for what the spool holds in memory */
	do {
		r = spool_retry(w->spool);
		spool_state(w->spool, &st);
	} while (r == 1 && !st.failing);
	if (st.held_points > 0) {
		hb_counter_add(w->m_dropped, (uint64_t)st.held_points);
		hb_error("exiting with points=%lld held in memory that the spool could "
		    "not write (%s): they are lost", (long long)st.held_points,
		    st.error ? st.error : "?");
	}
	if (spool_points(w->spool) - st.held_points > 0)
		hb_info("exiting with spooled_points=%lld in %s; they are sent at the "
		    "next start", (long long)(spool_points(w->spool) -
		    st.held_points), w->spool_path);
	else if (st.held_points == 0)
		hb_info("drained: every point is in InfluxDB");
	hb_service_exit(w->svc, 0);
}

static void
check_drained(struct writer *w)
{
	if (!w->bus_closed)
		return;
	if ((spool_batches(w->spool) == 0 && w->ninflight == 0 &&
	    w->pending.len == 0) || hb_mono_ms() >= w->drain_deadline_ms)
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
closed(void *arg)
{
	struct writer *w = arg;
	struct timeval tv = { 0, 100000 };

	w->bus_closed = true;
	commit_pending(w);
	w->drain_deadline_ms = hb_mono_ms() + w->drain_timeout_ms;
	event_add(w->ev_drain, &tv);
	check_drained(w);
}

static void
stop(void *arg)
{
	struct writer *w = arg;

	w->stopping = true;
	notify_drops(w);	/* while the bus still takes it */
}

static int
start(void *arg)
{
	struct writer *w = arg;
	struct hb_app *app = &w->svc->app;
	char err[512], filter[HB_TOPIC_MAX];
	struct timeval ping_tv = { 1, 0 };

	register_metrics(w, app->metrics);
	hb_ratelimit_init(&w->bad_line_log, 20, 10);
	hb_ratelimit_init(&w->write_log, 12, 5);
	hb_backoff_init(&w->backoff, 250, w->retry_max_ms);
	w->spool = spool_open(w->spool_path, w->spool_max_bytes, err, sizeof(err));
	if (w->spool == NULL) {
		hb_error("spool: %s (set writer.spool.path or data_dir)", err);
		return -1;
	}
	if (spool_batches(w->spool) > 0)
		hb_info("spool holds points=%lld batches=%lld from before; replaying "
		    "oldest first", (long long)spool_points(w->spool),
		    (long long)spool_batches(w->spool));
	w->http = hb_http_client_new(app->base);
	w->influx = influx_new(w->http, &w->influx_cfg);
	w->influx_ok = true;	/* until a write or ping says otherwise */
	w->last_write_ms = hb_wall_ms();
	hb_gauge_set(w->m_influx_up, 1);

	w->ev_kick = event_new(app->base, -1, 0, on_kick, w);
	w->ev_linger = evtimer_new(app->base, on_linger, w);
	w->ev_commit = evtimer_new(app->base, on_commit_timer, w);
	w->ev_retry = evtimer_new(app->base, on_retry_timer, w);
	w->ev_ping = event_new(app->base, -1, EV_PERSIST, on_ping_timer, w);
	w->ev_drain = event_new(app->base, -1, EV_PERSIST, on_drain_timer, w);
	event_add(w->ev_ping, &ping_tv);

	w->bus = w->svc->bus;
	hb_topic_points(filter, sizeof(filter), hb_service_prefix(w->svc), "#");
	if (w->share_group[0]) {
		char plain[HB_TOPIC_MAX];

		snprintf(plain, sizeof(plain), "%s", filter);
		hb_topic_share(filter, sizeof(filter), w->share_group, plain);
	}
	if (hb_bus_subscribe(w->bus, filter, 1, on_message, w) != 0)
		return -1;
	hb_info("writer ready influx=%s api=v%d subscription=\"%s\" spool=%s",
	    influx_display_url(w->influx), w->influx_cfg.api, filter,
	    w->spool_path);
	pump(w);
	return 0;
}

static void
destroy(void *arg)
{
	struct writer *w = arg;

	for (int i = 0; i < MAX_INFLIGHT; i++)
		hb_buf_free(&w->sends[i].batch.body);
	if (w->ping)
		hb_http_cancel(w->ping);
	influx_free(w->influx);
	hb_http_client_free(w->http);
	spool_close(w->spool);
	if (w->ev_kick)
		event_free(w->ev_kick);
	if (w->ev_linger)
		event_free(w->ev_linger);
	if (w->ev_commit)
		event_free(w->ev_commit);
	if (w->ev_retry)
		event_free(w->ev_retry);
	if (w->ev_ping)
		event_free(w->ev_ping);
	if (w->ev_drain)
		event_free(w->ev_drain);
	if (w->ev_spool_retry)
		event_free(w->ev_spool_retry);
	if (w->ev_drop_notify)
		event_free(w->ev_drop_notify);
	hb_buf_free(&w->pending);
	influx_config_free(&w->influx_cfg);
	free(w);
}

const struct hb_service_def writer_service = {
	.name = "writer",
	.persistent = true,
	.receive_max = 1000,
	.coalesce_us = 3000,
	.create = writer_create,
	.start = start,
	.stop = stop,
	.closed = closed,
	.health = health,
	.refresh = refresh,
	.heartbeat = heartbeat,
	.destroy = destroy,
};
