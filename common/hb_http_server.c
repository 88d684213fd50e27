/*
 * hb_http_server: evhttp with /health, /metrics and service routes, kept
 * small and bounded against clients that misbehave: a header and body
 * limit, a cap on connections (the least recently active dropped first), a
 * deadline per request that slow bytes cannot renew, and an accept that
 * pauses instead of spinning when the process is out of descriptors.
 *
 * evhttp (libevent 2.1) has no hook per accepted connection, so the server
 * accepts through its own evconnlistener (for the error callback) and learns
 * of each connection through evhttp_set_bevcb: it makes the connection's
 * bufferevent itself, and finds the evhttp_connection evhttp wraps around it
 * as that bufferevent's callback argument, right after evhttp built it.
 */
#include "hb_http_server.h"
#include "hb_log.h"
#include "hb_util.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>
#include <event2/util.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/resource.h>
#include <sys/socket.h>

/* Request line and headers together; a body (nothing here takes one). */
#define MAX_HEADERS_BYTES (8 << 10)
#define MAX_BODY_BYTES (8 << 10)
/* Connections at most, and never more than a quarter of RLIMIT_NOFILE:
 * what the HTTP side holds, the bus, InfluxDB and the spool cannot. */
#define MAX_CONNECTIONS 64
#define MIN_CONNECTIONS 4
/* A request must be whole within this from the accept or from the answer
 * before it; bytes that trickle in do not move it. Also the idle limit of a
 * kept-alive connection. */
#define REQUEST_DEADLINE_S 10
/* Out of descriptors: accept again after this (after dropping a connection
 * of ours to make room), or after the longer pause when there was none. */
#define ACCEPT_PAUSE_MS 100
#define ACCEPT_PAUSE_EMPTY_MS 1000
#define WARN_EVERY_MS 10000

struct http_conn {
	TAILQ_ENTRY(http_conn) link;	/* least recently active first */
	struct hb_http_server *srv;
	struct bufferevent *bev;	/* made by us, owned by evhttp */
	struct evhttp_connection *evcon;	/* NULL until settled */
	struct event *deadline;
};

TAILQ_HEAD(http_conns, http_conn);

/* A handler with what it needs to renew its connection first. */
struct http_route {
	struct hb_http_server *srv;
	hb_route_fn fn;
	void *arg;
	struct http_route *next;
};

struct hb_http_server {
	struct event_base *base;
	struct evhttp *http;
	struct evconnlistener *listener;	/* owned by evhttp once bound */
	struct hb_metrics *metrics;
	hb_health_fn health;
	void *health_arg;
	hb_refresh_fn refresh;
	void *refresh_arg;
	int port;
	struct http_conns conns;
	size_t nconns, max_conns;
	struct event *settle;		/* finds the evcon of new connections */
	struct event *resume;		/* re-enables the listener after a pause */
	struct http_route *routes;
	int64_t last_warn_ms;
	struct hb_gauge *m_conns, *m_limit;
	struct hb_counter *m_dropped_limit, *m_dropped_deadline,
	    *m_dropped_fds, *m_accept_errors;
	struct hb_http_server *next;	/* in `servers` */
};

/*
 * The servers of this process, by listener: the listener's error callback
 * is given evhttp's argument (the evhttp), not ours. Touched on the loop
 * thread only, at creation, at free and after a failed accept.
 */
static struct hb_http_server *servers;

static struct hb_http_server *
server_of(const struct evconnlistener *lev)
{
	for (struct hb_http_server *srv = servers; srv; srv = srv->next)
		if (srv->listener == lev)
			return srv;
	return NULL;
}

/* ---- replies ---- */

void
hb_http_reply(struct evhttp_request *req, int code, const char *ctype,
    const char *body, size_t len)
{
	struct evbuffer *buf = evbuffer_new();
	const char *reason;

	switch (code) {
	case 200: reason = "OK"; break;
	case 404: reason = "Not Found"; break;
	case 405: reason = "Method Not Allowed"; break;
	case 503: reason = "Service Unavailable"; break;
	default: reason = "Status";
	}
	evbuffer_add(buf, body, len);
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
	    ctype);
	evhttp_add_header(evhttp_request_get_output_headers(req), "Cache-Control",
	    "no-store");
	evhttp_send_reply(req, code, reason, buf);
	evbuffer_free(buf);
}

