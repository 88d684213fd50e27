/*
 * target: one thing the health watcher watches — what it is (an entry of
 * health.targets, an expected service, or a service found on the bus), its
 * state with hysteresis, and the last hour of check results for the page.
 * Pure logic: no loop, no bus; health.c drives it.
 */
#ifndef TARGET_H
#define TARGET_H

#include <event2/event.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>

#include "hb_config.h"
#include "hb_metrics.h"
#include "hb_msg.h"

enum target_type {
	TT_HTTP,
	TT_EXEC,
	TT_DISK,
	TT_MQTT,
	TT_SERVICE,
	TT_BACKUPS,	/* the deployer's backups (backups_watch) */
};

const char *target_type_name(enum target_type t);

/* What one check found. Ordered: a larger level is worse. */
enum check_level {
	LEVEL_OK,
	LEVEL_DEGRADED,
	LEVEL_FAIL,
};

/*
 * The reason says what is wrong in words that stay the same while it
 * lasts (a changing reason republishes the retained state): figures that
 * change from check to check go into their own fields.
 */
struct check_result {
	enum check_level level;
	double latency_ms;	/* < 0: not measured */
	char reason[256];
	double free_mb;		/* disk: free space, when total_mb > 0 */
	double total_mb;
};

#define TARGET_NAME_MAX 128
#define TARGET_RECENT 32	/* results kept for hysteresis */
#define HYSTERESIS_MAX 20	/* fail_after, recover_after at most this */
#define HISTORY_SLOTS 60	/* one a minute: the last hour */

/* What a service's retained status topic said. */
enum svc_status {
	SVC_UNSEEN,	/* nothing yet (or cleared) */
	SVC_ONLINE,
	SVC_OFFLINE,
};

struct history_slot {
	int64_t minute;		/* wall-clock minute number */
	uint16_t checks;
	uint8_t worst;		/* enum check_level */
};

/* the states of enum hb_health_state, unknown to down */
#define TARGET_STATES (HB_HEALTH_DOWN + 1)

struct target {
	TAILQ_ENTRY(target) entry;
	char name[TARGET_NAME_MAX];
	char ha_id[TARGET_NAME_MAX + 16];	/* [A-Za-z0-9_-] for Home Assistant */
	enum target_type type;
	bool from_config;
	bool expected;		/* a service whose absence is a fault */
	bool notify;
	int64_t interval_ms;
	int64_t timeout_ms;
	int64_t degraded_ms;	/* slower checks count as degraded; 0: off */
	int fail_after;
	int recover_after;

	/* http */
	char *url;
	char *method;
	long expect_status;	/* 0: any 2xx */
	char *auth_header;	/* "Authorization: Bearer ..." or NULL */
	/* exec */
	char **argv;		/* NULL-terminated */
	char *expect_output;
	/* disk */
	char *path;
	int64_t min_free_mb;
	int64_t warn_free_mb;
	/* backups */
	int64_t max_age_ms;	/* the newest backup may be this old */
	/* service */
	char service[64];
	char instance[64];
	enum svc_status status;
	int64_t status_ms;	/* monotonic: when the status last changed */
	int64_t status_wall_ms;
	int64_t heartbeat_ms;	/* monotonic: the last heartbeat, 0: none */
	int64_t started_ms;	/* wall clock: its start, from that heartbeat */
	struct hb_heartbeat heartbeat;
	/* its figures from the heartbeat (figures.c); < 0: not known */
	double points_per_s;
	int64_t spool_points;
	int64_t outbox;
	int64_t written_prev;	/* points_written at the last heartbeat */
	int64_t written_prev_ms;	/* monotonic */

	/* state */
	enum hb_health_state state;
	int64_t since_ms;	/* wall clock */
	char reason[256];
	double latency_ms;
	double free_mb;		/* disk: the last figures, when total_mb > 0 */
	double total_mb;
	int64_t checked_ms;	/* wall clock of the last result, 0: none */
	uint64_t checks;
	uint8_t recent[TARGET_RECENT];	/* ring of enum check_level */
	unsigned nrecent;	/* results in the ring (at most TARGET_RECENT) */
	unsigned recent_head;	/* where the next one goes */
	struct history_slot history[HISTORY_SLOTS];

	/* a check request (P/health/check): checked this often until then */
	int64_t hurry_interval_ms;
	int64_t hurry_until_ms;		/* wall clock, 0: none */

	/* notifications: the state the last notification (or a previous run) told */
	enum hb_health_state notified;
	int64_t notified_since_ms;

