/*
 * Line protocol: what the writer accepts and refuses, and what the encoder
 * writes, checked against the rules of InfluxDB 1.x.
 */
#include "hbt.h"
#include "hb_lp.h"

#include <math.h>
#include <string.h>

static enum hb_lp_result
parse1(const char *s, struct hb_lp_line *line, char *err)
{
	size_t pos = 0;

	return hb_lp_next(s, strlen(s), &pos, NULL, line, err, 160);
}

static void
valid(const char *s, size_t nfields, bool has_time)
{
	struct hb_lp_line line;
	char err[160];
	enum hb_lp_result r = parse1(s, &line, err);

	HBT_CHECK(r == HB_LP_OK, "\"%s\" should parse: %s", s, err);
	if (r == HB_LP_OK) {
		HBT_CHECK(line.nfields == nfields, "\"%s\": %zu fields", s, line.nfields);
		HBT_CHECK(line.has_time == has_time, "\"%s\": has_time", s);
	}
}

static void
invalid(const char *s, const char *why)
{
	struct hb_lp_line line;
	char err[160];
	enum hb_lp_result r = parse1(s, &line, err);

	HBT_CHECK(r == HB_LP_ERROR, "\"%s\" should be refused", s);
	if (why)
		HBT_CHECK(strstr(err, why) != NULL, "\"%s\": error \"%s\" lacks \"%s\"",
		    s, err, why);
}

