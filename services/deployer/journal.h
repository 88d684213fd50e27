/*
 * journal: every deploy, rollback and backup in SQLite (WAL), with its
 * steps, exit codes, durations and output tails. The row of a job that is
 * still going (no outcome yet) is the deployer's lock: at most one such row
 * exists, and one found at start is a job the deployer did not finish.
 * The version running now and the one before it come from the rows too.
 */
#ifndef DEPLOYER_JOURNAL_H
#define DEPLOYER_JOURNAL_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "hb_msg.h"

struct journal;

/* One job as the journal keeps it. */
struct journal_job {
	int64_t seq;			/* the row; 0 until journal_begin */
	char id[65];
	enum hb_deploy_action action;
	char from_tag[129];
	char to_tag[129];
	char services[HB_DEPLOY_MAX_SERVICES * 64];	/* space-separated */
	char requested_by[128];
	char backup[HB_DEPLOY_BACKUP_MAX];	/* taken by it, or restored */
	char phase[32];
	char step[32];
	int step_index, step_count;
	char outcome[32];		/* "" while it runs */
	char error[512];
	char log_tail[HB_DEPLOY_LOG_TAIL_MAX];
	char restored[HB_DEPLOY_RESTORED_MAX];	/* what it put back, at its end */
	int64_t started_ms, updated_ms, finished_ms;
	int64_t up_ms;			/* wall time its (first) up began; 0: not yet */
	bool dry_run;			/* nothing ran: it changes no version */
};

/* One step of a job: a command, the SQLite copies, or a verify. */
struct journal_step {
	char name[32];			/* "pull", "rollback up", "verify" */
	char argv[2048];		/* the command as run (JSON), or "" */
	int exit_code;			/* -1: none */
	int signal;
	bool timed_out;
	bool ok;
	int64_t started_ms;
	double duration_ms;
	char output_tail[HB_DEPLOY_LOG_TAIL_MAX];
};

/* Opens (creating) the journal; NULL with the reason in err. */
struct journal *journal_open(const char *path, char *err, size_t errlen);
void journal_close(struct journal *j);

/*
 * Records a new job (sets job->seq). -1 when another job has no outcome
 * (the lock is held) or the id was seen before, or on a database error.
 */
int journal_begin(struct journal *j, struct journal_job *job);
/* Saves the job's phase, step, tags, backup, error, tail and outcome. */
int journal_save(struct journal *j, const struct journal_job *job);
int journal_add_step(struct journal *j, int64_t seq, const struct journal_step *s);

/*
 * The process group of the step command running (its leader's pid and
 * start time, hb_proc_start_time), so that a deployer killed in a step
 * can end that step at its next start instead of letting it finish
 * behind the rollback's back.
 */
struct journal_group {
	int64_t pgid;
	unsigned long long leader_start;
	char step[32];
	int64_t started_ms;
};

/* Records the group of the command that starts; NULL: none runs now. */
int journal_set_group(struct journal *j, const struct journal_group *g);
/* The group recorded, if any. */
bool journal_group(struct journal *j, struct journal_group *out);

/* The job with this id, if any. */
bool journal_find(struct journal *j, const char *id, struct journal_job *out);
/* The newest finished job of this action, if any. */
bool journal_last_of(struct journal *j, enum hb_deploy_action action,
    struct journal_job *out);
/* The newest job, if any. */
bool journal_last(struct journal *j, struct journal_job *out);
/* The job without an outcome (the lock), if any. */
bool journal_unfinished(struct journal *j, struct journal_job *out);

/*
 * The version verified last (the newest done deploy or rollback that was
 * not a dry run), else
 * `initial`; the one that ran before it ("" if none); and the backup that
 * deploy took (""), which retention keeps.
 */
void journal_versions(struct journal *j, const char *initial, char *running,
    size_t runlen, char *previous, size_t prevlen, char *backup, size_t backlen);

/* The last n jobs, newest first, each with its steps (GET /deploys). */
json_t *journal_recent(struct journal *j, int n);

#endif
