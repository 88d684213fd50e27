/*
 * send: the slots of the writes in flight, and what each answer does to the
 * spool, to what the writer knows of InfluxDB, and to the cursor.
 */
#include "send.h"

#include <string.h>

static void
count(struct hb_counter *c, uint64_t n)
{
	if (c)
		hb_counter_add(c, n);
}

void
send_init(struct sender *s, const struct writer_options *o,
    struct spool *spool, struct influx *influx, struct retry *retry,
    struct writer *w)
{
	memset(s, 0, sizeof(*s));
	s->max_inflight = o->max_inflight;
	s->batch_size = o->batch_size;
	s->flush_interval_ms = o->flush_interval_ms;
	s->spool = spool;
	s->influx = influx;
	s->retry = retry;
	s->writer = w;
	hb_ratelimit_init(&s->log, 12, 5);
	s->settle.spool = spool;
	s->settle.log = &s->log;
}

void
send_free(struct sender *s)
{
	for (int i = 0; i < WRITER_MAX_INFLIGHT; i++)
		hb_buf_free(&s->slots[i].batch.body);
}

void
send_committed(struct sender *s, int64_t id)
{
	if (s->first_id_this_run == 0)
		s->first_id_this_run = id;
}

bool
send_busy(const struct sender *s, int64_t *last_send_ms)
{
	*last_send_ms = s->last_send_ms;
	return s->ninflight > 0 || !retry_may_send(s->retry);
}

size_t
send_in_flight(const struct sender *s, int64_t *ids, size_t max)
{
	size_t n = 0;

	for (int i = 0; i < WRITER_MAX_INFLIGHT && n < max; i++)
		if (s->slots[i].busy)
			ids[n++] = s->slots[i].batch.id;
	return n;
}

static bool
in_flight(const struct sender *s, int64_t id)
{
	for (int i = 0; i < WRITER_MAX_INFLIGHT; i++)
		if (s->slots[i].busy && s->slots[i].batch.id == id)
			return true;
	return false;
}

static struct send_slot *
free_slot(struct sender *s)
{
	for (int i = 0; i < s->max_inflight; i++)
		if (!s->slots[i].busy)
			return &s->slots[i];
	return NULL;
}

/* Batch id is to be handed out again. */
static void
rewind_to(struct sender *s, int64_t id)
{
	if (id - 1 < s->cursor)
		s->cursor = id - 1;
}

bool
send_may_add(const struct sender *s, const struct spool_batch *b,
    int64_t now_wall_ms)
{
	return s->ninflight == 0 || b->points >= s->batch_size ||
	    now_wall_ms - b->created_ms >= s->flush_interval_ms ||
	    b->id < s->first_id_this_run || b->attempts > 0;
}

static void
on_written(const struct influx_result *res, double elapsed_s, void *arg)
{
	struct send_slot *slot = arg;

	if (slot->s->write_seconds)
		hb_histogram_observe(slot->s->write_seconds, elapsed_s);
	send_answered(slot, res);
}

void
send_pump(struct sender *s)
{
	struct send_slot *slot;

	while (s->ninflight < s->max_inflight && retry_may_send(s->retry) &&
	    (slot = free_slot(s)) != NULL) {
		/* While InfluxDB is failing, probe with one batch at a time. */
		if (!s->retry->ok && s->ninflight > 0)
			break;
		if (spool_next(s->spool, s->cursor, &slot->batch) != 1)
			break;
		if (in_flight(s, slot->batch.id)) {
			s->cursor = slot->batch.id;
			continue;
		}
		if (!send_may_add(s, &slot->batch, hb_wall_ms()))
			break;
		s->cursor = slot->batch.id;
		slot->s = s;
		slot->xfer = influx_write(s->influx, slot->batch.body.data,
		    slot->batch.body.len, on_written, slot);
		if (slot->xfer == NULL) {
			hb_error("cannot start an InfluxDB request");
			s->cursor = slot->batch.id - 1;
			break;
		}
		slot->busy = true;
		s->ninflight++;
		s->last_send_ms = hb_mono_ms();
	}
	if (s->inflight)
		hb_gauge_set(s->inflight, s->ninflight);
}

static void
written(struct sender *s, const struct spool_batch *b)
{
	spool_delete(s->spool, b->id);
	count(s->written, (uint64_t)b->points);
	count(s->batches_written, 1);
	if (b->attempts > 0 || b->id < s->first_id_this_run ||
	    s->first_id_this_run == 0)
		count(s->replayed, 1);
	retry_written(s->retry, hb_wall_ms());
}

/* REFUSED or RETRY: the batch stays, InfluxDB counts as away, wait. */
static void
failed(struct sender *s, const struct spool_batch *b,
    const struct influx_result *res)
{
	struct influx_result why = *res;

	count(s->write_errors, 1);
	spool_note_attempt(s->spool, b->id);
	if (s->database)
		database_missing(s->database, &why, hb_mono_ms());
	retry_unreachable(s->retry, &why);
	hb_log_limited(&s->log, HB_LOG_WARN, "influx write failed "
	    "batch=%lld points=%lld status=%ld reason=\"%s\" spooled_points=%lld",
	    (long long)b->id, (long long)b->points, res->status, res->reason,
	    (long long)spool_points(s->spool));
	rewind_to(s, b->id);
	retry_schedule(s->retry, res, hb_mono_ms());
}

void
send_answered(struct send_slot *slot, const struct influx_result *res)
{
	struct sender *s = slot->s;
	struct spool_batch *b = &slot->batch;

	slot->xfer = NULL;
	slot->busy = false;
	s->ninflight--;
	switch (res->verdict) {
	case INFLUX_OK:
		written(s, b);
		break;
	case INFLUX_TOO_LARGE:
		retry_reachable(s->retry);
		if (settle_too_large(&s->settle, b, res) == SETTLE_RETRY) {
			rewind_to(s, b->id);
			retry_schedule(s->retry, res, hb_mono_ms());
		}
		break;
	case INFLUX_BAD_POINTS:
		retry_reachable(s->retry);
		if (settle_bad_points(&s->settle, b, res) == SETTLE_RESEND)
			rewind_to(s, b->id);
		break;
	case INFLUX_REFUSED:
	case INFLUX_RETRY:
		failed(s, b, res);
		break;
	}
	writer_answered(s->writer);
}
