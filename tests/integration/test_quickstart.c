/*
 * deploy/quickstart.sh, the README's first command, run for real on the
 * binaries of this build: it must bring the stack up on loopback, feed it,
 * land points from every demo source in InfluxDB, and stop everything it
 * started, leaving no process behind.
 */
#include "hbt.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int
run_quickstart(const char *dir, const char *seconds, struct hb_buf *out)
{
	char script[600];
	char *argv[] = { script, "--no-build", "--bin-dir", (char *)hbt_bin_dir(),
	    "--dir", (char *)dir, "--seconds", (char *)seconds, NULL };

	snprintf(script, sizeof(script), "%s/deploy/quickstart.sh", HBT_SOURCE_DIR);
	hb_buf_reset(out);
	return hbt_run(argv, out, 240000);
}

/* A line of the summary: "InfluxDB holds N points written by homebus, in: ..." */
static long
points_held(const char *out, const char **list)
{
	const char *p = strstr(out, "InfluxDB holds ");

	if (p == NULL)
		return -1;
	*list = strstr(p, " in: ");
	return strtol(p + 15, NULL, 10);
}

int
main(void)
{
	struct hb_buf out = { 0 };
	char dir[600], path[700];
	const char *list = NULL;
	long first, second;
	int rc;

	hbt_init("quickstart");
	snprintf(dir, sizeof(dir), "%s/qs", hbt_dir());
	rc = run_quickstart(dir, "15", &out);
	hbt_log("quickstart said:\n%s", out.data ? out.data : "");
	HBT_REQUIRE(rc == 0, "quickstart exits 0 (rc %d)", rc);
	first = points_held(out.data, &list);
	HBT_CHECK(first > 10, "points landed: %ld", first);
	HBT_CHECK(list && strstr(list, "zigbee") && strstr(list, "tasmota") &&
	    strstr(list, "°C") && strstr(list, "light.hallway"),
	    "every demo source has its measurement: %s", list ? list : "(none)");
	HBT_CHECK(strstr(out.data, "writer:ok") && strstr(out.data, "ingest:ok"),
	    "the status line shows the services healthy");
	HBT_CHECK(strstr(out.data, "did not stop") == NULL, "every process stopped");
	HBT_CHECK(strstr(out.data, "influx -port") != NULL, "it says how to query");
	snprintf(path, sizeof(path), "%s/homebus/writer-spool.db", dir);
	HBT_CHECK(access(path, F_OK) == 0, "the writer's spool is under the folder");

	/* nothing of it is left running: a second run starts on the same data */
	rc = run_quickstart(dir, "8", &out);
	HBT_CHECK(rc == 0, "a second run on the same folder exits 0 (%d):\n%s", rc,
	    out.data);
	second = points_held(out.data, &list);
	HBT_CHECK(second > 0, "the second run wrote points too: %ld", second);
	hb_buf_free(&out);
	hbt_exit();
}
