/*
 * report: states, notifications and points on the bus (see report.h).
 */
#include "report.h"
#include "hb_log.h"
#include "hb_lp.h"
#include "hb_topic.h"
#include "hb_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct report {
	struct hb_bus *bus;
	char prefix[64];
	char instance[64];
};

struct report *
report_new(struct hb_bus *bus, const char *prefix, const char *instance)
{
	struct report *r = hb_xcalloc(1, sizeof(*r));

	r->bus = bus;
	snprintf(r->prefix, sizeof(r->prefix), "%s", prefix);
	snprintf(r->instance, sizeof(r->instance), "%s", instance);
	return r;
}

void
report_free(struct report *r)
{
	free(r);
}

void
report_state(struct report *r, const struct hb_deploy_state *s, bool retained)
{
	char topic[HB_TOPIC_MAX];
	json_t *o = hb_deploy_state_encode(s);

	if (hb_topic_deploy(topic, sizeof(topic), r->prefix, "state", NULL) == 0 &&
	    hb_bus_publish_json(r->bus, topic, o, 1, retained) != 0)
		hb_warn("deploy state id=%s phase=%s not published (bus queue full)",
		    s->id, s->phase);
	json_decref(o);
}

void
report_backups(struct report *r, const struct hb_backups_state *s)
{
	char topic[HB_TOPIC_MAX];
	struct hb_backups_state mine = *s;
	json_t *o;

	snprintf(mine.instance, sizeof(mine.instance), "%s", r->instance);
	o = hb_backups_state_encode(&mine);
	if (hb_topic_deploy(topic, sizeof(topic), r->prefix, "backups", NULL) == 0 &&
	    hb_bus_publish_json(r->bus, topic, o, 1, true) != 0)
		hb_warn("P/deploy/backups not published");
	json_decref(o);
}

/* Backups, verifies and drills are about backups, not versions. */
static bool
about_backups(enum hb_deploy_action a)
{
	return a == HB_DEPLOY_BACKUP || a == HB_DEPLOY_VERIFY ||
	    a == HB_DEPLOY_DRILL;
}

void
report_notify(struct report *r, enum hb_severity sev, const char *key,
    const char *title, const char *text)
{
	struct hb_notify n;
	char topic[HB_TOPIC_MAX], source[96];
	json_t *o;

	snprintf(source, sizeof(source), "deployer/%s", r->instance);
	memset(&n, 0, sizeof(n));
	n.severity = sev;
	n.text = (char *)(uintptr_t)text;
	n.title = (char *)(uintptr_t)title;
	n.key = (char *)(uintptr_t)key;
	n.source = source;
	o = hb_notify_encode(&n);
	if (hb_topic_notify(topic, sizeof(topic), r->prefix,
	    hb_severity_name(sev)) == 0)
		hb_bus_publish_json(r->bus, topic, o, 1, false);
	json_decref(o);
}

static void
report_point(struct report *r, const char *action, const char *outcome,
    const char *to_tag, const char *from_tag, double duration_s,
    const char *id)
{
	static const char m[] = "homebus_deploy";
	struct hb_buf b = { 0 };
	char topic[HB_TOPIC_MAX];
	int rc = 0;

	rc |= hb_lp_put_measurement(&b, m, sizeof(m) - 1);
	hb_buf_puts(&b, ",action=");
	rc |= hb_lp_put_key(&b, action, strlen(action));
	hb_buf_puts(&b, ",instance=");
	rc |= hb_lp_put_key(&b, r->instance, strlen(r->instance));
	hb_buf_puts(&b, ",outcome=");
	rc |= hb_lp_put_key(&b, outcome, strlen(outcome));
	hb_buf_puts(&b, " to_tag=");
	rc |= hb_lp_put_string(&b, to_tag, strlen(to_tag));
	hb_buf_puts(&b, ",from_tag=");
	rc |= hb_lp_put_string(&b, from_tag, strlen(from_tag));
	hb_buf_puts(&b, ",duration_s=");
	rc |= hb_lp_put_float(&b, duration_s);
	hb_buf_puts(&b, ",id=");
	rc |= hb_lp_put_string(&b, id, strlen(id));
	if (rc == 0 && hb_topic_points(topic, sizeof(topic), r->prefix, m) == 0)
		hb_bus_publish(r->bus, topic, b.data, b.len, 1, false);
	else
		hb_warn("deploy point id=%s not made (a value line protocol cannot "
		    "carry)", id);
	hb_buf_free(&b);
}

