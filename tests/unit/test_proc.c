/*
 * hb_proc: child processes on a libevent loop — exit codes and output, a
 * timeout that takes down the whole process group (also what the child
 * started in the background), SIGTERM before SIGKILL, commands that cannot
 * be found, output past the cap, a hung child not holding up another, what
 * the child inherits (no ignored SIGPIPE, env, cwd), a child that does not
 * exit after SIGKILL (told anyway, reaped later), and one reaped behind
 * hb_proc's back (not "exit 0"). Every reason a command cannot start is
 * told with the command's name.
 */
#include "hbt.h"
#include "hb_proc.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
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

/* Starts argv with o (argv set here); NULL and the message in err if refused. */
static struct hb_proc *
try_start(struct event_base *base, struct hb_proc_opts *o,
    const char *const *argv, struct result *res, char *err, size_t errlen)
{
	memset(res, 0, sizeof(*res));
	o->argv = argv;
	return hb_proc_start(base, o, on_done, NULL, res, err, errlen);
}

/*
 * Each way a command cannot start: refused at once with a message that
 * names it and the reason, no callback, and nothing left open.
 */
static void
test_refused(struct event_base *base)
{
	const char *const no_argv[] = { NULL };
	const char *const empty[] = { "", "x", NULL };
	const char *const sh[] = { "sh", "-c", "exit 0", NULL };
	const char *const tru[] = { "true", NULL };
	struct hb_proc_opts o = { 0 };
	struct rlimit was, low;
	struct result r;
	char err[256], path[512], want[600];
	int first = dup(0), probe;

	HBT_REQUIRE(first >= 0, "dup");
	close(first);
	HBT_CHECK(try_start(base, &o, no_argv, &r, err, sizeof(err)) == NULL &&
	    strcmp(err, "no command to run (empty argv)") == 0, "argv {NULL}: %s",
	    err);
	HBT_CHECK(try_start(base, &o, empty, &r, err, sizeof(err)) == NULL &&
	    strcmp(err, "no command to run (empty argv)") == 0, "argv {\"\"}: %s",
	    err);

	/* a file that is not executable */
	snprintf(path, sizeof(path), "%s/not-executable", hbt_dir());
	hbt_write_file(path, "#!/bin/sh\necho never\n");
	chmod(path, 0644);
	{
		const char *const argv[] = { path, NULL };

		snprintf(want, sizeof(want), "cannot run \"%s\": %s", path,
		    strerror(EACCES));
		HBT_CHECK(try_start(base, &o, argv, &r, err, sizeof(err)) == NULL &&
		    strcmp(err, want) == 0, "not executable: %s", err);
	}

	/* a working directory that does not exist */
	snprintf(path, sizeof(path), "%s/no-such-dir", hbt_dir());
	o.cwd = path;
	snprintf(want, sizeof(want), "cannot run \"sh\": %s", strerror(ENOENT));
	HBT_CHECK(try_start(base, &o, sh, &r, err, sizeof(err)) == NULL &&
	    strcmp(err, want) == 0, "missing cwd: %s", err);
	o.cwd = NULL;

	/* out of file descriptors: the pipe cannot be made */
	HBT_REQUIRE(getrlimit(RLIMIT_NOFILE, &was) == 0, "rlimit");
	low = was;
	low.rlim_cur = (rlim_t)first;
	HBT_REQUIRE(setrlimit(RLIMIT_NOFILE, &low) == 0, "lower the fd limit");
	snprintf(want, sizeof(want), "cannot run \"true\": pipe: %s",
	    strerror(EMFILE));
	HBT_CHECK(try_start(base, &o, tru, &r, err, sizeof(err)) == NULL &&
	    strcmp(err, want) == 0, "no fds: %s", err);
	HBT_REQUIRE(setrlimit(RLIMIT_NOFILE, &was) == 0, "restore the fd limit");
	probe = dup(0);
	HBT_CHECK(probe == first, "no descriptor left open by the refusals "
	    "(next free %d, was %d)", probe, first);
	close(probe);
	event_base_loop(base, EVLOOP_NONBLOCK);
	HBT_CHECK(!r.done, "no callback for a command refused at start");
}

