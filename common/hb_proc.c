/*
 * hb_proc: posix_spawnp (safe next to paho's threads: no fork of a
 * multi-threaded heap), a pipe for the output, a pidfd for the exit.
 */
#include "hb_proc.h"
#include "hb_log.h"
#include "hb_util.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <dirent.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

#define POLL_MS 50		/* exit poll when the kernel has no pidfd */
#define LINGER_POLL_MS 1000	/* exit poll of a child that outlived SIGKILL */
#define DEFAULT_EXIT_WAIT_MS 2000
#define DEFAULT_MAX_OUTPUT (64 * 1024)

struct hb_proc {
	struct event_base *base;
	pid_t pid;
	int out_fd;		/* read end of stdout+stderr, -1 at EOF */
	int pidfd;		/* -1: polling instead */
	struct event *ev_out;
	struct event *ev_exit;	/* pidfd readable */
	struct event *ev_poll;	/* the exit poll, without a (usable) pidfd */
	struct event *ev_timeout;
	struct event *ev_kill;	/* SIGKILL after the grace period */
	struct event *ev_exit_wait;	/* give up on it after SIGKILL */
	struct hb_buf out;
	size_t max_output;
	bool truncated;
	bool timed_out;
	bool lingering;		/* outlived SIGKILL; the callback was made */
	int64_t grace_ms;
	int64_t exit_wait_ms;
	int64_t started_us;
	hb_proc_done_fn done;
	hb_proc_output_fn on_output;
	void *arg;
	void (*on_reaped)(struct hb_proc *p, void *reaped_arg);
	void *reaped_arg;
};

static void on_exit_ready(evutil_socket_t fd, short what, void *arg);
static void linger(struct hb_proc *p);

static void
free_event(struct event **ev)
{
	if (*ev) {
		event_free(*ev);
		*ev = NULL;
	}
}

static void
proc_free(struct hb_proc *p)
{
	free_event(&p->ev_out);
	free_event(&p->ev_exit);
	free_event(&p->ev_poll);
	free_event(&p->ev_timeout);
	free_event(&p->ev_kill);
	free_event(&p->ev_exit_wait);
	if (p->out_fd >= 0)
		close(p->out_fd);
	if (p->pidfd >= 0)
		close(p->pidfd);
	hb_buf_free(&p->out);
	free(p);
}


