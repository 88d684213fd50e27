/*
 * ingest: the service around convert — bus, packing, counters, health.
 */
#include "ingest.h"
#include "convert.h"
#include "rules.h"

#include "hb_bus.h"
#include "hb_log.h"
#include "hb_msg.h"
#include "hb_topic.h"
#include "hb_util.h"

#include <stdlib.h>
#include <string.h>

/* Points waiting to be published, one bus message per measurement. */
struct pack {
	char level[128];	/* the measurement as a topic level */
	struct hb_buf lines;
	int points;
};

#define MAX_PACKS 64

/*
 * More messages than this within pack_ms make a busy stream, whose packs
 * gather; a house's readings, a few a second, never do.
 */
#define BUSY_MESSAGES 8

/* One per rule: what a rule's subscription hands its messages to. */
struct source {
	struct ingest *in;
	struct rule *rule;
};

struct ingest {
	struct hb_service *svc;
	struct rule_set rules;
	struct source *sources;
	int64_t pack_ms;
	int pack_max;
	size_t max_entities;

	struct hb_bus *bus;		/* svc->bus, once started */
	struct convert_state *cstate;	/* what the converters remember */
	bool stopping;
	struct pack packs[MAX_PACKS];
	size_t npacks;
	struct event *ev_pack;
	int64_t last_send_ms;	/* when a pack last went out (monotonic) */
	int64_t window_ms;	/* arrivals counted per pack_ms from here */
	int arrivals, arrivals_before;	/* in this window, in the one before */
	bool gathered;		/* the gathering ended: the held messages come */
	int64_t last_stamp;
	struct convert_out conv;
	struct hb_ratelimit bad_log;
	struct hb_ratelimit unmatched_log;

	struct hb_counter *m_unmatched, *m_published, *m_messages_out, *m_pack_errors;
	struct hb_gauge *m_entities;
	uint64_t messages, points;
};

static void *
ingest_create(struct hb_service *svc)
{
	struct ingest *in = hb_xcalloc(1, sizeof(*in));
	struct hb_config *cfg = svc->app.cfg;

	in->svc = svc;
	rules_read(&in->rules, cfg);
	in->pack_ms = hb_cfg_int(cfg, "ingest.pack_ms", 50, 0, 10000);
	in->pack_max = (int)hb_cfg_int(cfg, "ingest.pack_max", 500, 1, 100000);
	in->max_entities = (size_t)hb_cfg_int(cfg, "ingest.max_entities", 20000, 1,
	    10000000);
	if (in->rules.n == 0)
		hb_log(HB_LOG_WARN, "ingest.sources is empty: nothing to ingest");
	return in;
}

/* Arrival time in ns, strictly increasing, so that two readings of one
 * series in the same instant do not overwrite each other in InfluxDB. */
static int64_t
stamp(struct ingest *in)
{
	int64_t t = hb_wall_ns();

	if (t <= in->last_stamp)
		t = in->last_stamp + 1;
	in->last_stamp = t;
	return t;
}

static void
publish_pack(struct ingest *in, struct pack *p)
{
	char topic[HB_TOPIC_MAX];

	if (p->points == 0)
		return;
	hb_topic_points(topic, sizeof(topic), hb_bus_prefix(in->bus), p->level);
	/* without the last newline */
	if (hb_bus_publish(in->bus, topic, p->lines.data, p->lines.len - 1, 1,
	    false) == 0) {
		hb_counter_add(in->m_published, (uint64_t)p->points);
		hb_counter_add(in->m_messages_out, 1);
		in->last_send_ms = hb_mono_ms();
	} else {
		hb_counter_add(in->m_pack_errors, (uint64_t)p->points);
		hb_log_limited(&in->bad_log, HB_LOG_ERROR, "publish refused topic=%s "
		    "points=%d lost (bus queue full: is the broker down for long?)",
		    topic, p->points);
	}
	hb_buf_reset(&p->lines);
	p->points = 0;
}