static bool
only_get(struct evhttp_request *req)
{
	enum evhttp_cmd_type cmd = evhttp_request_get_command(req);

	if (cmd == EVHTTP_REQ_GET || cmd == EVHTTP_REQ_HEAD)
		return true;
	hb_http_reply(req, 405, "text/plain", "method not allowed\n", 19);
	return false;
}

static void
on_health(struct evhttp_request *req, void *arg)
{
	struct hb_http_server *srv = arg;
	json_t *out;
	bool ok = true;
	char *text;

	if (!only_get(req))
		return;
	out = json_object();
	if (srv->health)
		ok = srv->health(srv->health_arg, out);
	if (json_object_get(out, "status") == NULL)
		json_object_set_new(out, "status", json_string(ok ? "ok" : "down"));
	text = json_dumps(out, JSON_COMPACT);
	hb_http_reply(req, ok ? 200 : 503, "application/json", text, strlen(text));
	free(text);
	json_decref(out);
}

static void
on_metrics(struct evhttp_request *req, void *arg)
{
	struct hb_http_server *srv = arg;
	struct hb_buf b = { 0 };

	if (!only_get(req))
		return;
	if (srv->refresh)
		srv->refresh(srv->refresh_arg);
	hb_metrics_render(srv->metrics, &b);
	/* the exposition format's own type, as Prometheus negotiates it */
	hb_http_reply(req, 200, "text/plain; version=0.0.4; charset=utf-8",
	    b.data, b.len);
	hb_buf_free(&b);
}

static void
on_other(struct evhttp_request *req, void *arg)
{
	(void)arg;
	hb_http_reply(req, 404, "text/plain", "not found\n", 10);
}

/* ---- connections ---- */

static void
conn_forget(struct http_conn *c)
{
	struct hb_http_server *srv = c->srv;

	TAILQ_REMOVE(&srv->conns, c, link);
	srv->nconns--;
	hb_gauge_set(srv->m_conns, (double)srv->nconns);
	event_free(c->deadline);
	free(c);
}

/* evhttp is done with a connection: the peer closed, a timeout, an error. */
static void
on_conn_closed(struct evhttp_connection *evcon, void *arg)
{
	(void)evcon;
	conn_forget(arg);
}

/*
 * Gives the connections accepted since the last call their evhttp
 * connection: evhttp passes it as the argument of every callback it sets on
 * the bufferevent, and has set them before control leaves its accept. A
 * bufferevent without one is one evhttp gave up on (an allocation failed)
 * and freed: bufferevent_free clears the callbacks at once and frees the
 * memory only from a later callback of the loop, after the settle event
 * that on_accept queues — so that this look comes before it.
 */
static void
settle_conns(struct hb_http_server *srv)
{
	struct http_conn *c, *next;

	for (c = TAILQ_FIRST(&srv->conns); c != NULL; c = next) {
		void *cbarg = NULL;

		next = TAILQ_NEXT(c, link);
		if (c->evcon != NULL)
			continue;
		bufferevent_getcb(c->bev, NULL, NULL, NULL, &cbarg);
		if (cbarg == NULL ||
		    evhttp_connection_get_bufferevent(cbarg) != c->bev) {
			conn_forget(c);
			continue;
		}
		c->evcon = cbarg;
		evhttp_connection_set_closecb(c->evcon, on_conn_closed, c);
	}
}

static void
on_settle(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	settle_conns(arg);
}

/* Closes a connection now, whatever it is doing. */
static void
conn_drop(struct http_conn *c, struct hb_counter *why)
{
	struct evhttp_connection *evcon = c->evcon;

	hb_counter_add(why, 1);
	evhttp_connection_set_closecb(evcon, NULL, NULL);
	conn_forget(c);
	evhttp_connection_free(evcon);
}

