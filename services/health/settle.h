/*
 * settle: the moment after the first connection when the watcher reads
 * what its previous run left retained — its states on P/health/<target>
 * and its Home Assistant discovery configs — before it publishes or
 * notifies anything. At the end it takes the states over (a restart
 * neither repeats old notifications nor forgets a target that was down)
 * and empties what belongs to targets that no longer exist.
 */
#ifndef SETTLE_H
#define SETTLE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/queue.h>

#include "publish.h"
#include "target.h"

#define SETTLE_MS 1500		/* reading retained state after connecting */

struct leftover;
TAILQ_HEAD(leftover_list, leftover);

struct settle {
	struct leftover_list leftovers;
	const char *instance;	/* bus.instance: only what this watcher published */
	const char *device_id;	/* its Home Assistant device */
};

void settle_init(struct settle *s, const char *instance, const char *device_id);
void settle_free(struct settle *s);

/* A retained message on P/health/<name> (payload may be empty). */
void settle_note_state(struct settle *s, const char *name, const char *payload,
    size_t len);
/* A retained discovery config of node id `node`. */
void settle_note_ha(struct settle *s, const char *node, const char *payload,
    size_t len);
/*
 * The end: takes over the states of the targets that still exist and
 * empties, through p, the discovery configs first and then the states of
 * those that do not. Forgets every leftover.
 */
void settle_finish(struct settle *s, struct publisher *p,
    struct target_list *targets);

#endif
