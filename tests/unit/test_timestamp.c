/*
 * Device times into nanoseconds: ISO 8601 with and without an offset, and
 * epochs in s, ms, us and ns, up to InfluxDB's last instant.
 */
#include "hbt.h"
#include "timestamp.h"

#include <stdlib.h>

#define NOW 1700000000000000000LL

static void
test_timestamps(void)
{
	HBT_CHECK(timestamp_parse("2023-11-14T22:13:20Z", false) == NOW,
	    "ISO 8601 UTC");
	HBT_CHECK(timestamp_parse("2023-11-14T23:13:20+01:00", false) == NOW,
	    "ISO 8601 with an offset");
	HBT_CHECK(timestamp_parse("2023-11-14 22:13:20.250Z", false) ==
	    NOW + 250000000, "fractions");
	HBT_CHECK(timestamp_parse("1700000000", false) == NOW, "epoch seconds");
	HBT_CHECK(timestamp_parse("1700000000000", false) == NOW, "epoch ms");
	HBT_CHECK(timestamp_parse("1700000000000000", false) == NOW, "epoch us");
	HBT_CHECK(timestamp_parse("1700000000000000000", false) == NOW, "epoch ns");
	HBT_CHECK(timestamp_parse("2023-13-14T22:13:20Z", false) == -1, "month 13");
	HBT_CHECK(timestamp_parse("yesterday", false) == -1, "words");
	HBT_CHECK(timestamp_parse("-5", false) == -1, "negative");
	/* past InfluxDB's last instant (2262-04-11T23:47:16Z): refused, never
	 * an overflow */
	HBT_CHECK(timestamp_parse("2262-12-31T00:00:00Z", false) == -1, "2262-12");
	HBT_CHECK(timestamp_parse("2262-04-10T00:00:00Z", false) > 0, "2262-04-10");
	HBT_CHECK(timestamp_from_epoch(5e10) == -1, "5e10 s is past 2262");
	HBT_CHECK(timestamp_from_epoch(9.3e12) == -1 && timestamp_from_epoch(9.3e15) == -1 &&
	    timestamp_from_epoch(9.3e18) == -1, "ms, us, ns past 2262");
}

int
main(void)
{
	hbt_init("timestamp");
	setenv("TZ", "UTC", 1);
	test_timestamps();
	hbt_exit();
}
