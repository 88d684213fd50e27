/*
 * Two writers in one shared-subscription group on one broker: the load is
 * split between them and the total in InfluxDB is exact — every point once.
 */
#include "hbt.h"

#include <string.h>

int
main(void)
{
	struct hbt_broker broker;
	struct hbt_influx influx;
	struct hbt_service w1, w2;
	struct hbt_load load;
	struct hbt_landed l;
	struct hb_buf cfg = { 0 };
	int http1 = hbt_free_port(), http2 = hbt_free_port();
	double r1, r2;

	hbt_init("writer_share");
	HBT_REQUIRE(hbt_broker_start(&broker, NULL) == 0, "mosquitto");
	HBT_REQUIRE(hbt_influx_start(&influx, NULL) == 0, "influxd");
	HBT_REQUIRE(hbt_influx_create_db(&influx, "homebus") == 0, "database");
	hbt_writer_config(&cfg, "writer-a", broker.port, influx.url, http1,
	    "\"share_group\": \"homebus-writer\"", NULL);
	HBT_REQUIRE(hbt_service_start(&w1, "writer", "writer-a", cfg.data, http1) == 0,
	    "writer a");
	hbt_writer_config(&cfg, "writer-b", broker.port, influx.url, http2,
	    "\"share_group\": \"homebus-writer\"", NULL);
	HBT_REQUIRE(hbt_service_start(&w2, "writer", "writer-b", cfg.data, http2) == 0,
	    "writer b");
	HBT_REQUIRE(HBT_WAIT(hbt_metric(http1, "homebus_writer_bus_connected") == 1 &&
	    hbt_metric(http2, "homebus_writer_bus_connected") == 1, 10000), "both on the bus");
	hbt_sleep_ms(500);

	memset(&load, 0, sizeof(load));
	load.port = broker.port;
	snprintf(load.measurement, sizeof(load.measurement), "shared");
	snprintf(load.gen, sizeof(load.gen), "s");
	load.qos = 1;
	load.lines_per_msg = 1;
	load.points = 20000;
	HBT_REQUIRE(hbt_load_start(&load) == 0, "load");
	HBT_CHECK(hbt_load_wait(&load, 60000), "all published");
	HBT_CHECK(HBT_WAIT(hbt_influx_number(&influx, "homebus",
	    "SELECT count(seq) FROM shared") >= load.points, 60000), "all landed");
	hbt_sleep_ms(1000);	/* anything extra would show up now */
	hbt_load_landed(&load, &influx, "homebus", &l);
	r1 = hbt_metric(http1, "homebus_writer_points_received_total");
	r2 = hbt_metric(http2, "homebus_writer_points_received_total");
	hbt_log("writer a took %g, writer b took %g; rows=%ld distinct=%ld dups=%ld",
	    r1, r2, l.rows, l.distinct, l.dups);
	HBT_CHECK(l.rows == load.points && l.distinct == load.points && l.dups == 0 &&
	    l.missing == 0, "exactly %ld points, each once", load.points);
	HBT_CHECK(r1 > 0 && r2 > 0 && r1 + r2 == (double)load.points,
	    "both writers took a share, none twice");
	hbt_load_free(&load);
	hb_buf_free(&cfg);
	hbt_exit();
}
