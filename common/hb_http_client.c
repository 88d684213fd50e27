/*
 * hb_http_client: libcurl multi on libevent. curl tells us which sockets to
 * watch (socket callback) and when to wake it (timer callback); we tell curl
 * what happened with curl_multi_socket_action and collect finished transfers.
 */
#include "hb_gzip.h"
#include "hb_http_client.h"
#include "hb_log.h"
#include "hb_util.h"

#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>

struct hb_http_xfer {
	TAILQ_ENTRY(hb_http_xfer) entry;
	struct hb_http_client *client;
	CURL *easy;
	struct curl_slist *headers;
	char *body;
	struct hb_buf resp;
	size_t max_response;
	long retry_after_s;
	char errbuf[CURL_ERROR_SIZE];
	hb_http_done_fn done;
	void *arg;
};

TAILQ_HEAD(xfer_list, hb_http_xfer);

struct hb_http_client {
	struct event_base *base;
	CURLM *multi;
	struct event *timer;
	struct xfer_list xfers;
	size_t n;
};

/* One per socket curl asks us to watch. */
struct sock_watch {
	struct hb_http_client *client;
	curl_socket_t fd;
	struct event *ev;
};

static void
xfer_free(struct hb_http_xfer *x)
{
	struct hb_http_client *c = x->client;

	TAILQ_REMOVE(&c->xfers, x, entry);
	c->n--;
	curl_multi_remove_handle(c->multi, x->easy);
	curl_easy_cleanup(x->easy);
	curl_slist_free_all(x->headers);
	free(x->body);
	hb_buf_free(&x->resp);
	free(x);
}

static void
check_done(struct hb_http_client *c)
{
	CURLMsg *msg;
	int left;

	while ((msg = curl_multi_info_read(c->multi, &left)) != NULL) {
		struct hb_http_response r;
		struct hb_http_xfer *x;

		if (msg->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&x);
		memset(&r, 0, sizeof(r));
		r.curl_code = (int)msg->data.result;
		if (msg->data.result == CURLE_OK)
			curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &r.status);
		else
			r.error = x->errbuf[0] ? x->errbuf :
			    curl_easy_strerror(msg->data.result);
		curl_easy_getinfo(x->easy, CURLINFO_TOTAL_TIME, &r.elapsed_s);
		r.body = x->resp.data ? x->resp.data : "";
		r.body_len = x->resp.len;
		r.retry_after_s = x->retry_after_s;
		/* Detach first: the callback may start new requests. */
		curl_multi_remove_handle(c->multi, x->easy);
		x->done(&r, x->arg);
		xfer_free(x);
	}
}

static void
on_socket_event(evutil_socket_t fd, short what, void *arg)
{
	struct hb_http_client *c = arg;
	int running, flags = 0;

	if (what & EV_READ)
		flags |= CURL_CSELECT_IN;
	if (what & EV_WRITE)
		flags |= CURL_CSELECT_OUT;
	curl_multi_socket_action(c->multi, fd, flags, &running);
	check_done(c);
}

static void
on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct hb_http_client *c = arg;
	int running;

	(void)fd;
	(void)what;
	curl_multi_socket_action(c->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	check_done(c);
}

static int
socket_cb(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp)
{
	struct hb_http_client *c = userp;
	struct sock_watch *w = socketp;
	short kind;

	(void)easy;
	if (what == CURL_POLL_REMOVE) {
		if (w) {
			event_free(w->ev);
			free(w);
			curl_multi_assign(c->multi, s, NULL);
		}
		return 0;
	}
	kind = EV_PERSIST;
	if (what & CURL_POLL_IN)
		kind |= EV_READ;
	if (what & CURL_POLL_OUT)
		kind |= EV_WRITE;
	if (w == NULL) {
		w = hb_xcalloc(1, sizeof(*w));
		w->client = c;
		w->fd = s;
		curl_multi_assign(c->multi, s, w);
	} else {
		event_del(w->ev);
		event_free(w->ev);
	}
	w->ev = event_new(c->base, s, kind, on_socket_event, c);
	event_add(w->ev, NULL);
	return 0;
}

static int
timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
	struct hb_http_client *c = userp;

	(void)multi;
	if (timeout_ms < 0) {
		evtimer_del(c->timer);
		return 0;
	}
	hb_timer_add_ms(c->timer, timeout_ms);
	return 0;
}

