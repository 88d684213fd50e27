/*
 * hb_app: the process skeleton shared by every service.
 */
#include "hb_app.h"
#include "hb_log.h"
#include "hb_util.h"

#include <errno.h>
#include <getopt.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void
on_libevent_log(int severity, const char *msg)
{
	hb_log(severity >= EVENT_LOG_ERR ? HB_LOG_WARN : HB_LOG_DEBUG,
	    "libevent: %s", msg);
}

/* Default HTTP ports: http.port_base + the service's offset. */
static const struct {
	const char *service;
	int offset;
} port_offsets[] = {
	{ "ingest", 1 }, { "writer", 2 }, { "health", 3 },
	{ "deployer", 4 }, { "notifier", 5 },
};

static void
usage(const char *service, const char *dry_run, FILE *out)
{
	fprintf(out,
	    "usage: homebus-%s [-c FILE] [--check-config]%s\n"
	    "  -c, --config FILE   configuration file (default %s,\n"
	    "                      or $HOMEBUS_CONFIG)\n"
	    "  -n, --check-config  validate the configuration and exit\n",
	    service, dry_run ? " [--dry-run]" : "", HB_DEFAULT_CONFIG);
	if (dry_run)
		fprintf(out, "      --dry-run       %s\n", dry_run);
	fprintf(out,
	    "  -V, --version       print the version and exit\n"
	    "  -h, --help          this text\n");
}

static void
on_trim(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	malloc_trim(0);
}

int
hb_app_init(struct hb_app *app, const char *service, const char *dry_run,
    int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "check-config", no_argument, NULL, 'n' },
		{ "dry-run", no_argument, NULL, 'D' },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	bool explicit_path = false;
	int c;

	memset(app, 0, sizeof(*app));
	app->service = service;
	app->exit_code = 0;
	app->config_path = getenv("HOMEBUS_CONFIG");
	if (app->config_path)
		explicit_path = true;
	optind = 1;
	while ((c = getopt_long(argc, argv, "c:nVh", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			app->config_path = optarg;
			explicit_path = true;
			break;
		case 'n':
			app->check_only = true;
			break;
		case 'D':
			/* only where it means something: a writer told to "dry
			 * run" must not quietly write */
			if (dry_run == NULL) {
				fprintf(stderr, "homebus-%s: --dry-run is not something "
				    "this service does\n", service);
				usage(service, dry_run, stderr);
				return HB_EXIT_CONFIG;
			}
			app->dry_run = true;
			break;
		case 'V':
			printf("homebus-%s %s\n", service, HB_VERSION);
			return 0;
		case 'h':
			usage(service, dry_run, stdout);
			return 0;
		default:
			usage(service, dry_run, stderr);
			return HB_EXIT_CONFIG;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "homebus-%s: unexpected argument \"%s\"\n", service,
		    argv[optind]);
		usage(service, dry_run, stderr);
		return HB_EXIT_CONFIG;
	}
	return hb_app_load(app, service, explicit_path ? app->config_path : NULL);
}

/*
 * What exists under the paths must be of the right kind: a log.file that
 * is a folder would send every line to stderr, a data_dir that is a file
 * would fail each service's databases later, far from the cause.
 */
static void
check_paths(struct hb_app *app)
{
	struct stat sb;

	if (app->log_file && stat(app->log_file, &sb) == 0 && S_ISDIR(sb.st_mode))
		hb_cfg_error(app->cfg, "log.file", "%s is a directory: name a file "
		    "(for example %s/homebus-%s.log)", app->log_file, app->log_file,
		    app->service);
	if (stat(app->data_dir, &sb) == 0 && !S_ISDIR(sb.st_mode))
		hb_cfg_error(app->cfg, "data_dir", "%s is not a directory: name the "
		    "folder where the services keep their files", app->data_dir);
}

