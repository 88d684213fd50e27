/*
 * caps: the spool kept in bounds and put right. After every change it
 * keeps the file under writer.spool.max_mb and what is held in memory
 * under writer.spool.memory_max_mb (batches in flight are never dropped:
 * they may yet be written); while the spool is not whole on disk (a full
 * disk), it tries the disk again once a second.
 */
#ifndef WRITER_CAPS_H
#define WRITER_CAPS_H

#include <event2/event.h>
#include <stddef.h>
#include <stdint.h>

#include "hb_log.h"
#include "hb_metrics.h"
#include "spool.h"

struct caps_hooks {
	/* Ids of the batches in flight into ids[0, max); returns how many. */
	size_t (*in_flight)(void *arg, int64_t *ids, size_t max);
	/* Something was dropped (to be told on the bus). */
	void (*dropped)(void *arg, const struct spool_drops *cap,
	    const struct spool_drops *held);
	/* The disk was tried again: batches may have moved. */
	void (*ready)(void *arg);
	void *arg;
};

struct caps {
	struct spool *spool;
	int64_t max_bytes;		/* writer.spool.max_mb */
	int64_t held_max_bytes;		/* writer.spool.memory_max_mb */
	struct caps_hooks hooks;
	struct event *ev_retry;		/* once a second while not whole */
	struct hb_ratelimit log;	/* a cap reached under load drops a
					 * batch per commit: a flood */
	/* may be NULL */
	struct hb_counter *dropped, *dead_dropped, *batches_dropped;
	struct hb_gauge *spool_ok;
};

void caps_init(struct caps *l, struct event_base *base,
    struct spool *spool, int64_t max_bytes, int64_t held_max_bytes,
    const struct caps_hooks *hooks);
void caps_free(struct caps *l);

/* Drops what is over either limit: counted, logged, and hooks.dropped. */
void caps_enforce(struct caps *l);
/* Tries the disk again in a second if the spool is not whole on disk. */
void caps_watch(struct caps *l);

#endif
