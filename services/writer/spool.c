/*
 * spool: batches on disk (spool_store.c), oldest first, and in memory when
 * the disk refuses them (spool_hold.c); what to do when SQLite cannot
 * write, the cap, and totals kept in memory so that /metrics never scans
 * the table.
 */
#include "spool.h"
#include "spool_hold.h"
#include "spool_sent.h"
#include "spool_store.h"
#include "hb_log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * The last few batches committed stay in memory until they are first sent,
 * so that the normal path never reads back from SQLite what it just wrote.
 */
#define RECENT 2

/* Held batches moved to disk per spool_retry(): the loop stays free. */
#define RETRY_BUDGET (4 * 1024 * 1024)

struct spool {
	struct spool_store store;
	struct spool_hold hold;
	struct spool_hold staged;	/* sent from memory, on disk when due */
	struct spool_sent sent;		/* taken by InfluxDB, still on disk */
	int64_t max_bytes;
	int64_t largest;		/* bytes of the largest batch on disk */
	struct spool_batch recent[RECENT];	/* id 0: empty */
	size_t recent_next;
	int64_t next_id;

	bool failing;
	int64_t failing_since_ms;
	char error[256];
	struct hb_ratelimit log;

	/* waiting to be sent on disk, not counting undeleted rows */
	struct spool_totals disk;
};

/* ---------------- what SQLite could not do ---------------- */

/*
 * Notes that SQLite refused a write (the store holds its words): said once
 * when it starts, then at a limited rate, since a full disk refuses every
 * write until it has room.
 */
static void
spool_failed(struct spool *sp)
{
	snprintf(sp->error, sizeof(sp->error), "%s", sp->store.error);
	if (!sp->failing) {
		sp->failing = true;
		sp->failing_since_ms = hb_wall_ms();
		hb_error("spool cannot write path=%s op=%s reason=\"%s\": batches are "
		    "held in memory (writer.spool.memory_max_mb) and sent from there; "
		    "the disk is tried again every second", sp->store.path,
		    sp->store.op, sp->error);
		return;
	}
	hb_log_limited(&sp->log, HB_LOG_ERROR, "spool still cannot write path=%s "
	    "op=%s reason=\"%s\" held_points=%lld", sp->store.path, sp->store.op,
	    sp->error, (long long)sp->hold.mem.points);
}

/* A write to the store: 0, or -1 and the spool is failing. */
static int
written(struct spool *sp, int rc)
{
	if (rc != 0)
		spool_failed(sp);
	return rc;
}

static void
read_failed(struct spool *sp)
{
	hb_log_limited(&sp->log, HB_LOG_ERROR, "spool read failed path=%s "
	    "reason=\"%s\"", sp->store.path, sp->store.error);
}

/*
 * Truncates the WAL when it has outgrown its limit (a large batch, a
 * checkpoint that could not finish): after every write to disk, so that
 * the file and its WAL stay under the cap. Only a stat() when it has not.
 */
static void
checkpoint(struct spool *sp)
{
	if (store_checkpoint(&sp->store) != 0)
		hb_log_limited(&sp->log, HB_LOG_WARN, "spool checkpoint failed "
		    "path=%s reason=\"%s\"", sp->store.wal_path, sp->store.error);
}

/* len bytes went to disk, in a batch or a dead letter. */
static void
grew(struct spool *sp, size_t len)
{
	if ((int64_t)len > sp->largest)
		sp->largest = (int64_t)len;
	checkpoint(sp);
}

/* A batch went to disk. */
static void
added(struct spool *sp, int64_t points, size_t len)
{
	spool_totals_add(&sp->disk, 1, points, (int64_t)len);
	grew(sp, len);
}

static void
forget(struct spool *sp, int64_t id)
{
	for (size_t i = 0; i < RECENT; i++)
		if (sp->recent[i].id == id) {
			sp->recent[i].id = 0;
			hb_buf_reset(&sp->recent[i].body);
		}
}

/* ---------------- open, close ---------------- */

/*
 * At open: the rows InfluxDB took before the restart are deleted, or, on a
 * disk still full, left out of the queue and the totals, to be deleted by
 * spool_retry().
 */
