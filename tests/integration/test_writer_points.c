/*
 * The writer and what InfluxDB refuses: a field type conflict in one line
 * of a batch (the others land, the bad one is in the dead-letter table), a
 * body larger than InfluxDB's max-body-size (split until it fits), a line
 * with an unterminated quote (that line alone refused), and garbage on
 * P/points/... (counted, the writer stays up).
 */
#include "hbt.h"

#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

struct fixture {
	struct hbt_broker broker;
	struct hbt_influx influx;
	struct hbt_service writer;
	struct hbt_mqtt *pub;
	int http;
	char spool[600];
};

static long long
count(struct fixture *f, const char *q)
{
	return hbt_influx_number(&f->influx, "homebus", q);
}

static void
test_type_conflict(struct fixture *f)
{
	const char *batch = "tc v=2 1000\ntc v=\"bad\" 2000\ntc v=3 3000\n"
	    "tc,x=1 v=4i 4000\ntc v=5 5000";
	sqlite3 *db;
	sqlite3_stmt *st;
	int dead_rows = 0;
	char bodies[512] = "", reason[512] = "";

	hbt_mqtt_publish(f->pub, "homebus/points/tc", "tc v=1 500", 10, 1, false);
	HBT_REQUIRE(HBT_WAIT(count(f, "SELECT count(v) FROM tc") == 1, 10000),
	    "the first point sets v to float");
	hbt_mqtt_publish(f->pub, "homebus/points/tc", batch, strlen(batch), 1, false);
	HBT_CHECK(HBT_WAIT(count(f, "SELECT count(v) FROM tc") == 4, 10000),
	    "the three good lines of the batch landed (count=%lld)",
	    count(f, "SELECT count(v) FROM tc"));
	HBT_CHECK(HBT_WAIT(hbt_metric(f->http,
	    "homebus_writer_points_dead_lettered_total") == 2, 10000),
	    "two lines dead-lettered (metric %g)",
	    hbt_metric(f->http, "homebus_writer_points_dead_lettered_total"));
	HBT_REQUIRE(sqlite3_open_v2(f->spool, &db, SQLITE_OPEN_READONLY, NULL) ==
	    SQLITE_OK, "open the spool");
	sqlite3_busy_timeout(db, 2000);
	sqlite3_prepare_v2(db, "SELECT body, reason FROM dead_letter ORDER BY id", -1,
	    &st, NULL);
	while (sqlite3_step(st) == SQLITE_ROW) {
		dead_rows++;
		strncat(bodies, (const char *)sqlite3_column_text(st, 0),
		    sizeof(bodies) - strlen(bodies) - 1);
		snprintf(reason, sizeof(reason), "%s", sqlite3_column_text(st, 1));
	}
	sqlite3_finalize(st);
	sqlite3_close(db);
	HBT_CHECK(dead_rows >= 1 && strstr(bodies, "tc v=\"bad\" 2000") &&
	    strstr(bodies, "tc,x=1 v=4i 4000") && !strstr(bodies, "v=3"),
	    "dead letters hold exactly the bad lines: %s", bodies);
	HBT_CHECK(strstr(reason, "field type conflict") != NULL,
	    "with InfluxDB's reason: %s", reason);
}

static void
test_split(struct fixture *f)
{
	struct hb_buf body = { 0 };
	int n = 600;

	/* ~40 bytes a line, 24 KB in one message, against max-body-size 4 KB */
	for (int i = 0; i < n; i++)
		hb_buf_printf(&body, "big,host=nuc-%03d value=%d.25 %d000\n", i % 50, i,
		    i + 1);
	hbt_mqtt_publish(f->pub, "homebus/points/big", body.data, body.len - 1, 1,
	    false);
	HBT_CHECK(HBT_WAIT(count(f, "SELECT count(value) FROM big") == n, 20000),
	    "all %d points landed through 413 splits (count=%lld)", n,
	    count(f, "SELECT count(value) FROM big"));
	HBT_CHECK(hbt_proc_log_has(&f->writer.proc, "413"), "the split was logged");
	HBT_CHECK(hbt_metric(f->http, "homebus_writer_points_dead_lettered_total") == 2,
	    "nothing more was dead-lettered");
	hb_buf_free(&body);
}

