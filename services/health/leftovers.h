/*
 * leftovers: the moment after the first connection when the watcher reads
 * what its previous run left retained — its states on P/health/<target>
 * and its Home Assistant discovery configs — before it publishes or
 * notifies anything. At the end it takes the states over (a restart
 * neither repeats old notifications nor forgets a target that was down)
 * and empties what belongs to targets that no longer exist.
 */
#ifndef LEFTOVERS_H
#define LEFTOVERS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/queue.h>

#include "publish.h"
#include "target.h"

#define SETTLE_MS 1500		/* reading retained state after connecting */

struct leftover;
TAILQ_HEAD(leftover_list, leftover);

struct leftovers {
	struct leftover_list leftovers;
	const char *instance;	/* bus.instance: only what this watcher published */
	const char *device_id;	/* its Home Assistant device */
};

void leftovers_init(struct leftovers *s, const char *instance, const char *device_id);
void leftovers_free(struct leftovers *s);

/* A retained message on P/health/<name> (payload may be empty). */
void leftovers_note_state(struct leftovers *s, const char *name, const char *payload,
    size_t len);
/* A retained discovery config of node id `node`. */
void leftovers_note_ha(struct leftovers *s, const char *node, const char *payload,
    size_t len);
/*
 * The end: takes over the states of the targets that still exist and
 * empties, through p, the discovery configs first and then the states of
 * those that do not. Forgets every leftover.
 */
void leftovers_finish(struct leftovers *s, struct publisher *p,
    struct target_list *targets);

#endif
