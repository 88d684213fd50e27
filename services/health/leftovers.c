/*
 * leftovers: what a previous run left retained, taken over or cleared.
 */
#include "leftovers.h"
#include "ha_discovery.h"
#include "hb_log.h"
#include "hb_msg.h"
#include "hb_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A retained message of a previous run, seen while settling. */
struct leftover {
	TAILQ_ENTRY(leftover) entry;
	bool is_ha;		/* a discovery config (else a P/health state) */
	char name[HB_TOPIC_MAX];	/* target name, or entity key (ha.h) */
	enum hb_health_state state;
	int64_t since_ms;
	char reason[256];
};

void
leftovers_init(struct leftovers *s, const char *instance, const char *device_id)
{
	TAILQ_INIT(&s->leftovers);
	s->instance = instance;
	s->device_id = device_id;
}

void
leftovers_free(struct leftovers *s)
{
	struct leftover *l;

	while ((l = TAILQ_FIRST(&s->leftovers)) != NULL) {
		TAILQ_REMOVE(&s->leftovers, l, entry);
		free(l);
	}
}

static struct leftover *
leftover_new(struct leftovers *s, bool is_ha, const char *name)
{
	struct leftover *l = hb_xcalloc(1, sizeof(*l));

	l->is_ha = is_ha;
	snprintf(l->name, sizeof(l->name), "%s", name);
	TAILQ_INSERT_TAIL(&s->leftovers, l, entry);
	return l;
}

void
leftovers_note_state(struct leftovers *s, const char *name, const char *payload,
    size_t len)
{
	struct hb_health_msg m;
	struct leftover *l;
	json_t *root;
	char err[128];
	bool ours;

	if (len == 0 || hb_health_decode(payload, len, &m, err, sizeof(err)) != 0)
		return;
	/* only what this watcher published */
	root = json_loadb(payload, len, 0, NULL);
	ours = json_is_string(json_object_get(root, "watcher")) &&
	    strcmp(json_string_value(json_object_get(root, "watcher")),
	    s->instance) == 0;
	json_decref(root);
	if (!ours || strcmp(m.target, name) != 0)
		return;
	l = leftover_new(s, false, name);
	l->state = m.state;
	l->since_ms = m.since_ms > 0 ? m.since_ms : hb_wall_ms();
	snprintf(l->reason, sizeof(l->reason), "%s", m.reason);
}

void
leftovers_note_ha(struct leftovers *s, const char *node, const char *payload,
    size_t len)
{
	if (len == 0 || !ha_config_is_ours(payload, len, s->device_id))
		return;
	leftover_new(s, true, node);
}

/* One retained message of ours from before: take it over, or clear it. */
static void
take_leftover(struct publisher *p, struct target_list *targets,
    const struct leftover *l)
{
	struct target *t;

	if (l->is_ha) {
		if (!publish_ha_node_in_use(p, l->name)) {
			hb_info("removing the Home Assistant entity node=%s (no longer "
			    "a target)", l->name);
			publish_clear(p, NULL, l->name);
		}
	} else if ((t = targets_find(targets, l->name)) != NULL) {
		/* what was told before the restart stays told */
		t->notified = l->state;
		t->notified_since_ms = l->since_ms;
		if (t->state == HB_HEALTH_UNKNOWN) {
			t->state = l->state;
			t->since_ms = l->since_ms;
			snprintf(t->reason, sizeof(t->reason), "%s", l->reason);
			target_show_state(t);
		} else if (t->state == l->state) {
			t->since_ms = l->since_ms;
		}
	} else if (strcmp(l->name, "_all") != 0) {
		hb_info("clearing the state of target=%s (no longer a target)",
		    l->name);
		publish_clear(p, l->name, NULL);
	}
}

void
leftovers_finish(struct leftovers *s, struct publisher *p, struct target_list *targets)
{
	/* discovery configs first: a config must never point at a state that
	 * was emptied before it (and old node ids, of a release before the
	 * instance was in them, go this way too) */
	for (int pass = 0; pass < 2; pass++) {
		struct leftover *l, *next;

		for (l = TAILQ_FIRST(&s->leftovers); l != NULL; l = next) {
			next = TAILQ_NEXT(l, entry);
			if (l->is_ha != (pass == 0))
				continue;
			TAILQ_REMOVE(&s->leftovers, l, entry);
			take_leftover(p, targets, l);
			free(l);
		}
	}
}
