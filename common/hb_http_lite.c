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
 * the same origin. evhttp cancels without calling back, and reports a
 * failure as an error callback (errno still set) followed by the request
 * callback with NULL.
 */
#include "hb_http_client.h"
#include "hb_log.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/dns.h>
#include <event2/http.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>

/* Transport errors, numbered as libcurl numbers them (curl_code). */
enum {
	E_UNSUPPORTED = 1,	/* CURLE_UNSUPPORTED_PROTOCOL */
	E_BAD_URL = 3,		/* CURLE_URL_MALFORMAT */
	E_CONNECT = 7,		/* CURLE_COULDNT_CONNECT */
	E_WEIRD = 8,		/* CURLE_WEIRD_SERVER_REPLY */
	E_TIMEOUT = 28,		/* CURLE_OPERATION_TIMEDOUT */
	E_TLS = 35,		/* CURLE_SSL_CONNECT_ERROR */
	E_RECV = 56,		/* CURLE_RECV_ERROR */
	E_TOO_LARGE = 63,	/* CURLE_FILESIZE_EXCEEDED */
};

#define MAX_CONNS 16

struct conn {
	TAILQ_ENTRY(conn) entry;
	struct hb_http_client *client;
	struct evhttp_connection *evcon;
	struct bufferevent *bev;	/* TLS only */
	char origin[320];		/* "https://host:port|ca_file" */
	evutil_socket_t fd;		/* the socket TCP_NODELAY was set on */
	bool busy;
	bool dead;	/* closed or failed: freed, never reused */
};

struct hb_http_xfer {
	TAILQ_ENTRY(hb_http_xfer) entry;
	struct hb_http_client *client;
	struct conn *conn;
	struct evhttp_request *req;	/* evhttp's until it calls back */
	struct event *timer;		/* whole-transfer timeout, or an early error */
	int64_t start_us;
	long timeout_ms;
	size_t max_response;
	int code;			/* a transport error found before sending */
	char error[256];
	hb_http_done_fn done;
	void *arg;
};

TAILQ_HEAD(conn_list, conn);
TAILQ_HEAD(xfer_list, hb_http_xfer);

struct hb_http_client {
	struct event_base *base;
	struct evdns_base *dns;
	SSL_CTX *ssl;
	char *ssl_ca;			/* the CA file ssl was made with */
	struct conn_list conns;
	struct xfer_list xfers;
	size_t n, nconns;
	struct event *ev_reap;
};

/* ---------------- connections ---------------- */

static void
conn_free(struct conn *k)
{
	struct hb_http_client *c = k->client;

	TAILQ_REMOVE(&c->conns, k, entry);
	c->nconns--;
	/* frees the bufferevent too (BEV_OPT_CLOSE_ON_FREE and evhttp's own) */
	evhttp_connection_free(k->evcon);
	free(k);
}

/*
 * Dead connections are freed from the loop, never from inside one of
 * evhttp's callbacks: evhttp still uses the connection when they return.
 */
static void
on_reap(evutil_socket_t fd, short what, void *arg)
{
	struct hb_http_client *c = arg;
	struct conn *k, *next;

	(void)fd;
	(void)what;
	for (k = TAILQ_FIRST(&c->conns); k; k = next) {
		next = TAILQ_NEXT(k, entry);
		if (k->dead && !k->busy)
			conn_free(k);
	}
}

static void
reap(struct hb_http_client *c)
{
	event_active(c->ev_reap, EV_TIMEOUT, 0);
}

/* The server closed a kept-alive connection: a TLS one cannot reconnect. */
static void
on_close(struct evhttp_connection *evcon, void *arg)
{
	struct conn *k = arg;

	(void)evcon;
	if (k->bev)
		k->dead = true;
}

