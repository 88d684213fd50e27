/*
 * board: the retained health states and the last deploy (see board.h).
 */
#include "board.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

/* The retained P/health/<target> messages. */
struct target {
	TAILQ_ENTRY(target) entry;
	struct hb_health_msg health;
};

TAILQ_HEAD(target_list, target);

struct board {
	struct target_list targets;
	struct hb_deploy_state last_deploy;
	bool have_deploy;
};

struct board *
board_new(void)
{
	struct board *b = hb_xcalloc(1, sizeof(*b));

	TAILQ_INIT(&b->targets);
	return b;
}

void
board_free(struct board *b)
{
	struct target *t;

	if (b == NULL)
		return;
	while ((t = TAILQ_FIRST(&b->targets)) != NULL) {
		TAILQ_REMOVE(&b->targets, t, entry);
		free(t);
	}
	free(b);
}

int
board_health(struct board *b, const char *name, const void *payload,
    size_t len, char *err, size_t errlen)
{
	struct hb_health_msg h;
	struct target *t;

	/* the deployer's request to check now, on the same filter */
	if (strcmp(name, HB_HEALTH_CHECK_LEVEL) == 0)
		return 0;
	TAILQ_FOREACH(t, &b->targets, entry)
		if (strcmp(t->health.target, name) == 0)
			break;
	if (len == 0) {		/* retained message cleared */
		if (t) {
			TAILQ_REMOVE(&b->targets, t, entry);
			free(t);
		}
		return 0;
	}
	if (hb_health_decode(payload, len, &h, err, errlen) != 0)
		return -1;
	snprintf(h.target, sizeof(h.target), "%s", name);
	if (t == NULL) {
		if (strlen(name) >= sizeof(h.target))
			return 0;
		t = hb_xcalloc(1, sizeof(*t));
		TAILQ_INSERT_TAIL(&b->targets, t, entry);
	}
	t->health = h;
	return 0;
}

void
board_deploy(struct board *b, const struct hb_deploy_state *s)
{
	b->last_deploy = *s;
	b->have_deploy = true;
}

static const char *
health_icon(enum hb_health_state st)
{
	switch (st) {
	case HB_HEALTH_OK: return "\xe2\x9c\x85";		/* check mark */
	case HB_HEALTH_DEGRADED: return "\xf0\x9f\x9f\xa1";	/* yellow circle */
	case HB_HEALTH_DOWN: return "\xe2\x9d\x8c";		/* cross */
	default: return "\xe2\x9d\x94";				/* question mark */
	}
}

void
board_deploy_line(struct hb_buf *out, const struct hb_deploy_state *s)
{
	char ts[40];

	hb_iso8601(s->updated_ms > 0 ? s->updated_ms : s->started_ms, ts,
	    sizeof(ts));
	hb_buf_printf(out, "%s %s%s%s: %s", hb_deploy_action_name(s->action),
	    s->from_tag[0] ? s->from_tag : "", s->from_tag[0] ? " -> " : "",
	    s->to_tag[0] ? s->to_tag : "?", s->phase);
	if (s->step[0])
		hb_buf_printf(out, " (step %s)", s->step);
	if (s->error[0])
		hb_buf_printf(out, ": %s", s->error);
	if (s->requested_by[0])
		hb_buf_printf(out, ", requested by %s", s->requested_by);
	hb_buf_printf(out, ", %.16s UTC", ts);
}

void
board_render(const struct board *b, struct hb_buf *t)
{
	const struct target *tg;
	char ts[40];

	hb_buf_puts(t, "Health:\n");
	if (TAILQ_EMPTY(&b->targets))
		hb_buf_puts(t, "(nothing on the bus yet: is homebus-health "
		    "running?)\n");
	TAILQ_FOREACH(tg, &b->targets, entry) {
		const struct hb_health_msg *h = &tg->health;

		hb_buf_printf(t, "%s %s: %s", health_icon(h->state), h->target,
		    hb_health_state_name(h->state));
		if (h->reason[0])
			hb_buf_printf(t, " (%s)", h->reason);
		if (h->since_ms > 0) {
			hb_iso8601(h->since_ms, ts, sizeof(ts));
			hb_buf_printf(t, " since %.16s UTC", ts);
		}
		hb_buf_putc(t, '\n');
	}
	hb_buf_puts(t, "\nLast deploy: ");
	if (b->have_deploy)
		board_deploy_line(t, &b->last_deploy);
	else
		hb_buf_puts(t, "none known");
	hb_buf_putc(t, '\n');
}
