/*
 * The deployer's native profile (deploy/deployer-native.json) end to end:
 * the real homebus-deployer with the profile's steps as shipped
 * (deploy/homebus-release) on a release tree in a temp folder, systemctl
 * replaced by tests/fakes/systemctl, which runs the units' ExecStart from
 * deploy/systemd/ and waits for READY=1; a real mosquitto and the real
 * homebus-health watching the ingest the units run. Releases are made with
 * `homebus-release pack` from the build: v1 and v2 good, v3-bad an ingest
 * that starts but never reaches the broker.
 *
 *   test_native_deploy good       v1 -> v2 done, the deployer restarts
 *                                 itself into v2 after; rollback -> v1
 *   test_native_deploy bad        a tag without a release: failed, nothing
 *                                 touched; v3-bad: rolled back, link back
 *   test_native_deploy killed     the deployer killed in verify and started
 *                                 again: it rolls the job back, then
 *                                 restarts itself into the old release
 *   test_native_deploy dashboard INFLUX_URL
 *                                 one deploy, its homebus_deploy point
 *                                 written by a real writer into that
 *                                 InfluxDB (database homebus), for
 *                                 test_dashboard
 */
#include "hbt.h"
#include "hb_util.h"

#include <curl/curl.h>
#include <dirent.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define FAKES HBT_SOURCE_DIR "/tests/fakes"
#define RELEASE_TOOL HBT_SOURCE_DIR "/deploy/homebus-release"
#define DEPLOY_MS 60000		/* a deploy of a good tag, generously */
#define ROLLBACK_MS 90000	/* a verify that times out, then a rollback */

struct nat {
	struct hbt_broker broker;
	struct hbt_influx influx;	/* what the profile backs up */
	struct hbt_service health;
	struct hbt_service writer;
	struct hbt_mqtt *mqtt;
	int hport, dport;
	char root[600];		/* /opt/homebus */
	char etc[600];		/* /etc/homebus */
	char config[700];	/* /etc/homebus/homebus.json */
	char units[600];	/* the unit files */
	char state[600];	/* the stand-in's state */
	char calls[700];	/* the stand-in's log of calls */
};

static struct nat *current;	/* for the exit hook: nothing outlives a test */

/* ---------------- files ---------------- */

/* text with every `from` replaced by `to` (free it). */
static char *
replace_all(const char *text, const char *from, const char *to)
{
	struct hb_buf b = { 0 };
	size_t fl = strlen(from);

	for (const char *p = text, *hit; *p; p = hit + fl) {
		hit = strstr(p, from);
		if (hit == NULL) {
			hb_buf_puts(&b, p);
			break;
		}
		hb_buf_append(&b, p, (size_t)(hit - p));
		hb_buf_puts(&b, to);
	}
	return b.data ? hb_buf_steal(&b) : hb_xstrdup("");
}

/*
 * A shipped file with its paths moved into the temp tree, as install.sh
 * does for --prefix: /opt/homebus and /etc/homebus. Free it.
 */
static char *
shipped(struct nat *f, const char *rel)
{
	char path[700], *text, *a, *b;

	snprintf(path, sizeof(path), "%s/%s", HBT_SOURCE_DIR, rel);
	text = hb_read_file(path, 1 << 20, NULL);
	HBT_REQUIRE(text != NULL, "read %s", path);
	a = replace_all(text, "/opt/homebus", f->root);
	b = replace_all(a, "/etc/homebus", f->etc);
	free(text);
	free(a);
	return b;
}

static void
run_ok(char *const argv[], const char *what)
{
	struct hb_buf out = { 0 };

	HBT_REQUIRE(hbt_run(argv, &out, 120000) == 0, "%s: %s", what,
	    out.data ? out.data : "");
	hb_buf_free(&out);
}

/* Where ROOT/current points ("releases/v2"), "" if nowhere. */
static void
current_link(struct nat *f, char *out, size_t outlen)
{
	char path[700];
	ssize_t n;

	snprintf(path, sizeof(path), "%s/current", f->root);
	n = readlink(path, out, outlen - 1);
	out[n > 0 ? n : 0] = '\0';
}

