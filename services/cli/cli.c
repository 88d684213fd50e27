/*
 * cli: the session every command runs in (see cli.h).
 */
#include "cli.h"

#include "hb_log.h"
#include "hb_topic.h"
#include "hb_util.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

void
cli_error(const char *fmt, ...)
{
	va_list ap;

	fputs("homebus: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/*
 * Why the broker cannot be reached, in the words of the system: paho only
 * says "TCP/TLS connect failure". A plain TCP connect, at most 2 s.
 */
static void
probe_broker(const char *host, int port, char *why, size_t n)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *ai = NULL;
	char portstr[16];
	int fd = -1, rc, err = 0;
	socklen_t len = sizeof(err);
	struct pollfd pfd;

	snprintf(why, n, "no connection");
	snprintf(portstr, sizeof(portstr), "%d", port);
	rc = getaddrinfo(host, portstr, &hints, &ai);
	if (rc != 0) {
		snprintf(why, n, "%s", gai_strerror(rc));
		return;
	}
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		goto out;
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
		snprintf(why, n, "it accepts TCP connections but not MQTT (TLS, or "
		    "another port?)");
		goto out;
	}
	if (errno != EINPROGRESS) {
		snprintf(why, n, "%s", strerror(errno));
		goto out;
	}
	pfd.fd = fd;
	pfd.events = POLLOUT;
	if (poll(&pfd, 1, 2000) <= 0) {
		snprintf(why, n, "no answer (a firewall, or the wrong host?)");
		goto out;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err != 0)
		snprintf(why, n, "%s", strerror(err));
	else
		snprintf(why, n, "it accepts TCP connections but the MQTT handshake "
		    "failed (TLS, or another protocol on that port?)");
out:
	if (fd >= 0)
		close(fd);
	freeaddrinfo(ai);
}

/* The broker cannot be reached: the end, unless the command carries on. */
static void
unreachable(struct cli *c)
{
	if (c->on_unreachable) {
		c->on_unreachable(c);
		return;
	}
	cli_error("%s", c->unreachable);
	cli_done(c, CLI_UNREACHABLE);
}

static void
on_connect_failed(void *arg, int code, const char *reason)
{
	struct cli *c = arg;
	char why[256];

	if (c->ended || c->unreachable[0])
		return;
	if (c->connected && c->on_reconnected)
		return;		/* still trying: the command's deadline decides */
	if (code == 0x86 || code == 0x87 || code == 0x8C || code == 4 || code == 5) {
		snprintf(c->unreachable, sizeof(c->unreachable), "the broker at %s:%d "
		    "refused user \"%s\": %s (check cli.username and "
		    "cli.password_file, and the broker's password file and ACL)",
		    c->bus_cfg.host, c->bus_cfg.port,
		    c->bus_cfg.username ? c->bus_cfg.username : "(anonymous)", reason);
	} else {
		probe_broker(c->bus_cfg.host, c->bus_cfg.port, why, sizeof(why));
		snprintf(c->unreachable, sizeof(c->unreachable), "cannot reach the "
		    "broker at %s:%d: %s", c->bus_cfg.host, c->bus_cfg.port, why);
	}
	unreachable(c);
}

static void
on_publish_failed(void *arg, int code, const char *reason)
{
	struct cli *c = arg;

	cli_error("the broker refused a message: %s (code %d; check the broker's "
	    "ACL for user \"%s\")", reason, code,
	    c->bus_cfg.username ? c->bus_cfg.username : "(anonymous)");
	c->exit_code = CLI_UNREACHABLE;
	if (!c->ended)
		cli_done(c, CLI_UNREACHABLE);
}

static void
on_connect_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct cli *c = arg;

	(void)fd;
	(void)what;
	if (c->connected || c->ended || c->unreachable[0])
		return;
	snprintf(c->unreachable, sizeof(c->unreachable), "cannot reach the broker "
	    "at %s:%d: no answer within %d s", c->bus_cfg.host, c->bus_cfg.port,
	    c->connect_timeout_ms / 1000);
	unreachable(c);
}

