/*
 * checks: http, exec and disk checks.
 */
#include "checks.h"
#include "hb_proc.h"
#include "hb_util.h"

#include <curl/curl.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>

/* One check in flight (t->pending). */
struct check_ctx {
	struct target *t;
	check_done_fn done;
	void *arg;
	struct hb_http_xfer *xfer;
	struct hb_proc *proc;
};

static void
finish(struct check_ctx *c, struct check_result *r)
{
	struct target *t = c->t;

	/* slow is degraded, when the target says how slow is too slow */
	if (r->level == LEVEL_OK && t->degraded_ms > 0 && r->latency_ms >
	    (double)t->degraded_ms) {
		size_t n = strlen(r->reason);

		r->level = LEVEL_DEGRADED;
		snprintf(r->reason + n, sizeof(r->reason) - n,
		    " in %.0f ms, slower than %lld ms", r->latency_ms,
		    (long long)t->degraded_ms);
	}
	t->pending = NULL;
	c->done(t, r, c->arg);
	free(c);
}

void
hb_check_excerpt(const char *text, size_t len, bool last, char *out, size_t outlen)
{
	const char *start = text, *end = text + len, *p;
	size_t n, o = 0;

	if (outlen == 0)
		return;
	/* the line: the last non-empty one (an error usually ends the output) */
	if (last) {
		while (end > text && (end[-1] == '\n' || end[-1] == '\r' ||
		    end[-1] == ' '))
			end--;
		for (p = end; p > text && p[-1] != '\n'; p--)
			;
		start = p;
	} else {
		p = memchr(text, '\n', len);
		if (p)
			end = p;
	}
	n = (size_t)(end - start);
	if (n > outlen - 1)
		n = outlen - 1;
	/* cut at a character boundary */
	while (n > 0 && n < (size_t)(end - start) &&
	    ((unsigned char)start[n] & 0xc0) == 0x80)
		n--;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)start[i];

		out[o++] = c < 0x20 || c == 0x7f ? ' ' : (char)c;
	}
	out[o] = '\0';
	if (!hb_utf8_valid(out, o))
		for (size_t i = 0; i < o; i++)
			if ((unsigned char)out[i] >= 0x80)
				out[i] = '?';
}

/* ---- http ---- */

static void
http_done(const struct hb_http_response *resp, void *arg)
{
	struct check_ctx *c = arg;
	struct target *t = c->t;
	struct check_result r;
	bool status_ok;

	memset(&r, 0, sizeof(r));
	r.latency_ms = resp->elapsed_s * 1000.0;
	c->xfer = NULL;
	if (resp->curl_code == CURLE_OPERATION_TIMEDOUT) {
		r.level = LEVEL_FAIL;
		snprintf(r.reason, sizeof(r.reason), "no answer within %lld ms",
		    (long long)t->timeout_ms);
		r.latency_ms = -1;
	} else if (resp->curl_code != 0) {
		char why[160];

		hb_check_excerpt(resp->error ? resp->error : "error", resp->error ?
		    strlen(resp->error) : 5, false, why, sizeof(why));
		r.level = LEVEL_FAIL;
		snprintf(r.reason, sizeof(r.reason), "cannot reach it: %s", why);
		r.latency_ms = -1;
	} else {
		status_ok = t->expect_status ? resp->status == t->expect_status :
		    resp->status >= 200 && resp->status < 300;
		if (status_ok) {
			r.level = LEVEL_OK;
			snprintf(r.reason, sizeof(r.reason), "HTTP %ld", resp->status);
		} else if (t->expect_status) {
			r.level = LEVEL_FAIL;
			snprintf(r.reason, sizeof(r.reason), "HTTP %ld, expected %ld",
			    resp->status, t->expect_status);
		} else {
			r.level = LEVEL_FAIL;
			snprintf(r.reason, sizeof(r.reason), "HTTP %ld, expected 2xx",
			    resp->status);
		}
	}
	finish(c, &r);
}

static void
start_http(struct check_env *env, struct check_ctx *c)
{
	struct target *t = c->t;
	struct hb_http_request req;
	const char *headers[2] = { t->auth_header, NULL };
	struct check_result r;

	memset(&req, 0, sizeof(req));
	req.method = t->method;
	req.url = t->url;
	req.headers = t->auth_header ? headers : NULL;
	req.timeout_ms = (long)t->timeout_ms;
	req.max_response = 4096;
	c->xfer = hb_http_request(env->http, &req, http_done, c);
	if (c->xfer == NULL) {
		memset(&r, 0, sizeof(r));
		r.level = LEVEL_FAIL;
		r.latency_ms = -1;
		snprintf(r.reason, sizeof(r.reason), "cannot start the request");
		finish(c, &r);
	}
}

/* ---- exec ---- */

static void
exec_done(const struct hb_proc_result *pr, void *arg)
{
	struct check_ctx *c = arg;
	struct target *t = c->t;
	struct check_result r;
	char line[160];

	memset(&r, 0, sizeof(r));
	c->proc = NULL;
	r.latency_ms = pr->elapsed_ms;
	r.level = LEVEL_FAIL;
	hb_check_excerpt(pr->output, pr->output_len, true, line, sizeof(line));
	if (pr->timed_out) {
		snprintf(r.reason, sizeof(r.reason), "no exit within %lld ms (killed)",
		    (long long)t->timeout_ms);
		r.latency_ms = -1;
	} else if (pr->exit_code < 0) {
		snprintf(r.reason, sizeof(r.reason), "killed by signal %d (%s)",
		    pr->signal, strsignal(pr->signal));
	} else if (pr->exit_code != 0) {
		snprintf(r.reason, sizeof(r.reason), "exit %d%s%s", pr->exit_code,
		    line[0] ? ": " : "", line);
	} else if (t->expect_output && (pr->output_len == 0 ||
	    strstr(pr->output, t->expect_output) == NULL)) {
		hb_check_excerpt(pr->output, pr->output_len, false, line, sizeof(line));
		snprintf(r.reason, sizeof(r.reason), "output lacks \"%.60s\"%s%s",
		    t->expect_output, line[0] ? ": " : "", line);
	} else {
		r.level = LEVEL_OK;
		snprintf(r.reason, sizeof(r.reason), "exit 0");
	}
	finish(c, &r);
}

