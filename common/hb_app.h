/*
 * hb_app: what every homebus service process has in common — command line,
 * configuration file, logging, the libevent loop with its signals, the
 * metrics registry and the /health + /metrics HTTP server.
 *
 * A service's main() is:
 *
 *	rc = hb_app_init(&app, "writer", NULL, argc, argv); -- args, config file
 *	if (rc != HB_APP_RUN) return rc;
 *	... read the service's own options with hb_cfg_* ...
 *	rc = hb_app_ready(&app, sections);                 -- validate, loop, http
 *	if (rc != HB_APP_RUN) return rc;
 *	... build the parts on app.base ...
 *	rc = hb_app_run(&app);
 *	... tear down ...
 */
#ifndef HB_APP_H
#define HB_APP_H

#include <event2/event.h>
#include <limits.h>
#include <stdbool.h>

#include "hb_config.h"
#include "hb_http_server.h"
#include "hb_metrics.h"
#include "hb_sdnotify.h"

#define HB_APP_RUN (-1)
#define HB_EXIT_CONFIG 2

#define HB_DEFAULT_CONFIG "/etc/homebus/homebus.json"

struct hb_app;
typedef void (*hb_stop_fn)(struct hb_app *app, void *arg);
typedef void (*hb_hup_fn)(struct hb_app *app, void *arg);

struct hb_app {
	const char *service;		/* "writer" */
	const char *config_path;	/* NULL: built-in defaults */
	bool check_only;
	bool dry_run;			/* --dry-run (services that accept it) */
	bool tool;		/* a person's tool (the CLI): no data_dir, quiet */
	struct hb_config *cfg;
	struct event_base *base;
	struct hb_metrics *metrics;
	struct hb_http_server *http;	/* NULL when http is disabled */
	struct hb_sdnotify *sd;		/* NULL unless systemd listens (NOTIFY_SOCKET) */
	char data_dir[PATH_MAX];
	char hostname[128];
	char http_bind[128];		/* <service>.http_bind, else http.bind */
	int http_port;			/* -1: disabled, 0: any free port */
	char public_url[256];	/* http.public_url, no trailing '/'; "": none */
	struct event *ev_term, *ev_int, *ev_hup, *ev_trim;
	hb_stop_fn on_stop;
	void *stop_arg;
	hb_hup_fn on_hup;
	void *hup_arg;
	bool stopping;
	int exit_code;
	/* log options, applied by hb_app_ready */
	int log_level;
	int log_format;
	const char *log_file;
};

/*
 * Parses the command line and loads the configuration, reading the common
 * sections (log, http, data_dir). `dry_run` says in one line what --dry-run
 * means for this service (shown in --help), or is NULL when the service
 * does not take it (then --dry-run is an error). Returns HB_APP_RUN to go
 * on, or the exit code (0 after --help/--version, 2 for an unreadable or
 * invalid file or a bad argument).
 */
int hb_app_init(struct hb_app *app, const char *service, const char *dry_run,
    int argc, char **argv);
/*
 * The configuration part of hb_app_init, for a program that parses its own
 * command line (the CLI): loads path (NULL: the default file if there is
 * one, else every default) into a zeroed app. HB_APP_RUN or 2.
 */
int hb_app_load(struct hb_app *app, const char *service, const char *path);

/*
 * Finishes the configuration: unknown keys in `sections` (NULL-terminated,
 * the service's own section first) are errors. Prints every error and
 * returns 2, or prints "configuration OK" and returns 0 under
 * --check-config. Otherwise sets up logging, the loop, signals, metrics and
 * the HTTP server and returns HB_APP_RUN (or 1 if the HTTP port is taken).
 * Under systemd (NOTIFY_SOCKET) the watchdog is pinged from the loop from
 * then on; READY=1 is the caller's to send (hb_sdnotify_send(app->sd, ...))
 * once it has started, and STOPPING=1 goes out on the first SIGTERM.
 */
int hb_app_ready(struct hb_app *app, const char *const *sections);

/* SIGTERM/SIGINT call fn once; a second signal exits at once. */
void hb_app_on_stop(struct hb_app *app, hb_stop_fn fn, void *arg);
/* SIGHUP: logs are reopened, then fn is called (may be NULL). */
void hb_app_on_hup(struct hb_app *app, hb_hup_fn fn, void *arg);

/* Runs the loop until hb_app_exit(); returns the exit code. */
int hb_app_run(struct hb_app *app);
void hb_app_exit(struct hb_app *app, int code);
void hb_app_free(struct hb_app *app);

/*
 * The port `service` ("health") listens on by the configuration:
 * <service>.http_port, else http.port_base + the service's offset. -1 when
 * it is off or the service has no HTTP server; 0: any free port.
 */
int hb_app_service_port(struct hb_config *cfg, const char *service);
/*
 * The address a person's browser or Home Assistant reaches `service`'s
 * `path` ("/") at: http.public_url, the service's port, the path. 0, or -1
 * (out "") when there is no public_url, the service's port is off or any
 * free one, or out is too small.
 */
int hb_app_public_url(const struct hb_app *app, const char *service,
    const char *path, char *out, size_t outlen);

/* Joins data_dir and a relative path (absolute paths are kept). */
void hb_app_data_path(const struct hb_app *app, const char *rel, char *out,
    size_t outlen);

#endif