void
report_versions(const char *from_tag, const char *to_tag, char *out,
    size_t outlen)
{
	if (from_tag[0] && to_tag[0])
		snprintf(out, outlen, "%s -> %s", from_tag, to_tag);
	else
		snprintf(out, outlen, "%s", to_tag[0] ? to_tag : from_tag);
}

/* The words of the notification; its severity. */
static enum hb_severity
outcome_text(const struct report *r, const struct report_outcome *o,
    struct hb_buf *text)
{
	const char *what = hb_deploy_action_name(o->action);
	char vers[300];

	report_versions(o->from_tag, o->to_tag, vers, sizeof(vers));
	if (strcmp(o->outcome, "done") == 0) {
		hb_buf_printf(text, "%s %s on %s done in %.0f s%s%s.", what, vers,
		    r->instance, o->duration_s, o->backup[0] ? ", backup " : "",
		    o->backup);
		if (o->restored && o->restored[0])
			hb_buf_printf(text, " Restored from the backup: %s.", o->restored);
		if (o->detail && o->detail[0])
			hb_buf_printf(text, " %s.", o->detail);
		return HB_SEV_INFO;
	}
	if (strcmp(o->outcome, "failed") == 0) {
		hb_buf_printf(text, "%s %s on %s failed: %s.", what, vers, r->instance,
		    o->error);
		if (!about_backups(o->action))
			hb_buf_printf(text, " Nothing was stopped: %s still runs.",
			    o->from_tag);
		if (o->tail[0])
			hb_buf_printf(text, "\n\n%s", o->tail);
		return HB_SEV_ERROR;
	}
	if (strcmp(o->outcome, "rolled_back") == 0) {
		hb_buf_printf(text, "%s %s on %s did not hold: %s. Rolled back to %s, "
		    "which verified.", what, vers, r->instance, o->cause, o->from_tag);
		if (o->restored && o->restored[0])
			hb_buf_printf(text, " Restored from backup %s: %s.", o->backup,
			    o->restored);
		if (o->cause_tail[0])
			hb_buf_printf(text, "\n\n%s", o->cause_tail);
		return HB_SEV_ERROR;
	}
	hb_buf_printf(text, "%s %s on %s failed (%s), and going back to %s failed "
	    "too: %s. Run by hand: %s", what, vers, r->instance, o->cause,
	    o->from_tag, o->error, o->by_hand);
	if (o->tail[0])
		hb_buf_printf(text, "\n\n%s", o->tail);
	return HB_SEV_CRITICAL;
}

void
report_outcome(struct report *r, const struct report_outcome *o)
{
	struct hb_buf text = { 0 };
	enum hb_severity sev = outcome_text(r, o, &text);
	char key[160], title[96];

	report_point(r, hb_deploy_action_name(o->action), o->outcome, o->to_tag,
	    o->from_tag, o->duration_s, o->id);
	snprintf(key, sizeof(key), "%s/%s/%s", about_backups(o->action) ?
	    "backup" : "deploy", o->id, o->outcome);
	if (sev == HB_SEV_CRITICAL)
		snprintf(title, sizeof(title), "Rollback failed");
	else
		snprintf(title, sizeof(title), "%s %s", o->action == HB_DEPLOY_BACKUP ?
		    "Backup" : o->action == HB_DEPLOY_ROLLBACK ? "Rollback" :
		    o->action == HB_DEPLOY_RESTORE ? "Restore" : o->action ==
		    HB_DEPLOY_VERIFY ? "Backup check" : o->action == HB_DEPLOY_DRILL ?
		    "Restore drill" : "Deploy", o->outcome);
	if (!(sev == HB_SEV_INFO && o->quiet))
		report_notify(r, sev, key, title, text.data);
	hb_buf_free(&text);
}
