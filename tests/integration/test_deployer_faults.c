/*
 * homebus-deployer when things go wrong around it: killed (SIGKILL) after
 * `up` and restarted, stopped (SIGTERM) in the middle of a step, the broker
 * restarted in the middle of a deploy. Same stage as test_deployer.
 *
 * A backup that fails for want of space (backup_dir on a 2 MB tmpfs, a
 * 4 MB SQLite file).
 *
 * A deployer killed while its `up` runs (8 s) and restarted at once.
 *
 * `homebus deploy --wait` across a broker restart and a paused deployer.
 *
 *   test_deployer_faults sigkill|sigterm|broker|nospace|orphan|cli_broker|
 *   cli_paused
 */
#include "deployer_fx.h"

#include <dirent.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>

#define DEPLOY_MS 40000
#define ROLLBACK_MS 70000

/* SIGKILL after up: found at restart, reported, rolled back; no stale lock. */
static void
scenario_sigkill(struct dfx *f)
{
	struct hb_buf body = { 0 };
	char url[128], *calls;
	json_t *s, *d;

	dfx_deploy(f, "k1", "v2");
	s = dfx_wait_state(f, "k1", "verify", DEPLOY_MS);
	HBT_REQUIRE(s != NULL, "k1 reaches verify (after up)");
	json_decref(s);
	HBT_CHECK(hbt_proc_stop(&f->deployer.proc, SIGKILL, 5000) >= 0, "killed");
	dfx_restart_deployer(f);
	s = dfx_wait_state(f, "k1", NULL, 1000);
	HBT_CHECK(HBT_WAIT(hbt_mqtt_count_with(f->mqtt, "homebus/notify/warning",
	    "\"key\":\"deploy/k1/interrupted\"") == 1, 10000),
	    "the restart says the deploy was interrupted");
	json_decref(s);
	s = dfx_wait_state(f, "k1", "rolled_back", ROLLBACK_MS);
	HBT_CHECK(s && strstr(dfx_str(s, "error"), "interrupted during verify"),
	    "rolled back, saying why: %s", s ? dfx_str(s, "error") : "-");
	HBT_CHECK(s && strcmp(dfx_str(s, "running_tag"), "v1") == 0,
	    "v1 runs again");
	json_decref(s);
	calls = dfx_calls(f);
	HBT_CHECK(strstr(calls, "IMAGE_TAG=v2 compose -f compose.yml up") &&
	    strstr(calls, "IMAGE_TAG=v1 compose -f compose.yml up") >
	    strstr(calls, "IMAGE_TAG=v2 compose -f compose.yml up"),
	    "up v2, then (after the restart) up v1:\n%s", calls);
	free(calls);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/health", f->dport);
	HBT_CHECK(hbt_http("GET", url, NULL, &body) == 200 && body.data &&
	    strstr(body.data, "\"deploy\":\"idle\""), "/health: idle: %s",
	    body.data ? body.data : "-");
	hb_buf_free(&body);
	/* the lock was the journal row: the next deploy runs */
	dfx_deploy(f, "k2", "v3");
	s = dfx_wait_state(f, "k2", "done", DEPLOY_MS);
	HBT_CHECK(s != NULL, "no stale lock: the next deploy is done");
	json_decref(s);
	d = dfx_deploys(f);
	HBT_CHECK(json_array_size(json_object_get(d, "deploys")) == 2 &&
	    strcmp(dfx_str(json_array_get(json_object_get(d, "deploys"), 1),
	    "outcome"), "rolled_back") == 0, "the journal: k1 rolled back, k2");
	json_decref(d);
}

/* SIGTERM in a step: the step finishes, it is recorded, exit 0; the next
 * start closes the job as after a kill (before up: failed, nothing ran). */