/*
 * The connection to give up for a new one: the least recently active that
 * is not sending an answer, else the least recently active. NULL if none
 * can be dropped yet.
 */
static struct http_conn *
conn_victim(struct hb_http_server *srv)
{
	struct http_conn *c, *first = NULL;

	settle_conns(srv);
	TAILQ_FOREACH(c, &srv->conns, link) {
		if (c->evcon == NULL)
			continue;
		if (evbuffer_get_length(bufferevent_get_output(c->bev)) == 0)
			return c;
		if (first == NULL)
			first = c;
	}
	return first;
}

static void
conn_arm_deadline(struct http_conn *c)
{
	hb_timer_add_ms(c->deadline, REQUEST_DEADLINE_S * 1000);
}

/* A request took longer than the deadline, or a kept connection idled. */
static void
on_deadline(evutil_socket_t fd, short what, void *arg)
{
	struct http_conn *c = arg;

	(void)fd;
	(void)what;
	/* settled long ago: the settle event ran in the accept's loop turn */
	if (c->evcon != NULL)
		conn_drop(c, c->srv->m_dropped_deadline);
}

/*
 * evhttp's bufferevent factory, called once per accepted connection before
 * evhttp wraps it: where the cap is kept and the deadline starts.
 */
static struct bufferevent *
on_accept(struct event_base *base, void *arg)
{
	struct hb_http_server *srv = arg;
	struct http_conn *c, *victim;

	if (srv->nconns >= srv->max_conns &&
	    (victim = conn_victim(srv)) != NULL)
		conn_drop(victim, srv->m_dropped_limit);
	c = hb_xcalloc(1, sizeof(*c));
	c->srv = srv;
	/* Without BEV_OPT_CLOSE_ON_FREE evhttp closes the socket as it frees
	 * the connection, not later from the bufferevent's finalizer: a burst
	 * of accepts that each drop one then does not run out of descriptors. */
	c->bev = bufferevent_socket_new(base, -1, 0);
	if (c->bev == NULL) {
		free(c);
		return NULL;	/* evhttp makes its own */
	}
	c->deadline = evtimer_new(base, on_deadline, c);
	conn_arm_deadline(c);
	TAILQ_INSERT_TAIL(&srv->conns, c, link);
	srv->nconns++;
	hb_gauge_set(srv->m_conns, (double)srv->nconns);
	event_active(srv->settle, EV_TIMEOUT, 1);
	return c->bev;
}

/* A whole request arrived: its connection is the most recently active. */
static void
conn_renew(struct hb_http_server *srv, struct evhttp_request *req)
{
	struct evhttp_connection *evcon = evhttp_request_get_connection(req);
	struct http_conn *c;

	settle_conns(srv);
	TAILQ_FOREACH(c, &srv->conns, link)
		if (c->evcon == evcon && evcon != NULL) {
			TAILQ_REMOVE(&srv->conns, c, link);
			TAILQ_INSERT_TAIL(&srv->conns, c, link);
			conn_arm_deadline(c);
			return;
		}
}

static void
on_request(struct evhttp_request *req, void *arg)
{
	struct http_route *r = arg;

	conn_renew(r->srv, req);
	r->fn(req, r->arg);
}

static struct http_route *
route_new(struct hb_http_server *srv, hb_route_fn fn, void *arg)
{
	struct http_route *r = hb_xcalloc(1, sizeof(*r));

	r->srv = srv;
	r->fn = fn;
	r->arg = arg;
	r->next = srv->routes;
	srv->routes = r;
	return r;
}

/* ---- accepting ---- */

static void
on_resume(evutil_socket_t fd, short what, void *arg)
{
	struct hb_http_server *srv = arg;

	(void)fd;
	(void)what;
	evconnlistener_enable(srv->listener);
}

/*
 * accept() failed for a reason other than a retry (EMFILE, ENFILE, ENOBUFS):
 * libevent would call it again at once, for as long as the cause lasts.
 * Pause instead, and give back one of our own descriptors if we hold any.
 */
