/*
 * The HTTP client against a loopback HTTP server in the same loop: bodies,
 * gzip, Retry-After, basic auth, timeouts that do not hold up other
 * requests, refused connections, connection reuse, what the server
 * receives (method, target, headers, body), URLs refused before sending,
 * cancelled requests, and HTTPS with the certificate and the host name
 * verified. Built twice, once on each
 * implementation of hb_http_client.h (libcurl, and libevent's evhttp).
 */
#include "hbt.h"
#include "hb_http_client.h"

#include <event2/buffer.h>
#include <event2/bufferevent_ssl.h>
#include <event2/bufferevent.h>
#include <event2/http.h>
#include <event2/listener.h>
#include <openssl/ssl.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

struct server {
	struct evhttp *http;
	int port;
	struct evhttp_connection *conns[64];
	int nconns;
	struct evhttp_request *hung;	/* never answered; evhttp frees it */
	size_t last_body_len;
	char last_body[256];
	int requests;			/* every request that reached on_request */
	char last_method[16];
	char last_uri[160];
};

static const char *
method_name(enum evhttp_cmd_type t)
{
	switch (t) {
	case EVHTTP_REQ_GET: return "GET";
	case EVHTTP_REQ_POST: return "POST";
	case EVHTTP_REQ_HEAD: return "HEAD";
	case EVHTTP_REQ_PUT: return "PUT";
	case EVHTTP_REQ_DELETE: return "DELETE";
	case EVHTTP_REQ_PATCH: return "PATCH";
	case EVHTTP_REQ_OPTIONS: return "OPTIONS";
	default: return "other";
	}
}

/* "name=value" of a request header for /inspect, "-" when absent. */
static const char *
header_or_dash(struct evkeyvalq *h, const char *name)
{
	const char *v = evhttp_find_header(h, name);

	return v ? v : "-";
}

static void
note_conn(struct server *s, struct evhttp_request *req)
{
	struct evhttp_connection *c = evhttp_request_get_connection(req);

	for (int i = 0; i < s->nconns; i++)
		if (s->conns[i] == c)
			return;
	if (s->nconns < 64)
		s->conns[s->nconns++] = c;
}

