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

struct drops;
struct sender;

struct caps {
	struct spool *spool;
	int64_t max_bytes;		/* writer.spool.max_mb */
	int64_t held_max_bytes;		/* writer.spool.memory_max_mb */
	struct sender *send;		/* its writes in flight are never dropped;
					 * pumped after the disk is tried again */
	struct drops *drops;		/* told of what was dropped */
	struct event *ev_retry;		/* once a second while not whole */
	struct hb_ratelimit log;	/* a cap reached under load drops a
					 * batch per commit: a flood */
	/* may be NULL */
	struct hb_counter *dropped, *dead_dropped, *batches_dropped;
	struct hb_gauge *spool_ok;
};

void caps_init(struct caps *l, struct event_base *base,
    struct spool *spool, int64_t max_bytes, int64_t held_max_bytes,
    struct sender *send, struct drops *drops);
void caps_free(struct caps *l);

/* Drops what is over either limit: counted, logged, and drops_note. */
void caps_enforce(struct caps *l);
/* Tries the disk again in a second if the spool is not whole on disk. */
void caps_watch(struct caps *l);

#endif
