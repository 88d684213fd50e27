/*
 * checkreq: P/health/check requests.
 */
#include "checkreq.h"
#include "hb_msg.h"

#include <string.h>

void
checkreq_init(struct checkreq *c, struct target_list *targets)
{
	c->targets = targets;
	hb_ratelimit_init(&c->log, 6, 3);
}

/* A name from the bus, fit for a log line: no control characters. */
static void
printable(const char *s, char *out, size_t outlen)
{
	size_t o = 0;

	for (; *s && o + 1 < outlen; s++)
		out[o++] = (unsigned char)*s < 0x20 || *s == 0x7f ? '?' : *s;
	out[o] = '\0';
}

/* The interval and the end a request asks for, within bounds. */
static void
request_window(const struct hb_health_check *req, int64_t now_ms,
    int64_t *interval_ms, int64_t *until_ms)
{
	*interval_ms = req->interval_s > 0 ? (int64_t)req->interval_s * 1000 :
	    CHECKREQ_INTERVAL_MS;
	if (*interval_ms < CHECKREQ_MIN_INTERVAL_MS)
		*interval_ms = CHECKREQ_MIN_INTERVAL_MS;
	/* no until, or one gone by: once, now */
	*until_ms = req->until_ms > now_ms ? req->until_ms : 0;
	if (*until_ms > now_ms + CHECKREQ_MAX_MS)
		*until_ms = now_ms + CHECKREQ_MAX_MS;
}

int
checkreq_take(struct checkreq *c, const char *payload, size_t len,
    int64_t now_ms, checkreq_now_fn now, void *arg)
{
	struct hb_health_check req;
	struct target *t;
	int64_t interval, until;
	char err[160], name[80], by[80];
	int n = 0;

	if (hb_health_check_decode(payload, len, &req, err, sizeof(err)) != 0) {
		hb_log_limited(&c->log, HB_LOG_WARN, "check request ignored: %s",
		    err);
		return -1;
	}
	request_window(&req, now_ms, &interval, &until);
	printable(req.requested_by[0] ? req.requested_by : "-", by, sizeof(by));
	hb_debug("check request requested_by=%s targets=%zu interval_ms=%lld "
	    "for_ms=%lld", by, req.ntargets, (long long)interval,
	    (long long)(until ? until - now_ms : 0));
	if (req.ntargets == 0) {
		TAILQ_FOREACH(t, c->targets, entry) {
			target_hurry(t, interval, until, now_ms);
			now(arg, t);
			n++;
		}
		return n;
	}
	for (size_t i = 0; i < req.ntargets; i++) {
		if ((t = targets_find(c->targets, req.targets[i])) == NULL) {
			printable(req.targets[i], name, sizeof(name));
			hb_log_limited(&c->log, HB_LOG_WARN, "check request from %s "
			    "names target=%s, which is not one; ignored", by, name);
			continue;
		}
		target_hurry(t, interval, until, now_ms);
		now(arg, t);
		n++;
	}
	return n;
}
