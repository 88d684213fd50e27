/*
 * doctor_local: the checks that do not go through the bus — InfluxDB with
 * the writer's settings, the writer's spool (its /health), the free disk
 * under data_dir and the deployer's backups, the Telegram bot.
 */
#include "doctor.h"

#include "hb_http_client.h"
#include "hb_util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>

/* ---------------- InfluxDB ---------------- */

struct influx_check {
	struct doctor *d;
	char url[600];
	char what[200];		/* "database homebus", "bucket b in org o" */
	char name[128];		/* the database or bucket to find */
	bool v2;
};

static void
on_influx(const struct hb_http_response *r, void *arg)
{
	struct influx_check *ic = arg;
	struct doctor *d = ic->d;
	json_t *root = r->status == 200 ? json_loadb(r->body, r->body_len, 0, NULL) :
	    NULL;
	char *text = root ? json_dumps(root, JSON_COMPACT) : NULL;
	char quoted[140];

	snprintf(quoted, sizeof(quoted), "\"%s\"", ic->name);
	if (r->curl_code != 0)
		doctor_say(d, FINDING_FAIL, "influxdb", "cannot reach InfluxDB at %s: "
		    "%s (the writer spools until it can)", ic->url, r->error);
	else if (r->status == 401 || r->status == 403)
		doctor_say(d, FINDING_FAIL, "influxdb", "InfluxDB at %s refused the "
		    "writer's credentials (HTTP %ld): check writer.influx.username/"
		    "password_file or token_file", ic->url, r->status);
	else if (r->status != 200)
		doctor_say(d, FINDING_FAIL, "influxdb", "InfluxDB at %s answered HTTP "
		    "%ld", ic->url, r->status);
	else if (text == NULL || strstr(text, quoted) == NULL)
		doctor_say(d, FINDING_FAIL, "influxdb", "InfluxDB at %s has no %s: "
		    "every batch the writer sends is refused until it exists (%s)",
		    ic->url, ic->what, ic->v2 ? "influx bucket create" :
		    "CREATE DATABASE");
	else
		doctor_say(d, FINDING_OK, "influxdb", "reachable at %s with the "
		    "writer's settings, %s there", ic->url, ic->what);
	free(text);
	json_decref(root);
	free(ic);
	doctor_end(d);
}

static void
check_influx(struct doctor *d)
{
	static const char *const apis[] = { "v1", "v2", NULL };
	struct hb_config *cfg = d->c->app.cfg;
	struct influx_check *ic = hb_xcalloc(1, sizeof(*ic));
	struct hb_http_request req = { 0 };
	const char *base = hb_cfg_str(cfg, "writer.influx.url", "http://127.0.0.1:8086");
	char full[900], userpwd[300], auth[600];
	char *secret = NULL, *user = NULL;
	const char *headers[2] = { NULL, NULL };

	ic->d = d;
	ic->v2 = hb_cfg_enum(cfg, "writer.influx.api", apis, 0) == 1;
	snprintf(ic->url, sizeof(ic->url), "%s", base);
	if (ic->v2) {
		const char *org = hb_cfg_str(cfg, "writer.influx.org", "");
		const char *bucket = hb_cfg_str(cfg, "writer.influx.bucket", "");

		snprintf(ic->name, sizeof(ic->name), "%s", bucket);
		snprintf(ic->what, sizeof(ic->what), "bucket \"%s\" in org \"%s\"",
		    bucket, org);
		snprintf(full, sizeof(full), "%s/api/v2/buckets?name=%s&org=%s", base,
		    bucket, org);
		secret = hb_cfg_secret(cfg, "writer.influx.token",
		    "HOMEBUS_INFLUX_TOKEN");
		if (secret) {
			snprintf(auth, sizeof(auth), "Authorization: Token %s", secret);
			headers[0] = auth;
			req.headers = headers;
		}
	} else {
		const char *db = hb_cfg_str(cfg, "writer.influx.db", "homebus");

		snprintf(ic->name, sizeof(ic->name), "%s", db);
		snprintf(ic->what, sizeof(ic->what), "database \"%s\"", db);
		snprintf(full, sizeof(full), "%s/query?q=SHOW%%20DATABASES", base);
		user = (char *)hb_cfg_str(cfg, "writer.influx.username", NULL);
		secret = hb_cfg_secret(cfg, "writer.influx.password",
		    "HOMEBUS_INFLUX_PASSWORD");
		if (user) {
			snprintf(userpwd, sizeof(userpwd), "%s:%s", user,
			    secret ? secret : "");
			req.userpwd = userpwd;
		}
	}
	req.url = full;
	req.timeout_ms = 5000;
	req.ca_file = hb_cfg_str(cfg, "writer.influx.ca_file", NULL);
	doctor_begin(d);
	if (hb_http_request(d->http, &req, on_influx, ic) == NULL) {
		doctor_say(d, FINDING_FAIL, "influxdb", "cannot ask %s", full);
		free(ic);
		doctor_end(d);
	}
	if (secret) {
		explicit_bzero(secret, strlen(secret));
		free(secret);
	}
	explicit_bzero(userpwd, sizeof(userpwd));
	explicit_bzero(auth, sizeof(auth));
}

