/*
 * Python's float() and str() as homebus reproduces them: each case is what
 * CPython answers (float('1_000') == 1000.0, str([1.0]) == '[1.0]').
 */
#include "hbt.h"
#include "python.h"

#include <math.h>
#include <string.h>

static void
test_float(void)
{
	static const struct {
		const char *text;
		double want;
	} reads[] = {
		{ "21.5", 21.5 }, { " 1_000 ", 1000 }, { "1e3", 1000 }, { "-.5", -0.5 },
		{ "5.", 5 }, { "+7", 7 }, { "1E-2", 0.01 }, { "\t42\n", 42 },
		{ "1_000.5", 1000.5 }, { "1e1_0", 1e10 },
		{ "0.000000000000000000000000000000000000000000000000000000000000000001",
		    1e-66 },
	};
	static const char *const refused[] = { "0x10", "1e", "1__0", "_1", "1_",
	    "1_.5", "1_e5", "", " ", ".", "1.5.5", "--5", "12 kWh", "infinit",
	    "0x1p3", "e5", "-" };
	double v;

	for (size_t i = 0; i < HB_ARRAY_LEN(reads); i++)
		HBT_CHECK(python_float(reads[i].text, strlen(reads[i].text), &v) &&
		    v == reads[i].want, "float(\"%s\") == %g", reads[i].text,
		    reads[i].want);
	for (size_t i = 0; i < HB_ARRAY_LEN(refused); i++)
		HBT_CHECK(!python_float(refused[i], strlen(refused[i]), &v),
		    "float(\"%s\") raises ValueError", refused[i]);
	/* float() reads these too; what to do with them is the caller's */
	HBT_CHECK(python_float("nan", 3, &v) && isnan(v), "float('nan')");
	HBT_CHECK(python_float(" -Infinity ", 11, &v) && isinf(v) && v < 0,
	    "float(' -Infinity ')");
	HBT_CHECK(python_float("+iNf", 4, &v) && isinf(v) && v > 0, "float('+iNf')");
	HBT_CHECK(python_float("1e400", 5, &v) && isinf(v), "float('1e400') is inf");
}

/* fnmatch.fnmatchcase(name, pattern), as Home Assistant's globs use it. */
static void
test_fnmatch(void)
{
	static const struct {
		const char *pattern, *name;
		bool match;
	} cases[] = {
		{ "sensor.*", "sensor.outside_temp", true },
		{ "sensor.*", "binary_sensor.door", false },
		{ "*", "", true },
		{ "*_temp", "sensor.a.b_temp", true },		/* '*' crosses dots */
		{ "sensor.?", "sensor.a", true },
		{ "sensor.?", "sensor.ab", false },
		{ "light.[ab]*", "light.attic", true },
		{ "light.[!ab]*", "light.attic", false },
		{ "light.[!ab]*", "light.cellar", true },
		{ "x[a-c]", "xb", true },
		{ "x[a-c]", "xd", false },
		{ "x[]y", "x[]y", true },			/* '[' without ']' */
		{ "x[]y]", "x]", true },			/* ']' first is in the set */
		{ "a\\*", "a\\b", true },			/* no escapes */
		{ "*a*b", "xaxxb", true },
		{ "*a*b", "xaxxbc", false },
		{ "Sensor.*", "sensor.x", false },		/* case counts */
	};

	for (size_t i = 0; i < HB_ARRAY_LEN(cases); i++)
		HBT_CHECK(python_fnmatch(cases[i].pattern, cases[i].name) ==
		    cases[i].match, "fnmatchcase(\"%s\", \"%s\") is %s", cases[i].name,
		    cases[i].pattern, cases[i].match ? "True" : "False");
}

static void
expect_str(const char *json, const char *want)
{
	json_t *v = json_loads(json, JSON_DECODE_ANY, NULL);
	struct hb_buf b = { 0 };

	HBT_REQUIRE(v != NULL, "%s parses", json);
	python_str(&b, v);
	HBT_CHECK(b.data && strcmp(b.data, want) == 0, "str(%s)\n   got: %s\n  want: %s",
	    json, b.data ? b.data : "", want);
	hb_buf_free(&b);
	json_decref(v);
}

static void
test_str(void)
{
	expect_str("\"peak 2\"", "peak 2");
	expect_str("null", "None");
	expect_str("true", "True");
	expect_str("3", "3");
	expect_str("2.0", "2.0");
	expect_str("1e16", "1e+16");
	expect_str("1e15", "1000000000000000.0");
	expect_str("0.00001", "1e-05");
	expect_str("[\"a\", 1, true, null, {\"b\": 2.5}]",
	    "['a', 1, True, None, {'b': 2.5}]");
	expect_str("[\"it's\", \"say \\\"hi\\\"\", \"both ' \\\"\", \"tab\\t\"]",
	    "[\"it's\", 'say \"hi\"', 'both \\' \"', 'tab\\t']");
	expect_str("{}", "{}");
	expect_str("[[]]", "[[]]");
}

int
main(void)
{
	hbt_init("python");
	test_float();
	test_fnmatch();
	test_str();
	hbt_exit();
}