static void
scenario_sigterm(struct dfx *f)
{
	json_t *s, *d, *job, *step;
	int64_t t0;
	int rc;

	dfx_deploy(f, "t1", "v2-slow");
	s = dfx_wait_state(f, "t1", "pull", DEPLOY_MS);
	HBT_REQUIRE(s != NULL, "t1 pulls (3 s)");
	json_decref(s);
	t0 = hb_mono_ms();
	rc = hbt_proc_stop(&f->deployer.proc, SIGTERM, 20000);
	HBT_CHECK(rc == 0, "exit 0 after SIGTERM: %d", rc);
	HBT_CHECK(hb_mono_ms() - t0 >= 1500, "it waited for the pull to finish "
	    "(%lld ms)", (long long)(hb_mono_ms() - t0));
	HBT_CHECK(dfx_count_calls(f, " up ", NULL) == 0 &&
	    dfx_count_calls(f, " run ", NULL) == 0, "nothing after the pull ran");
	dfx_restart_deployer(f);
	s = dfx_wait_state(f, "t1", "failed", DEPLOY_MS);
	HBT_CHECK(s && strstr(dfx_str(s, "error"), "interrupted during pull"),
	    "the restart closes it: %s", s ? dfx_str(s, "error") : "-");
	HBT_CHECK(s && strcmp(dfx_str(s, "running_tag"), "v1") == 0, "v1 runs");
	json_decref(s);
	d = dfx_deploys(f);
	job = json_array_get(json_object_get(d, "deploys"), 0);
	step = json_array_get(json_object_get(job, "steps"), 1);
	HBT_CHECK(strcmp(dfx_str(step, "name"), "pull") == 0 &&
	    json_is_true(json_object_get(step, "ok")), "the pull it finished is "
	    "in the journal");
	json_decref(d);
	HBT_CHECK(dfx_count_calls(f, " up ", NULL) == 0, "no up at all");
}

/* the broker restarts during the pull: the deploy goes on, the last state
 * is retained, the notifications come once the bus is back. */
static void
scenario_broker(struct dfx *f)
{
	struct hbt_mqtt *late, *notes;
	struct hbt_mqtt_msg *m;
	json_t *s;

	notes = hbt_mqtt_connect_persistent(f->broker.port, "test-notes");
	HBT_REQUIRE(notes != NULL, "notes client");
	hbt_mqtt_subscribe(notes, "homebus/notify/#", 1);
	dfx_deploy(f, "br1", "v2-slow");
	s = dfx_wait_state(f, "br1", "pull", DEPLOY_MS);
	HBT_REQUIRE(s != NULL, "br1 pulls (3 s)");
	json_decref(s);
	HBT_REQUIRE(hbt_broker_restart(&f->broker) == 0, "broker restarted");
	late = hbt_mqtt_connect(f->broker.port, "test-late");
	HBT_REQUIRE(late != NULL, "a client after the restart");
	hbt_mqtt_subscribe(late, "homebus/deploy/state", 1);
	m = hbt_mqtt_wait_all(late, "homebus/deploy/state", (const char *const[]){
	    "\"id\":\"br1\"", "\"phase\":\"done\"", NULL }, DEPLOY_MS);
	HBT_CHECK(m != NULL, "the deploy went on to done");
	hbt_mqtt_msg_free(m);
	hbt_mqtt_close(late);
	late = hbt_mqtt_connect(f->broker.port, "test-later");
	hbt_mqtt_subscribe(late, "homebus/deploy/state", 1);
	m = hbt_mqtt_wait(late, "homebus/deploy/state", "\"id\":\"br1\"", 5000);
	HBT_CHECK(m && m->retained && strstr(m->payload, "\"phase\":\"done\""),
	    "done is the retained state: %s", m ? m->payload : "-");
	hbt_mqtt_msg_free(m);
	hbt_mqtt_close(late);
	HBT_CHECK(HBT_WAIT(hbt_mqtt_count_with(notes, "homebus/notify/info",
	    "\"key\":\"deploy/br1/done\"") == 1, 15000), "the done notification "
	    "came through");
	hbt_mqtt_close(notes);
}

