/*
 * The writer's group commit alone (services/writer/batch.c, the bus
 * stubbed): a lone point goes to the spool on the loop's next pass when no
 * write is in flight; while one is, points gather and the sender is pumped
 * instead; a steady stream gathers until writer.min_write_interval_ms after
 * the previous write started, with the bus held that long; a full batch
 * goes at once, busy or not; the commit timer runs while lines wait. Time
 * is each call's "now": nothing here sleeps.
 */
#include "hbt.h"
#include "batch.h"
#include "send.h"

#include <string.h>

/* what the rest of the writer saw */
static struct {
	bool busy;
	int64_t last_send_ms;
	int commits, pumps;
	int64_t committed_points[16];
	char committed[16][256];
	int holds, takes;
	int hold_ms;
} seen;

/* stubs for the bus: batch only holds and takes */
void
hb_bus_hold(struct hb_bus *bus, int ms)
{
	(void)bus;
	seen.holds++;
	seen.hold_ms = ms;
}

void
hb_bus_take(struct hb_bus *bus)
{
	(void)bus;
	seen.takes++;
}

/* stubs for the sender and the writer, which batch calls directly */
bool
send_busy(const struct sender *s, int64_t *last_send_ms)
{
	(void)s;
	*last_send_ms = seen.last_send_ms;
	return seen.busy;
}

/* as the spool does: takes the buffer, leaves an empty one */
void
writer_commit(struct writer *w, struct hb_buf *lines, int64_t points,
    int64_t first_ms)
{
	(void)first_ms;
	(void)w;
	if (seen.commits < 16) {
		seen.committed_points[seen.commits] = points;
		snprintf(seen.committed[seen.commits], sizeof(seen.committed[0]),
		    "%s", lines->data);
	}
	seen.commits++;
	hb_buf_reset(lines);
}

void
send_pump(struct sender *s)
{
	(void)s;
	seen.pumps++;
}

/* A fake bus handle: never dereferenced, only passed to the stubs. */
static struct hb_bus *const fake_bus = (struct hb_bus *)&seen;

static void
setup(struct batch *b, struct event_base *base, int64_t size,
    int64_t min_interval_ms)
{
	const struct batch_policy policy = { size, min_interval_ms, 200 };

	memset(&seen, 0, sizeof(seen));
	batch_init(b, base, &policy, NULL, NULL);
	b->bus = fake_bus;
}

/* A message of n lines taken off the bus. */
static void
arrive(struct batch *b, const char *tag, int n)
{
	for (int i = 0; i < n; i++)
		hb_buf_printf(&b->lines, "%s v=%di %d\n", tag, i, i + 1);
	batch_added(b, n);
	batch_arrived(b);
}

static void
test_idle_goes_at_once(struct event_base *base)
{
	struct batch b;

	setup(&b, base, 5000, 20);
	seen.last_send_ms = 0;	/* long before any monotonic now */
	arrive(&b, "lone", 1);
	HBT_CHECK(seen.commits == 0, "nothing is committed inside the callback");
	HBT_CHECK(evtimer_pending(b.ev_commit, NULL), "the commit timer runs while "
	    "lines wait");
	/* the loop's next pass, no timer */
	event_base_loop(base, EVLOOP_NONBLOCK);
	HBT_CHECK(seen.commits == 1 && seen.committed_points[0] == 1 &&
	    strcmp(seen.committed[0], "lone v=0i 1\n") == 0,
	    "a lone point goes on the next pass (commits=%d)", seen.commits);
	HBT_CHECK(batch_empty(&b) && b.points == 0, "nothing left gathering");
	HBT_CHECK(!evtimer_pending(b.ev_commit, NULL), "the commit timer stops");
	HBT_CHECK(seen.holds == 0, "the bus is not held");
	batch_free(&b);
}

