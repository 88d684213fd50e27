/*
 * influx: InfluxDB's options, its write and ping requests, and the answer
 * handed back read (influx_answer.c).
 */
#include "influx.h"
#include "hb_log.h"
#include "hb_util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <unistd.h>

/* A request in flight; freed when it completes or with the client. */
struct call {
	TAILQ_ENTRY(call) entry;
	struct influx *ix;
	influx_done_fn done;
	void *arg;
};

struct influx {
	TAILQ_HEAD(, call) calls;
	struct hb_http_client *http;
	struct influx_config cfg;
	char *write_url;
	char *ping_url;
	char *create_url;	/* v1: /query?q=CREATE DATABASE ... */
	char *create_q;		/* the statement */
	char *display_url;
	char *auth_header;	/* v2 "Authorization: Token ..." */
	char *userpwd;		/* v1 basic auth */
};

static void call_free(struct call *c);

static char *
dup_or_null(const char *s)
{
	return s && *s ? hb_xstrdup(s) : NULL;
}

static bool
is_loopback_url(const char *url)
{
	const char *host = strstr(url, "://");

	if (host == NULL)
		return false;
	host += 3;
	if (strchr(host, '@'))
		host = strchr(host, '@') + 1;
	return strncmp(host, "127.", 4) == 0 || strncmp(host, "localhost", 9) == 0 ||
	    strncmp(host, "[::1]", 5) == 0;
}

/*
 * An InfluxQL duration InfluxDB takes for a retention policy: at least an
 * hour, so whole hours, days or weeks ("730d", "1w2d"), or INF.
 */
static bool
retention_ok(const char *s)
{
	if (strcmp(s, "INF") == 0)
		return true;
	if (*s == '\0' || strlen(s) > 32)
		return false;
	while (*s) {
		const char *digits = s;

		while (*s >= '0' && *s <= '9')
			s++;
		if (s == digits || !strchr("hdw", *s) || *s == '\0')
			return false;
		s++;
	}
	return true;
}

void
influx_config_read(struct influx_config *ic, struct hb_config *cfg)
{
	static const char *const apis[] = { "v1", "v2", NULL };
	static const char *const precisions[] = { "ns", "us", "ms", "s", NULL };
	const char *url;
	int p;

	memset(ic, 0, sizeof(*ic));
	url = hb_cfg_str(cfg, "writer.influx.url", "http://127.0.0.1:8086");
	if (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0)
		hb_cfg_error(cfg, "writer.influx.url", "\"%s\" must start with "
		    "http:// or https://", url);
	ic->url = hb_xstrdup(url);
	while (strlen(ic->url) > 8 && ic->url[strlen(ic->url) - 1] == '/')
		ic->url[strlen(ic->url) - 1] = '\0';
	ic->api = hb_cfg_enum(cfg, "writer.influx.api", apis, 0) + 1;
	ic->db = dup_or_null(hb_cfg_str(cfg, "writer.influx.db", "homebus"));
	ic->rp = dup_or_null(hb_cfg_str(cfg, "writer.influx.rp", NULL));
	ic->retention = dup_or_null(hb_cfg_str(cfg, "writer.influx.retention",
	    NULL));
	if (ic->retention && !retention_ok(ic->retention))
		hb_cfg_error(cfg, "writer.influx.retention", "\"%s\" must be a "
		    "duration of whole hours, days or weeks (\"730d\", \"52w\", "
		    "\"48h\"), \"INF\" to keep everything, or null", ic->retention);
	ic->username = dup_or_null(hb_cfg_str(cfg, "writer.influx.username", NULL));
	ic->password = hb_cfg_secret(cfg, "writer.influx.password",
	    "HOMEBUS_INFLUX_PASSWORD");
	ic->org = dup_or_null(hb_cfg_str(cfg, "writer.influx.org", NULL));
	ic->bucket = dup_or_null(hb_cfg_str(cfg, "writer.influx.bucket", NULL));
	ic->token = hb_cfg_secret(cfg, "writer.influx.token", "HOMEBUS_INFLUX_TOKEN");
	p = hb_cfg_enum(cfg, "writer.influx.precision", precisions, 0);
	snprintf(ic->precision, sizeof(ic->precision), "%s", precisions[p]);
	/* Compression pays on a network, and costs both ends CPU on loopback. */
	ic->gzip = hb_cfg_bool(cfg, "writer.influx.gzip", !is_loopback_url(ic->url));
	ic->timeout_ms = (long)hb_cfg_int(cfg, "writer.influx.timeout_ms", 10000,
	    100, 600000);
	ic->ca_file = dup_or_null(hb_cfg_str(cfg, "writer.influx.ca_file", NULL));
	if (ic->ca_file && access(ic->ca_file, R_OK) != 0)
		hb_cfg_error(cfg, "writer.influx.ca_file", "cannot read \"%s\": %s",
		    ic->ca_file, strerror(errno));
	if (ic->api == 1 && ic->db == NULL)
		hb_cfg_error(cfg, "writer.influx.db", "is required with api \"v1\"");
	if (ic->api == 2) {
		if (ic->org == NULL)
			hb_cfg_error(cfg, "writer.influx.org", "is required with api \"v2\"");
		if (ic->bucket == NULL)
			hb_cfg_error(cfg, "writer.influx.bucket",
			    "is required with api \"v2\"");
	}
}

