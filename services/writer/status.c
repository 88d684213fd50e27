/*
 * status: the writer's series (names, help texts and buckets, in the order
 * /metrics lists them), and /health, the heartbeat and the spool's gauges,
 * read from the spool, InfluxDB's state and the counters.
 */
#include "status.h"
#include "hb_msg.h"
#include "hb_util.h"

#include <stdio.h>

void
status_refresh(const struct status *s)
{
	const struct writer_metrics *m = s->m;
	struct spool_state st;

	hb_gauge_set(m->spool_bytes, (double)spool_bytes(s->spool));
	hb_gauge_set(m->spool_batches, (double)spool_batches(s->spool));
	hb_gauge_set(m->spool_points, (double)spool_points(s->spool));
	hb_gauge_set(m->spool_file_bytes, (double)spool_file_bytes(s->spool));
	hb_gauge_set(m->spool_ok, spool_whole(s->spool) ? 1 : 0);
	spool_state(s->spool, &st);
	hb_gauge_set(m->spool_held_points, (double)st.held_points);
}

/* Why the spool is not whole on disk, for /health; "" when it is. */
static void
spool_reason(const struct status *s, const struct spool_state *st, char *out,
    size_t outlen)
{
	out[0] = '\0';
	if (st->failing)
		snprintf(out, outlen, "cannot write %s: %s; %lld points held in "
		    "memory are sent from there (up to writer.spool.memory_max_mb), "
		    "and lost if the writer stops before the disk takes them",
		    s->spool_path, st->error, (long long)st->held_points);
	else if (st->held_batches > 0)
		snprintf(out, outlen, "writes again; %lld points held in memory are "
		    "being moved to disk", (long long)st->held_points);
	else if (st->undeleted > 0)
		snprintf(out, outlen, "%zu batches sent but not yet deleted",
		    st->undeleted);
}

static json_t *
influx_json(const struct status *s)
{
	const struct retry *r = s->retry;
	json_t *influx = json_object();

	json_object_set_new(influx, "url", json_string(r->url));
	json_object_set_new(influx, "reachable", json_boolean(r->ok));
	json_object_set_new(influx, "state", json_string(r->ok ? "ok" : "down"));
	if (!r->ok)
		json_object_set_new(influx, "reason", json_string(r->reason[0] ?
		    r->reason : "not reached yet"));
	/* no answer yet: nothing is known since any time */
	if (r->since_ms != 0)
		json_object_set_new(influx, "since", hb_msg_time(r->since_ms));
	return influx;
}

static json_t *
spool_json(const struct status *s, const struct spool_state *st,
    const char *why)
{
	bool whole = spool_whole(s->spool);
	int64_t oldest = spool_oldest_ms(s->spool);
	json_t *spool = json_object();

	json_object_set_new(spool, "state", json_string(whole ? "ok" : "degraded"));
	if (!whole)
		json_object_set_new(spool, "reason", json_string(why));
	if (st->failing)
		json_object_set_new(spool, "since", hb_msg_time(st->since_ms));
	json_object_set_new(spool, "batches", json_integer(spool_batches(s->spool)));
	json_object_set_new(spool, "points", json_integer(spool_points(s->spool)));
	json_object_set_new(spool, "held_points", json_integer(st->held_points));
	json_object_set_new(spool, "bytes", json_integer(spool_bytes(s->spool)));
	json_object_set_new(spool, "file_bytes",
	    json_integer(spool_file_bytes(s->spool)));
	json_object_set_new(spool, "oldest_age_s", json_integer(oldest ?
	    (hb_wall_ms() - oldest) / 1000 : 0));
	json_object_set_new(spool, "path", json_string(s->spool_path));
	return spool;
}

/*
 * ok: on the bus, InfluxDB takes writes, everything waiting is on disk.
 * degraded: points flow, but the spool cannot keep them (a full disk).
 * down: no bus or no InfluxDB. Anything but ok answers 503.
 */
bool
status_health(const struct status *s, json_t *out)
{
	const struct retry *r = s->retry;
	bool bus_ok = s->bus && hb_bus_connected(s->bus);
	bool spool_ok = spool_whole(s->spool);
	bool ok = r->ok && spool_ok;
	struct spool_state st;
	char why[768];
	struct hb_buf reason = { 0 };

	spool_state(s->spool, &st);
	spool_reason(s, &st, why, sizeof(why));
	if (!bus_ok)
		hb_buf_puts(&reason, "bus: not connected");
	if (!r->ok)
		hb_buf_printf(&reason, "%sinflux: %s", reason.len ? "; " : "",
		    r->reason[0] ? r->reason : "not reached yet");
	if (!spool_ok)
		hb_buf_printf(&reason, "%sspool: %s", reason.len ? "; " : "", why);
	json_object_set_new(out, "status", json_string(ok && bus_ok ? "ok" :
	    !bus_ok || !r->ok ? "down" : "degraded"));
	if (reason.len)
		json_object_set_new(out, "reason", json_string(reason.data));
	hb_buf_free(&reason);
	json_object_set_new(out, "influx", influx_json(s));
	json_object_set_new(out, "spool", spool_json(s, &st, why));
	json_object_set_new(out, "dead_letters",
	    json_integer(spool_dead_letters(s->spool)));
	json_object_set_new(out, "points_received",
	    json_integer((json_int_t)s->m->received->value));
	json_object_set_new(out, "points_written",
	    json_integer((json_int_t)s->m->written->value));
	return ok;
}

