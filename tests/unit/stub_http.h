/*
 * A stand-in for common/hb_http_client.h in unit tests that link a part of
 * a service without the HTTP client: requests are kept in the order they
 * were started, never sent, and the test answers each one when it likes.
 */
#ifndef STUB_HTTP_H
#define STUB_HTTP_H

#include "hb_http_client.h"

#include <stdbool.h>
#include <stddef.h>

struct hb_http_xfer {
	struct hb_http_xfer *next;
	hb_http_done_fn done;
	void *arg;
	char method[8];
	char *url;
	char *body;		/* NUL-terminated copy, "" if none */
	long timeout_ms;
	size_t max_response;
};

/* While true, hb_http_request refuses to start (returns NULL). */
extern bool stub_http_refuse;

/* Requests started and neither answered nor cancelled. */
size_t stub_http_count(void);
/* The i-th of them, oldest first; NULL past the end. */
struct hb_http_xfer *stub_http_nth(size_t i);
/* The oldest whose URL contains url_part, NULL if none. */
struct hb_http_xfer *stub_http_find(const char *url_part);

/*
 * Answers x (then frees it): status 0 is no answer at all, with error as
 * the transport's text. retry_after_s is the Retry-After header, -1: none.
 */
void stub_http_answer(struct hb_http_xfer *x, long status, const char *body,
    long retry_after_s, const char *error);

#endif
