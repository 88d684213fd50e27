/*
 * figures: the numbers the watcher knows of a target that Home Assistant
 * charts as sensors — a disk's free space, the broker's round trip, the
 * writer's points/s and spool, the notifier's outbox. They are fields of
 * the target's retained state (P/health/<target>), outside its reason, so
 * that a figure that moves does not publish the state again by itself.
 */
#ifndef FIGURES_H
#define FIGURES_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ha_discovery.h"
#include "target.h"

enum figure_id {
	FIG_FREE_MB,
	FIG_FREE_PERCENT,
	FIG_LATENCY_MS,
	FIG_POINTS_PER_S,
	FIG_SPOOL_POINTS,
	FIG_OUTBOX,
	FIG_COUNT
};

/* Each figure's state field, name, unit and device class. */
extern const struct ha_figure figure_defs[FIG_COUNT];

/*
 * Whether t has figure f: disks their free space, mqtt targets the round
 * trip, the writer service its points/s and spool, the notifier its outbox.
 */
bool figure_of(const struct target *t, enum figure_id f);

/*
 * Takes a service's counters from its heartbeat (any bytes; what is not
 * there stays unknown). now_ms is monotonic: points/s is points_written's
 * growth since the previous heartbeat.
 */
void figures_heartbeat(struct target *t, const char *payload, size_t len,
    int64_t now_ms);

/* Adds t's known service figures to its state object. */
void figures_state(const struct target *t, json_t *state);

#endif
