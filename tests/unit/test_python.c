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
	};
	static const char *const refused[] = { "0x10", "1e", "1__0", "_1", "1_",
	    "", " ", ".", "1.5.5", "--5", "12 kWh", "nan", "inf", "1e400" };
	double v;

	for (size_t i = 0; i < HB_ARRAY_LEN(reads); i++)
		HBT_CHECK(python_float(reads[i].text, strlen(reads[i].text), &v) &&
		    v == reads[i].want, "float(\"%s\") == %g", reads[i].text,
		    reads[i].want);
	for (size_t i = 0; i < HB_ARRAY_LEN(refused); i++)
		HBT_CHECK(!python_float(refused[i], strlen(refused[i]), &v),
		    "\"%s\" is no finite number", refused[i]);
	HBT_CHECK(python_nonfinite("nan", 3) && python_nonfinite(" -Infinity ", 11) &&
	    python_nonfinite("+inf", 4) && python_nonfinite("NaN", 3),
	    "the words float() reads as nan or inf");
	HBT_CHECK(!python_nonfinite("nanx", 4) && !python_nonfinite("1", 1) &&
	    !python_nonfinite("", 0), "and nothing else");
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
	test_str();
	hbt_exit();
}
