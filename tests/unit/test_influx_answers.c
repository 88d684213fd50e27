/*
 * How the writer reads InfluxDB's answers: which verdict for which status,
 * and which lines of a batch an error text names (texts as InfluxDB 1.x
 * and 2.x write them).
 */
#include "hbt.h"
#include "influx_answer.h"

#include <string.h>

static void
test_classify(void)
{
	struct influx_result r;

	influx_classify(204, 0, NULL, "", -1, &r);
	HBT_CHECK(r.verdict == INFLUX_OK, "204");
	influx_classify(413, 0, NULL, "{\"error\":\"Request Entity Too Large\"}", -1, &r);
	HBT_CHECK(r.verdict == INFLUX_TOO_LARGE && strstr(r.reason, "Too Large"), "413");
	influx_classify(400, 0, NULL, "{\"error\":\"partial write: x\"}", -1, &r);
	HBT_CHECK(r.verdict == INFLUX_BAD_POINTS && strcmp(r.reason, "partial write: x") == 0,
	    "400: %s", r.reason);
	influx_classify(422, 0, NULL, "{\"code\":\"unprocessable entity\",\"message\":"
	    "\"failure writing points: points beyond retention policy\"}", -1, &r);
	HBT_CHECK(r.verdict == INFLUX_BAD_POINTS && strstr(r.reason, "retention"),
	    "422 v2 message: %s", r.reason);
	influx_classify(401, 0, NULL, "{\"error\":\"authorization failed\"}", -1, &r);
	HBT_CHECK(r.verdict == INFLUX_REFUSED && strstr(r.reason, "authorization"), "401");
	influx_classify(404, 0, NULL, "{\"error\":\"database not found: \\\"x\\\"\"}", -1, &r);
	HBT_CHECK(r.verdict == INFLUX_REFUSED && strstr(r.reason, "database not found"),
	    "404: %s", r.reason);
	influx_classify(429, 0, NULL, "", 3, &r);
	HBT_CHECK(r.verdict == INFLUX_RETRY && r.retry_after_s == 3 &&
	    strstr(r.reason, "429"), "429: %s", r.reason);
	influx_classify(503, 0, NULL, "<html>down</html>", -1, &r);
	HBT_CHECK(r.verdict == INFLUX_RETRY, "503");
	influx_classify(0, 7, "Failed to connect to 127.0.0.1 port 8086", NULL, -1, &r);
	HBT_CHECK(r.verdict == INFLUX_RETRY && strstr(r.reason, "Failed to connect"),
	    "network");

	/* /query: a 200 can hold a statement's error */
	influx_classify_query(200, 0, NULL, "{\"results\":[{\"statement_id\":0}]}",
	    -1, &r);
	HBT_CHECK(r.verdict == INFLUX_OK, "query 200");
	influx_classify_query(200, 0, NULL, "{\"results\":[{\"statement_id\":0,"
	    "\"error\":\"retention policy conflicts with an existing policy\"}]}",
	    -1, &r);
	HBT_CHECK(r.verdict == INFLUX_REFUSED && strcmp(r.reason, "retention policy "
	    "conflicts with an existing policy") == 0, "query 200 with an error: %s",
	    r.reason);
	influx_classify_query(403, 0, NULL, "{\"error\":\"error authorizing query: "
	    "requires admin privilege\"}", -1, &r);
	HBT_CHECK(r.verdict == INFLUX_REFUSED && strstr(r.reason, "admin"),
	    "query 403: %s", r.reason);
}

static void
test_bad_lines(void)
{
	const char *body =
	    "c v=1 1\n"
	    "c v=\"s\" 2\n"
	    "c v=2 3\n"
	    "c,x=1 v=3i 4\n"
	    "d v=\"s\" 5\n"
	    "c w=\"ok\" 6\n";
	bool bad[6] = { 0 };
	size_t n;
	/* InfluxDB 1.6's words for this batch against a float field c.v */
	const char *conflict = "partial write: field type conflict: input field \"v\" "
	    "on measurement \"c\" is type string, already exists as type float dropped=2";

	n = influx_bad_lines(conflict, body, strlen(body), bad, 6);
	HBT_CHECK(n == 1 && bad[1] && !bad[0] && !bad[2] && !bad[3] && !bad[4] && !bad[5],
	    "string conflict marks only line 2 (n=%zu)", n);

	memset(bad, 0, sizeof(bad));
	n = influx_bad_lines("partial write: field type conflict: input field \"v\" on "
	    "measurement \"c\" is type integer, already exists as type float dropped=1",
	    body, strlen(body), bad, 6);
	HBT_CHECK(n == 1 && bad[3], "integer conflict marks line 4");

	memset(bad, 0, sizeof(bad));
	n = influx_bad_lines("partial write: unable to parse 'c v=2 3': bad timestamp\n"
	    "unable to parse 'c w=\"ok\" 6': invalid boolean dropped=0", body,
	    strlen(body), bad, 6);
	HBT_CHECK(n == 2 && bad[2] && bad[5], "unparsable lines marked (n=%zu)", n);

	memset(bad, 0, sizeof(bad));
	n = influx_bad_lines("partial write: points beyond retention policy dropped=3",
	    body, strlen(body), bad, 6);
	HBT_CHECK(n == 0, "nothing named: nothing marked");

	/* escaped names in the message */
	{
		const char *b2 = "my\\ m,t=1 my\\ f=\"x\" 1\nmy\\ m my\\ f=1 2\n";
		bool bad2[2] = { 0 };

		n = influx_bad_lines("field type conflict: input field \"my f\" on "
		    "measurement \"my m\" is type string, already exists as type float",
		    b2, strlen(b2), bad2, 2);
		HBT_CHECK(n == 1 && bad2[0] && !bad2[1], "escaped names");
	}
}

int
main(void)
{
	hbt_init("influx_answers");
	test_classify();
	test_bad_lines();
	hbt_exit();
}
