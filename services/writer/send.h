/*
 * send: writes in flight. Hands spooled batches to InfluxDB oldest first,
 * up to writer.max_inflight at once, and acts on each answer: a batch
 * taken is deleted, a 413 or 400/422 settled (settle.h), a failure kept
 * for a retry (retry.h). The second concurrent write is only for a batch
 * that is full, older than writer.flush_interval_ms, left from before a
 * restart, or being retried; while InfluxDB fails, one batch at a time.
 *
 * database: InfluxDB 1.x's database, created when a write finds it missing
 * (CREATE DATABASE, with writer.influx.retention as its default retention
 * policy), at most once every 30 s. Where InfluxDB refuses (a user without
 * admin rights) the writer keeps spooling and /health says why and what
 * to do.
 */
#ifndef WRITER_SEND_H
#define WRITER_SEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hb_log.h"
#include "hb_metrics.h"
#include "influx.h"
#include "options.h"
#include "retry.h"
#include "settle.h"
#include "spool.h"

/* ---------------- the database (InfluxDB 1.x) ---------------- */

struct database {
	struct influx *influx;
	struct retry *retry;		/* resumed once the database exists */
	const struct influx_config *cfg;
	struct hb_http_xfer *xfer;	/* CREATE DATABASE in flight */
	int64_t last_try_ms;		/* monotonic; 0: never */
	char refused[512];		/* why InfluxDB would not create it; "" */
};

/* influx may be NULL or v2 (then nothing is ever created). */
void database_init(struct database *d, struct influx *influx,
    struct retry *retry, const struct influx_config *cfg);
/* Cancels a request in flight. */
void database_free(struct database *d);

/*
 * A write failed with *res at now_ms (monotonic). If InfluxDB said the
 * database is missing, creates it (unless tried in the last 30 s), and if
 * InfluxDB refused to, res->reason says so and how to put it right.
 */
void database_missing(struct database *d, struct influx_result *res,
    int64_t now_ms);

/* ---------------- the sender ---------------- */

struct sender;

struct send_slot {
	struct sender *s;
	struct spool_batch batch;
	struct hb_http_xfer *xfer;
	bool busy;
};

struct writer;

/*
 * An answer was acted on (writer.c): the spool may have changed, a slot is
 * free.
 */
void writer_answered(struct writer *w);

struct sender {
	struct send_slot slots[WRITER_MAX_INFLIGHT];
	int ninflight;
	int max_inflight;
	int64_t batch_size;
	int64_t flush_interval_ms;
	int64_t cursor;			/* every batch id <= cursor was handed out */
	int64_t first_id_this_run;	/* 0 until a batch is committed */
	int64_t last_send_ms;		/* monotonic: when the last write started */

	struct spool *spool;
	struct influx *influx;
	struct retry *retry;
	struct database *database;	/* created when missing; may be NULL */
	struct settle settle;
	struct writer *writer;		/* told of each answer (writer_answered) */
	struct hb_ratelimit log;

	/* may be NULL */
	struct hb_counter *written, *batches_written, *replayed, *write_errors;
	struct hb_gauge *inflight;
	struct hb_histogram *write_seconds;
};

void send_init(struct sender *s, const struct writer_options *o,
    struct spool *spool, struct influx *influx, struct retry *retry,
    struct writer *w);
/* Frees the slots' bodies; the transfers go with the HTTP client. */
void send_free(struct sender *s);

/* Starts what may go now. */
void send_pump(struct sender *s);
/* The batch with this id was committed (the first this run marks a restart's backlog). */
void send_committed(struct sender *s, int64_t id);

/* A write in flight or a retry waited for; *last_send_ms as in struct sender. */
bool send_busy(const struct sender *s, int64_t *last_send_ms);
/* Ids of the batches in flight into ids[0, max); returns how many. */
size_t send_in_flight(const struct sender *s, int64_t *ids, size_t max);

/*
 * Whether b may take a free slot at wall time now_wall_ms: always when
 * nothing is in flight; beside a write in flight only when b is full, old,
 * from before this run or retried (else it is better left to grow).
 */
bool send_may_add(const struct sender *s, const struct spool_batch *b,
    int64_t now_wall_ms);

/*
 * Acts on InfluxDB's answer to slot's write (what its callback does, minus
 * the timing): exported for the tests.
 */
void send_answered(struct send_slot *slot, const struct influx_result *res);

#endif
