/*
 * config: the deployer's section of the configuration file, read and
 * checked once at start (every error names its JSON path). Strings point
 * into the configuration, which outlives the service.
 */
#ifndef DEPLOYER_CONFIG_H
#define DEPLOYER_CONFIG_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>

#include "hb_app.h"
#include "hb_msg.h"

#define DEPLOYER_MAX_ARGV 48
#define DEPLOYER_MAX_SQLITE 16
#define DEPLOYER_MAX_TARGETS HB_HEALTH_CHECK_MAX_TARGETS
#define DEPLOYER_TARGET_MAX 128

/* The command steps, each a template in deployer.steps. */
enum step_kind {
	STEP_PULL,
	STEP_BACKUP,
	STEP_UP,
	STEP_RESTORE,
	/*
	 * up when the version deployed is the one running (a redeploy): every
	 * service is recreated, since a plain `up -d` of an unchanged
	 * configuration replaces nothing and verify would find no restart.
	 * By default the default up with --force-recreate, or a configured up
	 * as it is (compose-up recreates, systemctl restart restarts).
	 */
	STEP_RECREATE,
	/*
	 * stops the services of the job before their SQLite files are restored
	 * (a rollback that restores any); the up that follows starts them.
	 */
	STEP_STOP,
	/*
	 * a drill's own part, after the SQLite copies were restored and
	 * counted: restores the rest of the backup ({backup_dir}, InfluxDB's
	 * part) into a scratch place and checks it; none by default
	 */
	STEP_DRILL,
	STEP_KINDS,
};

const char *step_kind_name(enum step_kind k);

/* deployer.restore_on_rollback: which SQLite files a rollback restores. */
enum deployer_restore {
	RESTORE_CHANGED,	/* those whose schema changed since the backup */
	RESTORE_ALWAYS,		/* all of them, and the restore command runs */
	RESTORE_NEVER,
};

struct step_template {
	const char *argv[DEPLOYER_MAX_ARGV + 1];
	size_t argc;		/* 0: not configured (nothing to run) */
	int timeout_s;
};

struct deployer_config {
	const char *compose_file;
	const char *workdir;
	const char *tag_env;
	const char *initial_tag;	/* "": none (the first deploy has no "from") */
	char backup_dir[PATH_MAX];
	char journal_path[PATH_MAX];
	size_t nservices;
	const char *services[HB_DEPLOY_MAX_SERVICES];	/* empty: all of them */
	int keep_backups;
	long long min_free_mb;
	size_t nsqlite;
	const char *sqlite[DEPLOYER_MAX_SQLITE];
	struct step_template steps[STEP_KINDS];
	int kill_grace_s;	/* SIGTERM to a timed-out step, then SIGKILL */
	size_t ntargets;
	char targets[DEPLOYER_MAX_TARGETS][DEPLOYER_TARGET_MAX];
	int verify_timeout_s;
	int stable_s;
	int interval_s;
	enum deployer_restore restore_on_rollback;
	double backup_every_h;	/* 0: no scheduled backups */
	int backup_at_h, backup_at_m;	/* a backup daily then, local; -1: none */
	int keep_days;		/* backups this young are kept too; 0: none */
	double drill_every_d;	/* a restore drill this often; 0: none */
	int catch_up_s;		/* a backup or drill missed runs this long
				 * after start (or after a job) */
	bool ha_discovery;
	const char *ha_prefix;	/* "homeassistant" */
};

/*
 * Reads deployer.* (and, for the default verify targets,
 * health.expected_services and health.targets[].name). Errors go to the
 * configuration; instance is this deployer's bus.instance.
 */
void deployer_config_read(struct deployer_config *c, struct hb_app *app,
    const char *instance);

/* True when service is one of deployer.services (or that list is empty). */
bool deployer_config_has_service(const struct deployer_config *c,
    const char *service);

#endif