static void
forget_sent(struct spool *sp)
{
	struct spool_batch info;
	int64_t bytes;
	size_t i;

	if (sp->sent.n == 0)
		return;
	for (i = 0; i < sp->sent.n; i++)
		if (written(sp, store_delete_range(&sp->store, sp->sent.ranges[i].lo,
		    sp->sent.ranges[i].hi)) != 0)
			break;
	if (i == sp->sent.n) {
		struct store_totals t;

		sent_clear(&sp->sent);
		store_totals(&sp->store, &t);
		sp->disk = (struct spool_totals){ t.batches, t.points, t.bytes };
		return;
	}
	for (i = 0; i < sp->sent.n; i++) {
		int64_t id = sp->sent.ranges[i].lo - 1;

		while ((id = store_next(&sp->store, id)) > 0 &&
		    id <= sp->sent.ranges[i].hi) {
			if (store_info(&sp->store, id, &info, &bytes) != 0)
				continue;
			hold_undeleted_add(&sp->hold, id);
			spool_totals_add(&sp->disk, -1, -info.points, -bytes);
		}
	}
}

struct spool *
spool_open(const char *path, int64_t max_bytes, char *err, size_t errlen)
{
	struct spool *sp = hb_xcalloc(1, sizeof(*sp));
	struct store_totals t;

	hold_init(&sp->hold);
	hold_init(&sp->staged);
	sp->sent.fd = -1;
	sp->max_bytes = max_bytes;
	hb_ratelimit_init(&sp->log, 6, 3);
	if (store_open(&sp->store, path, max_bytes, err, errlen) != 0)
		goto err;
	sent_open(&sp->sent, path, err, errlen);
	if (err[0])
		hb_warn("spool %s: a batch InfluxDB took while the disk was full "
		    "is sent again after a restart", err);
	err[0] = '\0';
	store_totals(&sp->store, &t);
	sp->disk.batches = t.batches;
	sp->disk.points = t.points;
	sp->disk.bytes = t.bytes;
	sp->next_id = t.last_id + 1;
	forget_sent(sp);
	return sp;
err:
	spool_close(sp);
	return NULL;
}

void
spool_close(struct spool *sp)
{
	if (sp == NULL)
		return;
	spool_write_due(sp, INT64_MAX, INT64_MAX);
	for (size_t i = 0; i < RECENT; i++)
		hb_buf_free(&sp->recent[i].body);
	hold_clear(&sp->staged);
	hold_clear(&sp->hold);
	sent_close(&sp->sent);
	store_close(&sp->store);
	free(sp);
}

/* ---------------- batches ---------------- */

int64_t
spool_commit(struct spool *sp, const char *body, size_t len, int64_t points)
{
	struct spool_batch b = { .id = sp->next_id++, .created_ms = hb_wall_ms(),
	    .points = points };

	if (!sp->failing &&
	    written(sp, store_insert(&sp->store, &b, body, len)) == 0) {
		added(sp, points, len);
		return b.id;
	}
	hold_copy(&sp->hold, b.id, b.created_ms, points, 0, body, len);
	return b.id;
}

int64_t
spool_commit_buf(struct spool *sp, struct hb_buf *body, int64_t points)
{
	struct spool_batch b = { .id = sp->next_id++, .created_ms = hb_wall_ms(),
	    .points = points };
	struct spool_batch *slot;
	struct hb_buf spare;

	if (sp->failing ||
	    written(sp, store_insert(&sp->store, &b, body->data, body->len)) != 0) {
		hold_add(&sp->hold, b.id, b.created_ms, points, 0, body);
		return b.id;
	}
	added(sp, points, body->len);
	slot = &sp->recent[sp->recent_next];
	sp->recent_next = (sp->recent_next + 1) % RECENT;
	spare = slot->body;
	b.body = *body;
	*slot = b;
	hb_buf_reset(&spare);
	*body = spare;
	return b.id;
}

/* ---------------- staged batches ---------------- */

int64_t
spool_stage_buf(struct spool *sp, struct hb_buf *body, int64_t points,
    int64_t due_ms)
{
	int64_t id = sp->next_id++;
	struct held *h = hold_add(&sp->staged, id, hb_wall_ms(), points, 0, body);

	h->due_ms = due_ms;
	return id;
}

