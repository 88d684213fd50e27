/*
 * hb_http_server: evhttp with /health, /metrics and service routes.
 */
#include "hb_http_server.h"
#include "hb_log.h"
#include "hb_util.h"

#include <event2/buffer.h>
#include <event2/keyvalq_struct.h>
#include <event2/util.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

struct hb_http_server {
	struct evhttp *http;
	struct evhttp_bound_socket *bound;
	struct hb_metrics *metrics;
	hb_health_fn health;
	void *health_arg;
	hb_refresh_fn refresh;
	void *refresh_arg;
	int port;
};

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
	hb_http_reply(req, 200, "text/plain; version=0.0.4", b.data, b.len);
	hb_buf_free(&b);
}

static void
on_other(struct evhttp_request *req, void *arg)
{
	(void)arg;
	hb_http_reply(req, 404, "text/plain", "not found\n", 10);
}

struct hb_http_server *
hb_http_server_new(struct event_base *base, const char *addr, int port,
    struct hb_metrics *metrics, char *err, size_t errlen)
{
	struct hb_http_server *srv = hb_xcalloc(1, sizeof(*srv));
	struct sockaddr_storage ss;
	ev_socklen_t sslen = sizeof(ss);
	evutil_socket_t fd;

	srv->metrics = metrics;
	srv->http = evhttp_new(base);
	if (srv->http == NULL) {
		snprintf(err, errlen, "http: cannot create the HTTP server");
		goto err;
	}
	evhttp_set_timeout(srv->http, 30);
	evhttp_set_max_body_size(srv->http, 64 << 10);
	evhttp_set_allowed_methods(srv->http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD |
	    EVHTTP_REQ_POST);
	srv->bound = evhttp_bind_socket_with_handle(srv->http, addr,
	    (ev_uint16_t)port);
	if (srv->bound == NULL) {
		snprintf(err, errlen, "http: cannot listen on %s:%d (in use, or not "
		    "an address of this machine); set http.bind or the service's "
		    "http_port", addr, port);
		goto err;
	}
	fd = evhttp_bound_socket_get_fd(srv->bound);
	if (getsockname(fd, (struct sockaddr *)&ss, &sslen) == 0) {
		if (ss.ss_family == AF_INET)
			srv->port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
		else if (ss.ss_family == AF_INET6)
			srv->port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	}
	evhttp_set_cb(srv->http, "/health", on_health, srv);
	evhttp_set_cb(srv->http, "/metrics", on_metrics, srv);
	evhttp_set_gencb(srv->http, on_other, srv);
	return srv;
err:
	hb_http_server_free(srv);
	return NULL;
}

void
hb_http_server_free(struct hb_http_server *srv)
{
	if (srv == NULL)
		return;
	if (srv->http)
		evhttp_free(srv->http);
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
	evhttp_set_cb(srv->http, path, fn, arg);
}
