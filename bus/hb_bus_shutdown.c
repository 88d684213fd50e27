/*
 * hb_bus_shutdown: the drain-then-disconnect sequence, on the loop thread.
 * "offline" is published, messages still arriving are taken (and what the
 * service makes of them sent) up to a deadline, the DISCONNECT goes out
 * once nothing waits, and the service is called back.
 */
#include "hb_bus_internal.h"
#include "hb_log.h"

#include <stdlib.h>
#include <string.h>

void
bus__finish_shutdown(struct hb_bus *bus)
{
	hb_bus_done_fn done = bus->done;

	if (bus->state == ST_CLOSED)
		return;
	if (bus->ev_quiesce)
		event_del(bus->ev_quiesce);
	bus->state = ST_CLOSED;
	/* a service that keeps what it takes gets what is still waiting */
	if (!bus->opts.republish)
		bus__drain(-1, 0, bus);
	bus->done = NULL;
	if (bus->m_connected)
		hb_gauge_set(bus->m_connected, 0);
	if (done)
		done(bus->done_arg);
}

static void
on_done_timer(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	bus__finish_shutdown(arg);
}

/*
 * Shutdown: nothing waiting in the mailbox and the coalescing timer (with
 * mailbox), in the outbox, and (with in_flight) for the broker's
 * acknowledgement.
 */
static bool
quiet(struct hb_bus *bus, bool mailbox, bool in_flight)
{
	bool empty;

	if (mailbox) {
		if (evtimer_pending(bus->ev_drain, NULL) ||
		    evtimer_pending(bus->ev_hold, NULL))
			return false;
		pthread_mutex_lock(&bus->lock);
		empty = TAILQ_EMPTY(&bus->mail);
		pthread_mutex_unlock(&bus->lock);
		if (!empty)
			return false;
	}
	pthread_mutex_lock(&bus->out_lock);
	empty = bus->out_count == 0;
	pthread_mutex_unlock(&bus->out_lock);
	if (!empty || !in_flight)
		return empty;
	pthread_mutex_lock(&bus->fly_lock);
	empty = bus->inflight == 0;
	pthread_mutex_unlock(&bus->fly_lock);
	return empty;
}

/*
 * Shutdown, whenever something changes (the mailbox drained, the outbox or
 * the in-flight count emptied) and at each deadline. A service that publishes what it makes of
 * the messages it takes (opts.republish: ingest) keeps taking them while
 * what it publishes goes out; once nothing waits in the mailbox or the
 * outbox it stops taking, waits for the acknowledgements and sends the
 * DISCONNECT at once, so that the instant in which a message can arrive
 * and not be taken is as short as the network makes it. Any other service
 * (the writer spools what it takes) goes on taking messages until the
 * connection is closed, and disconnects once its own publishes are out.
 * Under a flood that never goes quiet: taking stops at the bus__drain deadline,
 * what is unsent 2 s later is given up (and said so), and 2 s after the
 * DISCONNECT the bus closes whatever paho is doing.
 */
static void
close_input(struct hb_bus *bus)
{
	if (atomic_load(&bus->input_closed))
		return;
	/* publishes nobody took are not sent again: the outbox drains */
	evtimer_del(bus->ev_retry);
	pthread_mutex_lock(&bus->lock);
	atomic_store(&bus->input_closed, true);
	/* let a receive thread waiting for room go on */
	pthread_cond_broadcast(&bus->room);
	pthread_mutex_unlock(&bus->lock);
}

