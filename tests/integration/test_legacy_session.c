/*
 * An upgrade to HMAC client ids leaves nothing behind at the broker
 * (hb_bus_legacy.c), under the shipped broker configuration (hbt_acl).
 *
 * A writer logged in as writer with bus.client_id set to the old default,
 * homebus-writer-<host> (the version before HMAC ids), subscribes and is
 * stopped; 500 points are published, queued in that old session. The new
 * writer (the default id, with its password) starts: all 500 are in
 * InfluxDB, once each, and the broker holds no session for the old id any
 * more (connecting with it, clean start off, finds none). Points published
 * afterwards land too: the new session was subscribed before the old one
 * was ended.
 */
#include "hbt_acl.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>

#define GAP 500
#define AFTER 100

struct fixture {
	struct hbt_proc broker;
	struct hbt_influx influx;
	struct hbt_user *ingest;
	int port;
	int64_t next_ns;	/* the next point's timestamp */
};

static void
start_writer(struct fixture *f, struct hbt_service *w, const char *client_id)
{
	struct hb_buf section = { 0 }, bus = { 0 };

	hb_buf_printf(&section, "\"retry_max_ms\": 2000, \"influx\": "
	    "{\"url\": \"%s\", \"db\": \"homebus\"}", f->influx.url);
	if (client_id)
		hb_buf_printf(&bus, "\"client_id\": \"%s\"", client_id);
	hbt_acl_service_start_bus(w, "writer", f->port, hbt_free_port(),
	    client_id ? bus.data : NULL, section.data);
	hb_buf_free(&section);
	hb_buf_free(&bus);
}

static long long
landed(struct fixture *f, const char *gen)
{
	return hbt_acl_points_landed(&f->influx, "legacy", gen);
}

static void
publish_points(struct fixture *f, const char *gen, long n)
{
	hbt_acl_publish_points(f->ingest, "legacy", gen, 0, n, 0, &f->next_ns);
}

int
main(void)
{
	struct fixture f = { 0 };
	struct hbt_service old_writer = { 0 }, writer = { 0 };
	struct hbt_user *probe;
	char dir[600], host[256], old_id[320];
	int refused = 0;

	hbt_init("legacy_session");
	snprintf(dir, sizeof(dir), "%s/mosquitto", hbt_dir());
	f.port = hbt_free_port();
	hbt_acl_broker_start(&f.broker, dir, f.port, "hub");
	HBT_REQUIRE(hbt_influx_start(&f.influx, NULL) == 0, "influxd");
	HBT_REQUIRE(hbt_influx_create_db(&f.influx, "homebus") == 0, "database");
	f.ingest = hbt_user_connect(f.port, "ingest", NULL, NULL, 0, &refused);
	HBT_REQUIRE(f.ingest != NULL, "ingest logs in");
	f.next_ns = hb_wall_ms() * 1000000;
	hb_hostname(host, sizeof(host));
	snprintf(old_id, sizeof(old_id), "homebus-writer-%s", host);

	/* the version before HMAC ids: its session is subscribed once a point lands */
	start_writer(&f, &old_writer, old_id);
	HBT_REQUIRE(HBT_WAIT((publish_points(&f, "first", 1),
	    landed(&f, "first") >= 1), 30000), "the old writer writes");
	HBT_REQUIRE(hbt_proc_stop(&old_writer.proc, SIGTERM, 15000) == 0,
	    "the old writer stops");
	publish_points(&f, "gap", GAP);
	hbt_log("%d points queued in the session of %s", GAP, old_id);

	start_writer(&f, &writer, NULL);
	HBT_CHECK(HBT_WAIT(landed(&f, "gap") >= GAP, 60000), "the %d points "
	    "queued in the old session are in InfluxDB: %lld", GAP,
	    landed(&f, "gap"));
	HBT_CHECK(HBT_WAIT(hbt_proc_log_count(&writer.proc, "ended the session "
	    "of the old client id") == 1, 15000), "the writer says it ended the "
	    "old session");

	probe = hbt_user_connect(f.port, "writer", NULL, old_id, 60, &refused);
	HBT_REQUIRE(probe != NULL, "writer logs in as %s (refused %d)", old_id,
	    refused);
	HBT_CHECK(!probe->session_present, "the broker holds no session for %s",
	    old_id);
	hbt_user_close(probe);

	publish_points(&f, "after", AFTER);
	HBT_CHECK(HBT_WAIT(landed(&f, "after") >= AFTER, 30000), "the %d points "
	    "published afterwards are in InfluxDB: %lld", AFTER,
	    landed(&f, "after"));
	HBT_CHECK(landed(&f, "gap") == GAP && landed(&f, "after") == AFTER,
	    "every point once");
	HBT_CHECK(hbt_proc_stop(&writer.proc, SIGTERM, 15000) == 0, "clean exit");
	hbt_user_close(f.ingest);
	hbt_exit();
}
