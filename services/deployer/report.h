/*
 * report: what the deployer tells everyone — the deploy state on
 * P/deploy/state, notifications on P/notify/<severity> (one dedupe key per
 * job and outcome), and one line-protocol point per outcome on
 * P/points/homebus_deploy for Grafana's annotations. Publishes made while
 * the broker is away wait in the bus and go out when it is back.
 */
#ifndef DEPLOYER_REPORT_H
#define DEPLOYER_REPORT_H

#include <stdbool.h>

#include "hb_bus.h"
#include "hb_msg.h"

struct report;

/* The bus is borrowed. */
struct report *report_new(struct hb_bus *bus, const char *prefix,
    const char *instance);
void report_free(struct report *r);

/*
 * Publishes a state. The state of a job is retained (the last one is what
 * a late reader sees); an answer to one command (rejected, busy, a repeated
 * id) is not, so that it never hides the state of the last job.
 */
void report_state(struct report *r, const struct hb_deploy_state *s,
    bool retained);

/* key: the dedupe key ("deploy/<id>/<outcome>"). */
void report_notify(struct report *r, enum hb_severity sev, const char *key,
    const char *title, const char *text);

/* How a job ended, for its notification and its point. */
struct report_outcome {
	const char *id;
	enum hb_deploy_action action;
	const char *outcome;	/* done, failed, rolled_back, rollback_failed */
	const char *from_tag;
	const char *to_tag;
	const char *error;	/* why it ended so ("" when done) */
	const char *tail;	/* the last output of the step that failed */
	const char *cause;	/* why it rolled back */
	const char *cause_tail;
	const char *backup;	/* the folder it took, or "" */
	const char *restored;	/* the SQLite files restored from it, or "" */
	const char *detail;	/* done: what a check or drill found, or "" */
	const char *by_hand;	/* rollback_failed: the command to run */
	bool quiet;		/* a done nobody waits for (the nightly backup) */
	double duration_s;
};

/*
 * The end of a job: its notification (done: info; failed, rolled_back:
 * error; rollback_failed: critical, with what to run by hand), keyed
 * "<deploy|backup>/<id>/<outcome>", and its point:
 * homebus_deploy,action=..,instance=..,outcome=.. to_tag="..",from_tag="..",
 * duration_s=..,id=".." (stamped by the writer when it takes it).
 */
void report_outcome(struct report *r, const struct report_outcome *o);

/* P/deploy/backups, retained (see bus/hb_msg.h). */
void report_backups(struct report *r, const struct hb_backups_state *s);

/* "A -> B", or the one tag there is. */
void report_versions(const char *from_tag, const char *to_tag, char *out,
    size_t outlen);

#endif
