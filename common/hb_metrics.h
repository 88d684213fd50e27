/*
 * hb_metrics: counters, gauges and histograms, rendered in the Prometheus
 * text format for GET /metrics. Series are registered once at start-up and
 * updated from the loop thread only (no locks). Each series is a name plus an
 * optional label set written as Prometheus text ("rule=\"z2m\"").
 */
#ifndef HB_METRICS_H
#define HB_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "hb_util.h"

struct hb_metrics;

struct hb_counter {
	uint64_t value;
};

struct hb_gauge {
	double value;
};

#define HB_HIST_MAX_BUCKETS 16

struct hb_histogram {
	size_t nbuckets;
	double bounds[HB_HIST_MAX_BUCKETS];
	uint64_t counts[HB_HIST_MAX_BUCKETS];	/* per bucket, not cumulative */
	uint64_t count;
	double sum;
};

/* `prefix` is prepended to every name ("homebus_writer_"). */
struct hb_metrics *hb_metrics_new(const char *prefix);
void hb_metrics_free(struct hb_metrics *m);

/*
 * Registration returns a series owned by the registry, valid until
 * hb_metrics_free(). Registering the same name and labels twice returns the
 * same series. `labels` may be NULL.
 */
struct hb_counter *hb_metrics_counter(struct hb_metrics *m, const char *name,
    const char *help, const char *labels);
struct hb_gauge *hb_metrics_gauge(struct hb_metrics *m, const char *name,
    const char *help, const char *labels);
/* bounds: ascending upper bounds (+Inf is implicit). */
struct hb_histogram *hb_metrics_histogram(struct hb_metrics *m,
    const char *name, const char *help, const char *labels,
    const double *bounds, size_t nbounds);

/*
 * Removes a series (a health target that is gone). Pointers to it become
 * invalid. Nothing happens if there is no such series.
 */
void hb_metrics_remove(struct hb_metrics *m, const char *name,
    const char *labels);

static inline void
hb_counter_add(struct hb_counter *c, uint64_t n)
{
	c->value += n;
}

static inline void
hb_gauge_set(struct hb_gauge *g, double v)
{
	g->value = v;
}

void hb_histogram_observe(struct hb_histogram *h, double v);
/* The q-quantile (0..1) estimated from the buckets (upper bound of its bucket). */
double hb_histogram_quantile(const struct hb_histogram *h, double q);

/*
 * Names the program for homebus_build_info{service,version} (the
 * Prometheus convention for what is running: a gauge always 1). Copied.
 */
void hb_metrics_build_info(struct hb_metrics *m, const char *service,
    const char *version);

/*
 * Appends every series, plus homebus_build_info, process RSS/CPU,
 * process_start_time_seconds and uptime, to out.
 */
void hb_metrics_render(struct hb_metrics *m, struct hb_buf *out);

#endif