static long
read_pid(struct nat *f, const char *unit, const char *what)
{
	char path[800], *t;
	long pid = 0;

	snprintf(path, sizeof(path), "%s/%s.%s", f->state, unit, what);
	if ((t = hb_read_file(path, 64, NULL)) != NULL) {
		pid = strtol(t, NULL, 10);
		free(t);
	}
	return pid;
}

/* The executable a process runs ("" when gone). */
static void
exe_of(long pid, char *out, size_t outlen)
{
	char path[64];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%ld/exe", pid);
	n = pid > 0 ? readlink(path, out, outlen - 1) : -1;
	out[n > 0 ? n : 0] = '\0';
}

/* Does the unit's service run the binary of release tag? */
static bool
runs_release(struct nat *f, const char *unit, const char *service,
    const char *tag, char *exe, size_t exelen)
{
	char want[800];

	exe_of(read_pid(f, unit, "mainpid"), exe, exelen);
	snprintf(want, sizeof(want), "%s/releases/%s/bin/homebus-%s", f->root, tag,
	    service);
	return strcmp(exe, want) == 0;
}

static void
kill_units(void)
{
	static const char *const units[] = { "homebus-deployer.service",
	    "homebus-ingest.service" };

	if (current == NULL)
		return;
	for (size_t i = 0; i < HB_ARRAY_LEN(units); i++) {
		long pid = read_pid(current, units[i], "pid");

		/* timeout(1) passes TERM on; the group goes with KILL */
		if (pid > 1) {
			kill((pid_t)pid, SIGTERM);
			hbt_sleep_ms(300);
			kill(-(pid_t)pid, SIGKILL);
		}
	}
}

/* Is a `homebus-release wait-restart` for this tree still waiting? */
static bool
waiter_running(struct nat *f)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	bool found = false;

	while (d && (e = readdir(d)) != NULL && !found) {
		char path[300], buf[2048];
		FILE *fp;
		size_t n;

		if (e->d_name[0] < '1' || e->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/cmdline", e->d_name);
		if ((fp = fopen(path, "r")) == NULL)
			continue;
		n = fread(buf, 1, sizeof(buf) - 1, fp);
		fclose(fp);
		for (size_t i = 0; i < n; i++)
			if (buf[i] == '\0')
				buf[i] = ' ';
		buf[n] = '\0';
		found = strstr(buf, "wait-restart") && strstr(buf, f->root);
	}
	if (d)
		closedir(d);
	return found;
}

/* ---------------- the stand-in's log ---------------- */

static char *
calls(struct nat *f)
{
	char *t = hb_read_file(f->calls, 1 << 20, NULL);

	return t ? t : hb_xstrdup("");
}

/*
 * The lines of the log that contain needle, in order, with the epoch ms of
 * each; how many.
 */
static size_t
calls_with(struct nat *f, const char *needle, char lines[][256],
    int64_t *ms, size_t max)
{
	char *t = calls(f), *line = t;
	size_t n = 0;

	while (line && *line) {
		char *nl = strchr(line, '\n');

		if (nl)
			*nl = '\0';
		if (strstr(line, needle)) {
			if (n < max) {
				if (lines)
					snprintf(lines[n], 256, "%s", line);
				if (ms)
					ms[n] = strtoll(line, NULL, 10);
			}
			n++;
		}
		line = nl ? nl + 1 : NULL;
	}
	free(t);
	return n;
}

static void
clear_calls(struct nat *f)
{
	hbt_write_file(f->calls, "");
}

/* ---------------- the stage ---------------- */

