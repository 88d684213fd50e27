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
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

#define POLL_MS 50		/* exit poll when the kernel has no pidfd */
#define DEFAULT_MAX_OUTPUT (64 * 1024)

struct hb_proc {
	struct event_base *base;
	pid_t pid;
	int out_fd;		/* read end of stdout+stderr, -1 at EOF */
	int pidfd;		/* -1: polling instead */
	struct event *ev_out;
	struct event *ev_exit;	/* pidfd readable, or the poll timer */
	struct event *ev_timeout;
	struct event *ev_kill;	/* SIGKILL after the grace period */
	struct hb_buf out;
	size_t max_output;
	bool truncated;
	bool timed_out;
	int64_t grace_ms;
	int64_t started_us;
	hb_proc_done_fn done;
	hb_proc_output_fn on_output;
	void *arg;
};

static void
proc_free(struct hb_proc *p)
{
	if (p->ev_out)
		event_free(p->ev_out);
	if (p->ev_exit)
		event_free(p->ev_exit);
	if (p->ev_timeout)
		event_free(p->ev_timeout);
	if (p->ev_kill)
		event_free(p->ev_kill);
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

/* The child has exited (a zombie, not reaped yet): finish. */
static void
finish(struct hb_proc *p)
{
	struct hb_proc_result r;
	int status = 0;

	/* Whatever it left behind in its group goes too; the pid cannot have
	 * been reused while the child is an unreaped zombie. */
	kill(-p->pid, SIGKILL);
	read_output(p);
	while (waitpid(p->pid, &status, 0) < 0 && errno == EINTR)
		;
	memset(&r, 0, sizeof(r));
	r.pid = p->pid;
	if (WIFEXITED(status)) {
		r.exit_code = WEXITSTATUS(status);
	} else {
		r.exit_code = -1;
		r.signal = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
	}
	r.timed_out = p->timed_out;
	r.output = p->out.data ? p->out.data : "";
	r.output_len = p->out.len;
	r.truncated = p->truncated;
	r.elapsed_ms = (double)(hb_mono_us() - p->started_us) / 1000.0;
	p->done(&r, p->arg);
	proc_free(p);
}

static bool
has_exited(struct hb_proc *p)
{
	siginfo_t si;

	memset(&si, 0, sizeof(si));
	if (waitid(P_PID, (id_t)p->pid, &si, WEXITED | WNOHANG | WNOWAIT) != 0)
		return errno == ECHILD;	/* somebody else reaped it: nothing to wait for */
	return si.si_pid == p->pid;
}

static void
on_exit_ready(evutil_socket_t fd, short what, void *arg)
{
	struct hb_proc *p = arg;

	(void)fd;
	(void)what;
	if (!has_exited(p)) {
		if (p->pidfd < 0) {
			struct timeval tv = { 0, POLL_MS * 1000 };

			evtimer_add(p->ev_exit, &tv);
		}
		return;
	}
	finish(p);
}

static void
on_kill(evutil_socket_t fd, short what, void *arg)
{
	struct hb_proc *p = arg;

	(void)fd;
	(void)what;
	kill(-p->pid, SIGKILL);
}

static void
on_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct hb_proc *p = arg;

	(void)fd;
	(void)what;
	p->timed_out = true;
	if (p->grace_ms > 0) {
		struct timeval tv = { (time_t)(p->grace_ms / 1000),
		    (suseconds_t)((p->grace_ms % 1000) * 1000) };

		kill(-p->pid, SIGTERM);
		p->ev_kill = evtimer_new(p->base, on_kill, p);
		evtimer_add(p->ev_kill, &tv);
	} else {
		kill(-p->pid, SIGKILL);
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

struct hb_proc *
hb_proc_start(struct event_base *base, const struct hb_proc_opts *opts,
    hb_proc_done_fn done, hb_proc_output_fn on_output, void *arg, char *err,
    size_t errlen)
{
	struct hb_proc *p = NULL;
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	sigset_t none, all;
	int pipefd[2] = { -1, -1 }, rc;
	bool fa_ok = false, attr_ok = false;
	pid_t pid;

	if (opts->argv == NULL || opts->argv[0] == NULL || opts->argv[0][0] == '\0') {
		snprintf(err, errlen, "no command to run (empty argv)");
		return NULL;
	}
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
	/* stdin from /dev/null, stdout and stderr into the pipe, nothing else
	 * of ours (paho's and curl's sockets) open in the child */
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, pipefd[1], 1);
	posix_spawn_file_actions_adddup2(&fa, pipefd[1], 2);
	posix_spawn_file_actions_addclosefrom_np(&fa, 3);
	if (opts->cwd)
		posix_spawn_file_actions_addchdir_np(&fa, opts->cwd);
	/* Its own process group (so that a timeout kills everything it started),
	 * no blocked signals, and default dispositions: we ignore SIGPIPE, a
	 * child must not inherit that. */
	sigemptyset(&none);
	sigfillset(&all);
	sigdelset(&all, SIGKILL);
	sigdelset(&all, SIGSTOP);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP |
	    POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
	posix_spawnattr_setpgroup(&attr, 0);
	posix_spawnattr_setsigmask(&attr, &none);
	posix_spawnattr_setsigdefault(&attr, &all);

	rc = posix_spawnp(&pid, opts->argv[0], &fa, &attr,
	    (char *const *)(uintptr_t)opts->argv,
	    opts->env ? (char *const *)(uintptr_t)opts->env : environ);
	if (rc != 0) {
		snprintf(err, errlen, "cannot run \"%s\": %s", opts->argv[0],
		    strerror(rc));
		goto err;
	}
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	fa_ok = attr_ok = false;
	close(pipefd[1]);
	pipefd[1] = -1;

	p = hb_xcalloc(1, sizeof(*p));
	p->base = base;
	p->pid = pid;
	p->out_fd = pipefd[0];
	pipefd[0] = -1;
	fcntl(p->out_fd, F_SETFL, fcntl(p->out_fd, F_GETFL) | O_NONBLOCK);
	p->max_output = opts->max_output ? opts->max_output : DEFAULT_MAX_OUTPUT;
	p->grace_ms = opts->kill_grace_ms;
	p->started_us = hb_mono_us();
	p->done = done;
	p->on_output = on_output;
	p->arg = arg;
	p->ev_out = event_new(base, p->out_fd, EV_READ | EV_PERSIST,
	    on_output_ready, p);
	event_add(p->ev_out, NULL);
	p->pidfd = open_pidfd(pid);
	if (p->pidfd >= 0) {
		p->ev_exit = event_new(base, p->pidfd, EV_READ, on_exit_ready, p);
		event_add(p->ev_exit, NULL);
	} else {
		struct timeval tv = { 0, POLL_MS * 1000 };

		p->ev_exit = evtimer_new(base, on_exit_ready, p);
		evtimer_add(p->ev_exit, &tv);
	}
	if (opts->timeout_ms > 0) {
		struct timeval tv = { (time_t)(opts->timeout_ms / 1000),
		    (suseconds_t)((opts->timeout_ms % 1000) * 1000) };

		p->ev_timeout = evtimer_new(base, on_timeout, p);
		evtimer_add(p->ev_timeout, &tv);
	}
	return p;
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
	return NULL;
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
			hb_warn("child pid=%d did not die on SIGKILL; left as a zombie",
			    (int)p->pid);
		usleep(1000);
	}
	proc_free(p);
}

pid_t
hb_proc_pid(const struct hb_proc *p)
{
	return p->pid;
}