/* A staged batch goes where spool_commit_buf would have put it. */
static void
unstage(struct spool *sp, struct held *h)
{
	struct spool_batch *b = &h->b;

	TAILQ_REMOVE(&sp->staged.held, h, entry);
	spool_totals_add(&sp->staged.mem, -1, -b->points, -(int64_t)b->body.len);
	if (!sp->failing &&
	    written(sp, store_insert(&sp->store, b, b->body.data, b->body.len)) == 0)
		added(sp, b->points, b->body.len);
	else
		hold_add(&sp->hold, b->id, b->created_ms, b->points, b->attempts,
		    &b->body);
	hb_buf_free(&b->body);
	free(h);
}

/* A staged batch about to be changed in place is committed first. */
static void
unstage_id(struct spool *sp, int64_t id)
{
	struct held *h = hold_find(&sp->staged, id);

	if (h)
		unstage(sp, h);
}

int64_t
spool_write_due(struct spool *sp, int64_t now_ms, int64_t max_batches)
{
	struct held *h, *next;
	int64_t next_due = 0;

	for (h = TAILQ_FIRST(&sp->staged.held); h; h = next) {
		next = TAILQ_NEXT(h, entry);
		if (h->due_ms <= now_ms && max_batches-- > 0)
			unstage(sp, h);
		else if (next_due == 0 || h->due_ms < next_due)
			next_due = h->due_ms;
	}
	return next_due;
}

int64_t
spool_staged_batches(const struct spool *sp)
{
	return sp->staged.mem.batches;
}

/* ---------------- on disk ---------------- */

/* The oldest row with id > after that is still to be sent; 0 if none, -1. */
static int64_t
next_row(struct spool *sp, int64_t after)
{
	/* nothing waits on disk: no query (rows sent and not deleted are
	 * not handed out anyway) */
	if (sp->disk.batches == 0)
		return 0;
	for (;;) {
		int64_t id = store_next(&sp->store, after);

		if (id < 0)
			read_failed(sp);
		if (id <= 0 || !hold_undeleted_has(&sp->hold, id))
			return id;
		after = id;
	}
}

static int
read_row(struct spool *sp, int64_t id, struct spool_batch *out)
{
	for (size_t i = 0; i < RECENT; i++) {
		struct spool_batch *r = &sp->recent[i];
		struct hb_buf swap;

		if (r->id != id)
			continue;
		/* hand the body over; the slot keeps the caller's old buffer */
		swap = out->body;
		*out = *r;
		r->body = swap;
		hb_buf_reset(&r->body);
		r->id = 0;
		return 1;
	}
	if (store_read(&sp->store, id, out) == 1)
		return 1;
	read_failed(sp);
	return -1;
}

int
spool_next(struct spool *sp, int64_t after, struct spool_batch *out)
{
	int64_t row = next_row(sp, after);
	struct held *h, *st;

	if (row < 0)
		return -1;
	h = hold_after(&sp->hold, after);
	st = hold_after(&sp->staged, after);
	if (st && (h == NULL || st->b.id < h->b.id))
		h = st;
	if (h && (row == 0 || h->b.id < row)) {
		out->id = h->b.id;
		out->created_ms = h->b.created_ms;
		out->points = h->b.points;
		out->attempts = h->b.attempts;
		hb_buf_reset(&out->body);
		hb_buf_append(&out->body, h->b.body.data, h->b.body.len);
		return 1;
	}
	if (row == 0)
		return 0;
	return read_row(sp, row, out);
}

/*
 * Removes a batch; delivered: InfluxDB has its points (else they live on
 * in memory, as the halves of a split do), so a restart must not send it.
 */
