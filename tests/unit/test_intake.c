/*
 * Lines taken off the bus (services/writer/intake.c alone, its clock
 * injected): an undated line is stamped in writer.influx.precision (in ns
 * with the writer's slot in the last three digits, ns and us strictly
 * increasing, ms and s strictly increasing per series, one stamp for the
 * message's series where they differ); a dated one is converted
 * from ns, toward the earlier time; an invalid line is counted and left
 * out while its neighbours go on; a message is read in parts when a batch
 * fills; a retained copy is skipped unless writer.accept_retained.
 */
#include "hbt.h"
#include "intake.h"

#include <string.h>

static int64_t clock_ns;

static int64_t
fake_clock(void)
{
	return clock_ns;
}

static struct hb_metrics *reg;

static void
setup(struct intake *in, const char *precision, int64_t slot)
{
	struct hb_lp_limits limits = { 0 };

	intake_init(in, &limits, precision, slot, false);
	in->wall_ns = fake_clock;
	in->received = hb_metrics_counter(reg, "received", "", NULL);
	in->rejected = hb_metrics_counter(reg, "rejected", "", NULL);
	in->retained = hb_metrics_counter(reg, "retained", "", NULL);
	in->received->value = in->rejected->value = in->retained->value = 0;
}

/* Takes a whole message into out; returns the lines added. */
static int64_t
take(struct intake *in, const char *payload, struct hb_buf *out)
{
	struct hb_bus_msg msg = { .topic = "homebus/points/t", .payload = payload,
	    .len = strlen(payload), .qos = 1 };
	struct intake_cursor cur = { 0 };
	int64_t n = 0;

	while (!cur.done)
		n += intake_lines(in, &msg, &cur, out, 1000);
	return n;
}

static void
test_stamps(void)
{
	struct intake in;
	struct hb_buf out = { 0 };

	setup(&in, "ns", 123);
	clock_ns = 1764800000123456789;
	take(&in, "t v=1\nt v=2\n", &out);
	HBT_CHECK(strcmp(out.data, "t v=1 1764800000123456123\n"
	    "t v=2 1764800000123457123\n") == 0, "ns: the microsecond with the slot, "
	    "then a microsecond on: [%s]", out.data);
	hb_buf_reset(&out);
	clock_ns -= 5000000;	/* the wall clock stepped back */
	take(&in, "t v=3\n", &out);
	HBT_CHECK(strcmp(out.data, "t v=3 1764800000123458123\n") == 0,
	    "ns stamps never go back: [%s]", out.data);
	hb_buf_free(&out);

	setup(&in, "us", 0);
	clock_ns = 1764800000123456789;
	take(&in, "t v=1\nt v=2\n", &out);
	HBT_CHECK(strcmp(out.data, "t v=1 1764800000123456\nt v=2 1764800000123457\n")
	    == 0, "us: strictly increasing: [%s]", out.data);
	hb_buf_free(&out);

	setup(&in, "ms", 0);
	take(&in, "t v=1\nt,k=b v=2\nu v=3\n", &out);
	HBT_CHECK(strcmp(out.data, "t v=1 1764800000123\nt,k=b v=2 1764800000123\n"
	    "u v=3 1764800000123\n") == 0,
	    "ms: one stamp for the message's series: [%s]", out.data);
	hb_buf_reset(&out);
	take(&in, "t v=4\nt v=5\nt,k=b v=6\n", &out);
	HBT_CHECK(strcmp(out.data, "t v=4 1764800000124\nt v=5 1764800000125\n"
	    "t,k=b v=6 1764800000124\n") == 0,
	    "ms: lines of one series in one unit are stamped apart, each series "
	    "on its own: [%s]", out.data);
	hb_buf_reset(&out);
	clock_ns += 5000000;
	take(&in, "t v=7\n", &out);
	HBT_CHECK(strcmp(out.data, "t v=7 1764800000128\n") == 0,
	    "the clock again once it is ahead: [%s]", out.data);
	hb_buf_free(&out);

	setup(&in, "s", 0);
	take(&in, "t v=1\nt v=2\nt v=3\n", &out);
	HBT_CHECK(strcmp(out.data, "t v=1 1764800000\nt v=2 1764800001\n"
	    "t v=3 1764800002\n") == 0, "s: a second apart: [%s]", out.data);
	hb_buf_free(&out);
}

