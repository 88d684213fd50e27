/*
 * commands: what arrives on P/deploy/command, into jobs or answers (see
 * commands.h).
 */
#include "commands.h"
#include "hb_log.h"
#include "hb_topic.h"
#include "hb_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct commands {
	struct hb_bus *bus;
	struct commands_parts p;
	struct hb_ratelimit bad_log;
	struct hb_counter *m_accepted, *m_rejected, *m_busy, *m_repeat, *m_status,
	    *m_other;
};

/* An answer to one command: not retained (see report_state). */
static void
answer(struct commands *in, const char *id, enum hb_deploy_action action,
    const char *to_tag, const char *phase, const char *error,
    const char *requested_by)
{
	struct hb_deploy_state s;
	struct journal_job none;

	memset(&none, 0, sizeof(none));
	snprintf(none.id, sizeof(none.id), "%s", id);
	none.action = action;
	snprintf(none.phase, sizeof(none.phase), "%s", phase);
	snprintf(none.to_tag, sizeof(none.to_tag), "%s", to_tag);
	snprintf(none.error, sizeof(none.error), "%s", error);
	snprintf(none.requested_by, sizeof(none.requested_by), "%s", requested_by);
	none.started_ms = none.updated_ms = hb_wall_ms();
	job_state_of(in->p.job, &none, &s);
	report_state(in->p.report, &s, false);
}

static void
answer_busy(struct commands *in, const struct hb_deploy_cmd *c)
{
	struct hb_deploy_state cur;
	char why[512];

	hb_counter_add(in->m_busy, 1);
	if (job_current(in->p.job, &cur))
		snprintf(why, sizeof(why), "busy: %s %s%s%s (id %s) is running, phase "
		    "%s, step %d of %d", hb_deploy_action_name(cur.action),
		    cur.from_tag, cur.from_tag[0] ? " -> " : "", cur.to_tag, cur.id,
		    cur.phase, cur.step_index, cur.step_count);
	else
		snprintf(why, sizeof(why), "busy: the deployer is stopping");
	hb_info("command id=%s answered busy: %s", c->id, why);
	answer(in, c->id, c->action, c->tag, "busy", why, c->requested_by);
}

/* Every service named must be one of deployer.services. */
static bool
services_known(struct commands *in, const struct hb_deploy_cmd *c, char *err,
    size_t errlen)
{
	for (size_t i = 0; i < c->nservices; i++)
		if (!deployer_config_has_service(in->p.cfg, c->services[i])) {
			snprintf(err, errlen, "unknown service \"%s\" (not in "
			    "deployer.services)", c->services[i]);
			return false;
		}
	return true;
}

/* status: the job running, else the last one, else "idle". */
static void
answer_status(struct commands *in, const struct hb_deploy_cmd *c)
{
	struct hb_deploy_state s;
	struct journal_job *last = hb_xmalloc(sizeof(*last));

	hb_counter_add(in->m_status, 1);
	if (job_current(in->p.job, &s)) {
		report_state(in->p.report, &s, true);
	} else if (journal_last(in->p.journal, last)) {
		job_state_of(in->p.job, last, &s);
		report_state(in->p.report, &s, true);
	} else {
		answer(in, c->id, HB_DEPLOY_STATUS, "", "idle", "", c->requested_by);
	}
	free(last);
}

/* A command seen before: its job's state, never a second run. */
static bool
answer_repeat(struct commands *in, const struct hb_deploy_cmd *c)
{
	struct journal_job *seen = hb_xmalloc(sizeof(*seen));
	struct hb_deploy_state s;
	bool found = journal_find(in->p.journal, c->id, seen);

	if (found) {
		hb_counter_add(in->m_repeat, 1);
		hb_info("command id=%s seen before (%s): answered with its state",
		    c->id, seen->outcome[0] ? seen->outcome : seen->phase);
		if (!job_current(in->p.job, &s) || strcmp(s.id, c->id) != 0)
			job_state_of(in->p.job, seen, &s);
		report_state(in->p.report, &s, false);
	}
	free(seen);
	return found;
}

static void
take(struct commands *in, const struct hb_deploy_cmd *c)
{
	const char *services[HB_DEPLOY_MAX_SERVICES];
	const char *only[HB_DEPLOY_MAX_FILES];
	struct job_request rq;
	char err[512];

	if (c->action == HB_DEPLOY_STATUS) {
		answer_status(in, c);
		return;
	}
	if (answer_repeat(in, c))
		return;
	if (!services_known(in, c, err, sizeof(err))) {
		hb_counter_add(in->m_rejected, 1);
		hb_warn("command id=%s rejected: %s", c->id, err);
		answer(in, c->id, c->action, c->tag, "rejected", err, c->requested_by);
		return;
	}
	if (job_active(in->p.job)) {
		answer_busy(in, c);
		return;
	}
	memset(&rq, 0, sizeof(rq));
	for (size_t i = 0; i < c->nservices; i++)
		services[i] = c->services[i];
	rq.id = c->id;
	rq.action = c->action;
	rq.tag = c->tag;
	rq.services = services;
	rq.nservices = c->nservices;
	rq.backup = c->backup;
	for (size_t i = 0; i < c->nonly; i++)
		only[i] = c->only[i];
	rq.only = only;
	rq.nonly = c->nonly;
	rq.requested_by = c->requested_by;
	if (job_start(in->p.job, &rq, err, sizeof(err)) != 0) {
		answer_busy(in, c);
		return;
	}
	hb_counter_add(in->m_accepted, 1);
}

