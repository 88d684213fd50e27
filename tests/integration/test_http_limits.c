/*
 * The HTTP side of a service against clients that misbehave, over real
 * sockets: many idle connections (the server keeps at most its cap, and
 * drops the oldest first), an endless header (cut at the header limit),
 * a trickle of one byte at a time (closed at the request deadline, which
 * the bytes do not renew) — and meanwhile /health answers and points go on
 * through the writer into InfluxDB. The writer runs with 128 descriptors,
 * so its cap is a quarter of them. Also <service>.http_bind: health's page
 * on an address of its own while the others keep http.bind.
 */
#include "hbt.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#define IDLE 256
#define POINTS 50
/* An endless header is given up as "never cut" past this. */
#define ENDLESS_BOUND (16 << 20)

struct fixture {
	struct hbt_broker broker;
	struct hbt_influx influx;
	struct hbt_service writer;
	struct hbt_mqtt *pub;
	int http;
	int cap;
};

/* A blocking connection to 127.0.0.1:port (-1 if refused). */
static int
connect_to(const char *addr, int port)
{
	struct sockaddr_in sin;
	struct timeval tv = { 20, 0 };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)port);
	if (inet_pton(AF_INET, addr, &sin.sin_addr) != 1 ||
	    connect(fd, (struct sockaddr *)&sin, sizeof(sin)) != 0) {
		close(fd);
		return -1;
	}
	/* a server that neither reads nor closes must not hang the test */
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	return fd;
}

/* True once the server has closed its end (EOF or reset), without waiting. */
static bool
closed_by_server(int fd)
{
	char c;
	ssize_t n = recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);

	return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK);
}

/* Sends all of buf; false when the server closed the connection. */
static bool
send_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		buf += n;
		len -= (size_t)n;
	}
	return true;
}

/* ---- the attackers, each on a thread of its own ---- */

struct endless {
	int port;
	atomic_bool stop;
	long cut;		/* connections the server closed */
	long uncut;		/* connections that reached ENDLESS_BOUND */
	size_t most_sent;	/* the most bytes sent before a cut */
};

/* Opens a header and never ends it, again and again until told to stop. */
static void *
endless_run(void *arg)
{
	struct endless *e = arg;
	static const char start[] = "GET /health HTTP/1.1\r\nHost: x\r\nX-Endless: ";
	char chunk[4096];
	int sndbuf = 16 << 10;

	memset(chunk, 'a', sizeof(chunk));
	while (!atomic_load(&e->stop)) {
		int fd = connect_to("127.0.0.1", e->port);
		size_t sent = 0;
		bool open;

		if (fd < 0) {
			hbt_sleep_ms(20);
			continue;
		}
		/* What send() takes is then close to what reached the server,
		 * not megabytes queued here after the server stopped reading. */
		setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
		open = send_all(fd, start, sizeof(start) - 1);
		while (open && sent < ENDLESS_BOUND && !atomic_load(&e->stop)) {
			open = send_all(fd, chunk, sizeof(chunk));
			if (open)
				sent += sizeof(chunk);
		}
		if (!open) {
			e->cut++;
			if (sent > e->most_sent)
				e->most_sent = sent;
		} else if (sent >= ENDLESS_BOUND) {
			e->uncut++;
		}
		close(fd);
		hbt_sleep_ms(20);	/* a steady attack, not a CPU benchmark */
	}
	return NULL;
}

struct trickle {
	int port;
	bool closed;		/* by the server */
	size_t sent;		/* header bytes sent before that */
};