static void
flush_packs(struct ingest *in)
{
	for (size_t i = 0; i < in->npacks; i++)
		publish_pack(in, &in->packs[i]);
	/* forget measurements that went quiet; keep the buffers' memory small */
	for (size_t i = 0; i < in->npacks; i++)
		hb_buf_free(&in->packs[i].lines);
	in->npacks = 0;
	evtimer_del(in->ev_pack);
}

/* The gathering ends: what the bus held back is packed, and all goes. */
static void
on_pack_timer(evutil_socket_t fd, short what, void *arg)
{
	struct ingest *in = arg;

	(void)fd;
	(void)what;
	in->gathered = true;
	hb_bus_take(in->bus);
	in->gathered = false;
	flush_packs(in);
}

static struct pack *
pack_for(struct ingest *in, const char *meas, size_t len)
{
	char level[128];
	size_t n = len < sizeof(level) - 1 ? len : sizeof(level) - 1;

	memcpy(level, meas, n);
	level[n] = '\0';
	hb_topic_level_sanitize(level);
	if (level[0] == '\0')
		snprintf(level, sizeof(level), "_");
	for (size_t i = 0; i < in->npacks; i++)
		if (strcmp(in->packs[i].level, level) == 0)
			return &in->packs[i];
	if (in->npacks == MAX_PACKS)
		flush_packs(in);
	memset(&in->packs[in->npacks], 0, sizeof(struct pack));
	snprintf(in->packs[in->npacks].level, sizeof(level), "%s", level);
	return &in->packs[in->npacks++];
}

/* Routes the converted points into the packs of their measurements. */
static void
pack_points(struct ingest *in, const struct convert_out *out)
{
	size_t start = 0;
	int64_t now;
	bool busy;

	for (size_t i = 0; i < out->npoint; i++) {
		const struct convert_point *cp = &out->point[i];
		struct pack *p = pack_for(in, out->names.data ?
		    out->names.data + cp->meas : "", cp->meas_len);

		hb_buf_append(&p->lines, out->lines.data + start, cp->end - start);
		start = cp->end;
		p->points++;
		if (p->points >= in->pack_max || in->pack_ms == 0)
			publish_pack(in, p);
	}
	/*
	 * Out at once unless the stream is busy (a reading a second, among a
	 * house's other traffic, is on its way in a millisecond, whatever its
	 * QoS). A busy stream gathers until pack_ms after the previous pack
	 * went out, and the bus holds it meanwhile without waking the loop for
	 * each message: a pack per measurement every pack_ms, not one per
	 * message.
	 */
	now = hb_mono_ms();
	if (now - in->window_ms >= in->pack_ms) {
		in->arrivals_before = now - in->window_ms < 2 * in->pack_ms ?
		    in->arrivals : 0;
		in->arrivals = 0;
		in->window_ms = now;
	}
	in->arrivals++;
	busy = in->arrivals > BUSY_MESSAGES || in->arrivals_before > BUSY_MESSAGES;
	if (in->npacks > 0 && !in->gathered && !evtimer_pending(in->ev_pack, NULL)) {
		int64_t wait = in->last_send_ms + in->pack_ms - now;

		if (!busy || wait <= 0) {
			flush_packs(in);
		} else {
			hb_timer_add_ms(in->ev_pack, wait);
			hb_bus_hold(in->bus, (int)wait);
		}
	}
}

/*
 * The points the converters still hold (a Home Assistant state waiting for
 * its last_updated) go out with their arrival time: the service stops, and
 * what it took must be published while the bus is still there.
 */
static void
flush_held(struct ingest *in)
{
	int n;

	convert_out_reset(&in->conv);
	n = convert_flush(in->cstate, &in->conv);
	if (n <= 0)
		return;
	in->points += (uint64_t)n;
	pack_points(in, &in->conv);
}

/* A state, not an attribute: HA statestream's <base>/<domain>/<id>/state. */
static bool
is_state_topic(const char *topic)
{
	const char *leaf = strrchr(topic, '/');

	return leaf && strcmp(leaf + 1, "state") == 0;
}

