/*
 * hb_metrics: a registry of series and its Prometheus text rendering.
 */
#include "hb_metrics.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <unistd.h>

enum series_kind { KIND_COUNTER, KIND_GAUGE, KIND_HISTOGRAM };

struct series {
	TAILQ_ENTRY(series) entry;
	enum series_kind kind;
	char *name;	/* full name, prefix included */
	char *help;
	char *labels;	/* NULL or 'k="v",...' */
	union {
		struct hb_counter counter;
		struct hb_gauge gauge;
		struct hb_histogram hist;
	} u;
};

TAILQ_HEAD(series_list, series);

struct hb_metrics {
	char *prefix;
	struct series_list all;
	int64_t started_ms;
	double start_time_s;	/* wall clock, Unix seconds */
	char *build_labels;	/* NULL, or service="...",version="..." */
};

/*
 * When this process started, Unix seconds: the kernel's start time in
 * clock ticks after boot (/proc/self/stat, field 22) plus the boot time
 * (/proc/stat btime), as Prometheus's own clients read it; the time now
 * where /proc says nothing.
 */
static double
process_start_s(void)
{
	char *stat = hb_read_file("/proc/self/stat", 4096, NULL);
	char *boot = hb_read_file("/proc/stat", 1 << 20, NULL);
	char *p = stat ? strrchr(stat, ')') : NULL, *b;
	long ticks = sysconf(_SC_CLK_TCK);
	double out = (double)hb_wall_ms() / 1000.0;
	unsigned long long start = 0, btime = 0;
	int field = 2;

	/* fields after the command name, which may hold spaces and ')' */
	while (p && *p && field < 22) {
		p = strchr(p + 1, ' ');
		if (p)
			field++;
	}
	b = boot ? strstr(boot, "\nbtime ") : NULL;
	if (p && b && ticks > 0 && sscanf(p + 1, "%llu", &start) == 1 &&
	    sscanf(b + 7, "%llu", &btime) == 1)
		out = (double)btime + (double)start / (double)ticks;
	free(stat);
	free(boot);
	return out;
}

struct hb_metrics *
hb_metrics_new(const char *prefix)
{
	struct hb_metrics *m = hb_xcalloc(1, sizeof(*m));

	m->prefix = hb_xstrdup(prefix ? prefix : "");
	TAILQ_INIT(&m->all);
	m->started_ms = hb_mono_ms();
	m->start_time_s = process_start_s();
	return m;
}

void
hb_metrics_free(struct hb_metrics *m)
{
	struct series *s;

	if (m == NULL)
		return;
	while ((s = TAILQ_FIRST(&m->all)) != NULL) {
		TAILQ_REMOVE(&m->all, s, entry);
		free(s->name);
		free(s->help);
		free(s->labels);
		free(s);
	}
	free(m->prefix);
	free(m->build_labels);
	free(m);
}

static struct series *
get_series(struct hb_metrics *m, enum series_kind kind, const char *name,
    const char *help, const char *labels)
{
	struct hb_buf full = { 0 };
	struct series *s, *last_same = NULL;

	hb_buf_printf(&full, "%s%s", m->prefix, name);
	TAILQ_FOREACH(s, &m->all, entry) {
		if (strcmp(s->name, full.data) != 0)
			continue;
		last_same = s;
		if ((s->labels == NULL && labels == NULL) ||
		    (s->labels && labels && strcmp(s->labels, labels) == 0)) {
			hb_buf_free(&full);
			return s;
		}
	}
	s = hb_xcalloc(1, sizeof(*s));
	s->kind = kind;
	s->name = hb_buf_steal(&full);
	s->help = hb_xstrdup(help ? help : "");
	s->labels = labels && *labels ? hb_xstrdup(labels) : NULL;
	/* Keep the series of one name together, so HELP/TYPE are written once. */
	if (last_same)
		TAILQ_INSERT_AFTER(&m->all, last_same, s, entry);
	else
		TAILQ_INSERT_TAIL(&m->all, s, entry);
	return s;
}

struct hb_counter *
hb_metrics_counter(struct hb_metrics *m, const char *name, const char *help,
    const char *labels)
{
	return &get_series(m, KIND_COUNTER, name, help, labels)->u.counter;
}

struct hb_gauge *
hb_metrics_gauge(struct hb_metrics *m, const char *name, const char *help,
    const char *labels)
{
	return &get_series(m, KIND_GAUGE, name, help, labels)->u.gauge;
}

struct hb_histogram *
hb_metrics_histogram(struct hb_metrics *m, const char *name, const char *help,
    const char *labels, const double *bounds, size_t nbounds)
{
	struct series *s = get_series(m, KIND_HISTOGRAM, name, help, labels);
	struct hb_histogram *h = &s->u.hist;

	if (h->nbuckets == 0) {
		if (nbounds > HB_HIST_MAX_BUCKETS)
			nbounds = HB_HIST_MAX_BUCKETS;
		memcpy(h->bounds, bounds, nbounds * sizeof(double));
		h->nbuckets = nbounds;
	}
	return h;
}

void
hb_metrics_remove(struct hb_metrics *m, const char *name, const char *labels)
{
	struct hb_buf full = { 0 };
	struct series *s;

	hb_buf_printf(&full, "%s%s", m->prefix, name);
	TAILQ_FOREACH(s, &m->all, entry) {
		if (strcmp(s->name, full.data) != 0)
			continue;
		if ((s->labels == NULL && (labels == NULL || *labels == '\0')) ||
		    (s->labels && labels && strcmp(s->labels, labels) == 0)) {
			TAILQ_REMOVE(&m->all, s, entry);
			free(s->name);
			free(s->help);
			free(s->labels);
			free(s);
			break;
		}
	}
	hb_buf_free(&full);
}

