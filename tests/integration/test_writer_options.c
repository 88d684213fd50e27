/*
 * Writer options a user sets and what lands in InfluxDB because of them:
 *
 *   test_writer_options precision   writer.influx.precision "ms" takes the
 *                                   nanosecond times on the bus (what ingest
 *                                   stamps) and sends milliseconds
 *   test_writer_options retained    a retained point is written once, not
 *                                   again at every restart of the writer,
 *                                   unless writer.accept_retained says so
 *   test_writer_options us          precision "us" on the v1 API (InfluxDB
 *                                   1.x calls it "u"): the points land, to
 *                                   the microsecond
 *   test_writer_options untimed     100 lines of one series without a time,
 *                                   in one message, are 100 points in
 *                                   InfluxDB with precision "ms" and "s"
 *   test_writer_options createdb    a database that does not exist is
 *                                   created, with writer.influx.retention
 *                                   as its default retention policy, and the
 *                                   points land in it
 *   test_writer_options noadmin     a user who may not create it: /health
 *                                   says why and what to do, points are
 *                                   spooled, and land once an admin created
 *                                   the database
 *   test_writer_options since       /health right after start, while the
 *                                   first ping is unanswered, shows no
 *                                   "since" for InfluxDB (it said 1970)
 */
#include "hbt.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

struct fixture {
	struct hbt_broker broker;
	struct hbt_influx influx;
	struct hbt_service writer;
	struct hbt_mqtt *pub;
	struct hb_buf cfg;
	int http;
};

static long long
count(struct fixture *f, const char *q)
{
	return hbt_influx_number(&f->influx, "homebus", q);
}

/* The time (ns) of the first row of q, or -1. */
static long long
first_time(struct fixture *f, const char *q)
{
	json_t *root, *rows = hbt_influx_rows(&f->influx, "homebus", q, &root);
	long long t = -1;

	if (json_array_size(rows) > 0)
		t = json_integer_value(json_array_get(json_array_get(rows, 0), 0));
	json_decref(root);
	return t;
}

static void
start_writer(struct fixture *f)
{
	HBT_REQUIRE(hbt_service_start(&f->writer, "writer", "writer", f->cfg.data,
	    f->http) == 0, "writer");
	HBT_REQUIRE(HBT_WAIT(hbt_metric(f->http, "homebus_writer_bus_connected") == 1,
	    10000), "writer on the bus");
}

/* Starts the writer with writer.influx.precision set to p. */
static void
start_writer_in(struct fixture *f, const char *p)
{
	setenv("HOMEBUS_WRITER_INFLUX_PRECISION", p, 1);
	start_writer(f);
	unsetenv("HOMEBUS_WRITER_INFLUX_PRECISION");
}

/*
 * What ingest publishes (nanoseconds, and a line without a time, plus
 * `more`) lands in measurement m to the unit of precision p, unit_ns long.
 */
static void
lands_in_unit(struct fixture *f, const char *m, const char *p, long long unit_ns,
    const char *more, long long points)
{
	struct hb_buf body = { 0 }, q = { 0 };
	long long t;

	start_writer_in(f, p);
	hb_buf_printf(&body, "%s,k=ns v=1 1764800000123456789\n%s,k=now v=3%s", m,
	    m, more);
	hbt_mqtt_publish(f->pub, "homebus/points/prec", body.data, body.len, 1,
	    false);
	hb_buf_printf(&q, "SELECT count(v) FROM %s", m);
	HBT_CHECK(HBT_WAIT(count(f, q.data) == points, 10000), "%lld points landed "
	    "(count=%lld)", points, count(f, q.data));
	hb_buf_reset(&q);
	hb_buf_printf(&q, "SELECT v FROM %s WHERE k='ns'", m);
	t = first_time(f, q.data);
	HBT_CHECK(t == 1764800000123456789LL / unit_ns * unit_ns, "a nanosecond "
	    "time is stored to the %s, truncated: %lld", p, t);
	hb_buf_reset(&q);
	hb_buf_printf(&q, "SELECT v FROM %s WHERE k='now'", m);
	t = first_time(f, q.data);
	HBT_CHECK(t > 1700000000000000000LL && t % unit_ns == 0,
	    "the writer's own stamp is in %s: %lld", p, t);
	HBT_CHECK(hbt_metric(f->http, "homebus_writer_points_dead_lettered_total") == 0,
	    "nothing was dead-lettered");
	HBT_CHECK(hbt_metric(f->http, "homebus_writer_influx_up") == 1,
	    "InfluxDB is up for the writer");
	hb_buf_free(&body);
	hb_buf_free(&q);
}

