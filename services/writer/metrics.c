/*
 * metrics: names, help texts and buckets of the writer's series, in the
 * order /metrics lists them.
 */
#include "metrics.h"
#include "hb_util.h"

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