static void
test_parse(void)
{
	struct hb_lp_line line;
	char err[160];

	valid("temp value=1", 1, false);
	valid("temp,room=kitchen value=21.5 1700000000000000000", 1, true);
	valid("temp,room=kitchen,floor=1 value=21.5,ok=t,n=3i,s=\"hi\"", 4, false);
	valid("m v=-1.5e-3", 1, false);
	valid("m v=.5", 1, false);
	valid("m v=-1.", 1, false);
	valid("m v=1e+20", 1, false);
	valid("m v=-9223372036854775808i", 1, false);
	valid("m v=TRUE,w=False,x=f", 3, false);
	valid("m\\ x,t\\,a=b\\ c f\\=g=1", 1, false);
	valid("m s=\"quote \\\" and backslash \\\\\"", 1, false);
	valid("m v=1 -5", 1, true);
	valid("m v=1\r", 1, false);
	valid("°C,entity_id=sensor.t value=21.5", 1, false);

	HBT_CHECK(parse1("", &line, err) == HB_LP_END, "empty input is the end");
	HBT_CHECK(parse1("   ", &line, err) == HB_LP_END, "blank input is the end");
	invalid("temp", "missing fields");
	invalid("temp value", "invalid field");
	invalid("temp value=", "missing field value");
	invalid("temp value=abc", "invalid field value");
	invalid("temp value=+1", "invalid field value");
	invalid("temp value=1e400", "out of range");
	invalid("temp value=99999999999999999999i", "out of range");
	invalid("temp value=1u", "unsigned");
	invalid("temp,room value=1", "invalid tag");
	invalid("temp,room= value=1", "invalid tag value");
	invalid("temp,=x value=1", "invalid tag");
	invalid(",room=x value=1", "empty measurement");
	invalid("temp value=1 abc", "bad timestamp");
	invalid("temp value=1 1 2", "unexpected text");
	invalid("temp value=\"open", "unterminated");
	/* a quoted string does not cross a newline, escaped or not */
	invalid("m s=\"multi\nline\"", "unterminated");
	invalid("m s=\"escaped \\\nnewline\"", "unterminated");
	invalid("m s=\"crlf\r\n\"", "unterminated");
	invalid("temp time=1", "time");
	invalid("temp,time=x v=1", "time");
	invalid("temp value=1,", "invalid field");
	invalid("t\xff v=1", "UTF-8");

	/* blank lines and comments are skipped; errors do not stop the rest */
	{
		const char *buf = "# comment\n\nbad\nm v=1\n  \nm v=2 5\n";
		size_t pos = 0, ok = 0, bad = 0, skip = 0;
		enum hb_lp_result r;

		while ((r = hb_lp_next(buf, strlen(buf), &pos, NULL, &line, err,
		    sizeof(err))) != HB_LP_END) {
			if (r == HB_LP_OK)
				ok++;
			else if (r == HB_LP_ERROR)
				bad++;
			else
				skip++;
		}
		HBT_CHECK(ok == 2 && bad == 1, "ok=%zu bad=%zu skip=%zu", ok, bad, skip);
	}
	/* an unterminated quote costs its own line only: line 51 of 100 is
	 * refused, the 49 after it are read as they are (issue 14 item 6) */
	{
		struct hb_buf msg = { 0 };
		size_t pos = 0, ok = 0, bad = 0, after = 0, bad_at = 0;
		int64_t last_time = 0;
		enum hb_lp_result r;

		for (int i = 1; i <= 100; i++)
			if (i == 51)
				hb_buf_printf(&msg, "poison,k=b s=\"unterminated %d\n",
				    1700000000 + i);
			else
				hb_buf_printf(&msg, "good,k=a seq=%di %d\n", i,
				    1700000000 + i);
		while ((r = hb_lp_next(msg.data, msg.len, &pos, NULL, &line, err,
		    sizeof(err))) != HB_LP_END) {
			if (r == HB_LP_OK) {
				ok++;
				if (bad > 0)
					after++;
				last_time = line.time;
			} else if (r == HB_LP_ERROR) {
				bad++;
				bad_at = ok + bad;
				HBT_CHECK(strstr(err, "unterminated") != NULL, "error: %s",
				    err);
			}
		}
		HBT_CHECK(ok == 99 && bad == 1, "99 lines read and 1 refused, got "
		    "%zu and %zu", ok, bad);
		HBT_CHECK(bad_at == 51, "the refused line is line %zu", bad_at);
		HBT_CHECK(after == 49 && last_time == 1700000100, "the 49 lines after "
		    "it are read (%zu), the last with its own stamp (%lld)", after,
		    (long long)last_time);
		hb_buf_free(&msg);
	}
	/* the line length limit */
	{
		struct hb_lp_limits lim = { .max_line = 32 };
		const char *s = "measurement,tag=value field=1234567890";
		size_t pos = 0;

		HBT_CHECK(hb_lp_next(s, strlen(s), &pos, &lim, &line, err,
		    sizeof(err)) == HB_LP_ERROR && strstr(err, "longer"), "%s", err);
	}
	/* unsigned only when allowed */
	{
		struct hb_lp_limits lim = { .allow_uint = true };
		const char *s = "m v=5u";
		size_t pos = 0;

		HBT_CHECK(hb_lp_next(s, strlen(s), &pos, &lim, &line, err,
		    sizeof(err)) == HB_LP_OK && line.fields[0].type == HB_LP_UINT, "%s",
		    err);
	}
	/* field types */
	HBT_CHECK(parse1("m a=1,b=1i,c=\"x\",d=t", &line, err) == HB_LP_OK, "%s", err);
	HBT_CHECK(line.fields[0].type == HB_LP_FLOAT && line.fields[1].type ==
	    HB_LP_INT && line.fields[2].type == HB_LP_STRING &&
	    line.fields[3].type == HB_LP_BOOL, "types");
}

/* Encodes, parses back, unescapes: must give the original text. */
static void
roundtrip_key(const char *s)
{
	struct hb_buf b = { 0 }, un = { 0 };
	struct hb_lp_line line;
	char err[160];

	hb_buf_puts(&b, "m,");
	HBT_REQUIRE(hb_lp_put_key(&b, s, strlen(s)) == 0, "encode \"%s\"", s);
	hb_buf_puts(&b, "=v f=1");
	HBT_REQUIRE(parse1(b.data, &line, err) == HB_LP_OK, "parse %s: %s", b.data, err);
	hb_lp_unescape(b.data + 2, strlen(b.data) - 2 - strlen("=v f=1"), 'k', &un);
	HBT_CHECK(strcmp(un.data, s) == 0, "\"%s\" came back as \"%s\"", s, un.data);
	hb_buf_free(&b);
	hb_buf_free(&un);
}