static void
on_request(struct evhttp_request *req, void *arg)
{
	struct server *s = arg;
	const char *uri = evhttp_request_get_uri(req);
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	struct evbuffer *out = evbuffer_new();
	struct evkeyvalq *h = evhttp_request_get_input_headers(req);
	size_t n = evbuffer_get_length(in);
	unsigned char *body = evbuffer_pullup(in, -1);

	note_conn(s, req);
	s->requests++;
	snprintf(s->last_method, sizeof(s->last_method), "%s",
	    method_name(evhttp_request_get_command(req)));
	snprintf(s->last_uri, sizeof(s->last_uri), "%s", uri);
	if (strncmp(uri, "/inspect", 8) == 0) {
		/* what arrived, as one line the test compares; no body for HEAD
		 * (evhttp's server would send one, and a client that reuses the
		 * connection would read it as the next answer) */
		if (evhttp_request_get_command(req) == EVHTTP_REQ_HEAD) {
			evhttp_send_reply(req, 200, "OK", NULL);
			evbuffer_free(out);
			return;
		}
		evbuffer_add_printf(out, "%s %s|host=%s|ua=%s|x=%s|enc=%s|len=%zu",
		    s->last_method, uri, header_or_dash(h, "Host"),
		    header_or_dash(h, "User-Agent"), header_or_dash(h,
		    "X-Homebus-Test"), header_or_dash(h, "Content-Encoding"), n);
		evhttp_send_reply(req, 200, "OK", out);
		evbuffer_free(out);
		return;
	}
	if (strcmp(uri, "/hang") == 0) {
		s->hung = req;
		evbuffer_free(out);
		return;
	}
	if (strcmp(uri, "/drop") == 0) {
		/* answers as if keeping the connection, then closes it */
		evbuffer_add_printf(out, "dropped");
		evhttp_send_reply(req, 200, "OK", out);
		evhttp_connection_free_on_completion(evhttp_request_get_connection(req));
	} else if (strcmp(uri, "/big400") == 0) {
		for (int i = 0; i < 9000; i++)
			evbuffer_add_printf(out, "unable to parse line %05d\n", i);
		evhttp_send_reply(req, 400, "Bad Request", out);
	} else if (strcmp(uri, "/close") == 0) {
		evhttp_add_header(evhttp_request_get_output_headers(req), "Connection",
		    "close");
		evbuffer_add_printf(out, "closing");
		evhttp_send_reply(req, 200, "OK", out);
	} else if (strcmp(uri, "/auth") == 0) {
		const char *a = evhttp_find_header(h, "Authorization");

		evbuffer_add_printf(out, "%s", a ? a : "none");
		evhttp_send_reply(req, 200, "OK", out);
	} else if (strcmp(uri, "/busy") == 0) {
		evhttp_add_header(evhttp_request_get_output_headers(req), "Retry-After", "7");
		evbuffer_add_printf(out, "{\"error\":\"slow down\"}");
		evhttp_send_reply(req, 429, "Too Many Requests", out);
	} else if (strcmp(uri, "/echo") == 0) {
		const char *enc = evhttp_find_header(h, "Content-Encoding");

		if (enc && strcmp(enc, "gzip") == 0) {
			z_stream zs;

			memset(&zs, 0, sizeof(zs));
			inflateInit2(&zs, 15 + 16);
			zs.next_in = body;
			zs.avail_in = (uInt)n;
			zs.next_out = (Bytef *)s->last_body;
			zs.avail_out = sizeof(s->last_body) - 1;
			inflate(&zs, Z_FINISH);
			s->last_body_len = zs.total_out;
			inflateEnd(&zs);
		} else {
			s->last_body_len = n < sizeof(s->last_body) - 1 ? n : sizeof(s->last_body) - 1;
			memcpy(s->last_body, body, s->last_body_len);
		}
		s->last_body[s->last_body_len] = '\0';
		evbuffer_add_printf(out, "got %zu", s->last_body_len);
		evhttp_send_reply(req, 200, "OK", out);
	} else {
		evbuffer_add_printf(out, "hello");
		evhttp_send_reply(req, 200, "OK", out);
	}
	evbuffer_free(out);
}

struct result {
	bool done;
	long status;
	int curl_code;
	long retry_after;
	char body[256];
	size_t body_len;
	char error[256];
};

static void
on_done(const struct hb_http_response *r, void *arg)
{
	struct result *res = arg;

	res->done = true;
	res->status = r->status;
	res->curl_code = r->curl_code;
	res->retry_after = r->retry_after_s;
	snprintf(res->body, sizeof(res->body), "%s", r->body);
	snprintf(res->error, sizeof(res->error), "%s", r->error ? r->error : "");
	res->body_len = r->body_len;
}

