/*
 * InfluxDB in the native profile's backups, against a real influxd with a
 * month of one sensor's readings: the backup step of
 * deploy/deployer-native.json (deploy/homebus-influx backup: influxd backup
 * -portable over the RPC port, then counted from a scratch restore) writes
 * a portable backup and its counts into the job's folder; the drill step
 * restores it aside and finds the same counts, and fails on a backup that
 * does not restore to them; the restore step brings deleted points back
 * into the live database and leaves those written since; into an empty
 * influxd (a new disk) it restores every point.
 */
#include "hbt.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define POINTS (30 * 24 * 60)	/* a reading a minute for 30 days */

/* The shipped step's argv, for this folder; the tool from the checkout. */
static size_t
step_argv(const char *step, const char *folder, char **argv, size_t max)
{
	char path[700];
	json_t *root, *a, *v;
	size_t i, n = 0;

	snprintf(path, sizeof(path), "%s/deploy/deployer-native.json",
	    HBT_SOURCE_DIR);
	root = json_load_file(path, 0, NULL);
	a = json_object_get(json_object_get(json_object_get(json_object_get(root,
	    "deployer"), "steps"), step), "argv");
	HBT_REQUIRE(json_array_size(a) > 0, "the native profile has a %s step",
	    step);
	json_array_foreach(a, i, v) {
		const char *s = json_string_value(v);
		char *o;

		if (n + 1 >= max)
			break;
		if (strcmp(s, "{workdir}/libexec/homebus-influx") == 0) {
			o = hb_xmalloc(strlen(HBT_SOURCE_DIR) + 32);
			snprintf(o, strlen(HBT_SOURCE_DIR) + 32,
			    "%s/deploy/homebus-influx", HBT_SOURCE_DIR);
		} else if (strncmp(s, "{backup_dir}", 12) == 0) {
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

/* Runs the profile's step; its exit status, its output in *out. */
static int
run_step(const char *step, const char *folder, struct hb_buf *out)
{
	char *argv[32];
	size_t n = step_argv(step, folder, argv, HB_ARRAY_LEN(argv));
	int rc;

	hb_buf_reset(out);
	rc = hbt_run(argv, out, 300000);
	for (size_t i = 0; i < n; i++)
		free(argv[i]);
	return rc;
}

/* Whether InfluxDB's answer to q holds needle. */
static bool
answer_has(struct hbt_influx *ix, const char *q, const char *needle)
{
	json_t *a = hbt_influx_query(ix, "homebus", q);
	char *text = json_dumps(a, 0);
	bool has = text && strstr(text, needle);

	free(text);
	json_decref(a);
	return has;
}

static long long
count(struct hbt_influx *ix, const char *where)
{
	char q[256];

	snprintf(q, sizeof(q), "SELECT count(value) FROM temperature%s", where);
	return hbt_influx_number(ix, "homebus", q);
}

int
main(void)
{
	struct hbt_influx ix;
	struct hb_buf lines = { 0 }, out = { 0 };
	char url[256], folder[600], port[16], path[700], cmd[1600];
	char *wipe[] = { "/bin/sh", "-c", cmd, NULL };
	int64_t t0 = hb_wall_ms() * 1000000LL - (int64_t)POINTS * 60000000000LL;
	int rc;

	hbt_init("influx_backup");
	HBT_REQUIRE(hbt_influx_start(&ix, NULL) == 0, "influxd");
	/* where the tool finds this influxd (the profile's are 8088, 8086) */
	snprintf(port, sizeof(port), "%d", ix.port);
	setenv("HOMEBUS_INFLUX_PORT", port, 1);
	snprintf(url, sizeof(url), "127.0.0.1:%d", ix.rpc_port);
	setenv("HOMEBUS_INFLUX_RPC", url, 1);
	json_decref(hbt_influx_query(&ix, NULL, "CREATE DATABASE homebus"));
	for (int i = 0; i < POINTS; i++)
		hb_buf_printf(&lines, "temperature,room=kitchen value=%.1f %lld\n",
		    20.0 + (i % 50) / 10.0, (long long)(t0 + (int64_t)i * 60000000000LL));
	snprintf(url, sizeof(url), "%s/write?db=homebus", ix.url);
	HBT_REQUIRE(hbt_http("POST", url, lines.data, &out) == 204, "%d points "
	    "written", POINTS);
	HBT_CHECK(count(&ix, "") == POINTS, "all of them there");

	snprintf(folder, sizeof(folder), "%s/backups/20261207T023000Z-v1",
	    hbt_dir());
	hb_mkdirs(folder);
	rc = run_step("backup", folder, &out);
	HBT_CHECK(rc == 0 && strstr(out.data, "1 measurements, 43200 values"),
	    "the profile's backup step: exit 0, counted from a scratch restore: "
	    "%d %s", rc, out.data ? out.data : "");
	snprintf(path, sizeof(path), "%s/influxdb/counts.csv", folder);
	HBT_CHECK(access(path, R_OK) == 0, "the counts beside the backup");

	/* the drill: restored aside again, the same counts */
	rc = run_step("drill", folder, &out);
	HBT_CHECK(rc == 0 && strstr(out.data, "as counted at backup time"),
	    "the drill step: exit 0: %d %s", rc, out.data ? out.data : "");
	HBT_CHECK(!answer_has(&ix, "SHOW DATABASES", "homebus_"), "no scratch "
	    "database left behind");
	/* a backup that restores to other counts fails the drill, saying so */
	snprintf(cmd, sizeof(cmd), "cp %s %s.good && sed -i s/43200/43199/ %s",
	    path, path, path);
	HBT_REQUIRE(hbt_run(wipe, NULL, 10000) == 0, "counts changed");
	rc = run_step("drill", folder, &out);
	HBT_CHECK(rc != 0 && strstr(out.data, "43199") && strstr(out.data,
	    "other counts"), "the drill fails, naming the count: %d %s", rc,
	    out.data ? out.data : "");
	snprintf(cmd, sizeof(cmd), "mv %s.good %s", path, path);
	HBT_REQUIRE(hbt_run(wipe, NULL, 10000) == 0, "counts back");

	/* the live database loses ten days and gains a reading since */
	json_decref(hbt_influx_query(&ix, "homebus", "DELETE FROM temperature "
	    "WHERE time < now() - 20d"));
	HBT_CHECK(count(&ix, "") < POINTS, "ten days deleted: %lld left",
	    count(&ix, ""));
	snprintf(url, sizeof(url), "%s/write?db=homebus", ix.url);
	HBT_REQUIRE(hbt_http("POST", url, "temperature,room=kitchen value=30.5\n",
	    &out) == 204, "a reading since the backup");
	rc = run_step("restore", folder, &out);
	HBT_CHECK(rc == 0, "the restore step into the live database: exit 0: %d "
	    "%s", rc, out.data ? out.data : "");
	HBT_CHECK(count(&ix, "") == POINTS + 1, "every point of the backup back, "
	    "and the one since: %lld of %d", count(&ix, ""), POINTS + 1);
	HBT_CHECK(count(&ix, " WHERE value = 30.5") == 1, "the reading since "
	    "stays, once");
	HBT_CHECK(answer_has(&ix, "SHOW TAG KEYS FROM temperature", "room"),
	    "room is still a tag");
	HBT_CHECK(!answer_has(&ix, "SHOW DATABASES", "homebus_"), "no scratch "
	    "database left behind");

	/* an empty influxd on the same ports: what a new disk would be */
	hbt_influx_kill(&ix);
	snprintf(cmd, sizeof(cmd), "rm -rf %s/meta %s/data %s/wal", ix.dir, ix.dir,
	    ix.dir);
	HBT_REQUIRE(hbt_run(wipe, NULL, 10000) == 0, "influxd's files removed");
	HBT_REQUIRE(hbt_influx_restart(&ix) == 0, "influxd again, empty");
	rc = run_step("restore", folder, &out);
	HBT_CHECK(rc == 0 && strstr(out.data, "restored whole"), "the restore "
	    "step into an empty influxd: exit 0: %d %s", rc, out.data ?
	    out.data : "");
	HBT_CHECK(HBT_WAIT(count(&ix, "") == POINTS, 10000), "every point back: "
	    "%lld of %d", count(&ix, ""), POINTS);
	hb_buf_free(&lines);
	hb_buf_free(&out);
	hbt_exit();
}
