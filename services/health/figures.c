/*
 * figures: the numbers of a target Home Assistant charts (see figures.h).
 */
#include "figures.h"
#include "hb_msg.h"

#include <string.h>

/* Units and device classes as Home Assistant's sensor platform takes them
 * (data_size in MB, duration in ms); the others have no device class. */
const struct ha_figure figure_defs[FIG_COUNT] = {
	[FIG_FREE_MB] = { "free_mb", "free", "MB", "data_size" },
	[FIG_FREE_PERCENT] = { "free_percent", "free %", "%", NULL },
	[FIG_LATENCY_MS] = { "latency_ms", "round trip", "ms", "duration" },
	[FIG_POINTS_PER_S] = { "points_per_s", "points written", "points/s", NULL },
	[FIG_SPOOL_POINTS] = { "spool_points", "spool", "points", NULL },
	[FIG_OUTBOX] = { "outbox", "outbox", "messages", NULL },
};

bool
figure_of(const struct target *t, enum figure_id f)
{
	switch (f) {
	case FIG_FREE_MB:
	case FIG_FREE_PERCENT:
		return t->type == TT_DISK;
	case FIG_LATENCY_MS:
		return t->type == TT_MQTT;
	case FIG_POINTS_PER_S:
	case FIG_SPOOL_POINTS:
		return t->type == TT_SERVICE && strcmp(t->service, "writer") == 0;
	case FIG_OUTBOX:
		return t->type == TT_SERVICE && strcmp(t->service, "notifier") == 0;
	default:
		return false;
	}
}

/* A count from the heartbeat: a non-negative integer, else -1. */
static int64_t
count_of(json_t *hb, const char *key)
{
	json_t *v = json_object_get(hb, key);

	return json_is_integer(v) && json_integer_value(v) >= 0 ?
	    (int64_t)json_integer_value(v) : -1;
}

void
figures_heartbeat(struct target *t, const char *payload, size_t len,
    int64_t now_ms)
{
	json_t *hb;
	int64_t written;

	/* most services have no figure: their heartbeat is not read twice */
	if (!figure_of(t, FIG_POINTS_PER_S) && !figure_of(t, FIG_SPOOL_POINTS) &&
	    !figure_of(t, FIG_OUTBOX))
		return;
	if (len > HB_MSG_MAX)
		return;
	hb = json_loadb(payload, len, 0, NULL);
	if (!json_is_object(hb)) {
		json_decref(hb);
		return;
	}
	t->spool_points = count_of(hb, "spool_points");
	t->outbox = count_of(hb, "outbox");
	written = count_of(hb, "points_written");
	/* a counter that went back is a restarted writer: no rate this time */
	if (written >= 0 && t->written_prev >= 0 && written >= t->written_prev &&
	    now_ms > t->written_prev_ms)
		t->points_per_s = (double)(written - t->written_prev) * 1000.0 /
		    (double)(now_ms - t->written_prev_ms);
	else
		t->points_per_s = -1;
	t->written_prev = written;
	t->written_prev_ms = now_ms;
	json_decref(hb);
}

void
figures_state(const struct target *t, json_t *state)
{
	if (t->type != TT_SERVICE)
		return;
	if (figure_of(t, FIG_POINTS_PER_S) && t->points_per_s >= 0)
		json_object_set_new(state, "points_per_s", json_real(t->points_per_s));
	if (figure_of(t, FIG_SPOOL_POINTS) && t->spool_points >= 0)
		json_object_set_new(state, "spool_points",
		    json_integer((json_int_t)t->spool_points));
	if (figure_of(t, FIG_OUTBOX) && t->outbox >= 0)
		json_object_set_new(state, "outbox",
		    json_integer((json_int_t)t->outbox));
}
