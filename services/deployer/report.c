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

void
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