static void
scenario_precision(struct fixture *f)
{
	long long t;

	lands_in_unit(f, "prec", "ms", 1000000, "\nprec,k=neg v=2 -1500000", 3);
	t = first_time(f, "SELECT v FROM prec WHERE k='neg'");
	HBT_CHECK(t == -2000000LL, "a time before 1970 is truncated toward the "
	    "earlier millisecond: %lld", t);
}

static void
scenario_us(struct fixture *f)
{
	lands_in_unit(f, "usec", "us", 1000, "", 2);
}

/* 100 lines of one series without a time, in one message, at precision p. */
static void
untimed_at(struct fixture *f, const char *p)
{
	struct hb_buf msg = { 0 };
	char q[96];
	double written;

	start_writer_in(f, p);
	for (int i = 0; i < 100; i++)
		hb_buf_printf(&msg, "untimed,p=%s seq=%di\n", p, i);
	hbt_mqtt_publish(f->pub, "homebus/points/untimed", msg.data, msg.len - 1, 1,
	    false);
	hb_buf_free(&msg);
	HBT_REQUIRE(HBT_WAIT(hbt_metric(f->http, "homebus_writer_points_written_total")
	    == 100, 10000), "the writer wrote 100 points at %s (%g)", p,
	    hbt_metric(f->http, "homebus_writer_points_written_total"));
	snprintf(q, sizeof(q), "SELECT count(seq) FROM untimed WHERE p='%s'", p);
	written = hbt_metric(f->http, "homebus_writer_points_written_total");
	HBT_CHECK(count(f, q) == 100, "precision %s: InfluxDB holds 100 points, "
	    "as many as the writer counted written (%g): %lld", p, written,
	    count(f, q));
	HBT_CHECK(hbt_proc_stop(&f->writer.proc, SIGTERM, 15000) == 0,
	    "the writer stopped");
}

static void
scenario_untimed(struct fixture *f)
{
	untimed_at(f, "ms");
	untimed_at(f, "s");
}

static void
scenario_since(struct fixture *f)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t salen = sizeof(sa);
	struct hb_buf body = { 0 };
	json_t *root, *influx;
	char url[128];
	int silent = socket(AF_INET, SOCK_STREAM, 0);
	long st;

	/* an InfluxDB that takes the connection and never answers */
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	HBT_REQUIRE(silent >= 0 && bind(silent, (struct sockaddr *)&sa,
	    sizeof(sa)) == 0 && listen(silent, 16) == 0 && getsockname(silent,
	    (struct sockaddr *)&sa, &salen) == 0, "a silent listener");
	snprintf(url, sizeof(url), "http://127.0.0.1:%d", ntohs(sa.sin_port));
	setenv("HOMEBUS_WRITER_INFLUX_URL", url, 1);
	start_writer(f);
	unsetenv("HOMEBUS_WRITER_INFLUX_URL");
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/health", f->http);
	st = hbt_http("GET", url, NULL, &body);
	HBT_CHECK(st == 200 || st == 503, "/health answers (%ld)", st);
	root = json_loads(body.data ? body.data : "", 0, NULL);
	influx = json_object_get(root, "influx");
	HBT_REQUIRE(influx != NULL, "/health has influx: %s", body.data);
	HBT_CHECK(json_object_get(influx, "since") == NULL, "InfluxDB has no "
	    "\"since\" before it ever answered: %s", body.data);
	json_decref(root);
	hb_buf_free(&body);
	close(silent);
}

