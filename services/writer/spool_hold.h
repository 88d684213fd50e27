/*
 * spool_hold: what the spool keeps in memory while its file refuses
 * writes: the batches SQLite did not take (in id order, handed out like
 * the others and written when the disk has room) and the ids of rows sent
 * but not yet deleted (never handed out again). The spool's staged batches
 * (sent from memory, written when due) are a list of the same kind. No
 * SQLite here.
 */
#ifndef WRITER_SPOOL_HOLD_H
#define WRITER_SPOOL_HOLD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>

#include "spool.h"

struct spool_totals {
	int64_t batches, points, bytes;
};

static inline void
spool_totals_add(struct spool_totals *t, int64_t batches, int64_t points,
    int64_t bytes)
{
	t->batches += batches;
	t->points += points;
	t->bytes += bytes;
}

/*
 * A batch SQLite did not take; sent from here, written when it can be. The
 * spool keeps its staged batches (spool_stage_buf) in a list of the same
 * kind, each with the time it is due on disk.
 */
struct held {
	TAILQ_ENTRY(held) entry;
	struct spool_batch b;
	int64_t due_ms;		/* staged: monotonic time it must be on disk */
};

struct spool_hold {
	TAILQ_HEAD(held_head, held) held;	/* ordered by id */
	struct spool_totals mem;		/* what the held batches make */
	/* rows already sent or superseded that SQLite did not delete yet */
	int64_t *undeleted;
	size_t nundeleted, undeleted_cap;
};

void hold_init(struct spool_hold *h);
/* Frees every held batch and the undeleted ids. */
void hold_clear(struct spool_hold *h);

struct held *hold_find(const struct spool_hold *h, int64_t id);
/* The first held batch with an id > after, or NULL. */
struct held *hold_after(const struct spool_hold *h, int64_t after);
/* Takes *body (left empty) into a held batch, in id order. */
struct held *hold_add(struct spool_hold *h, int64_t id, int64_t created_ms,
    int64_t points, int attempts, struct hb_buf *body);
/* The same with a copy of body[0, len). */
void hold_copy(struct spool_hold *h, int64_t id, int64_t created_ms,
    int64_t points, int attempts, const char *body, size_t len);
/* Replaces a held batch's body and points. */
void hold_replace(struct spool_hold *h, struct held *hd, const char *body,
    size_t len, int64_t points);
/* Removes and frees one held batch. */
void hold_drop(struct spool_hold *h, struct held *hd);

/*
 * Keeps the held batches under max_bytes: drops the oldest not in keep
 * (batches in flight). Adds what it dropped to out->batches and points.
 */
void hold_enforce(struct spool_hold *h, int64_t max_bytes, const int64_t *keep,
    size_t nkeep, struct spool_drops *out);

bool hold_undeleted_has(const struct spool_hold *h, int64_t id);
void hold_undeleted_add(struct spool_hold *h, int64_t id);
void hold_undeleted_remove(struct spool_hold *h, int64_t id);

/* True when id is one of keep[0, nkeep). */
bool hold_kept(const int64_t *keep, size_t nkeep, int64_t id);

#endif
