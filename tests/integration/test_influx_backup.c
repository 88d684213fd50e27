/*
 * InfluxDB in the native profile's backups: the backup step of
 * deploy/deployer-native.json (influxd backup -portable over the RPC port),
 * run against a real influxd with a month of one sensor's readings, writes
 * a portable backup into the job's folder; its counterpart, influxd
 * restore -portable, puts every point back into an empty influxd.
 */
#include "hbt.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#define POINTS (30 * 24 * 60)	/* a reading a minute for 30 days */

/* The shipped backup step's argv, for this influxd and this folder. */
static size_t
backup_argv(struct hbt_influx *ix, const char *folder, char **argv, size_t max)
{
	char path[700], rpc[64];
	json_t *root, *a, *v;
	size_t i, n = 0;

	snprintf(path, sizeof(path), "%s/deploy/deployer-native.json",
	    HBT_SOURCE_DIR);
	root = json_load_file(path, 0, NULL);
	a = json_object_get(json_object_get(json_object_get(json_object_get(root,
	    "deployer"), "steps"), "backup"), "argv");
	HBT_REQUIRE(json_array_size(a) > 0, "the native profile has a backup step");
	snprintf(rpc, sizeof(rpc), "127.0.0.1:%d", ix->rpc_port);
	json_array_foreach(a, i, v) {
		const char *s = json_string_value(v);
		char *o;

		if (n + 1 >= max)
			break;
		if (n == 0 && strchr(s, '/') == NULL) {
			/* the deployer finds it in PATH; hbt_run takes a path */
			o = hb_xmalloc(strlen(s) + 10);
			snprintf(o, strlen(s) + 10, "/usr/bin/%s", s);
		} else if (strcmp(s, "127.0.0.1:8088") == 0)
			o = hb_xstrdup(rpc);	/* the test's own port */
		else if (strncmp(s, "{backup_dir}", 12) == 0) {
			o = hb_xmalloc(strlen(folder) + strlen(s));
			snprintf(o, strlen(folder) + strlen(s), "%s%s", folder, s + 12);
		} else
			o = hb_xstrdup(s);
		argv[n++] = o;
	}
	argv[n] = NULL;
	json_decref(root);
	return n;
}

int
main(void)
{
	struct hbt_influx ix;
	struct hb_buf lines = { 0 }, out = { 0 };
	char url[256], folder[600], rpc[64], dir[700], cmd[1600];
	char *argv[32];
	char *restore[] = { "/usr/bin/influxd", "restore", "-portable", "-host", rpc,
	    dir, NULL };
	char *wipe[] = { "/bin/sh", "-c", cmd, NULL };
	int64_t t0 = hb_wall_ms() * 1000000LL - (int64_t)POINTS * 60000000000LL;
	size_t n;
	int rc;

	hbt_init("influx_backup");
	HBT_REQUIRE(hbt_influx_start(&ix, NULL) == 0, "influxd");
	json_decref(hbt_influx_query(&ix, NULL, "CREATE DATABASE homebus"));
	for (int i = 0; i < POINTS; i++)
		hb_buf_printf(&lines, "temperature,room=kitchen value=%.1f %lld\n",
		    20.0 + (i % 50) / 10.0, (long long)(t0 + (int64_t)i * 60000000000LL));
	snprintf(url, sizeof(url), "%s/write?db=homebus", ix.url);
	HBT_REQUIRE(hbt_http("POST", url, lines.data, &out) == 204, "%d points "
	    "written", POINTS);
	HBT_CHECK(hbt_influx_number(&ix, "homebus", "SELECT count(value) FROM "
	    "temperature") == POINTS, "all of them there");

	snprintf(folder, sizeof(folder), "%s/backups/20261207T023000Z-v1",
	    hbt_dir());
	hb_mkdirs(folder);
	n = backup_argv(&ix, folder, argv, HB_ARRAY_LEN(argv));
	hb_buf_reset(&out);
	rc = hbt_run(argv, &out, 120000);
	HBT_CHECK(rc == 0, "the profile's backup step: exit 0: %d %s", rc,
	    out.data ? out.data : "");
	for (size_t i = 0; i < n; i++)
		free(argv[i]);

	/* an empty influxd on the same ports: what a new disk would be */
	hbt_influx_kill(&ix);
	snprintf(cmd, sizeof(cmd), "rm -rf %s/meta %s/data %s/wal", ix.dir, ix.dir,
	    ix.dir);
	HBT_REQUIRE(hbt_run(wipe, NULL, 10000) == 0, "influxd's files removed");
	HBT_REQUIRE(hbt_influx_restart(&ix) == 0, "influxd again, empty");
	snprintf(rpc, sizeof(rpc), "127.0.0.1:%d", ix.rpc_port);
	snprintf(dir, sizeof(dir), "%s/influxdb", folder);
	hb_buf_reset(&out);
	rc = hbt_run(restore, &out, 120000);
	HBT_CHECK(rc == 0, "influxd restore -portable: exit 0: %d %s", rc,
	    out.data ? out.data : "");
	HBT_CHECK(HBT_WAIT(hbt_influx_number(&ix, "homebus", "SELECT count(value) "
	    "FROM temperature") == POINTS, 10000), "every point back: %lld of %d",
	    hbt_influx_number(&ix, "homebus", "SELECT count(value) FROM "
	    "temperature"), POINTS);
	hb_buf_free(&lines);
	hb_buf_free(&out);
	hbt_exit();
}
