/*
 * hbt: the test harness (see hbt.h).
 */
#include "hbt.h"

#include <MQTTAsync.h>
#include <curl/curl.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "hb_topic.h"

int hbt_failures;
static int hbt_checks;

static char test_name[64];
static char test_dir[512];

/* Every child started, by pid, so that none outlives the test. The tests'
 * struct hbt_proc may live on a stack frame that is gone by then. */
static struct {
	pid_t pid;
	char log[512];
} children[128];
static size_t nchildren;

/* ---------------- checks and lifecycle ---------------- */

void
hbt_log(const char *fmt, ...)
{
	char ts[40];
	va_list ap;

	hb_iso8601(hb_wall_ms(), ts, sizeof(ts));
	fprintf(stderr, "[%s %s] ", ts + 11, test_name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

bool
hbt_check(bool ok, const char *file, int line, const char *expr,
    const char *fmt, ...)
{
	va_list ap;

	hbt_checks++;
	if (ok)
		return true;
	hbt_failures++;
	fprintf(stderr, "FAIL %s:%d: %s: ", file, line, expr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return false;
}

static int
rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void
print_log_tail(const char *log)
{
	char *text = hb_read_file(log, 64 << 20, NULL);
	const char *start;
	int lines = 0;

	if (text == NULL)
		return;
	start = text + strlen(text);
	while (start > text && lines < 40)
		if (*--start == '\n')
			lines++;
	fprintf(stderr, "---- last lines of %s ----\n%s\n", log, start);
	free(text);
}

static void
child_gone(pid_t pid)
{
	for (size_t i = 0; i < nchildren; i++)
		if (children[i].pid == pid)
			children[i].pid = 0;
}

static void
kill_all(void)
{
	int64_t end;

	for (size_t i = 0; i < nchildren; i++)
		if (children[i].pid > 0)
			kill(children[i].pid, SIGTERM);
	end = hb_mono_ms() + 5000;
	for (size_t i = 0; i < nchildren; i++) {
		int status;

		while (children[i].pid > 0 && hb_mono_ms() < end &&
		    waitpid(children[i].pid, &status, WNOHANG) == 0)
			hbt_sleep_ms(20);
		if (children[i].pid > 0) {
			kill(children[i].pid, SIGKILL);
			waitpid(children[i].pid, &status, 0);
			children[i].pid = 0;
		}
	}
}

/* A sanitizer report in any child's log fails the test. */
static void
check_sanitizer_reports(void)
{
	static const char *const marks[] = { "ERROR: AddressSanitizer",
	    "ERROR: LeakSanitizer", "runtime error:" };

	for (size_t i = 0; i < nchildren; i++) {
		char *text = hb_read_file(children[i].log, 256 << 20, NULL);

		for (size_t k = 0; text && k < HB_ARRAY_LEN(marks); k++)
			if (strstr(text, marks[k])) {
				hbt_failures++;
				fprintf(stderr, "FAIL: %s in %s\n", marks[k], children[i].log);
				break;
			}
		free(text);
	}
}

void
hbt_exit(void)
{
	kill_all();
	check_sanitizer_reports();
	if (hbt_failures) {
		for (size_t i = 0; i < nchildren; i++) {
			bool seen = false;

			for (size_t k = 0; k < i; k++)
				if (strcmp(children[k].log, children[i].log) == 0)
					seen = true;
			if (!seen)
				print_log_tail(children[i].log);
		}
	}
	if (hbt_failures == 0 && getenv("HBT_KEEP") == NULL)
		nftw(test_dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	else
		fprintf(stderr, "test files kept in %s\n", test_dir);
	fprintf(stderr, "%s: %s (%d of %d checks failed)\n", test_name,
	    hbt_failures ? "FAILED" : "passed", hbt_failures, hbt_checks);
	/* a test that checked nothing has shown nothing */
	if (hbt_checks == 0) {
		fprintf(stderr, "%s: no check ran\n", test_name);
		exit(1);
	}
	exit(hbt_failures ? 1 : 0);
}

static void
on_fatal_signal(int sig)
{
	/* ctest's timeout or Ctrl-C: do not leave servers behind. */
	for (size_t i = 0; i < nchildren; i++)
		if (children[i].pid > 0)
			kill(children[i].pid, SIGKILL);
	signal(sig, SIG_DFL);
	raise(sig);
}

void
hbt_init(const char *name)
{
	const char *tmp = getenv("TMPDIR");

	snprintf(test_name, sizeof(test_name), "%s", name);
	snprintf(test_dir, sizeof(test_dir), "%s/hbt-%s-XXXXXX", tmp ? tmp : "/tmp",
	    name);
	if (mkdtemp(test_dir) == NULL) {
		perror("mkdtemp");
		exit(2);
	}
	signal(SIGPIPE, SIG_IGN);
	signal(SIGTERM, on_fatal_signal);
	signal(SIGINT, on_fatal_signal);
	signal(SIGABRT, on_fatal_signal);
	setvbuf(stderr, NULL, _IOLBF, 0);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	hbt_log("temp dir %s", test_dir);
}

const char *
hbt_dir(void)
{
	return test_dir;
}

const char *
hbt_bin_dir(void)
{
	const char *env = getenv("HBT_BIN_DIR");

	return env ? env : HBT_BIN_DIR;
}

void
hbt_sleep_ms(int64_t ms)
{
	struct timespec ts = { (time_t)(ms / 1000), (long)((ms % 1000) * 1000000) };

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

int
hbt_free_port(void)
{
	struct sockaddr_in sa;
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port;

	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
	    getsockname(fd, (struct sockaddr *)&sa, &len) != 0) {
		perror("free port");
		exit(2);
	}
	port = ntohs(sa.sin_port);
	close(fd);
	return port;
}

void
hbt_write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	if (f == NULL) {
		hbt_log("cannot write %s: %s", path, strerror(errno));
		hbt_failures++;
		hbt_exit();
	}
	fputs(text, f);
	fclose(f);
}

/* ---------------- processes ---------------- */

static int
spawn(struct hbt_proc *p, bool append)
{
	pid_t pid = fork();

	if (pid < 0)
		return -1;
	if (pid == 0) {
		int fd = open(p->log, O_WRONLY | O_CREAT | (append ? O_APPEND : O_TRUNC),
		    0644);

		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
			close(fd);
		}
		setpgid(0, 0);
		execv(p->argv[0], p->argv);
		fprintf(stderr, "exec %s: %s\n", p->argv[0], strerror(errno));
		_exit(127);
	}
	p->pid = pid;
	if (nchildren < HB_ARRAY_LEN(children)) {
		children[nchildren].pid = pid;
		snprintf(children[nchildren].log, sizeof(children[nchildren].log), "%s",
		    p->log);
		nchildren++;
	}
	return 0;
}

int
hbt_proc_start(struct hbt_proc *p, const char *name, char *const argv[])
{
	int i;

	memset(p, 0, sizeof(*p));
	snprintf(p->name, sizeof(p->name), "%s", name);
	snprintf(p->log, sizeof(p->log), "%s/%s.log", test_dir, name);
	for (i = 0; argv[i] && i < HBT_MAX_ARGS; i++) {
		snprintf(p->args[i], sizeof(p->args[i]), "%s", argv[i]);
		p->argv[i] = p->args[i];
	}
	p->argv[i] = NULL;
	return spawn(p, false);
}

int
hbt_proc_restart(struct hbt_proc *p)
{
	return spawn(p, true);
}

bool
hbt_proc_alive(struct hbt_proc *p)
{
	int status;

	if (p->pid <= 0)
		return false;
	if (waitpid(p->pid, &status, WNOHANG) == p->pid) {
		child_gone(p->pid);
		p->pid = 0;
		return false;
	}
	return true;
}

int
hbt_proc_stop(struct hbt_proc *p, int sig, int64_t timeout_ms)
{
	int64_t end = hb_mono_ms() + timeout_ms;
	int status;

	if (p->pid <= 0)
		return -1;
	kill(p->pid, sig);
	while (hb_mono_ms() < end) {
		pid_t r = waitpid(p->pid, &status, WNOHANG);

		if (r == p->pid) {
			child_gone(p->pid);
			p->pid = 0;
			return WIFEXITED(status) ? WEXITSTATUS(status) :
			    128 + WTERMSIG(status);
		}
		hbt_sleep_ms(20);
	}
	kill(p->pid, SIGKILL);
	waitpid(p->pid, &status, 0);
	child_gone(p->pid);
	p->pid = 0;
	return -1;
}

bool
hbt_proc_log_has(const struct hbt_proc *p, const char *s)
{
	char *text = hb_read_file(p->log, 256 << 20, NULL);
	bool found = text && strstr(text, s) != NULL;

	free(text);
	return found;
}

size_t
hbt_proc_log_count(const struct hbt_proc *p, const char *s)
{
	char *text = hb_read_file(p->log, 256 << 20, NULL);
	size_t n = 0;

	for (const char *at = text; at && (at = strstr(at, s)) != NULL; at++)
		n++;
	free(text);
	return n;
}

void
hbt_make_cert(const char *name, char *cert, char *key)
{
	struct hb_buf cmd = { 0 };

	snprintf(cert, 600, "%s/%s-cert.pem", test_dir, name);
	snprintf(key, 600, "%s/%s-key.pem", test_dir, name);
	hb_buf_printf(&cmd, "openssl req -x509 -newkey ec -pkeyopt "
	    "ec_paramgen_curve:prime256v1 -nodes -days 2 -subj /CN=homebus-test "
	    "-addext subjectAltName=IP:127.0.0.1 -keyout %s -out %s 2>/dev/null",
	    key, cert);
	HBT_REQUIRE(system(cmd.data) == 0, "openssl req (a test certificate)");
	hb_buf_free(&cmd);
}

int
hbt_check_config(const char *service, const char *json, struct hb_buf *out)
{
	char path[600], bin[600];
	char *argv[] = { bin, "--check-config", "-c", path, NULL };

	snprintf(path, sizeof(path), "%s/check.json", hbt_dir());
	snprintf(bin, sizeof(bin), "%s/homebus-%s", hbt_bin_dir(), service);
	hbt_write_file(path, json);
	hb_buf_reset(out);
	return hbt_run(argv, out, 10000);
}

int
hbt_run(char *const argv[], struct hb_buf *out, int64_t timeout_ms)
{
	int pipefd[2], status = 0;
	int64_t end = hb_mono_ms() + timeout_ms;
	pid_t pid;
	char chunk[4096];

	if (pipe(pipefd) != 0)
		return -1;
	pid = fork();
	if (pid == 0) {
		dup2(pipefd[1], 1);
		dup2(pipefd[1], 2);
		close(pipefd[0]);
		close(pipefd[1]);
		execv(argv[0], argv);
		_exit(127);
	}
	close(pipefd[1]);
	fcntl(pipefd[0], F_SETFL, O_NONBLOCK);
	for (;;) {
		ssize_t n = read(pipefd[0], chunk, sizeof(chunk));

		if (n > 0) {
			if (out)
				hb_buf_append(out, chunk, (size_t)n);
			continue;
		}
		if (n == 0)
			break;
		if (hb_mono_ms() > end) {
			kill(pid, SIGKILL);
			break;
		}
		hbt_sleep_ms(10);
	}
	close(pipefd[0]);
	waitpid(pid, &status, 0);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

bool
hbt_port_open(int port)
{
	struct sockaddr_in sa;
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	bool ok;

	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ok = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
	close(fd);
	return ok;
}

/*
 * Starts a server (bin -<flag> <dir>/<conf>), or restarts it with the same
 * command, and waits until ready(arg) says it answers or it died. 0 or -1.
 */
static int
server_spawn(struct hbt_proc *p, bool restart, const char *name,
    const char *bin, const char *flag, const char *dir, const char *conf,
    bool (*ready)(void *arg), void *arg, int64_t timeout_ms)
{
	bool up;

	if (restart)
		hbt_proc_restart(p);
	else {
		char path[600];
		char *argv[] = { (char *)bin, (char *)flag, path, NULL };

		snprintf(path, sizeof(path), "%s/%s", dir, conf);
		hbt_proc_start(p, name, argv);
	}
	up = HBT_WAIT(ready(arg) || !hbt_proc_alive(p), timeout_ms) &&
	    hbt_proc_alive(p);
	if (!up) {
		hbt_log("%s did not start", name);
		return -1;
	}
	return 0;
}

/* ---------------- mosquitto ---------------- */

static bool
broker_ready(void *arg)
{
	return hbt_port_open(((struct hbt_broker *)arg)->port);
}

static int
broker_spawn(struct hbt_broker *b, bool restart)
{
	return server_spawn(&b->proc, restart, "mosquitto", "/usr/sbin/mosquitto",
	    "-c", b->dir, "mosquitto.conf", broker_ready, b, 10000);
}

int
hbt_broker_start(struct hbt_broker *b, const char *extra)
{
	char path[600], conf[2048];

	memset(b, 0, sizeof(*b));
	snprintf(b->dir, sizeof(b->dir), "%s/mosquitto", test_dir);
	hb_mkdirs(b->dir);
	b->port = hbt_free_port();
	/* The durability settings of deploy/mosquitto.conf: a persistent store
	 * and queues large enough that nothing is dropped for a slow client. */
	snprintf(conf, sizeof(conf),
	    "listener %d 127.0.0.1\n"
	    "user root\n"
	    "allow_anonymous true\n"
	    "persistence true\n"
	    "persistence_location %s/\n"
	    "autosave_interval 60\n"
	    "max_queued_messages 2000000\n"
	    "max_queued_bytes 0\n"
	    "queue_qos0_messages true\n"
	    "max_inflight_messages 1000\n"
	    "set_tcp_nodelay true\n"
	    "log_dest stderr\n"
	    "log_type error\nlog_type warning\nlog_type notice\n"
	    "%s\n", b->port, b->dir, extra ? extra : "");
	snprintf(path, sizeof(path), "%s/mosquitto.conf", b->dir);
	hbt_write_file(path, conf);
	return broker_spawn(b, false);
}

int
hbt_broker_restart(struct hbt_broker *b)
{
	return broker_spawn(b, true);
}

void
hbt_broker_stop(struct hbt_broker *b)
{
	hbt_proc_stop(&b->proc, SIGTERM, 10000);
}

/* ---------------- influxd ---------------- */

static bool
influx_ready(void *arg)
{
	struct hbt_influx *ix = arg;
	char url[200];

	snprintf(url, sizeof(url), "%s/ping", ix->url);
	return hbt_http("GET", url, NULL, NULL) == 204;
}

static int
influx_spawn(struct hbt_influx *ix, bool restart)
{
	return server_spawn(&ix->proc, restart, "influxd", "/usr/bin/influxd",
	    "-config", ix->dir, "influxdb.conf", influx_ready, ix, 30000);
}

int
hbt_influx_start(struct hbt_influx *ix, const char *extra_http)
{
	char path[600], conf[4096];

	memset(ix, 0, sizeof(*ix));
	snprintf(ix->dir, sizeof(ix->dir), "%s/influxdb", test_dir);
	hb_mkdirs(ix->dir);
	ix->port = hbt_free_port();
	ix->rpc_port = hbt_free_port();
	snprintf(ix->url, sizeof(ix->url), "%s://127.0.0.1:%d",
	    extra_http && strstr(extra_http, "https-enabled = true") ? "https" : "http",
	    ix->port);
	snprintf(conf, sizeof(conf),
	    "reporting-disabled = true\n"
	    "bind-address = \"127.0.0.1:%d\"\n"
	    "[meta]\n  dir = \"%s/meta\"\n"
	    "[data]\n  dir = \"%s/data\"\n  wal-dir = \"%s/wal\"\n"
	    "  query-log-enabled = false\n"
	    "[http]\n  bind-address = \"127.0.0.1:%d\"\n  log-enabled = false\n"
	    "  max-row-limit = 0\n%s\n"
	    "[monitor]\n  store-enabled = false\n"
	    "[continuous_queries]\n  enabled = false\n"
	    "[logging]\n  level = \"warn\"\n",
	    ix->rpc_port, ix->dir, ix->dir, ix->dir, ix->port,
	    extra_http ? extra_http : "");
	snprintf(path, sizeof(path), "%s/influxdb.conf", ix->dir);
	hbt_write_file(path, conf);
	return influx_spawn(ix, false);
}

int
hbt_influx_restart(struct hbt_influx *ix)
{
	return influx_spawn(ix, true);
}

void
hbt_influx_kill(struct hbt_influx *ix)
{
	hbt_proc_stop(&ix->proc, SIGKILL, 5000);
}

json_t *
hbt_influx_query(struct hbt_influx *ix, const char *db, const char *q)
{
	CURL *c = curl_easy_init();
	struct hb_buf url = { 0 }, body = { 0 };
	char *eq = curl_easy_escape(c, q, 0);
	json_t *root;
	long st;

	hb_buf_printf(&url, "%s/query?db=%s&epoch=ns&q=%s", ix->url, db ? db : "", eq);
	curl_free(eq);
	curl_easy_cleanup(c);
	st = hbt_http(strncmp(q, "SELECT", 6) == 0 || strncmp(q, "SHOW", 4) == 0 ?
	    "GET" : "POST", url.data, NULL, &body);
	root = st == 200 ? json_loads(body.data, 0, NULL) : NULL;
	if (root == NULL)
		hbt_log("influx query failed status=%ld q=%s body=%.300s", st, q,
		    body.data ? body.data : "");
	hb_buf_free(&url);
	hb_buf_free(&body);
	return root;
}

int
hbt_influx_create_db(struct hbt_influx *ix, const char *db)
{
	struct hb_buf q = { 0 };
	json_t *r;

	hb_buf_printf(&q, "CREATE DATABASE \"%s\"", db);
	r = hbt_influx_query(ix, NULL, q.data);
	hb_buf_free(&q);
	json_decref(r);
	return r ? 0 : -1;
}

json_t *
hbt_influx_rows(struct hbt_influx *ix, const char *db, const char *q,
    json_t **root)
{
	json_t *series;

	*root = hbt_influx_query(ix, db, q);
	series = json_object_get(json_array_get(json_object_get(*root, "results"), 0),
	    "series");
	return json_object_get(json_array_get(series, 0), "values");
}

long long
hbt_influx_number(struct hbt_influx *ix, const char *db, const char *q)
{
	json_t *root, *rows = hbt_influx_rows(ix, db, q, &root);
	json_t *v = json_array_get(json_array_get(rows, 0), 1);
	long long n = -1;

	if (rows == NULL)
		n = 0;	/* no series: nothing matched */
	else if (json_is_number(v))
		n = (long long)json_number_value(v);
	json_decref(root);
	return n;
}

/* ---------------- HTTP ---------------- */

static size_t
collect(char *p, size_t size, size_t n, void *arg)
{
	if (arg)
		hb_buf_append(arg, p, size * n);
	return size * n;
}

/* A blocking request; the answer's Content-Type into ctype if not NULL. */
static long
http_request(const char *method, const char *url, const char *body,
    struct hb_buf *out, char *ctype, size_t ctypelen)
{
	CURL *c = curl_easy_init();
	long status = 0;
	char *type = NULL;

	if (ctype && ctypelen)
		ctype[0] = '\0';
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	if (body)
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 30000L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	/* The test's own look at a server with a test certificate; what is
	 * tested (the writer) verifies it. */
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
	if (curl_easy_perform(c) == CURLE_OK) {
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
		if (ctype && ctypelen && curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE,
		    &type) == CURLE_OK && type)
			snprintf(ctype, ctypelen, "%s", type);
	}
	curl_easy_cleanup(c);
	return status;
}

long
hbt_http(const char *method, const char *url, const char *body, struct hb_buf *out)
{
	return http_request(method, url, body, out, NULL, 0);
}

long
hbt_http_get(const char *url, struct hb_buf *out, char *ctype, size_t ctypelen)
{
	return http_request("GET", url, NULL, out, ctype, ctypelen);
}

/* ---------------- MQTT ---------------- */

struct hbt_mqtt {
	MQTTAsync client;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct hbt_mqtt_msg *msgs;
	size_t n, cap;
	int done;	/* results of the last synchronous call */
	int result;
};

void
hbt_msgs_add(struct hbt_mqtt_msg **msgs, size_t *n, size_t *cap,
    const char *topic, size_t topiclen, const char *payload, size_t len,
    bool retained)
{
	struct hbt_mqtt_msg *msg;

	if (*n == *cap) {
		*cap = *cap ? *cap * 2 : 64;
		*msgs = hb_xrealloc(*msgs, *cap * sizeof(**msgs));
	}
	msg = &(*msgs)[(*n)++];
	msg->topic = hb_xstrndup(topic, topiclen);
	msg->payload = hb_xstrndup(payload, len);
	msg->len = len;
	msg->retained = retained;
	msg->at_ms = hb_mono_ms();
}

static int
on_msg(void *ctx, char *topic, int tlen, MQTTAsync_message *pm)
{
	struct hbt_mqtt *m = ctx;

	pthread_mutex_lock(&m->lock);
	hbt_msgs_add(&m->msgs, &m->n, &m->cap, topic, tlen > 0 ? (size_t)tlen :
	    strlen(topic), pm->payload, (size_t)pm->payloadlen, pm->retained != 0);
	pthread_cond_broadcast(&m->cond);
	pthread_mutex_unlock(&m->lock);
	MQTTAsync_freeMessage(&pm);
	MQTTAsync_free(topic);
	return 1;
}

static void
sync_ok(void *ctx, MQTTAsync_successData *r)
{
	struct hbt_mqtt *m = ctx;

	(void)r;
	pthread_mutex_lock(&m->lock);
	m->done = 1;
	m->result = 0;
	pthread_cond_broadcast(&m->cond);
	pthread_mutex_unlock(&m->lock);
}

static void
sync_fail(void *ctx, MQTTAsync_failureData *r)
{
	struct hbt_mqtt *m = ctx;

	pthread_mutex_lock(&m->lock);
	m->done = 1;
	m->result = r ? (r->code ? r->code : -1) : -1;
	pthread_cond_broadcast(&m->cond);
	pthread_mutex_unlock(&m->lock);
}

static int
sync_wait(struct hbt_mqtt *m, int64_t timeout_ms)
{
	int64_t end = hb_mono_ms() + timeout_ms;
	int rc;

	pthread_mutex_lock(&m->lock);
	while (!m->done && hb_mono_ms() < end) {
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 50000000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&m->cond, &m->lock, &ts);
	}
	rc = m->done ? m->result : -1;
	m->done = 0;
	pthread_mutex_unlock(&m->lock);
	return rc;
}

static struct hbt_mqtt *
mqtt_connect(int port, const char *client_id, bool persistent)
{
	MQTTAsync_connectOptions co = MQTTAsync_connectOptions_initializer;
	struct hbt_mqtt *m = hb_xcalloc(1, sizeof(*m));
	char uri[64];

	snprintf(uri, sizeof(uri), "tcp://127.0.0.1:%d", port);
	pthread_mutex_init(&m->lock, NULL);
	pthread_cond_init(&m->cond, NULL);
	if (MQTTAsync_create(&m->client, uri, client_id, MQTTCLIENT_PERSISTENCE_NONE,
	    NULL) != MQTTASYNC_SUCCESS)
		goto err;
	MQTTAsync_setCallbacks(m->client, m, NULL, on_msg, NULL);
	co.cleansession = persistent ? 0 : 1;
	co.keepAliveInterval = 30;
	co.onSuccess = sync_ok;
	co.onFailure = sync_fail;
	co.context = m;
	co.automaticReconnect = 1;
	co.minRetryInterval = 1;
	co.maxRetryInterval = 2;
	if (MQTTAsync_connect(m->client, &co) != MQTTASYNC_SUCCESS ||
	    sync_wait(m, 10000) != 0)
		goto err;
	return m;
err:
	hbt_log("mqtt client %s cannot connect to port %d", client_id, port);
	hbt_mqtt_close(m);
	return NULL;
}

struct hbt_mqtt *
hbt_mqtt_connect(int port, const char *client_id)
{
	return mqtt_connect(port, client_id, false);
}

struct hbt_mqtt *
hbt_mqtt_connect_persistent(int port, const char *client_id)
{
	return mqtt_connect(port, client_id, true);
}

void
hbt_mqtt_close(struct hbt_mqtt *m)
{
	if (m == NULL)
		return;
	if (m->client) {
		MQTTAsync_disconnect(m->client, NULL);
		hbt_sleep_ms(50);
		MQTTAsync_destroy(&m->client);
	}
	hbt_mqtt_clear(m);
	free(m->msgs);
	free(m);
}

int
hbt_mqtt_subscribe(struct hbt_mqtt *m, const char *filter, int qos)
{
	MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;

	ro.onSuccess = sync_ok;
	ro.onFailure = sync_fail;
	ro.context = m;
	if (MQTTAsync_subscribe(m->client, filter, qos, &ro) != MQTTASYNC_SUCCESS)
		return -1;
	return sync_wait(m, 10000);
}

int
hbt_mqtt_publish(struct hbt_mqtt *m, const char *topic, const void *payload,
    size_t len, int qos, bool retained)
{
	MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;
	MQTTAsync_message msg = MQTTAsync_message_initializer;

	msg.payload = (void *)(uintptr_t)payload;
	msg.payloadlen = (int)len;
	msg.qos = qos;
	msg.retained = retained;
	ro.onSuccess = sync_ok;
	ro.onFailure = sync_fail;
	ro.context = m;
	if (MQTTAsync_sendMessage(m->client, topic, &msg, &ro) != MQTTASYNC_SUCCESS)
		return -1;
	return sync_wait(m, 10000);
}

size_t
hbt_mqtt_count(struct hbt_mqtt *m, const char *filter)
{
	return hbt_mqtt_count_with(m, filter, NULL);
}

size_t
hbt_msgs_count(const struct hbt_mqtt_msg *msgs, size_t n, const char *filter,
    const char *contains)
{
	size_t found = 0;

	for (size_t i = 0; i < n; i++)
		if (hb_topic_match(filter, msgs[i].topic, NULL, NULL, NULL) &&
		    (contains == NULL || strstr(msgs[i].payload, contains)))
			found++;
	return found;
}

size_t
hbt_mqtt_count_with(struct hbt_mqtt *m, const char *filter, const char *contains)
{
	size_t n;

	pthread_mutex_lock(&m->lock);
	n = hbt_msgs_count(m->msgs, m->n, filter, contains);
	pthread_mutex_unlock(&m->lock);
	return n;
}

json_t *
hbt_mqtt_payloads(struct hbt_mqtt *m, const char *filter, const char *contains)
{
	json_t *all = json_array();

	pthread_mutex_lock(&m->lock);
	for (size_t i = 0; i < m->n; i++)
		if (hb_topic_match(filter, m->msgs[i].topic, NULL, NULL, NULL) &&
		    (contains == NULL || strstr(m->msgs[i].payload, contains)))
			json_array_append_new(all, json_stringn(m->msgs[i].payload,
			    m->msgs[i].len));
	pthread_mutex_unlock(&m->lock);
	return all;
}

static struct hbt_mqtt_msg *
copy_msg(const struct hbt_mqtt_msg *src)
{
	struct hbt_mqtt_msg *c = hb_xmalloc(sizeof(*c));

	*c = *src;
	c->topic = hb_xstrdup(src->topic);
	c->payload = hb_xstrndup(src->payload, src->len);
	return c;
}

static bool
has_all(const char *payload, const char *const *all)
{
	for (size_t k = 0; all && all[k]; k++)
		if (strstr(payload, all[k]) == NULL)
			return false;
	return true;
}

struct hbt_mqtt_msg *
hbt_mqtt_wait(struct hbt_mqtt *m, const char *filter, const char *contains,
    int64_t timeout_ms)
{
	const char *all[2] = { contains, NULL };

	return hbt_mqtt_wait_all(m, filter, all, timeout_ms);
}

int
hbt_json_lines(const struct hb_buf *out)
{
	const char *p = out->data ? out->data : "";
	int n = 0;

	while (*p) {
		const char *nl = strchr(p, '\n');
		size_t len = nl ? (size_t)(nl - p) : strlen(p);

		if (len && *p == '{') {
			json_t *j = json_loadb(p, len, 0, NULL);

			if (j == NULL)
				return -1;
			json_decref(j);
			n++;
		}
		p += len + (nl != NULL);
	}
	return n;
}

const char *
hbt_json_str(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s ? s : "";
}

json_t *
hbt_deploy_state(struct hbt_mqtt *m, const char *id, const char *phase,
    int64_t timeout_ms)
{
	char want_id[128], want_phase[64];
	const char *all[] = { want_id, phase ? want_phase : NULL, NULL };
	struct hbt_mqtt_msg *msg;
	json_t *o;

	snprintf(want_id, sizeof(want_id), "\"id\":\"%s\"", id);
	snprintf(want_phase, sizeof(want_phase), "\"phase\":\"%s\"",
	    phase ? phase : "");
	msg = hbt_mqtt_wait_all(m, "homebus/deploy/state", all, timeout_ms);
	if (msg == NULL)
		return NULL;
	o = json_loads(msg->payload, 0, NULL);
	hbt_mqtt_msg_free(msg);
	return o;
}

void
hbt_deploy_phases(struct hbt_mqtt *m, const char *id, char *out,
    size_t outlen)
{
	char want[128], last[32] = "";
	json_t *all, *s;
	size_t i, len = 0;

	snprintf(want, sizeof(want), "\"id\":\"%s\"", id);
	all = hbt_mqtt_payloads(m, "homebus/deploy/state", want);
	out[0] = '\0';
	json_array_foreach(all, i, s) {
		json_t *o = json_loads(json_string_value(s), 0, NULL);
		const char *ph = hbt_json_str(o, "phase");

		if (strcmp(ph, last) != 0 && len < outlen)
			len += (size_t)snprintf(out + len, outlen - len, "%s%s",
			    len ? "," : "", ph);
		snprintf(last, sizeof(last), "%s", ph);
		json_decref(o);
	}
	json_decref(all);
}

struct hbt_mqtt_msg *
hbt_mqtt_wait_all(struct hbt_mqtt *m, const char *filter,
    const char *const *all, int64_t timeout_ms)
{
	int64_t end = hb_mono_ms() + timeout_ms;
	struct hbt_mqtt_msg *found = NULL;
	size_t i = 0;

	pthread_mutex_lock(&m->lock);
	for (;;) {
		for (; i < m->n && found == NULL; i++)
			if (hb_topic_match(filter, m->msgs[i].topic, NULL, NULL, NULL) &&
			    has_all(m->msgs[i].payload, all))
				found = copy_msg(&m->msgs[i]);
		if (found || hb_mono_ms() >= end)
			break;
		{
			struct timespec ts;

			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_nsec += 50000000;
			if (ts.tv_nsec >= 1000000000) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000;
			}
			pthread_cond_timedwait(&m->cond, &m->lock, &ts);
		}
	}
	pthread_mutex_unlock(&m->lock);
	return found;
}