static SSL_CTX *
ssl_ctx(struct hb_http_client *c, const char *ca_file, char *err, size_t errlen)
{
	if (c->ssl && ((ca_file == NULL && c->ssl_ca == NULL) ||
	    (ca_file && c->ssl_ca && strcmp(ca_file, c->ssl_ca) == 0)))
		return c->ssl;
	if (c->ssl)
		SSL_CTX_free(c->ssl);
	free(c->ssl_ca);
	c->ssl_ca = ca_file ? hb_xstrdup(ca_file) : NULL;
	c->ssl = SSL_CTX_new(TLS_client_method());
	if (c->ssl == NULL) {
		snprintf(err, errlen, "TLS: cannot create a context");
		return NULL;
	}
	SSL_CTX_set_min_proto_version(c->ssl, TLS1_2_VERSION);
	SSL_CTX_set_verify(c->ssl, SSL_VERIFY_PEER, NULL);
	if (ca_file ? SSL_CTX_load_verify_locations(c->ssl, ca_file, NULL) != 1 :
	    SSL_CTX_set_default_verify_paths(c->ssl) != 1) {
		snprintf(err, errlen, "TLS: cannot load CA certificates%s%s",
		    ca_file ? " from " : "", ca_file ? ca_file : "");
		SSL_CTX_free(c->ssl);
		c->ssl = NULL;
		return NULL;
	}
	return c->ssl;
}

static struct conn *
conn_new(struct hb_http_client *c, const char *origin, bool tls, const char *host,
    int port, const char *ca_file, char *err, size_t errlen)
{
	struct conn *k;
	struct bufferevent *bev = NULL;
	struct evhttp_connection *evcon;

	if (tls) {
		struct in6_addr a6;
		struct in_addr a4;
		SSL_CTX *ctx = ssl_ctx(c, ca_file, err, errlen);
		SSL *ssl;
		bool ip = inet_pton(AF_INET, host, &a4) == 1 ||
		    inet_pton(AF_INET6, host, &a6) == 1;

		if (ctx == NULL || (ssl = SSL_new(ctx)) == NULL)
			return NULL;
		/* The name (or address) in the certificate must be the URL's. */
		if (ip)
			X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host);
		else {
			SSL_set_tlsext_host_name(ssl, host);
			SSL_set1_host(ssl, host);
		}
		bev = bufferevent_openssl_socket_new(c->base, -1, ssl,
		    BUFFEREVENT_SSL_CONNECTING,
		    BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
		if (bev == NULL) {
			SSL_free(ssl);
			snprintf(err, errlen, "TLS: cannot create a connection");
			return NULL;
		}
		/* Many servers close without a TLS close_notify. */
		bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
	}
	evcon = evhttp_connection_base_bufferevent_new(c->base, c->dns, bev, host,
	    (unsigned short)port);
	if (evcon == NULL) {
		if (bev)
			bufferevent_free(bev);
		snprintf(err, errlen, "cannot create a connection to %s:%d", host, port);
		return NULL;
	}
	k = hb_xcalloc(1, sizeof(*k));
	k->client = c;
	k->evcon = evcon;
	k->bev = bev;
	k->fd = -1;
	snprintf(k->origin, sizeof(k->origin), "%s", origin);
	evhttp_connection_set_closecb(evcon, on_close, k);
	TAILQ_INSERT_TAIL(&c->conns, k, entry);
	c->nconns++;
	return k;
}

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
	free(x);
}

static void
finish(struct hb_http_xfer *x, const struct hb_http_response *r)
{
	struct hb_http_client *c = x->client;
	struct hb_http_response copy = *r;

	copy.elapsed_s = (double)(hb_mono_us() - x->start_us) / 1e6;
	x->req = NULL;
	x->done(&copy, x->arg);
	xfer_free(x);
	reap(c);
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

static void
on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct hb_http_xfer *x = arg;
	char msg[96];

	(void)fd;
	(void)what;
	if (x->code) {			/* an error found before sending */
		finish_error(x, x->code, x->error);
		return;
	}
	/* No answer in time: cancel (no callback) and drop the connection. */
	if (x->req)
		evhttp_cancel_request(x->req);
	x->conn->dead = true;
	snprintf(msg, sizeof(msg), "Operation timed out after %ld milliseconds "
	    "with no answer", x->timeout_ms);
	finish_error(x, E_TIMEOUT, msg);
}