/*
 * From here on pidfd_open fails with ENOSYS, as on a kernel before 5.3.
 * For a forked copy of the test only: a seccomp filter cannot be removed.
 */
static bool
refuse_pidfd_open(void)
{
#if defined(SYS_pidfd_open) && defined(__x86_64__)
	struct sock_filter filter[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_pidfd_open, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = { (unsigned short)HB_ARRAY_LEN(filter), filter };

	return prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0 &&
	    prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) == 0;
#else
	return false;
#endif
}

/*
 * Without a pidfd the exit is polled for, and the result is the same. Run
 * in a forked copy of the test, which exits 0 when it was, 1 when not, 3
 * when this machine cannot refuse pidfd_open.
 */
static void
test_without_pidfd(void)
{
	pid_t pid = fork();
	int status = 0;

	HBT_REQUIRE(pid >= 0, "fork");
	if (pid == 0) {
		const char *const argv[] = { "sh", "-c", "echo polled; exit 4", NULL };
		struct hb_proc_opts o = { 0 };
		struct event_base *base;
		struct result r;
		char err[256];

		if (!refuse_pidfd_open())
			_exit(3);
		base = event_base_new();
		if (try_start(base, &o, argv, &r, err, sizeof(err)) == NULL)
			_exit(1);
		run_until(base, &r.done, 20000);
		_exit(r.done && r.exit_code == 4 && strcmp(r.output, "polled\n") == 0 &&
		    reaped(r.pid) ? 0 : 1);
	}
	HBT_REQUIRE(waitpid(pid, &status, 0) == pid, "wait for the forked test");
	if (WIFEXITED(status) && WEXITSTATUS(status) == 3) {
		hbt_log("seccomp is not available: the exit poll is not tested");
		return;
	}
	HBT_CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "without a pidfd "
	    "the exit 4 and output were polled for (status %#x)", status);
}

/*
 * What the child gets: stdin from /dev/null, stdout and stderr and nothing
 * else of ours, our environment when opts.env is NULL, the default 64 KiB
 * of output kept.
 */
static void
test_inherited(struct event_base *base)
{
	const char *const stdin_of[] = { "readlink", "/proc/self/fd/0", NULL };
	const char *const fds[] = { "ls", "/proc/self/fd", NULL };
	const char *const env[] = { "sh", "-c", "echo \"$HB_PROC_INHERITED\"", NULL };
	const char *const lots[] = { "head", "-c", "70000", "/dev/zero", NULL };
	int stray = open("/dev/null", O_RDONLY);
	struct result r;

	run(base, stdin_of, 0, 0, &r);
	HBT_CHECK(strcmp(r.output, "/dev/null\n") == 0, "stdin: %s",
	    r.output);

	/* a descriptor of ours without O_CLOEXEC does not reach the child */
	HBT_REQUIRE(stray >= 0 && dup2(stray, 100) == 100, "a stray fd 100");
	run(base, fds, 0, 0, &r);
	HBT_CHECK(strncmp(r.output, "0\n1\n2\n", 6) == 0 &&
	    strstr(r.output, "100") == NULL, "the child's fds: %s",
	    r.output);
	close(100);
	close(stray);

	setenv("HB_PROC_INHERITED", "hallway", 1);
	run(base, env, 0, 0, &r);
	HBT_CHECK(strcmp(r.output, "hallway\n") == 0, "inherited env: %s",
	    r.output);
	unsetenv("HB_PROC_INHERITED");

	run(base, lots, 0, 0, &r);
	HBT_CHECK(r.exit_code == 0 && r.truncated &&
	    r.output_len == 64 * 1024 && r.chunks_bytes == 70000,
	    "default cap: kept %zu of %zu", r.output_len,
	    r.chunks_bytes);
}

/*
 * A timeout with a grace period on a child that then outlives SIGKILL:
 * SIGTERM, SIGKILL after the grace, and the caller told the default
 * 2000 ms after that; reaped once the kernel lets go of it.
 */
