/*
 * deployer_fx: the stage for the deployer's tests (see deployer_fx.h).
 */
#include "deployer_fx.h"
#include "hb_util.h"

#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define FAKES HBT_SOURCE_DIR "/tests/fakes"

static struct dfx *current;	/* for the exit hook: nothing outlives a test */

/* A homebus-ingest config for the fake: on the broker (or a dead port). */
static void
write_ingest_config(struct dfx *f, const char *name, int port)
{
	char path[700], text[1024];

	snprintf(path, sizeof(path), "%s/%s", f->docker_dir, name);
	snprintf(text, sizeof(text),
	    "{\"data_dir\": \"%s/ingest-data\",\n"
	    " \"log\": {\"format\": \"text\"},\n"
	    " \"bus\": {\"port\": %d, \"client_id\": \"ingest\", \"instance\": \"hub\",\n"
	    "         \"reconnect_min_ms\": 100, \"reconnect_max_ms\": 1000,\n"
	    "         \"heartbeat_s\": 1},\n"
	    " \"ingest\": {\"http_port\": -1}}\n", f->docker_dir, port);
	hbt_write_file(path, text);
}

/* A SQLite file in WAL mode with rows in it, as a live service keeps one. */
static void
make_app_db(struct dfx *f)
{
	sqlite3 *db;

	snprintf(f->app_db, sizeof(f->app_db), "%s/app.db", hbt_dir());
	HBT_REQUIRE(sqlite3_open(f->app_db, &db) == SQLITE_OK, "app.db");
	HBT_REQUIRE(sqlite3_exec(db, "PRAGMA journal_mode=WAL;"
	    "CREATE TABLE readings (id INTEGER PRIMARY KEY, v REAL);"
	    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n "
	    "WHERE i < 5000) INSERT INTO readings (v) SELECT i * 0.5 FROM n;",
	    NULL, NULL, NULL) == SQLITE_OK, "rows in app.db");
	sqlite3_close(db);
}

/* Runs the fake docker as the stack's owner would have: v1 up. */
static void
first_up(struct dfx *f)
{
	char bin[700], compose[700];
	char *argv[] = { bin, "compose", "-f", compose, "up", "-d", "ingest", NULL };
	struct hb_buf out = { 0 };

	snprintf(bin, sizeof(bin), "%s/docker", FAKES);
	snprintf(compose, sizeof(compose), "%s/compose.yml", f->docker_dir);
	setenv("IMAGE_TAG", "v1", 1);
	HBT_REQUIRE(hbt_run(argv, &out, 10000) == 0, "the fake starts v1: %s",
	    out.data ? out.data : "");
	unsetenv("IMAGE_TAG");
	hb_buf_free(&out);
	dfx_clear_calls(f);
}

static void
kill_fake_services(void)
{
	char path[700], *pid;

	if (current == NULL)
		return;
	snprintf(path, sizeof(path), "%s/ingest.pid", current->docker_dir);
	pid = hb_read_file(path, 64, NULL);
	if (pid) {
		long p = strtol(pid, NULL, 10);

		/* timeout(1) passes TERM on; the group goes with KILL */
		if (p > 1) {
			kill((pid_t)p, SIGTERM);
			hbt_sleep_ms(300);
			kill(-(pid_t)p, SIGKILL);
		}
		free(pid);
	}
	snprintf(path, sizeof(path), "%s/up.pid", current->docker_dir);
	pid = hb_read_file(path, 64, NULL);
	if (pid) {
		long p = strtol(pid, NULL, 10);

		if (p > 1)
			kill(-(pid_t)p, SIGKILL);
		free(pid);
	}
	snprintf(path, sizeof(path), "%s/hang.pids", current->docker_dir);
	pid = hb_read_file(path, 64, NULL);
	if (pid) {
		char *end;
		long a = strtol(pid, &end, 10), b = strtol(end, NULL, 10);

		if (a > 1)
			kill((pid_t)a, SIGKILL);
		if (b > 1)
			kill((pid_t)b, SIGKILL);
		free(pid);
	}
}