struct hbt_mqtt_msg *
hbt_mqtt_last(struct hbt_mqtt *m, const char *topic)
{
	struct hbt_mqtt_msg *found = NULL;

	pthread_mutex_lock(&m->lock);
	for (size_t i = m->n; i > 0 && !found; i--)
		if (strcmp(m->msgs[i - 1].topic, topic) == 0)
			found = copy_msg(&m->msgs[i - 1]);
	pthread_mutex_unlock(&m->lock);
	return found;
}

struct hbt_mqtt_msg *
hbt_mqtt_nth(struct hbt_mqtt *m, const char *filter, size_t nth)
{
	struct hbt_mqtt_msg *found = NULL;

	pthread_mutex_lock(&m->lock);
	for (size_t i = 0; i < m->n && !found; i++)
		if (hb_topic_match(filter, m->msgs[i].topic, NULL, NULL, NULL) &&
		    nth-- == 0)
			found = copy_msg(&m->msgs[i]);
	pthread_mutex_unlock(&m->lock);
	return found;
}

long
hbt_mqtt_index_empty(struct hbt_mqtt *m, const char *topic)
{
	long found = -1;

	pthread_mutex_lock(&m->lock);
	for (size_t i = 0; i < m->n && found < 0; i++)
		if (m->msgs[i].len == 0 && strcmp(m->msgs[i].topic, topic) == 0)
			found = (long)i;
	pthread_mutex_unlock(&m->lock);
	return found;
}

