/*
 * hb_http_lite: the hb_http_client interface on libevent's own HTTP client,
 * for a service that talks to a server or two it knows (the writer and
 * InfluxDB). Debian's libcurl brings OpenSSL's initialisation, GnuTLS (run by
 * a library constructor), Kerberos, LDAP and SSH into the process: about
 * 5 MB of resident pages that posting line protocol to one server has no use
 * for. HTTPS is libevent's OpenSSL bufferevent, set up only when a URL asks
 * for it; the certificate and the host name are verified.
 *
 * One evhttp_connection per request in flight, kept alive and reused for
 * the same origin. What evhttp does that shapes this file (libevent 2.1):
 * - a failure is an error callback followed by the request callback with
 *   NULL, or (a connection that never came up) only the request callback
 *   with status 0; a connect that fails at once does so inside
 *   evhttp_make_request, so failures are delivered from the loop;
 * - evhttp_cancel_request calls the error callback (REQUEST_CANCEL), never
 *   the request callback;
 * - evhttp still uses a connection after its callbacks return, so dead
 *   connections are freed from the loop;
 * - a body over evhttp's max body size fails the request and loses the
 *   status, so the body is collected chunk by chunk and cut here;
 * - a kept-alive connection the server has just closed fails the next
 *   request with no answer at all: that request is sent once more on a new
 *   connection, as libcurl does.
 * The connect timeout is the request's whole timeout (evhttp 2.1 has no
 * separate one).
 */
#include "hb_gzip.h"
#include "hb_http_lite_internal.h"
#include "hb_log.h"
#include "hb_util.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/dns.h>
#include <event2/http.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>

/* ---------------- transfers ---------------- */

static void
xfer_free(struct hb_http_xfer *x)
{
	struct hb_http_client *c = x->client;

	TAILQ_REMOVE(&c->xfers, x, entry);
	c->n--;
	if (x->conn)
		x->conn->busy = false;
	event_free(x->timer);
	event_free(x->soon);
	free(x->ca_file);
	free(x->target);
	free(x->body);
	hb_buf_free(&x->headers);
	hb_buf_free(&x->resp);
	free(x);
}

static void
finish(struct hb_http_xfer *x, const struct hb_http_response *r)
{
	struct hb_http_client *c = x->client;
	struct hb_http_response copy = *r;

	copy.elapsed_s = (double)(hb_mono_us() - x->start_us) / 1e6;
	x->req = NULL;
	/* The connection is free again: the callback may send on it (evhttp
	 * is done with the request). A dead one is reaped from the loop. */
	if (x->conn) {
		x->conn->busy = false;
		x->conn = NULL;
	}
	x->done(&copy, x->arg);
	xfer_free(x);
	lite__reap(c);
}

static void
finish_error(struct hb_http_xfer *x, int code, const char *error)
{
	struct hb_http_response r = { 0 };

	r.curl_code = code;
	r.error = error;
	r.body = "";
	r.retry_after_s = -1;
	finish(x, &r);
}

/* Delivers x->code from the loop, outside evhttp's stack. */
static void
fail_soon(struct hb_http_xfer *x, int code, const char *error)
{
	x->code = code;
	if (error != x->error)
		snprintf(x->error, sizeof(x->error), "%s", error);
	x->resend = false;
	event_active(x->soon, EV_TIMEOUT, 0);
}

/* "host:port" of the transfer, for messages. */
static const char *
where(const struct hb_http_xfer *x, char *buf, size_t len)
{
	snprintf(buf, len, "%s%s%s:%d", strchr(x->host, ':') ? "[" : "", x->host,
	    strchr(x->host, ':') ? "]" : "", x->port);
	return buf;
}

static void
on_error(enum evhttp_request_error e, void *arg)
{
	struct hb_http_xfer *x = arg;
	char w[300];

	if (e == EVREQ_HTTP_REQUEST_CANCEL)	/* ours: nothing to report */
		return;
	if (x->conn)
		x->conn->dead = true;
	if (lite__tls_error(x->conn, x->error, sizeof(x->error))) {
		x->code = E_TLS;
		return;
	}
	switch (e) {
	case EVREQ_HTTP_TIMEOUT:
		x->code = E_TIMEOUT;
		snprintf(x->error, sizeof(x->error), "Operation timed out (%s)",
		    where(x, w, sizeof(w)));
		break;
	case EVREQ_HTTP_INVALID_HEADER:
		x->code = E_WEIRD;
		snprintf(x->error, sizeof(x->error), "invalid HTTP answer from %s",
		    where(x, w, sizeof(w)));
		break;
	default:
		/* EOF, a socket error (errno is stale by now) */
		x->code = E_RECV;
		snprintf(x->error, sizeof(x->error), "Connection to %s failed or was "
		    "closed before an answer", where(x, w, sizeof(w)));
		break;
	}
}

