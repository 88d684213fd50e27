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

/* One line as the writer sees it, for comparing with what a case expects. */
static void
describe(const struct hb_lp_line *l, struct hb_buf *out)
{
	static const char types[] = "FIUSB";

	hb_buf_printf(out, "m=%.*s tags=%zu", (int)l->measurement_len,
	    l->measurement, l->ntags);
	for (size_t i = 0; i < l->nfields; i++)
		hb_buf_printf(out, " %.*s:%c:%.*s", (int)l->fields[i].key_len,
		    l->fields[i].key, types[l->fields[i].type],
		    (int)l->fields[i].value_len, l->fields[i].value);
	if (l->has_time)
		hb_buf_printf(out, " t=%lld", (long long)l->time);
	hb_buf_printf(out, " len=%zu", l->len);
}

/*
 * Every message the parser can give, every escape, every way a number is
 * read, and where the next line starts after each: the exact text a user
 * sees in the writer's log and in dead_letter. `next` is the position after
 * the call (-1: the end of the input); `what` is the error, or the line.
 */
static const struct lp_case {
	const char *in;
	unsigned flags;		/* 1: allow_uint, 2: max_line 32 */
	enum hb_lp_result r;
	long next;
	const char *what;
} lp_cases[] = {
	/* blanks, comments and the end */
	{ "", 0, HB_LP_END, -1, "" },
	{ " \t ", 0, HB_LP_END, -1, "" },
	{ "\nm v=1", 0, HB_LP_SKIP, 1, "" },
	{ "  # note\nm v=1", 0, HB_LP_SKIP, 9, "" },
	{ "\r\nm v=1", 0, HB_LP_SKIP, 2, "" },
	{ " \tm v=1\n", 0, HB_LP_OK, -1, "m=m tags=0 v:F:1 len=5" },
	{ "m v=1\r\nn v=2", 0, HB_LP_OK, 7, "m=m tags=0 v:F:1 len=5" },
	{ "m v=1\r", 0, HB_LP_OK, -1, "m=m tags=0 v:F:1 len=5" },
	/* escapes: a backslash takes the next byte with it while scanning,
	 * except a newline; the line keeps them as they are */
	{ "m\\,x\\ y,t\\,k\\=\\ =v\\,\\=\\ w f\\,\\=\\ g=1", 0, HB_LP_OK, -1,
	    "m=m\\,x\\ y tags=1 f\\,\\=\\ g:F:1 len=36" },
	{ "m\\x,t=a\\b v=1", 0, HB_LP_OK, -1, "m=m\\x tags=1 v:F:1 len=13" },
	{ "m s=\"a\\\"b\\\\c\\d\",t=\"\"", 0, HB_LP_OK, -1,
	    "m=m tags=0 s:S:\"a\\\"b\\\\c\\d\" t:S:\"\" len=20" },
	{ "m s=\"a,b c=d\" 7", 0, HB_LP_OK, -1, "m=m tags=0 s:S:\"a,b c=d\" "
	    "t=7 len=15" },
	{ "m\\\nv=1", 0, HB_LP_ERROR, 3, "missing fields" },
	{ "m v=1\\", 0, HB_LP_ERROR, -1, "invalid field value \"1\\\" (not a "
	    "number, boolean or quoted string)" },
	{ "m v=1\\ 2", 0, HB_LP_ERROR, -1, "invalid field value \"1\\ 2\" (not "
	    "a number, boolean or quoted string)" },
	{ "m s=\"a\\\nb\"\nn v=1", 0, HB_LP_ERROR, 8, "unterminated string field "
	    "(a quoted string ends on its line)" },
	{ "m s=\"a\\", 0, HB_LP_ERROR, -1, "unterminated string field (a quoted "
	    "string ends on its line)" },
	/* measurement and tags */
	{ ",t=a v=1\nn v=1", 0, HB_LP_ERROR, 9, "empty measurement" },
	/* leading blanks are skipped: this is a measurement "v=1" */
	{ " v=1", 0, HB_LP_ERROR, -1, "missing fields" },
	{ "m\nn v=1", 0, HB_LP_ERROR, 2, "missing fields" },
	{ "m,t=a\r\nn v=1", 0, HB_LP_ERROR, 7, "missing fields" },
	{ "m,t=a", 0, HB_LP_ERROR, -1, "missing fields" },
	{ "m, v=1", 0, HB_LP_ERROR, -1, "invalid tag (expected key=value)" },
	{ "m,t v=1", 0, HB_LP_ERROR, -1, "invalid tag (expected key=value)" },
	{ "m,t", 0, HB_LP_ERROR, -1, "invalid tag (expected key=value)" },
	{ "m,t\nn v=1", 0, HB_LP_ERROR, 4, "invalid tag (expected key=value)" },
	{ "m,time=a v=1", 0, HB_LP_ERROR, -1, "tag key \"time\" is not allowed" },
	{ "m,timer=a,Time=b v=1", 0, HB_LP_OK, -1, "m=m tags=2 v:F:1 len=20" },
	{ "m,t= v=1", 0, HB_LP_ERROR, -1, "invalid tag value (empty or "
	    "unescaped '=')" },
	{ "m,t=a=b v=1", 0, HB_LP_ERROR, -1, "invalid tag value (empty or "
	    "unescaped '=')" },
	{ "m,t=a\\=b v=1", 0, HB_LP_OK, -1, "m=m tags=1 v:F:1 len=12" },
	/* field keys */
	{ "m ", 0, HB_LP_ERROR, -1, "invalid field (expected key=value)" },
	{ "m  v=1", 0, HB_LP_ERROR, -1, "invalid field (expected key=value)" },
	{ "m =1", 0, HB_LP_ERROR, -1, "invalid field (expected key=value)" },
	{ "m v", 0, HB_LP_ERROR, -1, "invalid field (expected key=value)" },
	{ "m v=1,,w=2", 0, HB_LP_ERROR, -1, "invalid field (expected key=value)" },
	{ "m v=1,w\nn v=1", 0, HB_LP_ERROR, 8, "invalid field (expected "
	    "key=value)" },
	{ "m time=1", 0, HB_LP_ERROR, -1, "field key \"time\" is not allowed" },
	{ "m v=1,time=1", 0, HB_LP_ERROR, -1, "field key \"time\" is not allowed" },
	/* field values: booleans */
	{ "m a=t,b=T,c=true,d=True,e=TRUE", 0, HB_LP_OK, -1,
	    "m=m tags=0 a:B:t b:B:T c:B:true d:B:True e:B:TRUE len=30" },
	{ "m a=f,b=F,c=false,d=False,e=FALSE", 0, HB_LP_OK, -1,
	    "m=m tags=0 a:B:f b:B:F c:B:false d:B:False e:B:FALSE len=33" },
	{ "m v=tRUE", 0, HB_LP_ERROR, -1, "invalid field value \"tRUE\" (not a "
	    "number, boolean or quoted string)" },
	{ "m v=tr", 0, HB_LP_ERROR, -1, "invalid field value \"tr\" (not a "
	    "number, boolean or quoted string)" },
	{ "m v=", 0, HB_LP_ERROR, -1, "missing field value" },
	{ "m v=,w=1", 0, HB_LP_ERROR, -1, "missing field value" },
	{ "m v= 5", 0, HB_LP_ERROR, -1, "missing field value" },
	/* integers */
	{ "m a=1i,b=-1i,c=0i", 0, HB_LP_OK, -1,
	    "m=m tags=0 a:I:1i b:I:-1i c:I:0i len=17" },
	{ "m v=9223372036854775807i", 0, HB_LP_OK, -1,
	    "m=m tags=0 v:I:9223372036854775807i len=24" },
	{ "m v=9223372036854775808i", 0, HB_LP_ERROR, -1, "integer out of range "
	    "\"9223372036854775808i\"" },
	{ "m v=-9223372036854775809i", 0, HB_LP_ERROR, -1, "integer out of range "
	    "\"-9223372036854775809i\"" },
	{ "m v=1.5i", 0, HB_LP_ERROR, -1, "invalid integer \"1.5i\"" },
	{ "m v=i", 0, HB_LP_ERROR, -1, "invalid integer \"i\"" },
	{ "m v=-i", 0, HB_LP_ERROR, -1, "invalid integer \"-i\"" },
	{ "m v=+1i", 0, HB_LP_ERROR, -1, "invalid integer \"+1i\"" },
	{ "m v=1u", 0, HB_LP_ERROR, -1, "unsigned integer \"1u\" not accepted "
	    "here" },
	{ "m v=1u", 1, HB_LP_OK, -1, "m=m tags=0 v:U:1u len=6" },
	{ "m v=-1u", 1, HB_LP_ERROR, -1, "unsigned integer \"-1u\" not accepted "
	    "here" },
	{ "m v=18446744073709551615u", 1, HB_LP_OK, -1,
	    "m=m tags=0 v:U:18446744073709551615u len=25" },
	{ "m v=18446744073709551616u", 1, HB_LP_ERROR, -1, "integer out of range "
	    "\"18446744073709551616u\"" },
	{ "m v=1.5u", 1, HB_LP_ERROR, -1, "invalid integer \"1.5u\"" },
	/* floats */
	{ "m a=1,b=-1.5,c=.5,d=1.,e=-.5,f=1e5,g=1E-5,h=1.e+5", 0, HB_LP_OK, -1,
	    "m=m tags=0 a:F:1 b:F:-1.5 c:F:.5 d:F:1. e:F:-.5 f:F:1e5 g:F:1E-5 "
	    "h:F:1.e+5 len=49" },
	{ "m v=1234567890123456,w=1e-400", 0, HB_LP_OK, -1,
	    "m=m tags=0 v:F:1234567890123456 w:F:1e-400 len=29" },
	{ "m v=1e400", 0, HB_LP_ERROR, -1, "float out of range \"1e400\"" },
	{ "m v=-1e400", 0, HB_LP_ERROR, -1, "float out of range \"-1e400\"" },
	{ "m v=1e", 0, HB_LP_ERROR, -1, "invalid field value \"1e\" (not a "
	    "number, boolean or quoted string)" },
	{ "m v=1e+", 0, HB_LP_ERROR, -1, "invalid field value \"1e+\" (not a "
	    "number, boolean or quoted string)" },
	{ "m v=e5", 0, HB_LP_ERROR, -1, "invalid field value \"e5\" (not a "
	    "number, boolean or quoted string)" },
	{ "m v=1e5e5", 0, HB_LP_ERROR, -1, "invalid field value \"1e5e5\" (not "
	    "a number, boolean or quoted string)" },
	{ "m v=1.2.3", 0, HB_LP_ERROR, -1, "invalid field value \"1.2.3\" (not "
	    "a number, boolean or quoted string)" },
	{ "m v=.", 0, HB_LP_ERROR, -1, "invalid field value \".\" (not a "
	    "number, boolean or quoted string)" },
	{ "m v=-", 0, HB_LP_ERROR, -1, "invalid field value \"-\" (not a "
	    "number, boolean or quoted string)" },
	{ "m v=1\r\r\n", 0, HB_LP_ERROR, -1, "invalid field value \"1\r\" (not "
	    "a number, boolean or quoted string)" },
	/* an invalid value is quoted up to 40 bytes */
	{ "m v=abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyz", 0,
	    HB_LP_ERROR, -1, "invalid field value \"abcdefghijklmnopqrstuvwxyz"
	    "abcdefghijklmn\" (not a number, boolean or quoted string)" },
	{ "m v=1111111111111111111111111111111111111111111111111111111111111111",
	    0, HB_LP_ERROR, -1, "field value too long for a number" },
	{ "m v=111111111111111111111111111111111111111111111111111111111111111",
	    0, HB_LP_OK, -1, "m=m tags=0 v:F:11111111111111111111111111111111111"
	    "1111111111111111111111111111 len=67" },
	/* strings */
	{ "m s=\"open", 0, HB_LP_ERROR, -1, "unterminated string field (a quoted "
	    "string ends on its line)" },
	{ "m s=\"x\"y", 0, HB_LP_ERROR, -1, "unexpected text after the fields or "
	    "timestamp" },
	/* timestamps */
	{ "m v=1 -5", 0, HB_LP_OK, -1, "m=m tags=0 v:F:1 t=-5 len=8" },
	{ "m v=1 9223372036854775807", 0, HB_LP_OK, -1,
	    "m=m tags=0 v:F:1 t=9223372036854775807 len=25" },
	{ "m v=1 -9223372036854775808", 0, HB_LP_OK, -1,
	    "m=m tags=0 v:F:1 t=-9223372036854775808 len=26" },
	{ "m v=1 9223372036854775808", 0, HB_LP_ERROR, -1, "timestamp out of "
	    "range" },
	{ "m v=1 1234567890123456789012345678901", 0, HB_LP_ERROR, -1,
	    "timestamp out of range" },
	{ "m v=1 12345678901234567890123456789012", 0, HB_LP_ERROR, -1,
	    "bad timestamp" },
	{ "m v=1 -", 0, HB_LP_ERROR, -1, "bad timestamp" },
	{ "m v=1 1.5", 0, HB_LP_ERROR, -1, "bad timestamp" },
	{ "m v=1  5", 0, HB_LP_ERROR, -1, "bad timestamp" },
	{ "m v=1 \nn v=1", 0, HB_LP_ERROR, 7, "bad timestamp" },
	{ "m v=1 5 ", 0, HB_LP_ERROR, -1, "unexpected text after the fields or "
	    "timestamp" },
	{ "m v=1 5\tx\nn v=1", 0, HB_LP_ERROR, 10, "bad timestamp" },
	/* the line as a whole */
	{ "m v=1 1700000000000000000", 2, HB_LP_OK, -1,
	    "m=m tags=0 v:F:1 t=1700000000000000000 len=25" },
	{ "measurement,t=a v=123456789012345", 2, HB_LP_ERROR, -1,
	    "line longer than 32 bytes" },
	{ "measurement,t=a v=1234567890123\nn v=1", 2, HB_LP_OK, 32,
	    "m=measurement tags=1 v:F:1234567890123 len=31" },
	{ "measurement,t=a v=12345678901234\nn v=1", 2, HB_LP_OK, 33,
	    "m=measurement tags=1 v:F:12345678901234 len=32" },
	{ "measurement,t=a v=123456789012345\nn v=1", 2, HB_LP_ERROR, 34,
	    "line longer than 32 bytes" },
	{ "m\xc3 v=1", 0, HB_LP_ERROR, -1, "invalid UTF-8" },
	{ "m s=\"\xed\xa0\x80\"\nn v=1", 0, HB_LP_ERROR, 10, "invalid UTF-8" },
	{ "m,t=\xc2\xb0\x43 s=\"\xe2\x82\xac\"", 0, HB_LP_OK, -1,
	    "m=m tags=1 s:S:\"\xe2\x82\xac\" len=15" },
};

