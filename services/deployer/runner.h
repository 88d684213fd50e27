/*
 * runner: runs one step's command template through hb_proc — placeholders
 * substituted in the arguments (never a shell), the tag in the environment
 * (deployer.tag_env), in deployer.workdir, killed with its whole process
 * group at the step's timeout. A template with {service} runs once per
 * service, one after the other. Under --dry-run the command is logged as it
 * would run, and succeeds.
 */
#ifndef DEPLOYER_RUNNER_H
#define DEPLOYER_RUNNER_H

#include <event2/event.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"

struct runner;

/* What the placeholders stand for in one run. */
struct runner_params {
	const char *tag;		/* {tag} and $tag_env; "" for none */
	const char *backup_dir;		/* {backup_dir} */
	const char *const *services;	/* {services}; {service} once each */
	size_t nservices;
};

struct runner_result {
	bool ok;			/* exit 0 of every command */
	int exit_code;			/* of the last command run; -1: none */
	int signal;
	bool timed_out;
	int64_t started_ms;		/* wall clock */
	double elapsed_ms;		/* of all its commands */
	const char *error;		/* why it failed ("" when ok) */
	const char *argv_json;		/* the last command as run, a JSON list */
	const char *output;		/* the output of all its commands */
	size_t output_len;
};

/* Called once on the loop when the step is over; r is valid during the call. */
typedef void (*runner_done_fn)(const struct runner_result *r, void *arg);

struct journal;

/*
 * cfg and journal are borrowed and outlive the runner. The journal holds
 * the process group of the command running, for runner_end_orphan.
 */
struct runner *runner_new(struct event_base *base,
    const struct deployer_config *cfg, struct journal *journal, bool dry_run);
/* Kills a command still running (its group), without a callback. */
void runner_free(struct runner *r);

/*
 * Starts step `kind` (one must not be running). 0, or -1 with the reason
 * in err when the template expands to nothing runnable; done is called
 * later in every other case, also when the command cannot be started.
 */
int runner_start(struct runner *r, enum step_kind kind,
    const struct runner_params *p, runner_done_fn done, void *arg, char *err,
    size_t errlen);
bool runner_busy(const struct runner *r);

/*
 * At start, before anything runs: the command a killed deployer left
 * running (its process group, recorded in the journal) is ended, SIGTERM
 * then SIGKILL after deployer.kill_grace_s, whatever supervises the
 * deployer, so that it cannot finish behind a rollback. Blocks until the
 * group is gone. Returns how many of its processes were alive.
 */
int runner_end_orphan(struct runner *r);

/*
 * The step as a person would type it ("IMAGE_TAG=v1 docker compose -f
 * /opt/stack/docker-compose.yml up -d writer"), for what to run by hand.
 */
void runner_describe(const struct runner *r, enum step_kind kind,
    const struct runner_params *p, char *out, size_t outlen);

/*
 * Substitutes the placeholders of template t for one run (service: the one
 * {service} stands for, or NULL). Returns the number of arguments, their
 * strings in out[] (free each), or -1 with the reason in err.
 */
int runner_expand(const struct deployer_config *cfg,
    const struct step_template *t, const struct runner_params *p,
    const char *service, char **out, size_t max, char *err, size_t errlen);

/*
 * The last `lines` lines of output (at most dstlen - 1 bytes), as text safe
 * for JSON: invalid UTF-8 and control characters other than newline and
 * tab become '?', carriage returns go.
 */
void runner_tail(const char *output, size_t len, int lines, char *dst,
    size_t dstlen);

#endif