static void
scenario_createdb(struct fixture *f)
{
	json_t *root, *rows;
	const char *line = "made,k=a v=1", *name, *duration;

	setenv("HOMEBUS_WRITER_INFLUX_DB", "made", 1);
	setenv("HOMEBUS_WRITER_INFLUX_RETENTION", "730d", 1);
	start_writer(f);
	unsetenv("HOMEBUS_WRITER_INFLUX_DB");
	unsetenv("HOMEBUS_WRITER_INFLUX_RETENTION");
	hbt_mqtt_publish(f->pub, "homebus/points/made", line, strlen(line), 1, false);
	HBT_CHECK(HBT_WAIT(hbt_influx_number(&f->influx, "made",
	    "SELECT count(v) FROM made") == 1, 15000), "the point landed in the "
	    "database the writer created");
	rows = hbt_influx_rows(&f->influx, "made", "SHOW RETENTION POLICIES ON made",
	    &root);
	HBT_CHECK(json_array_size(rows) == 1, "one retention policy (%zu)",
	    json_array_size(rows));
	name = json_string_value(json_array_get(json_array_get(rows, 0), 0));
	duration = json_string_value(json_array_get(json_array_get(rows, 0), 1));
	HBT_CHECK(name && strcmp(name, "homebus_730d") == 0 && duration &&
	    strcmp(duration, "17520h0m0s") == 0 &&
	    json_is_true(json_array_get(json_array_get(rows, 0), 4)),
	    "homebus_730d, 730 days, the default: %s, %s", name ? name : "-",
	    duration ? duration : "-");
	json_decref(root);
	HBT_CHECK(hbt_proc_log_has(&f->writer.proc, "influx database created"),
	    "the creation was logged");
}

/* An InfluxQL statement as an admin of the auth-enabled influxd: its status. */
static long
as_admin(struct fixture *f, const char *q, struct hb_buf *out)
{
	struct hb_buf url = { 0 };
	long st;

	hb_buf_printf(&url, "%s/query?u=admin&p=apw&db=made&q=", f->influx.url);
	for (const unsigned char *p = (const unsigned char *)q; *p; p++)
		if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
		    (*p >= '0' && *p <= '9'))
			hb_buf_putc(&url, (char)*p);
		else
			hb_buf_printf(&url, "%%%02X", *p);
	st = hbt_http(strncmp(q, "SELECT", 6) == 0 ? "GET" : "POST", url.data, NULL,
	    out);
	hb_buf_free(&url);
	return st;
}

static void
scenario_noadmin(struct fixture *f)
{
	struct hb_buf body = { 0 };
	const char *line = "made,k=a v=1";
	char url[128];
	bool told = false;

	/* InfluxDB with users: an admin, and bob who may not create databases */
	hbt_influx_kill(&f->influx);
	HBT_REQUIRE(hbt_influx_start(&f->influx, "  auth-enabled = true") == 0,
	    "influxd with auth");
	HBT_REQUIRE(as_admin(f, "CREATE USER admin WITH PASSWORD 'apw' WITH ALL "
	    "PRIVILEGES", NULL) == 200, "admin");
	HBT_REQUIRE(as_admin(f, "CREATE USER bob WITH PASSWORD 'bpw'", NULL) == 200,
	    "bob");
	setenv("HOMEBUS_WRITER_INFLUX_URL", f->influx.url, 1);	/* a new port */
	setenv("HOMEBUS_WRITER_INFLUX_DB", "made", 1);
	setenv("HOMEBUS_WRITER_INFLUX_USERNAME", "bob", 1);
	setenv("HOMEBUS_INFLUX_PASSWORD", "bpw", 1);
	start_writer(f);
	unsetenv("HOMEBUS_WRITER_INFLUX_URL");
	unsetenv("HOMEBUS_WRITER_INFLUX_DB");
	unsetenv("HOMEBUS_WRITER_INFLUX_USERNAME");
	unsetenv("HOMEBUS_INFLUX_PASSWORD");
	hbt_mqtt_publish(f->pub, "homebus/points/made", line, strlen(line), 1, false);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/health", f->http);
	HBT_CHECK(HBT_WAIT((hb_buf_reset(&body), hbt_http("GET", url, NULL, &body) ==
	    503 && body.data && strstr(body.data, "create it as an admin")), 15000),
	    "/health says the database is missing and what to do: %s",
	    body.data ? body.data : "");
	told = body.data && strstr(body.data, "bob") && strstr(body.data,
	    "requires admin privilege");
	HBT_CHECK(told, "naming the user and InfluxDB's words");
	HBT_CHECK(hbt_metric(f->http, "homebus_writer_spool_points") == 1,
	    "the point waits in the spool");

	HBT_REQUIRE(as_admin(f, "CREATE DATABASE made", NULL) == 200 &&
	    as_admin(f, "GRANT WRITE ON made TO bob", NULL) == 200, "an admin "
	    "creates the database");
	HBT_CHECK(HBT_WAIT((hb_buf_reset(&body), as_admin(f, "SELECT count(v) FROM "
	    "made", &body) == 200 && body.data && strstr(body.data, ",1]")), 20000),
	    "then the point landed: %s", body.data ? body.data : "");
	HBT_CHECK(HBT_WAIT(hbt_http("GET", url, NULL, NULL) == 200, 10000),
	    "and /health is 200");
	hb_buf_free(&body);
}

