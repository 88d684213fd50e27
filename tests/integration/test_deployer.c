/*
 * homebus-deployer against a real mosquitto, the real homebus-health and
 * the fake docker (tests/fakes/docker) running a real homebus-ingest per
 * version, asserting what a user would see: the deploy states in order,
 * what the fake was asked to run (and with which IMAGE_TAG), the journal
 * behind GET /deploys, the backup folder, notifications, the Grafana point
 * and the Home Assistant entity.
 *
 *   test_deployer good|bad|keep|nopull|nobackup|hang|hostile|busy|repeat|
 *                 dryrun|rollback|backup|schedule|critical|cli|
 *                 migrate|rows|log|restore|drill|drillcmd|catchup
 */
#include "deployer_fx.h"
#include "hb_msg.h"

#include <signal.h>
#include <sys/stat.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
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

/* One notification of severity with this key came (it follows the state). */
static bool
notified(struct dfx *f, const char *severity, const char *key)
{
	char topic[64], needle[160];

	snprintf(topic, sizeof(topic), "homebus/notify/%s", severity);
	snprintf(needle, sizeof(needle), "\"key\":\"%s\"", key);
	return HBT_WAIT(hbt_mqtt_count_with(f->mqtt, topic, needle) >= 1, 5000) &&
	    hbt_mqtt_count_with(f->mqtt, topic, needle) == 1;
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
			    strcmp(dfx_str(e, "source"), f->app_db) == 0 &&
			    strlen(dfx_str(e, "schema_sha256")) == 64 &&
			    json_integer_value(json_object_get(e, "user_version")) == 0 &&
			    json_integer_value(json_object_get(json_object_get(e,
			    "rows"), "readings")) == 5000;
		if (strcmp(dfx_str(e, "path"), "volumes/influxdb.tar") == 0)
			tar_listed = true;
	}
	HBT_CHECK(db_listed && tar_listed, "the manifest lists the SQLite copy "
	    "(checked, with its source, schema hash, user_version and rows) and "
	    "what the backup step wrote: %s",
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

/* bad: verify fails, back to the version that ran before (not the one
 * before that), which stays "running"; "previous" unchanged. */
static void
scenario_bad(struct dfx *f)
{
	json_t *s, *d, *job, *st;
	char phases[256], *calls, *bad_up, *back_up;
	size_t i;
	bool rollback_steps = false;

	dfx_deploy(f, "b1", "v2");
	json_decref(expect_outcome(f, "b1", "done", DEPLOY_MS));
	dfx_clear_calls(f);
	dfx_deploy(f, "b2", "v3-bad");
	s = expect_outcome(f, "b2", "rolled_back", ROLLBACK_MS);
	dfx_phases(f, "b2", phases, sizeof(phases));
	HBT_CHECK(strcmp(phases, "queued,preflight,pull,backup,up,verify,rollback,"
	    "rolled_back") == 0, "phases: %s", phases);
	calls = dfx_calls(f);
	bad_up = strstr(calls, "IMAGE_TAG=v3-bad compose -f compose.yml up -d ingest");
	back_up = strstr(calls, "IMAGE_TAG=v2 compose -f compose.yml up -d ingest");
	HBT_CHECK(bad_up && back_up && back_up > bad_up && !strstr(calls,
	    "IMAGE_TAG=v1"), "up with v3-bad, then up with v2 (the version that "
	    "ran before), never v1:\n%s", calls);
	free(calls);
	expect_versions(s, "v2", "v1");
	HBT_CHECK(strstr(dfx_str(s, "error"), "ingest: down") != NULL,
	    "the state names the failing target: %s", dfx_str(s, "error"));
	HBT_CHECK(notified(f, "error", "deploy/b2/rolled_back") &&
	    hbt_mqtt_count_with(f->mqtt, "homebus/notify/error",
	    "Rolled back to v2") == 1, "one error notification, saying where it "
	    "went back to");
	HBT_CHECK(HBT_WAIT(hbt_mqtt_count_with(f->mqtt,
	    "homebus/points/homebus_deploy", "outcome=rolled_back") == 1, 5000),
	    "the point says rolled_back");
	d = dfx_deploys(f);
	job = json_array_get(json_object_get(d, "deploys"), 0);
	json_array_foreach(json_object_get(job, "steps"), i, st)
		if (strcmp(dfx_str(st, "name"), "rollback verify") == 0 &&
		    json_is_true(json_object_get(st, "ok")))
			rollback_steps = true;
	HBT_CHECK(strcmp(dfx_str(job, "outcome"), "rolled_back") == 0 &&
	    rollback_steps && strcmp(dfx_str(d, "running_tag"), "v2") == 0 &&
	    strcmp(dfx_str(d, "previous_tag"), "v1") == 0,
	    "the journal: rolled back, its rollback verified, v2 running");
	json_decref(d);
	json_decref(s);
}

/* keep: `up` does not replace the service; verify sees it never restarted. */
static void
scenario_keep(struct dfx *f)
{
	long pid = dfx_ingest_pid(f);
	json_t *s;

	dfx_deploy(f, "k1", "v2-keep");
	s = dfx_wait_state(f, "k1", "rollback", ROLLBACK_MS);
	HBT_CHECK(s && dfx_ingest_pid(f) == pid, "v1's ingest still ran when "
	    "verify gave up");
	json_decref(s);
	s = expect_outcome(f, "k1", "rolled_back", ROLLBACK_MS);
	HBT_CHECK(strstr(dfx_str(s, "error"), "not restarted since up") != NULL,
	    "not verified: it did not restart: %s", dfx_str(s, "error"));
	HBT_CHECK(dfx_count_calls(f, "IMAGE_TAG=v2-keep", " up -d") == 1 &&
	    dfx_count_calls(f, "IMAGE_TAG=v1", " up -d") == 1, "up, then back");
	expect_versions(s, "v1", "");
	json_decref(s);
}

/* nopull / nobackup: failed before anything was stopped. */
static void
scenario_fails_before_up(struct dfx *f, const char *tag, const char *last_phase,
    size_t ncalls, const char *in_tail)
{
	long pid = dfx_ingest_pid(f);
	char phases[256], want[128];
	json_t *s;

	dfx_deploy(f, "e1", tag);
	s = expect_outcome(f, "e1", "failed", DEPLOY_MS);
	dfx_phases(f, "e1", phases, sizeof(phases));
	snprintf(want, sizeof(want), "queued,preflight,pull%s,failed", last_phase);
	HBT_CHECK(strcmp(phases, want) == 0, "phases: %s", phases);
	HBT_CHECK(dfx_count_calls(f, NULL, NULL) == ncalls &&
	    dfx_count_calls(f, " up ", NULL) == 0, "no up: %zu calls",
	    dfx_count_calls(f, NULL, NULL));
	HBT_CHECK(dfx_ingest_pid(f) == pid && pid > 0 && kill((pid_t)pid, 0) == 0,
	    "nothing was stopped: v1's ingest runs");
	expect_versions(s, "v1", "");
	HBT_CHECK(strstr(dfx_str(s, "error"), "exited 1") &&
	    strstr(dfx_str(s, "log_tail"), in_tail), "why, and the output: %s / %s",
	    dfx_str(s, "error"), dfx_str(s, "log_tail"));
	HBT_CHECK(notified(f, "error", "deploy/e1/failed"), "an error notification");
	json_decref(s);
}

/* hang: the step is killed with its whole group at the timeout. */
static void
scenario_hang(struct dfx *f)
{
	char path[700], *pids;
	long a = 0, b = 0;
	json_t *s;

	dfx_deploy(f, "h1", "v2-hang");
	s = expect_outcome(f, "h1", "failed", DEPLOY_MS);
	HBT_CHECK(strstr(dfx_str(s, "error"), "timed out after 2 s") != NULL,
	    "timed out: %s", dfx_str(s, "error"));
	snprintf(path, sizeof(path), "%s/hang.pids", f->docker_dir);
	pids = hb_read_file(path, 64, NULL);
	if (pids) {
		char *end;

		a = strtol(pids, &end, 10);
		b = strtol(end, NULL, 10);
		free(pids);
	}
	HBT_CHECK(a > 1 && b > 1 && HBT_WAIT(kill((pid_t)a, 0) != 0 &&
	    kill((pid_t)b, 0) != 0, 5000), "the step (%ld) and the child it left "
	    "in its group (%ld) are gone", a, b);
	HBT_CHECK(dfx_count_calls(f, " up ", NULL) == 0, "nothing more ran");
	json_decref(s);
}

/* hostile input: rejected, answered, and nothing runs. */
static void
scenario_hostile(struct dfx *f)
{
	char long_tag[201], cmd[512];
	const char *tags[] = { "1.0;rm -rf /", "$(id)", "../x", long_tag, "",
	    "1.0\nx" };
	struct hbt_mqtt_msg *m;
	json_t *s;

	memset(long_tag, 'a', 200);
	long_tag[200] = '\0';
	for (size_t i = 0; i < HB_ARRAY_LEN(tags); i++) {
		json_t *o = json_pack("{s:s,s:s,s:s}", "id", "x", "action", "deploy",
		    "tag", tags[i]);
		char id[8], *text;

		snprintf(id, sizeof(id), "h%zu", i + 1);
		json_object_set_new(o, "id", json_string(id));
		text = json_dumps(o, JSON_COMPACT);
		dfx_command(f, text);
		s = dfx_wait_state(f, id, "rejected", 10000);
		HBT_CHECK(s && strstr(dfx_str(s, "error"), "tag"), "tag %zu rejected: "
		    "%s", i + 1, s ? dfx_str(s, "error") : "-");
		json_decref(s);
		free(text);
		json_decref(o);
	}
	dfx_command(f, "{not json");
	m = hbt_mqtt_wait(f->mqtt, "homebus/deploy/state", "not JSON", 10000);
	HBT_CHECK(m && strstr(m->payload, "\"phase\":\"rejected\""),
	    "invalid JSON rejected");
	hbt_mqtt_msg_free(m);
	dfx_command(f, "{\"id\":\"u1\",\"action\":\"deploy\",\"tag\":\"v2\","
	    "\"services\":[\"grafana\"]}");
	s = dfx_wait_state(f, "u1", "rejected", 10000);
	HBT_CHECK(s && strstr(dfx_str(s, "error"), "unknown service"),
	    "a service not in deployer.services is rejected");
	json_decref(s);
	dfx_command(f, "{\"id\":\"o1\",\"action\":\"deploy\",\"tag\":\"v2\","
	    "\"instance\":\"kitchen\"}");
	snprintf(cmd, sizeof(cmd), "{\"id\":\"after\",\"action\":\"status\"}");
	dfx_command(f, cmd);
	m = hbt_mqtt_wait(f->mqtt, "homebus/deploy/state", "\"id\":\"after\"",
	    10000);
	HBT_CHECK(m && hbt_mqtt_count_with(f->mqtt, "homebus/deploy/state",
	    "\"id\":\"o1\"") == 0, "a command for another instance is not ours");
	hbt_mqtt_msg_free(m);
	HBT_CHECK(dfx_count_calls(f, NULL, NULL) == 0, "the fake saw no call");
	{
		/* answers are not retained: a late reader sees no rejection */
		struct hbt_mqtt *late = hbt_mqtt_connect(f->broker.port, "late");

		hbt_mqtt_subscribe(late, "homebus/deploy/state", 1);
		hbt_sleep_ms(1000);
		HBT_CHECK(hbt_mqtt_count_with(late, "homebus/deploy/state",
		    "rejected") == 0, "no rejection retained");
		hbt_mqtt_close(late);
	}
}

/* two at once: one runs, the other is busy at once. */
static void
scenario_busy(struct dfx *f)
{
	json_t *busy, *done;

	dfx_deploy(f, "a1", "v2-slow");
	dfx_deploy(f, "a2", "v3");
	busy = dfx_wait_state(f, "a2", "busy", 10000);
	HBT_CHECK(busy && strstr(dfx_str(busy, "error"), "a1") &&
	    hbt_mqtt_count_with(f->mqtt, "homebus/deploy/state",
	    "\"phase\":\"done\"") == 0, "busy before the first is done, naming "
	    "it: %s", busy ? dfx_str(busy, "error") : "-");
	done = expect_outcome(f, "a1", "done", DEPLOY_MS);
	HBT_CHECK(dfx_count_calls(f, "IMAGE_TAG=v3 ", NULL) == 0, "v3 never ran");
	json_decref(busy);
	json_decref(done);
}

/* the same id twice: run once, answered with its state. */
static void
scenario_repeat(struct dfx *f)
{
	json_t *s;

	dfx_deploy(f, "r1", "v2");
	json_decref(expect_outcome(f, "r1", "done", DEPLOY_MS));
	dfx_deploy(f, "r1", "v3");
	HBT_CHECK(HBT_WAIT(hbt_mqtt_count_with(f->mqtt, "homebus/deploy/state",
	    "\"id\":\"r1\",\"action\":\"deploy\",\"phase\":\"done\"") == 2,
	    10000), "answered with its state (done) again");
	s = dfx_wait_state(f, "r1", "done", 1000);
	HBT_CHECK(s && strcmp(dfx_str(s, "to_tag"), "v2") == 0, "the first job's");
	json_decref(s);
	HBT_CHECK(dfx_count_calls(f, " pull ", NULL) == 1 &&
	    dfx_count_calls(f, "IMAGE_TAG=v3 ", NULL) == 0, "run once");
}

/* --dry-run: states as usual; commands logged, not run; nothing recorded. */
static void
scenario_dryrun(struct dfx *f)
{
	json_t *s, *d;

	dfx_deploy(f, "d1", "v2");
	s = expect_outcome(f, "d1", "done", DEPLOY_MS);
	HBT_CHECK(dfx_count_calls(f, NULL, NULL) == 0, "the fake saw no call");
	HBT_CHECK(hbt_proc_log_has(&f->deployer.proc, "dry-run step=pull "
	    "IMAGE_TAG=v2") && hbt_proc_log_has(&f->deployer.proc,
	    "[\"docker\",\"compose\",\"-f\",\"compose.yml\",\"up\",\"-d\","
	    "\"ingest\"]"), "each step logged with its argv");
	expect_versions(s, "v1", "");
	d = dfx_deploys(f);
	HBT_CHECK(json_is_true(json_object_get(json_array_get(json_object_get(d,
	    "deploys"), 0), "dry_run")), "the journal says dry run");
	HBT_CHECK(access(f->backups, F_OK) != 0, "no backup written");
	json_decref(d);
	json_decref(s);
}

/* What a shell command line prints (out, reset first); its exit code. */
static int sh(struct hb_buf *out, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static int
sh(struct hb_buf *out, const char *fmt, ...)
{
	char cmd[1200];
	char *argv[] = { "/bin/sh", "-c", cmd, NULL };
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	hb_buf_reset(out);
	return hbt_run(argv, out, 5000);
}

/* The backup folders under deployer.backup_dir, sorted, as "a b c". */
static void
backup_folders(struct dfx *f, char *out, size_t outlen)
{
	struct hb_buf b = { 0 };

	sh(&b, "ls %s | sort | tr '\\n' ' '", f->backups);
	snprintf(out, outlen, "%s", b.data ? b.data : "");
	hb_buf_free(&b);
}

/* rollback: to "previous", and to a named backup's version, with restore. */
static void
scenario_rollback(struct dfx *f)
{
	json_t *s;
	char b1[200], phases[256], dir[900], cmd[512];

	dfx_deploy(f, "d1", "v2");
	s = expect_outcome(f, "d1", "done", DEPLOY_MS);
	snprintf(b1, sizeof(b1), "%s", dfx_str(s, "backup"));	/* taken on v1 */
	json_decref(s);
	dfx_deploy(f, "d2", "v3");
	json_decref(expect_outcome(f, "d2", "done", DEPLOY_MS));
	dfx_clear_calls(f);

	/* back to the previous version, with the data from before d2 */
	dfx_command(f, "{\"id\":\"rb1\",\"action\":\"rollback\"}");
	s = expect_outcome(f, "rb1", "done", DEPLOY_MS);
	dfx_phases(f, "rb1", phases, sizeof(phases));
	HBT_CHECK(strcmp(phases, "queued,preflight,stop,restore,up,restore,verify,"
	    "done") == 0, "phases: %s", phases);
	HBT_CHECK(strcmp(dfx_str(s, "to_tag"), "v2") == 0, "to v2: %s",
	    dfx_str(s, "to_tag"));
	expect_versions(s, "v2", "v3");
	HBT_CHECK(dfx_count_calls(f, "IMAGE_TAG=v2", " up -d ingest") == 1 &&
	    dfx_count_calls(f, " restore ", "-v2") == 1 &&
	    dfx_count_calls(f, " pull ", NULL) == 0, "up v2, restore the backup "
	    "d2 took (of v2), no pull");
	json_decref(s);

	/* to the version of a backup, named */
	dfx_clear_calls(f);
	snprintf(cmd, sizeof(cmd), "{\"id\":\"rb2\",\"action\":\"rollback\","
	    "\"backup\":\"%s\"}", b1);
	dfx_command(f, cmd);
	s = expect_outcome(f, "rb2", "done", DEPLOY_MS);
	snprintf(dir, sizeof(dir), "%s/%s", f->backups, b1);
	HBT_CHECK(strcmp(dfx_str(s, "to_tag"), "v1") == 0 &&
	    dfx_count_calls(f, "IMAGE_TAG=v1", " up -d ingest") == 1 &&
	    dfx_count_calls(f, " restore ", dir) == 1, "to v1 with its backup %s",
	    b1);
	expect_versions(s, "v1", "v2");
	json_decref(s);

	/* a backup that is not there */
	dfx_command(f, "{\"id\":\"rb3\",\"action\":\"rollback\","
	    "\"backup\":\"20200101T000000Z-v9\"}");
	s = expect_outcome(f, "rb3", "failed", DEPLOY_MS);
	HBT_CHECK(s && strstr(dfx_str(s, "error"), "no complete backup"),
	    "a missing backup fails: %s", s ? dfx_str(s, "error") : "-");
	json_decref(s);
}

/* What app.db holds: its columns of readings, rows, their sum, user_version. */
struct app_db_facts {
	int columns, rows, user_version, tables;
	double sum;
};

static long long
scalar(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st;
	long long v = -1;

	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

static void
app_db_facts(const char *path, struct app_db_facts *o)
{
	sqlite3 *db;

	memset(o, 0, sizeof(*o));
	HBT_REQUIRE(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) ==
	    SQLITE_OK, "%s opens", path);
	o->columns = (int)scalar(db, "SELECT count(*) FROM "
	    "pragma_table_info('readings')");
	o->rows = (int)scalar(db, "SELECT count(*) FROM readings");
	o->sum = (double)scalar(db, "SELECT CAST(sum(v) * 2 AS INTEGER) "
	    "FROM readings") / 2;
	o->user_version = (int)scalar(db, "PRAGMA user_version");
	o->tables = (int)scalar(db, "SELECT count(*) FROM sqlite_master "
	    "WHERE type = 'table'");
	sqlite3_close(db);
}

/* The files beside app.db that a restore kept ("app.db.failed-*"). */
static int
kept_files(struct dfx *f, char *first, size_t firstlen)
{
	struct hb_buf b = { 0 };
	int n = 0;

	sh(&b, "ls %s.failed-* 2>/dev/null", f->app_db);
	first[0] = '\0';
	for (char *p = b.data; p && *p; n++) {
		char *nl = strchr(p, '\n');

		if (n == 0)
			snprintf(first, firstlen, "%.*s", nl ? (int)(nl - p) :
			    (int)strlen(p), p);
		if (nl == NULL)
			break;
		p = nl + 1;
	}
	hb_buf_free(&b);
	return n;
}

/*
 * migrate: a version that migrates app.db (a column, a table, user_version,
 * rows dropped) and fails verify: the rollback stops the services, puts
 * the old schema and every old row back, keeps the migrated file beside,
 * and the state and the notification say so.
 */
static void
scenario_migrate(struct dfx *f)
{
	struct app_db_facts now, kept;
	char path[900], keptpath[900], *calls, *stop, *back_up;
	json_t *s;

	snprintf(path, sizeof(path), "%s/up-v2-bad.sql", f->docker_dir);
	hbt_write_file(path, "ALTER TABLE readings ADD COLUMN unit TEXT;\n"
	    "CREATE TABLE units (name TEXT);\n"
	    "DELETE FROM readings WHERE id > 4000;\n"
	    "PRAGMA user_version = 7;\n");
	dfx_deploy(f, "mg1", "v2-bad");
	s = expect_outcome(f, "mg1", "rolled_back", ROLLBACK_MS);
	app_db_facts(f->app_db, &now);
	HBT_CHECK(now.columns == 2 && now.tables == 1 && now.user_version == 0 &&
	    now.rows == 5000 && now.sum == 5000.0 * 5001 / 4, "the old schema and "
	    "rows are back: columns=%d tables=%d user_version=%d rows=%d sum=%.1f",
	    now.columns, now.tables, now.user_version, now.rows, now.sum);
	HBT_CHECK(kept_files(f, keptpath, sizeof(keptpath)) == 1,
	    "the migrated file is kept beside app.db");
	if (keptpath[0]) {
		app_db_facts(keptpath, &kept);
		HBT_CHECK(kept.columns == 3 && kept.rows == 4000 &&
		    kept.user_version == 7, "%s is the file as v2-bad left it", keptpath);
	}
	HBT_CHECK(s && strstr(dfx_str(s, "error"), "restored from") &&
	    strstr(dfx_str(s, "error"), f->app_db), "the state says what was "
	    "restored: %s", s ? dfx_str(s, "error") : "-");
	HBT_CHECK(notified(f, "error", "deploy/mg1/rolled_back") &&
	    hbt_mqtt_count_with(f->mqtt, "homebus/notify/error",
	    "Restored from backup") == 1, "the notification says what was restored");
	calls = dfx_calls(f);
	stop = strstr(calls, "compose -f compose.yml stop ingest");
	back_up = strstr(calls, "IMAGE_TAG=v1 compose -f compose.yml up -d ingest");
	HBT_CHECK(stop && back_up && stop < back_up, "ingest stopped before the "
	    "restore, then up with v1:\n%s", calls);
	free(calls);
	expect_versions(s, "v1", "");
	json_decref(s);
}

/*
 * rows: a version that only writes rows and fails verify: app.db is left
 * as it is (the rows written since stay), nothing stopped, nothing kept.
 */
static void
scenario_rows(struct dfx *f)
{
	struct app_db_facts now;
	char path[900], keptpath[900];
	json_t *s;

	snprintf(path, sizeof(path), "%s/up-v2-bad.sql", f->docker_dir);
	hbt_write_file(path, "INSERT INTO readings (v) VALUES (1), (2), (3);\n");
	dfx_deploy(f, "rw1", "v2-bad");
	s = expect_outcome(f, "rw1", "rolled_back", ROLLBACK_MS);
	app_db_facts(f->app_db, &now);
	HBT_CHECK(now.columns == 2 && now.rows == 5003, "the rows written since "
	    "stay: rows=%d", now.rows);
	HBT_CHECK(kept_files(f, keptpath, sizeof(keptpath)) == 0 &&
	    dfx_count_calls(f, " stop ", NULL) == 0, "nothing stopped or kept");
	HBT_CHECK(s && strstr(dfx_str(s, "error"), "restored") == NULL,
	    "the state restores nothing: %s", s ? dfx_str(s, "error") : "-");
	json_decref(s);
}

/*
 * log: a step's whole output is in the job's log (homebus deploys --log,
 * GET /deploys/log), beyond the 20-line tail the journal and state keep.
 */
static void
scenario_log(struct dfx *f)
{
	char bin[700], url[200];
	char *log[] = { bin, "-c", f->deployer.config, "deploys", "--log", "lg1",
	    NULL };
	char *nolog[] = { bin, "-c", f->deployer.config, "deploys", "--log",
	    "no-such-job", NULL };
	struct hb_buf out = { 0 };
	json_t *s, *d, *job, *st;
	const char *pull_tail = "";
	size_t i;
	long status;
	int rc;

	dfx_deploy(f, "lg1", "v2-chatty");
	s = expect_outcome(f, "lg1", "done", DEPLOY_MS);
	json_decref(s);
	d = dfx_deploys(f);
	job = json_array_get(json_object_get(d, "deploys"), 0);
	json_array_foreach(json_object_get(job, "steps"), i, st)
		if (strcmp(dfx_str(st, "name"), "pull") == 0)
			pull_tail = dfx_str(st, "output_tail");
	HBT_CHECK(strstr(pull_tail, "layer 60 of 60") &&
	    !strstr(pull_tail, "layer 1 of 60"), "the journal keeps the tail: %s",
	    pull_tail);
	json_decref(d);

	snprintf(bin, sizeof(bin), "%s/homebus", hbt_bin_dir());
	rc = hbt_run(log, &out, 20000);
	HBT_CHECK(rc == 0 && out.data && strstr(out.data, "layer 1 of 60 pulled") &&
	    strstr(out.data, "layer 60 of 60 pulled") && strstr(out.data,
	    "pull: ok") && strstr(out.data, "verify: ok") && strstr(out.data,
	    "== ") && strstr(out.data, " done"), "homebus deploys --log lg1: every "
	    "step and all of pull's output: %d %s", rc, out.data ? out.data : "");
	hb_buf_reset(&out);
	rc = hbt_run(nolog, &out, 20000);
	HBT_CHECK(rc != 0 && out.data && strstr(out.data, "no log of job "
	    "no-such-job"), "an unknown job: an error, not an empty log: %d %s", rc,
	    out.data ? out.data : "");
	hb_buf_reset(&out);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/deploys/log?id=lg1", f->dport);
	status = hbt_http("GET", url, NULL, &out);
	HBT_CHECK(status == 200 && out.data && strstr(out.data, "layer 1 of 60"),
	    "GET /deploys/log?id=lg1: %ld", status);
	hb_buf_free(&out);
}

static void
app_db_exec(struct dfx *f, const char *sql)
{
	sqlite3 *db;

	HBT_REQUIRE(sqlite3_open(f->app_db, &db) == SQLITE_OK &&
	    sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK, "%s", sql);
	sqlite3_close(db);
}

/*
 * restore: homebus restore BACKUP --wait puts the backup's SQLite copy and
 * InfluxDB (the restore step) back, the version kept; one whose restore
 * step fails goes back to the data as it was; a damaged backup or an
 * unknown --only is refused before anything is stopped.
 */
static void
scenario_restore(struct dfx *f)
{
	char bin[700], b1[200], dir[900], path[900], cmd[512];
	char *restore[] = { bin, "-c", f->deployer.config, "restore", b1, "--wait",
	    NULL };
	char *deploys[] = { bin, "-c", f->deployer.config, "deploys", NULL };
	struct hb_buf out = { 0 };
	struct app_db_facts now;
	json_t *s;
	int rc;

	snprintf(bin, sizeof(bin), "%s/homebus", hbt_bin_dir());
	dfx_deploy(f, "d1", "v2");
	s = expect_outcome(f, "d1", "done", DEPLOY_MS);
	snprintf(b1, sizeof(b1), "%s", dfx_str(s, "backup"));	/* of v1 */
	json_decref(s);
	snprintf(dir, sizeof(dir), "%s/%s", f->backups, b1);
	app_db_exec(f, "INSERT INTO readings (v) VALUES (1), (2);"
	    "CREATE TABLE later (x INTEGER);");
	dfx_clear_calls(f);

	rc = hbt_run(restore, &out, 90000);
	HBT_CHECK(rc == 0 && out.data && strstr(out.data, "done"),
	    "homebus restore %s --wait: exit 0, done: %d %s", b1, rc,
	    out.data ? out.data : "");
	snprintf(path, sizeof(path), "restored: %s (the file it replaced kept as "
	    "app.db.before-restore-", f->app_db);
	HBT_CHECK(out.data && strstr(out.data, path), "--wait says what it put "
	    "back, on a line of its own: %s", out.data ? out.data : "");
	app_db_facts(f->app_db, &now);
	HBT_CHECK(now.rows == 5000 && now.tables == 1, "app.db as backed up: "
	    "rows=%d tables=%d", now.rows, now.tables);
	HBT_CHECK(sh(&out, "ls %s.before-restore-*", f->app_db) == 0,
	    "the file it replaced is kept beside");
	HBT_CHECK(dfx_count_calls(f, " stop ingest", NULL) == 1 &&
	    dfx_count_calls(f, " restore ", dir) == 1 &&
	    dfx_count_calls(f, "IMAGE_TAG=v2", "--force-recreate") == 1,
	    "ingest stopped, InfluxDB's restore step on %s, v2 recreated", b1);
	{
		const char *all[] = { "\"action\":\"restore\"",
		    "\"phase\":\"done\"", NULL };
		struct hbt_mqtt_msg *m = hbt_mqtt_wait_all(f->mqtt,
		    "homebus/deploy/state", all, 5000);

		s = m ? json_loads(m->payload, 0, NULL) : NULL;
		HBT_CHECK(s && strstr(dfx_str(s, "restored"), f->app_db) &&
		    strstr(dfx_str(s, "restored"), "kept as app.db.before-restore-"),
		    "the state of the restore says what it put back: %s",
		    m ? m->payload : "-");
		json_decref(s);
		hbt_mqtt_msg_free(m);
	}

	/* a restore whose restore step fails: back to the data as it was */
	app_db_exec(f, "INSERT INTO readings (v) VALUES (3), (4), (5);");
	snprintf(path, sizeof(path), "%s/restore-fails", dir);
	hbt_write_file(path, "x\n");
	snprintf(cmd, sizeof(cmd), "{\"id\":\"r2\",\"action\":\"restore\","
	    "\"backup\":\"%s\"}", b1);
	dfx_command(f, cmd);
	s = expect_outcome(f, "r2", "rolled_back", ROLLBACK_MS);
	app_db_facts(f->app_db, &now);
	HBT_CHECK(now.rows == 5003, "the rows from before the restore are back: %d",
	    now.rows);
	HBT_CHECK(s && strstr(dfx_str(s, "log_tail"), "volman: restore of"),
	    "the state says why: %s", s ? dfx_str(s, "log_tail") : "-");
	HBT_CHECK(s && strstr(dfx_str(s, "restored"), f->app_db) &&
	    strstr(dfx_str(s, "restored"), "kept as app.db.failed-") &&
	    strstr(dfx_str(s, "error"), "restored from "), "going back says what "
	    "it put back, in restored and in error: %s / %s",
	    s ? dfx_str(s, "restored") : "-", s ? dfx_str(s, "error") : "-");
	hb_buf_reset(&out);
	rc = hbt_run(deploys, &out, 30000);
	snprintf(cmd, sizeof(cmd), "restored: %s (the file it replaced kept as "
	    "app.db.failed-", f->app_db);
	HBT_CHECK(rc == 0 && out.data && strstr(out.data, cmd) &&
	    strstr(out.data, "kept as "
	    "app.db.before-restore-"), "homebus deploys says what each restore "
	    "put back, from the journal: %s", out.data ? out.data : "");
	expect_versions(s, "v2", "v1");
	json_decref(s);
	unlink(path);

	/* --only a file that is not one of sqlite_backups */
	snprintf(cmd, sizeof(cmd), "{\"id\":\"r3\",\"action\":\"restore\","
	    "\"backup\":\"%s\",\"only\":[\"nope.db\"]}", b1);
	dfx_command(f, cmd);
	s = expect_outcome(f, "r3", "failed", DEPLOY_MS);
	HBT_CHECK(s && strstr(dfx_str(s, "error"), "nope.db is not one of "
	    "deployer.sqlite_backups"), "an unknown --only: %s",
	    s ? dfx_str(s, "error") : "-");
	json_decref(s);

	/* a backup damaged since: refused, nothing stopped */
	snprintf(path, sizeof(path), "%s/volumes/influxdb.tar", dir);
	hbt_write_file(path, "influx backup of v9\n");	/* same size */
	dfx_clear_calls(f);
	snprintf(cmd, sizeof(cmd), "{\"id\":\"r4\",\"action\":\"restore\","
	    "\"backup\":\"%s\"}", b1);
	dfx_command(f, cmd);
	s = expect_outcome(f, "r4", "failed", DEPLOY_MS);
	HBT_CHECK(s && strstr(dfx_str(s, "error"), "sha256") &&
	    strstr(dfx_str(s, "error"), "influxdb.tar"), "a damaged backup is "
	    "refused: %s", s ? dfx_str(s, "error") : "-");
	HBT_CHECK(dfx_count_calls(f, " stop ", NULL) == 0 &&
	    dfx_count_calls(f, " up ", NULL) == 0, "nothing stopped or started");
	app_db_facts(f->app_db, &now);
	HBT_CHECK(now.rows == 5003, "app.db untouched: %d", now.rows);
	json_decref(s);
	hb_buf_free(&out);
}

/* P/deploy/backups once it names newest and says drill is `drill`. */
static json_t *
backups_state(struct dfx *f, const char *newest, const char *drill)
{
	char needle[64], name[256];
	const char *all[] = { needle, name, NULL };
	struct hbt_mqtt_msg *m;
	json_t *o;

	snprintf(needle, sizeof(needle), "\"drill\":\"%s\"", drill);
	snprintf(name, sizeof(name), "\"newest\":\"%s\"", newest);
	m = hbt_mqtt_wait_all(f->mqtt, "homebus/deploy/backups", all, 10000);
	o = m ? json_loads(m->payload, 0, NULL) : NULL;
	hbt_mqtt_msg_free(m);
	return o;
}

/*
 * drill: homebus backups --verify NAME and --drill check a backup again
 * and restore it into a scratch folder; P/deploy/backups says the newest
 * backup and the last drill; a backup whose rows or files differ from its
 * manifest fails, with a notification.
 */
static void
scenario_drill(struct dfx *f)
{
	char bin[700], b1[200], path[900];
	char *verify[] = { bin, "-c", f->deployer.config, "backups", "--verify", b1,
	    NULL };
	char *drill[] = { bin, "-c", f->deployer.config, "backups", "--drill",
	    NULL };
	struct hb_buf out = { 0 };
	char *manifest, *at;
	json_t *s;
	int rc;

	snprintf(bin, sizeof(bin), "%s/homebus", hbt_bin_dir());
	dfx_deploy(f, "d1", "v2");
	s = expect_outcome(f, "d1", "done", DEPLOY_MS);
	snprintf(b1, sizeof(b1), "%s", dfx_str(s, "backup"));
	json_decref(s);
	s = backups_state(f, b1, "");
	HBT_CHECK(s && strcmp(dfx_str(s, "newest"), b1) == 0 &&
	    strlen(dfx_str(s, "newest_at")) > 0, "P/deploy/backups: the newest "
	    "backup, no drill yet");
	json_decref(s);

	rc = hbt_run(verify, &out, 60000);
	HBT_CHECK(rc == 0 && out.data && strstr(out.data, "done"), "homebus "
	    "backups --verify %s: exit 0: %d %s", b1, rc, out.data ? out.data : "");
	hb_buf_reset(&out);
	rc = hbt_run(drill, &out, 60000);
	HBT_CHECK(rc == 0 && out.data && strstr(out.data, "done"), "homebus "
	    "backups --drill: exit 0: %d %s", rc, out.data ? out.data : "");
	HBT_CHECK(HBT_WAIT(hbt_mqtt_count_with(f->mqtt, "homebus/notify/info",
	    "5000 rows as the manifest says") == 1, 5000), "the drill reports "
	    "what it restored and counted");
	s = backups_state(f, b1, "ok");
	HBT_CHECK(s && strcmp(dfx_str(s, "drill_backup"), b1) == 0,
	    "P/deploy/backups: the drill passed on %s", b1);
	json_decref(s);

	/* the manifest's rows no longer those of the copy */
	snprintf(path, sizeof(path), "%s/%s/manifest.json", f->backups, b1);
	manifest = hb_read_file(path, 1 << 20, NULL);
	HBT_REQUIRE(manifest && (at = strstr(manifest, "\"readings\": 5000")),
	    "the manifest counts readings");
	memcpy(at + strlen("\"readings\": "), "4999", 4);
	hbt_write_file(path, manifest);
	free(manifest);
	hb_buf_reset(&out);
	rc = hbt_run(drill, &out, 60000);
	HBT_CHECK(rc == 1, "a drill that finds other rows: exit 1: %d %s", rc,
	    out.data ? out.data : "");
	s = backups_state(f, b1, "failed");
	HBT_CHECK(s && strstr(dfx_str(s, "drill_error"), "has 5000 rows restored, "
	    "the manifest says 4999"), "P/deploy/backups: the drill failed, and "
	    "why: %s", s ? dfx_str(s, "drill_error") : "-");
	json_decref(s);
	HBT_CHECK(HBT_WAIT(hbt_mqtt_count_with(f->mqtt, "homebus/notify/error",
	    "the manifest says 4999") == 1, 5000), "an error notification");

	/* a file changed since the backup: --verify says which */
	snprintf(path, sizeof(path), "%s/%s/volumes/influxdb.tar", f->backups, b1);
	hbt_write_file(path, "influx backup of v9\n");	/* same size */
	hb_buf_reset(&out);
	rc = hbt_run(verify, &out, 60000);
	HBT_CHECK(rc == 1 && out.data && strstr(out.data, "influxdb.tar") &&
	    strstr(out.data, "sha256"), "--verify names the damaged file: %d %s",
	    rc, out.data ? out.data : "");
	hb_buf_free(&out);
}

/*
 * The drill command (deployer.steps.drill) test_deployer writes: it checks
 * that {backup_dir} is a complete backup folder, prints a line naming it,
 * and fails while <hbt_dir>/drill-fails exists.
 */
static void
write_drill_command(char *path, size_t pathlen)
{
	char script[2048];

	snprintf(path, pathlen, "%s/drill-influx", hbt_dir());
	snprintf(script, sizeof(script), "#!/bin/sh\n"
	    "[ -f \"$1/manifest.json\" ] || { echo \"no backup at $1\"; exit 2; }\n"
	    "if [ -e %s/drill-fails ]; then\n"
	    "  echo \"influx: restore of $(basename \"$1\") refused\"; exit 1\n"
	    "fi\n"
	    "echo \"influx: 42 points restored from $(basename \"$1\")\"\n",
	    hbt_dir());
	hbt_write_file(path, script);
	HBT_REQUIRE(chmod(path, 0755) == 0, "chmod %s", path);
}

/*
 * drillcmd: a drill runs deployer.steps.drill on the backup after its
 * SQLite part; what the command printed is in what the drill reports, and
 * a command that fails fails the drill, saying what it printed.
 */
static void
scenario_drillcmd(struct dfx *f)
{
	char b1[200], line[300], path[700];
	struct hbt_mqtt_msg *m;
	json_t *s;

	dfx_deploy(f, "d1", "v2");
	s = expect_outcome(f, "d1", "done", DEPLOY_MS);
	snprintf(b1, sizeof(b1), "%s", dfx_str(s, "backup"));
	json_decref(s);

	dfx_command(f, "{\"id\":\"dr1\",\"action\":\"drill\","
	    "\"requested_by\":\"test\"}");
	s = expect_outcome(f, "dr1", "done", DEPLOY_MS);
	HBT_CHECK(s && strcmp(dfx_str(s, "backup"), b1) == 0 &&
	    json_integer_value(json_object_get(s, "step_count")) == 3,
	    "the drill of %s, its command a part of step 2 of 3", b1);
	json_decref(s);
	snprintf(line, sizeof(line), "deployer.steps.drill: influx: 42 points "
	    "restored from %s", b1);
	m = hbt_mqtt_wait(f->mqtt, "homebus/notify/info", "backup/dr1/done", 5000);
	HBT_CHECK(m && strstr(m->payload, "5000 rows as the manifest says") &&
	    strstr(m->payload, line), "the drill says what the SQLite part and the "
	    "command found: %s", m ? m->payload : "-");
	hbt_mqtt_msg_free(m);
	s = backups_state(f, b1, "ok");
	HBT_CHECK(s && strcmp(dfx_str(s, "drill_backup"), b1) == 0,
	    "P/deploy/backups: the drill passed");
	json_decref(s);

	snprintf(path, sizeof(path), "%s/drill-fails", hbt_dir());
	hbt_write_file(path, "x\n");
	dfx_command(f, "{\"id\":\"dr2\",\"action\":\"drill\","
	    "\"requested_by\":\"test\"}");
	s = expect_outcome(f, "dr2", "failed", DEPLOY_MS);
	snprintf(line, sizeof(line), "drill exited 1: influx: restore of %s "
	    "refused", b1);
	HBT_CHECK(s && strstr(dfx_str(s, "error"), line) && strcmp(dfx_str(s,
	    "step"), "drill") == 0, "the drill failed, naming what the command "
	    "printed: %s", s ? dfx_str(s, "error") : "-");
	json_decref(s);
	s = backups_state(f, b1, "failed");
	HBT_CHECK(s && strstr(dfx_str(s, "drill_error"), line),
	    "P/deploy/backups: the drill failed, and why: %s",
	    s ? dfx_str(s, "drill_error") : "-");
	json_decref(s);
	m = hbt_mqtt_wait(f->mqtt, "homebus/notify/error", "backup/dr2/failed",
	    5000);
	HBT_CHECK(m && strstr(m->payload, "refused"), "an error notification: %s",
	    m ? m->payload : "-");
	hbt_mqtt_msg_free(m);
}

/* The scheduled drills' states on the bus that reached preflight. */
static size_t
scheduled_drills(struct dfx *f)
{
	json_t *all = hbt_mqtt_payloads(f->mqtt, "homebus/deploy/state",
	    "\"requested_by\":\"drill schedule\"");
	size_t i, n = 0;
	json_t *p;

	json_array_foreach(all, i, p)
		n += strstr(json_string_value(p), "\"phase\":\"preflight\"") != NULL;
	json_decref(all);
	return n;
}

/*
 * catchup: the drill schedule comes from what is persisted, not from the
 * start. A backup younger than an hour and no drill yet: no drill. The
 * deployer restarted with that backup 2 h old and still no drill in the
 * journal: it drills by itself catch_up_s after its start. Restarted again,
 * the drill in its journal: no other one.
 */
static void
scenario_catchup(struct dfx *f)
{
	char b1[200], older[200], from[900], to[900];
	const char *done[] = { "\"action\":\"drill\"", "\"phase\":\"done\"",
	    "\"requested_by\":\"drill schedule\"", NULL };
	struct hbt_mqtt_msg *m;
	struct tm tm;
	time_t t;
	json_t *s;

	dfx_command(f, "{\"id\":\"bk1\",\"action\":\"backup\","
	    "\"requested_by\":\"test\"}");
	s = expect_outcome(f, "bk1", "done", DEPLOY_MS);
	snprintf(b1, sizeof(b1), "%s", dfx_str(s, "backup"));
	json_decref(s);
	hbt_sleep_ms(3000);
	HBT_CHECK(scheduled_drills(f) == 0, "a backup of a moment ago: no drill "
	    "before an hour has passed");

	/* the backup as if taken 2 h ago, while the deployer was down */
	HBT_REQUIRE(hbt_proc_stop(&f->deployer.proc, SIGTERM, 15000) == 0,
	    "the deployer stops");
	memset(&tm, 0, sizeof(tm));
	HBT_REQUIRE(strptime(b1, "%Y%m%dT%H%M%SZ", &tm) != NULL, "%s", b1);
	t = timegm(&tm) - 2 * 3600;
	gmtime_r(&t, &tm);
	strftime(older, sizeof(older), "%Y%m%dT%H%M%SZ", &tm);
	snprintf(older + strlen(older), sizeof(older) - strlen(older), "%s",
	    b1 + strlen(older));
	snprintf(from, sizeof(from), "%s/%s", f->backups, b1);
	snprintf(to, sizeof(to), "%s/%s", f->backups, older);
	HBT_REQUIRE(rename(from, to) == 0, "%s -> %s", b1, older);
	dfx_restart_deployer(f);
	m = hbt_mqtt_wait_all(f->mqtt, "homebus/deploy/state", done, 20000);
	HBT_CHECK(m && strstr(m->payload, older), "restarted, it drills %s by "
	    "itself: %s", older, m ? m->payload : "-");
	hbt_mqtt_msg_free(m);
	s = backups_state(f, older, "ok");
	HBT_CHECK(s && strcmp(dfx_str(s, "drill_backup"), older) == 0 &&
	    strlen(dfx_str(s, "drill_at")) > 0, "P/deploy/backups: the drill "
	    "passed on %s", older);
	json_decref(s);
	HBT_CHECK(HBT_WAIT(hbt_mqtt_count_with(f->mqtt, "homebus/notify/info",
	    "5000 rows as the manifest says") == 1, 5000), "and says what it "
	    "counted");
	HBT_CHECK(scheduled_drills(f) == 1, "one drill");

	/* a restart with a recent drill in the journal: none due for 7 days */
	HBT_REQUIRE(hbt_proc_stop(&f->deployer.proc, SIGTERM, 15000) == 0,
	    "the deployer stops again");
	dfx_restart_deployer(f);
	hbt_sleep_ms(5000);
	HBT_CHECK(scheduled_drills(f) == 1, "restarted after a drill: no other "
	    "drill (%zu)", scheduled_drills(f));
}

/* backup on demand; retention keeps the newest and the last verified one's */
static void
scenario_backup(struct dfx *f)
{
	char verified[200], folders[1024], want[1024], newest[2][200];
	json_t *s;

	dfx_deploy(f, "d1", "v2");
	s = expect_outcome(f, "d1", "done", DEPLOY_MS);
	snprintf(verified, sizeof(verified), "%s", dfx_str(s, "backup"));
	json_decref(s);
	for (int i = 0; i < 3; i++) {
		char id[16], cmd[128];

		/* folder names have a one-second resolution */
		hbt_sleep_ms(1100);
		snprintf(id, sizeof(id), "bk%d", i);
		snprintf(cmd, sizeof(cmd), "{\"id\":\"%s\",\"action\":\"backup\","
		    "\"requested_by\":\"test\"}", id);
		dfx_command(f, cmd);
		s = expect_outcome(f, id, "done", DEPLOY_MS);
		HBT_CHECK(s && strstr(dfx_str(s, "backup"), "-v2") &&
		    json_integer_value(json_object_get(s, "step_count")) == 3,
		    "a backup of v2 in 3 steps");
		if (i > 0)
			snprintf(newest[i - 1], sizeof(newest[0]), "%s",
			    dfx_str(s, "backup"));
		json_decref(s);
	}
	backup_folders(f, folders, sizeof(folders));
	snprintf(want, sizeof(want), "%s %s %s ", verified, newest[0], newest[1]);
	HBT_CHECK(strcmp(folders, want) == 0, "keep_backups 2, and the backup "
	    "the verified deploy took: %s (want %s)", folders, want);
	{
		/* GET /backups, as `homebus backups` reads it */
		struct hb_buf body = { 0 };
		char url[128];
		json_t *o, *list, *b;
		size_t i, kept = 0, complete = 0;

		snprintf(url, sizeof(url), "http://127.0.0.1:%d/backups", f->dport);
		HBT_CHECK(hbt_http("GET", url, NULL, &body) == 200, "GET /backups");
		o = body.data ? json_loads(body.data, 0, NULL) : NULL;
		list = json_object_get(o, "backups");
		json_array_foreach(list, i, b) {
			kept += json_is_true(json_object_get(b, "keep")) &&
			    strcmp(dfx_str(b, "name"), verified) == 0;
			complete += json_is_true(json_object_get(b, "complete")) &&
			    json_integer_value(json_object_get(b, "bytes")) > 0 &&
			    strstr(dfx_str(b, "name"), dfx_str(b, "from_tag")) != NULL;
		}
		HBT_CHECK(json_array_size(list) == 3 && kept == 1 && complete == 3 &&
		    strcmp(dfx_str(json_array_get(list, 0), "name"), newest[1]) == 0,
		    "newest first, sizes, versions, the kept one marked: %s",
		    body.data ? body.data : "-");
		json_decref(o);
		hb_buf_free(&body);
	}
	HBT_CHECK(notified(f, "info", "backup/bk2/done") &&
	    hbt_mqtt_count_with(f->mqtt, "homebus/notify/info", "backup/bk0/started")
	    == 0, "a backup says done, not started");
	HBT_CHECK(dfx_count_calls(f, " up ", NULL) == 1, "backups stop nothing");
}

/* the schedule: quiet when it works */
static void
scenario_schedule(struct dfx *f)
{
	HBT_CHECK(HBT_WAIT(hbt_mqtt_count_with(f->mqtt, "homebus/deploy/state",
	    "\"requested_by\":\"schedule\"") > 0 &&
	    hbt_mqtt_count_with(f->mqtt, "homebus/deploy/state",
	    "\"phase\":\"done\"") >= 2, 30000), "two scheduled backups done");
	HBT_CHECK(hbt_mqtt_count_with(f->mqtt, "homebus/notify/#", "backup/") == 0,
	    "a nightly backup that works tells nobody");
}

/* going back fails too: critical, with what to run by hand */
static void
scenario_critical(struct dfx *f)
{
	json_t *s;
	struct hbt_mqtt_msg *m;

	dfx_deploy(f, "c1", "v2-bad");
	s = expect_outcome(f, "c1", "rollback_failed", 2 * ROLLBACK_MS);
	HBT_CHECK(s && strstr(dfx_str(s, "error"), "run by hand: cd ") &&
	    strstr(dfx_str(s, "error"), "IMAGE_TAG=v0-bad docker compose -f "
	    "compose.yml up -d ingest"), "the state says what to run: %s",
	    s ? dfx_str(s, "error") : "-");
	json_decref(s);
	m = hbt_mqtt_wait(f->mqtt, "homebus/notify/critical",
	    "\"key\":\"deploy/c1/rollback_failed\"", 5000);
	HBT_CHECK(m && strstr(m->payload, "Run by hand") &&
	    strstr(m->payload, "IMAGE_TAG=v0-bad"), "a critical notification with "
	    "the command: %s", m ? m->payload : "-");
	hbt_mqtt_msg_free(m);
}

/* The CLI against the deployer: `homebus deploy --wait`, `deploys`, `backups`
 * read the same configuration file (the deployer's port, the bus). */

/* tmux, on a server of this test's own, for a terminal the CLI draws on. */
static int
tmux(const char *sock, char *const args[], struct hb_buf *out)
{
	char *argv[16] = { "tmux", "-L", (char *)sock };
	int n = 3;

	for (int i = 0; args[i] && n < 15; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	{
		char path[600];

		/* hbt_run takes a path */
		snprintf(path, sizeof(path), "/usr/bin/tmux");
		argv[0] = path;
		return hbt_run(argv, out, 20000);
	}
}

/*
 * The live display on a real terminal (a tmux pane): once the deploy is
 * over, the screen holds one finished line per phase and the outcome, and
 * no line a spinner still starts.
 */
static void
scenario_cli_tty(struct dfx *f)
{
	char sock[64], cmd[1200], name[16] = "hb";
	struct hb_buf screen = { 0 };
	int64_t end = hb_mono_ms() + 90000;
	const char *line;
	bool spinner = false;

	snprintf(sock, sizeof(sock), "hbt-%ld", (long)getpid());
	snprintf(cmd, sizeof(cmd), "%s/homebus -c %s deploy v2 --wait; "
	    "echo EXIT=$?; sleep 120", hbt_bin_dir(), f->deployer.config);
	HBT_REQUIRE(tmux(sock, (char *[]){ "new-session", "-d", "-s", name, "-x",
	    "100", "-y", "30", cmd, NULL }, NULL) == 0, "tmux starts the CLI in "
	    "a terminal");
	while (hb_mono_ms() < end) {
		hb_buf_reset(&screen);
		tmux(sock, (char *[]){ "capture-pane", "-p", "-t", name, NULL },
		    &screen);
		if (screen.data && strstr(screen.data, "EXIT="))
			break;
		hbt_sleep_ms(250);
	}
	hbt_log("the terminal at the end:\n%s", screen.data ? screen.data : "");
	HBT_CHECK(screen.data && strstr(screen.data, "EXIT=0"), "deploy --wait "
	    "ended with 0 on the terminal");
	HBT_CHECK(screen.data && strstr(screen.data, "deploy v2: done (from v1 to "
	    "v2)"), "the outcome on one line");
	for (const char *const *ph = (const char *const[]){ "preflight", "pull",
	    "backup", "up", "verify", NULL }; *ph; ph++) {
		char want[64];

		snprintf(want, sizeof(want), "ok %s", *ph);
		HBT_CHECK(screen.data && strstr(screen.data, want), "a finished line "
		    "for %s", *ph);
	}
	for (line = screen.data ? screen.data : ""; *line; ) {
		const char *nl = strchr(line, '\n');

		if (strchr("|/-\\", line[0]) && line[1] == ' ')
			spinner = true;
		line = nl ? nl + 1 : line + strlen(line);
	}
	HBT_CHECK(!spinner, "no line still starts with the spinner");
	tmux(sock, (char *[]){ "kill-server", NULL }, NULL);
	hb_buf_free(&screen);
}

static void
scenario_cli(struct dfx *f)
{
	char bin[700];
	char *deploy[] = { bin, "-c", f->deployer.config, "deploy", "v2", "--wait",
	    "--timeout", "60", NULL };
	char *bad[] = { bin, "-c", f->deployer.config, "deploy", "v3-nopull",
	    "--wait", NULL };
	char *rolled[] = { bin, "-c", f->deployer.config, "deploy", "v3-bad",
	    "--wait", NULL };
	char *json[] = { bin, "-c", f->deployer.config, "deploy", "v4", "--wait",
	    "--json", NULL };
	char *deploys[] = { bin, "-c", f->deployer.config, "deploys", "-n", "1",
	    "--json", NULL };
	char *backups[] = { bin, "-c", f->deployer.config, "backups", "--json", NULL };
	struct hb_buf out = { 0 };
	json_t *list;
	int rc;

	snprintf(bin, sizeof(bin), "%s/homebus", hbt_bin_dir());
	rc = hbt_run(deploy, &out, 90000);
	HBT_CHECK(rc == 0 && out.data && strstr(out.data, "deploy v2: done"),
	    "homebus deploy v2 --wait: exit 0, done: %d %s", rc,
	    out.data ? out.data : "");
	/* not a terminal: one plain line per change, every phase named */
	HBT_CHECK(out.data && strstr(out.data, "deploy v2: preflight") &&
	    strstr(out.data, "deploy v2: pull") && strstr(out.data,
	    "deploy v2: backup") && strstr(out.data, "deploy v2: up") &&
	    strstr(out.data, "deploy v2: verify") && !strchr(out.data, '\r') &&
	    !strstr(out.data, "\033["), "piped: a plain line for every phase, no "
	    "redrawing: %s", out.data ? out.data : "");
	hb_buf_reset(&out);
	rc = hbt_run(rolled, &out, 90000);
	HBT_CHECK(rc == 1 && out.data && strstr(out.data, "rolled_back"),
	    "a deploy rolled back: exit 1, says so: %d %s", rc,
	    out.data ? out.data : "");
	hb_buf_reset(&out);
	rc = hbt_run(json, &out, 90000);
	HBT_CHECK(rc == 0 && hbt_json_lines(&out) >= 3, "deploy --wait --json: "
	    "a JSON object a line: %d %s", rc, out.data ? out.data : "");
	hb_buf_reset(&out);
	rc = hbt_run(bad, &out, 90000);
	HBT_CHECK(rc == 1, "a deploy that failed: exit 1: %d %s", rc,
	    out.data ? out.data : "");
	hb_buf_reset(&out);
	rc = hbt_run(deploys, &out, 20000);
	list = rc == 0 && out.data ? json_loads(out.data, 0, NULL) : NULL;
	HBT_CHECK(json_array_size(list) == 1 &&
	    strcmp(dfx_str(json_array_get(list, 0), "to_tag"), "v3-nopull") == 0,
	    "homebus deploys -n 1: the last one: %d %s", rc, out.data ? out.data : "");
	json_decref(list);
	hb_buf_reset(&out);
	rc = hbt_run(backups, &out, 20000);
	list = rc == 0 && out.data ? json_loads(out.data, 0, NULL) : NULL;
	/* v2's deploy backed v1 up, v3-bad's and v4's v2; newest first */
	HBT_CHECK(json_array_size(list) == 3 &&
	    strcmp(dfx_str(json_array_get(list, 0), "from_tag"), "v2") == 0 &&
	    strcmp(dfx_str(json_array_get(list, 2), "from_tag"), "v1") == 0,
	    "homebus backups: the three deploys' backups, newest first: %d %s", rc,
	    out.data ? out.data : "");
	json_decref(list);
	hb_buf_free(&out);
}

/* `homebus CMD...` with the deployer's configuration; its exit code. */
static int
homebus(struct dfx *f, struct hb_buf *out, const char *a, const char *b,
    const char *c)
{
	char bin[700];
	char *argv[] = { bin, "-c", f->deployer.config, (char *)a, (char *)b,
	    (char *)c, NULL };

	snprintf(bin, sizeof(bin), "%s/homebus", hbt_bin_dir());
	hb_buf_reset(out);
	return hbt_run(argv, out, 90000);
}

/*
 * `homebus deploy` without a tag deploys the available one; the running
 * one again is nothing to do, unless --force: then every service is
 * recreated (compose's `up -d` of an unchanged service replaces nothing,
 * and verify would find no restart), and it verifies.
 */
static void
scenario_redeploy(struct dfx *f)
{
	struct hb_buf out = { 0 };
	char tag[64];
	long pid;
	int rc;

	rc = homebus(f, &out, "deploy", "--wait", NULL);
	HBT_CHECK(rc == 2 && out.data && strstr(out.data, "no version available"),
	    "no tag and none available: refused: %d %s", rc, out.data ? out.data : "");
	rc = homebus(f, &out, "available", "v2", NULL);
	HBT_REQUIRE(rc == 0, "homebus available v2: %d %s", rc,
	    out.data ? out.data : "");
	rc = homebus(f, &out, "deploy", "--wait", NULL);
	dfx_ingest_tag(f, tag, sizeof(tag));
	HBT_CHECK(rc == 0 && out.data && strstr(out.data, "deploy v2: done") &&
	    strcmp(tag, "v2") == 0, "homebus deploy: the available v2, done: %d "
	    "%s %s", rc, tag, out.data ? out.data : "");
	dfx_clear_calls(f);
	rc = homebus(f, &out, "deploy", "--wait", NULL);
	HBT_CHECK(rc == 0 && out.data && strstr(out.data, "v2 runs already") &&
	    dfx_count_calls(f, " up ", NULL) == 0, "v2 again: nothing to do: %d %s",
	    rc, out.data ? out.data : "");
	pid = dfx_ingest_pid(f);
	rc = homebus(f, &out, "deploy", "--force", "--wait");
	HBT_CHECK(rc == 0 && out.data && strstr(out.data, "deploy v2: done") &&
	    strstr(out.data, "from v2 to v2"), "--force: v2 again, done: %d %s",
	    rc, out.data ? out.data : "");
	HBT_CHECK(dfx_ingest_pid(f) != pid && dfx_count_calls(f, "IMAGE_TAG=v2",
	    "--force-recreate") == 1, "every service recreated: pid %ld -> %ld",
	    pid, dfx_ingest_pid(f));
	hb_buf_free(&out);
}

int
main(int argc, char **argv)
{
	struct dfx f;
	const char *sc = argc > 1 ? argv[1] : "good";
	char name[64];

	snprintf(name, sizeof(name), "deployer_%s", sc);
	hbt_init(name);
	if (strcmp(sc, "hang") == 0)
		dfx_setup(&f, "{\"steps\": {\"pull\": {\"timeout_s\": 2}}}", NULL,
		    false);
	else if (strcmp(sc, "rollback") == 0)
		dfx_setup(&f, "{\"restore_on_rollback\": true}", NULL, false);
	else if (strcmp(sc, "backup") == 0)
		dfx_setup(&f, "{\"keep_backups\": 2}", NULL, false);
	else if (strcmp(sc, "schedule") == 0)
		dfx_setup(&f, "{\"backup_every_h\": 0.0006, \"keep_backups\": 2, "
		    "\"catch_up_s\": 1}", NULL, false);
	else if (strcmp(sc, "critical") == 0)
		dfx_setup(&f, "{\"initial_tag\": \"v0-bad\"}", NULL, false);
	else if (strcmp(sc, "migrate") == 0 || strcmp(sc, "rows") == 0) {
		char db[700];

		snprintf(db, sizeof(db), "%s/app.db", hbt_dir());
		setenv("FAKE_DOCKER_APP_DB", db, 1);
		dfx_setup(&f, NULL, NULL, false);
	}
	else if (strcmp(sc, "catchup") == 0)
		dfx_setup(&f, "{\"drill_every_d\": 7, \"catch_up_s\": 1}", NULL,
		    false);
	else if (strcmp(sc, "drillcmd") == 0) {
		char cmd[700], extra[1024];

		write_drill_command(cmd, sizeof(cmd));
		snprintf(extra, sizeof(extra), "{\"steps\": {\"drill\": {\"argv\": "
		    "[\"%s\", \"{backup_dir}\"]}}}", cmd);
		dfx_setup(&f, extra, NULL, false);
	} else if (strcmp(sc, "redeploy") == 0) {
		/* compose's up -d: an unchanged service is left as it is */
		setenv("FAKE_DOCKER_KEEP_SAME", "1", 1);
		dfx_setup(&f, NULL, NULL, false);
	} else
		dfx_setup(&f, NULL, NULL, strcmp(sc, "dryrun") == 0);
	if (strcmp(sc, "good") == 0)
		scenario_good(&f);
	else if (strcmp(sc, "bad") == 0)
		scenario_bad(&f);
	else if (strcmp(sc, "keep") == 0)
		scenario_keep(&f);
	else if (strcmp(sc, "nopull") == 0)
		scenario_fails_before_up(&f, "v2-nopull", "", 1, "not found");
	else if (strcmp(sc, "nobackup") == 0)
		scenario_fails_before_up(&f, "v2-nobackup", ",backup", 2,
		    "permission denied");
	else if (strcmp(sc, "hang") == 0)
		scenario_hang(&f);
	else if (strcmp(sc, "hostile") == 0)
		scenario_hostile(&f);
	else if (strcmp(sc, "busy") == 0)
		scenario_busy(&f);
	else if (strcmp(sc, "repeat") == 0)
		scenario_repeat(&f);
	else if (strcmp(sc, "dryrun") == 0)
		scenario_dryrun(&f);
	else if (strcmp(sc, "rollback") == 0)
		scenario_rollback(&f);
	else if (strcmp(sc, "backup") == 0)
		scenario_backup(&f);
	else if (strcmp(sc, "schedule") == 0)
		scenario_schedule(&f);
	else if (strcmp(sc, "critical") == 0)
		scenario_critical(&f);
	else if (strcmp(sc, "cli") == 0)
		scenario_cli(&f);
	else if (strcmp(sc, "cli_tty") == 0)
		scenario_cli_tty(&f);
	else if (strcmp(sc, "redeploy") == 0)
		scenario_redeploy(&f);
	else if (strcmp(sc, "migrate") == 0)
		scenario_migrate(&f);
	else if (strcmp(sc, "rows") == 0)
		scenario_rows(&f);
	else if (strcmp(sc, "log") == 0)
		scenario_log(&f);
	else if (strcmp(sc, "restore") == 0)
		scenario_restore(&f);
	else if (strcmp(sc, "drill") == 0)
		scenario_drill(&f);
	else if (strcmp(sc, "drillcmd") == 0)
		scenario_drillcmd(&f);
	else if (strcmp(sc, "catchup") == 0)
		scenario_catchup(&f);
	else
		HBT_CHECK(false, "unknown scenario %s", sc);
	HBT_CHECK(hbt_proc_alive(&f.deployer.proc), "the deployer still runs");
	dfx_teardown(&f);
	hbt_exit();
}
