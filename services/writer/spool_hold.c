/*
 * spool_hold: held batches in a TAILQ ordered by id, and the undeleted ids
 * in a small array (a handful at a time: one per write that finished while
 * the disk was full).
 */
#include "spool_hold.h"
#include "hb_util.h"

#include <stdlib.h>
#include <string.h>

void
hold_init(struct spool_hold *h)
{
	memset(h, 0, sizeof(*h));
	TAILQ_INIT(&h->held);
}

void
hold_clear(struct spool_hold *h)
{
	struct held *hd;

	while ((hd = TAILQ_FIRST(&h->held)) != NULL)
		hold_drop(h, hd);
	free(h->undeleted);
	h->undeleted = NULL;
	h->nundeleted = h->undeleted_cap = 0;
}

struct held *
hold_find(const struct spool_hold *h, int64_t id)
{
	struct held *hd;

	TAILQ_FOREACH(hd, &h->held, entry)
		if (hd->b.id == id)
			return hd;
	return NULL;
}

struct held *
hold_after(const struct spool_hold *h, int64_t after)
{
	struct held *hd;

	TAILQ_FOREACH(hd, &h->held, entry)
		if (hd->b.id > after)
			return hd;
	return NULL;
}

struct held *
hold_add(struct spool_hold *h, int64_t id, int64_t created_ms, int64_t points,
    int attempts, struct hb_buf *body)
{
	struct held *hd = hb_xcalloc(1, sizeof(*hd)), *at;

	hd->b.id = id;
	hd->b.created_ms = created_ms;
	hd->b.points = points;
	hd->b.attempts = attempts;
	hd->b.body = *body;
	memset(body, 0, sizeof(*body));
	/* new batches go last; only a batch replaced in memory goes further up */
	at = TAILQ_LAST(&h->held, held_head);
	while (at && at->b.id > id)
		at = TAILQ_PREV(at, held_head, entry);
	if (at)
		TAILQ_INSERT_AFTER(&h->held, at, hd, entry);
	else
		TAILQ_INSERT_HEAD(&h->held, hd, entry);
	spool_totals_add(&h->mem, 1, points, (int64_t)hd->b.body.len);
	return hd;
}

void
hold_copy(struct spool_hold *h, int64_t id, int64_t created_ms, int64_t points,
    int attempts, const char *body, size_t len)
{
	struct hb_buf copy = { 0 };

	hb_buf_append(&copy, body, len);
	hold_add(h, id, created_ms, points, attempts, &copy);
}

void
hold_replace(struct spool_hold *h, struct held *hd, const char *body,
    size_t len, int64_t points)
{
	spool_totals_add(&h->mem, 0, points - hd->b.points,
	    (int64_t)len - (int64_t)hd->b.body.len);
	hb_buf_reset(&hd->b.body);
	hb_buf_append(&hd->b.body, body, len);
	hd->b.points = points;
}

void
hold_drop(struct spool_hold *h, struct held *hd)
{
	TAILQ_REMOVE(&h->held, hd, entry);
	spool_totals_add(&h->mem, -1, -hd->b.points, -(int64_t)hd->b.body.len);
	hb_buf_free(&hd->b.body);
	free(hd);
}

void
hold_enforce(struct spool_hold *h, int64_t max_bytes, const int64_t *keep,
    size_t nkeep, struct spool_drops *out)
{
	struct held *hd, *next;

	for (hd = TAILQ_FIRST(&h->held); hd && h->mem.bytes > max_bytes; hd = next) {
		next = TAILQ_NEXT(hd, entry);
		if (hold_kept(keep, nkeep, hd->b.id))
			continue;
		out->batches++;
		out->points += hd->b.points;
		hold_drop(h, hd);
	}
}

/* ---------------- rows to delete ---------------- */

bool
hold_undeleted_has(const struct spool_hold *h, int64_t id)
{
	for (size_t i = 0; i < h->nundeleted; i++)
		if (h->undeleted[i] == id)
			return true;
	return false;
}

void
hold_undeleted_add(struct spool_hold *h, int64_t id)
{
	if (hold_undeleted_has(h, id))
		return;
	if (h->nundeleted == h->undeleted_cap) {
		h->undeleted_cap = h->undeleted_cap ? h->undeleted_cap * 2 : 16;
		h->undeleted = hb_xrealloc(h->undeleted, h->undeleted_cap *
		    sizeof(*h->undeleted));
	}
	h->undeleted[h->nundeleted++] = id;
}

void
hold_undeleted_remove(struct spool_hold *h, int64_t id)
{
	for (size_t i = 0; i < h->nundeleted; i++)
		if (h->undeleted[i] == id) {
			h->undeleted[i] = h->undeleted[--h->nundeleted];
			return;
		}
}

bool
hold_kept(const int64_t *keep, size_t nkeep, int64_t id)
{
	for (size_t i = 0; i < nkeep; i++)
		if (keep[i] == id)
			return true;
	return false;
}