/* The environment the deployer (and so the fake) inherits. */
static void
set_env(struct dfx *f)
{
	char path[4096];
	const char *old = getenv("PATH");

	HBT_REQUIRE(access(FAKES "/docker", X_OK) == 0, "the fake docker is "
	    "executable: %s", FAKES "/docker");
	snprintf(path, sizeof(path), "%s:%s", FAKES, old ? old : "/usr/bin:/bin");
	setenv("PATH", path, 1);
	setenv("FAKE_DOCKER_LOG", f->calls, 1);
	setenv("FAKE_DOCKER_DIR", f->docker_dir, 1);
	setenv("FAKE_DOCKER_BIN", hbt_bin_dir(), 1);
	setenv("FAKE_DOCKER_SERVICES", "ingest", 1);
}

static void
deployer_config(struct dfx *f, const char *deployer_extra,
    const char *verify_extra)
{
	json_t *d, *extra, *root;
	char *text;

	d = json_pack("{s:i,s:s,s:s,s:s,s:[s],s:s,s:i,s:i,s:[s],s:i,s:{s:{s:[sssssssss],"
	    "s:i},s:{s:i},s:{s:[sssssssss],s:i},s:{s:i}},s:{s:[s],s:i,s:i,s:i}}",
	    "http_port", f->dport,
	    "compose_file", "compose.yml",
	    "workdir", f->docker_dir,
	    "initial_tag", "v1",
	    "services", "ingest",
	    "backup_dir", f->backups,
	    "keep_backups", 3,
	    "min_free_mb", 1,
	    "sqlite_backups", f->app_db,
	    "kill_grace_s", 1,
	    "steps",
	    "backup", "argv", "docker", "compose", "-f", "{compose_file}", "run",
	    "--rm", "volman", "backup", "{backup_dir}", "timeout_s", 10,
	    "pull", "timeout_s", 10,
	    "restore", "argv", "docker", "compose", "-f", "{compose_file}", "run",
	    "--rm", "volman", "restore", "{backup_dir}", "timeout_s", 10,
	    "up", "timeout_s", 10,
	    "verify", "targets", "ingest", "timeout_s", 12, "stable_s", 2,
	    "interval_s", 1);
	HBT_REQUIRE(d != NULL, "deployer config");
	if (deployer_extra) {
		extra = json_loads(deployer_extra, 0, NULL);
		HBT_REQUIRE(json_is_object(extra), "deployer_extra is JSON: %s",
		    deployer_extra);
		json_object_update_recursive(d, extra);
		json_decref(extra);
	}
	if (verify_extra) {
		extra = json_loads(verify_extra, 0, NULL);
		HBT_REQUIRE(json_is_object(extra), "verify_extra is JSON");
		json_object_update(json_object_get(d, "verify"), extra);
		json_decref(extra);
	}
	root = json_pack("{s:s,s:{s:s,s:s},s:{s:i,s:s,s:s,s:i,s:i,s:i},s:o}",
	    "data_dir", f->journal,
	    "log", "format", "text", "level", "info",
	    "bus", "port", f->broker.port, "client_id", "deployer", "instance", "hub",
	    "reconnect_min_ms", 100, "reconnect_max_ms", 1000, "heartbeat_s", 1,
	    "deployer", d);
	text = json_dumps(root, JSON_INDENT(1));
	hb_buf_reset(&f->cfg);
	hb_buf_puts(&f->cfg, text);
	free(text);
	json_decref(root);
}

/*
 * On the bus and subscribed: a status command is answered. (On its very
 * first connect the deployer has no session at the broker yet, so a
 * command sent before it subscribed would be lost.)
 */
