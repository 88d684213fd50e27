/*
 * hb_rate: at most N events in any window, computed exactly, with the
 * limits Telegram publishes as the cases.
 */
#include "hbt.h"
#include "hb_rate.h"

static void
test_one_per_second(void)
{
	struct hb_rate r;

	hb_rate_init(&r, 1, 1000);
	HBT_CHECK(hb_rate_next(&r, 5000) == 5000, "first is free");
	hb_rate_take(&r, 5000);
	HBT_CHECK(hb_rate_next(&r, 5001) == 6000, "second waits a second");
	HBT_CHECK(hb_rate_next(&r, 7000) == 7000, "after the window, at once");
	hb_rate_take(&r, 7000);
	HBT_CHECK(hb_rate_next(&r, 7000) == 8000, "from the last one");
	hb_rate_free(&r);
}

static void
test_twenty_per_minute(void)
{
	struct hb_rate r;
	int64_t t = 0;
	int sent = 0;

	hb_rate_init(&r, 20, 60000);
	/* as fast as allowed for three minutes: 20 at once, then 20 a minute */
	while (t < 180000) {
		t = hb_rate_next(&r, t);
		if (t >= 180000)
			break;
		hb_rate_take(&r, t);
		sent++;
	}
	HBT_CHECK(sent == 60, "60 in three minutes, got %d", sent);
	hb_rate_free(&r);

	/* any 60 s window holds at most 20, whatever the pattern */
	{
		int64_t times[200];
		int n = 0;

		hb_rate_init(&r, 20, 60000);
		for (int64_t now = 0; now < 200000 && n < 200; now += 700) {
			int64_t at = hb_rate_next(&r, now);

			if (at == now) {
				hb_rate_take(&r, now);
				times[n++] = now;
			}
		}
		for (int i = 0; i + 20 < n; i++)
			HBT_CHECK(times[i + 20] - times[i] >= 60000,
			    "21 events within %lld ms", (long long)(times[i + 20] - times[i]));
		hb_rate_free(&r);
	}
}

/* Moving an event to when its answer came pushes the next one back. */
static void
test_move(void)
{
	struct hb_rate r;

	hb_rate_init(&r, 1, 1000);
	hb_rate_take(&r, 0);
	hb_rate_move(&r, 0, 80);	/* the answer came 80 ms later */
	HBT_CHECK(hb_rate_next(&r, 100) == 1080, "from the answer: %lld",
	    (long long)hb_rate_next(&r, 100));
	hb_rate_free(&r);

	hb_rate_init(&r, 3, 1000);
	hb_rate_take(&r, 0);
	hb_rate_take(&r, 10);
	hb_rate_take(&r, 20);
	HBT_CHECK(hb_rate_next(&r, 30) == 1000, "full: the oldest + window");
	hb_rate_move(&r, 0, 500);	/* the oldest was really at 500 */
	HBT_CHECK(hb_rate_next(&r, 30) == 1010, "now 10 is the oldest: %lld",
	    (long long)hb_rate_next(&r, 30));
	hb_rate_take(&r, 5);		/* older than all kept: no effect */
	HBT_CHECK(hb_rate_next(&r, 30) == 1010, "a stale event changes nothing");
	hb_rate_move(&r, 12345, 600);	/* unknown: taken as new */
	HBT_CHECK(hb_rate_next(&r, 30) == 1020, "%lld", (long long)hb_rate_next(&r, 30));
	hb_rate_free(&r);
}

static void
test_no_limit(void)
{
	struct hb_rate r;

	hb_rate_init(&r, 1, 0);
	hb_rate_take(&r, 10);
	HBT_CHECK(hb_rate_next(&r, 10) == 10, "window 0: no limit");
	hb_rate_free(&r);
}

int
main(void)
{
	hbt_init("rate");
	test_one_per_second();
	test_twenty_per_minute();
	test_move();
	test_no_limit();
	hbt_exit();
}