void
hbt_mqtt_msg_free(struct hbt_mqtt_msg *msg)
{
	if (msg == NULL)
		return;
	free(msg->topic);
	free(msg->payload);
	free(msg);
}

void
hbt_mqtt_clear(struct hbt_mqtt *m)
{
	pthread_mutex_lock(&m->lock);
	for (size_t i = 0; i < m->n; i++) {
		free(m->msgs[i].topic);
		free(m->msgs[i].payload);
	}
	m->n = 0;
	pthread_mutex_unlock(&m->lock);
}

/* ---------------- loopback HTTP server ---------------- */

struct hbt_web {
	struct event_base *base;
	struct evhttp *http;
	struct event *tick;
	pthread_t thread;
	atomic_bool stop;
	int port;
	hbt_web_fn fn;
	void *arg;
};

static void
web_request(struct evhttp_request *req, void *arg)
{
	struct hbt_web *w = arg;
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
	const char *auth = evhttp_find_header(evhttp_request_get_input_headers(req),
	    "Authorization");
	struct hb_buf body = { 0 };
	struct evbuffer *out;
	int status = w->fn(path ? path : "/", auth, &body, w->arg);

	if (status == 0) {	/* never answered; evhttp frees it with the connection */
		hb_buf_free(&body);
		return;
	}
	out = evbuffer_new();
	if (body.len)
		evbuffer_add(out, body.data, body.len);
	evhttp_send_reply(req, status, "Status", out);
	evbuffer_free(out);
	hb_buf_free(&body);
}

