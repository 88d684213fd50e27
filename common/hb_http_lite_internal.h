/*
 * hb_http_lite_internal: what the files of hb_http_lite share (the client,
 * its connections and transfers). Not for services: their contract is
 * hb_http_client.h.
 */
#ifndef HB_HTTP_LITE_INTERNAL_H
#define HB_HTTP_LITE_INTERNAL_H

#include "hb_http_client.h"

#include <event2/event.h>
#include <event2/http.h>
#include <openssl/ssl.h>
#include <stdbool.h>
#include <stdint.h>
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
	long uses;			/* requests sent on it */
	bool busy;
	bool dead;	/* closed or failed: freed, never reused */
};

struct hb_http_xfer {
	TAILQ_ENTRY(hb_http_xfer) entry;
	struct hb_http_client *client;
	struct conn *conn;
	struct evhttp_request *req;	/* evhttp's until it calls back */
	struct event *timer;		/* the whole-transfer timeout */
	struct event *soon;		/* an error to deliver, or a resend */
	int64_t start_us;
	long timeout_ms;
	size_t max_response;
	/* what is sent, kept for a resend */
	enum evhttp_cmd_type type;
	char host[256];			/* without IPv6 brackets */
	int port;
	bool tls;
	char *ca_file;
	char *target;			/* path?query */
	struct hb_buf headers;		/* name\0value\0 ... */
	char *body;
	size_t body_len;
	struct hb_buf resp;		/* the first max_response bytes */
	bool starting;			/* inside evhttp_make_request */
	bool resend;			/* soon: send again on a new connection */
	bool resent;
	int code;			/* a transport error, libcurl's numbers */
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

/* hb_http_lite_conn.c */
/* A connection for origin, idle or new; NULL with err. */
struct conn *lite__conn_new(struct hb_http_client *c, const char *origin,
    bool tls, const char *host, int port, const char *ca_file, char *err,
    size_t errlen);
void lite__conn_free(struct conn *k);
/* Frees the dead connections, from the loop. */
void lite__reap(struct hb_http_client *c);
void lite__on_reap(evutil_socket_t fd, short what, void *arg);
/* OpenSSL's reason for a failed handshake on k, in err; false if none. */
bool lite__tls_error(struct conn *k, char *err, size_t errlen);
void lite__tune_socket(struct conn *k);

#endif