void
status_heartbeat(struct status *s, json_t *hb)
{
	const struct writer_metrics *m = s->m;
	const struct hb_histogram *w = m->write_seconds;
	int64_t oldest = spool_oldest_ms(s->spool);

	json_object_set_new(hb, "points_received",
	    json_integer((json_int_t)m->received->value));
	json_object_set_new(hb, "points_written",
	    json_integer((json_int_t)m->written->value));
	json_object_set_new(hb, "points_rejected",
	    json_integer((json_int_t)m->rejected->value));
	json_object_set_new(hb, "spool_points", json_integer(spool_points(s->spool)));
	json_object_set_new(hb, "influx_ok", json_boolean(s->retry->ok));
	/* for Grafana: how long the oldest point has waited, and the mean
	 * write to InfluxDB since the last heartbeat (none: no field) */
	json_object_set_new(hb, "spool_oldest_age_s", json_integer(oldest > 0 ?
	    (hb_wall_ms() - oldest) / 1000 : 0));
	if (w && w->count > s->beat_writes)
		json_object_set_new(hb, "write_ms", json_real((w->sum -
		    s->beat_write_s) * 1000.0 / (double)(w->count - s->beat_writes)));
	if (w) {
		s->beat_writes = w->count;
		s->beat_write_s = w->sum;
	}
}

/* ---------------- the series ---------------- */

static void
register_counters(struct writer_metrics *m, struct hb_metrics *reg)
{
	m->received = hb_metrics_counter(reg, "points_received_total",
	    "Valid lines taken off the bus.", NULL);
	m->rejected = hb_metrics_counter(reg, "points_rejected_total",
	    "Lines refused as invalid line protocol (never forwarded).", NULL);
	m->retained = hb_metrics_counter(reg, "points_retained_skipped_total",
	    "Points of retained messages left alone (writer.accept_retained).",
	    NULL);
	m->written = hb_metrics_counter(reg, "points_written_total",
	    "Points InfluxDB accepted.", NULL);
	m->dropped = hb_metrics_counter(reg, "points_dropped_total",
	    "Points dropped because the spool reached writer.spool.max_mb, or "
	    "could not write and held writer.spool.memory_max_mb in memory.", NULL);
	m->dead_dropped = hb_metrics_counter(reg, "dead_letters_dropped_total",
	    "Dead-lettered points removed to keep the spool under "
	    "writer.spool.max_mb.", NULL);
	m->dead = hb_metrics_counter(reg, "points_dead_lettered_total",
	    "Points InfluxDB refused for good, kept in the dead-letter table.", NULL);
	m->spooled = hb_metrics_counter(reg, "batches_spooled_total",
	    "Batches committed to the spool.", NULL);
	m->batches_written = hb_metrics_counter(reg, "batches_written_total",
	    "Batches InfluxDB accepted.", NULL);
	m->replayed = hb_metrics_counter(reg, "batches_replayed_total",
	    "Batches written after a failed attempt or a restart.", NULL);
	m->batches_dropped = hb_metrics_counter(reg, "batches_dropped_total",
	    "Batches dropped because the spool reached its cap.", NULL);
	m->write_errors = hb_metrics_counter(reg, "write_errors_total",
	    "Failed InfluxDB writes that will be retried.", NULL);
}

static void
register_gauges(struct writer_metrics *m, struct hb_metrics *reg)
{
	m->spool_bytes = hb_metrics_gauge(reg, "spool_bytes",
	    "Bytes of line protocol waiting in the spool.", NULL);
	m->spool_batches = hb_metrics_gauge(reg, "spool_batches",
	    "Batches waiting in the spool.", NULL);
	m->spool_points = hb_metrics_gauge(reg, "spool_points",
	    "Points waiting in the spool (on disk or held in memory).", NULL);
	m->spool_file_bytes = hb_metrics_gauge(reg, "spool_file_bytes",
	    "Bytes of the spool file in use: batches, dead letters, SQLite's "
	    "pages (what writer.spool.max_mb caps).", NULL);
	m->spool_held_points = hb_metrics_gauge(reg, "spool_held_points",
	    "Points held in memory because the spool could not write them.", NULL);
	m->spool_ok = hb_metrics_gauge(reg, "spool_ok",
	    "1 when everything waiting is on disk; 0 while the spool cannot "
	    "write or still holds points in memory.", NULL);
	m->influx_up = hb_metrics_gauge(reg, "influx_up",
	    "1 when the last InfluxDB write or ping succeeded.", NULL);
	m->inflight = hb_metrics_gauge(reg, "writes_in_flight",
	    "InfluxDB writes in flight.", NULL);
}

void
writer_metrics_register(struct writer_metrics *m, struct hb_metrics *reg)
{
	static const double secs[] = { 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
	    0.1, 0.25, 0.5, 1, 2.5, 5, 10 };
	static const double sizes[] = { 1, 10, 100, 500, 1000, 5000, 10000, 50000 };

	register_counters(m, reg);
	register_gauges(m, reg);
	m->write_seconds = hb_metrics_histogram(reg, "write_duration_seconds",
	    "Time of each InfluxDB write request.", NULL, secs, HB_ARRAY_LEN(secs));
	m->batch_points = hb_metrics_histogram(reg, "batch_points",
	    "Points per committed batch.", NULL, sizes, HB_ARRAY_LEN(sizes));
}
