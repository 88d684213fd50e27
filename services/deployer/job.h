/*
 * job: one deploy, rollback or backup at a time, step by step —
 *
 *   deploy    preflight, pull, backup, up, verify, record
 *   rollback  preflight, up, [restore], verify, record
 *   backup    preflight, backup, record
 *   restore   preflight, check, backup, stop, restore, up, [restore],
 *             verify, record
 *
 * A failure at or after `up` goes back by itself to the version that ran
 * before the job (up, [restore], verify: phase "rollback"); a rollback
 * that does not verify is rollback_failed, and says what to run by hand.
 * Every step is in the journal before the next starts, so a job the
 * process did not finish is found at the next start (job_recover).
 */
#ifndef DEPLOYER_JOB_H
#define DEPLOYER_JOB_H

#include <event2/event.h>
#include <jansson.h>
#include <stdbool.h>

#include "backup.h"
#include "config.h"
#include "ha_update.h"
#include "hb_msg.h"
#include "journal.h"
#include "report.h"
#include "runner.h"
#include "verify.h"

/* The parts a job uses; all borrowed, all outlive it. */
struct job_parts {
	const struct deployer_config *cfg;
	struct journal *journal;
	struct runner *runner;
	struct backup *backup;
	struct verify *verify;
	struct report *report;
	struct ha *ha;			/* may be NULL */
	const char *instance;
	/*
	 * --dry-run: commands are logged, not run (the runner); no backup is
	 * written; verify does not ask for restarts; the job changes no
	 * version in the journal.
	 */
	bool dry_run;
	/* called on the loop after every job's end (may be NULL) */
	void (*ended)(void *arg);
	void *ended_arg;
};

/* What a command (or the schedule, or Home Assistant) asks for. */
struct job_request {
	const char *id;
	enum hb_deploy_action action;	/* deploy, rollback or backup */
	const char *tag;		/* deploy */
	const char *const *services;	/* a subset of deployer.services; */
	size_t nservices;		/* none: all of them */
	const char *backup;		/* rollback to this backup's version, or "";
					 * restore: the backup put back */
	const char *const *only;	/* restore: these SQLite copies (base */
	size_t nonly;			/* names); none: every one */
	const char *requested_by;
};

struct job;

struct job *job_new(struct event_base *base, const struct job_parts *parts);
void job_free(struct job *j);

/* Whether a job runs (the journal's lock is held). */
bool job_active(const struct job *j);

/*
 * Starts a job. -1 with the reason in err when one runs already or the
 * journal refuses it (the caller answers "busy").
 */
int job_start(struct job *j, const struct job_request *rq, char *err,
    size_t errlen);

/*
 * At start: a job the journal has no outcome for was interrupted. It is
 * reported, and rolled back if it had reached `up`, else closed as failed.
 */
void job_recover(struct job *j);

/* The state of a journal row, as P/deploy/state carries it. */
void job_state_of(struct job *j, const struct journal_job *row,
    struct hb_deploy_state *out);
/* The running job's state; false when none runs. */
bool job_current(struct job *j, struct hb_deploy_state *out);

/*
 * SIGTERM: the step running is let finish (a verify is cut short), it is
 * recorded, nothing more starts, then stopped(arg) is called (at once when
 * no job runs). The job stays open in the journal: the next start
 * recovers it as after a kill.
 */
void job_stop(struct job *j, void (*stopped)(void *arg), void *arg);

/* Tells Home Assistant the version running now (after connecting). */
void job_announce(struct job *j);

/* For /health: "idle", or what runs. */
json_t *job_health(struct job *j);

#endif