static void
on_accept_error(struct evconnlistener *lev, void *arg)
{
	int err = EVUTIL_SOCKET_ERROR();
	struct hb_http_server *srv = server_of(lev);
	struct http_conn *victim;
	int64_t now = hb_mono_ms();
	int pause_ms;

	(void)arg;	/* evhttp's, see `servers` */
	evconnlistener_disable(lev);
	if (srv == NULL)
		return;		/* not ours: cannot happen */
	victim = conn_victim(srv);
	pause_ms = victim ? ACCEPT_PAUSE_MS : ACCEPT_PAUSE_EMPTY_MS;
	hb_counter_add(srv->m_accept_errors, 1);
	if (victim)
		conn_drop(victim, srv->m_dropped_fds);
	hb_timer_add_ms(srv->resume, pause_ms);
	if (srv->last_warn_ms == 0 || now - srv->last_warn_ms >= WARN_EVERY_MS) {
		srv->last_warn_ms = now;
		hb_warn("http: accept failed (%s): new connections paused for %d ms%s",
		    evutil_socket_error_to_string(err), pause_ms,
		    err == EMFILE || err == ENFILE ? "; out of file descriptors "
		    "(raise the limit, ulimit -n / LimitNOFILE)" : "");
	}
}

/* Binds addr:port through getaddrinfo, as evhttp_bind_socket would. */
static struct evconnlistener *
listen_on(struct event_base *base, const char *addr, int port)
{
	struct evutil_addrinfo hints, *ai = NULL;
	struct evconnlistener *lev;
	char service[16];

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = EVUTIL_AI_PASSIVE;
	snprintf(service, sizeof(service), "%d", port);
	if (evutil_getaddrinfo(addr, service, &hints, &ai) != 0 || ai == NULL)
		return NULL;
	/* No callback yet: evhttp_bind_listener sets its own. */
	lev = evconnlistener_new_bind(base, NULL, NULL, LEV_OPT_CLOSE_ON_FREE |
	    LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_EXEC | LEV_OPT_DISABLED, 128,
	    ai->ai_addr, (int)ai->ai_addrlen);
	evutil_freeaddrinfo(ai);
	return lev;
}

static size_t
connection_cap(void)
{
	struct rlimit rl;
	rlim_t quarter;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY)
		return MAX_CONNECTIONS;
	quarter = rl.rlim_cur / 4;
	if (quarter < MIN_CONNECTIONS)
		return MIN_CONNECTIONS;
	return quarter < MAX_CONNECTIONS ? (size_t)quarter : MAX_CONNECTIONS;
}

static void
register_metrics(struct hb_http_server *srv)
{
	static const char *const help = "HTTP connections closed by the "
	    "server: limit (the connection cap), deadline (no whole request within "
	    "10 s of the accept or of the last answer), no_fds (accept out of "
	    "descriptors)";

	srv->m_conns = hb_metrics_gauge(srv->metrics, "http_connections",
	    "HTTP connections open", NULL);
	srv->m_limit = hb_metrics_gauge(srv->metrics, "http_connections_max",
	    "HTTP connections kept at most", NULL);
	srv->m_dropped_limit = hb_metrics_counter(srv->metrics,
	    "http_connections_dropped_total", help, "reason=\"limit\"");
	srv->m_dropped_deadline = hb_metrics_counter(srv->metrics,
	    "http_connections_dropped_total", help, "reason=\"deadline\"");
	srv->m_dropped_fds = hb_metrics_counter(srv->metrics,
	    "http_connections_dropped_total", help, "reason=\"no_fds\"");
	srv->m_accept_errors = hb_metrics_counter(srv->metrics,
	    "http_accept_errors_total", "accept() failures (the listener "
	    "pauses after each)", NULL);
	hb_gauge_set(srv->m_limit, (double)srv->max_conns);
}

struct hb_http_server *
hb_http_server_new(struct event_base *base, const char *addr, int port,
    struct hb_metrics *metrics, char *err, size_t errlen)
{
	struct hb_http_server *srv = hb_xcalloc(1, sizeof(*srv));
	struct evhttp_bound_socket *bound;
	struct sockaddr_storage ss;
	ev_socklen_t sslen = sizeof(ss);
	evutil_socket_t fd;

