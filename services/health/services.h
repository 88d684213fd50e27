/*
 * services: the homebus services as the watcher sees them on the bus —
 * their retained status (online, offline, the last will, or cleared),
 * their heartbeats, the services expected from the configuration, the
 * ones discovered on the bus, and another watcher on the same prefix.
 * It keeps the service targets in the target list and judges them; what
 * that means for publishing, notifying and scheduling is the caller's.
 */
#ifndef SERVICES_H
#define SERVICES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hb_config.h"
#include "hb_log.h"
#include "target.h"

#define SERVICES_MAX_EXPECTED 64
/*
 * A last will is believed after this long: a broker that shuts down sends
 * the wills of everyone still connected and then drops us too, and that is
 * not every service dying.
 */
#define SERVICES_OFFLINE_CONFIRM_MS 1000

struct expected_svc {
	char service[64];
	char instance[64];
};

struct services {
	/* options */
	int64_t heartbeat_timeout_ms;
	bool discover;
	int max_discovered;		/* services found on the bus at most */
	struct expected_svc expected[SERVICES_MAX_EXPECTED];
	size_t nexpected;

	struct target_list *targets;
	const struct target_defaults *defaults;
	const char *prefix;		/* bus.prefix */
	const char *instance;		/* bus.instance: the watcher's own */
	char other_watcher[64];		/* another watcher online on our prefix, or "" */
	size_t ndiscovered;		/* targets found on the bus (not expected) */
	struct hb_ratelimit bad_log;
	struct hb_ratelimit cap_log;
	/* set by the watcher: services are judged only while it sees the bus */
	bool connected;
	bool settled;
	int64_t started_ms;		/* monotonic */
	int64_t connected_ms;		/* monotonic, the last connect */
};

/*
 * Reads health.heartbeat_timeout_s, discover_services, max_discovered and
 * expected_services
 * (errors into cfg), and adds a target for each expected service to
 * targets, which already holds the configured targets. heartbeat_s is
 * bus.heartbeat_s; instance, prefix, defaults and targets must outlive s.
 */
void services_read(struct services *s, struct hb_config *cfg, const char *prefix,
    const char *instance, int heartbeat_s, const struct target_defaults *defaults,
    struct target_list *targets);

/* What a status message did (services_status), as bits. */
enum {
	SERVICES_ADDED = 1,	/* a new target, found on the bus */
	SERVICES_REMOVED = 2,	/* status cleared: unlinked, the caller frees it */
	SERVICES_OFFLINE = 4,	/* offline: judge it once the will is believed */
	SERVICES_WATCHER = 8,	/* another watcher came or went */
	SERVICES_REFUSED = 16,	/* new, but past health.max_discovered: not watched */
};

/*
 * P/svc/<service>/<instance>/status with payload: returns the service's
 * target, or NULL, and what changed in *what.
 */
struct target *services_status(struct services *s, const char *service,
    const char *instance, const char *payload, size_t len, int *what);
/*
 * P/svc/<service>/<instance>/heartbeat: taken by the service's target, if
 * any, which is returned (NULL if none). *judge says whether it is to be
 * judged now: it is online and not ok (its online status and a heartbeat
 * are the evidence of a return, as the last will is of a loss).
 */
struct target *services_heartbeat(struct services *s, const char *service,
    const char *instance, const char *payload, size_t len, bool *judge);
/*
 * Judges the service target t now (monotonic now_ms): returns true with the
 * result in r, or false when there is nothing to judge (the watcher does
 * not see the bus; a service still given time to show up).
 */
bool services_judge(const struct services *s, const struct target *t,
    int64_t now_ms, struct check_result *r);
/* True when service/instance is this watcher itself. */
bool services_is_self(const struct services *s, const char *service,
    const char *instance);
/* Another watcher online on our prefix, or NULL. */
const char *services_other_watcher(const struct services *s);

#endif