static void
test_lingering_after_grace(struct event_base *base)
{
	const char *const argv[] = { "sleep", "60", NULL };
	struct hb_proc_opts o = { 0 };
	bool was_reaped = false;
	struct hb_proc *p;
	struct result r;
	char err[256];
	pid_t pid, tracer;

	memset(&r, 0, sizeof(r));
	o.argv = argv;
	o.timeout_ms = 200;
	o.kill_grace_ms = 200;
	o.on_reaped = on_reaped;
	o.reaped_arg = &was_reaped;
	p = hb_proc_start(base, &o, on_done, NULL, &r, err, sizeof(err));
	HBT_REQUIRE(p != NULL, "%s", err);
	pid = hb_proc_pid(p);
	tracer = start_tracer(pid);
	if (tracer < 0) {
		hbt_log("ptrace is not allowed here: lingering after a grace period "
		    "is not tested");
		hb_proc_kill(p);
		return;
	}
	run_until(base, &r.done, 20000);
	HBT_CHECK(r.done && r.timed_out && r.lingering && r.exit_code == -1 &&
	    r.signal == 0 && strstr(r.reason, "still running 2000 ms after "
	    "SIGKILL") == r.reason, "lingering after the grace period: done=%d "
	    "timed_out=%d lingering=%d reason=%s", r.done, r.timed_out,
	    r.lingering, r.reason);
	kill(tracer, SIGKILL);
	waitpid(tracer, NULL, 0);
	run_until(base, &was_reaped, 10000);
	HBT_CHECK(was_reaped && reaped(pid), "reaped when it let go");
}

/*
 * A group left by an earlier run: ended only when its leader is the process
 * recorded (a pid taken by another process is left alone); SIGTERM, and
 * SIGKILL after the grace for a group that ignores it.
 */
/* Has pid set SIGTERM to be ignored yet (its shell has run the trap)? */
static bool
term_ignored(pid_t pid)
{
	char path[64], line[256];
	unsigned long long mask = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	if ((f = fopen(path, "r")) == NULL)
		return false;
	while (fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "SigIgn: %llx", &mask) == 1)
			break;
	fclose(f);
	return (mask & (1ULL << (SIGTERM - 1))) != 0;
}

static void
test_end_group(struct event_base *base)
{
	const char *const argv[] = { "sh", "-c", "trap '' TERM; sleep 60 & "
	    "echo $!; sleep 60", NULL };
	struct hb_proc_opts o = { 0 };
	unsigned long long start;
	struct hb_proc *p;
	struct result r;
	char err[256];
	pid_t pid, bg = 0;

	memset(&r, 0, sizeof(r));
	o.argv = argv;
	p = hb_proc_start(base, &o, on_done, NULL, &r, err, sizeof(err));
	HBT_REQUIRE(p != NULL, "%s", err);
	pid = hb_proc_pid(p);
	start = hb_proc_start_time(pid);
	HBT_CHECK(start > 0, "the start time of %d", (int)pid);
	HBT_CHECK(hb_proc_start_time(pid) == start, "the same each time");
	HBT_CHECK(hb_proc_end_group(pid, start + 1, 200) == 0 && !dead(pid),
	    "another process's start: not ours, left alone");
	/* the shell must have run its trap before the SIGTERM, or the test
	 * races it on a loaded machine */
	HBT_REQUIRE(HBT_WAIT(term_ignored(pid), 5000), "the shell ignores SIGTERM");
	HBT_CHECK(hb_proc_end_group(pid, start, 300) >= 1, "ours: ended");
	run_until(base, &r.done, 10000);
	bg = first_number(r.output);
	HBT_CHECK(r.done && r.signal == SIGKILL, "SIGTERM ignored: SIGKILL after "
	    "the grace: signal %d", r.signal);
	HBT_CHECK(bg > 0 && HBT_WAIT(dead(bg), 5000), "the whole group: %d",
	    (int)bg);
	HBT_CHECK(hb_proc_end_group(pid, start, 300) == 0, "nothing left to end");
	HBT_CHECK(hb_proc_start_time(pid) == 0, "a reaped pid has no start time");
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

	test_refused(base);
	test_inherited(base);
	test_without_pidfd();
	test_lingering_after_grace(base);
	test_end_group(base);

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
			/* not before the timeout and exit_wait_ms: no upper bound,
			 * the machine may be slow */
			HBT_CHECK(r.elapsed_ms >= 550, "timeout + exit_wait_ms: %.0f ms",
			    r.elapsed_ms);
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