void
hb_histogram_observe(struct hb_histogram *h, double v)
{
	size_t i;

	for (i = 0; i < h->nbuckets; i++)
		if (v <= h->bounds[i])
			break;
	if (i < h->nbuckets)
		h->counts[i]++;
	h->count++;
	h->sum += v;
}

double
hb_histogram_quantile(const struct hb_histogram *h, double q)
{
	uint64_t want, acc = 0;

	if (h->count == 0)
		return 0;
	want = (uint64_t)ceil(q * (double)h->count);
	for (size_t i = 0; i < h->nbuckets; i++) {
		acc += h->counts[i];
		if (acc >= want)
			return h->bounds[i];
	}
	return INFINITY;
}

static void
render_value(struct hb_buf *out, double v)
{
	if (isinf(v))
		hb_buf_puts(out, v > 0 ? "+Inf" : "-Inf");
	else if (v == floor(v) && fabs(v) < 1e15)
		hb_buf_printf(out, "%.0f", v);
	else
		hb_buf_printf(out, "%.6g", v);
}

static void
render_hist(struct hb_buf *out, const struct series *s)
{
	const struct hb_histogram *h = &s->u.hist;
	const char *sep = s->labels ? "," : "";
	const char *lab = s->labels ? s->labels : "";
	uint64_t acc = 0;

	for (size_t i = 0; i < h->nbuckets; i++) {
		acc += h->counts[i];
		hb_buf_printf(out, "%s_bucket{%s%sle=\"", s->name, lab, sep);
		render_value(out, h->bounds[i]);
		hb_buf_printf(out, "\"} %llu\n", (unsigned long long)acc);
	}
	hb_buf_printf(out, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", s->name, lab, sep,
	    (unsigned long long)h->count);
	hb_buf_printf(out, "%s_sum%s%s%s ", s->name, s->labels ? "{" : "", lab,
	    s->labels ? "}" : "");
	render_value(out, h->sum);
	hb_buf_printf(out, "\n%s_count%s%s%s %llu\n", s->name, s->labels ? "{" : "",
	    lab, s->labels ? "}" : "", (unsigned long long)h->count);
}

/* v with what would end a label value (", \\, a newline) replaced by '_'. */
static void
label_value(struct hb_buf *out, const char *v)
{
	for (; *v; v++)
		hb_buf_putc(out, *v == '"' || *v == '\\' || *v == '\n' ? '_' : *v);
}

void
hb_metrics_build_info(struct hb_metrics *m, const char *service,
    const char *version)
{
	struct hb_buf b = { 0 };

	hb_buf_puts(&b, "service=\"");
	label_value(&b, service);
	hb_buf_puts(&b, "\",version=\"");
	label_value(&b, version);
	hb_buf_putc(&b, '"');
	free(m->build_labels);
	m->build_labels = b.data;
}

void
hb_metrics_render(struct hb_metrics *m, struct hb_buf *out)
{
	static const char *types[] = { "counter", "gauge", "histogram" };
	const char *prev = "";
	struct series *s;

	TAILQ_FOREACH(s, &m->all, entry) {
		if (strcmp(prev, s->name) != 0) {
			hb_buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", s->name,
			    s->help, s->name, types[s->kind]);
			prev = s->name;
		}
		if (s->kind == KIND_HISTOGRAM) {
			render_hist(out, s);
			continue;
		}
		hb_buf_puts(out, s->name);
		if (s->labels)
			hb_buf_printf(out, "{%s}", s->labels);
		hb_buf_putc(out, ' ');
		if (s->kind == KIND_COUNTER)
			hb_buf_printf(out, "%llu", (unsigned long long)s->u.counter.value);
		else
			render_value(out, s->u.gauge.value);
		hb_buf_putc(out, '\n');
	}
	if (m->build_labels)
		hb_buf_printf(out, "# HELP homebus_build_info The homebus program "
		    "running and its version; always 1.\n"
		    "# TYPE homebus_build_info gauge\n"
		    "homebus_build_info{%s} 1\n", m->build_labels);
	hb_buf_printf(out,
	    "# HELP process_start_time_seconds Start time of the process since "
	    "unix epoch in seconds.\n"
	    "# TYPE process_start_time_seconds gauge\n"
	    "process_start_time_seconds %.2f\n", m->start_time_s);
	hb_buf_printf(out,
	    "# HELP process_resident_memory_bytes Resident memory size in bytes.\n"
	    "# TYPE process_resident_memory_bytes gauge\n"
	    "process_resident_memory_bytes %ld\n"
	    "# HELP process_cpu_seconds_total User and system CPU time spent.\n"
	    "# TYPE process_cpu_seconds_total counter\n"
	    "process_cpu_seconds_total %.3f\n"
	    "# HELP %suptime_seconds Seconds since the service started.\n"
	    "# TYPE %suptime_seconds gauge\n"
	    "%suptime_seconds %lld\n",
	    hb_rss_kb() * 1024, hb_cpu_seconds(), m->prefix, m->prefix, m->prefix,
	    (long long)((hb_mono_ms() - m->started_ms) / 1000));
}
