/*
 * hb_msg: the JSON messages of the bus (DESIGN.md, topic table), decoded
 * with size and type checks before use, and encoded the same way by every
 * service. Unknown keys are ignored so that messages can grow.
 *
 * A decoder fills its struct whole (what is absent gets its default) and
 * returns 0, or -1 with the reason in err; a struct it refused holds
 * nothing to free. An encoder returns a new JSON object (the caller
 * decrefs it).
 */
#ifndef HB_MSG_H
#define HB_MSG_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HB_MSG_MAX 65536	/* bytes of any JSON message on the bus */

/* ---- P/notify/<severity> ---- */

enum hb_severity {
	HB_SEV_INFO,
	HB_SEV_WARNING,
	HB_SEV_ERROR,
	HB_SEV_CRITICAL,
};

int hb_severity_parse(const char *s);	/* -1 if unknown */
const char *hb_severity_name(enum hb_severity sev);

struct hb_notify {
	enum hb_severity severity;
	char *text;	/* required */
	char *title;	/* may be NULL */
	char *key;	/* dedupe key, may be NULL */
	char *source;	/* may be NULL */
};

/* Decodes a notification; severity comes from the topic. 0 or -1 with err. */
int hb_notify_decode(const char *payload, size_t len, enum hb_severity sev,
    struct hb_notify *out, char *err, size_t errlen);
json_t *hb_notify_encode(const struct hb_notify *n);
void hb_notify_free(struct hb_notify *n);

/* ---- P/health/<target> ---- */

enum hb_health_state {
	HB_HEALTH_UNKNOWN,
	HB_HEALTH_OK,
	HB_HEALTH_DEGRADED,
	HB_HEALTH_DOWN,
};

int hb_health_state_parse(const char *s);
const char *hb_health_state_name(enum hb_health_state st);

struct hb_health_msg {
	char target[128];
	enum hb_health_state state;
	int64_t since_ms;	/* wall clock */
	char reason[256];
	double latency_ms;	/* < 0: none */
	char type[16];		/* "service", "http", ...; "" when absent */
	/* a service target: when it (re)started, wall clock; <= 0: unknown
	 * (the contract below) */
	int64_t started_ms;
};

/*
 * The contract between health and the deployer on `started`: for a target
 * of type "service", started is the start time the service itself gives
 * in its status and heartbeats (P/svc/<service>/<instance>/...). Health
 * publishes the target's state again as soon as it learns a new one (a
 * new process saying online), not at its next check interval. The
 * deployer's verify takes a service as replaced by a deploy only when its
 * state is ok and this returns true for the moment `up` began: a started
 * at or after it. No started (<= 0) is "unknown", never "replaced"; a
 * health watcher that sends it late makes a good deploy time out in
 * verify and be rolled back.
 */
bool hb_health_started_since(const struct hb_health_msg *h, int64_t since_ms);

int hb_health_decode(const char *payload, size_t len, struct hb_health_msg *out,
    char *err, size_t errlen);
json_t *hb_health_encode(const struct hb_health_msg *h);

/* ---- P/health/check ---- */

/*
 * A request to the health watcher: check these targets now, and again
 * every interval_s until `until` (a deploy being verified must not wait
 * for a 30 s check interval). No targets: every target.
 */
#define HB_HEALTH_CHECK_MAX_TARGETS 64
/*
 * The level of P/health/<level> that carries these requests. It shares
 * the filter P/health/+ (and #) with the targets' states, and no target
 * takes its name: a reader of the states skips it.
 */
#define HB_HEALTH_CHECK_LEVEL "check"

struct hb_health_check {
	size_t ntargets;
	char targets[HB_HEALTH_CHECK_MAX_TARGETS][128];
	int64_t until_ms;	/* wall clock; -1: once, now */
	int interval_s;		/* 0: the watcher's choice */
	char requested_by[128];
};

int hb_health_check_decode(const char *payload, size_t len,
    struct hb_health_check *out, char *err, size_t errlen);
json_t *hb_health_check_encode(const struct hb_health_check *c);

/* ---- P/svc/<service>/<instance>/heartbeat ---- */

/*
 * Every fact is optional on the way in: one that is absent, of another
 * type or too long is left at its default ("", 0, -1 for the time), never
 * a reason to refuse the heartbeat.
 */
struct hb_heartbeat {
	int64_t uptime_s;
	int64_t interval_s;	/* the sender's heartbeat interval, 0 if absent */
	long rss_kb;
	double cpu_s;
	int64_t time_ms;	/* the sender's wall clock when sent; -1 if absent */
	char service[64];
	char instance[64];
	char version[64];
	long pid;
};

int hb_heartbeat_decode(const char *payload, size_t len, struct hb_heartbeat *out,
    char *err, size_t errlen);
/* The heartbeat's own facts; a service adds its counters to the object. */
json_t *hb_heartbeat_encode(const struct hb_heartbeat *hb);

/* ---- P/deploy/command and P/deploy/state ---- */

enum hb_deploy_action {
	HB_DEPLOY_DEPLOY,
	HB_DEPLOY_ROLLBACK,
	HB_DEPLOY_STATUS,
	HB_DEPLOY_BACKUP,	/* the backup step alone, on demand or on schedule */
	HB_DEPLOY_RESTORE,	/* a backup put back, the version kept */
	HB_DEPLOY_VERIFY,	/* a backup checked against its manifest again */
	HB_DEPLOY_DRILL,	/* a backup restored into a scratch folder, checked */
};