static void
web_tick(evutil_socket_t fd, short what, void *arg)
{
	struct hbt_web *w = arg;

	(void)fd;
	(void)what;
	if (atomic_load(&w->stop))
		event_base_loopbreak(w->base);
}

static void *
web_main(void *arg)
{
	struct hbt_web *w = arg;

	event_base_dispatch(w->base);
	return NULL;
}

struct hbt_web *
hbt_web_start(hbt_web_fn fn, void *arg)
{
	struct hbt_web *w = hb_xcalloc(1, sizeof(*w));
	struct timeval tv = { 0, 50000 };

	w->fn = fn;
	w->arg = arg;
	w->base = event_base_new();
	w->http = evhttp_new(w->base);
	w->port = hbt_free_port();
	if (evhttp_bind_socket(w->http, "127.0.0.1", (ev_uint16_t)w->port) != 0) {
		hbt_log("web server cannot bind port %d", w->port);
		evhttp_free(w->http);
		event_base_free(w->base);
		free(w);
		return NULL;
	}
	evhttp_set_allowed_methods(w->http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD |
	    EVHTTP_REQ_POST);
	evhttp_set_gencb(w->http, web_request, w);
	w->tick = event_new(w->base, -1, EV_PERSIST, web_tick, w);
	event_add(w->tick, &tv);
	pthread_create(&w->thread, NULL, web_main, w);
	return w;
}

