/*
 * checks: http, exec and disk checks.
 */
#include "checks.h"
#include "hb_log.h"
#include "hb_proc.h"
#include "hb_util.h"

#include <curl/curl.h>
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One check in flight (t->pending). */
struct check_ctx {
	struct target *t;
	check_done_fn done;
	void *arg;
	struct hb_http_xfer *xfer;
	struct hb_proc *proc;
	int64_t started_us;
};

static void
finish(struct check_ctx *c, struct check_result *r)
{
	struct target *t = c->t;

	/* slow is degraded, when the target says how slow is too slow; the
	 * latency has a field of its own (a reason with it would change on
	 * every check) */
	if (r->level == LEVEL_OK && t->degraded_ms > 0 && r->latency_ms >
	    (double)t->degraded_ms) {
		size_t n = strlen(r->reason);

		r->level = LEVEL_DEGRADED;
		snprintf(r->reason + n, sizeof(r->reason) - n,
		    ", slower than %lld ms", (long long)t->degraded_ms);
	}
	t->pending = NULL;
	c->done(t, r, c->arg);
	free(c);
}

static void
fail(struct check_ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Finishes c with a failure whose reason is fmt. */
static void
fail(struct check_ctx *c, const char *fmt, ...)
{
	struct check_result r;
	va_list ap;

	memset(&r, 0, sizeof(r));
	r.level = LEVEL_FAIL;
	r.latency_ms = -1;
	va_start(ap, fmt);
	vsnprintf(r.reason, sizeof(r.reason), fmt, ap);
	va_end(ap);
	finish(c, &r);
}

void
check_excerpt(const char *text, size_t len, bool last, char *out, size_t outlen)
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

/* "host" or "host:port" of url, without user or password, for a reason. */
static void
url_host(const char *url, char *out, size_t outlen)
{
	CURLU *u = curl_url();
	char *host = NULL, *port = NULL;

	snprintf(out, outlen, "the server");
	if (u && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK) {
		if (curl_url_get(u, CURLUPART_PORT, &port, 0) != CURLUE_OK)
			port = NULL;
		snprintf(out, outlen, "%s%s%s", host, port ? ":" : "",
		    port ? port : "");
	}
	curl_free(host);
	curl_free(port);
	curl_url_cleanup(u);
}

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
		char host[160];

		/* curl's own text has figures that change on every try ("after
		 * 3012 ms", "with 17 bytes remaining"): its short text instead */
		url_host(t->url, host, sizeof(host));
		r.level = LEVEL_FAIL;
		snprintf(r.reason, sizeof(r.reason), "request to %s failed: %s", host,
		    curl_easy_strerror((CURLcode)resp->curl_code));
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

	memset(&req, 0, sizeof(req));
	req.method = t->method;
	req.url = t->url;
	req.headers = t->auth_header ? headers : NULL;
	req.timeout_ms = (long)t->timeout_ms;
	req.max_response = 4096;
	c->xfer = hb_http_request(env->http, &req, http_done, c);
	if (c->xfer == NULL)
		fail(c, "cannot start the request");
}

/* ---- child processes: exec, and disk through stat -f ---- */

/* A child that outlived SIGKILL is gone at last. */
static void
on_reaped(struct hb_proc *p, void *arg)
{
	struct target *t = arg;

	if (t->lingering == p)
		t->lingering = NULL;
}

/* Starts argv for c with the target's timeout; false when it failed
 * (err says why). */
static bool
start_child(struct check_env *env, struct check_ctx *c, const char *const *argv,
    hb_proc_done_fn done, char *err, size_t errlen)
{
	struct hb_proc_opts o;

	memset(&o, 0, sizeof(o));
	o.argv = argv;
	o.timeout_ms = c->t->timeout_ms;
	o.kill_grace_ms = 0;	/* a health check gets no grace */
	o.max_output = 4096;
	o.on_reaped = on_reaped;
	o.reaped_arg = c->t;
	c->proc = hb_proc_start(env->base, &o, done, NULL, c, err, errlen);
	return c->proc != NULL;
}

/* The reason of an exec check whose command is stuck after SIGKILL. */
static void
exec_stuck_reason(const struct target *t, char *out, size_t outlen)
{
	snprintf(out, outlen, "no exit within %lld ms, and still running after "
	    "SIGKILL (uninterruptible sleep: a hung mount or device?)",
	    (long long)t->timeout_ms);
}