void
influx_config_free(struct influx_config *ic)
{
	free(ic->url);
	free(ic->db);
	free(ic->rp);
	free(ic->retention);
	free(ic->username);
	free(ic->password);
	free(ic->org);
	free(ic->bucket);
	free(ic->token);
	free(ic->ca_file);
	memset(ic, 0, sizeof(*ic));
}

/* name=value on the query, the value percent-encoded (RFC 3986). */
static void
put_param(struct hb_buf *b, const char *name, const char *value)
{
	if (value == NULL)
		return;
	hb_buf_printf(b, "%c%s=", strchr(b->data, '?') ? '&' : '?', name);
	for (const unsigned char *p = (const unsigned char *)value; *p; p++) {
		if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
		    (*p >= '0' && *p <= '9') || strchr("-._~", *p))
			hb_buf_putc(b, (char)*p);
		else
			hb_buf_printf(b, "%%%02X", *p);
	}
}

/*
 * InfluxDB 1.x names microseconds "u" and reads a name it does not know
 * ("us") as nanoseconds, without an error; v2 takes "us".
 */
static const char *
v1_precision(const char *precision)
{
	return strcmp(precision, "us") == 0 ? "u" : precision;
}

/* An InfluxQL identifier in double quotes. */
static void
put_ident(struct hb_buf *b, const char *name)
{
	hb_buf_putc(b, '"');
	for (const char *p = name; *p; p++) {
		if (*p == '"' || *p == '\\')
			hb_buf_putc(b, '\\');
		hb_buf_putc(b, *p);
	}
	hb_buf_putc(b, '"');
}

/*
 * CREATE DATABASE, with the retention policy writes go to as its default:
 * writer.influx.rp if named, else homebus_<duration>.
 */
static void
build_create(struct influx *ix, const struct influx_config *ic)
{
	struct hb_buf q = { 0 }, url = { 0 };

	hb_buf_puts(&q, "CREATE DATABASE ");
	put_ident(&q, ic->db);
	if (ic->retention) {
		hb_buf_printf(&q, " WITH DURATION %s REPLICATION 1 NAME ",
		    ic->retention);
		if (ic->rp)
			put_ident(&q, ic->rp);
		else {
			struct hb_buf name = { 0 };

			hb_buf_printf(&name, "homebus_%s", ic->retention);
			put_ident(&q, name.data);
			hb_buf_free(&name);
		}
	}
	hb_buf_printf(&url, "%s/query", ic->url);
	put_param(&url, "q", q.data);
	ix->create_q = hb_buf_steal(&q);
	ix->create_url = hb_buf_steal(&url);
}

struct influx *
influx_new(struct hb_http_client *http, const struct influx_config *ic)
{
	struct influx *ix = hb_xcalloc(1, sizeof(*ix));
	struct hb_buf b = { 0 };
	const char *at, *scheme_end;

	TAILQ_INIT(&ix->calls);
	ix->http = http;
	ix->cfg = *ic;
	if (ic->api == 1) {
		hb_buf_printf(&b, "%s/write", ic->url);
		put_param(&b, "db", ic->db);
		put_param(&b, "rp", ic->rp);
		put_param(&b, "precision", v1_precision(ic->precision));
		build_create(ix, ic);
		if (ic->username) {
			struct hb_buf up = { 0 };

			hb_buf_printf(&up, "%s:%s", ic->username,
			    ic->password ? ic->password : "");
			ix->userpwd = hb_buf_steal(&up);
		}
	} else {
		hb_buf_printf(&b, "%s/api/v2/write", ic->url);
		put_param(&b, "org", ic->org);
		put_param(&b, "bucket", ic->bucket);
		put_param(&b, "precision", ic->precision);
		if (ic->token) {
			struct hb_buf h = { 0 };

			hb_buf_printf(&h, "Authorization: Token %s", ic->token);
			ix->auth_header = hb_buf_steal(&h);
		}
	}
	ix->write_url = hb_buf_steal(&b);
	hb_buf_printf(&b, "%s/%s", ic->url, ic->api == 1 ? "ping" : "health");
	ix->ping_url = hb_buf_steal(&b);
	/* Strip user:pass@ from what is shown. */
	scheme_end = strstr(ic->url, "://");
	at = strchr(ic->url, '@');
	if (scheme_end && at && at > scheme_end) {
		hb_buf_append(&b, ic->url, (size_t)(scheme_end + 3 - ic->url));
		hb_buf_puts(&b, at + 1);
		ix->display_url = hb_buf_steal(&b);
	} else
		ix->display_url = hb_xstrdup(ic->url);
	return ix;
}

