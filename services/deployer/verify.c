/*
 * verify: health states in, a verdict out (see verify.h).
 */
#include "verify.h"
#include "hb_log.h"
#include "hb_msg.h"
#include "hb_topic.h"
#include "hb_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_KNOWN 256		/* targets whose last state is kept */
#define TICK_MS 250

/* The last state the watcher published for one target. */
struct known {
	char name[128];
	struct hb_health_msg h;		/* its last state */
};

struct verify {
	struct event_base *base;
	struct hb_bus *bus;
	char prefix[64];
	char requested_by[128];
	struct known known[MAX_KNOWN];
	size_t nknown;

	/* the verify running */
	bool busy;
	struct verify_req req;
	char (*targets)[128];		/* copies of req.targets */
	bool *restart;
	int64_t *ok_since;		/* monotonic ms, -1: not ok now */
	int64_t deadline_ms;
	struct event *ev_tick;
	verify_done_fn done;
	void *arg;
};

static struct known *
find(struct verify *v, const char *name)
{
	for (size_t i = 0; i < v->nknown; i++)
		if (strcmp(v->known[i].name, name) == 0)
			return &v->known[i];
	return NULL;
}

/* Is target i good now? If not, why into why (may be NULL). */
static bool
target_good(struct verify *v, size_t i, char *why, size_t whylen)
{
	const char *name = v->targets[i];
	struct known *k = find(v, name);
	char started[40], up[40];

	if (k == NULL) {
		if (why)
			snprintf(why, whylen, "%s: no state from the health watcher (is "
			    "it one of its targets? is homebus-health running?)", name);
		return false;
	}
	if (k->h.state != HB_HEALTH_OK) {
		if (why)
			snprintf(why, whylen, "%s: %s%s%s%s", name,
			    hb_health_state_name(k->h.state), k->h.reason[0] ? " (" : "",
			    k->h.reason, k->h.reason[0] ? ")" : "");
		return false;
	}
	/* the contract on started: bus/hb_msg.h */
	if (v->restart[i] && strcmp(k->h.type, "service") == 0 &&
	    !hb_health_started_since(&k->h, v->req.since_ms)) {
		if (why) {
			hb_iso8601(k->h.started_ms, started, sizeof(started));
			hb_iso8601(v->req.since_ms, up, sizeof(up));
			snprintf(why, whylen, "%s: ok, but not restarted since up (%s "
			    "started %s, up began %s)", name, name, k->h.started_ms > 0 ?
			    started : "at an unknown time", up);
		}
		return false;
	}
	return true;
}

static void
finish(struct verify *v, bool ok, const char *reason)
{
	verify_done_fn done = v->done;

	evtimer_del(v->ev_tick);
	v->busy = false;
	free(v->targets);
	free(v->restart);
	free(v->ok_since);
	v->targets = NULL;
	v->restart = NULL;
	v->ok_since = NULL;
	done(ok, reason, v->arg);
}

/* Re-evaluates every target; finishes when all were ok long enough. */
static void
evaluate(struct verify *v)
{
	int64_t now = hb_mono_ms(), stable_ms = (int64_t)v->req.stable_s * 1000;
	bool all = true;

	for (size_t i = 0; i < v->req.ntargets; i++) {
		if (!target_good(v, i, NULL, 0)) {
			v->ok_since[i] = -1;
			all = false;
		} else if (v->ok_since[i] < 0) {
			v->ok_since[i] = now;
			all = all && stable_ms == 0;
		} else if (now - v->ok_since[i] < stable_ms) {
			all = false;
		}
	}
	if (all) {
		hb_info("verify ok targets=%zu stable_s=%d", v->req.ntargets,
		    v->req.stable_s);
		finish(v, true, "");
		return;
	}
	if (now >= v->deadline_ms) {
		struct hb_buf why = { 0 };
		char one[512];

		for (size_t i = 0; i < v->req.ntargets; i++) {
			if (target_good(v, i, one, sizeof(one))) {
				if (now - v->ok_since[i] >= stable_ms)
					continue;
				snprintf(one, sizeof(one), "%s: ok for %.0f s only (%d s "
				    "needed)", v->targets[i],
				    (double)(now - v->ok_since[i]) / 1000.0, v->req.stable_s);
			}
			hb_buf_printf(&why, "%s%s", why.len ? "; " : "", one);
		}
		hb_warn("verify failed after %d s: %s", v->req.timeout_s, why.data);
		finish(v, false, why.data ? why.data : "not verified");
		hb_buf_free(&why);
	}
}

static void
on_tick(evutil_socket_t fd, short what, void *arg)
{
	struct verify *v = arg;

	(void)fd;
	(void)what;
	if (v->busy)
		evaluate(v);
}

