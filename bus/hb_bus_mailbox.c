/*
 * hb_bus_mailbox: what arrives, on its way to the loop. Any thread posts
 * mail (paho's callbacks, the worker); the loop drains it, at once or after
 * the coalescing delay, and not at all while the service holds it
 * (hb_bus_hold). The mailbox is bounded in bytes: a full one makes paho's
 * receive thread wait, which is the back-pressure that makes the broker
 * hold what the service cannot take yet.
 */
#include "hb_bus_internal.h"
#include "hb_log.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct mail *
bus__mail_new(enum mail_kind kind, const char *a, size_t alen, const char *b,
    size_t blen)
{
	struct mail *m = hb_xmalloc(sizeof(*m) + alen + blen + 2);

	memset(m, 0, sizeof(*m));
	m->kind = kind;
	m->topic = m->text;
	memcpy(m->text, a, alen);
	m->text[alen] = '\0';
	m->payload = m->text + alen + 1;
	if (blen)
		memcpy(m->payload, b, blen);
	m->payload[blen] = '\0';
	m->len = blen;
	return m;
}

void
bus__post(struct hb_bus *bus, struct mail *m, bool wait_for_room)
{
	uint64_t one = 1;
	bool wake;

	pthread_mutex_lock(&bus->lock);
	/* Back-pressure: a slow loop makes paho's receive thread wait, which
	 * stops reading the socket, which makes the broker hold the messages. */
	while (wait_for_room && !bus->closing && !atomic_load(&bus->input_closed) &&
	    bus->mail_bytes > bus->cfg.mailbox_max_bytes) {
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += 1;
		pthread_cond_timedwait(&bus->room, &bus->lock, &ts);
	}
	if (m->kind == MAIL_MESSAGE && atomic_load(&bus->input_closed)) {
		/*
		 * Closing: paho has acknowledged a QoS 1 message before handing
		 * it over (it sends PUBACK first), so neither QoS can be given
		 * back to the broker. What arrives in the last moments before
		 * the DISCONNECT is counted and reported, never silently lost.
		 * Decided under the lock that close_input() takes, so that no
		 * message slips in after the bus saw its mailbox empty.
		 */
		atomic_fetch_add(&bus->dropped_at_close, 1);
		pthread_mutex_unlock(&bus->lock);
		free(m);
		return;
	}
	TAILQ_INSERT_TAIL(&bus->mail, m, entry);
	bus->mail_bytes += m->len + sizeof(*m);
	/* A hold ends early when the mailbox is half full, so that a hold
	 * never makes paho's thread wait for room. */
	if (bus->held && bus->mail_bytes > bus->cfg.mailbox_max_bytes / 2)
		bus->held = false;
	/* One wake-up per bus__drain, not per message: under load the loop is
	 * woken about once per coalescing delay; while held, not at all. */
	wake = !bus->wake_pending && !bus->held;
	if (wake)
		bus->wake_pending = true;
	pthread_mutex_unlock(&bus->lock);
	/* A failed write means the counter is full: a wake-up is pending. */
	if (wake && write(bus->efd, &one, sizeof(one)) < 0)
		return;
}

void
bus__drain(evutil_socket_t fd, short what, void *arg)
{
	struct hb_bus *bus = arg;
	struct mail_list batch;
	struct mail *m;

	(void)fd;
	(void)what;
	TAILQ_INIT(&batch);
	pthread_mutex_lock(&bus->lock);
	TAILQ_CONCAT(&batch, &bus->mail, entry);
	bus->mail_bytes = 0;
	bus->wake_pending = false;
	pthread_cond_broadcast(&bus->room);
	pthread_mutex_unlock(&bus->lock);
	bus->draining++;
	while ((m = TAILQ_FIRST(&batch)) != NULL) {
		TAILQ_REMOVE(&batch, m, entry);
		bus__dispatch(bus, m);
		free(m);
	}
	/* shutting down: the mailbox is empty now, which may be what it waits for */
	if (--bus->draining == 0 && bus->state == ST_SHUTTING)
		bus__quiesce(bus);
}

void
bus__on_hold_end(evutil_socket_t fd, short what, void *arg)
{
	hb_bus_take(arg);
	(void)fd;
	(void)what;
}

void
hb_bus_hold(struct hb_bus *bus, int ms)
{
	if (ms <= 0)
		return;
	pthread_mutex_lock(&bus->lock);
	bus->held = true;
	pthread_mutex_unlock(&bus->lock);
	hb_timer_add_ms(bus->ev_hold, ms);
}

void
hb_bus_take(struct hb_bus *bus)
{
	evtimer_del(bus->ev_hold);
	pthread_mutex_lock(&bus->lock);
	bus->held = false;
	pthread_mutex_unlock(&bus->lock);
	bus__drain(-1, 0, bus);
}

void
bus__on_mail(evutil_socket_t fd, short what, void *arg)
{
	struct hb_bus *bus = arg;
	uint64_t n;
	bool held;

	if (read(fd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		hb_debug("bus eventfd read: %s", strerror(errno));
	/*
	 * Posted just before the service held the mailbox: the hold's end
	 * hands it over. A post that ends the hold early (half full) wakes
	 * the loop again.
	 */
	pthread_mutex_lock(&bus->lock);
	held = bus->held;
	if (held)
		bus->wake_pending = false;
	pthread_mutex_unlock(&bus->lock);
	if (held)
		return;
	/* Wait a moment for more to arrive, then take it all at once. */
	if (bus->opts.coalesce_us > 0) {
		struct timeval tv = { 0, bus->opts.coalesce_us };

		if (!evtimer_pending(bus->ev_drain, NULL))
			evtimer_add(bus->ev_drain, &tv);
		return;
	}
	bus__drain(fd, what, arg);
}