/*
 * What exec and disk checks share when their child is done: the child let
 * go (or kept as lingering), a failed result with its latency, and the
 * start of its output in line.
 */
static void
proc_result_begin(struct check_ctx *c, const struct hb_proc_result *pr,
    struct check_result *r, char *line, size_t linelen)
{
	memset(r, 0, sizeof(*r));
	if (pr->lingering)
		c->t->lingering = c->proc;
	c->proc = NULL;
	r->latency_ms = pr->elapsed_ms;
	r->level = LEVEL_FAIL;
	check_excerpt(pr->output, pr->output_len, true, line, linelen);
}

static void
exec_done(const struct hb_proc_result *pr, void *arg)
{
	struct check_ctx *c = arg;
	struct target *t = c->t;
	struct check_result r;
	char line[160];

	proc_result_begin(c, pr, &r, line, sizeof(line));
	if (pr->lingering) {
		exec_stuck_reason(t, r.reason, sizeof(r.reason));
		r.latency_ms = -1;
	} else if (pr->timed_out) {
		snprintf(r.reason, sizeof(r.reason), "no exit within %lld ms (killed)",
		    (long long)t->timeout_ms);
		r.latency_ms = -1;
	} else if (pr->reason) {
		snprintf(r.reason, sizeof(r.reason), "%s", pr->reason);
	} else if (pr->exit_code < 0) {
		snprintf(r.reason, sizeof(r.reason), "killed by signal %d (%s)",
		    pr->signal, strsignal(pr->signal));
	} else if (pr->exit_code != 0) {
		snprintf(r.reason, sizeof(r.reason), "exit %d%s%s", pr->exit_code,
		    line[0] ? ": " : "", line);
	} else if (t->expect_output && (pr->output_len == 0 ||
	    strstr(pr->output, t->expect_output) == NULL)) {
		check_excerpt(pr->output, pr->output_len, false, line, sizeof(line));
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
	char err[200];

	if (c->t->lingering) {
		/* one stuck child per target is enough */
		exec_stuck_reason(c->t, err, sizeof(err));
		fail(c, "%s", err);
		return;
	}
	if (!start_child(env, c, (const char *const *)c->t->argv, exec_done, err,
	    sizeof(err)))
		fail(c, "%s", err);
}

static void
format_mb(double mb, char *out, size_t outlen)
{
	if (mb >= 1024.0)
		snprintf(out, outlen, "%.1f GB", mb / 1024.0);
	else
		snprintf(out, outlen, "%.0f MB", mb);
}

/* One reason for every way statvfs can hang, so that it stays the same. */
static void
disk_hang_reason(const struct target *t, char *out, size_t outlen)
{
	snprintf(out, outlen, "no answer from statvfs within %lld ms: %s hangs "
	    "(a dead network mount or disk?)", (long long)t->timeout_ms, t->path);
}

/* "12345 4096 99999": blocks available, block size, blocks in all. */
static bool
parse_statfs(const char *s, double *free_mb, double *total_mb)
{
	unsigned long long v[3];
	char *end;

	for (int i = 0; i < 3; i++) {
		while (*s == ' ')
			s++;
		if (*s < '0' || *s > '9')
			return false;
		errno = 0;
		v[i] = strtoull(s, &end, 10);
		if (errno != 0)
			return false;
		s = end;
	}
	while (*s == ' ' || *s == '\n')
		s++;
	if (*s != '\0' || v[1] == 0)
		return false;
	*free_mb = (double)v[0] * (double)v[1] / 1048576.0;
	*total_mb = (double)v[2] * (double)v[1] / 1048576.0;
	return true;
}

static void
disk_done(const struct hb_proc_result *pr, void *arg)
{
	struct check_ctx *c = arg;
	struct target *t = c->t;
	struct check_result r;
	char line[160], limit[32];
	const char *why;

	proc_result_begin(c, pr, &r, line, sizeof(line));
	if (pr->timed_out) {
		disk_hang_reason(t, r.reason, sizeof(r.reason));
		r.latency_ms = -1;
	} else if (pr->exit_code != 0 || pr->reason) {
		/* "stat: cannot read file system information for '/x': No such
		 * file or directory": the end is what matters */
		why = strrchr(line, ':');
		why = why && why[1] == ' ' ? why + 2 : line[0] ? line : pr->reason ?
		    pr->reason : "stat failed";
		snprintf(r.reason, sizeof(r.reason), "cannot look at %s: %s", t->path,
		    why);
		r.latency_ms = -1;
	} else if (!parse_statfs(pr->output, &r.free_mb, &r.total_mb)) {
		snprintf(r.reason, sizeof(r.reason), "cannot read what stat -f said "
		    "about %s: \"%s\"", t->path, line);
		r.free_mb = r.total_mb = 0;
		r.latency_ms = -1;
	} else if (r.free_mb < (double)t->min_free_mb) {
		format_mb((double)t->min_free_mb, limit, sizeof(limit));
		snprintf(r.reason, sizeof(r.reason), "less than %s free on %s "
		    "(min_free_mb)", limit, t->path);
	} else if (t->warn_free_mb && r.free_mb < (double)t->warn_free_mb) {
		r.level = LEVEL_DEGRADED;
		format_mb((double)t->warn_free_mb, limit, sizeof(limit));
		snprintf(r.reason, sizeof(r.reason), "less than %s free on %s "
		    "(warn_free_mb)", limit, t->path);
	} else {
		r.level = LEVEL_OK;
		format_mb((double)(t->warn_free_mb ? t->warn_free_mb :
		    t->min_free_mb), limit, sizeof(limit));
		snprintf(r.reason, sizeof(r.reason), "more than %s free on %s", limit,
		    t->path);
	}
	finish(c, &r);
}

/*
 * statvfs in a child (`stat -f`, coreutils): on a hung NFS or CIFS mount
 * or a dead USB disk it blocks, maybe for good, and it must not block the
 * loop; a child gets the check's timeout like any command.
 */
static void
start_disk(struct check_env *env, struct check_ctx *c)
{
	const char *argv[] = { "stat", "-f", "-c", "%a %S %b", "--", c->t->path,
	    NULL };
	char err[200];

	if (c->t->lingering) {
		/* the last one is still stuck: no pile of stuck children */
		disk_hang_reason(c->t, err, sizeof(err));
		fail(c, "%s", err);
		return;
	}
	if (!start_child(env, c, argv, disk_done, err, sizeof(err)))
		fail(c, "cannot look at %s: %s", c->t->path, err);
}

void
check_start(struct check_env *env, struct target *t, check_done_fn done,
    void *arg)
{
	struct check_ctx *c = hb_xcalloc(1, sizeof(*c));

	c->t = t;
	c->done = done;
	c->arg = arg;
	c->started_us = hb_mono_us();
	t->pending = c;
	switch (t->type) {
	case TT_HTTP:
		start_http(env, c);
		break;
	case TT_EXEC:
		start_exec(env, c);
		break;
	case TT_DISK:
		start_disk(env, c);
		break;
	case TT_MQTT:
	case TT_SERVICE:
	case TT_BACKUPS:
		t->pending = NULL;
		free(c);	/* checked by health.c itself */
		break;
	}
}

void
check_cancel(struct target *t)
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

bool
check_overdue(struct target *t, int64_t now_us)
{
	struct check_ctx *c = t->pending;
	int64_t limit_ms = t->timeout_ms + CHECK_OVERDUE_MS;

	if (c == NULL || now_us - c->started_us <= limit_ms * 1000)
		return false;
	hb_warn("target=%s: check still in flight %lld ms after it started; "
	    "abandoned", t->name, (long long)((now_us - c->started_us) / 1000));
	if (c->xfer) {
		hb_http_cancel(c->xfer);
		c->xfer = NULL;
	}
	if (c->proc) {
		/* not on the loop's time: reaped when it goes, if ever */
		if (t->lingering == NULL)
			t->lingering = c->proc;
		hb_proc_abandon(c->proc);
		c->proc = NULL;
	}
	fail(c, "no result within %lld ms: the check was abandoned",
	    (long long)limit_ms);
	return true;
}

void
check_release(struct target *t)
{
	check_cancel(t);
	if (t->lingering) {
		hb_proc_kill(t->lingering);
		t->lingering = NULL;
	}
}