/*
 * A message on a rule's subscription. Rules are tried in order: where the
 * filters of several rules match one topic, the first of them takes it,
 * whatever copies of it the broker sends for the others.
 */
static void
on_source(void *arg, const struct hb_bus_msg *msg)
{
	struct source *src = arg;
	struct ingest *in = src->in;
	struct rule *r = src->rule;
	struct convert_in ci;
	char excerpt[80];
	int n;

	if (rules_match(&in->rules, msg->topic, NULL, NULL, NULL) != r) {
		if (rules_match(&in->rules, msg->topic, NULL, NULL, NULL) == NULL) {
			hb_counter_add(in->m_unmatched, 1);
			hb_log_limited(&in->unmatched_log, HB_LOG_WARN, "no source rule "
			    "for topic=\"%.200s\"", msg->topic);
		}
		return;
	}
	in->messages++;
	if (rule_ignores(r, msg->topic)) {
		hb_counter_add(r->m_ignored, 1);
		return;
	}
	hb_counter_add(r->m_messages, 1);
	if (msg->len > in->rules.max_payload) {
		hb_counter_add(r->m_errors[ERR_TOO_LONG], 1);
		hb_log_limited(&in->bad_log, HB_LOG_WARN, "bad input rule=%s "
		    "topic=\"%.200s\" reason=too_long bytes=%zu (ingest.max_payload_bytes"
		    "=%zu)", r->name, msg->topic, msg->len, in->rules.max_payload);
		return;
	}
	/* A retained message replays an old reading: it is not a new point.
	 * Home Assistant's attributes still update the cache. */
	if (msg->retained && !r->retained && (r->format != FMT_HA_STATESTREAM ||
	    (msg->len && is_state_topic(msg->topic)))) {
		hb_counter_add(r->m_retained, 1);
		return;
	}
	memset(&ci, 0, sizeof(ci));
	ci.rule = r;
	ci.topic = msg->topic;
	ci.caps = (const char **)msg->levels;
	ci.caplen = msg->levellen;
	ci.ncaps = msg->nlevels;
	ci.payload = msg->payload;
	ci.len = msg->len;
	ci.now_ns = stamp(in);
	ci.retained = msg->retained;
	convert_out_reset(&in->conv);
	n = convert_message(in->cstate, &ci, &in->conv);
	if (n < 0) {
		hb_counter_add(r->m_errors[in->conv.error], 1);
		hb_log_sanitize(msg->payload, msg->len < 48 ? msg->len : 48, excerpt,
		    sizeof(excerpt));
		hb_log_limited(&in->bad_log, HB_LOG_WARN, "bad input rule=%s "
		    "topic=\"%.200s\" reason=%s detail=\"%s\" payload=\"%s\"", r->name,
		    msg->topic, rule_error_name(in->conv.error), in->conv.why, excerpt);
		return;
	}
	if (in->conv.skipped_fields > 0)
		hb_counter_add(r->m_errors[r->format == FMT_INFLUX ? ERR_BAD_LINE :
		    ERR_UNENCODABLE], (uint64_t)in->conv.skipped_fields);
	if (n == 0)
		return;
	hb_counter_add(r->m_points, (uint64_t)n);
	in->points += (uint64_t)n;
	pack_points(in, &in->conv);
	if (in->stopping)
		flush_held(in);
}

static void
refresh(void *arg)
{
	struct ingest *in = arg;

	hb_gauge_set(in->m_entities, (double)convert_state_size(in->cstate));
}

static bool
health(void *arg, json_t *out)
{
	struct ingest *in = arg;
	json_t *rules = json_array();

	for (size_t i = 0; i < in->rules.n; i++) {
		struct rule *r = &in->rules.rules[i];
		uint64_t bad = 0;

		for (int e = 0; e < ERR_COUNT; e++)
			bad += r->m_errors[e]->value;
		json_array_append_new(rules, json_pack("{s:s,s:s,s:I,s:I,s:I}", "name",
		    r->name, "topic", r->topic, "messages", (json_int_t)r->m_messages->value,
		    "points", (json_int_t)r->m_points->value, "bad_input", (json_int_t)bad));
	}
	json_object_set_new(out, "sources", rules);
	json_object_set_new(out, "ha_entities", json_integer((json_int_t)convert_state_size(in->cstate)));
	return true;
}