int
hbt_web_port(const struct hbt_web *w)
{
	return w->port;
}

void
hbt_web_stop(struct hbt_web *w)
{
	if (w == NULL)
		return;
	atomic_store(&w->stop, true);
	pthread_join(w->thread, NULL);
	evhttp_free(w->http);
	event_free(w->tick);
	event_base_free(w->base);
	free(w);
}

/* ---------------- load generator ---------------- */

/*
 * Messages are numbered (idx = first point / lines per message) and each
 * send of one carries a generation, so that a late answer to an earlier
 * send is told apart. The generator keeps its own account of what is
 * unacknowledged and sends it again, on a clean session, after a
 * reconnect, rather than rely on paho resuming the session: paho 1.3.11
 * was seen to send a malformed packet at every reconnect of a resumed v5
 * session with publishes in flight, and mosquitto dropped it each time.
 */
enum { M_UNSENT, M_FLYING, M_QUEUED, M_ACKED };

struct load_priv {
	pthread_mutex_t lock;
	uint8_t *state;		/* per message */
	uint32_t *gen;		/* per message: the current send */
	long *queue;		/* messages to send again */
	size_t nqueue;
	long flying_points;	/* M_FLYING and M_QUEUED */
	uint16_t *epoch_of;	/* per message: the connection its send was for */
	uint16_t epoch;		/* connections lost so far */
	int connects;
	bool slow;		/* the broker routed to nobody: pace re-sends */
};

