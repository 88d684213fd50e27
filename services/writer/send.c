/*
 * send: the slots of the writes in flight, and what each answer does to the
 * spool, to what the writer knows of InfluxDB, and to the cursor; CREATE
 * DATABASE when a write says "database not found", and what InfluxDB said
 * when it would not.
 */
#include "send.h"
#include "hb_util.h"

#include <stdio.h>
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

/* ---------------- the database (InfluxDB 1.x) ---------------- */

/* A user without admin rights is asked once every 30 s, not every write. */
#define TRY_EVERY_MS 30000

void
database_init(struct database *d, struct influx *influx, struct retry *retry,
    const struct influx_config *cfg)
{
	memset(d, 0, sizeof(*d));
	d->influx = cfg->api == 1 ? influx : NULL;
	d->retry = retry;
	d->cfg = cfg;
}

void
database_free(struct database *d)
{
	if (d->xfer)
		hb_http_cancel(d->xfer);
	d->xfer = NULL;
}

static void
on_created(const struct influx_result *res, double elapsed_s, void *arg)
{
	struct database *d = arg;
	struct influx_result why;

	(void)elapsed_s;
	d->xfer = NULL;
	if (res->verdict == INFLUX_OK) {
		d->refused[0] = '\0';
		hb_info("influx database created db=%s retention=%s statement=\"%s\"",
		    d->cfg->db, d->cfg->retention ? d->cfg->retention : "(InfluxDB's "
		    "default)", influx_create_statement(d->influx));
		retry_resume(d->retry);
		return;
	}
	snprintf(d->refused, sizeof(d->refused), "database \"%s\" does not exist "
	    "and InfluxDB would not create it%s%s%s (%s); create it as an admin: "
	    "%s. Points are spooled until it exists", d->cfg->db,
	    d->cfg->username ? " for user \"" : "",
	    d->cfg->username ? d->cfg->username : "",
	    d->cfg->username ? "\"" : "", res->reason,
	    influx_create_statement(d->influx));
	hb_warn("influx %s", d->refused);
	why = *res;
	why.verdict = INFLUX_REFUSED;
	snprintf(why.reason, sizeof(why.reason), "%s", d->refused);
	retry_unreachable(d->retry, &why);
}

/* InfluxDB 1.x's answer to a write into a database that does not exist. */
static bool
names_missing_database(const struct influx_result *res)
{
	return res->status == 404 &&
	    strncmp(res->reason, "database not found", 18) == 0;
}

void
database_missing(struct database *d, struct influx_result *res, int64_t now_ms)
{
	if (d->influx == NULL || !names_missing_database(res))
		return;
	if (d->xfer == NULL && (d->last_try_ms == 0 ||
	    now_ms - d->last_try_ms >= TRY_EVERY_MS)) {
		d->last_try_ms = now_ms;
		d->xfer = influx_create_db(d->influx, on_created, d);
	}
	if (d->refused[0])
		snprintf(res->reason, sizeof(res->reason), "%s", d->refused);
}