static void
on_connection(void *arg, bool up)
{
	struct cli *c = arg;

	c->online = up;
	if (!up) {
		if (c->connected && !c->ended)
			cli_error("lost the connection to the broker; reconnecting");
		return;
	}
	if (c->connected) {
		/* a reconnect: the command goes on */
		if (c->on_reconnected && !c->ended)
			c->on_reconnected(c);
		return;
	}
	c->connected = true;
	if (c->on_connected && !c->ended)
		c->on_connected(c);
}

static void
on_sync(void *arg, const struct hb_bus_msg *msg)
{
	struct cli *c = arg;
	char want[32];
	cli_fn fn;

	snprintf(want, sizeof(want), "%u", c->sync_seq);
	if (strcmp(msg->payload, want) != 0 || c->on_synced == NULL)
		return;
	fn = c->on_synced;
	c->on_synced = NULL;
	fn(c);
}

static void
on_stop(struct hb_app *app, void *arg)
{
	struct cli *c = arg;

	(void)app;
	cli_done(c, c->exit_code);
}

int
cli_open(struct cli *c, const char *path, bool verbose, cli_fn on_connected)
{
	static const char *const sections[] = { "cli", "bus", "log", "http",
	    "data_dir", NULL };
	struct hb_bus_opts bo = { 0 };
	const char *s;
	char err[512], id[96];
	int rc;

	memset(c, 0, sizeof(*c));
	rc = hb_app_load(&c->app, "cli", path);
	if (rc != HB_APP_RUN)
		return rc;
	hb_bus_config_read(&c->bus_cfg, c->app.cfg, "cli", c->app.hostname);
	s = hb_cfg_str(c->app.cfg, "cli.username", NULL);
	if (s) {
		free(c->bus_cfg.username);
		c->bus_cfg.username = hb_xstrdup(s);
	}
	if (hb_cfg_has(c->app.cfg, "cli.password_file") ||
	    getenv("HOMEBUS_CLI_PASSWORD")) {
		free(c->bus_cfg.password);
		c->bus_cfg.password = hb_cfg_secret(c->app.cfg, "cli.password",
		    "HOMEBUS_CLI_PASSWORD");
	}
	/* a session of its own, never the services' client id, and one that
	 * no other account can guess and close (the process id is no secret) */
	snprintf(id, sizeof(id), "homebus-cli-%.60s-%ld", c->app.hostname,
	    (long)getpid());
	hb_bus_client_id(c->bus_cfg.client_id, sizeof(c->bus_cfg.client_id), id,
	    c->bus_cfg.password);
	c->connect_timeout_ms = (int)hb_cfg_int(c->app.cfg, "cli.connect_timeout_s",
	    5, 1, 600) * 1000;
	/* deploys and backups read it (cmd_history.c); an option of every
	 * command's configuration, not an unknown key to the others */
	(void)hb_cfg_str(c->app.cfg, "cli.deployer_url", NULL);
	/* a person waits: reconnect quickly */
	c->bus_cfg.reconnect_min_ms = 200;
	c->bus_cfg.reconnect_max_ms = 2000;
	c->app.tool = true;
	c->app.log_level = verbose ? HB_LOG_DEBUG : HB_LOG_ERROR;
	rc = hb_app_ready(&c->app, sections);
	if (rc != HB_APP_RUN)
		return rc;
	/* the services' log lines are not for a person at a terminal */
	hb_log_setup("homebus", verbose ? HB_LOG_DEBUG : HB_LOG_ERROR,
	    HB_LOG_TEXT, NULL);
	c->prefix = c->bus_cfg.prefix;
	c->tty = isatty(STDOUT_FILENO) == 1;
	c->color = c->tty && getenv("NO_COLOR") == NULL;
	c->on_connected = on_connected;
	hb_app_on_stop(&c->app, on_stop, c);
	snprintf(c->sync_topic, sizeof(c->sync_topic), "%s/cli/%s/sync", c->prefix,
	    c->bus_cfg.client_id);

	bo.service = "cli";
	bo.client = true;
	bo.on_connection = on_connection;
	bo.on_connect_failed = on_connect_failed;
	bo.on_publish_failed = on_publish_failed;
	bo.arg = c;
	c->bus = hb_bus_new(c->app.base, &c->bus_cfg, &bo, NULL, err, sizeof(err));
	if (c->bus == NULL) {
		cli_error("%s", err);
		return CLI_UNREACHABLE;
	}
	hb_bus_subscribe(c->bus, c->sync_topic, 1, on_sync, c);
	c->ev_connect = evtimer_new(c->app.base, on_connect_timeout, c);
	/* whole seconds */
	hb_timer_add_ms(c->ev_connect, c->connect_timeout_ms / 1000 * 1000);
	return HB_APP_RUN;
}

