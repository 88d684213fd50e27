/*
 * hb_proc: child processes on a libevent loop — exit codes and output, a
 * timeout that takes down the whole process group (also what the child
 * started in the background), SIGTERM before SIGKILL, commands that cannot
 * be found, output past the cap, a hung child not holding up another, and
 * what the child inherits (no ignored SIGPIPE, env, cwd).
 */
#include "hbt.h"
#include "hb_proc.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

struct result {
	bool done;
	int exit_code;
	int signal;
	bool timed_out;
	bool truncated;
	size_t output_len;
	pid_t pid;
	char output[512];
	size_t chunks_bytes;	/* seen by the output callback */
	int order;		/* completion order, when several run */
};

static int completed;

static void
on_done(const struct hb_proc_result *r, void *arg)
{
	struct result *res = arg;

	res->done = true;
	res->exit_code = r->exit_code;
	res->signal = r->signal;
	res->timed_out = r->timed_out;
	res->truncated = r->truncated;
	res->output_len = r->output_len;
	res->pid = r->pid;
	res->order = ++completed;
	snprintf(res->output, sizeof(res->output), "%s", r->output);
}

static void
on_chunk(const char *chunk, size_t len, void *arg)
{
	struct result *res = arg;

	(void)chunk;
	res->chunks_bytes += len;
}

static void
run_until(struct event_base *base, bool *flag, int64_t timeout_ms)
{
	int64_t end = hb_mono_ms() + timeout_ms;

	while (!*flag && hb_mono_ms() < end)
		event_base_loop(base, EVLOOP_ONCE);
}

/* Runs argv to completion on the loop. */
static void
run(struct event_base *base, const char *const *argv, int64_t timeout_ms,
    int64_t grace_ms, struct result *res)
{
	struct hb_proc_opts o = { 0 };
	char err[256];

	memset(res, 0, sizeof(*res));
	o.argv = argv;
	o.timeout_ms = timeout_ms;
	o.kill_grace_ms = grace_ms;
	HBT_REQUIRE(hb_proc_start(base, &o, on_done, on_chunk, res, err,
	    sizeof(err)) != NULL, "start %s: %s", argv[0], err);
	run_until(base, &res->done, 20000);
	HBT_CHECK(res->done, "%s finished", argv[0]);
}

/* Gone, or a zombie nobody reaps (an orphan under a PID 1 that does not). */
static bool
dead(pid_t pid)
{
	char path[64], *text, *p;
	bool gone;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	text = hb_read_file(path, 4096, NULL);
	if (text == NULL)
		return true;
	p = strrchr(text, ')');
	gone = p && (p[2] == 'Z' || p[2] == 'X');
	free(text);
	return gone;
}

/* The pid the child printed first ("$!" of its background job). */
static pid_t
first_number(const char *s)
{
	long long v;
	char buf[32];
	size_t n = strspn(s, "0123456789");

	if (n == 0 || n >= sizeof(buf))
		return -1;
	memcpy(buf, s, n);
	buf[n] = '\0';
	return hb_parse_ll(buf, 1, 1 << 22, &v) == 0 ? (pid_t)v : -1;
}

