/*
 * steps: runs one step of a job — the preflight checks, a command template,
 * the three parts of a backup (SQLite copies, the backup command, the
 * manifest with retention), a verify — and reports its result in one shape,
 * so that the job only puts steps in order and decides what a failure means.
 */
#ifndef DEPLOYER_STEPS_H
#define DEPLOYER_STEPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "job.h"

enum job_step {
	JS_PREFLIGHT,
	JS_PULL,
	JS_SQLITE,		/* the backup's SQLite copies */
	JS_BACKUP_CMD,		/* the configured backup command */
	JS_MANIFEST,		/* the backup's manifest, then retention */
	JS_UP,
	JS_RESTORE,		/* the configured restore command */
	JS_STOP,		/* the job's services, before their files are restored */
	JS_RESTORE_SQLITE,	/* the SQLite files of restore_files, from the backup */
	JS_CHECK,		/* a restore's backup against its manifest */
	JS_DRILL,		/* a backup restored into a scratch folder */
	JS_DRILL_CMD,		/* the configured drill command, on that backup */
	JS_VERIFY,
	JS_RECORD,		/* the job's own: nothing runs */
};

/*
 * What the state calls it: the three parts of a backup are all "backup",
 * the SQLite files and the command both "restore", the two parts of a
 * drill both "drill".
 */
const char *steps_name(enum job_step s);

/* What a step needs to know of its job; valid until the step is done. */
struct step_input {
	enum hb_deploy_action action;
	const char *id;
	const char *from_tag;
	const char *to_tag;
	const char *tag;		/* the version this step works with */
	const char *const *services;	/* the job's services */
	size_t nservices;		/* 0: all of compose's */
	bool backs_up;			/* preflight: the job takes a backup */
	const char *no_target;		/* preflight: why a rollback or a restore
					 * has no target */
	int64_t up_ms;			/* verify: restarts must come after it */
	char *backup;			/* the backup folder's name: JS_SQLITE */
	size_t backup_len;		/* writes it, the others read it */
	const char *const *restore_files;	/* JS_RESTORE_SQLITE: live paths */
	size_t nrestore;
	char *restored;			/* JS_RESTORE_SQLITE writes what it did */
	bool rolling_back;		/* the job goes back after a failure */
	size_t restored_len;
};

struct step_result {
	bool ok;
	const char *error;		/* why not ("" when ok) */
	const char *tail;		/* the last lines of output, or details */
	const char *output;		/* all of its output (the job's log) */
	size_t output_len;
	const char *argv_json;		/* the command as run, or "" */
	int exit_code;			/* -1: no command ran */
	int signal;
	bool timed_out;
};

/* Called once per step, maybe before steps_run returns; r lives for the call. */
typedef void (*steps_done_fn)(const struct step_result *r, void *arg);

struct steps;

/* The parts are borrowed and outlive it. */
struct steps *steps_new(const struct job_parts *parts);
void steps_free(struct steps *s);

void steps_run(struct steps *s, enum job_step kind, const struct step_input *in,
    steps_done_fn done, void *arg);
/* A command or a backup part runs (it cannot be cut short, only waited for). */
bool steps_waiting(const struct steps *s);
/* Cuts a verify short, without a callback; true if one ran. */
bool steps_cut_verify(struct steps *s);

#endif
