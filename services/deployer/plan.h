/*
 * plan: the steps of a job in order (see job.h for each action's), and
 * which SQLite files going back or a restore puts back from a backup —
 * decided before the steps run, from the configuration and the backup
 * folder alone.
 */
#ifndef DEPLOYER_PLAN_H
#define DEPLOYER_PLAN_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "hb_msg.h"
#include "steps.h"

#define PLAN_MAX 16	/* a restore: 11 steps */

struct plan_step {
	enum job_step kind;
	int index;		/* n of "step n of m" */
};

struct plan {
	struct plan_step step[PLAN_MAX];
	size_t n, pos;			/* pos: the step running or next */
	int count;			/* m of "step n of m" */
	/* what going back, or a restore, puts back from a backup: live paths
	 * (pointing into the configuration) and whether the restore command
	 * runs */
	const char *restore[DEPLOYER_MAX_SQLITE];
	size_t nrestore;
	bool restore_cmd;
};

/* What a plan is made for; borrowed for the call. */
struct plan_job {
	const struct deployer_config *cfg;
	const char *id;			/* the job's, for the log */
	enum hb_deploy_action action;
	const char *backup;		/* the job's backup folder, or "" */
	bool dry_run;			/* nothing is restored */
};

/* Appends a step as step index of the plan (which then has index steps). */
void plan_add(struct plan *p, enum job_step kind, int index);

/*
 * The whole plan of a job starting (a rollback's restores with it, as
 * plan_restore chooses; a restore's files are plan_restore_target's, to
 * be chosen before).
 */
void plan_build(struct plan *p, const struct plan_job *pj);

/*
 * What going back restores from the job's backup (restore_on_rollback):
 * "never" nothing; "always" every SQLite file and the restore command;
 * "changed" the SQLite files whose schema differs from the backup's (the
 * failed version migrated them), leaving alone those it only wrote rows
 * to, and no restore command (InfluxDB's readings since stay).
 */
void plan_restore(struct plan *p, const struct plan_job *pj);

/*
 * The steps of going back from index n on: the services stopped and
 * their SQLite files restored (if any), up, the restore command (if
 * chosen), verify. Returns the last index.
 */
int plan_going_back(struct plan *p, int n);

/*
 * A restore: the SQLite files of deployer.sqlite_backups the backup holds
 * (those named by only[nonly], base names, or all), and the restore
 * command when it puts back everything. 0, or -1 with why there is nothing
 * to restore in why.
 */
int plan_restore_target(struct plan *p, const struct deployer_config *c,
    const char *backup, const char *const *only, size_t nonly, char *why,
    size_t whylen);

/*
 * A restore that did not hold goes back to the data as it was: every
 * SQLite file the backup `safety` (taken before the restore) holds, and
 * the restore command with it. Nothing when safety is "" or in a dry run.
 */
void plan_restore_back(struct plan *p, const struct deployer_config *c,
    const char *safety, bool dry_run);

#endif
