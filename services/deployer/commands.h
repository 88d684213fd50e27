/*
 * commands: what arrives on P/deploy/command (and Home Assistant's Install
 * button, and the backup schedule) becomes a job or an answer. Invalid
 * commands get a `rejected` state with the reason and run nothing; one
 * for another bus.instance is not ours; a repeated id is answered with
 * that job's state and never run twice; `status` republishes the state;
 * anything else while a job runs gets `busy` at once, naming that job.
 */
#ifndef DEPLOYER_COMMANDS_H
#define DEPLOYER_COMMANDS_H

#include "config.h"
#include "hb_bus.h"
#include "hb_metrics.h"
#include "job.h"
#include "journal.h"
#include "report.h"

struct commands;

/* All borrowed; they outlive the commands part. */
struct commands_parts {
	const struct deployer_config *cfg;
	struct journal *journal;
	struct job *job;
	struct report *report;
	const char *prefix;
	const char *instance;
};

struct commands *commands_new(struct hb_bus *bus, const struct commands_parts *p,
    struct hb_metrics *metrics);
void commands_free(struct commands *in);
/* Subscribes to P/deploy/command (QoS 1, the persistent session). */
int commands_subscribe(struct commands *in);

/* Install pressed in Home Assistant: deploy `latest` unless it runs. */
void commands_install(struct commands *in, const char *latest);
/* The schedule's backup (deployer.backup_every_h). false: a job runs. */
/*
 * The restore drill's schedule: a drill of the newest backup, unless a job
 * runs (false: try again later).
 */
bool commands_scheduled_drill(struct commands *in);
bool commands_scheduled_backup(struct commands *in);

#endif