static void
make_releases(struct nat *f)
{
	char tool[] = RELEASE_TOOL, dist[700], bad[700], wrapper[900], text[1200];
	char *v1[] = { "/bin/bash", tool, "pack", (char *)hbt_bin_dir(), "v1", dist, NULL };
	char *v2[] = { "/bin/bash", tool, "pack", (char *)hbt_bin_dir(), "v2", dist, NULL };
	char *v3[] = { "/bin/bash", tool, "pack", bad, "v3-bad", dist, NULL };
	static const char *const bins[] = { "homebus", "homebus-writer",
	    "homebus-health", "homebus-notifier", "homebus-deployer" };

	snprintf(dist, sizeof(dist), "%s/dist", f->root);
	run_ok(v1, "pack v1");
	run_ok(v2, "pack v2");
	/* v3-bad: its ingest starts and says READY, but never reaches the
	 * broker, so it never heartbeats */
	snprintf(bad, sizeof(bad), "%s/bad-bin", hbt_dir());
	HBT_REQUIRE(hb_mkdirs(bad) == 0, "%s", bad);
	for (size_t i = 0; i < HB_ARRAY_LEN(bins); i++) {
		char from[700], to[900];

		snprintf(from, sizeof(from), "%s/%s", hbt_bin_dir(), bins[i]);
		snprintf(to, sizeof(to), "%s/%s", bad, bins[i]);
		HBT_REQUIRE(symlink(from, to) == 0, "link %s", to);
	}
	snprintf(wrapper, sizeof(wrapper), "%s/homebus-ingest", bad);
	snprintf(text, sizeof(text), "#!/bin/sh\n# a release whose ingest cannot "
	    "reach the broker\nHOMEBUS_BUS_PORT=%d exec %s/homebus-ingest \"$@\"\n",
	    hbt_free_port(), hbt_bin_dir());
	hbt_write_file(wrapper, text);
	HBT_REQUIRE(chmod(wrapper, 0755) == 0, "chmod %s", wrapper);
	run_ok(v3, "pack v3-bad");
}

/* The configuration: the native profile as shipped, made quick. */
static void
write_config(struct nat *f, const char *data)
{
	char *profile = shipped(f, "deploy/deployer-native.json"), *text;
	json_t *p = json_loads(profile, 0, NULL), *d, *quick, *root;

	HBT_REQUIRE(json_is_object(json_object_get(p, "deployer")),
	    "deploy/deployer-native.json has a deployer section");
	d = json_deep_copy(json_object_get(p, "deployer"));
	quick = json_pack("{s:i,s:s,s:[s],s:s,s:i,s:[],s:i,s:{s:[s],s:i,s:i,s:i}}",
	    "http_port", f->dport,
	    "initial_tag", "v1",
	    "services", "ingest",
	    "backup_dir", "backups",
	    "min_free_mb", 1,
	    "sqlite_backups",
	    "kill_grace_s", 1,
	    "verify", "targets", "ingest", "timeout_s", 15, "stable_s", 2,
	    "interval_s", 1);
	json_object_update_recursive(d, quick);
	root = json_pack("{s:s,s:{s:s},s:{s:i,s:s,s:i,s:i,s:i},s:{s:i},s:o}",
	    "data_dir", data,
	    "log", "format", "text",
	    "bus", "port", f->broker.port, "instance", "hub", "heartbeat_s", 1,
	    "reconnect_min_ms", 100, "reconnect_max_ms", 1000,
	    "ingest", "http_port", -1,
	    "deployer", d);
	text = json_dumps(root, JSON_INDENT(1));
	hbt_write_file(f->config, text);
	free(text);
	free(profile);
	json_decref(quick);
	json_decref(root);
	json_decref(p);
}

static void
write_unit(struct nat *f, const char *service)
{
	char rel[128], path[800], *text;

	snprintf(rel, sizeof(rel), "deploy/systemd/homebus-%s.service", service);
	text = shipped(f, rel);
	snprintf(path, sizeof(path), "%s/homebus-%s.service", f->units, service);
	hbt_write_file(path, text);
	free(text);
	snprintf(path, sizeof(path), "%s/secrets/%s.password", f->etc, service);
	hbt_write_file(path, "unused: the test broker takes anyone\n");
}