static void
on_command(void *arg, const struct hb_bus_msg *msg)
{
	struct commands *in = arg;
	struct hb_deploy_cmd c;
	char err[256];

	if (hb_deploy_cmd_decode(msg->payload, msg->len, &c, err, sizeof(err)) != 0) {
		/* nothing of it runs; the reason goes back to whoever sent it */
		hb_counter_add(in->m_rejected, 1);
		hb_log_limited(&in->bad_log, HB_LOG_WARN, "command rejected id=%s "
		    "reason=\"%s\"", c.id[0] ? c.id : "-", err);
		answer(in, c.id, c.action, "", "rejected", err, c.requested_by);
		return;
	}
	if (c.instance[0] && strcmp(c.instance, in->p.instance) != 0) {
		hb_counter_add(in->m_other, 1);
		hb_debug("command id=%s is for instance %s, not us", c.id, c.instance);
		return;
	}
	hb_info("command id=%s action=%s tag=%s requested_by=%s", c.id,
	    hb_deploy_action_name(c.action), c.tag[0] ? c.tag : "-",
	    c.requested_by[0] ? c.requested_by : "-");
	take(in, &c);
}

void
commands_install(struct commands *in, const char *latest)
{
	struct hb_deploy_cmd c;
	struct hb_deploy_state s;

	memset(&c, 0, sizeof(c));
	c.action = HB_DEPLOY_DEPLOY;
	snprintf(c.requested_by, sizeof(c.requested_by), "homeassistant");
	snprintf(c.id, sizeof(c.id), "ha-%lld", (long long)hb_wall_ms());
	if (latest[0] == '\0') {
		answer(in, c.id, c.action, "", "rejected", "no version is available "
		    "(nothing retained on deploy/available)", c.requested_by);
		return;
	}
	job_state_of(in->p.job, &(struct journal_job){ 0 }, &s);
	if (strcmp(latest, s.running_tag) == 0 && !job_active(in->p.job)) {
		/* a repeat of a press already done (QoS 1 delivers again) */
		hb_info("install of %s ignored: it runs already", latest);
		return;
	}
	snprintf(c.tag, sizeof(c.tag), "%s", latest);
	take(in, &c);
}

/* A job of the schedule's, id "<action>-<time>", unless one runs. */
static bool
scheduled(struct commands *in, enum hb_deploy_action action, const char *who)
{
	struct hb_deploy_cmd c;
	char when[40];

	if (job_active(in->p.job))
		return false;
	memset(&c, 0, sizeof(c));
	c.action = action;
	hb_iso8601(hb_wall_ms(), when, sizeof(when));
	snprintf(c.id, sizeof(c.id), "%s-%s", hb_deploy_action_name(action), when);
	snprintf(c.requested_by, sizeof(c.requested_by), "%s", who);
	take(in, &c);
	return true;
}

bool
commands_scheduled_backup(struct commands *in)
{
	return scheduled(in, HB_DEPLOY_BACKUP, "schedule");
}

bool
commands_scheduled_drill(struct commands *in)
{
	return scheduled(in, HB_DEPLOY_DRILL, "drill schedule");
}

struct commands *
commands_new(struct hb_bus *bus, const struct commands_parts *p,
    struct hb_metrics *metrics)
{
	struct commands *in = hb_xcalloc(1, sizeof(*in));
	static const char help[] = "Commands on deploy/command by what became "
	    "of them.";

	in->bus = bus;
	in->p = *p;
	hb_ratelimit_init(&in->bad_log, 20, 10);
	in->m_accepted = hb_metrics_counter(metrics, "commands_total", help,
	    "result=\"accepted\"");
	in->m_rejected = hb_metrics_counter(metrics, "commands_total", help,
	    "result=\"rejected\"");
	in->m_busy = hb_metrics_counter(metrics, "commands_total", help,
	    "result=\"busy\"");
	in->m_repeat = hb_metrics_counter(metrics, "commands_total", help,
	    "result=\"repeat\"");
	in->m_status = hb_metrics_counter(metrics, "commands_total", help,
	    "result=\"status\"");
	in->m_other = hb_metrics_counter(metrics, "commands_total", help,
	    "result=\"other_instance\"");
	return in;
}

void
commands_free(struct commands *in)
{
	free(in);
}

int
commands_subscribe(struct commands *in)
{
	char topic[HB_TOPIC_MAX];

	if (hb_topic_deploy(topic, sizeof(topic), in->p.prefix, "command", NULL) != 0)
		return -1;
	return hb_bus_subscribe(in->bus, topic, 1, on_command, in);
}
