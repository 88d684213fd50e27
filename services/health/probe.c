/*
 * probe: the mqtt round trip through the broker.
 */
#include "probe.h"
#include "hb_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void
probe_init(struct probe *p, struct event_base *base, struct hb_bus *bus,
    struct target_list *targets, const char *prefix, const char *instance,
    const char *host, int port, check_done_fn done, void *arg)
{
	memset(p, 0, sizeof(*p));
	p->base = base;
	p->bus = bus;
	p->targets = targets;
	hb_topic_svc(p->topic, sizeof(p->topic), prefix, "health", instance,
	    "probe");
	p->host = host;
	p->port = port;
	p->done = done;
	p->arg = arg;
}

static void
failed(struct probe *p, struct target *t, const char *reason)
{
	struct check_result r;

	memset(&r, 0, sizeof(r));
	r.level = LEVEL_FAIL;
	r.latency_ms = -1;
	snprintf(r.reason, sizeof(r.reason), "%s", reason);
	p->done(t, &r, p->arg);
}

static void
on_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct target *t = arg;
	struct probe *p = t->prober;
	char reason[96];

	(void)fd;
	(void)what;
	if (!t->in_flight)
		return;
	snprintf(reason, sizeof(reason), "no echo from the broker within %lld ms",
	    (long long)t->timeout_ms);
	failed(p, t, reason);
}

void
probe_start(struct probe *p, struct target *t)
{
	char payload[TARGET_NAME_MAX + 48], reason[160];

	if (!p->connected) {
		snprintf(reason, sizeof(reason), "not connected to the broker %s:%d",
		    p->host, p->port);
		failed(p, t, reason);
		return;
	}
	t->probe_seq++;
	t->started_us = hb_mono_us();
	if (probe_encode(payload, sizeof(payload), t->probe_seq, t->started_us,
	    t->name) < 0 || hb_bus_publish(p->bus, p->topic, payload,
	    strlen(payload), 0, false) != 0) {
		failed(p, t, "cannot publish the probe");
		return;
	}
	t->in_flight = true;
	t->prober = p;
	if (t->ev_timeout == NULL)
		t->ev_timeout = evtimer_new(p->base, on_timeout, t);
	hb_timer_add_ms(t->ev_timeout, t->timeout_ms);
}

void
probe_echo(struct probe *p, const char *payload, size_t len)
{
	char name[TARGET_NAME_MAX];
	uint64_t seq;
	int64_t sent;
	struct target *t;
	struct check_result r;

	if (probe_decode(payload, len, &seq, &sent, name, sizeof(name)) != 0)
		return;
	t = targets_find(p->targets, name);
	/* a late echo was already counted as a failure; one from a previous
	 * run (queued for our session) carries another send time */
	if (t == NULL || t->type != TT_MQTT || !t->in_flight ||
	    seq != t->probe_seq || sent != t->started_us)
		return;
	evtimer_del(t->ev_timeout);
	memset(&r, 0, sizeof(r));
	r.level = LEVEL_OK;
	r.latency_ms = (double)(hb_mono_us() - sent) / 1000.0;
	snprintf(r.reason, sizeof(r.reason), "round trip through the broker");
	if (t->degraded_ms > 0 && r.latency_ms > (double)t->degraded_ms) {
		r.level = LEVEL_DEGRADED;
		snprintf(r.reason, sizeof(r.reason), "round trip through the broker, "
		    "slower than %lld ms", (long long)t->degraded_ms);
	}
	p->done(t, &r, p->arg);
}

void
probe_forget(struct target *t)
{
	if (t->ev_timeout)
		evtimer_del(t->ev_timeout);
	t->in_flight = false;
}

int
probe_encode(char *out, size_t outlen, uint64_t seq, int64_t sent_us,
    const char *name)
{
	int n = snprintf(out, outlen, "%llu %lld %s", (unsigned long long)seq,
	    (long long)sent_us, name);

	return n >= 0 && (size_t)n < outlen ? n : -1;
}

int
probe_decode(const char *payload, size_t len, uint64_t *seq, int64_t *sent_us,
    char *name, size_t namelen)
{
	char num[24];
	const char *p = payload, *end = payload + len, *sp;
	long long v;

	for (int field = 0; field < 2; field++) {
		sp = memchr(p, ' ', (size_t)(end - p));
		if (sp == NULL || sp == p || (size_t)(sp - p) >= sizeof(num))
			return -1;
		memcpy(num, p, (size_t)(sp - p));
		num[sp - p] = '\0';
		if (hb_parse_ll(num, 0, INT64_MAX, &v) != 0)
			return -1;
		if (field == 0)
			*seq = (uint64_t)v;
		else
			*sent_us = (int64_t)v;
		p = sp + 1;
	}
	if (p >= end || (size_t)(end - p) >= namelen || memchr(p, '\0',
	    (size_t)(end - p)) != NULL)
		return -1;
	memcpy(name, p, (size_t)(end - p));
	name[end - p] = '\0';
	return 0;
}
