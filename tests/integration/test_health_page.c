/*
 * The status page as a person sees it: loaded in headless Chromium (the DOM
 * after parsing and rendering), it shows every target — configured ones,
 * an expected service never seen, a service found on the bus — with its
 * state in words and colour, worst first, with reasons escaped (a child's
 * output cannot inject markup), the last hour as a strip, a self-refresh,
 * and nothing fetched from elsewhere.
 */
#include "health_fixture.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

/* Runs headless Chromium on url; returns the DOM it dumps (free it) or NULL. */
static char *
chromium_dom(const char *url)
{
	char profile[600], out[600], err[600];
	char *argv[] = { "chromium", "--headless", "--no-sandbox", "--disable-gpu",
	    "--disable-quic", "--no-first-run", "--disable-background-networking",
	    "--disable-component-update", "--disable-sync", profile, "--dump-dom",
	    (char *)url, NULL };
	char profile_dir[560];
	posix_spawn_file_actions_t fa;
	int64_t end = hb_mono_ms() + 90000;
	int status = -1, rc;
	pid_t pid;
	char *dom;

	snprintf(profile_dir, sizeof(profile_dir), "%s/chromium-profile", hbt_dir());
	hb_mkdirs(profile_dir);
	snprintf(profile, sizeof(profile), "--user-data-dir=%s", profile_dir);
	snprintf(out, sizeof(out), "%s/chromium.dom", hbt_dir());
	snprintf(err, sizeof(err), "%s/chromium.log", hbt_dir());
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 1, out, O_WRONLY | O_CREAT | O_TRUNC,
	    0644);
	posix_spawn_file_actions_addopen(&fa, 2, err, O_WRONLY | O_CREAT | O_TRUNC,
	    0644);
	rc = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (rc != 0) {
		hbt_log("cannot run chromium: %s (tests/run.sh installs the Debian "
		    "package chromium)", strerror(rc));
		return NULL;
	}
	while (waitpid(pid, &status, WNOHANG) == 0 && hb_mono_ms() < end)
		hbt_sleep_ms(100);
	if (hb_mono_ms() >= end) {
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
		hbt_log("chromium did not finish in 90 s");
		return NULL;
	}
	dom = hb_read_file(out, 16 << 20, NULL);
	if (dom == NULL || strstr(dom, "<html") == NULL) {
		hbt_log("chromium exit status %d dumped nothing; see %s", status, err);
		free(dom);
		return NULL;
	}
	return dom;
}

/* The <section> of a target in the DOM, as a copy (free it), or NULL. */
static char *
section_of(const char *dom, const char *id)
{
	char needle[160];
	const char *start, *end;

	snprintf(needle, sizeof(needle), "id=\"t-%s\"", id);
	start = strstr(dom, needle);
	if (start == NULL)
		return NULL;
	while (start > dom && strncmp(start, "<section", 8) != 0)
		start--;
	end = strstr(start, "</section>");
	return end ? hb_xstrndup(start, (size_t)(end - start)) : NULL;
}

static void
expect_target(const char *dom, const char *id, const char *name,
    const char *state, const char *reason)
{
	char want[200];
	char *sec = section_of(dom, id);

	HBT_CHECK(sec != NULL, "the page shows target %s", name);
	if (sec == NULL)
		return;
	snprintf(want, sizeof(want), "<span class=\"n\">%s</span>", name);
	HBT_CHECK(strstr(sec, want) != NULL, "%s: its name is shown:\n%s", name, sec);
	snprintf(want, sizeof(want), "<span class=\"s %s\">%s</span>", state, state);
	HBT_CHECK(strstr(sec, want) != NULL, "%s: shown as %s (in its colour):\n%s",
	    name, state, sec);
	snprintf(want, sizeof(want), "class=\"t %s\"", state);
	HBT_CHECK(strstr(sec, want) != NULL, "%s: the card has the %s colour", name,
	    state);
	HBT_CHECK(reason == NULL || strstr(sec, reason) != NULL,
	    "%s: the reason \"%s\" is shown:\n%s", name, reason, sec);
	HBT_CHECK(strstr(sec, "since ") != NULL, "%s: since when", name);
	HBT_CHECK(strstr(sec, "<div class=\"strip\"") != NULL, "%s: a strip", name);
	free(sec);
}

