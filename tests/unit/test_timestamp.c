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
	HBT_CHECK(timestamp_parse("50000000000", false) == -1, "5e10 s is past 2262");
	HBT_CHECK(timestamp_parse("9300000000000", false) == -1 &&
	    timestamp_parse("9300000000000000", false) == -1 &&
	    timestamp_parse("9300000000000000000", false) == -1 &&
	    timestamp_parse("99999999999999999999999", false) == -1,
	    "ms, us, ns past 2262");
}

/*
 * Exact to the nanosecond: through a double, 1764800000123 ms became
 * 1764800000123000064 ns, and a reading sent twice two points (issue 14,
 * item 13). Integers, decimals and ISO 8601 are converted digit by digit.
 */
static void
test_exact(void)
{
	static const struct {
		const char *text;
		int64_t want;
	} cases[] = {
		{ "1764800000123", 1764800000123000000LL },		/* ms */
		{ "1764800000", 1764800000000000000LL },		/* s */
		{ "1764800000.123", 1764800000123000000LL },		/* s with ms */
		{ "1764800000.123456789", 1764800000123456789LL },
		{ "1764800000.1234567891", 1764800000123456789LL },	/* past ns: cut */
		{ "1764800000123456", 1764800000123456000LL },		/* us */
		{ "1764800000123456789", 1764800000123456789LL },	/* ns */
		{ "1764800000123.5", 1764800000123500000LL },		/* ms and a half */
		{ "1.764800000123e12", 1764800000123000000LL },		/* ms, written short */
		{ "17648000001230e-1", 1764800000123000000LL },
		{ "2025-12-03T22:13:20.123Z", 1764800000123000000LL },
		{ "2025-12-03T23:13:20.123456789+01:00", 1764800000123456789LL },
		{ " 1764800000123 ", 1764800000123000000LL },
	};

	for (size_t i = 0; i < HB_ARRAY_LEN(cases); i++) {
		int64_t got = timestamp_parse(cases[i].text, false);

		HBT_CHECK(got == cases[i].want, "\"%s\" is %lld ns (got %lld)",
		    cases[i].text, (long long)cases[i].want, (long long)got);
	}
	HBT_CHECK(timestamp_epoch("1764800000123", 13) == 1764800000123000000LL,
	    "a JSON number's text");
	HBT_CHECK(timestamp_epoch("1764800000123}", 13) == 1764800000123000000LL,
	    "read in place, up to its length");
	HBT_CHECK(timestamp_parse("0x10", false) == -1 && timestamp_parse("1e", false) ==
	    -1 && timestamp_parse("1.2.3", false) == -1 && timestamp_parse("", false) ==
	    -1 && timestamp_parse("nan", false) == -1, "no number, no time");
}

int
main(void)
{
	hbt_init("timestamp");
	setenv("TZ", "UTC", 1);
	test_timestamps();
	test_exact();
	hbt_exit();
}
