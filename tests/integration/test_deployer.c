/*
 * homebus-deployer against a real mosquitto, the real homebus-health and
 * the fake docker (tests/fakes/docker) running a real homebus-ingest per
 * version, asserting what a user would see: the deploy states in order,
 * what the fake was asked to run (and with which IMAGE_TAG), the journal
 * behind GET /deploys, the backup folder, notifications, the Grafana point
 * and the Home Assistant entity.
 *
 *   test_deployer good|bad|keep|nopull|nobackup|hang|hostile|busy|sigkill|
 *                 sigterm|repeat|ha|broker|dryrun
 */
#include "deployer_fx.h"
#include "hb_msg.h"

#include <signal.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define DEPLOY_MS 40000		/* a deploy of a good tag, generously */
#define ROLLBACK_MS 70000	/* a verify that times out, then a rollback */

/* The final state of job id in phase, with its versions checked. */
static json_t *
expect_outcome(struct dfx *f, const char *id, const char *phase, int64_t ms)
{
	json_t *s = dfx_wait_state(f, id, phase, ms);

	HBT_CHECK(s != NULL, "job %s ends %s", id, phase);
	return s;
}

static void
expect_versions(json_t *s, const char *running, const char *previous)
{
	HBT_CHECK(s && strcmp(dfx_str(s, "running_tag"), running) == 0 &&
	    strcmp(dfx_str(s, "previous_tag"), previous) == 0,
	    "running %s, previous %s: running_tag=%s previous_tag=%s", running,
	    previous, dfx_str(s, "running_tag"), dfx_str(s, "previous_tag"));
}

static bool
notified(struct dfx *f, const char *severity, const char *key)
{
	char topic[64], needle[160];

	snprintf(topic, sizeof(topic), "homebus/notify/%s", severity);
	snprintf(needle, sizeof(needle), "\"key\":\"%s\"", key);
	return hbt_mqtt_count_with(f->mqtt, topic, needle) == 1;
}

/* The backup folder a job took, checked: SQLite copy and manifest. */
static void
check_backup(struct dfx *f, const char *name)
{
	char path[900], *manifest;
	json_t *m, *files, *e;
	sqlite3 *db;
	sqlite3_stmt *st;
	size_t i;
	bool db_listed = false, tar_listed = false;

	snprintf(path, sizeof(path), "%s/%s/app.db", f->backups, name);
	HBT_CHECK(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK,
	    "the copy %s opens", path);
	HBT_CHECK(sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL) ==
	    SQLITE_OK && sqlite3_step(st) == SQLITE_ROW &&
	    strcmp((const char *)sqlite3_column_text(st, 0), "ok") == 0,
	    "the copy verifies");
	sqlite3_finalize(st);
	HBT_CHECK(sqlite3_prepare_v2(db, "SELECT count(*), sum(v) FROM readings", -1,
	    &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW &&
	    sqlite3_column_int(st, 0) == 5000 && sqlite3_column_double(st, 1) ==
	    5000.0 * 5001 / 4, "every row is in the copy");
	sqlite3_finalize(st);
	sqlite3_close(db);

	snprintf(path, sizeof(path), "%s/%s/manifest.json", f->backups, name);
	manifest = hb_read_file(path, 1 << 20, NULL);
	m = manifest ? json_loads(manifest, 0, NULL) : NULL;
	HBT_CHECK(m != NULL, "manifest.json is JSON");
	files = json_object_get(m, "files");
	json_array_foreach(files, i, e) {
		struct hb_buf out = { 0 };
		char file[900];
		char *argv[] = { "/usr/bin/sha256sum", file, NULL };

		snprintf(file, sizeof(file), "%s/%s/%s", f->backups, name,
		    dfx_str(e, "path"));
		HBT_CHECK(hbt_run(argv, &out, 10000) == 0 && out.data &&
		    strncmp(out.data, dfx_str(e, "sha256"), 64) == 0 &&
		    json_integer_value(json_object_get(e, "size")) > 0,
		    "%s: sha256 and size as listed", dfx_str(e, "path"));
		hb_buf_free(&out);
		if (strcmp(dfx_str(e, "path"), "app.db") == 0)
			db_listed = strcmp(dfx_str(e, "integrity_check"), "ok") == 0 &&
			    strcmp(dfx_str(e, "source"), f->app_db) == 0;
		if (strcmp(dfx_str(e, "path"), "volumes/influxdb.tar") == 0)
			tar_listed = true;
	}
	HBT_CHECK(db_listed && tar_listed, "the manifest lists the SQLite copy "
	    "(checked, with its source) and what the backup step wrote: %s",
	    manifest ? manifest : "-");
	HBT_CHECK(strcmp(dfx_str(m, "from_tag"), "v1") == 0 &&
	    strcmp(dfx_str(m, "to_tag"), "v2") == 0, "manifest from/to");
	json_decref(m);
	free(manifest);
}

