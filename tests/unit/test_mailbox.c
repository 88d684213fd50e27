/*
 * The bus's mailbox alone (bus/hb_bus_mailbox.c, linked without the rest of
 * the bus): what another thread posts reaches the loop in order, a full
 * mailbox makes the poster wait until the loop has taken what it holds, a
 * hold keeps messages back until it ends or hb_bus_take(), a hold ends by
 * itself when the mailbox is half full, and what arrives once input is
 * closed is counted, not delivered.
 */
#include "hbt.h"
#include "hb_bus_internal.h"

#include <event2/event.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

/* What the loop was handed, in order. */
static char seen[512][32];
static size_t nseen;
static size_t largest_batch, batch;

/* stubs for what the mailbox calls in the rest of the bus */
void
bus__dispatch(struct hb_bus *bus, struct mail *m)
{
	(void)bus;
	if (m->kind != MAIL_MESSAGE)
		return;
	if (nseen < 512)
		snprintf(seen[nseen], sizeof(seen[0]), "%s", m->payload);
	nseen++;
	batch++;
}

void
bus__quiesce(struct hb_bus *bus)
{
	(void)bus;
}

static struct hb_bus *
mailbox_new(struct event_base *base, size_t max_bytes)
{
	struct hb_bus *bus = hb_xcalloc(1, sizeof(*bus));

	bus->base = base;
	bus->cfg.mailbox_max_bytes = max_bytes;
	bus->state = ST_CONNECTED;
	pthread_mutex_init(&bus->lock, NULL);
	pthread_cond_init(&bus->room, NULL);
	TAILQ_INIT(&bus->mail);
	bus->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	bus->ev_mail = event_new(base, bus->efd, EV_READ | EV_PERSIST, bus__on_mail,
	    bus);
	bus->ev_drain = evtimer_new(base, bus__drain, bus);
	bus->ev_hold = evtimer_new(base, bus__on_hold_end, bus);
	event_add(bus->ev_mail, NULL);
	return bus;
}

static void
mailbox_free(struct hb_bus *bus)
{
	struct mail *m;

	while ((m = TAILQ_FIRST(&bus->mail)) != NULL) {
		TAILQ_REMOVE(&bus->mail, m, entry);
		free(m);
	}
	event_free(bus->ev_mail);
	event_free(bus->ev_drain);
	event_free(bus->ev_hold);
	close(bus->efd);
	pthread_mutex_destroy(&bus->lock);
	pthread_cond_destroy(&bus->room);
	free(bus);
}

static void
post_message(struct hb_bus *bus, const char *text, size_t pad, bool wait)
{
	char payload[2048];

	snprintf(payload, sizeof(payload), "%s", text);
	bus__post(bus, bus__mail_new(MAIL_MESSAGE, "t", 1, payload,
	    pad > strlen(payload) ? pad : strlen(payload)), wait);
}

/* Runs the loop until n messages were seen or a few seconds passed. */
static bool
loop_until(struct event_base *base, size_t n)
{
	int64_t end = hb_mono_ms() + 5000;

	while (nseen < n && hb_mono_ms() < end) {
		batch = 0;
		event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
		if (batch > largest_batch)
			largest_batch = batch;
		hbt_sleep_ms(1);
	}
	return nseen >= n;
}

struct producer {
	struct hb_bus *bus;
	int count;
	size_t pad;
};

static void *
produce(void *arg)
{
	struct producer *p = arg;
	char text[32];

	for (int i = 0; i < p->count; i++) {
		snprintf(text, sizeof(text), "m%d", i);
		post_message(p->bus, text, p->pad, true);
	}
	return NULL;
}

static void
test_order_and_backpressure(void)
{
	struct event_base *base = event_base_new();
	/* room for about four 1 KB messages */
	struct hb_bus *bus = mailbox_new(base, 4 * (1024 + sizeof(struct mail)));
	struct producer p = { bus, 500, 1024 };
	pthread_t t;
	bool ordered = true;

	nseen = largest_batch = 0;
	pthread_create(&t, NULL, produce, &p);
	loop_until(base, 500);
	HBT_CHECK(nseen == 500, "all 500 reached the loop (%zu)", nseen);
	pthread_join(t, NULL);
	for (size_t i = 0; i < nseen && i < 512; i++) {
		char want[32];

		snprintf(want, sizeof(want), "m%zu", i);
		ordered &= strncmp(seen[i], want, strlen(want)) == 0 &&
		    (seen[i][strlen(want)] == '\0' || seen[i][strlen(want)] == ' ');
	}
	HBT_CHECK(ordered, "in the order they were posted");
	/* the poster waited for room: never more than the bound in one drain */
	HBT_CHECK(largest_batch <= 6, "a full mailbox held the poster back "
	    "(largest drain %zu messages)", largest_batch);
	mailbox_free(bus);
	event_base_free(base);
}

static void
test_hold(void)
{
	struct event_base *base = event_base_new();
	struct hb_bus *bus = mailbox_new(base, 1 << 20);

	nseen = 0;
	hb_bus_hold(bus, 60000);
	post_message(bus, "a", 0, false);
	post_message(bus, "b", 0, false);
	post_message(bus, "c", 0, false);
	loop_until(base, 1);
	HBT_CHECK(nseen == 0, "held: nothing handed over (%zu)", nseen);
	hb_bus_take(bus);
	HBT_CHECK(nseen == 3 && strcmp(seen[0], "a") == 0 && strcmp(seen[2], "c") == 0,
	    "hb_bus_take hands over all three, in order (%zu)", nseen);

	/* a hold ends by itself once the mailbox is half full */
	nseen = 0;
	hb_bus_hold(bus, 60000);
	for (int i = 0; i < 600; i++)
		post_message(bus, "x", 1024, false);
	loop_until(base, 600);
	HBT_CHECK(nseen == 600, "a half-full mailbox ended the hold (%zu of 600)",
	    nseen);
	mailbox_free(bus);
	event_base_free(base);
}

static void
test_closed_input(void)
{
	struct event_base *base = event_base_new();
	struct hb_bus *bus = mailbox_new(base, 1 << 20);

	nseen = 0;
	post_message(bus, "before", 0, false);
	atomic_store(&bus->input_closed, true);
	post_message(bus, "after", 0, false);
	post_message(bus, "after", 0, true);	/* never waits once closed */
	bus__drain(-1, 0, bus);
	HBT_CHECK(nseen == 1 && strcmp(seen[0], "before") == 0,
	    "what came before the close is delivered (%zu)", nseen);
	HBT_CHECK(atomic_load(&bus->dropped_at_close) == 2,
	    "what came after is counted (%ld)", atomic_load(&bus->dropped_at_close));
	mailbox_free(bus);
	event_base_free(base);
}

int
main(void)
{
	hbt_init("mailbox");
	test_order_and_backpressure();
	test_hold();
	test_closed_input();
	hbt_exit();
}