static void
test_garbage(struct fixture *f)
{
	double before = hbt_metric(f->http, "homebus_writer_points_rejected_total");
	unsigned char binary[256];
	char *huge = hb_xmalloc(1 << 20);
	char url[128];
	double after;

	for (size_t i = 0; i < sizeof(binary); i++)
		binary[i] = (unsigned char)(i * 37 + 11);
	binary[5] = 0;
	memset(huge, 'x', (1 << 20) - 1);
	memcpy(huge, "huge v=1,s=\"", 12);
	huge[(1 << 20) - 2] = '"';
	huge[(1 << 20) - 1] = '\0';

	/* first, while the log's rate limit has room: the bad line is shown */
	hbt_mqtt_publish(f->pub, "homebus/points/x", "ok v=1 1\nnot ok\nok v=2 2", 24, 1,
	    false);
	hbt_mqtt_publish(f->pub, "homebus/points/x", "this is not line protocol", 25, 1,
	    false);
	hbt_mqtt_publish(f->pub, "homebus/points/x", binary, sizeof(binary), 1, false);
	hbt_mqtt_publish(f->pub, "homebus/points/x", huge, strlen(huge), 1, false);
	hbt_mqtt_publish(f->pub, "homebus/points/x", "", 0, 1, false);
	HBT_CHECK(HBT_WAIT(count(f, "SELECT count(v) FROM ok") == 2, 10000),
	    "the valid lines of a mixed message landed");
	after = hbt_metric(f->http, "homebus_writer_points_rejected_total");
	HBT_CHECK(after - before >= 4, "garbage was counted: %g -> %g", before, after);
	HBT_CHECK(count(f, "SELECT count(v) FROM huge") == 0, "the 1 MB line was refused");
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/health", f->http);
	HBT_CHECK(hbt_proc_alive(&f->writer.proc) &&
	    hbt_http("GET", url, NULL, NULL) == 200, "the writer is up and healthy");
	HBT_CHECK(hbt_proc_log_has(&f->writer.proc, "rejected line"),
	    "rejections are logged");
	/* line="not ok" in a text log, line=\"not ok\" in a JSON one */
	HBT_CHECK(hbt_proc_log_has(&f->writer.proc, "line=\"not ok\"") ||
	    hbt_proc_log_has(&f->writer.proc, "line=\\\"not ok\\\""),
	    "the log shows the refused line, not the start of its message");
	free(huge);
}

/* Line 51 of 100 opens a quote it never closes: that line alone is
 * refused and counted, the 99 others land (issue 14 item 6). */
static void
test_unterminated(struct fixture *f)
{
	double before = hbt_metric(f->http, "homebus_writer_points_rejected_total");
	struct hb_buf msg = { 0 };

	for (int i = 1; i <= 100; i++)
		if (i == 51)
			hb_buf_printf(&msg, "poison,k=b s=\"unterminated %d000\n", i);
		else
			hb_buf_printf(&msg, "unterm,k=a seq=%di %d000\n", i, i);
	hbt_mqtt_publish(f->pub, "homebus/points/unterm", msg.data, msg.len, 1,
	    false);
	HBT_CHECK(HBT_WAIT(count(f, "SELECT count(seq) FROM unterm") == 99, 10000),
	    "the 99 good lines landed (count=%lld)",
	    count(f, "SELECT count(seq) FROM unterm"));
	HBT_CHECK(hbt_metric(f->http, "homebus_writer_points_rejected_total") -
	    before == 1, "one line rejected: %g -> %g", before,
	    hbt_metric(f->http, "homebus_writer_points_rejected_total"));
	HBT_CHECK(count(f, "SELECT count(s) FROM poison") == 0, "the bad line did "
	    "not land");
	hb_buf_free(&msg);
}

int
main(void)
{
	struct fixture f;
	struct hb_buf cfg = { 0 };

	memset(&f, 0, sizeof(f));
	hbt_init("writer_points");
	HBT_REQUIRE(hbt_broker_start(&f.broker, NULL) == 0, "mosquitto");
	HBT_REQUIRE(hbt_influx_start(&f.influx, "  max-body-size = 4096") == 0, "influxd");
	HBT_REQUIRE(hbt_influx_create_db(&f.influx, "homebus") == 0, "database");
	f.http = hbt_free_port();
	/* gzip off: max-body-size then counts the bytes the writer sent */
	hb_buf_printf(&cfg, "{\"data_dir\": \"%s/writer\", \"bus\": {\"port\": %d},"
	    "\"writer\": {\"http_port\": %d, \"influx\": {\"url\": \"%s\", "
	    "\"gzip\": false}}}", hbt_dir(), f.broker.port, f.http, f.influx.url);
	snprintf(f.spool, sizeof(f.spool), "%s/writer/writer-spool.db", hbt_dir());
	HBT_REQUIRE(hbt_service_start(&f.writer, "writer", "writer", cfg.data, f.http) == 0,
	    "writer");
	HBT_REQUIRE(HBT_WAIT(hbt_metric(f.http, "homebus_writer_bus_connected") == 1,
	    10000), "writer on the bus");
	hbt_sleep_ms(300);
	f.pub = hbt_mqtt_connect(f.broker.port, "pub");
	HBT_REQUIRE(f.pub != NULL, "publisher");
	test_type_conflict(&f);
	test_split(&f);
	test_unterminated(&f);
	test_garbage(&f);
	hbt_mqtt_close(f.pub);
	hb_buf_free(&cfg);
	hbt_exit();
}