static void
quiesce(struct hb_bus *bus)
{
	int64_t now = hb_mono_ms(), deadline = bus->drain_deadline_ms;
	struct cmd *c;

	if (bus->disconnect_sent) {
		if (now >= bus->disconnect_ms + DRAIN_MS) {
			hb_warn("bus: the broker did not confirm the disconnect; closing");
			bus__finish_shutdown(bus);
		}
		return;
	}
	/* taken messages handed over and sent: stop taking, then wait for acks */
	if (bus->opts.republish && (now >= deadline ||
	    (bus->nretry == 0 && quiet(bus, true, false))))
		close_input(bus);
	if (now >= deadline + DRAIN_MS) {
		/* the broker does not take what we send: give up, loudly */
		size_t lost = 0;

		pthread_mutex_lock(&bus->out_lock);
		while ((c = TAILQ_FIRST(&bus->out)) != NULL) {
			TAILQ_REMOVE(&bus->out, c, entry);
			bus->out_count--;
			free(c);
			lost++;
		}
		pthread_mutex_unlock(&bus->out_lock);
		pthread_mutex_lock(&bus->fly_lock);
		lost += (size_t)bus->inflight;
		pthread_mutex_unlock(&bus->fly_lock);
		if (lost)
			hb_error("bus closing: %zu publishes could not be sent or were not "
			    "acknowledged within %d ms (the broker is not acknowledging); "
			    "they may be lost", lost, 2 * DRAIN_MS);
	} else if (bus->opts.republish ? !atomic_load(&bus->input_closed) ||
	    !quiet(bus, true, true) : !quiet(bus, false, true) ||
	    (now < deadline && bus->nretry > 0))
		return;
	if (bus->opts.republish)
		close_input(bus);
	if (bus->nretry > 0)
		hb_error("bus closing with %zu publishes nobody subscribed to; they "
		    "are dropped (is the writer running?)", bus->nretry);
	bus__enqueue(bus, bus__cmd_new(CMD_DISCONNECT, NULL, NULL, 0));
	bus->disconnect_sent = true;
	bus->disconnect_ms = now;
}

/* The timer for the next deadline of the sequence. */
static void
arm_deadline(struct hb_bus *bus)
{
	int64_t now = hb_mono_ms(), at;

	if (bus->state != ST_SHUTTING)
		return;
	if (bus->disconnect_sent)
		at = bus->disconnect_ms + DRAIN_MS;
	else if (now < bus->drain_deadline_ms)
		at = bus->drain_deadline_ms;
	else
		at = bus->drain_deadline_ms + DRAIN_MS;
	at = at > now ? at - now : 1;
	hb_timer_add_ms(bus->ev_quiesce, at);
}

void
bus__quiesce(struct hb_bus *bus)
{
	if (bus->state != ST_SHUTTING || bus->ev_quiesce == NULL)
		return;
	quiesce(bus);
	arm_deadline(bus);
}

static void
on_quiesce(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	bus__quiesce(arg);
}

void
bus__wake_quiesce(struct hb_bus *bus)
{
	/* shutting down, or a service that wants to know (opts.on_idle) */
	if (atomic_load(&bus->quiesce_watch) || bus->opts.on_idle)
		bus__post(bus, bus__mail_new(MAIL_QUIET, "", 0, NULL, 0), false);
}

void
hb_bus_shutdown(struct hb_bus *bus, hb_bus_done_fn done, void *arg)
{
	bool was_connected = bus->state == ST_CONNECTED;

	bus->done = done;
	bus->done_arg = arg;
	evtimer_del(bus->ev_reconnect);
	event_del(bus->ev_heartbeat);
	if (was_connected)
		bus__publish_status(bus, "offline");
	bus->state = ST_SHUTTING;
	if (was_connected) {
		/* what arrives meanwhile is still taken, up to the deadline */
		bus->drain_deadline_ms = hb_mono_ms() + DRAIN_MS;
		bus->ev_quiesce = evtimer_new(bus->base, on_quiesce, bus);
		/*
		 * From now on the worker and paho's callbacks wake the loop
		 * when the outbox or the in-flight count empties: every moment
		 * between the last message taken and the DISCONNECT is a moment
		 * in which one can arrive and be lost.
		 */
		atomic_store(&bus->quiesce_watch, true);
		bus__quiesce(bus);
		return;
	}
	{
		int pending = hb_bus_pending(bus);

		if (pending > 0)
			hb_error("bus closing while the broker is unreachable: %d "
			    "publishes were not sent", pending);
	}
	/* Not connected: finish on the next loop turn, never from inside. */
	bus->ev_done = evtimer_new(bus->base, on_done_timer, bus);
	event_active(bus->ev_done, EV_TIMEOUT, 0);
}
