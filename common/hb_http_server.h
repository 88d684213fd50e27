/*
 * hb_http_server: the small evhttp server every service runs on http.bind
 * (or <service>.http_bind): GET /health (JSON, 200 when healthy, 503 when
 * not) and GET /metrics (Prometheus text), plus any route a service adds (the
 * health status page). Bounded so that clients cannot take what the service's
 * data path needs: 8 KiB of headers, at most min(64, RLIMIT_NOFILE / 4)
 * connections (the least recently active closed for a new one), 10 s for a
 * whole request from the accept or the last answer, and a listener that
 * pauses when accept() fails instead of retrying at once.
 */
#ifndef HB_HTTP_SERVER_H
#define HB_HTTP_SERVER_H

#include <event2/event.h>
#include <event2/http.h>
#include <jansson.h>
#include <stdbool.h>

#include "hb_metrics.h"

struct hb_http_server;

/*
 * Fills `out` (an object) with the service's health details and returns true
 * when the service is healthy (200) or false (503).
 */
typedef bool (*hb_health_fn)(void *arg, json_t *out);
/* Called before /metrics is rendered, to refresh gauges. */
typedef void (*hb_refresh_fn)(void *arg);
typedef void (*hb_route_fn)(struct evhttp_request *req, void *arg);

/*
 * Binds addr:port (port 0: any free port, see hb_http_server_port).
 * Returns NULL with a message in err if the address cannot be bound.
 * The metrics registry is borrowed; the server registers its http_* series
 * in it. Routes are called on the loop thread and must answer before they
 * return (the connection's deadline is renewed as a request is handed over).
 */
struct hb_http_server *hb_http_server_new(struct event_base *base,
    const char *addr, int port, struct hb_metrics *metrics, char *err,
    size_t errlen);
void hb_http_server_free(struct hb_http_server *srv);
int hb_http_server_port(const struct hb_http_server *srv);

void hb_http_server_set_health(struct hb_http_server *srv, hb_health_fn fn,
    void *arg);
void hb_http_server_set_refresh(struct hb_http_server *srv, hb_refresh_fn fn,
    void *arg);
/* Adds a GET route for an exact path. */
void hb_http_server_route(struct hb_http_server *srv, const char *path,
    hb_route_fn fn, void *arg);

/* Sends a complete response with the given status and content type. */
void hb_http_reply(struct evhttp_request *req, int code, const char *ctype,
    const char *body, size_t len);

#endif