/* The environment the deployer and its steps inherit. */
static void
set_env(struct nat *f)
{
	char path[4096], port[16];
	const char *old = getenv("PATH");

	HBT_REQUIRE(access(FAKES "/systemctl", X_OK) == 0 &&
	    access(RELEASE_TOOL, X_OK) == 0, "the stand-in and homebus-release "
	    "are executable");
	snprintf(path, sizeof(path), "%s:%s", FAKES, old ? old : "/usr/bin:/bin");
	setenv("PATH", path, 1);
	/* the backup step's homebus-influx, to this test's influxd */
	snprintf(port, sizeof(port), "%d", f->influx.port);
	setenv("HOMEBUS_INFLUX_PORT", port, 1);
	snprintf(path, sizeof(path), "127.0.0.1:%d", f->influx.rpc_port);
	setenv("HOMEBUS_INFLUX_RPC", path, 1);
	setenv("FAKE_SYSTEMCTL_LOG", f->calls, 1);
	setenv("FAKE_SYSTEMCTL_DIR", f->state, 1);
	setenv("FAKE_SYSTEMCTL_UNITS", f->units, 1);
	setenv("FAKE_SYSTEMCTL_ROOT", f->root, 1);
	/* the deployer's port, for it and for homebus-release's waiter */
	snprintf(port, sizeof(port), "%d", f->dport);
	setenv("HOMEBUS_DEPLOYER_HTTP_PORT", port, 1);
}

static void
systemctl(const char *verb, const char *unit)
{
	char bin[] = FAKES "/systemctl";
	char *argv[] = { bin, (char *)verb, (char *)unit, NULL };

	run_ok(argv, verb);
}

