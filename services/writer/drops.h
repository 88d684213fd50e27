/*
 * drops: what the spool's limits dropped, told on P/notify/warning (key
 * writer-spool-full-<instance>): the first drop at once, then at most one
 * notification per writer.spool.drop_notify_s, sent when the window ends
 * even if the drops stopped, each with the total since the last one.
 */
#ifndef WRITER_DROPS_H
#define WRITER_DROPS_H

#include <event2/event.h>
#include <stdbool.h>
#include <stdint.h>

#include "hb_bus.h"
#include "retry.h"
#include "spool.h"

struct drops {
	struct hb_bus *bus;		/* NULL until the writer starts */
	struct spool *spool;		/* its error, for the text */
	const struct retry *retry;	/* InfluxDB's reason, for the text */
	int64_t spool_max_bytes, held_max_bytes;
	int64_t window_ms;		/* writer.spool.drop_notify_s */
	struct spool_drops cap, held;	/* dropped and not told yet, by cause */
	int64_t last_told_ms;		/* monotonic; 0: never */
	bool closed;			/* the bus is closed: nothing more told */
	struct event *ev_window;	/* the window ends */
};

void drops_init(struct drops *d, struct event_base *base, struct spool *spool,
    const struct retry *retry, int64_t spool_max_bytes, int64_t held_max_bytes,
    int64_t window_ms);
void drops_free(struct drops *d);

/* Adds what was dropped at now_ms (monotonic): told now, or when the window ends. */
void drops_note(struct drops *d, const struct spool_drops *cap,
    const struct spool_drops *held, int64_t now_ms);
/* Tells what was not told yet, if anything and if the bus is there. */
void drops_tell(struct drops *d, int64_t now_ms);

#endif
