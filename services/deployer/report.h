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

/*
 * homebus_deploy,action=..,outcome=..,instance=.. to_tag="..",from_tag="..",
 * duration_s=..,id=".." — stamped by the writer when it takes it.
 */
void report_point(struct report *r, const char *action, const char *outcome,
    const char *to_tag, const char *from_tag, double duration_s,
    const char *id);

#endif