static void
remove_batch(struct spool *sp, int64_t id, bool delivered)
{
	struct held *h = hold_find(&sp->staged, id);
	struct spool_batch info;
	int64_t bytes;

	if (h) {
		hold_drop(&sp->staged, h);	/* taken before it was due: no disk */
		return;
	}
	h = hold_find(&sp->hold, id);
	forget(sp, id);
	if (h)
		hold_drop(&sp->hold, h);
	if (store_info(&sp->store, id, &info, &bytes) != 0)
		return;	/* held only, or gone already */
	if (hold_undeleted_has(&sp->hold, id)) {
		/* superseded, out of the totals already */
		if (written(sp, store_delete(&sp->store, id)) == 0)
			hold_undeleted_remove(&sp->hold, id);
		else if (delivered)
			sent_add(&sp->sent, id);
		return;
	}
	spool_totals_add(&sp->disk, -1, -info.points, -bytes);
	/* Deleting is worth trying even while commits wait: it makes room. A
	 * row left behind is sent no more (nor after a restart: sent), and
	 * deleted by spool_retry(). */
	if (written(sp, store_delete(&sp->store, id)) != 0) {
		hold_undeleted_add(&sp->hold, id);
		if (delivered && sent_add(&sp->sent, id) != 0 && !sp->sent.full_told) {
			sp->sent.full_told = true;
			hb_warn("spool cannot note more batches taken while the disk "
			    "is full path=%s: a restart before the disk has room sends "
			    "them again", sp->sent.path);
		}
	} else
		checkpoint(sp);
}

int
spool_delete(struct spool *sp, int64_t id)
{
	remove_batch(sp, id, true);
	return 0;
}

int
spool_replace(struct spool *sp, int64_t id, const char *body, size_t len,
    int64_t points)
{
	struct held *h = hold_find(&sp->staged, id);
	struct spool_batch info;
	int64_t old_bytes;

	if (h) {
		hold_replace(&sp->staged, h, body, len, points);
		return 0;
	}
	h = hold_find(&sp->hold, id);
	forget(sp, id);
	if (h) {
		hold_replace(&sp->hold, h, body, len, points);
		return 0;
	}
	if (hold_undeleted_has(&sp->hold, id) ||
	    store_info(&sp->store, id, &info, &old_bytes) != 0)
		return -1;
	if (!sp->failing && written(sp, store_replace(&sp->store, id, body, len,
	    points)) == 0) {
		spool_totals_add(&sp->disk, 0, points - info.points,
		    (int64_t)len - old_bytes);
		return 0;
	}
	/* The disk said no: the row is superseded by a copy in memory. */
	spool_totals_add(&sp->disk, -1, -info.points, -old_bytes);
	hold_undeleted_add(&sp->hold, id);
	hold_copy(&sp->hold, id, info.created_ms, points, info.attempts, body, len);
	return 0;
}

int
spool_split(struct spool *sp, int64_t id, const char *body, size_t len,
    size_t cut, int64_t points_first, int64_t points_second)
{
	struct spool_batch first = { .id = sp->next_id++, .created_ms = hb_wall_ms(),
	    .points = points_first };
	struct spool_batch second = { .id = sp->next_id++,
	    .created_ms = first.created_ms, .points = points_second };
	struct spool_batch info;
	int64_t old_bytes;

	unstage_id(sp, id);	/* a 413: rare, and split on disk as ever */
	forget(sp, id);
	if (!sp->failing && hold_find(&sp->hold, id) == NULL &&
	    !hold_undeleted_has(&sp->hold, id) &&
	    store_info(&sp->store, id, &info, &old_bytes) == 0 &&
	    written(sp, store_split(&sp->store, id, &first, &second, body, len,
	    cut)) == 0) {
		spool_totals_add(&sp->disk, 1, points_first + points_second -
		    info.points, (int64_t)len - old_bytes);
		return 0;
	}
	/* In memory already, or the disk said no: the halves are held. */
	remove_batch(sp, id, false);
	hold_copy(&sp->hold, first.id, first.created_ms, points_first, 0, body, cut);
	hold_copy(&sp->hold, second.id, second.created_ms, points_second, 0,
	    body + cut, len - cut);
	return 0;
}

int
spool_note_attempt(struct spool *sp, int64_t id)
{
	struct held *h;

	/* InfluxDB did not take it: it waits on disk from now on */
	unstage_id(sp, id);
	h = hold_find(&sp->hold, id);

	if (h) {
		h->b.attempts++;
		return 0;
	}
	if (sp->failing)
		return -1;
	return written(sp, store_attempt(&sp->store, id));
}

/* ---------------- back to disk ---------------- */

/* Dead letters kept when the file starts afresh: they are read into memory. */
#define AFRESH_DEAD_MAX (16 * 1024 * 1024)

/*
 * The spool's WAL filled its disk and nothing on disk is needed any more
 * but the dead letters (every batch was delivered): the file starts
 * afresh. 0 when it did; 1 if it could not be made again (still failing).
 */