/* good: every phase in order to done; journal, state, backup, the rest. */
static void
scenario_good(struct dfx *f)
{
	json_t *s, *d, *job, *steps, *st;
	char phases[256];
	struct hbt_mqtt_msg *m;
	size_t i;
	bool names[4] = { false };

	dfx_deploy(f, "g1", "v2");
	s = expect_outcome(f, "g1", "done", DEPLOY_MS);
	dfx_phases(f, "g1", phases, sizeof(phases));
	HBT_CHECK(strcmp(phases, "queued,preflight,pull,backup,up,verify,done") == 0,
	    "every phase in order: %s", phases);
	HBT_CHECK(strcmp(dfx_str(s, "from_tag"), "v1") == 0 &&
	    strcmp(dfx_str(s, "to_tag"), "v2") == 0 &&
	    json_integer_value(json_object_get(s, "step_index")) == 6 &&
	    json_integer_value(json_object_get(s, "step_count")) == 6,
	    "v1 -> v2, step 6 of 6");
	expect_versions(s, "v2", "v1");
	HBT_CHECK(dfx_count_calls(f, "IMAGE_TAG=v2", " pull ingest") == 1 &&
	    dfx_count_calls(f, "IMAGE_TAG=v2", " run --rm volman backup ") == 1 &&
	    dfx_count_calls(f, "IMAGE_TAG=v2", " up -d ingest") == 1 &&
	    dfx_count_calls(f, NULL, NULL) == 3, "pull, backup, up with v2 and "
	    "nothing else");

	d = dfx_deploys(f);
	job = json_array_get(json_object_get(d, "deploys"), 0);
	HBT_CHECK(strcmp(dfx_str(job, "id"), "g1") == 0 &&
	    strcmp(dfx_str(job, "outcome"), "done") == 0 &&
	    strcmp(dfx_str(job, "from_tag"), "v1") == 0 &&
	    strcmp(dfx_str(job, "to_tag"), "v2") == 0 &&
	    strcmp(dfx_str(job, "requested_by"), "test") == 0 &&
	    strcmp(dfx_str(d, "running_tag"), "v2") == 0, "GET /deploys has it");
	steps = json_object_get(job, "steps");
	json_array_foreach(steps, i, st) {
		const char *n = dfx_str(st, "name");

		names[0] |= strcmp(n, "pull") == 0 &&
		    json_integer_value(json_object_get(st, "exit_code")) == 0;
		names[1] |= strcmp(n, "backup") == 0;
		names[2] |= strcmp(n, "up") == 0 &&
		    json_array_size(json_object_get(st, "argv")) == 7;
		names[3] |= strcmp(n, "verify") == 0 &&
		    json_is_true(json_object_get(st, "ok"));
	}
	HBT_CHECK(names[0] && names[1] && names[2] && names[3], "its steps with "
	    "exit codes and argv");
	check_backup(f, dfx_str(s, "backup"));
	json_decref(d);

	HBT_CHECK(notified(f, "info", "deploy/g1/started") &&
	    notified(f, "info", "deploy/g1/done"), "started and done, once each");
	m = hbt_mqtt_wait(f->mqtt, "homebus/points/homebus_deploy", "id=\"g1\"", 5000);
	HBT_CHECK(m && strstr(m->payload, "homebus_deploy,action=deploy,"
	    "instance=hub,outcome=done to_tag=\"v2\",from_tag=\"v1\",duration_s="),
	    "one point for Grafana: %s", m ? m->payload : "-");
	hbt_mqtt_msg_free(m);
	m = hbt_mqtt_wait(f->mqtt, "homebus/health/check", "\"ingest\"", 5000);
	HBT_CHECK(m && strstr(m->payload, "\"until\"") &&
	    strstr(m->payload, "\"interval_s\":1") &&
	    strstr(m->payload, "deployer/hub"), "verify asked health to check "
	    "now: %s", m ? m->payload : "-");
	hbt_mqtt_msg_free(m);
	json_decref(s);
}

int
main(int argc, char **argv)
{
	struct dfx f;
	const char *sc = argc > 1 ? argv[1] : "good";
	char name[64];

	snprintf(name, sizeof(name), "deployer_%s", sc);
	hbt_init(name);
	if (strcmp(sc, "good") == 0) {
		dfx_setup(&f, NULL, NULL, false);
		scenario_good(&f);
	} else {
		HBT_CHECK(false, "unknown scenario %s", sc);
		hbt_exit();
	}
	HBT_CHECK(hbt_proc_alive(&f.deployer.proc), "the deployer still runs");
	dfx_teardown(&f);
	hbt_exit();
}
