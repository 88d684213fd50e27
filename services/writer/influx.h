/*
 * influx: the writer's InfluxDB client. Builds v1 (/write) and v2
 * (/api/v2/write) requests and sends them with homebus-http-lite, libevent's
 * own HTTP client (evhttp; why not libcurl: design.md, "Two HTTP clients"),
 * and reads an answer into what the writer must do next: done, split, drop
 * named lines, or keep the batch and retry.
 */
#ifndef WRITER_INFLUX_H
#define WRITER_INFLUX_H

#include <stdbool.h>
#include <stddef.h>

#include "hb_config.h"
#include "hb_http_client.h"
#include "influx_answer.h"

struct influx_config {
	char *url;		/* base URL, "http://127.0.0.1:8086" */
	int api;		/* 1 or 2 */
	char *db, *rp, *username, *password;	/* v1 */
	char *retention;	/* v1: a new database's default duration ("730d"); NULL */
	char *org, *bucket, *token;		/* v2 */
	char precision[3];	/* ns, us, ms, s */
	bool gzip;
	long timeout_ms;
	char *ca_file;		/* https: PEM CA certificates; NULL: the system's */
};

void influx_config_read(struct influx_config *ic, struct hb_config *cfg);
void influx_config_free(struct influx_config *ic);

struct influx;

struct influx *influx_new(struct hb_http_client *http,
    const struct influx_config *ic);
void influx_free(struct influx *ix);

typedef void (*influx_done_fn)(const struct influx_result *res, double elapsed_s,
    void *arg);

/* Posts a batch of line protocol. See hb_http_request for the handle. */
struct hb_http_xfer *influx_write(struct influx *ix, const char *body,
    size_t len, influx_done_fn done, void *arg);
/*
 * v1: creates the database (POST /query, CREATE DATABASE), with
 * writer.influx.retention as its default retention policy, named
 * writer.influx.rp or homebus_<duration>. The result is OK, or REFUSED
 * (a statement InfluxDB refused, a user without admin rights) or RETRY
 * with InfluxDB's words.
 */
struct hb_http_xfer *influx_create_db(struct influx *ix, influx_done_fn done,
    void *arg);
/* The statement influx_create_db sends, for logs and /health. */
const char *influx_create_statement(const struct influx *ix);
/* GET /ping (v1) or /health (v2); the result is OK or RETRY/REFUSED. */
struct hb_http_xfer *influx_ping(struct influx *ix, influx_done_fn done,
    void *arg);

/* The base URL with any credentials removed, for logs and /health. */
const char *influx_display_url(const struct influx *ix);

#endif
