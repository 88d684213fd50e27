/*
 * cli: one session of the `homebus` command — the configuration file the
 * services read, a bus connection of its own (clean session, client id
 * homebus-cli-<host>-<pid>, no status or heartbeat), the loop, and the exit
 * codes every command shares. A command connects, subscribes, publishes,
 * and ends the session with cli_done(), which sends what is still queued
 * before it disconnects.
 */
#ifndef CLI_H
#define CLI_H

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>

#include "hb_app.h"
#include "hb_bus.h"

/* Exit codes, the same for every command. */
enum {
	CLI_OK = 0,
	CLI_FAILED = 1,		/* failed, rolled back, something not ok */
	CLI_REFUSED = 2,	/* usage, a bad tag, rejected or busy */
	CLI_UNREACHABLE = 3,	/* no broker, not allowed, no answer in time */
};

struct cli;
typedef void (*cli_fn)(struct cli *c);

struct cli {
	struct hb_app app;		/* config, loop */
	struct hb_bus_config bus_cfg;
	struct hb_bus *bus;
	const char *prefix;		/* bus.prefix */
	bool tty;			/* standard output is a terminal */
	bool color;
	bool json;			/* --json */
	int connect_timeout_ms;
	int exit_code;
	bool connected;			/* once, at least */
	bool online;			/* now */
	bool ended;
	char sync_topic[256];		/* P/cli/<client id>/sync */
	unsigned sync_seq;
	cli_fn on_connected;		/* the command starts here */
	cli_fn on_synced;		/* see cli_sync */
	void *cmd;			/* the command's own state */
	struct event *ev_connect;	/* the connect timeout */
	struct event *ev_deadline;	/* the command's own timeout */
	cli_fn on_deadline;
	/*
	 * When set, a broker that cannot be reached is not the end of the
	 * session: this is called with the reason in unreachable (doctor).
	 */
	cli_fn on_unreachable;
	char unreachable[512];
	/*
	 * When set, the session outlives the broker: once connected, a broker
	 * that goes away is waited for (the command's own deadline decides),
	 * and this is called at each reconnect, the subscriptions made again
	 * (deploy --wait asks after its job).
	 */
	cli_fn on_reconnected;
};

/*
 * Loads the configuration (path NULL: $HOMEBUS_CONFIG or the default file),
 * sets up the loop, and starts connecting; on_connected is called once
 * connected. Returns 0, or an exit code after printing why.
 */
int cli_open(struct cli *c, const char *path, bool verbose, cli_fn on_connected);
/* Runs until cli_done(); returns the exit code. Frees the session. */
int cli_run(struct cli *c);
/* cli_run in two halves, for a command with events of its own to free
 * between them. */
int cli_run_keep(struct cli *c);
void cli_close(struct cli *c);
/* Ends the session with code once what was published is sent. */
void cli_done(struct cli *c, int code);

/*
 * Calls fn once every retained message of the subscriptions made so far
 * has arrived: a message published to the session's own sync topic comes
 * back after them (the broker sends a client's messages in order).
 */
void cli_sync(struct cli *c, cli_fn fn);
/* Calls fn after ms milliseconds unless the session ended first. */
void cli_deadline(struct cli *c, int64_t ms, cli_fn fn);

int cli_subscribe(struct cli *c, const char *filter, hb_bus_message_fn fn);
/* QoS 1 publishes; 0 or -1 (said on stderr). */
int cli_publish(struct cli *c, const char *topic, const char *payload,
    size_t len, int qos, bool retain);
int cli_publish_json(struct cli *c, const char *topic, const json_t *o,
    bool retain);

/* "homebus: " + message on stderr. */
void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Prints a JSON value on one line (--json). */
void cli_print_json(const json_t *v);
/* "3 min ago", "2 h ago", "just now" for a wall-clock time in ms. */
void cli_ago(int64_t wall_ms, char *out, size_t n);
/* A colour escape when colours are on, "" otherwise. */
const char *cli_color(const struct cli *c, const char *which);

#endif