/* The deployer answers commands (it is subscribed). */
static void
wait_deployer(struct nat *f)
{
	static const char status[] = "{\"id\":\"ready\",\"action\":\"status\"}";
	struct hbt_mqtt_msg *m = NULL;

	HBT_REQUIRE(HBT_WAIT(hbt_metric(f->dport, "homebus_deployer_bus_connected")
	    == 1, 20000), "the deployer is on the bus");
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
setup(struct nat *f)
{
	char tool[800], data[700];
	struct hb_buf cfg = { 0 };
	struct hbt_mqtt_msg *m;

	memset(f, 0, sizeof(*f));
	current = f;
	atexit(kill_units);
	snprintf(f->root, sizeof(f->root), "%s/opt", hbt_dir());
	snprintf(f->etc, sizeof(f->etc), "%s/etc", hbt_dir());
	snprintf(f->config, sizeof(f->config), "%s/homebus.json", f->etc);
	snprintf(f->units, sizeof(f->units), "%s/units", hbt_dir());
	snprintf(f->state, sizeof(f->state), "%s/systemctl", hbt_dir());
	snprintf(f->calls, sizeof(f->calls), "%s/calls.log", f->state);
	snprintf(data, sizeof(data), "%s/data", hbt_dir());
	snprintf(tool, sizeof(tool), "%s/libexec/homebus-release", f->root);
	HBT_REQUIRE(hb_mkdirs(f->units) == 0 && hb_mkdirs(f->state) == 0 &&
	    hb_mkdirs(data) == 0, "folders");
	{
		char secrets[700];

		snprintf(secrets, sizeof(secrets), "%s/secrets", f->etc);
		HBT_REQUIRE(hb_mkdirs(secrets) == 0, "%s", secrets);
	}
	HBT_REQUIRE(hbt_broker_start(&f->broker, NULL) == 0, "mosquitto");
	f->mqtt = hbt_mqtt_connect(f->broker.port, "test-watch");
	HBT_REQUIRE(f->mqtt != NULL, "test client");
	hbt_mqtt_subscribe(f->mqtt, "homebus/deploy/#", 1);
	hbt_mqtt_subscribe(f->mqtt, "homebus/notify/#", 1);
	hbt_mqtt_subscribe(f->mqtt, "homebus/points/#", 1);
	hbt_mqtt_subscribe(f->mqtt, "homebus/health/#", 1);

	HBT_REQUIRE(hbt_influx_start(&f->influx, NULL) == 0, "influxd");
	json_decref(hbt_influx_query(&f->influx, NULL, "CREATE DATABASE homebus"));
	/* the tree install.sh makes: the profile's tools in libexec/ */
	{
		char *argv[] = { "/usr/bin/install", "-D", "-m", "0755", RELEASE_TOOL, tool,
		    NULL };
		char influx[700];
		char *argv2[] = { "/usr/bin/install", "-D", "-m", "0755",
		    HBT_SOURCE_DIR "/deploy/homebus-influx", influx, NULL };

		run_ok(argv, "install homebus-release");
		snprintf(influx, sizeof(influx), "%s/libexec/homebus-influx", f->root);
		run_ok(argv2, "install homebus-influx");
	}
	make_releases(f);
	f->dport = hbt_free_port();
	write_config(f, data);
	write_unit(f, "ingest");
	write_unit(f, "deployer");
	set_env(f);

	/* v1, installed by hand the way the deployer will: fetch, switch */
	{
		char *fetch[] = { tool, "fetch", f->root, "v1", f->config, NULL };
		char *sw[] = { tool, "switch", f->root, "v1", "ingest", NULL };

		run_ok(fetch, "fetch v1");
		run_ok(sw, "switch to v1");
	}

	f->hport = hbt_free_port();
	hbt_health_config(&cfg, "health", f->broker.port, "hub", f->hport,
	    "\"interval_s\": 1, \"heartbeat_timeout_s\": 3, \"fail_after\": 1, "
	    "\"recover_after\": 1, \"expected_services\": [\"ingest\"], "
	    "\"homeassistant\": {\"discovery\": false}");
	HBT_REQUIRE(hbt_service_start(&f->health, "health", "health", cfg.data,
	    f->hport) == 0, "health");
	hb_buf_free(&cfg);
	m = hbt_mqtt_wait_all(f->mqtt, "homebus/health/ingest",
	    (const char *const[]){ "\"state\":\"ok\"", "\"started\"", NULL }, 20000);
	HBT_REQUIRE(m != NULL, "v1's ingest, started by its unit, is ok");
	hbt_mqtt_msg_free(m);

	systemctl("start", "homebus-deployer.service");
	wait_deployer(f);
	clear_calls(f);
}

static void
teardown(struct nat *f)
{
	kill_units();
	hbt_mqtt_close(f->mqtt);
	hbt_influx_kill(&f->influx);
	current = NULL;
}

/* ---------------- deploys ---------------- */

static void
command(struct nat *f, const char *id, const char *action, const char *tag)
{
	json_t *o = json_pack("{s:s,s:s,s:s}", "id", id, "action", action,
	    "requested_by", "test");
	char *s;

	if (tag)
		json_object_set_new(o, "tag", json_string(tag));
	s = json_dumps(o, JSON_COMPACT);
	HBT_CHECK(hbt_mqtt_publish(f->mqtt, "homebus/deploy/command", s, strlen(s),
	    1, false) == 0, "publish %s", s);
	free(s);
	json_decref(o);
}

/* The final state of job id: phase, checked; parsed (decref it) or NULL. */
static json_t *
outcome(struct nat *f, const char *id, const char *phase, int64_t ms)
{
	json_t *o = hbt_deploy_state(f->mqtt, id, phase, ms);

	HBT_CHECK(o != NULL, "job %s ends %s", id, phase);
	return o;
}

/* ISO 8601 UTC with milliseconds to epoch ms (0 if not one). */
static int64_t
iso_ms(const char *s)
{
	struct tm tm;
	int ms = 0;
	char *rest;

	memset(&tm, 0, sizeof(tm));
	rest = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
	if (rest == NULL)
		return 0;
	if (*rest == '.')
		ms = (int)strtol(rest + 1, NULL, 10);
	return (int64_t)timegm(&tm) * 1000 + ms;
}

static json_t *
deploys(struct nat *f)
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

/*
 * After job id ended (outcome, running `tag`) at done_ms: the deployer is
 * restarted, the nth call about its unit, after that, into the release
 * current points at, and finds no job to finish: no more "interrupted"
 * notifications for id than `interrupted` (those before the restart).
 */
static void
expect_self_restart(struct nat *f, const char *id, const char *outcome_,
    const char *tag, int64_t done_ms, size_t nth, size_t interrupted)
{
	char lines[4][256] = { "" }, exe[800], key[128];
	int64_t ms[4] = { 0 };
	json_t *d, *job;

	HBT_CHECK(HBT_WAIT(calls_with(f, "homebus-deployer.service", NULL, NULL,
	    0) >= nth, 30000), "the deployer asked for its own restart (%zu)", nth);
	HBT_CHECK(calls_with(f, "homebus-deployer.service", lines, ms, 4) == nth &&
	    strstr(lines[nth - 1], "restart --no-block homebus-deployer.service") &&
	    ms[nth - 1] >= done_ms, "once, with --no-block, after the job ended "
	    "(asked at %lld, ended at %lld): %s", (long long)ms[nth - 1],
	    (long long)done_ms, lines[nth - 1]);
	HBT_CHECK(HBT_WAIT(runs_release(f, "homebus-deployer.service", "deployer",
	    tag, exe, sizeof(exe)), 30000), "the deployer runs %s now: %s", tag, exe);
	wait_deployer(f);
	d = deploys(f);
	job = json_array_get(json_object_get(d, "deploys"), 0);
	HBT_CHECK(strcmp(hbt_json_str(job, "id"), id) == 0 &&
	    strcmp(hbt_json_str(job, "outcome"), outcome_) == 0 &&
	    strcmp(hbt_json_str(d, "running_tag"), tag) == 0, "after its restart its "
	    "journal's last job is %s, %s, running %s", id, outcome_, tag);
	json_decref(d);
	snprintf(key, sizeof(key), "\"deploy/%s/interrupted\"", id);
	HBT_CHECK(hbt_mqtt_count_with(f->mqtt, "homebus/notify/#", key) ==
	    interrupted, "no job was left to finish (%zu %s)", interrupted, key);
}

/* good: v1 -> v2 done, the deployer restarts last; rollback -> v1 done. */
static void
scenario_good(struct nat *f)
{
	char ph[256], link[256], exe[800], lines[4][256] = { "" };
	json_t *s;
	int64_t done_ms;

	command(f, "g1", "deploy", "v2");
	s = outcome(f, "g1", "done", DEPLOY_MS);
	hbt_deploy_phases(f->mqtt, "g1", ph, sizeof(ph));
	HBT_CHECK(strcmp(ph, "queued,preflight,pull,backup,up,verify,done") == 0,
	    "every phase in order: %s", ph);
	HBT_CHECK(s && strcmp(hbt_json_str(s, "running_tag"), "v2") == 0 &&
	    strcmp(hbt_json_str(s, "previous_tag"), "v1") == 0, "running v2, previous v1");
	current_link(f, link, sizeof(link));
	HBT_CHECK(strcmp(link, "releases/v2") == 0, "current -> releases/v2 (%s)",
	    link);
	HBT_CHECK(calls_with(f, "restart homebus-ingest.service", lines, NULL, 4)
	    == 1 && strstr(lines[0], " current=releases/v2 "), "ingest restarted "
	    "once, with current at v2: %s", lines[0]);
	HBT_CHECK(runs_release(f, "homebus-ingest.service", "ingest", "v2", exe,
	    sizeof(exe)), "ingest runs v2's binary: %s", exe);
	/* the profile's backup step: InfluxDB backed up and counted */
	snprintf(exe, sizeof(exe), "%s/data/backups/%s/influxdb/counts.csv",
	    hbt_dir(), s ? hbt_json_str(s, "backup") : "-");
	HBT_CHECK(access(exe, R_OK) == 0, "InfluxDB in the deploy's backup: %s",
	    exe);
	done_ms = iso_ms(hbt_json_str(s, "updated"));
	json_decref(s);
	expect_self_restart(f, "g1", "done", "v2", done_ms, 1, 0);

	/* rollback: back to "previous", the link switched back */
	clear_calls(f);
	command(f, "r1", "rollback", NULL);
	s = outcome(f, "r1", "done", DEPLOY_MS);
	HBT_CHECK(s && strcmp(hbt_json_str(s, "running_tag"), "v1") == 0 &&
	    strcmp(hbt_json_str(s, "previous_tag"), "v2") == 0, "rolled back: running v1, "
	    "previous v2");
	current_link(f, link, sizeof(link));
	HBT_CHECK(strcmp(link, "releases/v1") == 0, "current -> releases/v1 (%s)",
	    link);
	HBT_CHECK(calls_with(f, "restart homebus-ingest.service", lines, NULL, 4)
	    == 1 && strstr(lines[0], " current=releases/v1 "), "ingest restarted "
	    "with current at v1: %s", lines[0]);
	HBT_CHECK(runs_release(f, "homebus-ingest.service", "ingest", "v1", exe,
	    sizeof(exe)), "ingest runs v1's binary: %s", exe);
	done_ms = iso_ms(hbt_json_str(s, "updated"));
	json_decref(s);
	expect_self_restart(f, "r1", "done", "v1", done_ms, 1, 0);
}

/* bad: no such release (failed, nothing touched); v3-bad (rolled back). */
static void
scenario_bad(struct nat *f)
{
	char ph[256], link[256], exe[800], lines[4][256] = { "" };
	json_t *s, *d, *job;

	command(f, "n1", "deploy", "v9");
	s = outcome(f, "n1", "failed", DEPLOY_MS);
	hbt_deploy_phases(f->mqtt, "n1", ph, sizeof(ph));
	HBT_CHECK(strcmp(ph, "queued,preflight,pull,failed") == 0, "failed in "
	    "pull: %s", ph);
	HBT_CHECK(s && strstr(hbt_json_str(s, "log_tail"), "no release v9"), "the reason "
	    "is in the state: %s", s ? hbt_json_str(s, "log_tail") : "-");
	json_decref(s);
	current_link(f, link, sizeof(link));
	HBT_CHECK(strcmp(link, "releases/v1") == 0 &&
	    calls_with(f, "homebus-", NULL, NULL, 0) == 0, "nothing touched: "
	    "current -> %s, no systemctl call", link);

	command(f, "b1", "deploy", "v3-bad");
	s = outcome(f, "b1", "rolled_back", ROLLBACK_MS);
	hbt_deploy_phases(f->mqtt, "b1", ph, sizeof(ph));
	HBT_CHECK(strcmp(ph, "queued,preflight,pull,backup,up,verify,rollback,"
	    "rolled_back") == 0, "phases: %s", ph);
	HBT_CHECK(s && strstr(hbt_json_str(s, "error"), "ingest"), "the error names "
	    "ingest: %s", s ? hbt_json_str(s, "error") : "-");
	HBT_CHECK(s && strcmp(hbt_json_str(s, "running_tag"), "v1") == 0, "v1 still runs");
	json_decref(s);
	current_link(f, link, sizeof(link));
	HBT_CHECK(strcmp(link, "releases/v1") == 0, "current switched back to "
	    "releases/v1 (%s)", link);
	HBT_CHECK(calls_with(f, "restart homebus-ingest.service", lines, NULL, 4)
	    == 2 && strstr(lines[0], " current=releases/v3-bad ") &&
	    strstr(lines[1], " current=releases/v1 "), "ingest restarted on v3-bad, "
	    "then on v1: %s / %s", lines[0], lines[1]);
	HBT_CHECK(runs_release(f, "homebus-ingest.service", "ingest", "v1", exe,
	    sizeof(exe)), "ingest runs v1's binary: %s", exe);
	d = deploys(f);
	job = json_array_get(json_object_get(d, "deploys"), 0);
	HBT_CHECK(strcmp(hbt_json_str(job, "id"), "b1") == 0 &&
	    strcmp(hbt_json_str(job, "outcome"), "rolled_back") == 0, "the journal says so");
	json_decref(d);
	/* the waiter the v3-bad switch started finds the deployer on current */
	HBT_CHECK(HBT_WAIT(!waiter_running(f), 30000) &&
	    calls_with(f, "homebus-deployer.service", NULL, NULL, 0) == 0,
	    "the deployer, on v1 all along, is not restarted");
}

/*
 * killed: the deployer killed during verify, started again as systemd's
 * Restart= would: it finds the job past up and rolls it back (switch to
 * v1, every unit restarted, verify), then restarts itself into v1 after.
 */
static void
scenario_killed(struct nat *f)
{
	char ph[256], link[256], exe[800], lines[4][256] = { "" };
	long pid;
	json_t *s;
	int64_t done_ms;

	command(f, "k1", "deploy", "v2");
	json_decref(outcome(f, "k1", "verify", DEPLOY_MS));
	pid = read_pid(f, "homebus-deployer.service", "mainpid");
	HBT_REQUIRE(pid > 1 && kill((pid_t)pid, SIGKILL) == 0, "kill -9 the "
	    "deployer (%ld)", pid);
	HBT_REQUIRE(HBT_WAIT(!runs_release(f, "homebus-deployer.service",
	    "deployer", "v1", exe, sizeof(exe)), 10000), "it is gone");
	systemctl("start", "homebus-deployer.service");
	s = outcome(f, "k1", "rolled_back", ROLLBACK_MS);
	hbt_deploy_phases(f->mqtt, "k1", ph, sizeof(ph));
	HBT_CHECK(strcmp(ph, "queued,preflight,pull,backup,up,verify,rollback,"
	    "rolled_back") == 0, "phases: %s", ph);
	HBT_CHECK(s && strstr(hbt_json_str(s, "error"), "interrupted during verify") &&
	    strcmp(hbt_json_str(s, "running_tag"), "v1") == 0, "rolled back because it was "
	    "interrupted, v1 running: %s", s ? hbt_json_str(s, "error") : "-");
	HBT_CHECK(HBT_WAIT(hbt_mqtt_count_with(f->mqtt, "homebus/notify/warning",
	    "\"deploy/k1/interrupted\"") == 1, 5000), "one warning: interrupted");
	current_link(f, link, sizeof(link));
	HBT_CHECK(strcmp(link, "releases/v1") == 0, "current back on releases/v1 "
	    "(%s)", link);
	HBT_CHECK(calls_with(f, "restart homebus-ingest.service", lines, NULL, 4)
	    == 2 && strstr(lines[0], " current=releases/v2 ") &&
	    strstr(lines[1], " current=releases/v1 "), "ingest restarted on v2, "
	    "then on v1 by the restarted deployer: %s / %s", lines[0], lines[1]);
	HBT_CHECK(runs_release(f, "homebus-ingest.service", "ingest", "v1", exe,
	    sizeof(exe)), "ingest runs v1's binary: %s", exe);
	done_ms = iso_ms(hbt_json_str(s, "updated"));
	json_decref(s);
	/* started from current (v2) by the test, so back to v1 after its job:
	 * the test's start, then its own restart */
	expect_self_restart(f, "k1", "rolled_back", "v1", done_ms, 2, 1);
}

/* dashboard: one deploy, its point in INFLUX_URL's database homebus. */
static void
scenario_dashboard(struct nat *f, const char *influx)
{
	struct hb_buf cfg = { 0 }, body = { 0 };
	char url[1024], *q;
	int wport = hbt_free_port();
	json_t *s;
	bool landed;

	hbt_writer_config(&cfg, "writer", f->broker.port, influx, wport, NULL,
	    NULL);
	HBT_REQUIRE(hbt_service_start(&f->writer, "writer", "writer", cfg.data,
	    wport) == 0, "writer");
	hb_buf_free(&cfg);
	command(f, "dash1", "deploy", "v2");
	s = outcome(f, "dash1", "done", DEPLOY_MS);
	json_decref(s);
	q = curl_easy_escape(NULL, "SELECT count(\"duration_s\") FROM "
	    "\"homebus_deploy\" WHERE \"id\" = 'dash1'", 0);
	snprintf(url, sizeof(url), "%s/query?db=homebus&q=%s", influx, q);
	curl_free(q);
	landed = HBT_WAIT((hb_buf_reset(&body), hbt_http("GET", url, NULL, &body) ==
	    200 && body.data && strstr(body.data, "\"values\":[[")), 30000);
	HBT_CHECK(landed, "the deploy's homebus_deploy point is in InfluxDB: %s",
	    body.data ? body.data : "-");
	hb_buf_free(&body);
}

int
main(int argc, char **argv)
{
	struct nat f;
	const char *which = argc > 1 ? argv[1] : "";

	hbt_init("test_native_deploy");
	if (strcmp(which, "dashboard") == 0 && argc < 3) {
		hbt_log("usage: test_native_deploy dashboard INFLUX_URL");
		exit(2);
	}
	setup(&f);
	if (strcmp(which, "good") == 0)
		scenario_good(&f);
	else if (strcmp(which, "bad") == 0)
		scenario_bad(&f);
	else if (strcmp(which, "killed") == 0)
		scenario_killed(&f);
	else if (strcmp(which, "dashboard") == 0)
		scenario_dashboard(&f, argv[2]);
	else
		HBT_CHECK(false, "unknown scenario \"%s\" (good, bad, killed, dashboard)",
		    which);
	teardown(&f);
	hbt_exit();
}