int
hb_app_load(struct hb_app *app, const char *service, const char *path)
{
	static const char *const formats[] = { "text", "json", "auto", NULL };
	static const char *const levels[] = { "debug", "info", "warn", "error", NULL };
	char err[512], key[64];
	const char *s;
	size_t n;
	enum hb_log_format fmt;

	app->service = service;
	if (path == NULL)
		path = getenv("HOMEBUS_CONFIG");	/* the CLI's way, and a test's */
	app->config_path = path;
	if (path == NULL) {
		app->config_path = HB_DEFAULT_CONFIG;
		if (access(HB_DEFAULT_CONFIG, F_OK) != 0)
			app->config_path = NULL;	/* every default */
	}
	app->cfg = hb_config_load(app->config_path, err, sizeof(err));
	if (app->cfg == NULL) {
		fprintf(stderr, "%s\n", err);
		return HB_EXIT_CONFIG;
	}
	hb_hostname(app->hostname, sizeof(app->hostname));

	app->log_level = hb_cfg_enum(app->cfg, "log.level", levels, HB_LOG_INFO);
	app->log_format = hb_cfg_enum(app->cfg, "log.format", formats, 2);
	app->log_file = hb_cfg_str(app->cfg, "log.file", NULL);
	if (app->log_format == 2) {
		hb_log_format_parse("auto", &fmt);
		app->log_format = (int)fmt;
	}
	snprintf(app->data_dir, sizeof(app->data_dir), "%s",
	    hb_cfg_str(app->cfg, "data_dir", "/var/lib/homebus"));
	check_paths(app);
	/* <service>.http_bind: one service's port exposed (health's page)
	 * without exposing the others', which keep http.bind. */
	snprintf(key, sizeof(key), "%s.http_bind", service);
	s = hb_cfg_str(app->cfg, "http.bind", "127.0.0.1");
	snprintf(app->http_bind, sizeof(app->http_bind), "%s",
	    hb_cfg_str(app->cfg, key, s));
	app->http_port = hb_app_service_port(app->cfg, service);
	/* every service reads it, so that none calls it an unknown key */
	s = hb_cfg_str(app->cfg, "http.public_url", NULL);
	if (s != NULL && strncmp(s, "http://", 7) != 0 &&
	    strncmp(s, "https://", 8) != 0)
		hb_cfg_error(app->cfg, "http.public_url", "\"%s\" must start with "
		    "http:// or https:// (the host as a browser reaches it, "
		    "no port: \"http://nuc.local\")", s);
	else if (s != NULL && strchr(strchr(s, ':') + 3, ':') != NULL)
		hb_cfg_error(app->cfg, "http.public_url", "\"%s\" names a port: "
		    "each service's own is added (give \"http://nuc.local\")", s);
	else if (s != NULL) {
		snprintf(app->public_url, sizeof(app->public_url), "%s", s);
		n = strlen(app->public_url);
		while (n > 0 && app->public_url[n - 1] == '/')
			app->public_url[--n] = '\0';
	}
	return HB_APP_RUN;
}

int
hb_app_service_port(struct hb_config *cfg, const char *service)
{
	char key[64];
	int port_base, offset = 0;

	/* read by every program, so that none calls it an unknown key */
	port_base = (int)hb_cfg_int(cfg, "http.port_base", 9100, 1, 65000);
	for (size_t i = 0; i < HB_ARRAY_LEN(port_offsets); i++)
		if (strcmp(port_offsets[i].service, service) == 0)
			offset = port_offsets[i].offset;
	if (offset == 0)
		return -1;
	snprintf(key, sizeof(key), "%s.http_port", service);
	return (int)hb_cfg_int(cfg, key, port_base + offset, -1, 65535);
}

int
hb_app_public_url(const struct hb_app *app, const char *service,
    const char *path, char *out, size_t outlen)
{
	int port = hb_app_service_port(app->cfg, service), n;

	if (outlen > 0)
		out[0] = '\0';
	if (app->public_url[0] == '\0' || port <= 0)
		return -1;
	n = snprintf(out, outlen, "%s:%d%s", app->public_url, port, path);
	if (n < 0 || (size_t)n >= outlen) {
		if (outlen > 0)
			out[0] = '\0';
		return -1;
	}
	return 0;
}

static void
on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct hb_app *app = arg;

	(void)what;
	if (sig == SIGHUP) {
		hb_log_reopen();
		hb_info("sighup logs reopened");
		if (app->on_hup)
			app->on_hup(app, app->hup_arg);
		return;
	}
	if (app->stopping) {
		hb_warn("second signal=%d, exiting without draining", (int)sig);
		exit(1);
	}
	app->stopping = true;
	hb_info("stopping signal=%s", sig == SIGTERM ? "TERM" : "INT");
	/* systemd then waits TimeoutStopSec for the drain, not a start timeout */
	hb_sdnotify_send(app->sd, "STOPPING=1");
	if (app->on_stop)
		app->on_stop(app, app->stop_arg);
	else
		hb_app_exit(app, 0);
}

static void
print_warnings(const struct hb_config *cfg)
{
	for (size_t i = 0; i < hb_config_warning_count(cfg); i++)
		fprintf(stderr, "%s\n", hb_config_warning(cfg, i));
}

/*
 * The process's settings for a small daemon, and the loop with its signals
 * and the heap trim. 0, or -1 (logged) when the loop cannot be made.
 */
