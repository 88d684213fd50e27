/*
 * hb_http_client: asynchronous HTTP requests driven by the service's
 * libevent loop; connections kept alive and reused; nothing ever blocks the
 * loop. Two implementations of this one interface, chosen when a service is
 * linked:
 * - hb_http_client.c (library homebus-http): libcurl multi, with socket and
 *   timer callbacks as in curl's docs/examples/multi-event.c. For services
 *   that call anything a user configures (health's http targets, Telegram).
 * - hb_http_lite.c (library homebus-http-lite): libevent's own HTTP client,
 *   HTTPS through its OpenSSL bufferevent. For the writer, which posts to one
 *   server and must stay small: Debian's libcurl alone makes about 5 MB of a
 *   process resident.
 */
#ifndef HB_HTTP_CLIENT_H
#define HB_HTTP_CLIENT_H

#include <event2/event.h>
#include <stdbool.h>
#include <stddef.h>

#include "hb_util.h"

struct hb_http_client;
struct hb_http_xfer;

struct hb_http_request {
	const char *method;		/* "GET" (default), "POST", ... */
	const char *url;
	const char *const *headers;	/* NULL-terminated "Name: value" list */
	const void *body;		/* copied; may be NULL */
	size_t body_len;
	bool gzip;			/* compress the body, Content-Encoding: gzip */
	const char *userpwd;		/* "user:password" for basic auth */
	long timeout_ms;		/* whole transfer; 0: 10 s */
	long connect_timeout_ms;	/* 0: min(timeout, 5 s); hb_http_lite:
					 * always the whole timeout */
	size_t max_response;		/* bytes kept of the body; 0: 1 MiB */
	const char *ca_file;		/* PEM CA certificates for https; NULL:
					 * the system's */
};

struct hb_http_response {
	long status;			/* HTTP status, 0 when no answer came */
	int curl_code;			/* 0, or the transport error (libcurl's
					 * CURLcode numbers in both) */
	const char *error;		/* human text when curl_code != 0 */
	const char *body;		/* NUL-terminated, may be truncated */
	size_t body_len;
	long retry_after_s;		/* Retry-After in seconds, -1 if absent */
	double elapsed_s;
};

/*
 * Called once per request on the loop thread; resp is valid only during it.
 * The transfer is freed when it returns: do not cancel it from here.
 */
typedef void (*hb_http_done_fn)(const struct hb_http_response *resp, void *arg);

struct hb_http_client *hb_http_client_new(struct event_base *base);
/* Aborts transfers in flight without calling their callbacks. */
void hb_http_client_free(struct hb_http_client *client);

/*
 * Starts a request. Returns a handle usable with hb_http_cancel until the
 * callback runs, or NULL if it could not be started (the callback is not
 * called then).
 */
struct hb_http_xfer *hb_http_request(struct hb_http_client *client,
    const struct hb_http_request *req, hb_http_done_fn done, void *arg);
/* Aborts one transfer; its callback is not called. */
void hb_http_cancel(struct hb_http_xfer *xfer);
/* Transfers in flight. */
size_t hb_http_inflight(const struct hb_http_client *client);

#endif