/* Whether pid is a live process (not gone, not a zombie). */
static bool
alive(long pid)
{
	char path[64], *stat, *p;
	bool live;

	snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
	if ((stat = hb_read_file(path, 4096, NULL)) == NULL)
		return false;
	p = strrchr(stat, ')');
	live = p && p[1] == ' ' && p[2] != 'Z' && p[2] != 'X';
	free(stat);
	return live;
}

/* The `up` a killed deployer left running is ended at its next start: it
 * never brings up the version the rollback undid. */
static void
scenario_orphan(struct dfx *f)
{
	char path[700], tag[64], *text;
	long up = 0;
	json_t *s;

	dfx_deploy(f, "o1", "v2-sleepup");
	s = dfx_wait_state(f, "o1", "up", DEPLOY_MS);
	HBT_REQUIRE(s != NULL, "o1 reaches up (8 s)");
	json_decref(s);
	snprintf(path, sizeof(path), "%s/up.pid", f->docker_dir);
	HBT_REQUIRE(HBT_WAIT((text = hb_read_file(path, 64, NULL)) != NULL, 5000),
	    "up runs");
	up = strtol(text, NULL, 10);
	free(text);
	hbt_sleep_ms(1000);
	HBT_CHECK(hbt_proc_stop(&f->deployer.proc, SIGKILL, 5000) >= 0, "killed");
	hbt_sleep_ms(500);
	dfx_restart_deployer(f);
	s = dfx_wait_state(f, "o1", "rolled_back", ROLLBACK_MS);
	HBT_CHECK(s && strcmp(dfx_str(s, "running_tag"), "v1") == 0,
	    "rolled back to v1: %s", s ? dfx_str(s, "phase") : "-");
	json_decref(s);
	/* however long the orphan would have taken */
	HBT_CHECK(HBT_WAIT(!alive(up), 20000), "the orphaned up is gone");
	dfx_ingest_tag(f, tag, sizeof(tag));
	HBT_CHECK(strcmp(tag, "v1") == 0, "the stack ends on v1, as the journal "
	    "says, not on the orphan's version: %s", tag);
	HBT_CHECK(dfx_count_calls(f, "IMAGE_TAG=v2-sleepup", " up ") == 1,
	    "up v2-sleepup ran once");
}

/* Starts `homebus deploy TAG --wait --timeout S` in the background. */
static void
start_cli(struct dfx *f, struct hbt_proc *cli, const char *tag,
    const char *timeout_s)
{
	char bin[700];
	char *argv[] = { bin, "-c", f->deployer.config, "deploy", (char *)tag,
	    "--wait", "--timeout", (char *)timeout_s, NULL };

	snprintf(bin, sizeof(bin), "%s/homebus", hbt_bin_dir());
	HBT_REQUIRE(hbt_proc_start(cli, tag, argv) == 0, "homebus deploy %s", tag);
}

/* The broker restarts while the CLI follows a deploy: it reconnects and
 * follows the deploy to its end. */
static void
scenario_cli_broker(struct dfx *f)
{
	struct hbt_proc cli;
	struct hbt_mqtt_msg *m;
	int rc;

	start_cli(f, &cli, "v2-slow", "60");
	m = hbt_mqtt_wait(f->mqtt, "homebus/deploy/state", "\"phase\":\"pull\"",
	    DEPLOY_MS);
	HBT_REQUIRE(m != NULL, "the deploy pulls (3 s)");
	hbt_mqtt_msg_free(m);
	/* down long enough for the CLI to try again and fail */
	hbt_broker_stop(&f->broker);
	hbt_sleep_ms(2000);
	HBT_REQUIRE(hbt_broker_restart(&f->broker) == 0, "broker restarted");
	rc = hbt_proc_stop(&cli, 0, 90000);
	HBT_CHECK(rc == 0 && hbt_proc_log_has(&cli, "deploy v2-slow: done"),
	    "homebus deploy --wait: exit 0, done, across the restart: %d", rc);
}

/* A paused deployer: the CLI waits for it and follows the deploy once it
 * goes on; past --timeout it says the command may still run, and how to
 * look. */
