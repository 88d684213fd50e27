/*
 * stub_http: requests kept for the test to answer (see stub_http.h).
 */
#include "stub_http.h"
#include "hb_util.h"
#include "hbt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool stub_http_refuse;
static struct hb_http_xfer *first;

/* Takes x off the pending list; false if it was not on it. */
static bool
unlink_xfer(struct hb_http_xfer *x)
{
	struct hb_http_xfer **pp;

	for (pp = &first; *pp; pp = &(*pp)->next)
		if (*pp == x) {
			*pp = x->next;
			return true;
		}
	return false;
}

static void
free_xfer(struct hb_http_xfer *x)
{
	free(x->url);
	free(x->body);
	free(x);
}

struct hb_http_xfer *
hb_http_request(struct hb_http_client *client,
    const struct hb_http_request *req, hb_http_done_fn done, void *arg)
{
	struct hb_http_xfer *x, **pp;

	(void)client;
	/* what the real client needs of every request: a URL it can parse, a
	 * method it sends, a time limit that is not negative (0: its default)
	 * and a callback */
	HBT_CHECK(req->url && (strncmp(req->url, "http://", 7) == 0 ||
	    strncmp(req->url, "https://", 8) == 0), "a request to an http(s) "
	    "URL: %s", req->url ? req->url : "(null)");
	HBT_CHECK(req->method == NULL || strcmp(req->method, "GET") == 0 ||
	    strcmp(req->method, "POST") == 0, "GET or POST: %s", req->method);
	HBT_CHECK(req->timeout_ms >= 0 && done != NULL, "a time limit (%ld ms) "
	    "and a callback", (long)req->timeout_ms);
	if (req->url == NULL || stub_http_refuse)
		return NULL;
	x = hb_xcalloc(1, sizeof(*x));
	x->done = done;
	x->arg = arg;
	snprintf(x->method, sizeof(x->method), "%s",
	    req->method ? req->method : "GET");
	x->url = hb_xstrdup(req->url);
	x->body = hb_xstrndup(req->body ? req->body : "",
	    req->body ? req->body_len : 0);
	x->timeout_ms = req->timeout_ms;
	x->max_response = req->max_response;
	for (pp = &first; *pp; pp = &(*pp)->next)
		;
	*pp = x;
	return x;
}

void
hb_http_cancel(struct hb_http_xfer *x)
{
	/* the real client frees a transfer once it is answered: cancelling
	 * one that is not pending would be a use after free there */
	if (!HBT_CHECK(unlink_xfer(x), "cancel a pending transfer"))
		return;
	free_xfer(x);
}

size_t
stub_http_count(void)
{
	size_t n = 0;

	for (struct hb_http_xfer *x = first; x; x = x->next)
		n++;
	return n;
}

struct hb_http_xfer *
stub_http_nth(size_t i)
{
	struct hb_http_xfer *x = first;

	while (x && i-- > 0)
		x = x->next;
	return x;
}

struct hb_http_xfer *
stub_http_find(const char *url_part)
{
	for (struct hb_http_xfer *x = first; x; x = x->next)
		if (strstr(x->url, url_part))
			return x;
	return NULL;
}

void
stub_http_answer(struct hb_http_xfer *x, long status, const char *body,
    long retry_after_s, const char *error)
{
	struct hb_http_response resp = { 0 };

	HBT_REQUIRE(unlink_xfer(x), "answer a pending transfer");
	resp.status = status;
	resp.curl_code = status == 0 ? 7 : 0;
	resp.error = error;
	resp.body = body ? body : "";
	resp.body_len = body ? strlen(body) : 0;
	resp.retry_after_s = retry_after_s;
	/* as the real client: the transfer is gone once its callback returns */
	x->done(&resp, x->arg);
	free_xfer(x);
}
