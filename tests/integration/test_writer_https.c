/*
 * The writer and an InfluxDB behind HTTPS (influxd's own TLS, a self-signed
 * certificate made for the test): with writer.influx.ca_file naming it,
 * every point lands, gzipped; with the system's CAs only, nothing is sent,
 * nothing is lost, /health says it is TLS and the log that the certificate
 * could not be verified; a ca_file that
 * cannot be read is a configuration error naming the key.
 */
#include "hbt.h"

#include <stdlib.h>
#include <string.h>

static void
start_writer(struct hbt_service *w, const char *name, int broker, int http,
    const char *url, const char *ca_file)
{
	struct hb_buf cfg = { 0 }, ca = { 0 };

	if (ca_file)
		hb_buf_printf(&ca, ", \"ca_file\": \"%s\"", ca_file);
	hb_buf_printf(&cfg, "{\"data_dir\": \"%s/%s\", \"bus\": {\"port\": %d, "
	    "\"client_id\": \"%s\"}, \"writer\": {\"http_port\": %d, \"influx\": "
	    "{\"url\": \"%s\", \"gzip\": true%s}}}", hbt_dir(), name, broker, name,
	    http, url, ca.data ? ca.data : "");
	HBT_REQUIRE(hbt_service_start(w, "writer", name, cfg.data, http) == 0,
	    "%s", name);
	HBT_REQUIRE(HBT_WAIT(hbt_metric(http, "homebus_writer_bus_connected") == 1,
	    10000), "%s on the bus", name);
	hb_buf_free(&cfg);
	hb_buf_free(&ca);
}

int
main(void)
{
	struct hbt_broker broker;
	struct hbt_influx ix;
	struct hbt_service good, blind;
	struct hbt_mqtt *pub;
	struct hb_buf extra = { 0 }, out = { 0 }, lines = { 0 };
	char cert[600], key[600], url[160];
	int http_good = hbt_free_port(), http_blind = hbt_free_port(), rc;
	long long n;

	hbt_init("writer_https");
	hbt_make_cert("influx", cert, key);
	HBT_REQUIRE(hbt_broker_start(&broker, NULL) == 0, "mosquitto");
	hb_buf_printf(&extra, "  https-enabled = true\n  https-certificate = \"%s\"\n"
	    "  https-private-key = \"%s\"", cert, key);
	HBT_REQUIRE(hbt_influx_start(&ix, extra.data) == 0, "influxd over https");
	HBT_REQUIRE(strncmp(ix.url, "https://", 8) == 0, "https URL: %s", ix.url);
	HBT_REQUIRE(hbt_influx_create_db(&ix, "homebus") == 0, "database");

	start_writer(&good, "writer-ca", broker.port, http_good, ix.url, cert);
	start_writer(&blind, "writer-blind", broker.port, http_blind, ix.url, NULL);
	pub = hbt_mqtt_connect(broker.port, "pub");
	HBT_REQUIRE(pub != NULL, "publisher");
	for (int i = 0; i < 20; i++) {
		hb_buf_reset(&lines);
		for (int j = 0; j < 10; j++)
			hb_buf_printf(&lines, "tls,room=k\\ itchen seq=%di %d%s\n",
			    i * 10 + j, 1000 + i * 10 + j, "");
		hbt_mqtt_publish(pub, "homebus/points/tls", lines.data, lines.len, 1,
		    false);
	}
	HBT_CHECK(HBT_WAIT((n = hbt_influx_number(&ix, "homebus",
	    "SELECT count(seq) FROM tls")) == 200, 15000),
	    "all 200 points landed over https (count %lld)", n);

	/* The writer without the CA: refuses the server, keeps every point. */
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/health", http_blind);
	HBT_CHECK(HBT_WAIT(hbt_http("GET", url, NULL, &out) == 503 &&
	    strstr(out.data, "TLS: ") != NULL, 15000),
	    "the writer without the CA is unhealthy because of TLS: %s",
	    out.data ? out.data : "");
	HBT_CHECK(hbt_proc_log_has(&blind.proc, "certificate verify failed"),
	    "its log says the certificate could not be verified");
	HBT_CHECK(HBT_WAIT(hbt_metric(http_blind,
	    "homebus_writer_points_received_total") == 200, 10000),
	    "it took all 200 points (%g)",
	    hbt_metric(http_blind, "homebus_writer_points_received_total"));
	HBT_CHECK(HBT_WAIT(hbt_metric(http_blind, "homebus_writer_spool_points") ==
	    200, 10000), "and keeps them spooled (%g)",
	    hbt_metric(http_blind, "homebus_writer_spool_points"));
	HBT_CHECK(hbt_metric(http_blind, "homebus_writer_points_written_total") == 0,
	    "nothing was sent to a server it could not verify");
	HBT_CHECK(hbt_proc_alive(&blind.proc) && hbt_proc_alive(&good.proc),
	    "both writers up");

	/* A CA file that is not there is a configuration error naming the key. */
	rc = hbt_check_config("writer", "{\"writer\": {\"influx\": "
	    "{\"url\": \"https://db:8086\", "
	    "\"ca_file\": \"/nonexistent/ca.pem\"}}}", &out);
	HBT_CHECK(rc == 2 && strstr(out.data, "writer.influx.ca_file") &&
	    strstr(out.data, "/nonexistent/ca.pem"), "bad ca_file: rc=%d %s", rc,
	    out.data ? out.data : "");

	hbt_mqtt_close(pub);
	hb_buf_free(&extra);
	hb_buf_free(&out);
	hb_buf_free(&lines);
	hbt_exit();
}