static void
on_closed(void *arg)
{
	struct cli *c = arg;

	hb_app_exit(&c->app, c->exit_code);
}

void
cli_done(struct cli *c, int code)
{
	if (c->ended)
		return;
	c->ended = true;
	c->exit_code = code;
	fflush(stdout);
	hb_bus_shutdown(c->bus, on_closed, c);
}

int
cli_run_keep(struct cli *c)
{
	return hb_app_run(&c->app);
}

int
cli_run(struct cli *c)
{
	int rc = cli_run_keep(c);

	cli_close(c);
	return rc;
}

void
cli_close(struct cli *c)
{
	hb_bus_free(c->bus);
	if (c->ev_connect)
		event_free(c->ev_connect);
	if (c->ev_deadline)
		event_free(c->ev_deadline);
	hb_bus_config_free(&c->bus_cfg);
	hb_app_free(&c->app);
}

void
cli_sync(struct cli *c, cli_fn fn)
{
	char seq[32];

	c->on_synced = fn;
	snprintf(seq, sizeof(seq), "%u", ++c->sync_seq);
	hb_bus_publish(c->bus, c->sync_topic, seq, strlen(seq), 1, false);
}

static void
on_deadline(evutil_socket_t fd, short what, void *arg)
{
	struct cli *c = arg;

	(void)fd;
	(void)what;
	if (!c->ended && c->on_deadline)
		c->on_deadline(c);
}

void
cli_deadline(struct cli *c, int64_t ms, cli_fn fn)
{
	if (c->ev_deadline == NULL)
		c->ev_deadline = evtimer_new(c->app.base, on_deadline, c);
	c->on_deadline = fn;
	hb_timer_add_ms(c->ev_deadline, ms);
}

int
cli_subscribe(struct cli *c, const char *filter, hb_bus_message_fn fn)
{
	return hb_bus_subscribe(c->bus, filter, 1, fn, c);
}

int
cli_publish(struct cli *c, const char *topic, const char *payload, size_t len,
    int qos, bool retain)
{
	if (hb_bus_publish(c->bus, topic, payload, len, qos, retain) != 0) {
		cli_error("cannot publish on \"%s\" (not a valid topic?)", topic);
		return -1;
	}
	return 0;
}

int
cli_publish_json(struct cli *c, const char *topic, const json_t *o, bool retain)
{
	char *text = json_dumps(o, JSON_COMPACT);
	int rc;

	if (text == NULL)
		return -1;
	rc = cli_publish(c, topic, text, strlen(text), 1, retain);
	free(text);
	return rc;
}

void
cli_print_json(const json_t *v)
{
	char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);

	if (s) {
		puts(s);
		free(s);
	}
	fflush(stdout);
}

void
cli_ago(int64_t wall_ms, char *out, size_t n)
{
	int64_t s = (hb_wall_ms() - wall_ms) / 1000;

	if (wall_ms <= 0)
		snprintf(out, n, "-");
	else if (s < 10)
		snprintf(out, n, "just now");
	else if (s < 120)
		snprintf(out, n, "%lld s ago", (long long)s);
	else if (s < 7200)
		snprintf(out, n, "%lld min ago", (long long)(s / 60));
	else if (s < 172800)
		snprintf(out, n, "%lld h ago", (long long)(s / 3600));
	else
		snprintf(out, n, "%lld days ago", (long long)(s / 86400));
}

const char *
cli_color(const struct cli *c, const char *which)
{
	static const struct {
		const char *name, *esc;
	} colors[] = {
		{ "ok", "\033[32m" }, { "degraded", "\033[33m" },
		{ "down", "\033[31m" }, { "unknown", "\033[90m" },
		{ "bold", "\033[1m" }, { "dim", "\033[2m" }, { "reset", "\033[0m" },
	};

	if (!c->color)
		return "";
	for (size_t i = 0; i < HB_ARRAY_LEN(colors); i++)
		if (strcmp(colors[i].name, which) == 0)
			return colors[i].esc;
	return "";
}