struct hb_http_client *
hb_http_client_new(struct event_base *base)
{
	struct hb_http_client *c = hb_xcalloc(1, sizeof(*c));

	curl_global_init(CURL_GLOBAL_DEFAULT);
	c->base = base;
	TAILQ_INIT(&c->xfers);
	c->multi = curl_multi_init();
	c->timer = evtimer_new(base, on_timer, c);
	curl_multi_setopt(c->multi, CURLMOPT_SOCKETFUNCTION, socket_cb);
	curl_multi_setopt(c->multi, CURLMOPT_SOCKETDATA, c);
	curl_multi_setopt(c->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
	curl_multi_setopt(c->multi, CURLMOPT_TIMERDATA, c);
	curl_multi_setopt(c->multi, CURLMOPT_MAX_HOST_CONNECTIONS, 8L);
	return c;
}

void
hb_http_client_free(struct hb_http_client *c)
{
	struct hb_http_xfer *x;

	if (c == NULL)
		return;
	while ((x = TAILQ_FIRST(&c->xfers)) != NULL)
		xfer_free(x);
	curl_multi_cleanup(c->multi);
	event_free(c->timer);
	free(c);
	curl_global_cleanup();	/* pairs with the init in hb_http_client_new */
}

size_t
hb_http_inflight(const struct hb_http_client *c)
{
	return c->n;
}

static size_t
write_cb(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	struct hb_http_xfer *x = userdata;
	size_t n = size * nmemb;
	size_t room = x->max_response > x->resp.len ? x->max_response - x->resp.len : 0;

	hb_buf_append(&x->resp, ptr, n < room ? n : room);
	return n;
}

static size_t
header_cb(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	struct hb_http_xfer *x = userdata;
	size_t n = size * nmemb;
	const char *name = "retry-after:";
	size_t nl = strlen(name);

	if (n > nl && strncasecmp(ptr, name, nl) == 0) {
		char val[32];
		size_t vl = n - nl;
		long long secs;

		if (vl >= sizeof(val))
			vl = sizeof(val) - 1;
		memcpy(val, ptr + nl, vl);
		val[vl] = '\0';
		hb_rstrip(val);
		/* Only the delay-seconds form; an HTTP date falls back to backoff. */
		if (hb_parse_ll(val + strspn(val, " \t"), 0, 86400, &secs) == 0)
			x->retry_after_s = (long)secs;
	}
	return n;
}

struct hb_http_xfer *
hb_http_request(struct hb_http_client *c, const struct hb_http_request *req,
    hb_http_done_fn done, void *arg)
{
	struct hb_http_xfer *x = hb_xcalloc(1, sizeof(*x));
	const char *method = req->method ? req->method : "GET";
	long timeout = req->timeout_ms > 0 ? req->timeout_ms : 10000;
	long ctimeout = req->connect_timeout_ms > 0 ? req->connect_timeout_ms :
	    (timeout < 5000 ? timeout : 5000);
	struct hb_buf gz = { 0 };

	x->client = c;
	x->done = done;
	x->arg = arg;
	x->retry_after_s = -1;
	x->max_response = req->max_response ? req->max_response : (1 << 20);
	x->easy = curl_easy_init();
	if (x->easy == NULL) {
		free(x);
		return NULL;
	}
	for (size_t i = 0; req->headers && req->headers[i]; i++)
		x->headers = curl_slist_append(x->headers, req->headers[i]);
	if (req->body) {
		if (req->gzip && hb_gzip(req->body, req->body_len, &gz) == 0) {
			x->headers = curl_slist_append(x->headers,
			    "Content-Encoding: gzip");
			curl_easy_setopt(x->easy, CURLOPT_POSTFIELDSIZE_LARGE,
			    (curl_off_t)gz.len);
			x->body = hb_buf_steal(&gz);
		} else {
			x->body = hb_xmalloc(req->body_len + 1);
			memcpy(x->body, req->body, req->body_len);
			curl_easy_setopt(x->easy, CURLOPT_POSTFIELDSIZE_LARGE,
			    (curl_off_t)req->body_len);
		}
		curl_easy_setopt(x->easy, CURLOPT_POSTFIELDS, x->body);
	}
	hb_buf_free(&gz);
	/* curl adds "Expect: 100-continue" to large POSTs; it costs a round trip. */
	x->headers = curl_slist_append(x->headers, "Expect:");
	curl_easy_setopt(x->easy, CURLOPT_URL, req->url);
	curl_easy_setopt(x->easy, CURLOPT_CUSTOMREQUEST, method);
	if (strcmp(method, "GET") == 0)
		curl_easy_setopt(x->easy, CURLOPT_HTTPGET, 1L);
	else if (strcmp(method, "HEAD") == 0)
		curl_easy_setopt(x->easy, CURLOPT_NOBODY, 1L);
	curl_easy_setopt(x->easy, CURLOPT_HTTPHEADER, x->headers);
	curl_easy_setopt(x->easy, CURLOPT_PRIVATE, x);
	curl_easy_setopt(x->easy, CURLOPT_WRITEFUNCTION, write_cb);
	curl_easy_setopt(x->easy, CURLOPT_WRITEDATA, x);
	curl_easy_setopt(x->easy, CURLOPT_HEADERFUNCTION, header_cb);
	curl_easy_setopt(x->easy, CURLOPT_HEADERDATA, x);
	curl_easy_setopt(x->easy, CURLOPT_ERRORBUFFER, x->errbuf);
	curl_easy_setopt(x->easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(x->easy, CURLOPT_TIMEOUT_MS, timeout);
	curl_easy_setopt(x->easy, CURLOPT_CONNECTTIMEOUT_MS, ctimeout);
	curl_easy_setopt(x->easy, CURLOPT_USERAGENT, "homebus/" HB_VERSION);
	curl_easy_setopt(x->easy, CURLOPT_TCP_KEEPALIVE, 1L);
	if (req->ca_file)
		curl_easy_setopt(x->easy, CURLOPT_CAINFO, req->ca_file);
	if (req->userpwd) {
		curl_easy_setopt(x->easy, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
		curl_easy_setopt(x->easy, CURLOPT_USERPWD, req->userpwd);
	}
	TAILQ_INSERT_TAIL(&c->xfers, x, entry);
	c->n++;
	if (curl_multi_add_handle(c->multi, x->easy) != CURLM_OK) {
		xfer_free(x);
		return NULL;
	}
	return x;
}

void
hb_http_cancel(struct hb_http_xfer *x)
{
	if (x)
		xfer_free(x);
}