static void
wait_ready(struct dfx *f)
{
	static const char status[] = "{\"id\":\"ready\",\"action\":\"status\"}";
	struct hbt_mqtt_msg *m = NULL;

	HBT_REQUIRE(HBT_WAIT(hbt_metric(f->dport, "homebus_deployer_bus_connected")
	    == 1 || !hbt_proc_alive(&f->deployer.proc), 15000) &&
	    hbt_proc_alive(&f->deployer.proc), "the deployer is on the bus");
	for (int i = 0; i < 40 && m == NULL; i++) {
		hbt_mqtt_publish(f->mqtt, "homebus/deploy/command", status,
		    sizeof(status) - 1, 1, false);
		m = hbt_mqtt_wait(f->mqtt, "homebus/deploy/state", "\"action\":"
		    "\"status\"", 500);
	}
	HBT_REQUIRE(m != NULL, "the deployer answers commands");
	hbt_mqtt_msg_free(m);
}

static void
start_deployer(struct dfx *f, bool dry_run)
{
	char bin[700];
	char *argv[] = { bin, "-c", f->deployer.config, dry_run ? "--dry-run" : NULL,
	    NULL };

	snprintf(bin, sizeof(bin), "%s/homebus-deployer", hbt_bin_dir());
	snprintf(f->deployer.config, sizeof(f->deployer.config), "%s/deployer.json",
	    hbt_dir());
	hbt_write_file(f->deployer.config, f->cfg.data);
	f->deployer.http_port = f->dport;
	HBT_REQUIRE(hbt_proc_start(&f->deployer.proc, "deployer", argv) == 0,
	    "deployer started");
	wait_ready(f);
}

void
dfx_setup(struct dfx *f, const char *deployer_extra, const char *verify_extra,
    bool dry_run)
{
	struct hbt_mqtt_msg *m;

	memset(f, 0, sizeof(*f));
	current = f;
	atexit(kill_fake_services);
	snprintf(f->docker_dir, sizeof(f->docker_dir), "%s/docker", hbt_dir());
	snprintf(f->calls, sizeof(f->calls), "%s/calls.log", f->docker_dir);
	snprintf(f->backups, sizeof(f->backups), "%s/backups", hbt_dir());
	snprintf(f->journal, sizeof(f->journal), "%s/deployer", hbt_dir());
	HBT_REQUIRE(hb_mkdirs(f->docker_dir) == 0, "fake docker dir");
	HBT_REQUIRE(hbt_broker_start(&f->broker, NULL) == 0, "mosquitto");
	f->mqtt = hbt_mqtt_connect(f->broker.port, "test-watch");
	HBT_REQUIRE(f->mqtt != NULL, "test client");
	hbt_mqtt_subscribe(f->mqtt, "homebus/deploy/#", 1);
	hbt_mqtt_subscribe(f->mqtt, "homebus/notify/#", 1);
	hbt_mqtt_subscribe(f->mqtt, "homebus/points/#", 1);
	hbt_mqtt_subscribe(f->mqtt, "homebus/health/#", 1);
	hbt_mqtt_subscribe(f->mqtt, "homeassistant/#", 1);
	make_app_db(f);
	write_ingest_config(f, "ingest.json", f->broker.port);
	/* "bad" versions never reach the broker: they never heartbeat */
	write_ingest_config(f, "ingest-bad.json", hbt_free_port());
	set_env(f);
	first_up(f);

	f->hport = hbt_free_port();
	hbt_health_config(&f->cfg, "health", f->broker.port, "hub", f->hport,
	    "\"interval_s\": 1, \"heartbeat_timeout_s\": 3, \"fail_after\": 1, "
	    "\"recover_after\": 1, \"expected_services\": [\"ingest\"], "
	    "\"homeassistant\": {\"discovery\": false}");
	HBT_REQUIRE(hbt_service_start(&f->health, "health", "health", f->cfg.data,
	    f->hport) == 0, "health");
	m = hbt_mqtt_wait_all(f->mqtt, "homebus/health/ingest",
	    (const char *const[]){ "\"state\":\"ok\"", "\"started\"", NULL }, 20000);
	HBT_REQUIRE(m != NULL, "v1's ingest is ok before the deployer starts");
	hbt_mqtt_msg_free(m);

	f->dport = hbt_free_port();
	deployer_config(f, deployer_extra, verify_extra);
	start_deployer(f, dry_run);
}