static void
test_gathers_while_in_flight(struct event_base *base)
{
	struct batch b;

	setup(&b, base, 5000, 20);
	seen.busy = true;
	seen.last_send_ms = 0;	/* no interval to wait for: only the write */
	arrive(&b, "a", 2);
	batch_run(&b, 1001);
	arrive(&b, "b", 3);
	batch_run(&b, 1002);
	HBT_CHECK(seen.commits == 0 && b.points == 5, "a write in flight: the "
	    "points gather (commits=%d points=%lld)", seen.commits,
	    (long long)b.points);
	HBT_CHECK(seen.pumps == 2, "and the sender is pumped instead (%d)",
	    seen.pumps);
	/* the write finished */
	seen.busy = false;
	batch_run(&b, 1030);
	HBT_CHECK(seen.commits == 1 && seen.committed_points[0] == 5,
	    "what gathered goes as one batch (commits=%d)", seen.commits);
	HBT_CHECK(strncmp(seen.committed[0], "a v=0i 1\na v=1i 2\nb v=0i 1\n",
	    27) == 0, "in the order it arrived");
	event_base_loop(base, EVLOOP_NONBLOCK);	/* the kicks: nothing left */
	HBT_CHECK(seen.commits == 1, "an empty batch is never committed");
	batch_free(&b);
}

static void
test_min_write_interval(struct event_base *base)
{
	struct batch b;

	setup(&b, base, 5000, 20);
	seen.last_send_ms = 1000;
	arrive(&b, "s", 1);
	batch_run(&b, 1005);
	HBT_CHECK(seen.commits == 0, "5 ms after the last write started: gather");
	HBT_CHECK(evtimer_pending(b.ev_linger, NULL), "until the interval ends");
	HBT_CHECK(seen.holds == 1 && seen.hold_ms == 15, "the bus holds messages "
	    "for the 15 ms left (holds=%d ms=%d)", seen.holds, seen.hold_ms);
	arrive(&b, "s", 1);
	batch_run(&b, 1010);
	HBT_CHECK(seen.holds == 1 && seen.commits == 0, "one hold per gathering");
	batch_linger_end(&b, 1020);
	HBT_CHECK(seen.takes == 1, "the gathering's end takes what the bus held");
	HBT_CHECK(seen.commits == 1 && seen.committed_points[0] == 2,
	    "and commits what gathered (commits=%d)", seen.commits);

	/* min_write_interval_ms 0: never gather */
	batch_free(&b);
	setup(&b, base, 5000, 0);
	seen.last_send_ms = 1000;
	arrive(&b, "z", 1);
	batch_run(&b, 1000);
	HBT_CHECK(seen.commits == 1 && seen.holds == 0, "interval 0: at once");
	batch_free(&b);
}

static void
test_batch_size(struct event_base *base)
{
	struct batch b;

	setup(&b, base, 3, 20);
	seen.busy = true;
	arrive(&b, "f", 2);
	HBT_CHECK(seen.commits == 0 && batch_room(&b) == 1, "2 of 3: room for 1 "
	    "(room=%lld)", (long long)batch_room(&b));
	arrive(&b, "f", 1);
	HBT_CHECK(seen.commits == 1 && seen.committed_points[0] == 3,
	    "a full batch goes at once, even with a write in flight");
	HBT_CHECK(batch_room(&b) == 3, "the next batch starts empty");

	/* full while lingering: no wait for the interval */
	batch_free(&b);
	setup(&b, base, 3, 20);
	seen.last_send_ms = 1000;
	arrive(&b, "g", 1);
	batch_run(&b, 1001);
	HBT_CHECK(seen.commits == 0 && seen.holds == 1, "lingering");
	arrive(&b, "g", 2);
	HBT_CHECK(seen.commits == 1 && seen.committed_points[0] == 3,
	    "reaching batch_size ends the gathering");
	batch_free(&b);
}

static void
test_commit_timer(struct event_base *base)
{
	struct batch b;

	setup(&b, base, 5000, 20);
	batch_arrived(&b);
	HBT_CHECK(!evtimer_pending(b.ev_commit, NULL), "no lines: no commit timer");
	seen.busy = true;
	arrive(&b, "t", 1);
	HBT_CHECK(evtimer_pending(b.ev_commit, NULL), "lines: the commit timer runs");
	/* what the timer does when writer.spool.commit_ms is up */
	batch_commit(&b);
	HBT_CHECK(seen.commits == 1 && !evtimer_pending(b.ev_commit, NULL),
	    "committed however busy the sender, and the timer stops");
	batch_free(&b);
}

int
main(void)
{
	struct event_base *base;

	hbt_init("batch");
	base = event_base_new();
	HBT_REQUIRE(base != NULL, "event_base_new");
	test_idle_goes_at_once(base);
	test_gathers_while_in_flight(base);
	test_min_write_interval(base);
	test_batch_size(base);
	test_commit_timer(base);
	event_base_free(base);
	hbt_exit();
}