/* An HTTPS server: evhttp over OpenSSL with a self-signed certificate. */
static struct bufferevent *
tls_bev(struct event_base *base, void *arg)
{
	return bufferevent_openssl_socket_new(base, -1, SSL_new(arg),
	    BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
}

/*
 * A raw server that answers the first request on each connection as if it
 * kept the connection, and closes the connection without a word when a
 * second request arrives on it: a server that dropped an idle connection
 * just as the client reused it.
 */
struct dropper_conn;
struct dropper {
	struct evconnlistener *lis;
	int port;
	int conns;
	/* connections still open, freed at the end of the test when the client
	 * has not closed them yet */
	struct bufferevent *open[8];
};

struct dropper_conn {
	struct dropper *d;
	struct bufferevent *bev;
	long served;		/* requests answered on it */
};

/* Frees a connection of the dropper's and forgets it. */
static void
dropper_close(struct dropper_conn *dc)
{
	for (size_t i = 0; i < 8; i++)
		if (dc->d->open[i] == dc->bev)
			dc->d->open[i] = NULL;
	bufferevent_free(dc->bev);
	free(dc);
}

static void
dropper_read(struct bufferevent *bev, void *arg)
{
	struct evbuffer *in = bufferevent_get_input(bev);
	struct dropper_conn *dc = arg;
	struct evbuffer_ptr end;

	while ((end = evbuffer_search(in, "\r\n\r\n", 4, NULL)).pos >= 0) {
		evbuffer_drain(in, (size_t)end.pos + 4);
		if (dc->served++ > 0) {
			dropper_close(dc);
			return;
		}
		bufferevent_write(bev, "HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\n"
		    "dropped", 45);
	}
}

static void
dropper_event(struct bufferevent *bev, short what, void *arg)
{
	(void)bev;
	(void)what;
	dropper_close(arg);
}

static void
dropper_accept(struct evconnlistener *lis, evutil_socket_t fd,
    struct sockaddr *sa, int len, void *arg)
{
	struct dropper *d = arg;
	struct dropper_conn *dc = hb_xcalloc(1, sizeof(*dc));
	struct bufferevent *bev = bufferevent_socket_new(
	    evconnlistener_get_base(lis), fd, BEV_OPT_CLOSE_ON_FREE);

	(void)sa;
	(void)len;
	d->conns++;
	dc->d = d;
	dc->bev = bev;
	for (size_t i = 0; i < 8; i++)
		if (d->open[i] == NULL) {
			d->open[i] = bev;
			break;
		}
	bufferevent_setcb(bev, dropper_read, NULL, dropper_event, dc);
	bufferevent_enable(bev, EV_READ);
}

/* Two requests, the second sent from the first one's callback. */
struct chain {
	struct hb_http_client *c;
	const struct hb_http_request *req;
	struct result first, second;
};

static void
on_first(const struct hb_http_response *r, void *arg)
{
	struct chain *ch = arg;

	on_done(r, &ch->first);
	hb_http_request(ch->c, ch->req, on_done, &ch->second);
}

static void
run_until(struct event_base *base, bool *flag, int64_t timeout_ms)
{
	int64_t end = hb_mono_ms() + timeout_ms;

	while (!*flag && hb_mono_ms() < end)
		event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK), hbt_sleep_ms(1);
}

/* Starts req and runs the loop until its callback. */
static void
fetch(struct event_base *base, struct hb_http_client *c,
    const struct hb_http_request *req, struct result *r)
{
	memset(r, 0, sizeof(*r));
	HBT_REQUIRE(hb_http_request(c, req, on_done, r) != NULL, "start %s",
	    req->url);
	run_until(base, &r->done, 5000);
	HBT_CHECK(r->done, "%s answered", req->url);
}

/*
 * What the server receives: the method, the target with its query, the
 * Host and User-Agent, the caller's headers, the body as given; and URLs
 * and methods that are refused before anything is sent.
 */
static void
request_tests(struct event_base *base, struct hb_http_client *c,
    struct server *srv)
{
	const char *const headers[] = { "X-Homebus-Test:  hall way", NULL };
	struct hb_http_request req = { 0 };
	char url[160], want[400];
	struct result r;
	int before;

	snprintf(url, sizeof(url), "http://127.0.0.1:%d/inspect?room=hall&n=2",
	    srv->port);
	req.url = url;
	fetch(base, c, &req, &r);
	snprintf(want, sizeof(want), "GET /inspect?room=hall&n=2|host=127.0.0.1:%d|"
	    "ua=homebus/%s|x=-|enc=-|len=0", srv->port, HB_VERSION);
	HBT_CHECK(r.status == 200 && strcmp(r.body, want) == 0, "GET: %s", r.body);

	req.method = "PUT";
	req.headers = headers;
	req.body = "temp value=1";
	req.body_len = 12;
	fetch(base, c, &req, &r);
	snprintf(want, sizeof(want), "PUT /inspect?room=hall&n=2|host=127.0.0.1:%d|"
	    "ua=homebus/%s|x=hall way|enc=-|len=12", srv->port, HB_VERSION);
	HBT_CHECK(r.status == 200 && strcmp(r.body, want) == 0, "PUT: %s", r.body);

	req.method = "DELETE";
	req.headers = NULL;
	req.body = NULL;
	req.body_len = 0;
	fetch(base, c, &req, &r);
	HBT_CHECK(r.status == 200 && strncmp(r.body, "DELETE /inspect?", 16) == 0,
	    "DELETE: %s", r.body);

