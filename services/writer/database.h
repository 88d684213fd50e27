/*
 * database: InfluxDB 1.x's database, created when a write finds it missing
 * (CREATE DATABASE, with writer.influx.retention as its default retention
 * policy), at most once every 30 s. Where InfluxDB refuses (a user without
 * admin rights) the writer keeps spooling and /health says why and what
 * to do.
 */
#ifndef WRITER_DATABASE_H
#define WRITER_DATABASE_H

#include <stdint.h>

#include "hb_log.h"
#include "influx.h"
#include "retry.h"

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

#endif
