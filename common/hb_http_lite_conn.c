/*
 * hb_http_lite_conn: the connections of hb_http_lite — made per origin
 * (HTTPS through libevent's OpenSSL bufferevent, the certificate and the
 * host name verified), kept alive, and freed from the loop once evhttp is
 * done with them (see hb_http_lite.c's header on what evhttp does).
 */
#include "hb_http_lite_internal.h"
#include "hb_log.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/dns.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <string.h>

void
lite__conn_free(struct conn *k)
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
void
lite__on_reap(evutil_socket_t fd, short what, void *arg)
{
	struct hb_http_client *c = arg;
	struct conn *k, *next;

	(void)fd;
	(void)what;
	for (k = TAILQ_FIRST(&c->conns); k; k = next) {
		next = TAILQ_NEXT(k, entry);
		if (k->dead && !k->busy)
			lite__conn_free(k);
	}
}

void
lite__reap(struct hb_http_client *c)
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

struct conn *
lite__conn_new(struct hb_http_client *c, const char *origin, bool tls, const char *host,
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
	snprintf(k->origin, sizeof(k->origin), "%s", origin);
	evhttp_connection_set_closecb(evcon, on_close, k);
	TAILQ_INSERT_TAIL(&c->conns, k, entry);
	c->nconns++;
	return k;
}

/*
 * The most telling of the TLS errors the connection recorded ("certificate
 * verify failed" rather than the bare system error that follows it), as
 * text in err; false if there was none.
 */
bool
lite__tls_error(struct conn *k, char *err, size_t errlen)
{
	unsigned long e, best = 0;
	char buf[200];

	if (k == NULL || k->bev == NULL)
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

/*
 * A request leaves in more than one segment when it is large; with Nagle's
 * algorithm the second waits for the server's delayed ACK (40 ms). evhttp
 * makes its socket when it connects (after an asynchronous DNS answer for
 * a name), and again when it reconnects: set on every request.
 */
void
lite__tune_socket(struct conn *k)
{
	struct bufferevent *bev = evhttp_connection_get_bufferevent(k->evcon);
	evutil_socket_t fd = bufferevent_getfd(bev);
	int one = 1;

	if (fd >= 0)
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	/* libevent writes 16 KB per loop turn by default; a batch of 5,000
	 * points is 200 KB. Let the kernel take what it can at once. */
	bufferevent_set_max_single_write(bev, 1 << 20);
}
