/*
 * influx_answer: InfluxDB's answer to a write, read into what the writer
 * does next. Pure functions (no I/O, no loop), so that the unit tests
 * reach them without a server.
 */
#ifndef WRITER_INFLUX_ANSWER_H
#define WRITER_INFLUX_ANSWER_H

#include <stdbool.h>
#include <stddef.h>

enum influx_verdict {
	INFLUX_OK,		/* 2xx: the batch is in */
	INFLUX_TOO_LARGE,	/* 413: split and retry */
	INFLUX_BAD_POINTS,	/* 400/422: some or all lines refused for good */
	INFLUX_REFUSED,		/* 401/403/404: keep spooling, report down */
	INFLUX_RETRY,		/* 429, 5xx, network: back off and retry */
};

struct influx_result {
	enum influx_verdict verdict;
	long status;
	long retry_after_s;	/* -1 if none */
	char reason[512];	/* the server's words, or the HTTP client's */
};

/*
 * Reads an HTTP answer into *out: status 0 with client_code != 0 is a
 * transport error (client_error says which); body may be NULL.
 */
void influx_classify(long status, int client_code, const char *client_error,
    const char *body, long retry_after_s, struct influx_result *out);

/*
 * The same for an answer to /query: a 2xx whose results hold a statement's
 * error ({"results":[{"error":...}]}) is REFUSED with that error.
 */
void influx_classify_query(long status, int client_code,
    const char *client_error, const char *body, long retry_after_s,
    struct influx_result *out);

/*
 * Marks the lines of body (bad[i] for the i-th line, nlines of them) that
 * InfluxDB's error text names: "unable to parse '<line>'" and "field type
 * conflict: input field "F" on measurement "M" is type T". Returns how many.
 */
size_t influx_bad_lines(const char *error, const char *body, size_t len,
    bool *bad, size_t nlines);

#endif
