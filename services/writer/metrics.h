/*
 * metrics: the writer's series in /metrics (prefix homebus_writer_). Each
 * part is handed the few series it moves; status.c sets the spool's gauges
 * before each scrape.
 */
#ifndef WRITER_METRICS_H
#define WRITER_METRICS_H

#include "hb_metrics.h"

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

#endif