	/* run-time: the check timer and what is in flight (health.c) */
	void *owner;		/* the health watcher: the check timer's */
	struct event *ev_check;
	bool in_flight;
	void *pending;		/* the transfer or child in flight (checks.c) */
	void *lingering;	/* an earlier check's child that outlived SIGKILL */
	/* the mqtt round trip (probe.c) */
	void *prober;		/* the probe that sent the one in flight */
	struct event *ev_timeout;
	int64_t started_us;
	uint64_t probe_seq;
	/* metrics (health.c): target_state{target,state}, one series per
	 * state, 1 for the one it is in (a Prometheus StateSet) */
	struct hb_gauge *m_state[TARGET_STATES];
	char m_labels[TARGET_NAME_MAX + 16];
	/* the retained state last published (publish.c) */
	uint64_t published_hash;	/* state and reason */
	int64_t published_ms;		/* monotonic, 0: never */
};

TAILQ_HEAD(target_list, target);

/* Sets t's target_state series to its state (nothing before they exist). */
void target_show_state(struct target *t);

/* Defaults of health.*, applied to every target that does not say. */
struct target_defaults {
	int64_t interval_ms;
	int64_t timeout_ms;
	int fail_after;
	int recover_after;
};

/*
 * Reads health.targets into list (appended, from_config set). Every error
 * is recorded in cfg with its JSON path. Adds a "broker" mqtt target when
 * the list has none.
 */
void targets_read(struct hb_config *cfg, const struct target_defaults *d,
    struct target_list *list);

/*
 * A new service target (state unknown) for service/instance, named name.
 * The caller inserts it in its list and frees it with target_free.
 */
struct target *target_new_service(const char *name, const char *service,
    const char *instance, const struct target_defaults *d);
void target_free(struct target *t);
void targets_free(struct target_list *list);
struct target *targets_find(struct target_list *list, const char *name);

/* True when s can be a target name in the configuration: [A-Za-z0-9_.-], 1-64. */
bool target_name_ok(const char *s);
/*
 * P/health/<level> topics that are not a target's: "check" (requests to
 * check now) and "_all" (the overall state). No target takes these names.
 */
#define TARGET_CHECK_LEVEL HB_HEALTH_CHECK_LEVEL
bool target_name_reserved(const char *s);
/*
 * The id Home Assistant allows in discovery topics and unique ids
 * ([a-zA-Z0-9_-]): the name with other characters replaced by '_', plus a
 * short hash of the name when anything was replaced, so that two names
 * never share an id.
 */
void target_ha_id(const char *name, char *out, size_t outlen);

/*
 * Records a check result: history, hysteresis, reason and latency.
 * fail_after results at least as bad as a worse state move the target
 * there, recover_after results at least as good as a better state move it
 * back; from unknown, the first good result is enough. Returns true when
 * the state changed (since is then now_ms).
 */
bool target_record(struct target *t, const struct check_result *r,
    int64_t now_ms);

/*
 * Sets a state at once, without hysteresis (a service's last will), and
 * forgets the recent results so that a recovery needs recover_after good
 * checks. Returns true when the state changed.
 */
bool target_force(struct target *t, enum hb_health_state st, const char *reason,
    int64_t now_ms);

/*
 * A check request: t is checked every interval_ms (when that is sooner
 * than its own interval) until until_ms (wall clock). A request that
 * overlaps one still running keeps the later end and the shorter interval.
 */
void target_hurry(struct target *t, int64_t interval_ms, int64_t until_ms,
    int64_t now_ms);
/* Milliseconds from now_ms (wall clock) to t's next check. */
int64_t target_next_ms(const struct target *t, int64_t now_ms);

/* A heartbeat's uptime is believed up to this (10 years). */
#define HEARTBEAT_UPTIME_MAX_S (10LL * 366 * 86400)

/*
 * Takes a service's heartbeat (zeroed when it could not be decoded),
 * received at now_ms (monotonic) and wall_ms (wall clock), and with it when
 * the service started. uptime_s comes from the bus and is multiplied into
 * milliseconds: it is clamped to [0, 10 years].
 */
void target_heartbeat(struct target *t, const struct hb_heartbeat *hb,
    int64_t now_ms, int64_t wall_ms);
/*
 * When the service of t started (wall clock), from a heartbeat of the run
 * its status says is online; -1 when that is not known.
 */
int64_t target_started(const struct target *t);

/* The worst result of the minute `minute` (wall-clock minute number), or -1. */
int target_history_at(const struct target *t, int64_t minute, unsigned *checks);

/*
 * A retained status payload: "online", "offline", or empty (the retained
 * message was cleared: SVC_UNSEEN). Returns -1 for anything else.
 */
int svc_status_parse(const char *payload, size_t len);

/* For sorting and the overall state: down > degraded > unknown > ok. */
int health_state_rank(enum hb_health_state st);
/* The worst state of the targets in list (ok for none). */
enum hb_health_state targets_worst(const struct target_list *list);

#endif
