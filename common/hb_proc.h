/*
 * hb_proc: child processes on the service's loop. A command is an argv run
 * without a shell, in a process group of its own, stdin from /dev/null,
 * stdout and stderr read through the loop, and a timeout that signals the
 * whole group. Used by health (exec targets) and the deployer (its steps).
 *
 * No SIGCHLD handler is installed and nothing here is process-wide: the
 * loop learns of an exit through a pidfd (or, on a kernel without pidfd, a
 * 50 ms poll of that one child).
 *
 * A child that does not die on SIGKILL (uninterruptible sleep on a hung NFS
 * mount or a dead disk) does not hold its caller up: exit_wait_ms after the
 * kill the callback comes anyway, and the child is reaped when it exits.
 */
#ifndef HB_PROC_H
#define HB_PROC_H

#include <event2/event.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct hb_proc;

struct hb_proc_opts {
	const char *const *argv;	/* argv[0] is looked up in PATH */
	const char *const *env;		/* "NAME=value" list; NULL: inherit */
	const char *cwd;		/* NULL: inherit */
	int64_t timeout_ms;		/* 0: none */
	/*
	 * On timeout the group gets SIGTERM, then SIGKILL after this many ms
	 * (0: SIGKILL at once).
	 */
	int64_t kill_grace_ms;
	/*
	 * After SIGKILL, how long the child has to exit (0: 2000 ms). Past it
	 * the callback comes with `lingering` set and the child is reaped
	 * whenever the kernel lets go of it.
	 */
	int64_t exit_wait_ms;
	size_t max_output;		/* bytes of output kept; 0: 64 KiB */
	/*
	 * Optional: a lingering child was reaped at last. Called with
	 * reaped_arg; p is freed when it returns.
	 */
	void (*on_reaped)(struct hb_proc *p, void *reaped_arg);
	void *reaped_arg;
};

struct hb_proc_result {
	pid_t pid;
	int exit_code;		/* 0-255 when it exited, -1 otherwise */
	int signal;		/* the signal that ended it, 0 if it exited */
	bool timed_out;		/* it was killed for the timeout */
	/*
	 * Timed out, and still there exit_wait_ms after SIGKILL: exit_code is
	 * -1, signal 0, and the child is left to be reaped later.
	 */
	bool lingering;
	/*
	 * Why exit_code says nothing (a lingering child, or one whose exit
	 * status somebody else collected: exit_code -1); NULL otherwise.
	 */
	const char *reason;
	const char *output;	/* stdout and stderr as they came, NUL-terminated */
	size_t output_len;
	bool truncated;		/* more came than max_output (it was read and dropped) */
	double elapsed_ms;
};

/*
 * Called once on the loop thread when the child has exited and its output
 * is read, or when it is lingering; r is valid only during the call. Do
 * not pass the hb_proc to hb_proc_kill from here. It is freed when the
 * callback returns, except for a lingering child: then it stays valid until
 * opts.on_reaped is called, or until the caller hb_proc_kill()s it (a
 * caller that sets no on_reaped forgets it instead: hb_proc frees it).
 */
typedef void (*hb_proc_done_fn)(const struct hb_proc_result *r, void *arg);
/* Optional: each chunk of output as it arrives (before max_output applies). */
typedef void (*hb_proc_output_fn)(const char *chunk, size_t len, void *arg);

/*
 * Starts opts->argv. Returns the running process, or NULL with a message in
 * err when it cannot be started (command not found, not executable, out of
 * processes); the callback is never called then.
 */
struct hb_proc *hb_proc_start(struct event_base *base,
    const struct hb_proc_opts *opts, hb_proc_done_fn done,
    hb_proc_output_fn on_output, void *arg, char *err, size_t errlen);

/*
 * SIGKILLs the group, reaps the child and frees p; no callback. A child
 * that does not die within a moment is left unreaped (logged). NULL is fine.
 */
void hb_proc_kill(struct hb_proc *p);

/*
 * SIGKILLs the group and stops caring: no callback from now on, output is
 * dropped, and the child is reaped whenever it exits (opts.on_reaped is
 * called then, maybe before this returns, and p is freed). For a caller
 * that gives up on a child without waiting for it on the loop.
 */
void hb_proc_abandon(struct hb_proc *p);

pid_t hb_proc_pid(const struct hb_proc *p);

/*
 * When process pid started (field 22 of /proc/PID/stat, clock ticks since
 * boot). With the pid it names one process: a pid the kernel hands out
 * again later has a later start. 0 when pid is gone or cannot be read.
 */
unsigned long long hb_proc_start_time(pid_t pid);

/*
 * Ends a process group that an earlier run of the caller left behind (it
 * was killed while a child ran, and whatever supervised it did not take
 * the group down): when a live process of group pgid started no earlier
 * than its leader did (leader_start, from hb_proc_start_time) and the pid
 * pgid is not now another process's (a different start), the group gets
 * SIGTERM, then SIGKILL grace_ms later if any of it is left. Blocks up to
 * grace_ms and a second more: for start-up only. Returns how many of the
 * group's processes were alive (0: nothing was signalled).
 */
int hb_proc_end_group(pid_t pgid, unsigned long long leader_start,
    int64_t grace_ms);

#endif