	req.method = "HEAD";
	fetch(base, c, &req, &r);
	HBT_CHECK(r.status == 200 && r.body_len == 0 &&
	    strcmp(srv->last_method, "HEAD") == 0, "HEAD: %ld %s", r.status,
	    srv->last_method);

	/* a body without gzip arrives as it is */
	req.method = "POST";
	req.body = "temp,room=hall value=19.5\n";
	req.body_len = strlen(req.body);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/echo", srv->port);
	fetch(base, c, &req, &r);
	HBT_CHECK(r.status == 200 && strcmp(srv->last_body, req.body) == 0,
	    "plain body: %ld %s, server saw \"%s\"", r.status, r.error,
	    srv->last_body);
	req.method = NULL;
	req.body = NULL;
	req.body_len = 0;

	/* no path at all is "/" */
	snprintf(url, sizeof(url), "http://127.0.0.1:%d", srv->port);
	fetch(base, c, &req, &r);
	HBT_CHECK(r.status == 200 && strcmp(srv->last_uri, "/") == 0,
	    "no path: %ld %s", r.status, srv->last_uri);

	/* refused before anything is sent: libcurl's codes in both */
	before = srv->requests;
	snprintf(url, sizeof(url), "http://");
	fetch(base, c, &req, &r);
	HBT_CHECK(r.status == 0 && r.curl_code == 3 && r.error[0] != '\0',
	    "no host: code %d \"%s\"", r.curl_code, r.error);
	snprintf(url, sizeof(url), "nosuch://127.0.0.1:%d/", srv->port);
	fetch(base, c, &req, &r);
	HBT_CHECK(r.status == 0 && r.curl_code == 1 && r.error[0] != '\0',
	    "unknown scheme: code %d \"%s\"", r.curl_code, r.error);
	HBT_CHECK(srv->requests == before, "nothing reached the server");

	/* a method one implementation cannot send is refused by it, never
	 * sent as another method */
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/inspect", srv->port);
	req.method = "BREW";
	before = srv->requests;
	fetch(base, c, &req, &r);
	HBT_CHECK(r.status != 200 && (srv->requests == before ||
	    strcmp(srv->last_method, "GET") != 0), "BREW: status %ld code %d, "
	    "server saw %s", r.status, r.curl_code, srv->last_method);
	req.method = NULL;
}

/*
 * A cancelled request calls nothing, in flight or refused at start, and
 * the client goes on serving the next one.
 */
static void
cancel_tests(struct event_base *base, struct hb_http_client *c,
    struct server *srv)
{
	struct hb_http_request req = { 0 };
	struct result hung = { 0 }, bad = { 0 }, r;
	struct hb_http_xfer *x;
	char url[160], bad_url[32];
	int before = srv->requests;

	snprintf(url, sizeof(url), "http://127.0.0.1:%d/hang", srv->port);
	req.url = url;
	x = hb_http_request(c, &req, on_done, &hung);
	HBT_REQUIRE(x != NULL, "start /hang");
	for (int64_t end = hb_mono_ms() + 5000; srv->requests == before &&
	    hb_mono_ms() < end; hbt_sleep_ms(1))
		event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
	HBT_REQUIRE(srv->requests > before, "the request reached the server");
	hb_http_cancel(x);
	HBT_CHECK(hb_http_inflight(c) == 0, "nothing in flight after the cancel");

	snprintf(bad_url, sizeof(bad_url), "http://");
	req.url = bad_url;
	x = hb_http_request(c, &req, on_done, &bad);
	HBT_REQUIRE(x != NULL, "start a bad URL");
	hb_http_cancel(x);

	snprintf(url, sizeof(url), "http://127.0.0.1:%d/", srv->port);
	req.url = url;
	fetch(base, c, &req, &r);
	HBT_CHECK(r.status == 200 && strcmp(r.body, "hello") == 0 && !hung.done &&
	    !bad.done, "after two cancels: %ld %s, callbacks %d %d", r.status,
	    r.body, hung.done, bad.done);
}

