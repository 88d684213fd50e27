/*
 * hb_proc: child processes on a libevent loop — exit codes and output, a
 * timeout that takes down the whole process group (also what the child
 * started in the background), SIGTERM before SIGKILL, commands that cannot
 * be found, output past the cap, a hung child not holding up another, what
 * the child inherits (no ignored SIGPIPE, env, cwd), a child that does not
 * exit after SIGKILL (told anyway, reaped later), and one reaped behind
 * hb_proc's back (not "exit 0").
 */
#include "hbt.h"
#include "hb_proc.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/wait.h>
#include <unistd.h>

struct result {
	bool done;
	int exit_code;
	int signal;
	bool timed_out;
	bool lingering;
	bool truncated;
	char reason[256];
	double elapsed_ms;
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
	res->lingering = r->lingering;
	snprintf(res->reason, sizeof(res->reason), "%s", r->reason ? r->reason : "");
	res->elapsed_ms = r->elapsed_ms;
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

/*
 * Our direct child is reaped: no zombie left. (Reaps it if it is a zombie,
 * and then says false.)
 */
static bool
reaped(pid_t pid)
{
	int status;

	return waitpid(pid, &status, WNOHANG) == -1 && errno == ECHILD;
}

/*
 * Gone, or a zombie nobody reaps (an orphan under a PID 1 that does not):
 * for the grandchildren, which are not ours to reap.
 */
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

static void
on_reaped(struct hb_proc *p, void *arg)
{
	(void)p;
	*(bool *)arg = true;
}

/*
 * Starts a tracer of pid that never waits for it: once pid dies its zombie
 * is the tracer's to collect, so its parent cannot reap it — what a child
 * in uninterruptible sleep looks like to its parent. Returns the tracer,
 * or -1 when this machine does not allow ptrace.
 */
static pid_t
start_tracer(pid_t pid)
{
	int fds[2];
	char ok = 'n';
	pid_t tracer;

	if (pipe(fds) != 0)
		return -1;
	tracer = fork();
	if (tracer == 0) {
		close(fds[0]);
		ok = ptrace(PTRACE_SEIZE, pid, NULL, NULL) == 0 ? 'y' : 'n';
		if (write(fds[1], &ok, 1) != 1 || ok != 'y')
			_exit(1);
		for (;;)
			pause();
	}
	close(fds[1]);
	if (tracer < 0 || read(fds[0], &ok, 1) != 1 || ok != 'y') {
		if (tracer > 0)
			waitpid(tracer, NULL, 0);
		tracer = -1;
	}
	close(fds[0]);
	return tracer;
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
		HBT_CHECK(reaped(r.pid), "the shell %d is reaped, not a zombie",
		    (int)r.pid);
		HBT_CHECK(!r.lingering && r.reason[0] == '\0', "a plain timeout: %s",
		    r.reason);
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
		HBT_CHECK(gone && reaped(pid), "killed child %d reaped", (int)pid);
	}

	/* a child that outlives SIGKILL: told exit_wait_ms after the kill,
	 * reaped (no zombie) once the kernel lets go of it */
	{
		const char *argv[] = { "sleep", "60", NULL };
		bool was_reaped = false;
		pid_t pid, tracer;

		memset(&r, 0, sizeof(r));
		memset(&o, 0, sizeof(o));
		o.argv = argv;
		o.timeout_ms = 200;
		o.exit_wait_ms = 400;
		o.on_reaped = on_reaped;
		o.reaped_arg = &was_reaped;
		p = hb_proc_start(base, &o, on_done, NULL, &r, err, sizeof(err));
		HBT_REQUIRE(p != NULL, "%s", err);
		pid = hb_proc_pid(p);
		tracer = start_tracer(pid);
		if (tracer < 0) {
			hbt_log("ptrace is not allowed here: the lingering child is "
			    "not tested");
			hb_proc_kill(p);
		} else {
			run_until(base, &r.done, 10000);
			HBT_CHECK(r.done && r.timed_out && r.lingering &&
			    r.exit_code == -1 && r.signal == 0,
			    "told although it did not exit: done=%d timed_out=%d "
			    "lingering=%d exit=%d signal=%d", r.done, r.timed_out,
			    r.lingering, r.exit_code, r.signal);
			HBT_CHECK(strstr(r.reason, "400 ms after SIGKILL") != NULL,
			    "with a reason: %s", r.reason);
			HBT_CHECK(r.elapsed_ms >= 550 && r.elapsed_ms < 5000,
			    "timeout + exit_wait_ms: %.0f ms", r.elapsed_ms);
			/* still held: not reaped, no second callback */
			for (int i = 0; i < 5; i++) {
				hbt_sleep_ms(50);
				event_base_loop(base, EVLOOP_NONBLOCK);
			}
			HBT_CHECK(!was_reaped, "not reaped while the kernel holds it");
			r.done = false;
			kill(tracer, SIGKILL);
			waitpid(tracer, NULL, 0);
			run_until(base, &was_reaped, 10000);
			HBT_CHECK(was_reaped && !r.done, "reaped when it let go, no "
			    "second callback");
			HBT_CHECK(reaped(pid), "no zombie of %d left", (int)pid);
		}
	}

	/* abandoned: no callback, reaped on the loop when it is gone */
	{
		const char *argv[] = { "sh", "-c", "sleep 60 & sleep 60", NULL };
		bool was_reaped = false;
		pid_t pid;

		memset(&r, 0, sizeof(r));
		memset(&o, 0, sizeof(o));
		o.argv = argv;
		o.on_reaped = on_reaped;
		o.reaped_arg = &was_reaped;
		p = hb_proc_start(base, &o, on_done, NULL, &r, err, sizeof(err));
		HBT_REQUIRE(p != NULL, "%s", err);
		pid = hb_proc_pid(p);
		hbt_sleep_ms(100);
		hb_proc_abandon(p);
		run_until(base, &was_reaped, 10000);
		HBT_CHECK(was_reaped && !r.done && reaped(pid), "abandoned child %d "
		    "reaped, no callback", (int)pid);
	}

	/* a child somebody else reaped: its exit status is unknown, not 0 */
	{
		const char *argv[] = { "true", NULL };
		int status;
		pid_t pid;

		memset(&r, 0, sizeof(r));
		memset(&o, 0, sizeof(o));
		o.argv = argv;
		p = hb_proc_start(base, &o, on_done, NULL, &r, err, sizeof(err));
		HBT_REQUIRE(p != NULL, "%s", err);
		pid = hb_proc_pid(p);
		HBT_CHECK(waitpid(pid, &status, 0) == pid, "reaped behind its back");
		run_until(base, &r.done, 10000);
		HBT_CHECK(r.done && r.exit_code == -1 && r.signal == 0 &&
		    strstr(r.reason, "collected elsewhere"),
		    "a lost child is not \"exit 0\": exit=%d reason=%s", r.exit_code,
		    r.reason);
	}

	event_base_free(base);
	hbt_exit();
}
