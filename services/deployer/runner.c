/*
 * runner: step templates, expanded and run (see runner.h).
 */
#include "runner.h"
#include "journal.h"
#include "hb_log.h"
#include "hb_proc.h"
#include "hb_util.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern char **environ;

#define MAX_OUTPUT (256 * 1024)	/* kept per step, all commands together */
#define MAX_ENV 512

struct runner {
	struct event_base *base;
	const struct deployer_config *cfg;
	struct journal *journal;
	bool dry_run;

	/* the step running */
	bool busy;
	enum step_kind kind;
	struct runner_params params;
	size_t next;			/* index of the next service for {service} */
	bool per_service;
	struct hb_proc *proc;
	struct hb_buf output;
	char argv_json[2048];
	char error[512];
	int64_t started_ms;
	int64_t started_us;
	runner_done_fn done;
	void *arg;
	struct event *ev_dry;
};

static void run_next(struct runner *r);

struct runner *
runner_new(struct event_base *base, const struct deployer_config *cfg,
    struct journal *journal, bool dry_run)
{
	struct runner *r = hb_xcalloc(1, sizeof(*r));

	r->base = base;
	r->cfg = cfg;
	r->journal = journal;
	r->dry_run = dry_run;
	return r;
}

void
runner_free(struct runner *r)
{
	if (r == NULL)
		return;
	if (r->proc) {
		hb_proc_kill(r->proc);
		journal_set_group(r->journal, NULL);
	}
	if (r->ev_dry)
		event_free(r->ev_dry);
	hb_buf_free(&r->output);
	free(r);
}

bool
runner_busy(const struct runner *r)
{
	return r->busy;
}

/* Appends what placeholder p (at the start of s) stands for; its length. */
static size_t
substitute(struct hb_buf *b, const char *s, const struct deployer_config *cfg,
    const struct runner_params *p, const char *service)
{
	static const char *const names[] = { "{tag}", "{service}", "{backup_dir}",
	    "{compose_file}", "{workdir}" };
	const char *values[] = { p->tag ? p->tag : "", service ? service : "",
	    p->backup_dir ? p->backup_dir : cfg->backup_dir, cfg->compose_file,
	    cfg->workdir };

	for (size_t i = 0; i < HB_ARRAY_LEN(names); i++)
		if (strncmp(s, names[i], strlen(names[i])) == 0) {
			hb_buf_puts(b, values[i]);
			return strlen(names[i]);
		}
	hb_buf_putc(b, *s);
	return 1;
}

int
runner_expand(const struct deployer_config *cfg, const struct step_template *t,
    const struct runner_params *p, const char *service, char **out, size_t max,
    char *err, size_t errlen)
{
	size_t n = 0;

	for (size_t i = 0; i < t->argc; i++) {
		struct hb_buf b = { 0 };

		if (strcmp(t->argv[i], "{services}") == 0) {
			for (size_t s = 0; s < p->nservices; s++) {
				if (n == max)
					goto too_many;
				out[n++] = hb_xstrdup(p->services[s]);
			}
			continue;
		}
		for (const char *s = t->argv[i]; *s; )
			s += substitute(&b, s, cfg, p, service);
		if (n == max) {
			hb_buf_free(&b);
			goto too_many;
		}
		out[n++] = b.data ? hb_buf_steal(&b) : hb_xstrdup("");
	}
	if (n == 0 || out[0][0] == '\0') {
		snprintf(err, errlen, "the command is empty");
		goto fail;
	}
	return (int)n;
too_many:
	snprintf(err, errlen, "more than %zu arguments", max);
fail:
	while (n > 0)
		free(out[--n]);
	return -1;
}

static bool
uses_service(const struct step_template *t)
{
	for (size_t i = 0; i < t->argc; i++)
		if (strstr(t->argv[i], "{service}"))
			return true;
	return false;
}

static void
free_args(char **args, int n)
{
	for (int i = 0; i < n; i++)
		free(args[i]);
}

/* environ without tag_env, then tag_env=tag; strings are borrowed but one. */
static size_t
build_env(const struct deployer_config *cfg, const char *tag, const char **env,
    size_t max, char *own, size_t ownlen)
{
	size_t n = 0, el = strlen(cfg->tag_env);

	for (char **e = environ; e && *e && n < max - 2; e++)
		if (!(strncmp(*e, cfg->tag_env, el) == 0 && (*e)[el] == '='))
			env[n++] = *e;
	snprintf(own, ownlen, "%s=%s", cfg->tag_env, tag ? tag : "");
	env[n++] = own;
	env[n] = NULL;
	return n;
}

static void
finish(struct runner *r, bool ok, int exit_code, int sig, bool timed_out)
{
	struct runner_result res;
	runner_done_fn done = r->done;

	memset(&res, 0, sizeof(res));
	res.ok = ok;
	res.exit_code = exit_code;
	res.signal = sig;
	res.timed_out = timed_out;
	res.started_ms = r->started_ms;
	res.elapsed_ms = (double)(hb_mono_us() - r->started_us) / 1000.0;
	res.error = r->error;
	res.argv_json = r->argv_json;
	res.output = r->output.data ? r->output.data : "";
	res.output_len = r->output.len;
	r->busy = false;
	r->proc = NULL;
	done(&res, r->arg);
}