void
dfx_restart_deployer(struct dfx *f)
{
	HBT_REQUIRE(hbt_proc_restart(&f->deployer.proc) == 0, "deployer restarted");
	HBT_REQUIRE(HBT_WAIT(hbt_metric(f->dport, "homebus_deployer_bus_connected")
	    == 1, 15000), "the deployer is on the bus again");
}

void
dfx_teardown(struct dfx *f)
{
	kill_fake_services();
	hbt_mqtt_close(f->mqtt);
	hb_buf_free(&f->cfg);
	current = NULL;
}

void
dfx_command(struct dfx *f, const char *json)
{
	HBT_CHECK(hbt_mqtt_publish(f->mqtt, "homebus/deploy/command", json,
	    strlen(json), 1, false) == 0, "publish %s", json);
}

void
dfx_deploy(struct dfx *f, const char *id, const char *tag)
{
	json_t *o = json_pack("{s:s,s:s,s:s,s:s}", "id", id, "action", "deploy",
	    "tag", tag, "requested_by", "test");
	char *s = json_dumps(o, JSON_COMPACT);

	dfx_command(f, s);
	free(s);
	json_decref(o);
}

const char *
dfx_str(json_t *o, const char *key)
{
	return hbt_json_str(o, key);
}

json_t *
dfx_wait_state(struct dfx *f, const char *id, const char *phase,
    int64_t timeout_ms)
{
	return hbt_deploy_state(f->mqtt, id, phase, timeout_ms);
}

void
dfx_phases(struct dfx *f, const char *id, char *out, size_t outlen)
{
	hbt_deploy_phases(f->mqtt, id, out, outlen);
}

char *
dfx_calls(struct dfx *f)
{
	char *t = hb_read_file(f->calls, 1 << 20, NULL);

	return t ? t : hb_xstrdup("");
}

size_t
dfx_count_calls(struct dfx *f, const char *a, const char *b)
{
	char *t = dfx_calls(f), *line = t;
	size_t n = 0;

	while (line && *line) {
		char *nl = strchr(line, '\n');

		if (nl)
			*nl = '\0';
		if ((a == NULL || strstr(line, a)) && (b == NULL || strstr(line, b)))
			n++;
		line = nl ? nl + 1 : NULL;
	}
	free(t);
	return n;
}

void
dfx_clear_calls(struct dfx *f)
{
	hbt_write_file(f->calls, "");
}

void
dfx_ingest_tag(struct dfx *f, char *out, size_t outlen)
{
	char path[700], *t;

	snprintf(path, sizeof(path), "%s/ingest.tag", f->docker_dir);
	t = hb_read_file(path, 256, NULL);
	snprintf(out, outlen, "%.*s", t ? (int)strcspn(t, "\n") : 0, t ? t : "");
	free(t);
}

long
dfx_ingest_pid(struct dfx *f)
{
	char path[700], *t;
	long pid = 0;

	snprintf(path, sizeof(path), "%s/ingest.pid", f->docker_dir);
	if ((t = hb_read_file(path, 64, NULL)) != NULL) {
		pid = strtol(t, NULL, 10);
		free(t);
	}
	return pid;
}

json_t *
dfx_deploys(struct dfx *f)
{
	struct hb_buf body = { 0 };
	char url[128];
	json_t *o = NULL;

	snprintf(url, sizeof(url), "http://127.0.0.1:%d/deploys", f->dport);
	if (hbt_http("GET", url, NULL, &body) == 200 && body.data)
		o = json_loads(body.data, 0, NULL);
	hb_buf_free(&body);
	return o;
}