/* ---------------- the writer's spool ---------------- */

static void check_spool_again(struct doctor *d);

static void
on_writer_health(const struct hb_http_response *r, void *arg)
{
	struct doctor *d = arg;
	json_t *root = r->body_len ? json_loadb(r->body, r->body_len, 0, NULL) : NULL;
	json_t *spool = json_object_get(root, "spool");
	json_t *influx = json_object_get(root, "influx");
	long long points = json_integer_value(json_object_get(spool, "points"));
	long long age = json_integer_value(json_object_get(spool, "oldest_age_s"));
	const char *why = json_string_value(json_object_get(influx, "reason"));

	if (!json_is_object(spool)) {
		doctor_say(d, FINDING_FAIL, "spool", "the writer's /health does not "
		    "answer (%s): is homebus-writer running?", r->curl_code ? r->error :
		    "no spool in its answer");
	} else if (points == 0) {
		doctor_say(d, FINDING_OK, "spool", "the writer's spool is empty");
	} else if (d->spool_points < 0) {
		d->spool_points = points;
		json_decref(root);
		check_spool_again(d);
		return;
	} else if (points < d->spool_points) {
		doctor_say(d, FINDING_WARN, "spool", "the writer's spool is draining: "
		    "%lld points left, the oldest %lld s old", points, age);
	} else {
		doctor_say(d, FINDING_FAIL, "spool", "%lld points wait in the writer's "
		    "spool and it is not draining, the oldest %lld s old%s%s%s",
		    points, age, why ? " (InfluxDB: " : "", why ? why : "",
		    why ? ")" : "");
	}
	json_decref(root);
	doctor_end(d);
}

static void
ask_writer(struct doctor *d)
{
	struct hb_config *cfg = d->c->app.cfg;
	struct hb_http_request req = { 0 };
	const char *bind = hb_cfg_str(cfg, "http.bind", "127.0.0.1");
	long long port = hb_cfg_int(cfg, "writer.http_port",
	    hb_cfg_int(cfg, "http.port_base", 9100, 1, 65000) + 2, 1, 65535);
	char url[300];

	snprintf(url, sizeof(url), "http://%s:%lld/health", strcmp(bind,
	    "0.0.0.0") == 0 ? "127.0.0.1" : bind, port);
	req.url = url;
	req.timeout_ms = 5000;
	if (hb_http_request(d->http, &req, on_writer_health, d) == NULL) {
		doctor_say(d, FINDING_FAIL, "spool", "cannot ask %s", url);
		doctor_end(d);
	}
}

static void
on_spool_timer(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	ask_writer(arg);
}

/* A second reading 2 s later: draining, or stuck? */
static void
check_spool_again(struct doctor *d)
{
	struct timeval tv = { 2, 0 };

	event_base_once(d->c->app.base, -1, EV_TIMEOUT, on_spool_timer, d, &tv);
}

/* ---------------- disk ---------------- */