static void
test_encode(void)
{
	struct hb_buf b = { 0 };

	roundtrip_key("plain");
	roundtrip_key("with space");
	roundtrip_key("a,b=c d");
	roundtrip_key("C:\\temp");
	roundtrip_key("µg/m³");
	roundtrip_key("say \"hi\"");

	HBT_CHECK(hb_lp_put_key(&b, "", 0) == -1, "empty key refused");
	HBT_CHECK(hb_lp_put_key(&b, "ends\\", 5) == -1, "trailing backslash refused");
	HBT_CHECK(hb_lp_put_key(&b, "a\\,b", 4) == -1, "backslash before comma refused");
	HBT_CHECK(hb_lp_put_key(&b, "two\nlines", 9) == -1, "newline refused");
	HBT_CHECK(hb_lp_put_key(&b, "time", 4) == -1, "time refused");
	HBT_CHECK(hb_lp_put_string(&b, "two\nlines", 9) == -1, "a string with a "
	    "newline refused: it would end the line");
	HBT_CHECK(hb_lp_put_measurement(&b, "#x", 2) == -1, "comment measurement refused");
	HBT_CHECK(hb_lp_put_measurement(&b, "\tx", 2) == -1, "leading tab refused");
	HBT_CHECK(b.len == 0, "nothing written on refusal");

	hb_buf_reset(&b);
	hb_lp_put_measurement(&b, "m=1 ,x", 6);
	HBT_CHECK(strcmp(b.data, "m=1\\ \\,x") == 0, "measurement escaping: %s", b.data);

	hb_buf_reset(&b);
	hb_lp_put_string(&b, "a\"b\\c", 5);
	HBT_CHECK(strcmp(b.data, "\"a\\\"b\\\\c\"") == 0, "string escaping: %s", b.data);

	hb_buf_reset(&b);
	hb_lp_put_float(&b, 21.5);
	HBT_CHECK(strcmp(b.data, "21.5") == 0, "float: %s", b.data);
	hb_buf_reset(&b);
	hb_lp_put_float(&b, 0.1);
	HBT_CHECK(strcmp(b.data, "0.1") == 0, "float: %s", b.data);
	{
		static const struct { double v; const char *text; } forms[] = {
			{ 150, "150" }, { 0.05, "0.05" }, { -0.652, "-0.652" },
			{ 1e16, "1e+16" }, { 1.5e-5, "1.5e-05" }, { 0.0001, "0.0001" },
			{ 0.1 + 0.2, "0.30000000000000004" }, { 123456789.125, "123456789.125" },
		};

		for (size_t i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
			hb_buf_reset(&b);
			hb_lp_put_float(&b, forms[i].v);
			HBT_CHECK(strcmp(b.data, forms[i].text) == 0, "float %s: %s",
			    forms[i].text, b.data);
		}
	}
	hb_buf_reset(&b);
	hb_lp_put_float(&b, 1e21);
	HBT_CHECK(strtod(b.data, NULL) == 1e21, "float: %s", b.data);
	HBT_CHECK(hb_lp_put_float(&b, NAN) == -1 && hb_lp_put_float(&b, INFINITY) == -1,
	    "non-finite refused");
	hb_buf_reset(&b);
	hb_lp_put_int(&b, -42);
	HBT_CHECK(strcmp(b.data, "-42i") == 0, "int: %s", b.data);

	/* every float the encoder writes parses as a float */
	for (int i = 0; i < 2000; i++) {
		double v = (double)(i * 7919 % 10007 - 5000) * pow(10, i % 40 - 20);
		struct hb_lp_line line;
		char err[160];

		hb_buf_reset(&b);
		hb_buf_puts(&b, "m v=");
		hb_lp_put_float(&b, v);
		HBT_CHECK(parse1(b.data, &line, err) == HB_LP_OK &&
		    line.fields[0].type == HB_LP_FLOAT &&
		    strtod(b.data + 4, NULL) == v, "%s: %s", b.data, err);
	}
	hb_buf_free(&b);
}

int
main(void)
{
	hbt_init("lp");
	test_parse();
	test_encode();
	hbt_exit();
}