/* Keeps the first max_response bytes of the body; evhttp drains the rest. */
static void
on_chunk(struct evhttp_request *req, void *arg)
{
	struct hb_http_xfer *x = arg;
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	size_t len = evbuffer_get_length(in);
	size_t room = x->max_response > x->resp.len ? x->max_response - x->resp.len : 0;

	if (len > room)
		len = room;
	if (len == 0)
		return;
	hb_buf_reserve(&x->resp, len);
	evbuffer_copyout(in, x->resp.data + x->resp.len, len);
	x->resp.len += len;
	x->resp.data[x->resp.len] = '\0';
}

static void
on_response(struct evhttp_request *req, void *arg)
{
	struct hb_http_xfer *x = arg;
	struct hb_http_response r = { 0 };
	struct evkeyvalq *h;
	const char *ra, *cn;
	long long secs;

	if (req == NULL || evhttp_request_get_response_code(req) == 0) {
		bool reused = x->conn && x->conn->uses > 1;
		char w[300];

		x->req = NULL;
		if (x->conn)
			x->conn->dead = true;
		if (x->code == 0 && lite__tls_error(x->conn, x->error, sizeof(x->error)))
			x->code = E_TLS;
		if (x->code == 0) {
			/* a connection that never came up: no error callback */
			x->code = E_CONNECT;
			snprintf(x->error, sizeof(x->error), "Failed to connect to %s "
			    "(refused, unreachable, or closed before answering)",
			    where(x, w, sizeof(w)));
		}
		/* A kept-alive connection the server closed meanwhile: once more,
		 * on a new one. Not for timeouts or TLS verdicts. */
		if (reused && !x->resent && (x->code == E_RECV || x->code == E_CONNECT)) {
			x->resent = true;
			x->resend = true;
			event_active(x->soon, EV_TIMEOUT, 0);
			return;
		}
		if (x->starting)	/* inside evhttp_make_request */
			return;
		fail_soon(x, x->code, x->error);
		return;
	}
	r.status = evhttp_request_get_response_code(req);
	r.retry_after_s = -1;
	h = evhttp_request_get_input_headers(req);
	ra = evhttp_find_header(h, "Retry-After");
	/* Only the delay-seconds form; an HTTP date falls back to backoff. */
	if (ra && hb_parse_ll(ra + strspn(ra, " \t"), 0, 86400, &secs) == 0)
		r.retry_after_s = (long)secs;
	on_chunk(req, x);	/* what is left in the buffer */
	r.body = x->resp.data ? x->resp.data : "";
	r.body_len = x->resp.len;
	/* A TLS connection the server will close is not reused. */
	cn = evhttp_find_header(h, "Connection");
	if (cn && strcasecmp(cn, "close") == 0 && x->conn && x->conn->bev)
		x->conn->dead = true;
	finish(x, &r);
}

static void
on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct hb_http_xfer *x = arg;
	char msg[400], w[300];

	(void)fd;
	(void)what;
	/* No answer in time: cancel (no request callback) and drop the
	 * connection, which may be half way through something. */
	if (x->req)
		evhttp_cancel_request(x->req);
	x->req = NULL;
	if (x->conn)
		x->conn->dead = true;
	snprintf(msg, sizeof(msg), "Operation timed out after %ld milliseconds "
	    "with no answer from %s", x->timeout_ms, where(x, w, sizeof(w)));
	finish_error(x, E_TIMEOUT, msg);
}