struct load_ctx {
	struct hbt_load *l;
	long idx;
	uint32_t gen;
};

static int
load_count(const struct hbt_load *l, long idx)
{
	long first = idx * l->lines_per_msg;

	return (int)(l->points - first < l->lines_per_msg ? l->points - first :
	    l->lines_per_msg);
}

/* Under lock: marks idx to be sent again. */
static void
load_requeue(struct hbt_load *l, long idx)
{
	struct load_priv *p = l->priv;

	p->state[idx] = M_QUEUED;
	p->queue[p->nqueue++] = idx;
	atomic_store(&l->unrouted, (long)p->nqueue);
}

static void
load_acked(void *ctx, MQTTAsync_successData5 *r)
{
	struct load_ctx *c = ctx;
	struct hbt_load *l = c->l;
	struct load_priv *p = l->priv;
	int n = load_count(l, c->idx);

	pthread_mutex_lock(&p->lock);
	if (r && r->reasonCode == MQTTREASONCODE_NO_MATCHING_SUBSCRIBERS) {
		/* taken and routed to nobody (the writer has not re-subscribed
		 * since the broker restarted): sent again, as a homebus
		 * publisher does (bus opts.retry_unrouted_s) */
		atomic_fetch_add(&l->unrouted_total, 1);
		p->slow = true;
		if (p->state[c->idx] == M_FLYING && c->gen == p->gen[c->idx])
			load_requeue(l, c->idx);
	} else if (p->state[c->idx] != M_ACKED) {
		/* any send acknowledged: the broker has it */
		if (p->state[c->idx] == M_QUEUED) {
			/* drop it from the queue */
			for (size_t i = 0; i < p->nqueue; i++)
				if (p->queue[i] == c->idx) {
					p->queue[i] = p->queue[--p->nqueue];
					break;
				}
			atomic_store(&l->unrouted, (long)p->nqueue);
		}
		p->state[c->idx] = M_ACKED;
		p->flying_points -= n;
		for (int i = 0; i < n; i++)
			l->acked_map[c->idx * l->lines_per_msg + i] = 1;
		if (atomic_fetch_add(&l->acked, n) + n >= l->points)
			l->finished_ms = hb_mono_ms();
	}
	pthread_mutex_unlock(&p->lock);
	free(c);
}

static void
load_failed(void *ctx, MQTTAsync_failureData5 *r)
{
	struct load_ctx *c = ctx;
	struct load_priv *p = c->l->priv;

	(void)r;
	/* The connection went while it was in flight: sent again, as a device
	 * with QoS 1 does. A late answer to an earlier send is ignored. */
	pthread_mutex_lock(&p->lock);
	if (p->state[c->idx] == M_FLYING && c->gen == p->gen[c->idx])
		load_requeue(c->l, c->idx);
	pthread_mutex_unlock(&p->lock);
	free(c);
}

static void
load_lost(void *ctx, char *cause)
{
	struct load_priv *p = ((struct hbt_load *)ctx)->priv;

	(void)cause;
	pthread_mutex_lock(&p->lock);
	p->epoch++;
	pthread_mutex_unlock(&p->lock);
}

/*
 * Every reconnect: what was in flight on the lost connection goes again
 * (the clean session forgot it); what was sent since is in paho's buffer.
 */
