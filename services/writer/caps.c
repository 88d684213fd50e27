/*
 * caps: what goes when the spool is over its cap or holds too much in
 * memory, and the once-a-second retry of a disk that refused writes.
 */
#include "caps.h"
#include "drops.h"
#include "options.h"
#include "send.h"

#include <string.h>

static void
count(struct hb_counter *c, int64_t n)
{
	if (c && n > 0)
		hb_counter_add(c, (uint64_t)n);
}

static void
on_retry(evutil_socket_t fd, short what, void *arg)
{
	struct caps *l = arg;

	(void)fd;
	(void)what;
	spool_retry(l->spool);
	caps_enforce(l);
	caps_watch(l);
	send_pump(l->send);
}

void
caps_init(struct caps *l, struct event_base *base, struct spool *spool,
    int64_t max_bytes, int64_t held_max_bytes, struct sender *send,
    struct drops *drops)
{
	memset(l, 0, sizeof(*l));
	l->spool = spool;
	l->max_bytes = max_bytes;
	l->held_max_bytes = held_max_bytes;
	l->send = send;
	l->drops = drops;
	l->ev_retry = evtimer_new(base, on_retry, l);
	hb_ratelimit_init(&l->log, 12, 5);
}

void
caps_free(struct caps *l)
{
	if (l->ev_retry)
		event_free(l->ev_retry);
	l->ev_retry = NULL;
}

static void
log_drops(struct caps *l, const struct spool_drops *cap,
    const struct spool_drops *held)
{
	if (cap->dead_points > 0)
		hb_log_limited(&l->log, HB_LOG_WARN, "spool over "
		    "writer.spool.max_mb=%lld: removed the oldest dead letters "
		    "points=%lld", (long long)(l->max_bytes >> 20),
		    (long long)cap->dead_points);
	if (cap->batches > 0)
		hb_log_limited(&l->log, HB_LOG_ERROR, "spool over "
		    "writer.spool.max_mb=%lld: dropped the oldest points=%lld "
		    "batches=%lld", (long long)(l->max_bytes >> 20),
		    (long long)cap->points, (long long)cap->batches);
	if (held->batches > 0)
		hb_log_limited(&l->log, HB_LOG_ERROR, "points held in memory "
		    "over writer.spool.memory_max_mb=%lld while the spool cannot "
		    "write: dropped the oldest points=%lld batches=%lld",
		    (long long)(l->held_max_bytes >> 20),
		    (long long)held->points, (long long)held->batches);
}

void
caps_enforce(struct caps *l)
{
	int64_t keep[WRITER_MAX_INFLIGHT];
	struct spool_drops cap, held;
	size_t nkeep = send_in_flight(l->send, keep,
	    HB_ARRAY_LEN(keep));

	spool_enforce_cap(l->spool, keep, nkeep, &cap);
	spool_enforce_held(l->spool, l->held_max_bytes, keep, nkeep, &held);
	count(l->dead_dropped, cap.dead_points);
	log_drops(l, &cap, &held);
	if (cap.batches + held.batches == 0)
		return;
	count(l->batches_dropped, cap.batches + held.batches);
	count(l->dropped, cap.points + held.points);
	drops_note(l->drops, &cap, &held, hb_mono_ms());
}

void
caps_watch(struct caps *l)
{
	bool whole = spool_whole(l->spool);

	if (l->spool_ok)
		hb_gauge_set(l->spool_ok, whole ? 1 : 0);
	if (!whole && !evtimer_pending(l->ev_retry, NULL))
		hb_timer_add_ms(l->ev_retry, 1000);
}