/* Reads what is in the pipe now. Returns false at EOF (the pipe is closed). */
static bool
read_output(struct hb_proc *p)
{
	char chunk[4096];

	while (p->out_fd >= 0) {
		ssize_t n = read(p->out_fd, chunk, sizeof(chunk));

		if (n > 0) {
			size_t room = p->max_output > p->out.len ?
			    p->max_output - p->out.len : 0;
			size_t keep = (size_t)n < room ? (size_t)n : room;

			if (p->on_output)
				p->on_output(chunk, (size_t)n, p->arg);
			hb_buf_append(&p->out, chunk, keep);
			if (keep < (size_t)n)
				p->truncated = true;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return true;
		/* EOF, or an error that ends the output just the same */
		event_del(p->ev_out);
		close(p->out_fd);
		p->out_fd = -1;
		return false;
	}
	return false;
}

static void
on_output_ready(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	read_output(arg);
}

static void
fill_result(struct hb_proc *p, struct hb_proc_result *r)
{
	memset(r, 0, sizeof(*r));
	r->pid = p->pid;
	r->timed_out = p->timed_out;
	r->output = p->out.data ? p->out.data : "";
	r->output_len = p->out.len;
	r->truncated = p->truncated;
	r->elapsed_ms = (double)(hb_mono_us() - p->started_us) / 1000.0;
}

/*
 * The child has exited (a zombie, not reaped yet), or it is not ours to
 * wait for any more (lost: somebody else reaped it): finish.
 */
static void
finish(struct hb_proc *p, bool lost)
{
	struct hb_proc_result r;
	int status = 0;
	pid_t got = -1;

	/* Whatever it left behind in its group goes too; the pid cannot have
	 * been reused while the child is an unreaped zombie (but it can once
	 * somebody else reaped it: no signal then). */
	if (!lost)
		kill(-p->pid, SIGKILL);
	read_output(p);
	if (!lost)
		while ((got = waitpid(p->pid, &status, 0)) < 0 && errno == EINTR)
			;
	fill_result(p, &r);
	if (got != p->pid) {
		/* a SIGCHLD set to SIG_IGN, or a waitpid(-1) elsewhere: whatever
		 * it did, "exit 0" would be a guess */
		r.exit_code = -1;
		r.reason = "its exit status was collected elsewhere (lost child): "
		    "unknown";
		hb_warn("child pid=%d was reaped by somebody else; its exit status "
		    "is unknown", (int)p->pid);
	} else if (WIFEXITED(status)) {
		r.exit_code = WEXITSTATUS(status);
	} else {
		r.exit_code = -1;
		r.signal = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
	}
	p->done(&r, p->arg);
	proc_free(p);
}

/* A lingering child exited at last: reap it and forget it. */
static void
reap_lingering(struct hb_proc *p, bool lost)
{
	int status;

	if (!lost) {
		kill(-p->pid, SIGKILL);
		while (waitpid(p->pid, &status, 0) < 0 && errno == EINTR)
			;
	}
	hb_info("child pid=%d, given up on earlier, is gone now (reaped %.0f ms "
	    "after it started)", (int)p->pid,
	    (double)(hb_mono_us() - p->started_us) / 1000.0);
	if (p->on_reaped)
		p->on_reaped(p, p->reaped_arg);
	proc_free(p);
}

/* 1: exited (a zombie to reap), 0: not yet, -1: not our child any more. */
static int
has_exited(struct hb_proc *p)
{
	siginfo_t si;

	memset(&si, 0, sizeof(si));
	if (waitid(P_PID, (id_t)p->pid, &si, WEXITED | WNOHANG | WNOWAIT) != 0)
		return errno == ECHILD ? -1 : 0;
	return si.si_pid == p->pid ? 1 : 0;
}

static void
on_exit_ready(evutil_socket_t fd, short what, void *arg)
{
	struct hb_proc *p = arg;
	int st = has_exited(p);

	(void)fd;
	(void)what;
	if (st == 0) {
		/* A pidfd that is readable for a child we cannot wait for yet
		 * (a tracer holds its zombie) stays readable: poll from now on. */
		if (p->pidfd >= 0) {
			free_event(&p->ev_exit);
			close(p->pidfd);
			p->pidfd = -1;
		}
		hb_timer_add_ms(p->ev_poll, p->lingering ? LINGER_POLL_MS : POLL_MS);
		return;
	}
	if (p->lingering)
		reap_lingering(p, st < 0);
	else
		finish(p, st < 0);
}

/*
 * exit_wait_ms after SIGKILL and the child is still there: tell the caller
 * now, keep only what is needed to reap it later.
 */
static void
on_exit_wait(evutil_socket_t fd, short what, void *arg)
{
	struct hb_proc *p = arg;
	struct hb_proc_result r;
	char reason[160];
	int st = has_exited(p);

	(void)fd;
	(void)what;
	if (st != 0) {
		finish(p, st < 0);
		return;
	}
	read_output(p);
	fill_result(p, &r);
	r.exit_code = -1;
	r.lingering = true;
	snprintf(reason, sizeof(reason), "still running %lld ms after SIGKILL "
	    "(uninterruptible sleep: a hung mount or device?); it is reaped when "
	    "it exits", (long long)p->exit_wait_ms);
	r.reason = reason;
	hb_warn("child pid=%d did not exit within %lld ms of SIGKILL; it will be "
	    "reaped when it does", (int)p->pid, (long long)p->exit_wait_ms);
	p->lingering = true;
	p->done(&r, p->arg);
	linger(p);
}

/* Keeps only what is needed to reap the child when it exits. */
static void
linger(struct hb_proc *p)
{
	p->lingering = true;
	free_event(&p->ev_out);
	free_event(&p->ev_timeout);
	free_event(&p->ev_kill);
	if (p->out_fd >= 0) {
		close(p->out_fd);
		p->out_fd = -1;
	}
	hb_buf_free(&p->out);
	free_event(&p->ev_exit_wait);
	if (p->pidfd < 0)
		hb_timer_add_ms(p->ev_poll, LINGER_POLL_MS);
}

/* SIGKILL to the group and to the child itself (should it have left the
 * group), and the clock for its exit. */
static void
send_kill(struct hb_proc *p)
{
	kill(-p->pid, SIGKILL);
	kill(p->pid, SIGKILL);
	if (p->ev_exit_wait == NULL) {
		p->ev_exit_wait = evtimer_new(p->base, on_exit_wait, p);
		hb_timer_add_ms(p->ev_exit_wait, p->exit_wait_ms);
	}
}

static void
on_kill(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	send_kill(arg);
}

static void
on_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct hb_proc *p = arg;

	(void)fd;
	(void)what;
	p->timed_out = true;
	if (p->grace_ms > 0) {
		kill(-p->pid, SIGTERM);
		p->ev_kill = evtimer_new(p->base, on_kill, p);
		hb_timer_add_ms(p->ev_kill, p->grace_ms);
	} else {
		send_kill(p);
	}
}