static void
load_connected(void *ctx, char *cause)
{
	struct hbt_load *l = ctx;
	struct load_priv *p = l->priv;
	long nmsgs = (l->points + l->lines_per_msg - 1) / l->lines_per_msg;

	(void)cause;
	pthread_mutex_lock(&p->lock);
	if (p->connects++ > 0)
		for (long i = 0; i < nmsgs; i++)
			if (p->state[i] == M_FLYING && p->epoch_of[i] != p->epoch)
				load_requeue(l, i);
	pthread_mutex_unlock(&p->lock);
}

/* Sends message idx (a new generation of it). */
static int
load_send(struct hbt_load *l, long idx, struct hb_buf *payload, int64_t base_ns)
{
	struct load_priv *p = l->priv;
	MQTTAsync_message msg = MQTTAsync_message_initializer;
	MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;
	struct load_ctx *c = hb_xmalloc(sizeof(*c));
	long first = idx * l->lines_per_msg;
	int n = load_count(l, idx), rc;

	hb_buf_reset(payload);
	for (int i = 0; i < n; i++) {
		long seq = first + i;

		hb_buf_printf(payload, "%s,gen=%s seq=%ldi,v=%ld.5", l->measurement,
		    l->gen, seq, seq % 1000);
		if (l->explicit_time)
			hb_buf_printf(payload, " %lld", (long long)(base_ns + seq));
		hb_buf_putc(payload, '\n');
	}
	pthread_mutex_lock(&p->lock);
	if (p->state[idx] == M_UNSENT)
		p->flying_points += n;
	p->state[idx] = M_FLYING;
	p->epoch_of[idx] = p->epoch;
	c->l = l;
	c->idx = idx;
	c->gen = ++p->gen[idx];
	pthread_mutex_unlock(&p->lock);
	msg.payload = payload->data;
	msg.payloadlen = (int)payload->len - 1;
	msg.qos = l->qos;
	ro.onSuccess5 = load_acked;
	ro.onFailure5 = load_failed;
	ro.context = c;
	while ((rc = MQTTAsync_sendMessage(l->client, l->topic, &msg, &ro)) !=
	    MQTTASYNC_SUCCESS && !atomic_load(&l->stop))
		hbt_sleep_ms(5);
	if (rc != MQTTASYNC_SUCCESS)
		free(c);
	return rc;
}

static void *
load_thread(void *arg)
{
	struct hbt_load *l = arg;
	struct load_priv *p = l->priv;
	struct hb_buf payload = { 0 };
	int64_t base_ns = hb_wall_ns();
	long next = 0, nmsgs = (l->points + l->lines_per_msg - 1) / l->lines_per_msg;

	l->started_ms = hb_mono_ms();
	while (atomic_load(&l->acked) < l->points && !atomic_load(&l->stop)) {
		long idx = -1;
		bool slow;

		/* what must go again goes first */
		pthread_mutex_lock(&p->lock);
		if (p->nqueue)
			idx = p->queue[--p->nqueue];
		atomic_store(&l->unrouted, (long)p->nqueue);
		slow = p->slow;
		pthread_mutex_unlock(&p->lock);
		if (idx >= 0) {
			if (slow)
				hbt_sleep_ms(20);
			load_send(l, idx, &payload, base_ns);
			continue;
		}
		if (next >= nmsgs) {
			hbt_sleep_ms(5);
			continue;
		}
		if (l->points_per_s > 0) {
			int64_t due = l->started_ms + (int64_t)((double)(next *
			    l->lines_per_msg) * 1000.0 / l->points_per_s);
			int64_t now = hb_mono_ms();

			if (due > now)
				hbt_sleep_ms(due - now);
		}
		/* At most 400 points unacknowledged: well under the broker's
		 * receive maximum (1000), past which paho 1.3.12's send thread
		 * stalls and mosquitto drops the connection. */
		for (;;) {
			long flying;

			pthread_mutex_lock(&p->lock);
			flying = p->flying_points;
			pthread_mutex_unlock(&p->lock);
			if (flying <= 400 || atomic_load(&l->stop))
				break;
			hbt_sleep_ms(1);
		}
		if (load_send(l, next, &payload, base_ns) != MQTTASYNC_SUCCESS)
			break;
		atomic_fetch_add(&l->published, load_count(l, next));
		next++;
	}
	hb_buf_free(&payload);
	return NULL;
}

int
hbt_load_start(struct hbt_load *l)
{
	MQTTAsync_createOptions cro = MQTTAsync_createOptions_initializer5;
	MQTTAsync_connectOptions co = MQTTAsync_connectOptions_initializer5;
	MQTTAsync client;
	struct load_priv *p = hb_xcalloc(1, sizeof(*p));
	pthread_t *th = hb_xmalloc(sizeof(*th));
	char uri[64], id[96];
	long nmsgs;

	snprintf(uri, sizeof(uri), "tcp://127.0.0.1:%d", l->port);
	snprintf(id, sizeof(id), "hbt-load-%s-%d", l->gen, getpid());
	if (l->lines_per_msg <= 0)
		l->lines_per_msg = 1;
	if (!l->topic[0])
		snprintf(l->topic, sizeof(l->topic), "homebus/points/%s", l->measurement);
	nmsgs = (l->points + l->lines_per_msg - 1) / l->lines_per_msg;
	l->acked_map = hb_xcalloc((size_t)l->points + 1, 1);
	pthread_mutex_init(&p->lock, NULL);
	p->state = hb_xcalloc((size_t)nmsgs + 1, 1);
	p->gen = hb_xcalloc((size_t)nmsgs + 1, sizeof(uint32_t));
	p->queue = hb_xcalloc((size_t)nmsgs + 1, sizeof(long));
	p->epoch_of = hb_xcalloc((size_t)nmsgs + 1, sizeof(uint16_t));
	l->priv = p;
	cro.sendWhileDisconnected = 1;
	cro.maxBufferedMessages = 1000000;
	if (MQTTAsync_createWithOptions(&client, uri, id, MQTTCLIENT_PERSISTENCE_NONE,
	    NULL, &cro) != MQTTASYNC_SUCCESS)
		return -1;
	MQTTAsync_setConnected(client, l, load_connected);
	MQTTAsync_setConnectionLostCallback(client, l, load_lost);
	co.cleanstart = 1;
	co.automaticReconnect = 1;
	co.minRetryInterval = 1;
	co.maxRetryInterval = 2;
	co.keepAliveInterval = 30;
	if (MQTTAsync_connect(client, &co) != MQTTASYNC_SUCCESS)
		return -1;
	HBT_WAIT(MQTTAsync_isConnected(client), 10000);
	l->client = client;
	pthread_create(th, NULL, load_thread, l);
	l->thread = th;
	return 0;
}

bool
hbt_load_wait(struct hbt_load *l, int64_t timeout_ms)
{
	bool done = HBT_WAIT(atomic_load(&l->acked) + atomic_load(&l->failed) >=
	    l->points && atomic_load(&l->unrouted) == 0, timeout_ms);

	hbt_log("publisher: acked=%ld failed=%ld (broker routed %ld to nobody and "
	    "they were sent again)", atomic_load(&l->acked), atomic_load(&l->failed),
	    atomic_load(&l->unrouted_total));
	return done && atomic_load(&l->acked) >= l->points;
}