static int
start_afresh(struct spool *sp)
{
	int64_t keep = sp->max_bytes / 2 < AFRESH_DEAD_MAX ? sp->max_bytes / 2 :
	    AFRESH_DEAD_MAX;
	int64_t dropped = 0, undeleted = (int64_t)sp->hold.nundeleted;
	int rc = store_rebuild(&sp->store, sp->next_id - 1, keep, &dropped);

	/* whatever came of it, the old rows are gone */
	sp->hold.nundeleted = 0;
	sp->disk = (struct spool_totals){ 0 };
	for (size_t i = 0; i < RECENT; i++)
		forget(sp, sp->recent[i].id);
	sent_clear(&sp->sent);
	if (rc != 0) {
		spool_failed(sp);
		return 1;
	}
	hb_warn("spool started afresh path=%s: the disk had no room to delete "
	    "batches=%lld InfluxDB took; the file and its WAL were made again, "
	    "dead letters kept%s%lld", sp->store.path, (long long)undeleted,
	    dropped ? ", all but the oldest points=" : "", (long long)dropped);
	return 0;
}

int
spool_retry(struct spool *sp)
{
	size_t moved = 0;
	int64_t moved_points = 0;
	struct held *h;

	/* a file that could not be made again: try again */
	if (sp->store.standin && start_afresh(sp) != 0)
		return 1;
	/* A WAL that filled the disk holds the rows to delete: copied into the
	 * database (if the disk has room for that), it is written from its
	 * start again, and the deletes below fit. */
	if (sp->failing)
		store_checkpoint_passive(&sp->store);
	/* what was sent first: deleting makes room for the rest */
	while (sp->hold.nundeleted > 0) {
		if (written(sp, store_delete(&sp->store,
		    sp->hold.undeleted[sp->hold.nundeleted - 1])) == 0) {
			sp->hold.nundeleted--;
			continue;
		}
		/* A delete needs room in the WAL, and the WAL the room the
		 * disk has not got: if nothing on disk is needed, start afresh. */
		if (!TAILQ_EMPTY(&sp->hold.held) || sp->disk.batches > 0 ||
		    start_afresh(sp) != 0)
			return 1;
	}
	sent_clear(&sp->sent);
	while ((h = TAILQ_FIRST(&sp->hold.held)) != NULL && moved < RETRY_BUDGET) {
		int64_t points = h->b.points, bytes = (int64_t)h->b.body.len;

		if (written(sp, store_insert(&sp->store, &h->b, h->b.body.data,
		    h->b.body.len)) != 0)
			return 1;
		moved += h->b.body.len;
		moved_points += points;
		hold_drop(&sp->hold, h);
		added(sp, points, (size_t)bytes);
	}
	if (sp->failing) {
		sp->failing = false;
		hb_info("spool writes again path=%s moved_to_disk_points=%lld "
		    "held_points=%lld", sp->store.path, (long long)moved_points,
		    (long long)sp->hold.mem.points);
		checkpoint(sp);
	}
	return TAILQ_EMPTY(&sp->hold.held) ? 0 : 1;
}

void
spool_state(const struct spool *sp, struct spool_state *out)
{
	out->failing = sp->failing;
	out->error = sp->failing ? sp->error : NULL;
	out->since_ms = sp->failing ? sp->failing_since_ms : 0;
	out->held_batches = sp->hold.mem.batches;
	out->held_points = sp->hold.mem.points;
	out->held_bytes = sp->hold.mem.bytes;
	out->undeleted = sp->hold.nundeleted;
}

bool
spool_whole(const struct spool *sp)
{
	return !sp->failing && TAILQ_EMPTY(&sp->hold.held) &&
	    sp->hold.nundeleted == 0;
}

/* ---------------- caps ---------------- */

int64_t
spool_file_bytes(struct spool *sp)
{
	return store_file_bytes(&sp->store) + store_wal_bytes(&sp->store);
}

/* Deletes the oldest dead letter: 1 (its points in *points), 0 none, -1. */
static int
drop_dead_letter(struct spool *sp, int64_t *points)
{
	int64_t id = 0;
	int r = store_oldest_dead_letter(&sp->store, &id, points);

	if (r != 1)
		return r;
	return written(sp, store_delete_dead_letter(&sp->store, id)) == 0 ? 1 : -1;
}

