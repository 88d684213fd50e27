/*
 * batch: group commit. Lines gather here until they go to the spool as one
 * batch: at once when no write is in flight (a lone point never waits for
 * a timer), when writer.batch_size is reached, at least every
 * writer.spool.commit_ms (what a SIGKILL can lose), and, for a steady
 * stream, writer.min_write_interval_ms after the previous write started,
 * while the bus holds what arrives meanwhile (hb_bus_hold).
 *
 * Batch only decides when; a batch goes to writer_commit (writer.c).
 */
#ifndef WRITER_BATCH_H
#define WRITER_BATCH_H

#include <event2/event.h>
#include <stdbool.h>
#include <stdint.h>

#include "hb_bus.h"
#include "hb_metrics.h"
#include "hb_util.h"

struct sender;
struct writer;

/*
 * Where a batch goes (writer.c): takes the lines, leaving *lines empty (see
 * spool_commit_buf); first_ms: when the oldest of them arrived (monotonic;
 * 0 unknown).
 */
void writer_commit(struct writer *w, struct hb_buf *lines, int64_t points,
    int64_t first_ms);

struct batch_policy {
	int64_t size;			/* writer.batch_size */
	int64_t min_interval_ms;	/* writer.min_write_interval_ms */
	int64_t commit_ms;		/* writer.spool.commit_ms */
};

struct batch {
	struct batch_policy policy;
	struct writer *writer;		/* takes each batch (writer_commit) */
	struct sender *send;		/* busy or not (send_busy, send_pump) */
	struct hb_bus *bus;		/* held while lingering; may be NULL */
	struct hb_buf lines;		/* received, not yet committed */
	int64_t points;
	int64_t first_ms;		/* the oldest line's arrival (monotonic) */
	struct event *ev_kick;		/* after a burst: decide */
	struct event *ev_linger;	/* the gathering of a steady stream ends */
	struct event *ev_commit;	/* writer.spool.commit_ms */
	struct hb_counter *spooled;	/* may be NULL */
	struct hb_histogram *batch_points;	/* may be NULL */
};

void batch_init(struct batch *b, struct event_base *base,
    const struct batch_policy *policy, struct writer *w, struct sender *send);
void batch_free(struct batch *b);

/* How many more lines fit before the batch is full (at least 1). */
int64_t batch_room(const struct batch *b);
/* n lines were appended to b->lines: a full batch is committed at once. */
void batch_added(struct batch *b, int64_t n);
/*
 * A message is taken: commit within writer.spool.commit_ms at the latest,
 * and decide on the loop's next pass (so a burst of messages is one batch).
 */
void batch_arrived(struct batch *b);
/* Decide on the loop's next pass (after a write finished). */
void batch_kick(struct batch *b);

/*
 * The decision, at now_ms (monotonic): while busy, pump and gather; else
 * if the previous write started less than min_write_interval_ms ago and the
 * batch is not full, gather until then and hold the bus; else commit.
 * The kick calls it with hb_mono_ms().
 */
void batch_run(struct batch *b, int64_t now_ms);
/* The gathering ended at now_ms: take what the bus held back, decide. */
void batch_linger_end(struct batch *b, int64_t now_ms);
/* Commits what has gathered, if anything. */
void batch_commit(struct batch *b);

static inline bool
batch_empty(const struct batch *b)
{
	return b->lines.len == 0;
}

#endif