static void
test_converted(void)
{
	struct intake in;
	struct hb_buf out = { 0 };

	setup(&in, "ms", 0);
	take(&in, "t v=1 1764800000123456789\nt v=2 -1500000\n", &out);
	HBT_CHECK(strcmp(out.data, "t v=1 1764800000123\nt v=2 -2\n") == 0,
	    "ns times in ms, toward the earlier time: [%s]", out.data);
	hb_buf_free(&out);

	setup(&in, "ns", 7);
	take(&in, "t,k=a v=1 1764800000123456789\n", &out);
	HBT_CHECK(strcmp(out.data, "t,k=a v=1 1764800000123456789\n") == 0,
	    "ns times as they are: [%s]", out.data);
	hb_buf_free(&out);
}

static void
test_rejected(void)
{
	struct intake in;
	struct hb_buf out = { 0 };
	int64_t n;

	setup(&in, "ns", 0);
	n = take(&in, "a v=1 1\nbad line\nb v=\"open 2\nc v=3 3\n", &out);
	HBT_CHECK(n == 2 && strcmp(out.data, "a v=1 1\nc v=3 3\n") == 0,
	    "the valid lines go on: [%s]", out.data);
	HBT_CHECK(in.rejected->value == 2 && in.received->value == 2,
	    "two rejected, two received (%llu, %llu)",
	    (unsigned long long)in.rejected->value,
	    (unsigned long long)in.received->value);
	hb_buf_free(&out);
}

static void
test_room(void)
{
	struct intake in;
	struct hb_buf out = { 0 };
	const char *p = "t v=1 1\nt v=2 2\nt v=3 3\nt v=4 4\nt v=5 5\n";
	struct hb_bus_msg msg = { .topic = "t", .payload = p, .len = strlen(p) };
	struct intake_cursor cur = { 0 };

	setup(&in, "ns", 0);
	HBT_CHECK(intake_lines(&in, &msg, &cur, &out, 2) == 2 && !cur.done,
	    "room for 2: 2 lines, the message not done");
	HBT_CHECK(strcmp(out.data, "t v=1 1\nt v=2 2\n") == 0, "the first two");
	hb_buf_reset(&out);
	HBT_CHECK(intake_lines(&in, &msg, &cur, &out, 10) == 3 && cur.done &&
	    strcmp(out.data, "t v=3 3\nt v=4 4\nt v=5 5\n") == 0,
	    "the rest in the next batch: [%s]", out.data);
	hb_buf_free(&out);
}

static void
test_retained(void)
{
	struct intake in;
	const char *p = "t v=1 1\nt v=2 2\n";
	struct hb_bus_msg msg = { .topic = "homebus/points/t", .payload = p,
	    .len = strlen(p), .retained = true };

	setup(&in, "ns", 0);
	HBT_CHECK(intake_skip_retained(&in, &msg) && in.retained->value == 2,
	    "a retained copy is skipped and its points counted");
	msg.retained = false;
	HBT_CHECK(!intake_skip_retained(&in, &msg), "a live message is not");
	in.accept_retained = true;
	msg.retained = true;
	HBT_CHECK(!intake_skip_retained(&in, &msg), "writer.accept_retained "
	    "takes the retained copy");
}

int
main(void)
{
	hbt_init("intake");
	reg = hb_metrics_new("test");
	test_stamps();
	test_converted();
	test_rejected();
	test_room();
	test_retained();
	hb_metrics_free(reg);
	hbt_exit();
}