static void
check_disk(struct doctor *d, const char *what, const char *path,
    long long min_mb)
{
	char at[4096];
	struct statvfs sv;
	double free_mb, pct;

	/* a folder not made yet: the disk it will be on */
	snprintf(at, sizeof(at), "%s", path);
	while (statvfs(at, &sv) != 0) {
		char *slash = strrchr(at, '/');

		if (errno != ENOENT || slash == NULL || slash == at) {
			doctor_say(d, FINDING_FAIL, "disk", "%s %s: %s", what, path,
			    strerror(errno));
			return;
		}
		*slash = '\0';
	}
	free_mb = (double)sv.f_bavail * (double)sv.f_frsize / (1024.0 * 1024.0);
	pct = sv.f_blocks ? 100.0 * (double)sv.f_bavail / (double)sv.f_blocks : 0;
	if (free_mb < (double)min_mb)
		doctor_say(d, FINDING_FAIL, "disk", "%s %s: %.0f MB free, under the "
		    "%lld MB it needs", what, path, free_mb, min_mb);
	else if (pct < 10.0)
		doctor_say(d, FINDING_WARN, "disk", "%s %s: %.0f MB free (%.1f %%)",
		    what, path, free_mb, pct);
	else
		doctor_say(d, FINDING_OK, "disk", "%s %s: %.0f MB free (%.0f %%)", what,
		    path, free_mb, pct);
}

/* ---------------- Telegram ---------------- */

static void
on_getme(const struct hb_http_response *r, void *arg)
{
	struct doctor *d = arg;
	json_t *root = r->body_len ? json_loadb(r->body, r->body_len, 0, NULL) : NULL;
	const char *name = json_string_value(json_object_get(json_object_get(root,
	    "result"), "username"));

	if (r->curl_code != 0)
		doctor_say(d, FINDING_FAIL, "telegram", "cannot reach the Bot API: %s "
		    "(notifications wait in the outbox)", r->error);
	else if (r->status == 401 || r->status == 404)
		doctor_say(d, FINDING_FAIL, "telegram", "the Bot API refused the token "
		    "(HTTP %ld): revoked? a new one comes from @BotFather", r->status);
	else if (!json_is_true(json_object_get(root, "ok")))
		doctor_say(d, FINDING_FAIL, "telegram", "getMe answered HTTP %ld "
		    "without ok", r->status);
	else
		doctor_say(d, FINDING_OK, "telegram", "the bot @%s answers",
		    name ? name : "?");
	json_decref(root);
	doctor_end(d);
}

static void
check_telegram(struct doctor *d)
{
	struct hb_config *cfg = d->c->app.cfg;
	const char *file = hb_cfg_str(cfg, "notifier.telegram.token_file", NULL);
	struct hb_http_request req = { 0 };
	char url[700], *token = NULL;
	size_t n;

	if (file) {
		FILE *f = fopen(file, "r");
		char buf[256] = "";

		if (f == NULL) {
			doctor_say(d, FINDING_FAIL, "telegram", "cannot read "
			    "notifier.telegram.token_file %s: %s", file, strerror(errno));
			return;
		}
		n = fread(buf, 1, sizeof(buf) - 1, f);
		fclose(f);
		buf[n] = '\0';
		while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r' ||
		    buf[n - 1] == ' '))
			buf[--n] = '\0';
		token = hb_xstrdup(buf);
		explicit_bzero(buf, sizeof(buf));
	} else {
		token = hb_cfg_secret(cfg, "notifier.telegram.token",
		    "TELEGRAM_BOT_TOKEN");
	}
	if (token == NULL || *token == '\0') {
		doctor_say(d, FINDING_OK, "telegram", "not configured (notifications "
		    "are only logged, or sent to the webhook)");
		free(token);
		return;
	}
	snprintf(url, sizeof(url), "%s/bot%s/getMe", hb_cfg_str(cfg,
	    "notifier.telegram.api_url", "https://api.telegram.org"), token);
	req.url = url;
	req.timeout_ms = 10000;
	doctor_begin(d);
	if (hb_http_request(d->http, &req, on_getme, d) == NULL) {
		doctor_say(d, FINDING_FAIL, "telegram", "cannot ask the Bot API");
		doctor_end(d);
	}
	explicit_bzero(url, sizeof(url));
	explicit_bzero(token, strlen(token));
	free(token);
}

void
doctor_local_checks(struct doctor *d)
{
	struct hb_app *app = &d->c->app;
	char backups[4096];

	d->spool_points = -1;
	check_influx(d);
	doctor_begin(d);
	ask_writer(d);
	check_disk(d, "data_dir", app->data_dir, 100);
	hb_app_data_path(app, hb_cfg_str(app->cfg, "deployer.backup_dir", "backups"),
	    backups, sizeof(backups));
	check_disk(d, "backup_dir", backups, hb_cfg_int(app->cfg,
	    "deployer.min_free_mb", 2048, 0, 100000000));
	check_telegram(d);
}
