/*
 * A service under systemd's Type=notify and WatchdogSec=, with the test in
 * systemd's place: it listens on the datagram socket named by NOTIFY_SOCKET
 * (a path, then an abstract @name) and sees READY=1 once the service has
 * started, WATCHDOG=1 again and again from its loop while WATCHDOG_USEC is
 * set, and STOPPING=1 on SIGTERM. A WATCHDOG_PID naming another process
 * asks nothing of this one: no pings.
 */
#include "hbt.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

struct heard {
	int ready, watchdog, stopping;
	bool ready_first;	/* READY=1 came before any WATCHDOG=1 */
	char other[256];	/* anything else it said */
};

/* A datagram socket bound to name (a path, or "@x" for abstract). */
static int
listen_notify(const char *name)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	size_t len = strlen(name);
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	HBT_REQUIRE(fd >= 0 && len < sizeof(a.sun_path), "a datagram socket");
	memcpy(a.sun_path, name, len);
	if (name[0] == '@')
		a.sun_path[0] = '\0';
	HBT_REQUIRE(bind(fd, (struct sockaddr *)&a,
	    (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len)) == 0,
	    "bind %s: %s", name, strerror(errno));
	return fd;
}

/* Reads every datagram that arrives within wait_ms into h. */
static void
drain(int fd, struct heard *h, int wait_ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	char buf[512];
	ssize_t n;

	while (poll(&p, 1, wait_ms) == 1) {
		n = recv(fd, buf, sizeof(buf) - 1, 0);
		if (n <= 0)
			break;
		buf[n] = '\0';
		for (char *line = buf, *next; line && *line; line = next) {
			size_t used = strlen(h->other);

			next = strchr(line, '\n');
			if (next)
				*next++ = '\0';
			if (strcmp(line, "READY=1") == 0) {
				if (h->ready++ == 0 && h->watchdog == 0)
					h->ready_first = true;
			} else if (strcmp(line, "WATCHDOG=1") == 0) {
				h->watchdog++;
			} else if (strcmp(line, "STOPPING=1") == 0) {
				h->stopping++;
			} else {
				snprintf(h->other + used, sizeof(h->other) - used, "%s ",
				    line);
			}
		}
		wait_ms = 0;
	}
}

/* Waits up to timeout_ms for cond over what the socket has said. */
#define HEARD(fd, h, cond, timeout_ms) ({ \
	int64_t _end = hb_mono_ms() + (timeout_ms); \
	while (!(cond) && hb_mono_ms() < _end) drain((fd), (h), 50); \
	(cond); })

/*
 * Runs ingest (bus only) under a notify socket called name, with
 * WATCHDOG_USEC set and WATCHDOG_PID as given (NULL: unset).
 */
static void
run(const char *label, const char *name, int broker_port, bool own_pid)
{
	struct hbt_service svc;
	struct heard h = { 0 };
	struct hb_buf cfg = { 0 };
	int http = hbt_free_port();
	int fd = listen_notify(name);
	int st;

	hbt_log("-- %s: NOTIFY_SOCKET=%s", label, name);
	setenv("NOTIFY_SOCKET", name, 1);
	setenv("WATCHDOG_USEC", "200000", 1);	/* a ping every 100 ms */
	if (own_pid)
		unsetenv("WATCHDOG_PID");
	else
		setenv("WATCHDOG_PID", "1", 1);	/* someone else's watchdog */
	hbt_bus_service_config(&cfg, label, broker_port, label, http);
	HBT_REQUIRE(hbt_service_start(&svc, "ingest", label, cfg.data, http) == 0,
	    "%s: ingest starts", label);
	unsetenv("NOTIFY_SOCKET");
	unsetenv("WATCHDOG_USEC");
	unsetenv("WATCHDOG_PID");

	HBT_CHECK(HEARD(fd, &h, h.ready == 1, 10000), "%s: READY=1 (heard %d)",
	    label, h.ready);
	if (own_pid) {
		HBT_CHECK(HEARD(fd, &h, h.watchdog >= 5, 10000),
		    "%s: WATCHDOG=1 again and again from the loop (%d)", label,
		    h.watchdog);
		HBT_CHECK(h.ready_first, "%s: READY=1 before the first ping", label);
	}
	else {
		/* long enough for a wrongly armed timer to ping several times */
		HBT_CHECK(HBT_WAIT(hbt_metric(http, "homebus_ingest_bus_connected") == 1,
		    10000), "%s: on the bus", label);
		hbt_sleep_ms(500);
	}
	drain(fd, &h, 0);
	HBT_CHECK(h.stopping == 0, "%s: no STOPPING=1 while it runs", label);

	/* the datagrams wait in the socket: read them once it has exited */
	st = hbt_proc_stop(&svc.proc, SIGTERM, 15000);
	HBT_CHECK(st == 0, "%s: exits 0 after the drain (%d)", label, st);
	drain(fd, &h, 0);
	HBT_CHECK(h.stopping == 1, "%s: STOPPING=1 on SIGTERM (%d)", label,
	    h.stopping);
	HBT_CHECK(h.ready == 1, "%s: READY=1 once (%d)", label, h.ready);
	if (!own_pid)
		HBT_CHECK(h.watchdog == 0, "%s: WATCHDOG_PID of another process: no "
		    "pings (%d)", label, h.watchdog);
	HBT_CHECK(h.other[0] == '\0', "%s: nothing else said: %s", label, h.other);
	close(fd);
	hb_buf_free(&cfg);
}

int
main(void)
{
	struct hbt_broker broker;
	char path[600], abstract[128];

	hbt_init("sdnotify");
	HBT_REQUIRE(hbt_broker_start(&broker, NULL) == 0, "mosquitto");
	snprintf(path, sizeof(path), "%s/notify.sock", hbt_dir());
	run("path", path, broker.port, true);
	snprintf(abstract, sizeof(abstract), "@homebus-test-notify-%d", (int)getpid());
	run("abstract", abstract, broker.port, true);
	snprintf(abstract, sizeof(abstract), "@homebus-test-notify-other-%d",
	    (int)getpid());
	run("otherpid", abstract, broker.port, false);
	hbt_exit();
}
