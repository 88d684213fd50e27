/*
 * status: what the writer says about itself: its series in /metrics
 * (prefix homebus_writer_; each part is handed the few series it moves),
 * GET /health (ok, degraded while the spool cannot keep what flows, down
 * without the bus or InfluxDB), the spool's gauges before each /metrics,
 * and the heartbeat's counters. It only reads the parts.
 */
#ifndef WRITER_STATUS_H
#define WRITER_STATUS_H

#include <jansson.h>
#include <stdbool.h>

#include "hb_bus.h"
#include "hb_metrics.h"
#include "retry.h"
#include "spool.h"

struct writer_metrics {
	/* intake */
	struct hb_counter *received, *rejected, *retained;
	/* sending and InfluxDB's answers */
	struct hb_counter *written, *dead, *batches_written, *replayed,
	    *write_errors;
	struct hb_gauge *influx_up, *inflight;
	struct hb_histogram *write_seconds;
	/* group commit */
	struct hb_counter *spooled;
	struct hb_histogram *batch_points;
	/* the spool's limits */
	struct hb_counter *dropped, *dead_dropped, *batches_dropped;
	struct hb_gauge *spool_bytes, *spool_batches, *spool_points,
	    *spool_file_bytes, *spool_held_points, *spool_ok;
};

/* Registers every series in reg (which owns them). */
void writer_metrics_register(struct writer_metrics *m, struct hb_metrics *reg);

struct status {
	struct hb_bus *bus;		/* NULL until started */
	struct spool *spool;
	const struct retry *retry;
	const char *spool_path;
	const struct writer_metrics *m;
	/* the writes' histogram at the last heartbeat, for the mean since */
	uint64_t beat_writes;
	double beat_write_s;
};

/* Adds the writer's part of /health to out; true when it is healthy. */
bool status_health(const struct status *s, json_t *out);
/* The heartbeat's counters; it remembers where the last one was. */
void status_heartbeat(struct status *s, json_t *hb);
/* Sets the spool's gauges. */
void status_refresh(const struct status *s);

#endif