static void
scenario_cli_paused(struct dfx *f)
{
	struct hbt_proc cli;
	struct hbt_mqtt_msg *m;
	int rc;

	HBT_REQUIRE(kill(f->deployer.proc.pid, SIGSTOP) == 0, "deployer paused");
	start_cli(f, &cli, "v2", "30");
	hbt_sleep_ms(3000);
	kill(f->deployer.proc.pid, SIGCONT);
	rc = hbt_proc_stop(&cli, 0, 90000);
	HBT_CHECK(rc == 0 && hbt_proc_log_has(&cli, "deploy v2: done"),
	    "paused for 3 s, then on: the CLI follows the deploy to done: %d", rc);

	HBT_REQUIRE(kill(f->deployer.proc.pid, SIGSTOP) == 0, "deployer paused");
	start_cli(f, &cli, "v3", "2");
	rc = hbt_proc_stop(&cli, 0, 30000);
	kill(f->deployer.proc.pid, SIGCONT);
	HBT_CHECK(rc == 3 && hbt_proc_log_has(&cli, "may still run") &&
	    hbt_proc_log_has(&cli, "homebus deploys"), "past --timeout: exit 3, "
	    "the command may still run, and where to look: %d", rc);
	m = hbt_mqtt_wait_all(f->mqtt, "homebus/deploy/state", (const char *const[]){
	    "\"to_tag\":\"v3\"", "\"phase\":\"done\"", NULL }, DEPLOY_MS);
	HBT_CHECK(m != NULL, "and it did run: v3 done");
	hbt_mqtt_msg_free(m);
}

static char tmpfs_dir[600];	/* mounted for nospace, unmounted at exit */

static void
unmount_tmpfs(void)
{
	if (tmpfs_dir[0])
		umount2(tmpfs_dir, MNT_DETACH);
	tmpfs_dir[0] = '\0';
}

/* backup_dir on a 2 MB tmpfs, so that a 4 MB SQLite file cannot fit. */
static void
small_backup_dir(void)
{
	snprintf(tmpfs_dir, sizeof(tmpfs_dir), "%s/backups", hbt_dir());
	HBT_REQUIRE(mkdir(tmpfs_dir, 0750) == 0, "mkdir %s", tmpfs_dir);
	HBT_REQUIRE(mount("tmpfs", tmpfs_dir, "tmpfs", 0, "size=2m") == 0,
	    "a 2 MB tmpfs on %s (needs root)", tmpfs_dir);
	atexit(unmount_tmpfs);
}

/* A SQLite file of about `kb` KiB of rows (0: emptied and vacuumed). */
static void
fill_sqlite(const char *path, int kb)
{
	char sql[256];
	sqlite3 *db;

	HBT_REQUIRE(sqlite3_open(path, &db) == SQLITE_OK, "open %s", path);
	snprintf(sql, sizeof(sql), "CREATE TABLE IF NOT EXISTS t (b BLOB);"
	    "DELETE FROM t; WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 "
	    "FROM n WHERE i < %d) INSERT INTO t SELECT randomblob(1000) FROM n "
	    "WHERE %d > 0; VACUUM;", kb > 0 ? kb : 1, kb);
	HBT_REQUIRE(sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK,
	    "rows in %s: %s", path, sqlite3_errmsg(db));
	sqlite3_close(db);
}

/* The entries of dir, space-separated ("" when empty). */
static void
folders(const char *dir, char *out, size_t outlen)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	size_t len = 0;

	out[0] = '\0';
	HBT_REQUIRE(d != NULL, "opendir %s", dir);
	while ((e = readdir(d)) != NULL && len < outlen)
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
			len += (size_t)snprintf(out + len, outlen - len, "%s ",
			    e->d_name);
	closedir(d);
}

/* A backup that fails leaves no folder behind: the next deploy has the
 * space it had; an incomplete folder is listed as such, and one a killed
 * deployer left is gone at its next start. */