static void
tls_tests(struct event_base *base, struct hb_http_client *c)
{
	struct evhttp *https = evhttp_new(base);
	struct server tsrv = { 0 };
	struct hb_http_request req = { 0 };
	struct result r = { 0 };
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	char cert[600], key[600], url[128];
	int port = hbt_free_port();

	hbt_make_cert("https", cert, key);
	HBT_REQUIRE(SSL_CTX_use_certificate_file(ctx, cert, SSL_FILETYPE_PEM) == 1 &&
	    SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) == 1, "cert");
	evhttp_set_bevcb(https, tls_bev, ctx);
	HBT_REQUIRE(evhttp_bind_socket(https, "127.0.0.1", (ev_uint16_t)port) == 0,
	    "bind https");
	evhttp_set_gencb(https, on_request, &tsrv);

	/* the server's own CA: answered, over one kept-alive connection */
	snprintf(url, sizeof(url), "https://127.0.0.1:%d/", port);
	req.url = url;
	req.ca_file = cert;
	for (int i = 0; i < 3; i++) {
		memset(&r, 0, sizeof(r));
		hb_http_request(c, &req, on_done, &r);
		run_until(base, &r.done, 5000);
		HBT_CHECK(r.done && r.status == 200 && strcmp(r.body, "hello") == 0,
		    "https with its CA: %ld %s", r.status, r.body);
	}
	HBT_CHECK(tsrv.nconns == 1, "https keep-alive: %d connections", tsrv.nconns);

	/* a server that closes after each answer: a new connection each time */
	snprintf(url, sizeof(url), "https://127.0.0.1:%d/close", port);
	for (int i = 0; i < 3; i++) {
		memset(&r, 0, sizeof(r));
		hb_http_request(c, &req, on_done, &r);
		run_until(base, &r.done, 5000);
		HBT_CHECK(r.done && r.status == 200 && strcmp(r.body, "closing") == 0,
		    "https, Connection: close (%d): %ld %s %s", i, r.status, r.body,
		    r.error);
	}
	snprintf(url, sizeof(url), "https://127.0.0.1:%d/", port);

	/* the system's CAs do not know it: refused, with the reason, each time */
	req.ca_file = NULL;
	for (int i = 0; i < 3; i++) {
		memset(&r, 0, sizeof(r));
		hb_http_request(c, &req, on_done, &r);
		run_until(base, &r.done, 5000);
		HBT_CHECK(r.done && r.status == 0 && r.curl_code != 0 &&
		    strstr(r.error, "certificate"), "https, unknown CA (%d): status "
		    "%ld code %d error \"%s\"", i, r.status, r.curl_code, r.error);
	}

	/* the right CA, the wrong name: the certificate is for 127.0.0.1 */
	memset(&r, 0, sizeof(r));
	snprintf(url, sizeof(url), "https://localhost:%d/", port);
	req.ca_file = cert;
	hb_http_request(c, &req, on_done, &r);
	run_until(base, &r.done, 5000);
	HBT_CHECK(r.done && r.status == 0 && r.curl_code != 0 &&
	    strstr(r.error, "certificate"), "https, name mismatch: status %ld code "
	    "%d error \"%s\"", r.status, r.curl_code, r.error);

	evhttp_free(https);
	SSL_CTX_free(ctx);
}

