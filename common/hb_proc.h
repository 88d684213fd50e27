/*
 * hb_proc: child processes on the service's loop. A command is an argv run
 * without a shell, in a process group of its own, stdin from /dev/null,
 * stdout and stderr read through the loop, and a timeout that signals the
 * whole group. Used by health (exec targets) and the deployer (its steps).
 *
 * No SIGCHLD handler is installed and nothing here is process-wide: the
 * loop learns of an exit through a pidfd (or, on a kernel without pidfd, a
 * 50 ms poll of that one child).
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
	size_t max_output;		/* bytes of output kept; 0: 64 KiB */
};

struct hb_proc_result {
	pid_t pid;
	int exit_code;		/* 0-255 when it exited, -1 when a signal ended it */
	int signal;		/* the signal that ended it, 0 if it exited */
	bool timed_out;		/* it was killed for the timeout */
	const char *output;	/* stdout and stderr as they came, NUL-terminated */
	size_t output_len;
	bool truncated;		/* more came than max_output (it was read and dropped) */
	double elapsed_ms;
};

/*
 * Called once on the loop thread when the child has exited and its output
 * is read; r is valid only during the call. The hb_proc is freed when the
 * callback returns: do not pass it to hb_proc_kill from here.
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

/* SIGKILLs the group, reaps the child and frees p; no callback. NULL is fine. */
void hb_proc_kill(struct hb_proc *p);

pid_t hb_proc_pid(const struct hb_proc *p);

#endif
