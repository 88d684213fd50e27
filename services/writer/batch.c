/*
 * batch: the gathering of lines into batches, on three timers: the kick
 * (the next pass of the loop), the linger (a steady stream's gathering)
 * and the commit timer.
 */
#include "batch.h"
#include "send.h"

#include <string.h>

static void
on_kick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	batch_run(arg, hb_mono_ms());
}

static void
on_linger(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	batch_linger_end(arg, hb_mono_ms());
}

static void
on_commit_timer(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	batch_commit(arg);
}

void
batch_init(struct batch *b, struct event_base *base,
    const struct batch_policy *policy, struct writer *w, struct sender *send)
{
	memset(b, 0, sizeof(*b));
	b->policy = *policy;
	b->writer = w;
	b->send = send;
	b->ev_kick = event_new(base, -1, 0, on_kick, b);
	b->ev_linger = evtimer_new(base, on_linger, b);
	b->ev_commit = evtimer_new(base, on_commit_timer, b);
}

void
batch_free(struct batch *b)
{
	if (b->ev_kick)
		event_free(b->ev_kick);
	if (b->ev_linger)
		event_free(b->ev_linger);
	if (b->ev_commit)
		event_free(b->ev_commit);
	hb_buf_free(&b->lines);
	memset(b, 0, sizeof(*b));
}

int64_t
batch_room(const struct batch *b)
{
	return b->points < b->policy.size ? b->policy.size - b->points : 1;
}

void
batch_added(struct batch *b, int64_t n)
{
	b->points += n;
	if (b->points >= b->policy.size)
		batch_commit(b);
}

void
batch_arrived(struct batch *b)
{
	if (b->lines.len == 0)
		return;
	if (b->first_ms == 0)
		b->first_ms = hb_mono_ms();
	if (!evtimer_pending(b->ev_commit, NULL))
		hb_timer_add_ms(b->ev_commit, b->policy.commit_ms);
	batch_kick(b);
}

void
batch_kick(struct batch *b)
{
	event_active(b->ev_kick, EV_TIMEOUT, 0);
}

/*
 * A steady stream is gathered for writer.min_write_interval_ms after the
 * previous write started, so that 1,000 points/s cost 50 writes, not 1,000;
 * a point after a quiet spell still goes out at once.
 */
void
batch_run(struct batch *b, int64_t now_ms)
{
	int64_t last_send_ms = 0, wait_ms;

	if (send_busy(b->send, &last_send_ms)) {
		send_pump(b->send);
	} else {
		wait_ms = last_send_ms + b->policy.min_interval_ms - now_ms;
		if (wait_ms > 0 && b->points < b->policy.size) {
			if (!evtimer_pending(b->ev_linger, NULL)) {
				hb_timer_add_ms(b->ev_linger, wait_ms);
				/* Nothing is needed before then: let messages wait
				 * in the bus's mailbox without waking the loop for
				 * each. */
				if (b->bus)
					hb_bus_hold(b->bus, (int)wait_ms);
			}
			return;
		}
		batch_commit(b);
		if (!send_busy(b->send, &last_send_ms))
			return;
	}
	/* A write is in flight: nothing is decided before it answers (its
	 * answer kicks), so what arrives meanwhile waits in the mailbox,
	 * min_write_interval_ms at a time, without waking the loop. */
	if (b->bus && b->points < b->policy.size)
		hb_bus_hold(b->bus, (int)b->policy.min_interval_ms);
}

void
batch_linger_end(struct batch *b, int64_t now_ms)
{
	if (b->bus)
		hb_bus_take(b->bus);
	batch_run(b, now_ms);
}

void
batch_commit(struct batch *b)
{
	int64_t points = b->points, first_ms = b->first_ms;

	if (b->lines.len == 0)
		return;
	b->points = 0;
	b->first_ms = 0;
	evtimer_del(b->ev_commit);
	/* a gathering cut short (the hold ended first, the batch filled) must
	 * not end later on its own: a wake-up for nothing, and no new linger */
	evtimer_del(b->ev_linger);
	if (b->spooled)
		hb_counter_add(b->spooled, 1);
	if (b->batch_points)
		hb_histogram_observe(b->batch_points, (double)points);
	writer_commit(b->writer, &b->lines, points, first_ms);
}