static void
on_health(void *arg, const struct hb_bus_msg *msg)
{
	struct verify *v = arg;
	struct hb_health_msg h;
	struct known *k;
	char name[128], err[160];

	if (hb_bus_msg_level(msg, 0, name, sizeof(name)) != 0)
		return;
	k = find(v, name);
	if (msg->len == 0) {
		/* a cleared retained state: the target is gone */
		if (k)
			*k = v->known[--v->nknown];
		if (v->busy)
			evaluate(v);
		return;
	}
	if (hb_health_decode(msg->payload, msg->len, &h, err, sizeof(err)) != 0 ||
	    strcmp(h.target, name) != 0)
		return;		/* _all, check requests, anything else */
	if (k == NULL) {
		if (v->nknown == MAX_KNOWN)
			return;
		k = &v->known[v->nknown++];
		snprintf(k->name, sizeof(k->name), "%s", name);
	}
	k->h = h;
	if (v->busy)
		evaluate(v);
}

struct verify *
verify_new(struct event_base *base, struct hb_bus *bus, const char *prefix,
    const char *requested_by)
{
	struct verify *v = hb_xcalloc(1, sizeof(*v));

	v->base = base;
	v->bus = bus;
	snprintf(v->prefix, sizeof(v->prefix), "%s", prefix);
	snprintf(v->requested_by, sizeof(v->requested_by), "%s", requested_by);
	v->ev_tick = event_new(base, -1, EV_PERSIST, on_tick, v);
	return v;
}

void
verify_free(struct verify *v)
{
	if (v == NULL)
		return;
	event_free(v->ev_tick);
	free(v->targets);
	free(v->restart);
	free(v->ok_since);
	free(v);
}

int
verify_subscribe(struct verify *v)
{
	char filter[HB_TOPIC_MAX];

	if (hb_topic_health(filter, sizeof(filter), v->prefix, "+") != 0)
		return -1;
	return hb_bus_subscribe(v->bus, filter, 1, on_health, v);
}

/* P/health/check: the watcher checks these now, not on its next interval. */
static void
request_checks(struct verify *v)
{
	struct hb_health_check c;
	char topic[HB_TOPIC_MAX];
	json_t *o;

	memset(&c, 0, sizeof(c));
	for (size_t i = 0; i < v->req.ntargets && i < HB_HEALTH_CHECK_MAX_TARGETS; i++)
		snprintf(c.targets[c.ntargets++], sizeof(c.targets[0]), "%s",
		    v->targets[i]);
	c.until_ms = hb_wall_ms() + (int64_t)v->req.timeout_s * 1000;
	c.interval_s = v->req.interval_s;
	snprintf(c.requested_by, sizeof(c.requested_by), "%s", v->requested_by);
	o = hb_health_check_encode(&c);
	if (hb_topic_health(topic, sizeof(topic), v->prefix,
	    HB_HEALTH_CHECK_LEVEL) == 0)
		hb_bus_publish_json(v->bus, topic, o, 1, false);
	json_decref(o);
}

void
verify_start(struct verify *v, const struct verify_req *req,
    verify_done_fn done, void *arg)
{

	v->req = *req;
	v->targets = hb_xcalloc(req->ntargets + 1, sizeof(*v->targets));
	v->restart = hb_xcalloc(req->ntargets + 1, sizeof(*v->restart));
	v->ok_since = hb_xcalloc(req->ntargets + 1, sizeof(*v->ok_since));
	for (size_t i = 0; i < req->ntargets; i++) {
		snprintf(v->targets[i], sizeof(v->targets[i]), "%s", req->targets[i]);
		v->restart[i] = req->restart ? req->restart[i] : false;
		v->ok_since[i] = -1;
	}
	v->req.targets = NULL;
	v->req.restart = NULL;
	v->deadline_ms = hb_mono_ms() + (int64_t)req->timeout_s * 1000;
	v->done = done;
	v->arg = arg;
	v->busy = true;
	hb_info("verify targets=%zu timeout_s=%d stable_s=%d", req->ntargets,
	    req->timeout_s, req->stable_s);
	request_checks(v);
	/* the first verdict from the loop too, never inside the caller */
	hb_timer_add_ms(v->ev_tick, TICK_MS);
}

void
verify_cancel(struct verify *v)
{
	if (!v->busy)
		return;
	evtimer_del(v->ev_tick);
	v->busy = false;
	free(v->targets);
	free(v->restart);
	free(v->ok_since);
	v->targets = NULL;
	v->restart = NULL;
	v->ok_since = NULL;
}

bool
verify_busy(const struct verify *v)
{
	return v->busy;
}