/*
 * The most telling of the TLS errors the connection recorded ("certificate
 * verify failed" rather than the bare system error that follows it), as
 * text in err; false if there was none.
 */
static bool
tls_error(struct conn *k, char *err, size_t errlen)
{
	unsigned long e, best = 0;
	char buf[200];

	if (k->bev == NULL)
		return false;
	while ((e = bufferevent_get_openssl_error(k->bev)) != 0)
		if (best == 0 || ERR_GET_LIB(e) != 0)
			best = e;
	if (best == 0)
		return false;
	if (ERR_GET_LIB(best) == 0)
		snprintf(err, errlen, "TLS: the connection failed during the handshake");
	else {
		ERR_error_string_n(best, buf, sizeof(buf));
		snprintf(err, errlen, "TLS: %s", buf);
	}
	return true;
}

static void
on_error(enum evhttp_request_error e, void *arg)
{
	struct hb_http_xfer *x = arg;
	int saved = errno;

	x->conn->dead = true;
	if (tls_error(x->conn, x->error, sizeof(x->error))) {
		x->code = E_TLS;
		return;
	}
	switch (e) {
	case EVREQ_HTTP_TIMEOUT:
		x->code = E_TIMEOUT;
		snprintf(x->error, sizeof(x->error), "Operation timed out");
		break;
	case EVREQ_HTTP_INVALID_HEADER:
		x->code = E_WEIRD;
		snprintf(x->error, sizeof(x->error), "invalid HTTP answer");
		break;
	case EVREQ_HTTP_DATA_TOO_LONG:
		x->code = E_TOO_LARGE;
		snprintf(x->error, sizeof(x->error), "answer larger than %zu bytes",
		    x->max_response);
		break;
	default:
		x->code = x->conn->bev ? E_TLS : saved ? E_CONNECT : E_RECV;
		if (x->conn->bev && saved == 0)
			snprintf(x->error, sizeof(x->error), "TLS connection failed "
			    "or closed");
		else
			snprintf(x->error, sizeof(x->error), "%s",
			    saved ? strerror(saved) : "connection closed by the server");
		break;
	}
}

static void
on_response(struct evhttp_request *req, void *arg)
{
	struct hb_http_xfer *x = arg;
	struct hb_http_response r = { 0 };
	struct evbuffer *in;
	const char *ra;
	long long secs;
	size_t len;
	char *body;

	if (req == NULL || evhttp_request_get_response_code(req) == 0) {
		x->req = NULL;
		x->conn->dead = true;
		/* A connection that never came up is reported without the
		 * error callback: name the server, and the reason if known. */
		if (x->code == 0 && tls_error(x->conn, x->error, sizeof(x->error)))
			x->code = E_TLS;
		if (x->code == 0) {
			char where[320];

			snprintf(where, sizeof(where), "%s", strstr(x->conn->origin,
			    "://") + 3);
			where[strcspn(where, "|")] = '\0';
			x->code = E_CONNECT;
			snprintf(x->error, sizeof(x->error), "Failed to connect to "
			    "%s (refused, unreachable, or closed before answering)",
			    where);
		}
		finish_error(x, x->code, x->error);
		return;
	}
	r.status = evhttp_request_get_response_code(req);
	r.retry_after_s = -1;
	ra = evhttp_find_header(evhttp_request_get_input_headers(req), "Retry-After");
	/* Only the delay-seconds form; an HTTP date falls back to backoff. */
	if (ra && hb_parse_ll(ra + strspn(ra, " \t"), 0, 86400, &secs) == 0)
		r.retry_after_s = (long)secs;
	in = evhttp_request_get_input_buffer(req);
	len = evbuffer_get_length(in);
	if (len > x->max_response)
		len = x->max_response;
	body = hb_xmalloc(len + 1);
	evbuffer_copyout(in, body, len);
	body[len] = '\0';
	r.body = body;
	r.body_len = len;
	/* A connection the server will close is not reused. */
	{
		const char *cn = evhttp_find_header(evhttp_request_get_input_headers(req),
		    "Connection");

		if (cn && strcasecmp(cn, "close") == 0 && x->conn->bev)
			x->conn->dead = true;
	}
	finish(x, &r);
	free(body);
}