/* Drops the oldest batch on disk not in keep: 1 (what it held in *out), 0, -1. */
static int
drop_oldest_batch(struct spool *sp, const int64_t *keep, size_t nkeep,
    struct spool_drops *out)
{
	struct spool_batch info;
	int64_t after = 0, id, bytes;

	while ((id = next_row(sp, after)) > 0 && hold_kept(keep, nkeep, id))
		after = id;
	if (id <= 0 || store_info(&sp->store, id, &info, &bytes) != 0)
		return 0;
	forget(sp, id);
	if (written(sp, store_delete(&sp->store, id)) != 0)
		return -1;
	spool_totals_add(&sp->disk, -1, -info.points, -bytes);
	out->batches++;
	out->points += info.points;
	return 1;
}

void
spool_enforce_cap(struct spool *sp, const int64_t *keep, size_t nkeep,
    struct spool_drops *out)
{
	/*
	 * The cap covers the file and its WAL: the WAL is kept to its quarter
	 * (checkpoint()), and the file in use to the rest less the largest
	 * batch, so that the next one to come does not carry the file on disk
	 * past it (free pages are reused, but not given back).
	 */
	int64_t budget = sp->max_bytes - sp->store.wal_limit - sp->largest;

	memset(out, 0, sizeof(*out));
	/* a failing disk takes no writes, so the file does not grow */
	if (sp->failing)
		return;
	if (budget < sp->max_bytes / 4)
		budget = sp->max_bytes / 4;
	while (store_file_bytes(&sp->store) > budget) {
		int64_t points;
		int r;

		/* refused lines go first: what can still be delivered is worth more */
		if ((r = drop_dead_letter(sp, &points)) == 1) {
			out->dead_points += points;
			continue;
		}
		if (r < 0 || drop_oldest_batch(sp, keep, nkeep, out) != 1)
			break;
	}
	if (out->batches > 0 || out->dead_points > 0)
		checkpoint(sp);
}

void
spool_enforce_held(struct spool *sp, int64_t max_bytes, const int64_t *keep,
    size_t nkeep, struct spool_drops *out)
{
	memset(out, 0, sizeof(*out));
	hold_enforce(&sp->hold, max_bytes, keep, nkeep, out);
}

int
spool_dead_letter(struct spool *sp, const char *body, size_t len,
    int64_t points, int status, const char *reason)
{
	if (sp->failing) {
		hb_log_limited(&sp->log, HB_LOG_ERROR, "spool cannot keep dead "
		    "letters path=%s reason=\"%s\": points=%lld refused by InfluxDB "
		    "are counted but not kept", sp->store.path, sp->error,
		    (long long)points);
		return -1;
	}
	if (written(sp, store_dead_letter(&sp->store, body, len, points, status,
	    reason, hb_wall_ms())) != 0)
		return -1;
	grew(sp, len);
	return 0;
}

/* ---------------- totals ---------------- */

int64_t
spool_batches(const struct spool *sp)
{
	return sp->disk.batches + sp->hold.mem.batches + sp->staged.mem.batches;
}

int64_t
spool_points(const struct spool *sp)
{
	return sp->disk.points + sp->hold.mem.points + sp->staged.mem.points;
}

int64_t
spool_bytes(const struct spool *sp)
{
	return sp->disk.bytes + sp->hold.mem.bytes + sp->staged.mem.bytes;
}

int64_t
spool_dead_letters(struct spool *sp)
{
	return store_dead_letters(&sp->store);
}

int64_t
spool_oldest_ms(struct spool *sp)
{
	int64_t row = next_row(sp, 0), disk = 0, bytes;
	struct held *h = TAILQ_FIRST(&sp->hold.held);
	struct held *st = TAILQ_FIRST(&sp->staged.held);
	struct spool_batch info;

	if (row > 0 && store_info(&sp->store, row, &info, &bytes) == 0)
		disk = info.created_ms;
	if (st && (h == NULL || st->b.created_ms < h->b.created_ms))
		h = st;

	if (h && (disk == 0 || h->b.created_ms < disk))
		return h->b.created_ms;
	return disk;
}