static enum evhttp_cmd_type
method_type(const char *m, bool *ok)
{
	static const struct {
		const char *name;
		enum evhttp_cmd_type type;
	} methods[] = {
		{ "GET", EVHTTP_REQ_GET }, { "POST", EVHTTP_REQ_POST },
		{ "HEAD", EVHTTP_REQ_HEAD }, { "PUT", EVHTTP_REQ_PUT },
		{ "DELETE", EVHTTP_REQ_DELETE }, { "PATCH", EVHTTP_REQ_PATCH },
		{ "OPTIONS", EVHTTP_REQ_OPTIONS },
	};

	*ok = true;
	for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
		if (strcmp(m, methods[i].name) == 0)
			return methods[i].type;
	*ok = false;
	return EVHTTP_REQ_GET;
}

static const char b64[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static void
put_base64(struct hb_buf *b, const char *s)
{
	size_t n = strlen(s);

	for (size_t i = 0; i < n; i += 3) {
		unsigned v = (unsigned char)s[i] << 16;

		if (i + 1 < n)
			v |= (unsigned char)s[i + 1] << 8;
		if (i + 2 < n)
			v |= (unsigned char)s[i + 2];
		hb_buf_putc(b, b64[(v >> 18) & 63]);
		hb_buf_putc(b, b64[(v >> 12) & 63]);
		hb_buf_putc(b, i + 1 < n ? b64[(v >> 6) & 63] : '=');
		hb_buf_putc(b, i + 2 < n ? b64[v & 63] : '=');
	}
}

static void
add_header(struct hb_http_xfer *x, const char *name, size_t nlen, const char *value)
{
	hb_buf_append(&x->headers, name, nlen);
	hb_buf_putc(&x->headers, '\0');
	hb_buf_puts(&x->headers, value);
	hb_buf_putc(&x->headers, '\0');
}

/* Finds an idle connection to the origin, or opens one. */
static struct conn *
acquire(struct hb_http_client *c, struct hb_http_xfer *x, char *err, size_t errlen)
{
	char origin[320];
	struct conn *k;

	snprintf(origin, sizeof(origin), "%s://%s:%d|%s", x->tls ? "https" : "http",
	    x->host, x->port, x->tls && x->ca_file ? x->ca_file : "");
	TAILQ_FOREACH(k, &c->conns, entry)
		if (!k->busy && !k->dead && strcmp(k->origin, origin) == 0)
			return k;
	if (c->nconns >= MAX_CONNS) {
		/* close an idle connection (to another origin), not a dead one:
		 * that may be inside evhttp's stack now, and is reaped soon */
		TAILQ_FOREACH(k, &c->conns, entry)
			if (!k->busy && !k->dead) {
				lite__conn_free(k);
				break;
			}
		if (c->nconns >= MAX_CONNS) {
			snprintf(err, errlen, "more than %d requests in flight", MAX_CONNS);
			return NULL;
		}
	}
	return lite__conn_new(c, origin, x->tls, x->host, x->port, x->ca_file, err, errlen);
}

/*
 * Sends x on an idle or new connection. A failure, even one evhttp reports
 * inside evhttp_make_request, is delivered from the loop (fail_soon).
 */
static void
send_request(struct hb_http_xfer *x)
{
	struct hb_http_client *c = x->client;
	struct evkeyvalq *h;
	char err[256] = "";
	int rc;

	x->code = 0;
	x->error[0] = '\0';
	hb_buf_reset(&x->resp);
	if ((x->conn = acquire(c, x, err, sizeof(err))) == NULL) {
		fail_soon(x, E_CONNECT, err);
		return;
	}
	x->conn->busy = true;
	x->conn->uses++;
	evhttp_connection_set_timeout(x->conn->evcon,
	    (int)((x->timeout_ms + 999) / 1000));
	x->req = evhttp_request_new(on_response, x);
	evhttp_request_set_error_cb(x->req, on_error);
	evhttp_request_set_chunked_cb(x->req, on_chunk);
	h = evhttp_request_get_output_headers(x->req);
	for (const char *p = x->headers.data; p && p < x->headers.data +
	    x->headers.len; ) {
		const char *v = p + strlen(p) + 1;

		evhttp_add_header(h, p, v);
		p = v + strlen(v) + 1;
	}
	if (x->body)
		evbuffer_add(evhttp_request_get_output_buffer(x->req), x->body,
		    x->body_len);
	x->starting = true;
	rc = evhttp_make_request(x->conn->evcon, x->req, x->type, x->target);
	x->starting = false;
	if (rc != 0) {
		/* evhttp has freed the request */
		x->req = NULL;
		x->conn->dead = true;
		fail_soon(x, E_CONNECT, "cannot send the request");
		return;
	}
	if (x->req == NULL) {
		/* it failed inside evhttp_make_request: on_response saw it */
		if (!x->resend)
			fail_soon(x, x->code, x->error);
		return;
	}
	lite__tune_socket(x->conn);
}

/* From the loop: an error to deliver, or the request to send again. */
static void
on_soon(evutil_socket_t fd, short what, void *arg)
{
	struct hb_http_xfer *x = arg;

	(void)fd;
	(void)what;
	if (x->resend) {
		x->resend = false;
		if (x->conn) {
			x->conn->busy = false;
			x->conn = NULL;
		}
		send_request(x);
		return;
	}
	finish_error(x, x->code, x->error);
}

/*
 * A new transfer for req, counted in flight in c, with its timeout and its
 * soon event made but not started.
 */
static struct hb_http_xfer *
xfer_new(struct hb_http_client *c, const struct hb_http_request *req,
    hb_http_done_fn done, void *arg)
{
	struct hb_http_xfer *x = hb_xcalloc(1, sizeof(*x));

	x->client = c;
	x->done = done;
	x->arg = arg;
	x->start_us = hb_mono_us();
	x->timeout_ms = req->timeout_ms > 0 ? req->timeout_ms : 10000;
	x->max_response = req->max_response ? req->max_response : (1 << 20);
	x->timer = evtimer_new(c->base, on_timer, x);
	x->soon = event_new(c->base, -1, 0, on_soon, x);
	TAILQ_INSERT_TAIL(&c->xfers, x, entry);
	c->n++;
	return x;
}

/*
 * Where x goes, from the URL u (NULL: it did not parse): TLS or not, the
 * host and port to connect to, and the target (path?query). Returns 0, or
 * -1 when the URL or the method (method_ok false) cannot be sent, with the
 * error on its way (fail_soon).
 */
static int
set_destination(struct hb_http_xfer *x, const struct evhttp_uri *u,
    bool method_ok)
{
	const char *scheme = u ? evhttp_uri_get_scheme(u) : NULL;
	const char *host = u ? evhttp_uri_get_host(u) : NULL;
	struct hb_buf target = { 0 };

	if (scheme == NULL || host == NULL || host[0] == '\0') {
		fail_soon(x, E_BAD_URL, "URL using bad/illegal format or missing URL");
		return -1;
	}
	if (strcasecmp(scheme, "http") != 0 && strcasecmp(scheme, "https") != 0) {
		fail_soon(x, E_UNSUPPORTED, "only http:// and https:// URLs");
		return -1;
	}
	if (!method_ok) {
		fail_soon(x, E_UNSUPPORTED, "unsupported HTTP method");
		return -1;
	}
	x->tls = strcasecmp(scheme, "https") == 0;
	x->port = evhttp_uri_get_port(u) >= 0 ? evhttp_uri_get_port(u) :
	    x->tls ? 443 : 80;
	/* an IPv6 literal is connected to without its brackets */
	if (host[0] == '[')
		snprintf(x->host, sizeof(x->host), "%.*s", (int)strcspn(host + 1, "]"),
		    host + 1);
	else
		snprintf(x->host, sizeof(x->host), "%s", host);
	hb_buf_printf(&target, "%s", evhttp_uri_get_path(u) &&
	    evhttp_uri_get_path(u)[0] ? evhttp_uri_get_path(u) : "/");
	if (evhttp_uri_get_query(u))
		hb_buf_printf(&target, "?%s", evhttp_uri_get_query(u));
	x->target = hb_buf_steal(&target);
	return 0;
}

/*
 * The headers x is sent with: Host as the URL u has it, User-Agent, the
 * caller's "Name: value" headers, and basic auth from req->userpwd or
 * else from user:password@ in the URL.
 */
static void
add_request_headers(struct hb_http_xfer *x, const struct evhttp_uri *u,
    const struct hb_http_request *req)
{
	struct hb_buf value = { 0 };

	if (evhttp_uri_get_port(u) >= 0)
		hb_buf_printf(&value, "%s:%d", evhttp_uri_get_host(u),
		    evhttp_uri_get_port(u));
	else
		hb_buf_printf(&value, "%s", evhttp_uri_get_host(u));
	add_header(x, "Host", 4, value.data);
	add_header(x, "User-Agent", 10, "homebus/" HB_VERSION);
	for (size_t i = 0; req->headers && req->headers[i]; i++) {
		const char *colon = strchr(req->headers[i], ':');

		if (colon)
			add_header(x, req->headers[i], (size_t)(colon - req->headers[i]),
			    colon + 1 + strspn(colon + 1, " \t"));
	}
	if (req->userpwd || evhttp_uri_get_userinfo(u)) {
		/* user:password@ in the URL is percent-encoded */
		char *ui = req->userpwd ? NULL :
		    evhttp_uridecode(evhttp_uri_get_userinfo(u), 0, NULL);

		hb_buf_reset(&value);
		hb_buf_printf(&value, "Basic ");
		put_base64(&value, req->userpwd ? req->userpwd : ui ? ui : "");
		add_header(x, "Authorization", 13, value.data);
		free(ui);
	}
	hb_buf_free(&value);
}

/* x's copy of the body, gzip-compressed (and said so) when req asks. */
static void
set_body(struct hb_http_xfer *x, const struct hb_http_request *req)
{
	struct hb_buf gz = { 0 };

	if (req->body == NULL)
		return;
	if (req->gzip && hb_gzip(req->body, req->body_len, &gz) == 0) {
		add_header(x, "Content-Encoding", 16, "gzip");
		x->body_len = gz.len;
		x->body = hb_buf_steal(&gz);
	} else {
		x->body = hb_xmalloc(req->body_len + 1);
		memcpy(x->body, req->body, req->body_len);
		x->body_len = req->body_len;
	}
	hb_buf_free(&gz);
}

/*
 * As hb_http_client.h says. Never NULL here: a request that cannot be
 * sent fails from the loop, through its callback.
 */
struct hb_http_xfer *
hb_http_request(struct hb_http_client *c, const struct hb_http_request *req,
    hb_http_done_fn done, void *arg)
{
	struct hb_http_xfer *x = xfer_new(c, req, done, arg);
	struct evhttp_uri *u = evhttp_uri_parse(req->url);
	bool ok;

	x->type = method_type(req->method ? req->method : "GET", &ok);
	if (set_destination(x, u, ok) != 0)
		goto out;
	x->ca_file = req->ca_file ? hb_xstrdup(req->ca_file) : NULL;
	add_request_headers(x, u, req);
	set_body(x, req);
	hb_timer_add_ms(x->timer, x->timeout_ms);
	send_request(x);
out:
	if (u)
		evhttp_uri_free(u);
	return x;
}

void
hb_http_cancel(struct hb_http_xfer *x)
{
	struct hb_http_client *c;

	if (x == NULL)
		return;
	c = x->client;
	if (x->req) {
		evhttp_cancel_request(x->req);	/* only the error callback */
		x->req = NULL;
	}
	if (x->conn)
		x->conn->dead = true;
	xfer_free(x);
	lite__reap(c);
}

struct hb_http_client *
hb_http_client_new(struct event_base *base)
{
	struct hb_http_client *c = hb_xcalloc(1, sizeof(*c));

	c->base = base;
	/* Names are resolved without blocking the loop (/etc/hosts first). */
	c->dns = evdns_base_new(base, EVDNS_BASE_INITIALIZE_NAMESERVERS |
	    EVDNS_BASE_DISABLE_WHEN_INACTIVE);
	TAILQ_INIT(&c->conns);
	TAILQ_INIT(&c->xfers);
	c->ev_reap = event_new(base, -1, 0, lite__on_reap, c);
	return c;
}

void
hb_http_client_free(struct hb_http_client *c)
{
	struct hb_http_xfer *x;
	struct conn *k;

	if (c == NULL)
		return;
	while ((x = TAILQ_FIRST(&c->xfers)) != NULL) {
		if (x->req)
			evhttp_cancel_request(x->req);
		x->req = NULL;
		xfer_free(x);
	}
	while ((k = TAILQ_FIRST(&c->conns)) != NULL)
		lite__conn_free(k);
	event_free(c->ev_reap);
	if (c->dns)
		evdns_base_free(c->dns, 0);
	if (c->ssl)
		SSL_CTX_free(c->ssl);
	free(c->ssl_ca);
	free(c);
}

size_t
hb_http_inflight(const struct hb_http_client *c)
{
	return c->n;
}