int
main(void)
{
	struct event_base *base;
	struct hb_http_client *c;
	struct server srv = { 0 };
	struct hb_http_request req = { 0 };
	struct result r1 = { 0 }, r2 = { 0 };
	char url[128], url2[128];
	const char *body = "temp,room=kitchen value=21.5\n";

	hbt_init("http_client");
	base = event_base_new();
	srv.http = evhttp_new(base);
	srv.port = hbt_free_port();
	HBT_REQUIRE(evhttp_bind_socket(srv.http, "127.0.0.1", (ev_uint16_t)srv.port) == 0,
	    "bind");
	evhttp_set_gencb(srv.http, on_request, &srv);
	c = hb_http_client_new(base);

	/* a plain GET */
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/", srv.port);
	req.url = url;
	HBT_REQUIRE(hb_http_request(c, &req, on_done, &r1) != NULL, "start");
	run_until(base, &r1.done, 5000);
	HBT_CHECK(r1.done && r1.status == 200 && strcmp(r1.body, "hello") == 0,
	    "GET: %ld %s", r1.status, r1.body);
	HBT_CHECK(r1.retry_after == -1, "no Retry-After");

	/* a gzip POST arrives intact */
	memset(&r1, 0, sizeof(r1));
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/echo", srv.port);
	req.method = "POST";
	req.body = body;
	req.body_len = strlen(body);
	req.gzip = true;
	hb_http_request(c, &req, on_done, &r1);
	run_until(base, &r1.done, 5000);
	HBT_CHECK(r1.status == 200 && strcmp(srv.last_body, body) == 0,
	    "gzip body: server saw \"%s\"", srv.last_body);

	/* Retry-After is read */
	memset(&r1, 0, sizeof(r1));
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/busy", srv.port);
	req.method = NULL;
	req.body = NULL;
	req.gzip = false;
	hb_http_request(c, &req, on_done, &r1);
	run_until(base, &r1.done, 5000);
	HBT_CHECK(r1.status == 429 && r1.retry_after == 7, "429: %ld retry=%ld",
	    r1.status, r1.retry_after);

	/* a hung request times out without holding up another one */
	memset(&r1, 0, sizeof(r1));
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/hang", srv.port);
	snprintf(url2, sizeof(url2), "http://127.0.0.1:%d/", srv.port);
	req.timeout_ms = 800;
	hb_http_request(c, &req, on_done, &r1);
	req.url = url2;
	hb_http_request(c, &req, on_done, &r2);
	run_until(base, &r2.done, 5000);
	HBT_CHECK(r2.done && r2.status == 200 && !r1.done,
	    "the second request finished while the first hangs");
	run_until(base, &r1.done, 5000);
	HBT_CHECK(r1.done && r1.status == 0 && r1.curl_code != 0,
	    "hung request timed out: code=%d", r1.curl_code);

	/* connection refused is an error, not a hang */
	memset(&r1, 0, sizeof(r1));
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/", hbt_free_port());
	req.url = url;
	hb_http_request(c, &req, on_done, &r1);
	run_until(base, &r1.done, 5000);
	HBT_CHECK(r1.done && r1.status == 0 && r1.curl_code != 0, "refused: %d %s",
	    r1.curl_code, r1.error);
	hbt_log("refused: %s", r1.error);

	/* sequential requests reuse one connection */
	srv.nconns = 0;
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/", srv.port);
	for (int i = 0; i < 5; i++) {
		memset(&r1, 0, sizeof(r1));
		hb_http_request(c, &req, on_done, &r1);
		run_until(base, &r1.done, 5000);
	}
	HBT_CHECK(srv.nconns == 1, "keep-alive: %d connections for 5 requests",
	    srv.nconns);

	/* basic auth, from the request and from user:password@ in the URL */
	memset(&r1, 0, sizeof(r1));
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/auth", srv.port);
	req.userpwd = "homebus:s3cret";
	hb_http_request(c, &req, on_done, &r1);
	run_until(base, &r1.done, 5000);
	HBT_CHECK(strcmp(r1.body, "Basic aG9tZWJ1czpzM2NyZXQ=") == 0, "auth: %s",
	    r1.body);
	memset(&r1, 0, sizeof(r1));
	snprintf(url, sizeof(url), "http://ab:c%%40d@127.0.0.1:%d/auth", srv.port);
	req.userpwd = NULL;
	hb_http_request(c, &req, on_done, &r1);
	run_until(base, &r1.done, 5000);
	HBT_CHECK(strcmp(r1.body, "Basic YWI6Y0Bk") == 0, "auth from URL: %s",
	    r1.body);

	/* an error answer larger than max_response keeps its status */
	memset(&r1, 0, sizeof(r1));
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/big400", srv.port);
	req.max_response = 1000;
	hb_http_request(c, &req, on_done, &r1);
	run_until(base, &r1.done, 5000);
	HBT_CHECK(r1.done && r1.status == 400 && r1.body_len == 1000 &&
	    strncmp(r1.body, "unable to parse line 00000", 26) == 0,
	    "big 400: status %ld, %zu bytes kept, error \"%s\"", r1.status,
	    r1.body_len, r1.error);
	req.max_response = 0;

	/* a server that closes a connection it answered as kept alive: the
	 * next request, sent at once, still gets its answer */
	{
		struct chain ch = { .c = c, .req = &req };

		snprintf(url, sizeof(url), "http://127.0.0.1:%d/drop", srv.port);
		for (int i = 0; i < 3; i++) {
			memset(&ch.first, 0, sizeof(ch.first));
			memset(&ch.second, 0, sizeof(ch.second));
			hb_http_request(c, &req, on_first, &ch);
			run_until(base, &ch.second.done, 5000);
			HBT_CHECK(ch.first.status == 200 && ch.second.status == 200 &&
			    strcmp(ch.second.body, "dropped") == 0, "after a dropped "
			    "connection (%d): %ld then %ld \"%s\"", i, ch.first.status,
			    ch.second.status, ch.second.error);
		}
	}

	/* ... and one that drops it as the request arrives: sent once more on
	 * a new connection, answered */
	{
		struct dropper d = { 0 };
		struct sockaddr_in sin = { 0 };

		d.port = hbt_free_port();
		sin.sin_family = AF_INET;
		sin.sin_port = htons((uint16_t)d.port);
		sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		d.lis = evconnlistener_new_bind(base, dropper_accept, &d,
		    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE, -1,
		    (struct sockaddr *)&sin, sizeof(sin));
		HBT_REQUIRE(d.lis != NULL, "dropper listens");
		snprintf(url, sizeof(url), "http://127.0.0.1:%d/", d.port);
		for (int i = 0; i < 3; i++) {
			memset(&r1, 0, sizeof(r1));
			hb_http_request(c, &req, on_done, &r1);
			run_until(base, &r1.done, 5000);
			HBT_CHECK(r1.status == 200 && strcmp(r1.body, "dropped") == 0,
			    "request %d to a server that drops reused connections: %ld %s",
			    i, r1.status, r1.error);
		}
		HBT_CHECK(d.conns == 3, "one connection each (%d)", d.conns);
		evconnlistener_free(d.lis);
		for (size_t i = 0; i < 8; i++) {
			struct dropper_conn *dc = NULL;

			if (d.open[i] == NULL)
				continue;
			bufferevent_getcb(d.open[i], NULL, NULL, NULL, (void **)&dc);
			dropper_close(dc);
		}
	}

	/* a connect that fails at once (port 0): an error, once, no crash */
	memset(&r1, 0, sizeof(r1));
	snprintf(url, sizeof(url), "http://127.0.0.1:0/");
	HBT_CHECK(hb_http_request(c, &req, on_done, &r1) != NULL, "started");
	run_until(base, &r1.done, 5000);
	HBT_CHECK(r1.done && r1.status == 0 && r1.curl_code != 0, "port 0: %d %s",
	    r1.curl_code, r1.error);

	/* an IPv6 literal, where the machine has IPv6 on loopback */
	{
		struct evhttp *h6 = evhttp_new(base);
		int p6 = hbt_free_port();

		if (evhttp_bind_socket(h6, "::1", (ev_uint16_t)p6) == 0) {
			evhttp_set_gencb(h6, on_request, &srv);
			memset(&r1, 0, sizeof(r1));
			snprintf(url, sizeof(url), "http://[::1]:%d/", p6);
			hb_http_request(c, &req, on_done, &r1);
			run_until(base, &r1.done, 5000);
			HBT_CHECK(r1.status == 200 && strcmp(r1.body, "hello") == 0,
			    "IPv6 literal: %ld %s", r1.status, r1.error);
		} else
			hbt_log("no IPv6 on loopback: the [::1] case is skipped");
		evhttp_free(h6);
	}

	request_tests(base, c, &srv);
	cancel_tests(base, c, &srv);
	tls_tests(base, c);

	/* freeing the client with a request in flight calls nothing */
	memset(&r1, 0, sizeof(r1));
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/hang", srv.port);
	hb_http_request(c, &req, on_done, &r1);
	event_base_loop(base, EVLOOP_NONBLOCK);
	hb_http_client_free(c);
	HBT_CHECK(!r1.done, "no callback after free");
	evhttp_free(srv.http);
	event_base_free(base);
	hbt_exit();
}