static int
start_loop(struct hb_app *app)
{
	signal(SIGPIPE, SIG_IGN);
	/* Small daemons: few malloc arenas, and large buffers (batches, bodies)
	 * from mmap so that they go back to the system when freed. */
	mallopt(M_ARENA_MAX, 1);
	mallopt(M_MMAP_THRESHOLD, 128 * 1024);
	mallopt(M_TRIM_THRESHOLD, 256 * 1024);
	/* libevent's own messages in our format (a JSON log stays JSON);
	 * what they report, the service reports in its own words. */
	event_set_log_callback(on_libevent_log);
	app->base = event_base_new();
	if (app->base == NULL) {
		hb_error("cannot create the event loop");
		return -1;
	}
	app->ev_term = evsignal_new(app->base, SIGTERM, on_signal, app);
	app->ev_int = evsignal_new(app->base, SIGINT, on_signal, app);
	app->ev_hup = evsignal_new(app->base, SIGHUP, on_signal, app);
	/* After a burst, give the freed heap back: glibc keeps it otherwise. */
	app->ev_trim = event_new(app->base, -1, EV_PERSIST, on_trim, app);
	hb_timer_add_ms(app->ev_trim, 2000);
	event_add(app->ev_term, NULL);
	event_add(app->ev_int, NULL);
	event_add(app->ev_hup, NULL);
	return 0;
}

int
hb_app_ready(struct hb_app *app, const char *const *sections)
{
	char err[512];

	if (hb_config_finish(app->cfg, sections) > 0) {
		print_warnings(app->cfg);
		hb_config_print_errors(app->cfg, stderr);
		fprintf(stderr, "homebus-%s: %d configuration error%s in %s\n",
		    app->service, hb_config_error_count(app->cfg),
		    hb_config_error_count(app->cfg) == 1 ? "" : "s",
		    app->config_path ? app->config_path : "(defaults)");
		return HB_EXIT_CONFIG;
	}
	if (app->check_only) {
		print_warnings(app->cfg);
		printf("configuration OK\n");
		return 0;
	}
	if (hb_log_setup(app->service, (enum hb_log_level)app->log_level,
	    (enum hb_log_format)app->log_format, app->log_file) != 0)
		hb_warn("cannot open log.file=\"%s\" (%s); logging to stderr",
		    app->log_file, strerror(errno));
	if (app->config_path == NULL)
		hb_warn("no configuration file (%s absent); running on defaults",
		    HB_DEFAULT_CONFIG);
	for (size_t i = 0; i < hb_config_warning_count(app->cfg); i++)
		hb_warn("%s", hb_config_warning(app->cfg, i));

	if (start_loop(app) != 0)
		return 1;
	snprintf(err, sizeof(err), "homebus_%s_", app->service);
	app->metrics = hb_metrics_new(err);
	hb_metrics_build_info(app->metrics, app->service, HB_VERSION);
	if (app->http_port >= 0) {
		app->http = hb_http_server_new(app->base, app->http_bind,
		    app->http_port, app->metrics, err, sizeof(err));
		if (app->http == NULL) {
			hb_error("%s", err);
			return 1;
		}
		app->http_port = hb_http_server_port(app->http);
	}
	if (app->tool)
		return HB_APP_RUN;
	app->sd = hb_sdnotify_new(app->base);
	if (app->sd)
		hb_info("systemd notify watchdog_ms=%llu",
		    (unsigned long long)(hb_sdnotify_watchdog_usec(app->sd) / 1000));
	if (hb_mkdirs(app->data_dir) != 0)
		hb_warn("cannot create data_dir=\"%s\": %s", app->data_dir,
		    strerror(errno));
	hb_info("starting version=%s config=%s http=%s:%d data_dir=%s%s",
	    HB_VERSION, app->config_path ? app->config_path : "(defaults)",
	    app->http_bind, app->http_port, app->data_dir,
	    app->dry_run ? " dry_run=yes" : "");
	return HB_APP_RUN;
}

void
hb_app_on_stop(struct hb_app *app, hb_stop_fn fn, void *arg)
{
	app->on_stop = fn;
	app->stop_arg = arg;
}

void
hb_app_on_hup(struct hb_app *app, hb_hup_fn fn, void *arg)
{
	app->on_hup = fn;
	app->hup_arg = arg;
}

int
hb_app_run(struct hb_app *app)
{
	event_base_dispatch(app->base);
	hb_info("stopped exit=%d", app->exit_code);
	return app->exit_code;
}

void
hb_app_exit(struct hb_app *app, int code)
{
	app->exit_code = code;
	event_base_loopexit(app->base, NULL);
}

void
hb_app_free(struct hb_app *app)
{
	hb_http_server_free(app->http);
	hb_sdnotify_free(app->sd);
	hb_metrics_free(app->metrics);
	if (app->ev_term)
		event_free(app->ev_term);
	if (app->ev_int)
		event_free(app->ev_int);
	if (app->ev_hup)
		event_free(app->ev_hup);
	if (app->ev_trim)
		event_free(app->ev_trim);
	if (app->base)
		event_base_free(app->base);
	hb_config_free(app->cfg);
	memset(app, 0, sizeof(*app));
}

void
hb_app_data_path(const struct hb_app *app, const char *rel, char *out,
    size_t outlen)
{
	if (rel[0] == '/' || strcmp(rel, ":memory:") == 0)
		snprintf(out, outlen, "%s", rel);
	else
		snprintf(out, outlen, "%s/%s", app->data_dir, rel);
}
