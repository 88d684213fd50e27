/*
 * hb_sdnotify: systemd's readiness and watchdog protocol without libsystemd.
 * One datagram per state ("READY=1", "WATCHDOG=1", "STOPPING=1") to the
 * AF_UNIX socket named by $NOTIFY_SOCKET (a path, or "@name" for Linux's
 * abstract namespace), and a loop timer that sends WATCHDOG=1 at half of
 * $WATCHDOG_USEC, so that a loop that hangs stops the pings and systemd
 * restarts the service (WatchdogSec=).
 *
 * Outside systemd (no NOTIFY_SOCKET) every call does nothing.
 */
#ifndef HB_SDNOTIFY_H
#define HB_SDNOTIFY_H

#include <event2/event.h>
#include <stdbool.h>
#include <stdint.h>

struct hb_sdnotify;

/*
 * Reads NOTIFY_SOCKET, WATCHDOG_USEC and WATCHDOG_PID, then removes them
 * from the environment so that children (health's exec checks, the
 * deployer's steps) do not speak for this process. With a watchdog asked
 * of this process, a timer on base pings it from now on. Returns the
 * notifier (free with hb_sdnotify_free), or NULL when there is no socket
 * to tell (not under systemd, or an address it cannot use, logged).
 * Call before any thread is started: it changes the environment.
 */
struct hb_sdnotify *hb_sdnotify_new(struct event_base *base);

/*
 * Sends state (one or more "KEY=value" lines) as one datagram. Returns 0,
 * or -1 (logged, at a limited rate). n may be NULL: then nothing is sent.
 */
int hb_sdnotify_send(struct hb_sdnotify *n, const char *state);

/* The watchdog interval systemd asked for, in µs; 0 when none. */
uint64_t hb_sdnotify_watchdog_usec(const struct hb_sdnotify *n);

/* Stops the timer and closes the socket; n may be NULL. */
void hb_sdnotify_free(struct hb_sdnotify *n);

#endif