static int
open_pidfd(pid_t pid)
{
#ifdef SYS_pidfd_open
	long fd = syscall(SYS_pidfd_open, pid, 0);

	return fd >= 0 ? (int)fd : -1;
#else
	(void)pid;
	return -1;
#endif
}

/*
 * The child's descriptors: stdin from /dev/null, stdout and stderr into the
 * pipe's write end, nothing else of ours (paho's and curl's sockets) open
 * in it; and its working directory, if cwd is not NULL.
 */
static void
child_descriptors(posix_spawn_file_actions_t *fa, int pipe_w, const char *cwd)
{
	posix_spawn_file_actions_addopen(fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(fa, pipe_w, 1);
	posix_spawn_file_actions_adddup2(fa, pipe_w, 2);
	posix_spawn_file_actions_addclosefrom_np(fa, 3);
	if (cwd)
		posix_spawn_file_actions_addchdir_np(fa, cwd);
}

/*
 * The child's process group and signals: a group of its own (so that a
 * timeout kills everything it started), no blocked signals, and default
 * dispositions (we ignore SIGPIPE; a child must not inherit that).
 */
static void
child_signals(posix_spawnattr_t *attr)
{
	sigset_t none, all;

	sigemptyset(&none);
	sigfillset(&all);
	sigdelset(&all, SIGKILL);
	sigdelset(&all, SIGSTOP);
	posix_spawnattr_setflags(attr, POSIX_SPAWN_SETPGROUP |
	    POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
	posix_spawnattr_setpgroup(attr, 0);
	posix_spawnattr_setsigmask(attr, &none);
	posix_spawnattr_setsigdefault(attr, &all);
}

/*
 * Spawns opts->argv (argv[0] set) with its output into a new pipe. Returns
 * 0 with the child's pid and the pipe's read end (blocking, close-on-exec;
 * the caller owns it), or -1 with a message in err and nothing left open.
 */
static int
spawn_child(const struct hb_proc_opts *opts, pid_t *pid, int *out_fd,
    char *err, size_t errlen)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	int pipefd[2] = { -1, -1 }, rc;
	bool fa_ok = false, attr_ok = false;

	if (pipe2(pipefd, O_CLOEXEC) != 0) {
		snprintf(err, errlen, "cannot run \"%s\": pipe: %s", opts->argv[0],
		    strerror(errno));
		goto err;
	}
	if ((rc = posix_spawn_file_actions_init(&fa)) != 0)
		goto spawn_err;
	fa_ok = true;
	if ((rc = posix_spawnattr_init(&attr)) != 0)
		goto spawn_err;
	attr_ok = true;
	child_descriptors(&fa, pipefd[1], opts->cwd);
	child_signals(&attr);
	rc = posix_spawnp(pid, opts->argv[0], &fa, &attr,
	    (char *const *)(uintptr_t)opts->argv,
	    opts->env ? (char *const *)(uintptr_t)opts->env : environ);
	if (rc != 0)
		goto spawn_err;
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	close(pipefd[1]);
	*out_fd = pipefd[0];
	return 0;
spawn_err:
	snprintf(err, errlen, "cannot run \"%s\": %s", opts->argv[0],
	    strerror(rc));
err:
	if (fa_ok)
		posix_spawn_file_actions_destroy(&fa);
	if (attr_ok)
		posix_spawnattr_destroy(&attr);
	if (pipefd[0] >= 0)
		close(pipefd[0]);
	if (pipefd[1] >= 0)
		close(pipefd[1]);
	return -1;
}

/*
 * The running child's state, watched on base: its output (out_fd, owned
 * from now on), its exit (a pidfd, else a poll), and the timeout.
 */
static struct hb_proc *
watch_child(struct event_base *base, const struct hb_proc_opts *opts,
    pid_t pid, int out_fd, hb_proc_done_fn done, hb_proc_output_fn on_output,
    void *arg)
{
	struct hb_proc *p = hb_xcalloc(1, sizeof(*p));

	p->base = base;
	p->pid = pid;
	p->out_fd = out_fd;
	fcntl(p->out_fd, F_SETFL, fcntl(p->out_fd, F_GETFL) | O_NONBLOCK);
	p->max_output = opts->max_output ? opts->max_output : DEFAULT_MAX_OUTPUT;
	p->grace_ms = opts->kill_grace_ms;
	p->exit_wait_ms = opts->exit_wait_ms > 0 ? opts->exit_wait_ms :
	    DEFAULT_EXIT_WAIT_MS;
	p->started_us = hb_mono_us();
	p->done = done;
	p->on_output = on_output;
	p->arg = arg;
	p->on_reaped = opts->on_reaped;
	p->reaped_arg = opts->reaped_arg;
	p->ev_out = event_new(base, p->out_fd, EV_READ | EV_PERSIST,
	    on_output_ready, p);
	event_add(p->ev_out, NULL);
	p->ev_poll = evtimer_new(base, on_exit_ready, p);
	p->pidfd = open_pidfd(pid);
	if (p->pidfd >= 0) {
		p->ev_exit = event_new(base, p->pidfd, EV_READ, on_exit_ready, p);
		event_add(p->ev_exit, NULL);
	} else {
		hb_timer_add_ms(p->ev_poll, POLL_MS);
	}
	if (opts->timeout_ms > 0) {
		p->ev_timeout = evtimer_new(base, on_timeout, p);
		hb_timer_add_ms(p->ev_timeout, opts->timeout_ms);
	}
	return p;
}

/* As hb_proc.h says: checked, spawned, then watched on the loop. */
struct hb_proc *
hb_proc_start(struct event_base *base, const struct hb_proc_opts *opts,
    hb_proc_done_fn done, hb_proc_output_fn on_output, void *arg, char *err,
    size_t errlen)
{
	pid_t pid;
	int out_fd;

	if (opts->argv == NULL || opts->argv[0] == NULL || opts->argv[0][0] == '\0') {
		snprintf(err, errlen, "no command to run (empty argv)");
		return NULL;
	}
	if (spawn_child(opts, &pid, &out_fd, err, errlen) != 0)
		return NULL;
	return watch_child(base, opts, pid, out_fd, done, on_output, arg);
}

void
hb_proc_kill(struct hb_proc *p)
{
	int status;

	if (p == NULL)
		return;
	kill(-p->pid, SIGKILL);
	kill(p->pid, SIGKILL);
	/* A child in uninterruptible sleep (a hung NFS mount) may take a while
	 * to die; the loop does not wait for it beyond a moment. */
	for (int i = 0; i < 200; i++) {
		pid_t r = waitpid(p->pid, &status, WNOHANG);

		if (r == p->pid || (r < 0 && errno != EINTR))
			break;
		if (i == 199)
			hb_warn("child pid=%d did not die on SIGKILL; left unreaped",
			    (int)p->pid);
		usleep(1000);
	}
	proc_free(p);
}

void
hb_proc_abandon(struct hb_proc *p)
{
	int st;

	if (p == NULL)
		return;
	kill(-p->pid, SIGKILL);
	kill(p->pid, SIGKILL);
	st = has_exited(p);
	if (st != 0) {
		reap_lingering(p, st < 0);
		return;
	}
	linger(p);
}

pid_t
hb_proc_pid(const struct hb_proc *p)
{
	return p->pid;
}

/* state, group and start time of pid from /proc/PID/stat; -1 if gone. */
static int
read_stat(pid_t pid, char *state, pid_t *pgrp, unsigned long long *start)
{
	char path[64], buf[1024], *p, *end;
	unsigned long long v = 0;
	ssize_t n;
	int fd, field;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	/* the command name may hold spaces and ')': the fields follow the last */
	if (n <= 0 || (buf[n] = '\0', p = strrchr(buf, ')')) == NULL)
		return -1;
	p++;
	for (field = 3; field <= 22; field++) {
		while (*p == ' ')
			p++;
		if (*p == '\0')
			return -1;
		if (field == 3)
			*state = *p;
		errno = 0;
		v = strtoull(p, &end, 10);
		if (field == 5)
			*pgrp = (pid_t)v;
		p = field == 3 ? p + 1 : end;
	}
	*start = errno == 0 ? v : 0;
	return 0;
}

unsigned long long
hb_proc_start_time(pid_t pid)
{
	unsigned long long start;
	pid_t pgrp;
	char state;

	return read_stat(pid, &state, &pgrp, &start) == 0 ? start : 0;
}

/* Live processes of our group pgid; -1 when pid pgid is another's now. */
static int
group_alive(pid_t pgid, unsigned long long leader_start)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	int n = 0;

	if (d == NULL)
		return 0;
	while ((e = readdir(d)) != NULL) {
		char *end, state;
		long pid = strtol(e->d_name, &end, 10);
		unsigned long long start;
		pid_t pgrp;

		if (*end != '\0' || pid <= 0 ||
		    read_stat((pid_t)pid, &state, &pgrp, &start) != 0 ||
		    pgrp != pgid || state == 'Z' || state == 'X')
			continue;
		if (pid == pgid && start != leader_start) {
			n = -1;
			break;
		}
		if (start >= leader_start)
			n++;
	}
	closedir(d);
	return n;
}

/* Waits up to ms for the group to be gone; its live count then. */
static int
group_wait(pid_t pgid, unsigned long long leader_start, int64_t ms)
{
	int64_t until = hb_mono_ms() + ms;
	int n;

	while ((n = group_alive(pgid, leader_start)) > 0 && hb_mono_ms() < until)
		usleep(20 * 1000);
	return n;
}

int
hb_proc_end_group(pid_t pgid, unsigned long long leader_start, int64_t grace_ms)
{
	int n;

	if (pgid <= 1 || leader_start == 0 ||
	    (n = group_alive(pgid, leader_start)) <= 0)
		return 0;
	hb_warn("process group %d of an earlier run is still alive (%d "
	    "processes): SIGTERM", (int)pgid, n);
	kill(-pgid, SIGTERM);
	if (group_wait(pgid, leader_start, grace_ms) > 0) {
		hb_warn("process group %d still alive %lld ms after SIGTERM: SIGKILL",
		    (int)pgid, (long long)grace_ms);
		kill(-pgid, SIGKILL);
		if (group_wait(pgid, leader_start, 1000) > 0)
			hb_warn("process group %d did not die on SIGKILL", (int)pgid);
	}
	return n;
}