/* One header byte every 100 ms, until the server closes (or 90 s). */
static void *
trickle_run(void *arg)
{
	struct trickle *t = arg;
	static const char start[] = "GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: ";
	int64_t give_up = hb_mono_ms() + 90000;
	int fd = connect_to("127.0.0.1", t->port);

	if (fd < 0 || !send_all(fd, start, sizeof(start) - 1)) {
		t->closed = fd >= 0;
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	while (hb_mono_ms() < give_up) {
		if (closed_by_server(fd) || !send_all(fd, "s", 1)) {
			t->closed = true;
			break;
		}
		t->sent++;
		hbt_sleep_ms(100);
	}
	close(fd);
	return NULL;
}

/* ---- the checks ---- */

/* Opens n idle connections (no byte sent); the descriptors go into fds. */
static void
open_idle(struct fixture *f, int *fds, int n)
{
	for (int i = 0; i < n; i++)
		fds[i] = connect_to("127.0.0.1", f->http);
}

static int
count_closed(const int *fds, int n)
{
	int closed = 0;

	for (int i = 0; i < n; i++)
		closed += fds[i] < 0 || closed_by_server(fds[i]);
	return closed;
}

static void
close_all(int *fds, int n)
{
	for (int i = 0; i < n; i++)
		if (fds[i] >= 0)
			close(fds[i]);
}

/*
 * IDLE connections against a cap: the server closes all but its cap, and
 * the ones it closes are the oldest: at any moment the closed ones are a
 * prefix of the order they were opened in (seen from the newest back, so
 * that closes happening during the look keep it a prefix).
 */
static void
test_idle(struct fixture *f)
{
	int fds[IDLE];
	bool prefix = true, seen_closed = false;

	open_idle(f, fds, IDLE);
	HBT_CHECK(count_closed(fds, IDLE) < IDLE, "connections were accepted");
	HBT_CHECK(HBT_WAIT(count_closed(fds, IDLE) >= IDLE - f->cap, 30000),
	    "the server closed all but its cap of %d: %d of %d closed", f->cap,
	    count_closed(fds, IDLE), IDLE);
	for (int i = IDLE - 1; i >= 0; i--) {
		bool closed = fds[i] < 0 || closed_by_server(fds[i]);

		if (closed)
			seen_closed = true;
		else if (seen_closed)
			prefix = false;
	}
	HBT_CHECK(prefix, "the oldest were dropped first (an open connection "
	    "older than a closed one)");
	HBT_CHECK(hbt_metric(f->http, "homebus_writer_http_connections") <=
	    f->cap, "the server holds at most its cap");
	HBT_CHECK(hbt_metric(f->http,
	    "homebus_writer_http_connections_dropped_total{reason=\"limit\"}") >=
	    IDLE - f->cap, "the drops are counted");
	close_all(fds, IDLE);
}

static long long
landed(struct fixture *f)
{
	return hbt_influx_number(&f->influx, "homebus",
	    "SELECT count(seq) FROM limits");
}

/*
 * Everything at once: an endless header again and again, a trickle, idle
 * connections (half the cap: more would push the trickle out as the oldest
 * before its deadline, which test_idle shows); meanwhile /health answers and
 * points land.
 */
static void
test_under_attack(struct fixture *f)
{
	struct endless e = { .port = f->http };
	struct trickle t = { .port = f->http };
	pthread_t te, tt;
	int fds[IDLE], nidle = f->cap / 2;
	char url[128], line[128];
	long status;

	atomic_init(&e.stop, false);
	open_idle(f, fds, nidle);
	HBT_REQUIRE(pthread_create(&tt, NULL, trickle_run, &t) == 0, "trickle");
	HBT_REQUIRE(pthread_create(&te, NULL, endless_run, &e) == 0, "endless");

	snprintf(url, sizeof(url), "http://127.0.0.1:%d/health", f->http);
	status = hbt_http("GET", url, NULL, NULL);
	HBT_CHECK(status == 200, "/health answers under attack: %ld", status);
	for (int i = 1; i <= POINTS; i++) {
		snprintf(line, sizeof(line), "limits,run=attack seq=%di %d000000", i,
		    i);
		hbt_mqtt_publish(f->pub, "homebus/points/limits", line, strlen(line),
		    1, false);
	}
	HBT_CHECK(HBT_WAIT(landed(f) == POINTS, 60000), "all %d points landed "
	    "meanwhile: %lld", POINTS, landed(f));
	status = hbt_http("GET", url, NULL, NULL);
	HBT_CHECK(status == 200, "/health still answers: %ld", status);

	pthread_join(tt, NULL);
	atomic_store(&e.stop, true);
	pthread_join(te, NULL);
	HBT_CHECK(t.closed, "the trickle was closed by the server (%zu bytes "
	    "sent)", t.sent);
	HBT_CHECK(t.sent < 8192, "by the deadline, not the header limit (%zu "
	    "bytes)", t.sent);
	HBT_CHECK(hbt_metric(f->http,
	    "homebus_writer_http_connections_dropped_total{reason=\"deadline\"}") >=
	    1, "the deadline drop is counted");
	HBT_CHECK(e.cut >= 1 && e.uncut == 0, "every endless header was cut by "
	    "the server: %ld cut, %ld reached %d bytes", e.cut, e.uncut,
	    ENDLESS_BOUND);
	/* the kernel's socket buffers take some before the server reads */
	HBT_CHECK(e.most_sent < (1 << 20), "cut early: at most %zu bytes sent",
	    e.most_sent);
	HBT_CHECK(HBT_WAIT(count_closed(fds, nidle) == nidle, 30000), "the idle "
	    "connections were closed by the server at their deadline: %d of %d",
	    count_closed(fds, nidle), nidle);
	HBT_CHECK(hbt_proc_alive(&f->writer.proc), "the writer is up");
	close_all(fds, nidle);
}

/* health.http_bind: the page on its own address, http.bind for the rest. */
static void
test_own_bind(struct fixture *f)
{
	struct hbt_service health;
	struct hb_buf cfg = { 0 };
	int port = hbt_free_port();
	char url[128];
	long status;

	memset(&health, 0, sizeof(health));
	hb_buf_printf(&cfg, "{\"data_dir\": \"%s/health\", \"bus\": {\"port\": %d},"
	    " \"http\": {\"bind\": \"127.0.0.1\"},"
	    " \"health\": {\"http_port\": %d, \"http_bind\": \"127.0.0.2\"}}",
	    hbt_dir(), f->broker.port, port);
	HBT_REQUIRE(hbt_service_start(&health, "health", "health", cfg.data, 0) ==
	    0, "health");
	snprintf(url, sizeof(url), "http://127.0.0.2:%d/health", port);
	HBT_CHECK(HBT_WAIT((status = hbt_http("GET", url, NULL, NULL)) != 0,
	    10000), "health answers on its own address 127.0.0.2");
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/health", port);
	HBT_CHECK(hbt_http("GET", url, NULL, NULL) == 0, "and not on http.bind");
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/health", f->http);
	HBT_CHECK(hbt_http("GET", url, NULL, NULL) == 200, "the writer keeps "
	    "http.bind");
	hbt_proc_stop(&health.proc, SIGTERM, 10000);
	hb_buf_free(&cfg);
}

/* Starts the writer with only `nofile` descriptors (the test keeps its own). */
static void
start_writer(struct fixture *f, rlim_t nofile)
{
	struct hb_buf cfg = { 0 };
	struct rlimit saved, low;

	f->http = hbt_free_port();
	hbt_writer_config(&cfg, "writer", f->broker.port, f->influx.url, f->http,
	    NULL, NULL);
	HBT_REQUIRE(getrlimit(RLIMIT_NOFILE, &saved) == 0, "getrlimit");
	low = saved;
	low.rlim_cur = nofile < saved.rlim_cur ? nofile : saved.rlim_cur;
	HBT_REQUIRE(setrlimit(RLIMIT_NOFILE, &low) == 0, "setrlimit");
	HBT_REQUIRE(hbt_service_start(&f->writer, "writer", "writer", cfg.data,
	    f->http) == 0, "writer");
	HBT_REQUIRE(setrlimit(RLIMIT_NOFILE, &saved) == 0, "setrlimit back");
	HBT_REQUIRE(HBT_WAIT(hbt_metric(f->http, "homebus_writer_bus_connected") ==
	    1, 10000), "writer on the bus");
	f->cap = (int)hbt_metric(f->http, "homebus_writer_http_connections_max");
	HBT_CHECK(f->cap == (int)(low.rlim_cur / 4) || (f->cap == 64 &&
	    low.rlim_cur / 4 > 64), "the cap is a quarter of %ld descriptors: %d",
	    (long)low.rlim_cur, f->cap);
	hb_buf_free(&cfg);
}

int
main(void)
{
	struct fixture f;

	memset(&f, 0, sizeof(f));
	hbt_init("http_limits");
	HBT_REQUIRE(hbt_broker_start(&f.broker, NULL) == 0, "mosquitto");
	HBT_REQUIRE(hbt_influx_start(&f.influx, NULL) == 0, "influxd");
	HBT_REQUIRE(hbt_influx_create_db(&f.influx, "homebus") == 0, "database");
	start_writer(&f, 128);
	f.pub = hbt_mqtt_connect(f.broker.port, "pub");
	HBT_REQUIRE(f.pub != NULL, "publisher");
	test_idle(&f);
	test_under_attack(&f);
	test_own_bind(&f);
	hbt_mqtt_close(f.pub);
	hbt_exit();
}