void
influx_free(struct influx *ix)
{
	if (ix == NULL)
		return;
	while (!TAILQ_EMPTY(&ix->calls))
		call_free(TAILQ_FIRST(&ix->calls));
	free(ix->write_url);
	free(ix->ping_url);
	free(ix->create_url);
	free(ix->create_q);
	free(ix->display_url);
	free(ix->auth_header);
	if (ix->userpwd) {
		explicit_bzero(ix->userpwd, strlen(ix->userpwd));
		free(ix->userpwd);
	}
	free(ix);
}

const char *
influx_display_url(const struct influx *ix)
{
	return ix->display_url;
}

static struct call *
call_new(struct influx *ix, influx_done_fn done, void *arg)
{
	struct call *c = hb_xmalloc(sizeof(*c));

	c->ix = ix;
	c->done = done;
	c->arg = arg;
	TAILQ_INSERT_TAIL(&ix->calls, c, entry);
	return c;
}

static void
call_free(struct call *c)
{
	TAILQ_REMOVE(&c->ix->calls, c, entry);
	free(c);
}

static void
on_answer(const struct hb_http_response *resp, void *arg)
{
	struct call *c = arg;
	struct influx_result res;

	influx_classify(resp->status, resp->curl_code, resp->error, resp->body,
	    resp->retry_after_s, &res);
	c->done(&res, resp->elapsed_s, c->arg);
	call_free(c);
}

/*
 * Sends req with what every request to InfluxDB shares (credentials, time
 * limit, CA); on(resp, call) reads the answer for done. NULL if it could
 * not start.
 */
static struct hb_http_xfer *
request(struct influx *ix, struct hb_http_request *req, hb_http_done_fn on,
    influx_done_fn done, void *arg)
{
	struct call *c = call_new(ix, done, arg);
	struct hb_http_xfer *x;

	req->method = "POST";
	req->userpwd = ix->userpwd;
	req->timeout_ms = ix->cfg.timeout_ms;
	req->max_response = 64 * 1024;
	req->ca_file = ix->cfg.ca_file;
	x = hb_http_request(ix->http, req, on, c);
	if (x == NULL)
		call_free(c);
	return x;
}

struct hb_http_xfer *
influx_write(struct influx *ix, const char *body, size_t len,
    influx_done_fn done, void *arg)
{
	const char *headers[3] = { "Content-Type: text/plain; charset=utf-8", NULL,
	    NULL };
	struct hb_http_request req = { 0 };

	if (ix->auth_header)
		headers[1] = ix->auth_header;
	req.url = ix->write_url;
	req.headers = headers;
	req.body = body;
	req.body_len = len;
	req.gzip = ix->cfg.gzip;
	return request(ix, &req, on_answer, done, arg);
}

static void
on_created(const struct hb_http_response *resp, void *arg)
{
	struct call *c = arg;
	struct influx_result res;

	influx_classify_query(resp->status, resp->curl_code, resp->error,
	    resp->body, resp->retry_after_s, &res);
	c->done(&res, resp->elapsed_s, c->arg);
	call_free(c);
}

struct hb_http_xfer *
influx_create_db(struct influx *ix, influx_done_fn done, void *arg)
{
	struct hb_http_request req = { 0 };

	if (ix->create_url == NULL)
		return NULL;
	req.url = ix->create_url;
	return request(ix, &req, on_created, done, arg);
}

const char *
influx_create_statement(const struct influx *ix)
{
	return ix->create_q ? ix->create_q : "";
}

struct hb_http_xfer *
influx_ping(struct influx *ix, influx_done_fn done, void *arg)
{
	const char *headers[2] = { ix->auth_header, NULL };
	struct hb_http_request req = { 0 };
	struct call *c = call_new(ix, done, arg);
	struct hb_http_xfer *x;

	req.url = ix->ping_url;
	req.headers = ix->auth_header ? headers : NULL;
	req.userpwd = ix->userpwd;
	req.timeout_ms = ix->cfg.timeout_ms < 5000 ? ix->cfg.timeout_ms : 5000;
	req.ca_file = ix->cfg.ca_file;
	x = hb_http_request(ix->http, &req, on_answer, c);
	if (x == NULL)
		call_free(c);
	return x;
}