static void
on_proc_exit(const struct hb_proc_result *pr, void *arg)
{
	struct runner *r = arg;
	size_t room = MAX_OUTPUT > r->output.len ? MAX_OUTPUT - r->output.len : 0;

	r->proc = NULL;
	/* hb_proc killed what the command left in its group */
	journal_set_group(r->journal, NULL);
	hb_buf_append(&r->output, pr->output, pr->output_len < room ?
	    pr->output_len : room);
	if (pr->exit_code == 0 && !pr->timed_out) {
		hb_info("step %s command exited 0 after %.0f ms", step_kind_name(r->kind),
		    pr->elapsed_ms);
		run_next(r);
		return;
	}
	if (pr->timed_out)
		snprintf(r->error, sizeof(r->error), "%s timed out after %d s and was "
		    "killed with its process group", step_kind_name(r->kind),
		    r->cfg->steps[r->kind].timeout_s);
	else if (pr->signal)
		snprintf(r->error, sizeof(r->error), "%s was killed by signal %d",
		    step_kind_name(r->kind), pr->signal);
	else if (pr->exit_code < 0)
		snprintf(r->error, sizeof(r->error), "%s: %s", step_kind_name(r->kind),
		    pr->reason ? pr->reason : "exit status unknown");
	else
		snprintf(r->error, sizeof(r->error), "%s exited %d",
		    step_kind_name(r->kind), pr->exit_code);
	hb_warn("step %s failed error=\"%s\"", step_kind_name(r->kind), r->error);
	finish(r, false, pr->exit_code, pr->signal, pr->timed_out);
}

static void
on_dry(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	run_next(arg);
}

/*
 * The command's group in the journal before it can do anything that
 * matters: a deployer killed now ends it at its next start
 * (runner_end_orphan). Its pid is our unreaped child: not reused yet.
 */
static void
record_group(struct runner *r)
{
	struct journal_group g;
	pid_t pid = hb_proc_pid(r->proc);

	memset(&g, 0, sizeof(g));
	g.pgid = pid;
	g.leader_start = hb_proc_start_time(pid);
	snprintf(g.step, sizeof(g.step), "%s", step_kind_name(r->kind));
	g.started_ms = hb_wall_ms();
	journal_set_group(r->journal, &g);
}

/* Starts one command; false (r->error set) when it cannot start. */
static bool
spawn(struct runner *r, char **args, int nargs)
{
	const struct step_template *t = &r->cfg->steps[r->kind];
	const char *env[MAX_ENV + 1];
	char own[512];
	struct hb_proc_opts o;
	json_t *a = json_array();
	char *text;

	for (int i = 0; i < nargs; i++)
		json_array_append_new(a, json_string(args[i]));
	text = json_dumps(a, JSON_COMPACT);
	snprintf(r->argv_json, sizeof(r->argv_json), "%s", text ? text : "[]");
	free(text);
	json_decref(a);
	if (r->dry_run) {
		hb_info("dry-run step=%s %s=%s cwd=%s argv=%s (not run)",
		    step_kind_name(r->kind), r->cfg->tag_env, r->params.tag,
		    r->cfg->workdir, r->argv_json);
		event_active(r->ev_dry, EV_TIMEOUT, 0);
		return true;
	}
	memset(&o, 0, sizeof(o));
	build_env(r->cfg, r->params.tag, env, HB_ARRAY_LEN(env), own, sizeof(own));
	o.argv = (const char *const *)args;
	o.env = env;
	o.cwd = r->cfg->workdir;
	o.timeout_ms = (int64_t)t->timeout_s * 1000;
	o.kill_grace_ms = (int64_t)r->cfg->kill_grace_s * 1000;
	o.max_output = MAX_OUTPUT;
	hb_info("step %s running %s=%s argv=%s", step_kind_name(r->kind),
	    r->cfg->tag_env, r->params.tag, r->argv_json);
	r->proc = hb_proc_start(r->base, &o, on_proc_exit, NULL, r, r->error,
	    sizeof(r->error));
	if (r->proc == NULL)
		return false;
	record_group(r);
	return true;
}

/* Runs the next command of the step, or finishes it. */
static void
run_next(struct runner *r)
{
	const struct step_template *t = &r->cfg->steps[r->kind];
	char *args[DEPLOYER_MAX_ARGV + HB_DEPLOY_MAX_SERVICES + 1];
	const char *service = NULL;
	int n;

	if (r->per_service) {
		if (r->next == r->params.nservices) {
			finish(r, true, 0, 0, false);
			return;
		}
		service = r->params.services[r->next++];
	} else if (r->next++ > 0) {
		finish(r, true, 0, 0, false);
		return;
	}
	n = runner_expand(r->cfg, t, &r->params, service, args,
	    HB_ARRAY_LEN(args) - 1, r->error, sizeof(r->error));
	if (n < 0) {
		finish(r, false, -1, 0, false);
		return;
	}
	args[n] = NULL;
	if (!spawn(r, args, n)) {
		hb_warn("step %s cannot start: %s", step_kind_name(r->kind), r->error);
		free_args(args, n);
		finish(r, false, -1, 0, false);
		return;
	}
	free_args(args, n);
}