	srv->base = base;
	srv->metrics = metrics;
	TAILQ_INIT(&srv->conns);
	srv->max_conns = connection_cap();
	register_metrics(srv);
	srv->settle = event_new(base, -1, 0, on_settle, srv);
	srv->resume = evtimer_new(base, on_resume, srv);
	srv->http = evhttp_new(base);
	if (srv->http == NULL || srv->settle == NULL || srv->resume == NULL) {
		snprintf(err, errlen, "http: cannot create the HTTP server");
		goto err;
	}
	/* evhttp's own timeout is renewed by every byte: the deadline per
	 * request above is what holds against a trickle. */
	evhttp_set_timeout(srv->http, REQUEST_DEADLINE_S);
	evhttp_set_max_headers_size(srv->http, MAX_HEADERS_BYTES);
	evhttp_set_max_body_size(srv->http, MAX_BODY_BYTES);
	evhttp_set_allowed_methods(srv->http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD |
	    EVHTTP_REQ_POST);
	evhttp_set_bevcb(srv->http, on_accept, srv);
	srv->listener = listen_on(base, addr, port);
	if (srv->listener == NULL) {
		snprintf(err, errlen, "http: cannot listen on %s:%d (in use, or not "
		    "an address of this machine); set http.bind, the service's "
		    "http_bind or its http_port", addr, port);
		goto err;
	}
	bound = evhttp_bind_listener(srv->http, srv->listener);
	if (bound == NULL) {
		evconnlistener_free(srv->listener);
		srv->listener = NULL;
		snprintf(err, errlen, "http: cannot serve on %s:%d", addr, port);
		goto err;
	}
	srv->next = servers;
	servers = srv;
	evconnlistener_set_error_cb(srv->listener, on_accept_error);
	evconnlistener_enable(srv->listener);
	fd = evconnlistener_get_fd(srv->listener);
	if (getsockname(fd, (struct sockaddr *)&ss, &sslen) == 0) {
		if (ss.ss_family == AF_INET)
			srv->port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
		else if (ss.ss_family == AF_INET6)
			srv->port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	}
	evhttp_set_cb(srv->http, "/health", on_request,
	    route_new(srv, on_health, srv));
	evhttp_set_cb(srv->http, "/metrics", on_request,
	    route_new(srv, on_metrics, srv));
	evhttp_set_gencb(srv->http, on_request, route_new(srv, on_other, srv));
	return srv;
err:
	hb_http_server_free(srv);
	return NULL;
}

void
hb_http_server_free(struct hb_http_server *srv)
{
	struct http_conn *c;

	if (srv == NULL)
		return;
	for (struct hb_http_server **p = &servers; *p; p = &(*p)->next)
		if (*p == srv) {
			*p = srv->next;
			break;
		}
	/* evhttp_free closes every connection (each close callback forgets
	 * its record) and frees the listener it was given. */
	if (srv->http)
		evhttp_free(srv->http);
	while ((c = TAILQ_FIRST(&srv->conns)) != NULL)
		conn_forget(c);		/* never settled; evhttp freed its bev */
	while (srv->routes) {
		struct http_route *next = srv->routes->next;

		free(srv->routes);
		srv->routes = next;
	}
	if (srv->settle)
		event_free(srv->settle);
	if (srv->resume)
		event_free(srv->resume);
	free(srv);
}

int
hb_http_server_port(const struct hb_http_server *srv)
{
	return srv->port;
}

void
hb_http_server_set_health(struct hb_http_server *srv, hb_health_fn fn,
    void *arg)
{
	srv->health = fn;
	srv->health_arg = arg;
}

void
hb_http_server_set_refresh(struct hb_http_server *srv, hb_refresh_fn fn,
    void *arg)
{
	srv->refresh = fn;
	srv->refresh_arg = arg;
}

void
hb_http_server_route(struct hb_http_server *srv, const char *path,
    hb_route_fn fn, void *arg)
{
	evhttp_set_cb(srv->http, path, on_request, route_new(srv, fn, arg));
}