int
main(void)
{
	struct event_base *base;
	struct result r, r2;
	struct hb_proc_opts o = { 0 };
	struct hb_proc *p;
	char err[256];

	hbt_init("proc");
	signal(SIGPIPE, SIG_IGN);	/* as every service does */
	base = event_base_new();

	/* exit code and both output streams */
	{
		const char *argv[] = { "sh", "-c", "echo out; echo err >&2; exit 3", NULL };

		run(base, argv, 0, 0, &r);
		HBT_CHECK(r.exit_code == 3 && r.signal == 0 && !r.timed_out,
		    "exit 3: code=%d signal=%d", r.exit_code, r.signal);
		HBT_CHECK(strstr(r.output, "out\n") && strstr(r.output, "err\n"),
		    "output: \"%s\"", r.output);
		HBT_CHECK(r.chunks_bytes == strlen(r.output), "output callback saw %zu",
		    r.chunks_bytes);
	}
	{
		const char *argv[] = { "true", NULL };

		run(base, argv, 0, 0, &r);
		HBT_CHECK(r.exit_code == 0 && r.output_len == 0, "true: %d", r.exit_code);
	}

	/* argv is not a shell command line: no word splitting, no expansion */
	{
		const char *argv[] = { "printf", "%s|", "a b", "$HOME", "*", NULL };

		run(base, argv, 0, 0, &r);
		HBT_CHECK(strcmp(r.output, "a b|$HOME|*|") == 0, "argv as is: \"%s\"",
		    r.output);
	}

	/* a timeout kills the whole group, background children included */
	{
		const char *argv[] = { "sh", "-c", "sleep 60 & echo $!; sleep 60", NULL };
		pid_t bg;

		run(base, argv, 300, 0, &r);
		bg = first_number(r.output);
		HBT_CHECK(r.timed_out && r.signal == SIGKILL, "timed out: %d signal=%d",
		    r.timed_out, r.signal);
		HBT_CHECK(bg > 0 && HBT_WAIT(dead(bg), 5000),
		    "the background sleep %d of the group is dead too", (int)bg);
	}

	/* SIGTERM first; SIGKILL after the grace period for one that ignores it */
	{
		const char *argv[] = { "sh", "-c", "trap 'echo term; exit 0' TERM; "
		    "sleep 60 & wait", NULL };
		const char *stubborn[] = { "sh", "-c", "trap '' TERM; sleep 60 & echo $!; "
		    "wait", NULL };
		pid_t bg;

		run(base, argv, 300, 10000, &r);
		HBT_CHECK(r.timed_out && r.exit_code == 0 && strstr(r.output, "term"),
		    "SIGTERM reached the shell's trap: exit=%d \"%s\"", r.exit_code,
		    r.output);
		run(base, stubborn, 300, 300, &r);
		bg = first_number(r.output);
		HBT_CHECK(r.timed_out && r.signal == SIGKILL,
		    "SIGKILL after the grace period: signal=%d", r.signal);
		HBT_CHECK(bg > 0 && HBT_WAIT(dead(bg), 5000), "its sleep %d is dead",
		    (int)bg);
	}

	/* a command that does not exist is an error at start, with its name */
	{
		const char *argv[] = { "homebus-no-such-command", "x", NULL };

		o.argv = argv;
		p = hb_proc_start(base, &o, on_done, NULL, &r, err, sizeof(err));
		HBT_CHECK(p == NULL && strstr(err, "homebus-no-such-command") &&
		    strstr(err, "No such file"), "not found: %s", err);
		o.argv = NULL;
		HBT_CHECK(hb_proc_start(base, &o, on_done, NULL, &r, err, sizeof(err)) ==
		    NULL, "empty argv refused");
	}

	/* output past the cap is read (the child is not blocked) and dropped */
	{
		const char *argv[] = { "head", "-c", "300000", "/dev/zero", NULL };

		memset(&r, 0, sizeof(r));
		memset(&o, 0, sizeof(o));
		o.argv = argv;
		o.max_output = 1000;
		HBT_REQUIRE(hb_proc_start(base, &o, on_done, on_chunk, &r, err,
		    sizeof(err)) != NULL, "%s", err);
		run_until(base, &r.done, 20000);
		HBT_CHECK(r.done && r.exit_code == 0 && r.truncated &&
		    r.output_len == 1000 && r.chunks_bytes == 300000,
		    "cap: exit=%d kept=%zu seen=%zu", r.exit_code, r.output_len,
		    r.chunks_bytes);
	}

	/* a hung child does not hold up another one */
	{
		const char *hang[] = { "sleep", "60", NULL };
		const char *quick[] = { "echo", "quick", NULL };

		completed = 0;
		memset(&r, 0, sizeof(r));
		memset(&r2, 0, sizeof(r2));
		memset(&o, 0, sizeof(o));
		o.argv = hang;
		o.timeout_ms = 2000;
		HBT_REQUIRE(hb_proc_start(base, &o, on_done, NULL, &r, err, sizeof(err)),
		    "%s", err);
		o.argv = quick;
		HBT_REQUIRE(hb_proc_start(base, &o, on_done, NULL, &r2, err, sizeof(err)),
		    "%s", err);
		run_until(base, &r.done, 20000);
		HBT_CHECK(r2.done && r2.order == 1 && r.order == 2 && r.timed_out,
		    "the quick one finished first (orders %d, %d)", r2.order, r.order);
	}

	/* the child does not inherit our ignored SIGPIPE */
	{
		const char *argv[] = { "sh", "-c", "yes | head -n 1", NULL };

		run(base, argv, 10000, 0, &r);
		HBT_CHECK(r.exit_code == 0 && strcmp(r.output, "y\n") == 0,
		    "yes died of SIGPIPE quietly: \"%s\"", r.output);
	}

	/* environment and working directory */
	{
		const char *argv[] = { "sh", "-c", "echo \"$HB_PROC_TEST\"; pwd", NULL };
		const char *env[] = { "HB_PROC_TEST=kitchen", "PATH=/usr/bin:/bin", NULL };

		memset(&r, 0, sizeof(r));
		memset(&o, 0, sizeof(o));
		o.argv = argv;
		o.env = env;
		o.cwd = "/";
		HBT_REQUIRE(hb_proc_start(base, &o, on_done, NULL, &r, err, sizeof(err)),
		    "%s", err);
		run_until(base, &r.done, 20000);
		HBT_CHECK(strcmp(r.output, "kitchen\n/\n") == 0, "env and cwd: \"%s\"",
		    r.output);
	}

	/* killing one in flight: no callback, the group is gone */
	{
		const char *argv[] = { "sh", "-c", "sleep 60 & sleep 60", NULL };
		pid_t pid;
		bool gone;

		memset(&r, 0, sizeof(r));
		memset(&o, 0, sizeof(o));
		o.argv = argv;
		p = hb_proc_start(base, &o, on_done, NULL, &r, err, sizeof(err));
		HBT_REQUIRE(p != NULL, "%s", err);
		pid = hb_proc_pid(p);
		hbt_sleep_ms(200);
		event_base_loop(base, EVLOOP_NONBLOCK);
		hb_proc_kill(p);
		event_base_loop(base, EVLOOP_NONBLOCK);
		HBT_CHECK(!r.done, "no callback after hb_proc_kill");
		gone = HBT_WAIT(kill(-pid, 0) != 0 || dead(pid), 5000);
		HBT_CHECK(gone && dead(pid), "killed child %d reaped", (int)pid);
	}

	event_base_free(base);
	hbt_exit();
}
