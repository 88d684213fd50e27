/*
 * settle: what becomes of a batch InfluxDB answered but did not take as
 * it was. 413 (body too large): split in two halves in the spool until it
 * fits, a single line too large dead-lettered. 400/422: the lines InfluxDB
 * names dead-lettered with its reason, the rest kept to be sent again; when
 * it names none, the whole batch dead-lettered.
 */
#ifndef WRITER_SETTLE_H
#define WRITER_SETTLE_H

#include <stddef.h>
#include <stdint.h>

#include "hb_log.h"
#include "hb_metrics.h"
#include "influx_answer.h"
#include "spool.h"

struct settle {
	struct spool *spool;
	struct hb_ratelimit *log;	/* shared with the failed writes' log */
	struct hb_counter *dead;	/* points dead-lettered; may be NULL */
};

enum settle_outcome {
	SETTLE_DONE,	/* the batch is gone from the spool (split or dead) */
	SETTLE_RESEND,	/* the batch's id holds what is left: send it again */
	SETTLE_RETRY,	/* the spool could not split it: retry as it is */
};

/* 413. */
enum settle_outcome settle_too_large(struct settle *st,
    const struct spool_batch *b, const struct influx_result *res);
/* 400, 422. */
enum settle_outcome settle_bad_points(struct settle *st,
    const struct spool_batch *b, const struct influx_result *res);

/*
 * Where to cut body (points lines) in two: after the first points/2 lines.
 * Returns the offset; *first gets how many lines lie before it.
 */
size_t settle_split_point(const char *body, size_t len, int64_t points,
    int64_t *first);

#endif