static void
fail_soon(struct hb_http_xfer *x, int code, const char *error)
{
	struct timeval now = { 0, 0 };

	x->code = code;
	snprintf(x->error, sizeof(x->error), "%s", error);
	evtimer_add(x->timer, &now);
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

/*
 * A request leaves in more than one segment when it is large; with Nagle's
 * algorithm the second waits for the server's delayed ACK (40 ms). evhttp
 * makes its socket when it connects, inside evhttp_make_request.
 */
static void
no_delay(struct conn *k)
{
	evutil_socket_t fd = bufferevent_getfd(evhttp_connection_get_bufferevent(
	    k->evcon));
	int one = 1;

	if (fd >= 0 && fd != k->fd) {
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		k->fd = fd;
	}
	/* libevent writes 16 KB per loop turn by default; a batch of 5,000
	 * points is 200 KB. Let the kernel take what it can at once. */
	bufferevent_set_max_single_write(evhttp_connection_get_bufferevent(k->evcon),
	    1 << 20);
}

/* Finds an idle connection to the origin, or opens one. */
static struct conn *
acquire(struct hb_http_client *c, const struct evhttp_uri *u, const char *ca_file,
    char *err, size_t errlen)
{
	const char *scheme = evhttp_uri_get_scheme(u), *host = evhttp_uri_get_host(u);
	bool tls = strcasecmp(scheme, "https") == 0;
	int port = evhttp_uri_get_port(u);
	char origin[320];
	struct conn *k;

	if (port < 0)
		port = tls ? 443 : 80;
	snprintf(origin, sizeof(origin), "%s://%s:%d|%s", tls ? "https" : "http",
	    host, port, tls && ca_file ? ca_file : "");
	TAILQ_FOREACH(k, &c->conns, entry)
		if (!k->busy && !k->dead && strcmp(k->origin, origin) == 0)
			return k;
	if (c->nconns >= MAX_CONNS) {
		/* close an idle connection (to another origin), not a dead one:
		 * that may be inside evhttp's stack now, and is reaped soon */
		TAILQ_FOREACH(k, &c->conns, entry)
			if (!k->busy && !k->dead) {
				conn_free(k);
				break;
			}
		if (c->nconns >= MAX_CONNS) {
			snprintf(err, errlen, "more than %d requests in flight", MAX_CONNS);
			return NULL;
		}
	}
	return conn_new(c, origin, tls, host, port, ca_file, err, errlen);
}

struct hb_http_xfer *
hb_http_request(struct hb_http_client *c, const struct hb_http_request *req,
    hb_http_done_fn done, void *arg)
{
	struct hb_http_xfer *x = hb_xcalloc(1, sizeof(*x));
	const char *method = req->method ? req->method : "GET";
	struct evhttp_uri *u = evhttp_uri_parse(req->url);
	struct evkeyvalq *h;
	struct hb_buf target = { 0 }, line = { 0 };
	struct timeval tv;
	enum evhttp_cmd_type type;
	char err[256] = "";
	bool ok;

	x->client = c;
	x->done = done;
	x->arg = arg;
	x->start_us = hb_mono_us();
	x->timeout_ms = req->timeout_ms > 0 ? req->timeout_ms : 10000;
	x->max_response = req->max_response ? req->max_response : (1 << 20);
	x->timer = evtimer_new(c->base, on_timer, x);
	TAILQ_INSERT_TAIL(&c->xfers, x, entry);
	c->n++;
	type = method_type(method, &ok);
	if (u == NULL || evhttp_uri_get_scheme(u) == NULL ||
	    evhttp_uri_get_host(u) == NULL) {
		fail_soon(x, E_BAD_URL, "URL using bad/illegal format or missing URL");
		goto out;
	}
	if (strcasecmp(evhttp_uri_get_scheme(u), "http") != 0 &&
	    strcasecmp(evhttp_uri_get_scheme(u), "https") != 0) {
		fail_soon(x, E_UNSUPPORTED, "only http:// and https:// URLs");
		goto out;
	}
	if (!ok) {
		fail_soon(x, E_UNSUPPORTED, "unsupported HTTP method");
		goto out;
	}
	if ((x->conn = acquire(c, u, req->ca_file, err, sizeof(err))) == NULL) {
		fail_soon(x, E_CONNECT, err);
		goto out;
	}
	x->conn->busy = true;
	evhttp_connection_set_timeout(x->conn->evcon,
	    (int)((x->timeout_ms + 999) / 1000));
	evhttp_connection_set_max_body_size(x->conn->evcon,
	    (ev_ssize_t)x->max_response);
	x->req = evhttp_request_new(on_response, x);
	evhttp_request_set_error_cb(x->req, on_error);
	h = evhttp_request_get_output_headers(x->req);
	if (evhttp_uri_get_port(u) >= 0)
		hb_buf_printf(&line, "%s:%d", evhttp_uri_get_host(u),
		    evhttp_uri_get_port(u));
	else
		hb_buf_printf(&line, "%s", evhttp_uri_get_host(u));
	evhttp_add_header(h, "Host", line.data);
	evhttp_add_header(h, "User-Agent", "homebus/" HB_VERSION);
	for (size_t i = 0; req->headers && req->headers[i]; i++) {
		const char *colon = strchr(req->headers[i], ':');

		if (colon == NULL)
			continue;
		hb_buf_reset(&line);
		hb_buf_append(&line, req->headers[i], (size_t)(colon - req->headers[i]));
		evhttp_add_header(h, line.data, colon + 1 + strspn(colon + 1, " \t"));
	}
	if (req->userpwd || evhttp_uri_get_userinfo(u)) {
		/* user:password@ in the URL is percent-encoded */
		char *ui = req->userpwd ? NULL :
		    evhttp_uridecode(evhttp_uri_get_userinfo(u), 0, NULL);

		hb_buf_reset(&line);
		hb_buf_printf(&line, "Basic ");
		put_base64(&line, req->userpwd ? req->userpwd : ui ? ui : "");
		evhttp_add_header(h, "Authorization", line.data);
		free(ui);
	}
	if (req->body) {
		struct evbuffer *out = evhttp_request_get_output_buffer(x->req);
		struct hb_buf gz = { 0 };

		if (req->gzip && hb_gzip(req->body, req->body_len, &gz) == 0) {
			evhttp_add_header(h, "Content-Encoding", "gzip");
			evbuffer_add(out, gz.data, gz.len);
		} else
			evbuffer_add(out, req->body, req->body_len);
		hb_buf_free(&gz);
	}
	hb_buf_printf(&target, "%s", evhttp_uri_get_path(u) &&
	    evhttp_uri_get_path(u)[0] ? evhttp_uri_get_path(u) : "/");
	if (evhttp_uri_get_query(u))
		hb_buf_printf(&target, "?%s", evhttp_uri_get_query(u));
	if (evhttp_make_request(x->conn->evcon, x->req, type, target.data) != 0) {
		/* evhttp has freed the request */
		x->req = NULL;
		x->conn->dead = true;
		fail_soon(x, E_CONNECT, "cannot send the request");
		goto out;
	}
	no_delay(x->conn);
	tv.tv_sec = x->timeout_ms / 1000;
	tv.tv_usec = (x->timeout_ms % 1000) * 1000;
	evtimer_add(x->timer, &tv);
out:
	if (u)
		evhttp_uri_free(u);
	hb_buf_free(&target);
	hb_buf_free(&line);
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
		evhttp_cancel_request(x->req);
		x->conn->dead = true;
	}
	xfer_free(x);
	reap(c);
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
	c->ev_reap = event_new(base, -1, 0, on_reap, c);
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
		xfer_free(x);
	}
	while ((k = TAILQ_FIRST(&c->conns)) != NULL)
		conn_free(k);
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