int
runner_end_orphan(struct runner *r)
{
	struct journal_group g;
	int n;

	if (!journal_group(r->journal, &g))
		return 0;
	if (r->dry_run) {
		hb_info("dry-run: the process group %lld of step %s is left alone",
		    (long long)g.pgid, g.step);
		return 0;
	}
	n = hb_proc_end_group((pid_t)g.pgid, g.leader_start,
	    (int64_t)r->cfg->kill_grace_s * 1000);
	if (n > 0)
		hb_warn("step %s of the last run (process group %lld, started "
		    "%.1f s ago) was still running: ended", g.step,
		    (long long)g.pgid, (double)(hb_wall_ms() - g.started_ms) / 1000.0);
	journal_set_group(r->journal, NULL);
	return n;
}

int
runner_start(struct runner *r, enum step_kind kind, const struct runner_params *p,
    runner_done_fn done, void *arg, char *err, size_t errlen)
{
	const struct step_template *t = &r->cfg->steps[kind];

	if (r->busy || t->argc == 0) {
		snprintf(err, errlen, r->busy ? "a step is running" :
		    "no command configured for %s", step_kind_name(kind));
		return -1;
	}
	r->per_service = uses_service(t);
	if (r->per_service && p->nservices == 0) {
		snprintf(err, errlen, "deployer.steps.%s uses {service} but no service "
		    "is named (deployer.services)", step_kind_name(kind));
		return -1;
	}
	if (r->ev_dry == NULL)
		r->ev_dry = event_new(r->base, -1, 0, on_dry, r);
	r->busy = true;
	r->kind = kind;
	r->params = *p;
	r->next = 0;
	r->done = done;
	r->arg = arg;
	r->error[0] = '\0';
	r->argv_json[0] = '\0';
	hb_buf_reset(&r->output);
	r->started_ms = hb_wall_ms();
	r->started_us = hb_mono_us();
	/* from the loop, never from inside the caller */
	event_active(r->ev_dry, EV_TIMEOUT, 0);
	return 0;
}

void
runner_describe(const struct runner *r, enum step_kind kind,
    const struct runner_params *p, char *out, size_t outlen)
{
	const struct step_template *t = &r->cfg->steps[kind];
	char *args[DEPLOYER_MAX_ARGV + HB_DEPLOY_MAX_SERVICES + 1], err[128];
	struct hb_buf b = { 0 };
	int n;

	n = runner_expand(r->cfg, t, p, p->nservices ? p->services[0] : NULL, args,
	    HB_ARRAY_LEN(args) - 1, err, sizeof(err));
	hb_buf_printf(&b, "cd %s && %s=%s", r->cfg->workdir, r->cfg->tag_env,
	    p->tag ? p->tag : "");
	for (int i = 0; i < n; i++)
		hb_buf_printf(&b, " %s", args[i]);
	if (n < 0)
		hb_buf_printf(&b, " (deployer.steps.%s: %s)", step_kind_name(kind), err);
	snprintf(out, outlen, "%s", b.data);
	free_args(args, n);
	hb_buf_free(&b);
}

/* Length of the valid UTF-8 sequence at s (at most n bytes), 0 if invalid. */
static size_t
utf8_len(const unsigned char *s, size_t n)
{
	size_t len = s[0] < 0x80 ? 1 : (s[0] & 0xe0) == 0xc0 ? 2 :
	    (s[0] & 0xf0) == 0xe0 ? 3 : (s[0] & 0xf8) == 0xf0 ? 4 : 0;

	if (len == 0 || len > n)
		return 0;
	if (!hb_utf8_valid((const char *)s, len))
		return 0;
	return len;
}

void
runner_tail(const char *output, size_t len, int lines, char *dst, size_t dstlen)
{
	size_t start = len, out = 0;
	int seen = 0;

	/* a final newline does not start a line */
	while (start > 0 && (output[start - 1] == '\n' || output[start - 1] == '\r'))
		start--;
	len = start;
	while (start > 0) {
		if (output[start - 1] == '\n' && ++seen == lines)
			break;
		start--;
	}
	/* the end matters most: drop whole characters from the front to fit */
	while (len - start >= dstlen)
		start++;
	while (start < len && ((unsigned char)output[start] & 0xc0) == 0x80)
		start++;
	for (size_t i = start; i < len && out + 4 < dstlen; ) {
		unsigned char c = (unsigned char)output[i];
		size_t n = utf8_len((const unsigned char *)output + i, len - i);

		if (c == '\r') {
			i++;
			continue;
		}
		if (n == 0 || (c < 0x20 && c != '\n' && c != '\t') || c == 0x7f) {
			dst[out++] = '?';
			i += n ? n : 1;
			continue;
		}
		memcpy(dst + out, output + i, n);
		out += n;
		i += n;
	}
	dst[out] = '\0';
}