void
hbt_load_free(struct hbt_load *l)
{
	MQTTAsync client = l->client;

	atomic_store(&l->stop, true);
	if (l->thread) {
		pthread_join(*(pthread_t *)l->thread, NULL);
		free(l->thread);
		l->thread = NULL;
	}
	if (client) {
		MQTTAsync_disconnect(client, NULL);
		hbt_sleep_ms(100);
		MQTTAsync_destroy(&client);
		l->client = NULL;
	}
	free(l->acked_map);
	l->acked_map = NULL;
	if (l->priv) {
		struct load_priv *p = l->priv;

		free(p->state);
		free(p->gen);
		free(p->queue);
		free(p->epoch_of);
		pthread_mutex_destroy(&p->lock);
		free(p);
		l->priv = NULL;
	}
}

void
hbt_load_landed(struct hbt_load *l, struct hbt_influx *ix, const char *db,
    struct hbt_landed *out)
{
	struct hb_buf q = { 0 };
	json_t *root, *rows, *row;
	long *seqs;
	size_t i;

	hb_buf_printf(&q, "SELECT seq FROM \"%s\" WHERE gen='%s'", l->measurement,
	    l->gen);
	rows = hbt_influx_rows(ix, db, q.data, &root);
	seqs = hb_xcalloc(json_array_size(rows) + 1, sizeof(long));
	json_array_foreach(rows, i, row)
		seqs[i] = (long)json_integer_value(json_array_get(row, 1));
	hbt_load_tally(l, seqs, json_array_size(rows), out);
	free(seqs);
	json_decref(root);
	hb_buf_free(&q);
}

void
hbt_load_tally(struct hbt_load *l, const long *seqs, size_t n,
    struct hbt_landed *out)
{
	uint8_t *seen = hb_xcalloc((size_t)l->points + 1, 1);

	memset(out, 0, sizeof(*out));
	for (size_t i = 0; i < n; i++) {
		long s = seqs[i];

		out->rows++;
		if (s < 0 || s >= l->points)
			continue;
		if (seen[s])
			out->dups++;
		else {
			seen[s] = 1;
			out->distinct++;
		}
	}
	for (long s = 0; s < l->points; s++)
		if (l->acked_map[s] && !seen[s])
			out->missing++;
	free(seen);
}

/* ---------------- services ---------------- */

int
hbt_service_start(struct hbt_service *s, const char *service, const char *name,
    const char *config_json, int http_port)
{
	char bin[600];
	char *argv[] = { bin, "-c", s->config, NULL };
	char url[128];

	snprintf(bin, sizeof(bin), "%s/homebus-%s", hbt_bin_dir(), service);
	snprintf(s->config, sizeof(s->config), "%s/%s.json", test_dir, name);
	hbt_write_file(s->config, config_json);
	s->http_port = http_port;
	if (hbt_proc_start(&s->proc, name, argv) != 0)
		return -1;
	if (http_port <= 0)
		return 0;
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/metrics", http_port);
	if (!HBT_WAIT(hbt_http("GET", url, NULL, NULL) == 200 ||
	    !hbt_proc_alive(&s->proc), 10000) || !hbt_proc_alive(&s->proc)) {
		hbt_log("%s did not come up", name);
		return -1;
	}
	return 0;
}

double
hbt_metric(int http_port, const char *series)
{
	struct hb_buf body = { 0 };
	char url[128];
	double v = -1;
	size_t sl = strlen(series);

	snprintf(url, sizeof(url), "http://127.0.0.1:%d/metrics", http_port);
	if (hbt_http("GET", url, NULL, &body) == 200 && body.data) {
		for (char *line = body.data; line && *line; ) {
			char *nl = strchr(line, '\n');

			if (strncmp(line, series, sl) == 0 && line[sl] == ' ') {
				v = strtod(line + sl + 1, NULL);
				break;
			}
			line = nl ? nl + 1 : NULL;
		}
	}
	hb_buf_free(&body);
	return v;
}

void
hbt_writer_config(struct hb_buf *out, const char *name, int broker_port,
    const char *influx_url, int http_port, const char *writer_extra,
    const char *bus_extra)
{
	hb_buf_reset(out);
	hb_buf_printf(out,
	    "{\"data_dir\": \"%s/%s\",\n"
	    " \"log\": {\"format\": \"text\"},\n"
	    " \"bus\": {\"port\": %d, \"client_id\": \"%s\", \"instance\": \"%s\",\n"
	    "         \"reconnect_min_ms\": 100, \"reconnect_max_ms\": 1000,\n"
	    "         \"heartbeat_s\": 1%s%s},\n"
	    " \"writer\": {\"http_port\": %d, \"retry_max_ms\": 2000,\n"
	    "            \"influx\": {\"url\": \"%s\", \"db\": \"homebus\"}%s%s}}\n",
	    hbt_dir(), name, broker_port, name, name, bus_extra ? ", " : "",
	    bus_extra ? bus_extra : "", http_port, influx_url,
	    writer_extra ? ", " : "", writer_extra ? writer_extra : "");
}

void
hbt_health_config(struct hb_buf *out, const char *name, int broker_port,
    const char *instance, int http_port, const char *health_extra)
{
	hb_buf_reset(out);
	hb_buf_printf(out,
	    "{\"data_dir\": \"%s/%s\",\n"
	    " \"log\": {\"format\": \"text\"},\n"
	    " \"bus\": {\"port\": %d, \"client_id\": \"health-%s\", "
	    "\"instance\": \"%s\",\n"
	    "         \"reconnect_min_ms\": 100, \"reconnect_max_ms\": 1000,\n"
	    "         \"heartbeat_s\": 1},\n"
	    " \"health\": {\"http_port\": %d%s%s}}\n",
	    hbt_dir(), name, broker_port, instance, instance, http_port,
	    health_extra ? ", " : "", health_extra ? health_extra : "");
}

void
hbt_bus_service_config(struct hb_buf *out, const char *name, int broker_port,
    const char *instance, int http_port)
{
	hb_buf_reset(out);
	hb_buf_printf(out,
	    "{\"data_dir\": \"%s/%s\",\n"
	    " \"log\": {\"format\": \"text\"},\n"
	    " \"bus\": {\"port\": %d, \"client_id\": \"%s\", \"instance\": \"%s\",\n"
	    "         \"reconnect_min_ms\": 100, \"reconnect_max_ms\": 1000,\n"
	    "         \"heartbeat_s\": 1},\n"
	    " \"ingest\": {\"http_port\": %d}}\n",
	    hbt_dir(), name, broker_port, name, instance, http_port);
}