static void
test_cases(void)
{
	for (size_t i = 0; i < HB_ARRAY_LEN(lp_cases); i++) {
		const struct lp_case *k = &lp_cases[i];
		struct hb_lp_limits lim = { .allow_uint = (k->flags & 1) != 0,
		    .max_line = (k->flags & 2) ? 32 : 0 };
		static struct hb_lp_line line;
		struct hb_buf got = { 0 };
		size_t len = strlen(k->in), pos = 0;
		size_t next = k->next < 0 ? len : (size_t)k->next;
		char err[160];
		enum hb_lp_result r = hb_lp_next(k->in, len, &pos, &lim, &line, err,
		    sizeof(err));

		if (r == HB_LP_OK)
			describe(&line, &got);
		else if (r == HB_LP_ERROR)
			hb_buf_puts(&got, err);
		else
			hb_buf_puts(&got, "");
		HBT_CHECK(r == k->r && pos == next && strcmp(got.data, k->what) == 0,
		    "case %zu \"%s\": result %d (want %d), next %zu (want %zu), "
		    "\"%s\" (want \"%s\")", i, k->in, (int)r, (int)k->r, pos, next,
		    got.data, k->what);
		hb_buf_free(&got);
	}
}

/* The limits of a line: 256 fields, a string of 64 KiB, the error buffer. */
static void
test_limits(void)
{
	static struct hb_lp_line line;
	struct hb_lp_limits big = { .max_line = 200000 };
	struct hb_buf b = { 0 };
	char err[160], small[12];
	size_t pos;

	hb_buf_puts(&b, "m f0=0");
	for (int i = 1; i < HB_LP_MAX_FIELDS; i++)
		hb_buf_printf(&b, ",f%d=%d", i, i);
	pos = 0;
	HBT_CHECK(hb_lp_next(b.data, b.len, &pos, NULL, &line, err, sizeof(err)) ==
	    HB_LP_OK && line.nfields == HB_LP_MAX_FIELDS && pos == b.len,
	    "256 fields: %s", err);
	hb_buf_puts(&b, ",f256=256\nn v=1");
	pos = 0;
	HBT_CHECK(hb_lp_next(b.data, b.len, &pos, NULL, &line, err, sizeof(err)) ==
	    HB_LP_ERROR && strcmp(err, "too many fields") == 0 &&
	    pos == b.len - strlen("n v=1"), "257 fields: %s", err);

	hb_buf_reset(&b);
	hb_buf_puts(&b, "m s=\"");
	for (int i = 0; i < 65535; i++)
		hb_buf_putc(&b, 'x');
	hb_buf_puts(&b, "\"");
	pos = 0;
	HBT_CHECK(hb_lp_next(b.data, b.len, &pos, &big, &line, err, sizeof(err)) ==
	    HB_LP_OK && line.fields[0].value_len == 65537, "a 65535-byte string: "
	    "%s", err);
	pos = 0;
	HBT_CHECK(hb_lp_next(b.data, b.len, &pos, NULL, &line, err, sizeof(err)) ==
	    HB_LP_ERROR && strcmp(err, "line longer than 65536 bytes") == 0,
	    "a 65535-byte string in a line over the default 64 KiB: %s", err);
	b.len--;
	hb_buf_puts(&b, "x\" 5");
	pos = 0;
	HBT_CHECK(hb_lp_next(b.data, b.len, &pos, &big, &line, err, sizeof(err)) ==
	    HB_LP_ERROR && strcmp(err, "string field longer than 64 KiB") == 0 &&
	    pos == b.len, "a 65536-byte string: %s", err);

	/* a short error buffer gets the start of the message, terminated */
	pos = 0;
	HBT_CHECK(hb_lp_next("m v=abc", 7, &pos, NULL, &line, small, sizeof(small)) ==
	    HB_LP_ERROR && strcmp(small, "invalid fie") == 0 && pos == 7,
	    "cut message: \"%s\"", small);
	pos = 0;
	HBT_CHECK(hb_lp_next("m", 1, &pos, NULL, &line, small, sizeof(small)) ==
	    HB_LP_ERROR && strcmp(small, "missing fie") == 0, "cut message: \"%s\"",
	    small);
	hb_buf_free(&b);
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
	test_cases();
	test_limits();
	test_encode();
	hbt_exit();
}