int
main(void)
{
	struct hfix f;
	struct hbt_mqtt *states;
	struct hbt_mqtt_msg *m;
	struct hb_buf body = { 0 };
	char url[128], *dom, *sec;
	const char *names[] = { "data", "almost-full", "backup-job", "writer",
	    "ingest", "broker" };

	hfix_init(&f, "health_page");
	states = f.states;
	hfix_start_ingest(&f);
	hfix_start_health(&f,
	    "\"interval_s\": 1, \"fail_after\": 1, \"heartbeat_timeout_s\": 600, "
	    "\"expected_services\": [\"writer\"], \"page_refresh_s\": 20, "
	    "\"targets\": ["
	    "{\"name\": \"data\", \"type\": \"disk\", \"path\": \"/\", \"min_free_mb\": 1},"
	    "{\"name\": \"almost-full\", \"type\": \"disk\", \"path\": \"/\", "
	    "\"min_free_mb\": 1, \"warn_free_mb\": 1099511627776},"
	    "{\"name\": \"backup-job\", \"type\": \"exec\", \"argv\": [\"sh\", \"-c\", "
	    "\"echo '<b>boom</b> & done'; exit 1\"]}]");

	/* every state there is, on the bus first */
	m = hbt_mqtt_wait(states, "homebus/health/backup-job", "\"state\":\"down\"",
	    20000);
	HBT_CHECK(m != NULL, "backup-job down");
	hbt_mqtt_msg_free(m);
	m = hbt_mqtt_wait(states, "homebus/health/almost-full",
	    "\"state\":\"degraded\"", 20000);
	HBT_CHECK(m != NULL, "almost-full degraded");
	hbt_mqtt_msg_free(m);
	m = hbt_mqtt_wait(states, "homebus/health/ingest", "\"state\":\"ok\"", 20000);
	HBT_CHECK(m != NULL, "ingest found on the bus and ok");
	hbt_mqtt_msg_free(m);
	m = hbt_mqtt_wait(states, "homebus/health/broker", "\"state\":\"ok\"", 20000);
	hbt_mqtt_msg_free(m);

	snprintf(url, sizeof(url), "http://127.0.0.1:%d/", f.health_port);
	HBT_CHECK(hbt_http("GET", url, NULL, &body) == 200 && body.data &&
	    strstr(body.data, "<!doctype html>"), "GET / is the page");
	HBT_CHECK(hbt_http("POST", url, "x", NULL) == 405, "POST / is refused");

	dom = chromium_dom(url);
	HBT_REQUIRE(dom != NULL, "headless Chromium loaded the page");
	expect_target(dom, "data", "data", "ok", "more than 1 MB free on /");
	expect_target(dom, "almost-full", "almost-full", "degraded",
	    "free on / (warn_free_mb)");
	sec = section_of(dom, "data");
	HBT_CHECK(sec && strstr(sec, " free (") && strstr(sec, " %)"),
	    "the free space, which the reason leaves out, is shown: %s", sec);
	free(sec);
	expect_target(dom, "backup-job", "backup-job", "down",
	    "exit 1: &lt;b&gt;boom&lt;/b&gt; &amp; done");
	expect_target(dom, "writer", "writer", "unknown", "waiting for its status");
	expect_target(dom, "ingest", "ingest", "ok", "online");
	expect_target(dom, "broker", "broker", "ok", NULL);
	HBT_CHECK(strstr(dom, "<b>boom") == NULL, "a reason cannot inject markup");
	HBT_CHECK(strstr(dom, "<span class=\"s down\" id=\"overall\">down</span>") !=
	    NULL, "the overall state is down");
	HBT_CHECK(strstr(dom, "6 targets: 3 ok, 1 down, 1 degraded, 1 unknown") != NULL,
	    "the counts add up");
	/* worst first: down, degraded, unknown, then ok */
	HBT_CHECK(strstr(dom, "id=\"t-backup-job\"") < strstr(dom, "id=\"t-almost-full\"") &&
	    strstr(dom, "id=\"t-almost-full\"") < strstr(dom, "id=\"t-writer\"") &&
	    strstr(dom, "id=\"t-writer\"") < strstr(dom, "id=\"t-data\""),
	    "worst first");
	sec = section_of(dom, "backup-job");
	HBT_CHECK(sec && strstr(sec, "<i class=\"down\"></i>"),
	    "the strip shows the failed checks of this minute");
	free(sec);
	HBT_CHECK(strstr(dom, "<meta http-equiv=\"refresh\" content=\"20\">") != NULL,
	    "it reloads itself");
	HBT_CHECK(strstr(dom, "<script") == NULL && strstr(dom, "src=") == NULL &&
	    strstr(dom, "<link") == NULL && strstr(dom, "@import") == NULL &&
	    strstr(dom, "url(") == NULL, "no scripts, fonts or anything from elsewhere");
	HBT_CHECK(strstr(dom, "name=\"viewport\"") != NULL, "made for a phone too");
	for (size_t i = 0; i < HB_ARRAY_LEN(names); i++) {
		char want[160];

		snprintf(want, sizeof(want), "<span class=\"n\">%s</span>", names[i]);
		HBT_CHECK(strstr(dom, want) != NULL, "target %s on the page", names[i]);
	}
	free(dom);
	hb_buf_free(&body);
	hfix_finish(&f);
}