const char *hb_deploy_action_name(enum hb_deploy_action a);
/* [A-Za-z0-9][A-Za-z0-9._-]*, at most 128 characters. */
bool hb_deploy_tag_ok(const char *tag);
/* A backup's folder name: the same characters, at most 191. */
bool hb_deploy_backup_name_ok(const char *name);

/*
 * Phases a deploy goes through (queued, preflight, pull, backup, up,
 * verify, rollback, and check, stop, restore of a restore or a rollback
 * that restores) are not final; done, failed, rolled_back,
 * rollback_failed, rejected and busy are, and so is anything unknown (a
 * follower must not wait for ever on a phase it does not know).
 */
bool hb_deploy_phase_final(const char *phase);

#define HB_DEPLOY_MAX_SERVICES 32
/*
 * deployer.verify.timeout_s when unset: how long verify may go on without
 * a new phase, so also how long a follower of P/deploy/state (the CLI's
 * --wait) must be ready to hear nothing (range 1..86400 s).
 */
#define HB_DEPLOY_VERIFY_TIMEOUT_S 300
#define HB_DEPLOY_BACKUP_MAX 192
#define HB_DEPLOY_MAX_FILES 16		/* a restore's "only" */
#define HB_DEPLOY_FILE_MAX 128

struct hb_deploy_cmd {
	char id[65];
	enum hb_deploy_action action;
	char tag[129];		/* "" when absent; required by deploy */
	size_t nservices;
	char services[HB_DEPLOY_MAX_SERVICES][64];
	char instance[64];	/* "" (any deployer) or one bus.instance */
	char backup[HB_DEPLOY_BACKUP_MAX];	/* rollback: to this backup's version;
						 * restore, verify, drill: the
						 * backup (drill: none, the newest) */
	size_t nonly;		/* restore: only these SQLite copies (base */
	char only[HB_DEPLOY_MAX_FILES][HB_DEPLOY_FILE_MAX];	/* names); none: all */
	char requested_by[128];
};

/*
 * Decodes a command. On error, out->id still holds the command's id when
 * it could be read, so that the rejection can name it.
 */
int hb_deploy_cmd_decode(const char *payload, size_t len,
    struct hb_deploy_cmd *out, char *err, size_t errlen);
json_t *hb_deploy_cmd_encode(const struct hb_deploy_cmd *c);

#define HB_DEPLOY_LOG_TAIL_MAX 4096
#define HB_DEPLOY_RESTORED_MAX 1024

struct hb_deploy_state {
	char id[65];
	enum hb_deploy_action action;
	char phase[32];		/* see hb_deploy_phase_final */
	char from_tag[129];
	char to_tag[129];
	char step[32];		/* the step running or that ended it: "pull" */
	int step_index;		/* step n of m (1-based); 0: none */
	int step_count;
	int64_t started_ms;
	int64_t updated_ms;
	char error[512];
	char requested_by[128];
	char instance[64];	/* the deployer's bus.instance */
	char log_tail[HB_DEPLOY_LOG_TAIL_MAX];	/* last lines of the failing step */
	char backup[HB_DEPLOY_BACKUP_MAX];	/* folder of the backup taken or used */
	/*
	 * what was put back: the SQLite files restored and where the files they
	 * replaced were kept; set by a restore that ended done and by a deploy,
	 * rollback or restore that rolled back and restored any ("" otherwise;
	 * error says it too, as it did before this field)
	 */
	char restored[HB_DEPLOY_RESTORED_MAX];
	char running_tag[129];	/* the version verified last */
	char previous_tag[129];	/* the one before it (where rollback goes) */
};

int hb_deploy_state_decode(const char *payload, size_t len,
    struct hb_deploy_state *out, char *err, size_t errlen);
json_t *hb_deploy_state_encode(const struct hb_deploy_state *s);

/*
 * ---- P/deploy/backups (retained): the deployer's backups at a glance ----
 *
 * Published by the deployer at start and after every job. The health
 * watcher's `backups` target reads it and relies on:
 *   - newest_ms: when the newest complete backup was taken (its manifest
 *     written after every SQLite copy passed integrity_check: a verified
 *     backup); -1 (null) when there is none, which counts as too old;
 *   - drill: the outcome of the last restore drill, "ok" or "failed", ""
 *     before the first; "failed" turns the target down until a drill passes.
 */
struct hb_backups_state {
	char instance[64];
	char newest[HB_DEPLOY_BACKUP_MAX];	/* its folder's name, "" none */
	int64_t newest_ms;
	char drill[16];
	char drill_backup[HB_DEPLOY_BACKUP_MAX];	/* the backup drilled */
	int64_t drill_ms;		/* when the last drill ended; -1 none */
	char drill_error[512];		/* what it found, when failed */
};

int hb_backups_state_decode(const char *payload, size_t len,
    struct hb_backups_state *out, char *err, size_t errlen);
json_t *hb_backups_state_encode(const struct hb_backups_state *s);

/* ---- P/deploy/available (retained: the newest version built) ---- */

int hb_deploy_available_decode(const char *payload, size_t len, char *tag,
    size_t taglen, char *err, size_t errlen);
json_t *hb_deploy_available_encode(const char *tag);

/* Time fields travel as ISO 8601 UTC strings; a time < 0 (unknown) as null. */
json_t *hb_msg_time(int64_t wall_ms);
int64_t hb_msg_parse_time(const char *s);	/* -1 if not ISO 8601 */

/*
 * True when payload (any bytes, at most HB_MSG_MAX) is JSON equal to o, keys
 * in any order: a retained message is still the one we published.
 */
bool hb_msg_json_equal(const char *payload, size_t len, const json_t *o);

#endif