static void
heartbeat(void *arg, json_t *hb)
{
	struct ingest *in = arg;

	json_object_set_new(hb, "messages", json_integer((json_int_t)in->messages));
	json_object_set_new(hb, "points", json_integer((json_int_t)in->points));
}

static void
closed(void *arg)
{
	struct ingest *in = arg;

	hb_info("stopped taking messages; messages=%llu points=%llu",
	    (unsigned long long)in->messages, (unsigned long long)in->points);
	hb_service_exit(in->svc, 0);
}

static void
stop(void *arg)
{
	struct ingest *in = arg;

	/*
	 * What is packed goes out now, and what the bus still hands over while
	 * it closes goes out at once: the bus disconnects when nothing it was
	 * given waits any more, and knows nothing of packs.
	 */
	in->stopping = true;
	flush_held(in);
	flush_packs(in);
	in->pack_ms = 0;
	hb_bus_take(in->bus);	/* what the gathering held back */
}

static int
start(void *arg)
{
	struct ingest *in = arg;
	struct hb_app *app = &in->svc->app;
	struct hb_metrics *m = app->metrics;

	rules_metrics(&in->rules, m);
	in->m_unmatched = hb_metrics_counter(m, "unmatched_total",
	    "Messages on a subscribed topic that no rule takes.", NULL);
	in->m_published = hb_metrics_counter(m, "points_published_total",
	    "Points published on the bus.", NULL);
	in->m_messages_out = hb_metrics_counter(m, "messages_published_total",
	    "Bus messages of packed points published.", NULL);
	in->m_pack_errors = hb_metrics_counter(m, "points_lost_total",
	    "Converted points that could not be published (a bug if not 0).", NULL);
	in->m_entities = hb_metrics_gauge(m, "ha_entities",
	    "Home Assistant entities whose attributes are known.", NULL);
	hb_ratelimit_init(&in->bad_log, 20, 10);
	hb_ratelimit_init(&in->unmatched_log, 6, 3);
	in->cstate = convert_state_new(in->max_entities);
	in->ev_pack = evtimer_new(app->base, on_pack_timer, in);
	in->bus = in->svc->bus;
	in->sources = hb_xcalloc(in->rules.n ? in->rules.n : 1,
	    sizeof(*in->sources));
	for (size_t i = 0; i < in->rules.n; i++) {
		struct rule *r = &in->rules.rules[i];

		in->sources[i].in = in;
		in->sources[i].rule = r;
		if (hb_bus_subscribe(in->bus, r->topic, r->qos, on_source,
		    &in->sources[i]) != 0)
			return -1;
		hb_info("source rule=%s topic=\"%s\"", r->name, r->topic);
	}
	hb_info("ingest ready sources=%zu pack_ms=%lld pack_max=%d", in->rules.n,
	    (long long)in->pack_ms, in->pack_max);
	return 0;
}

static void
destroy(void *arg)
{
	struct ingest *in = arg;

	for (size_t i = 0; i < MAX_PACKS; i++)
		hb_buf_free(&in->packs[i].lines);
	if (in->ev_pack)
		event_free(in->ev_pack);
	convert_state_free(in->cstate);
	convert_out_free(&in->conv);
	rules_free(&in->rules);
	free(in->sources);
	free(in);
}

const struct hb_service_def ingest_service = {
	.name = "ingest",
	.persistent = true,
	.receive_max = 1000,
	.coalesce_us = 2000,
	.retry_unrouted_s = 60,
	.republish = true,
	.create = ingest_create,
	.start = start,
	.stop = stop,
	.closed = closed,
	.health = health,
	.refresh = refresh,
	.heartbeat = heartbeat,
	.destroy = destroy,
};