static void
scenario_retained(struct fixture *f)
{
	const char *line = "ret,k=a v=1";
	int rc;

	start_writer(f);
	/* published while the writer listens: delivered live, written once */
	hbt_mqtt_publish(f->pub, "homebus/points/ret", line, strlen(line), 1, true);
	HBT_REQUIRE(HBT_WAIT(count(f, "SELECT count(v) FROM ret") == 1, 10000),
	    "the retained point was written when it was published");

	rc = hbt_proc_stop(&f->writer.proc, SIGTERM, 15000);
	HBT_CHECK(rc == 0, "the writer stopped (%d)", rc);
	HBT_REQUIRE(hbt_proc_restart(&f->writer.proc) == 0, "writer restarts");
	HBT_REQUIRE(HBT_WAIT(hbt_metric(f->http, "homebus_writer_bus_connected") == 1,
	    10000), "writer back on the bus");
	/* the broker hands the retained copy over again at the subscribe */
	HBT_CHECK(HBT_WAIT(hbt_metric(f->http,
	    "homebus_writer_points_retained_skipped_total") == 1, 10000),
	    "the retained copy was counted as skipped (%g)", hbt_metric(f->http,
	    "homebus_writer_points_retained_skipped_total"));
	HBT_CHECK(count(f, "SELECT count(v) FROM ret") == 1,
	    "and not written again (count=%lld)", count(f, "SELECT count(v) FROM ret"));
	HBT_CHECK(hbt_proc_log_has(&f->writer.proc, "skipped a retained message"),
	    "the skip was logged");

	/* asked for: the retained copy is written at the restart */
	rc = hbt_proc_stop(&f->writer.proc, SIGTERM, 15000);
	HBT_CHECK(rc == 0, "the writer stopped (%d)", rc);
	setenv("HOMEBUS_WRITER_ACCEPT_RETAINED", "true", 1);
	HBT_REQUIRE(hbt_proc_restart(&f->writer.proc) == 0, "writer restarts");
	unsetenv("HOMEBUS_WRITER_ACCEPT_RETAINED");
	HBT_CHECK(HBT_WAIT(count(f, "SELECT count(v) FROM ret") == 2, 10000),
	    "with writer.accept_retained the retained copy is written again "
	    "(count=%lld)", count(f, "SELECT count(v) FROM ret"));
	HBT_CHECK(hbt_metric(f->http, "homebus_writer_points_retained_skipped_total") == 0,
	    "and not counted as skipped");
}

int
main(int argc, char **argv)
{
	struct fixture f;
	const char *which = argc > 1 ? argv[1] : "precision";
	char name[64];

	memset(&f, 0, sizeof(f));
	snprintf(name, sizeof(name), "writer_options_%s", which);
	hbt_init(name);
	HBT_REQUIRE(hbt_broker_start(&f.broker, NULL) == 0, "mosquitto");
	HBT_REQUIRE(hbt_influx_start(&f.influx, NULL) == 0, "influxd");
	HBT_REQUIRE(hbt_influx_create_db(&f.influx, "homebus") == 0, "database");
	f.http = hbt_free_port();
	hbt_writer_config(&f.cfg, "writer", f.broker.port, f.influx.url, f.http, NULL,
	    NULL);
	f.pub = hbt_mqtt_connect(f.broker.port, "pub");
	HBT_REQUIRE(f.pub != NULL, "publisher");
	if (strcmp(which, "precision") == 0)
		scenario_precision(&f);
	else if (strcmp(which, "retained") == 0)
		scenario_retained(&f);
	else if (strcmp(which, "us") == 0)
		scenario_us(&f);
	else if (strcmp(which, "untimed") == 0)
		scenario_untimed(&f);
	else if (strcmp(which, "since") == 0)
		scenario_since(&f);
	else if (strcmp(which, "createdb") == 0)
		scenario_createdb(&f);
	else if (strcmp(which, "noadmin") == 0)
		scenario_noadmin(&f);
	else
		HBT_REQUIRE(false, "unknown scenario %s", which);
	hbt_mqtt_close(f.pub);
	hb_buf_free(&f.cfg);
	hbt_exit();
}