static void
scenario_nospace(struct dfx *f, const char *big)
{
	char bin[700], list[1024], partial[800];
	char *backups[] = { bin, "-c", f->deployer.config, "backups", NULL };
	struct hb_buf out = { 0 };
	json_t *s;
	int rc;

	dfx_deploy(f, "n1", "v2");
	s = dfx_wait_state(f, "n1", "failed", DEPLOY_MS);
	HBT_CHECK(s && strcmp(dfx_str(s, "step"), "backup") == 0, "4 MB cannot "
	    "go into 2 MB: failed in backup: %s", s ? dfx_str(s, "error") : "-");
	HBT_CHECK(s && dfx_str(s, "backup")[0] == '\0', "the state names no "
	    "backup: %s", s ? dfx_str(s, "backup") : "-");
	json_decref(s);
	folders(f->backups, list, sizeof(list));
	HBT_CHECK(list[0] == '\0', "the failed backup's folder is gone: %s", list);

	/* a backup being written (or one a killed deployer left) */
	snprintf(partial, sizeof(partial), "%s/20200101T000000Z-v0", f->backups);
	HBT_REQUIRE(mkdir(partial, 0750) == 0, "mkdir %s", partial);
	snprintf(bin, sizeof(bin), "%s/homebus", hbt_bin_dir());
	rc = hbt_run(backups, &out, 20000);
	HBT_CHECK(rc == 0 && out.data && strstr(out.data, "20200101T000000Z-v0") &&
	    strstr(out.data, "INCOMPLETE"), "homebus backups says the folder "
	    "without a manifest is incomplete: %d %s", rc, out.data ? out.data : "");
	hb_buf_free(&out);
	HBT_CHECK(hbt_proc_stop(&f->deployer.proc, SIGKILL, 5000) >= 0, "killed");
	dfx_restart_deployer(f);
	HBT_CHECK(access(partial, F_OK) != 0, "the incomplete folder is removed "
	    "at the next start");

	/* the file fits now: the next deploy is not refused for space */
	fill_sqlite(big, 0);
	dfx_deploy(f, "n2", "v2");
	s = dfx_wait_state(f, "n2", NULL, DEPLOY_MS);
	json_decref(s);
	s = dfx_wait_state(f, "n2", "done", DEPLOY_MS);
	HBT_CHECK(s != NULL, "the next deploy is done (not failed in preflight)");
	json_decref(s);
}

int
main(int argc, char **argv)
{
	struct dfx f;
	const char *sc = argc > 1 ? argv[1] : "sigkill";
	char name[64], big[700], extra[900];

	snprintf(name, sizeof(name), "deployer_%s", sc);
	hbt_init(name);
	snprintf(big, sizeof(big), "%s/big.db", hbt_dir());
	if (strcmp(sc, "nospace") == 0) {
		small_backup_dir();
		fill_sqlite(big, 4100);
		snprintf(extra, sizeof(extra), "{\"sqlite_backups\": [\"%s\"]}", big);
		dfx_setup(&f, extra, NULL, false);
	} else {
		/* a verify that lasts long enough to be killed in */
		dfx_setup(&f, NULL, strcmp(sc, "sigkill") == 0 ?
		    "{\"stable_s\": 8, \"timeout_s\": 20}" : NULL, false);
	}
	if (strcmp(sc, "sigkill") == 0)
		scenario_sigkill(&f);
	else if (strcmp(sc, "sigterm") == 0)
		scenario_sigterm(&f);
	else if (strcmp(sc, "broker") == 0)
		scenario_broker(&f);
	else if (strcmp(sc, "nospace") == 0)
		scenario_nospace(&f, big);
	else if (strcmp(sc, "orphan") == 0)
		scenario_orphan(&f);
	else if (strcmp(sc, "cli_broker") == 0)
		scenario_cli_broker(&f);
	else if (strcmp(sc, "cli_paused") == 0)
		scenario_cli_paused(&f);
	else
		HBT_CHECK(false, "unknown scenario %s", sc);
	HBT_CHECK(hbt_proc_alive(&f.deployer.proc), "the deployer runs");
	dfx_teardown(&f);
	unmount_tmpfs();
	hbt_exit();
}
