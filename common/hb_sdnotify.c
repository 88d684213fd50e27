/*
 * hb_sdnotify: sd_notify(3) and the watchdog over $NOTIFY_SOCKET, without
 * libsystemd (see hb_sdnotify.h).
 */
#include "hb_sdnotify.h"
#include "hb_log.h"
#include "hb_util.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

struct hb_sdnotify {
	int fd;
	struct sockaddr_un addr;
	socklen_t addr_len;
	uint64_t watchdog_usec;
	struct event *ev_watchdog;
	struct hb_ratelimit rl;
};

static void
on_watchdog(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	hb_sdnotify_send(arg, "WATCHDOG=1");
}

/*
 * The watchdog interval asked of this process: WATCHDOG_USEC, unless
 * WATCHDOG_PID names another process (a wrapper's). 0 when none.
 */
static uint64_t
watchdog_usec(void)
{
	const char *usec = getenv("WATCHDOG_USEC");
	const char *pid = getenv("WATCHDOG_PID");
	long long v;

	if (usec == NULL || hb_parse_ll(usec, 1, INT64_MAX, &v) != 0)
		return 0;
	if (pid != NULL) {
		long long p;

		if (hb_parse_ll(pid, 1, INT32_MAX, &p) != 0 || p != (long long)getpid())
			return 0;
	}
	return (uint64_t)v;
}

struct hb_sdnotify *
hb_sdnotify_new(struct event_base *base)
{
	const char *path = getenv("NOTIFY_SOCKET");
	struct hb_sdnotify *n;
	size_t len;

	if (path == NULL || path[0] == '\0')
		return NULL;
	len = strlen(path);
	n = hb_xcalloc(1, sizeof(*n));
	n->fd = -1;
	hb_ratelimit_init(&n->rl, 6, 3);
	n->watchdog_usec = watchdog_usec();
	unsetenv("NOTIFY_SOCKET");
	unsetenv("WATCHDOG_USEC");
	unsetenv("WATCHDOG_PID");
	if ((path[0] != '/' && path[0] != '@') || len >= sizeof(n->addr.sun_path)) {
		/* vsock: addresses (systemd in a VM's host) are not for us */
		hb_warn("NOTIFY_SOCKET=\"%s\" is not a unix socket path or @name; "
		    "systemd is not told when the service is ready", path);
		free(n);
		return NULL;
	}
	n->addr.sun_family = AF_UNIX;
	memcpy(n->addr.sun_path, path, len);
	if (path[0] == '@')
		n->addr.sun_path[0] = '\0';	/* abstract: no trailing NUL counted */
	n->addr_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len);
	n->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (n->fd < 0) {
		hb_warn("cannot open a socket for NOTIFY_SOCKET: %s", strerror(errno));
		free(n);
		return NULL;
	}
	if (n->watchdog_usec > 0) {
		/* half the interval, as sd_watchdog_enabled(3) advises: a late
		 * wake-up of a busy loop is not taken for a hang */
		n->ev_watchdog = event_new(base, -1, EV_PERSIST, on_watchdog, n);
		hb_timer_add_ms(n->ev_watchdog, (int64_t)(n->watchdog_usec / 2000));
	}
	return n;
}

int
hb_sdnotify_send(struct hb_sdnotify *n, const char *state)
{
	ssize_t r;

	if (n == NULL)
		return 0;
	r = sendto(n->fd, state, strlen(state), MSG_NOSIGNAL,
	    (const struct sockaddr *)&n->addr, n->addr_len);
	if (r < 0) {
		hb_log_limited(&n->rl, HB_LOG_WARN, "cannot tell systemd %s: %s",
		    state, strerror(errno));
		return -1;
	}
	return 0;
}

uint64_t
hb_sdnotify_watchdog_usec(const struct hb_sdnotify *n)
{
	return n ? n->watchdog_usec : 0;
}

void
hb_sdnotify_free(struct hb_sdnotify *n)
{
	if (n == NULL)
		return;
	if (n->ev_watchdog)
		event_free(n->ev_watchdog);
	if (n->fd >= 0)
		close(n->fd);
	free(n);
}