static void
start_exec(struct check_env *env, struct check_ctx *c)
{
	struct target *t = c->t;
	struct hb_proc_opts o;
	struct check_result r;
	char err[200];

	memset(&o, 0, sizeof(o));
	o.argv = (const char *const *)t->argv;
	o.timeout_ms = t->timeout_ms;
	o.kill_grace_ms = 0;	/* a health check gets no grace */
	o.max_output = 4096;
	c->proc = hb_proc_start(env->base, &o, exec_done, NULL, c, err, sizeof(err));
	if (c->proc == NULL) {
		memset(&r, 0, sizeof(r));
		r.level = LEVEL_FAIL;
		r.latency_ms = -1;
		snprintf(r.reason, sizeof(r.reason), "%s", err);
		finish(c, &r);
	}
}

/* ---- disk ---- */

static void
format_mb(double mb, char *out, size_t outlen)
{
	if (mb >= 1024.0)
		snprintf(out, outlen, "%.1f GB", mb / 1024.0);
	else
		snprintf(out, outlen, "%.0f MB", mb);
}

static void
run_disk(struct check_ctx *c)
{
	struct target *t = c->t;
	struct check_result r;
	struct statvfs sv;
	int64_t start = hb_mono_us();
	double free_mb, total_mb;
	char have[32], limit[32];

	memset(&r, 0, sizeof(r));
	if (statvfs(t->path, &sv) != 0) {
		r.level = LEVEL_FAIL;
		r.latency_ms = -1;
		snprintf(r.reason, sizeof(r.reason), "cannot look at %s: %s", t->path,
		    strerror(errno));
		finish(c, &r);
		return;
	}
	r.latency_ms = (double)(hb_mono_us() - start) / 1000.0;
	free_mb = (double)sv.f_bavail * (double)sv.f_frsize / 1048576.0;
	total_mb = (double)sv.f_blocks * (double)sv.f_frsize / 1048576.0;
	format_mb(free_mb, have, sizeof(have));
	if (free_mb < (double)t->min_free_mb) {
		r.level = LEVEL_FAIL;
		format_mb((double)t->min_free_mb, limit, sizeof(limit));
		snprintf(r.reason, sizeof(r.reason), "%s free on %s, under %s",
		    have, t->path, limit);
	} else if (t->warn_free_mb && free_mb < (double)t->warn_free_mb) {
		r.level = LEVEL_DEGRADED;
		format_mb((double)t->warn_free_mb, limit, sizeof(limit));
		snprintf(r.reason, sizeof(r.reason), "%s free on %s, under %s",
		    have, t->path, limit);
	} else {
		r.level = LEVEL_OK;
		snprintf(r.reason, sizeof(r.reason), "%s free (%.0f %%)", have,
		    total_mb > 0 ? free_mb * 100.0 / total_mb : 0.0);
	}
	finish(c, &r);
}

/* ---- mqtt probe ---- */

int
hb_probe_encode(char *out, size_t outlen, uint64_t seq, int64_t sent_us,
    const char *name)
{
	int n = snprintf(out, outlen, "%llu %lld %s", (unsigned long long)seq,
	    (long long)sent_us, name);

	return n >= 0 && (size_t)n < outlen ? n : -1;
}

int
hb_probe_decode(const char *payload, size_t len, uint64_t *seq, int64_t *sent_us,
    char *name, size_t namelen)
{
	char num[24];
	const char *p = payload, *end = payload + len, *sp;
	long long v;

	for (int field = 0; field < 2; field++) {
		sp = memchr(p, ' ', (size_t)(end - p));
		if (sp == NULL || sp == p || (size_t)(sp - p) >= sizeof(num))
			return -1;
		memcpy(num, p, (size_t)(sp - p));
		num[sp - p] = '\0';
		if (hb_parse_ll(num, 0, INT64_MAX, &v) != 0)
			return -1;
		if (field == 0)
			*seq = (uint64_t)v;
		else
			*sent_us = (int64_t)v;
		p = sp + 1;
	}
	if (p >= end || (size_t)(end - p) >= namelen || memchr(p, '\0',
	    (size_t)(end - p)) != NULL)
		return -1;
	memcpy(name, p, (size_t)(end - p));
	name[end - p] = '\0';
	return 0;
}

void
hb_check_start(struct check_env *env, struct target *t, check_done_fn done,
    void *arg)
{
	struct check_ctx *c = hb_xcalloc(1, sizeof(*c));

	c->t = t;
	c->done = done;
	c->arg = arg;
	t->pending = c;
	switch (t->type) {
	case TT_HTTP:
		start_http(env, c);
		break;
	case TT_EXEC:
		start_exec(env, c);
		break;
	case TT_DISK:
		run_disk(c);
		break;
	case TT_MQTT:
	case TT_SERVICE:
		t->pending = NULL;
		free(c);	/* checked by health.c itself */
		break;
	}
}

void
hb_check_cancel(struct target *t)
{
	struct check_ctx *c = t->pending;

	if (c == NULL)
		return;
	if (c->xfer)
		hb_http_cancel(c->xfer);
	if (c->proc)
		hb_proc_kill(c->proc);
	t->pending = NULL;
	free(c);
}
