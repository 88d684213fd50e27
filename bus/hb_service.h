/*
 * hb_service: the one shape of every homebus service process.
 *
 * A service describes itself in a struct hb_service_def (its name, how it
 * uses the bus, and what it does at each point of its life) and its main()
 * is one call to hb_service_main(). The skeleton does the rest, the same
 * way for every service: command line and configuration (hb_app), logging,
 * the loop and its signals, the HTTP server with /health and /metrics, the
 * bus with its retained status, last will and heartbeat, and on SIGTERM the
 * drain-then-stop sequence:
 *
 *	stop(self)          the service stops starting new work
 *	bus shutdown        "offline", disconnect, the mailbox delivered
 *	closed(self)        nothing more arrives: the service finishes what
 *	                    it holds and calls hb_service_exit()
 *
 * Every callback runs on the loop thread, with the service's own state as
 * its argument; none is called after destroy(self).
 */
#ifndef HB_SERVICE_H
#define HB_SERVICE_H

#include <jansson.h>
#include <stdbool.h>

#include "hb_app.h"
#include "hb_bus.h"

struct hb_service;

struct hb_service_def {
	const char *name;	/* "writer": config section, topics, client id, port */
	/* other top-level config sections it reads, NULL-terminated (may be NULL) */
	const char *const *sections;

	/* the bus session (see struct hb_bus_opts) */
	bool persistent;
	int receive_max;
	int coalesce_us;
	int retry_unrouted_s;
	bool republish;

	/*
	 * Reads the service's options from svc->app.cfg, where errors are
	 * collected (they are reported, or "configuration OK" printed, after
	 * create returns). Returns the service's state, never NULL; it may
	 * keep svc, which outlives it.
	 */
	void *(*create)(struct hb_service *svc);
	/*
	 * The loop, the HTTP server (svc->app.http, NULL when disabled) and
	 * the bus (svc->bus, connecting) exist: build the parts, subscribe.
	 * Returns 0, or -1 after logging why (the process exits 1).
	 */
	int (*start)(void *self);
	/* SIGTERM/SIGINT: stop starting new work. May be NULL. */
	void (*stop)(void *self);
	/*
	 * The bus is closed and its mailbox delivered: nothing more arrives.
	 * Finish what is held, then call hb_service_exit(). NULL: exit 0 now.
	 */
	void (*closed)(void *self);
	/*
	 * GET /health: adds the service's details to out (which already says
	 * "service" and "bus") and returns whether the service itself is
	 * healthy. It may set "status" ("degraded") and "reason"; otherwise
	 * the skeleton sets them. NULL: healthy while the bus is connected.
	 */
	bool (*health)(void *self, json_t *out);
	void (*refresh)(void *self);			/* before /metrics; may be NULL */
	void (*heartbeat)(void *self, json_t *hb);	/* adds counters; may be NULL */
	void (*connection)(void *self, bool connected);	/* may be NULL */
	/* everything published was acknowledged (hb_bus_opts.on_idle) */
	void (*idle)(void *self);
	void (*destroy)(void *self);	/* after the bus is freed; may be NULL */
};

struct hb_service {
	struct hb_app app;		/* config, loop, metrics, http */
	struct hb_bus_config bus_cfg;	/* bus.prefix, bus.instance, ... */
	struct hb_bus *bus;
	const struct hb_service_def *def;
	void *self;
};

/*
 * The whole life of a service process. Returns the exit code: 0, 1 (could
 * not start), 2 (configuration), or what hb_service_exit() was given.
 */
int hb_service_main(const struct hb_service_def *def, int argc, char **argv);

/* Ends the loop; hb_service_main() then tears down and returns code. */
void hb_service_exit(struct hb_service *svc, int code);

/* The bus prefix ("homebus") and this instance's name, for topics. */
const char *hb_service_prefix(const struct hb_service *svc);
const char *hb_service_instance(const struct hb_service *svc);

#endif
