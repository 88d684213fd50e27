/*
 * The writer's spool at its limits:
 *
 *   test_writer_spool diskfull  the spool's disk fills while InfluxDB is
 *       down: every point the broker acknowledged and the writer did not
 *       report dropped lands once InfluxDB is back, /health says why the
 *       spool is in trouble while it is, /health and /metrics answer while
 *       points pour in, the error is logged at a limited rate, and the
 *       spool puts itself right afterwards on the same small disk: /health
 *       200, its WAL no longer filling the disk, nothing left to replay,
 *       and a restart sends nothing InfluxDB already has.
 *   test_writer_spool smalldisk writer.spool.max_mb 2 on a 4 MB tmpfs: the
 *       cap covers the file and its WAL, so the disk never fills, the
 *       oldest points are dropped and counted, the rest land.
 *   test_writer_spool sentrestart  a restart on a full disk with batches
 *       that <spool>-sent names as taken by InfluxDB: none is sent again,
 *       and once the disk has room the spool deletes them by itself.
 *   test_writer_spool cap       writer.spool.max_mb: dead letters count
 *       against the cap and go first, the file and its WAL stay near the
 *       cap, and every point dropped is told on the bus once its window
 *       ends, even after the drops stopped.
 *
 * The full disk is a 3 MB tmpfs on the writer's data_dir. Where mount(2) is
 * not allowed (a container without CAP_SYS_ADMIN; or HBT_NO_MOUNT=1) the
 * writer runs under a 3 MB file size limit instead (prlimit(2) on its pid,
 * SIGXFSZ ignored): SQLite's files cannot grow, as on a full disk.
 */
#include "hbt.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#define DISK_BYTES (3 * 1024 * 1024)
#define MESSAGES 120
#define LINES 500

struct fixture {
	struct hbt_broker broker;
	struct hbt_influx influx;
	struct hbt_service writer;
	struct hbt_mqtt *bus;
	struct hb_buf cfg;
	int http;
	char data_dir[600];
	char spool[700];
};

static char mounted[600];

static void
unmount_at_exit(void)
{
	if (mounted[0] && umount2(mounted, MNT_DETACH) == 0)
		rmdir(mounted);
}

/* A small file system of `bytes` for the writer's data_dir; false if not allowed. */
static bool
mount_small_disk(const char *dir, long bytes)
{
	char opts[64];

	if (getenv("HBT_NO_MOUNT"))
		return false;
	snprintf(opts, sizeof(opts), "size=%ld", bytes);
	if (mount("tmpfs", dir, "tmpfs", 0, opts) != 0) {
		hbt_log("cannot mount a tmpfs on %s (%s)", dir, strerror(errno));
		return false;
	}
	snprintf(mounted, sizeof(mounted), "%s", dir);
	atexit(unmount_at_exit);
	return true;
}

static void
setup(struct fixture *f, const char *writer_extra)
{
	HBT_REQUIRE(hbt_broker_start(&f->broker, NULL) == 0, "mosquitto");
	HBT_REQUIRE(hbt_influx_start(&f->influx, NULL) == 0, "influxd");
	HBT_REQUIRE(hbt_influx_create_db(&f->influx, "homebus") == 0, "database");
	f->http = hbt_free_port();
	snprintf(f->data_dir, sizeof(f->data_dir), "%s/writer", hbt_dir());
	snprintf(f->spool, sizeof(f->spool), "%s/writer-spool.db", f->data_dir);
	HBT_REQUIRE(hb_mkdirs(f->data_dir) == 0, "data_dir");
	hbt_writer_config(&f->cfg, "writer", f->broker.port, f->influx.url, f->http,
	    writer_extra, NULL);
	f->bus = hbt_mqtt_connect(f->broker.port, "test");
	HBT_REQUIRE(f->bus != NULL, "test client");
}

/*
 * Limits the files the writer writes to `bytes` (RLIM_INFINITY: no limit).
 * SIGXFSZ is ignored in the test, and so in the writer it forked: a write
 * past the limit fails with EFBIG instead of killing it.
 */
static void
limit_writer_files(struct fixture *f, rlim_t bytes)
{
	struct rlimit rl = { bytes, RLIM_INFINITY };
	int rc = prlimit(f->writer.proc.pid, RLIMIT_FSIZE, &rl, NULL);

	HBT_REQUIRE(rc == 0, "prlimit: %s", strerror(errno));
}

static void
start_writer(struct fixture *f)
{
	signal(SIGXFSZ, SIG_IGN);
	HBT_REQUIRE(hbt_service_start(&f->writer, "writer", "writer", f->cfg.data,
	    f->http) == 0, "writer");
	HBT_REQUIRE(HBT_WAIT(hbt_metric(f->http, "homebus_writer_bus_connected") == 1,
	    10000), "writer on the bus");
	hbt_sleep_ms(300);
}

static long long
count(struct fixture *f, const char *q)
{
	return hbt_influx_number(&f->influx, "homebus", q);
}

/* One number from the spool file (after the writer stopped), or -1. */
static long long
spool_number(struct fixture *f, const char *sql)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	long long n = -1;

	if (sqlite3_open_v2(f->spool, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK)
		return -1;
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return n;
}

/* Batches left in the spool file (after the writer stopped). */
static long long
rows_in_spool(struct fixture *f)
{
	return spool_number(f, "SELECT count(*) FROM batch");
}

/* How many lines of the writer's log hold s. */
static int
log_lines_with(struct fixture *f, const char *s)
{
	FILE *fp = fopen(f->writer.proc.log, "r");
	char line[4096];
	int n = 0;

	if (fp == NULL)
		return -1;
	while (fgets(line, sizeof(line), fp))
		if (strstr(line, s))
			n++;
	fclose(fp);
	return n;
}

/* GET /health: its status (0: no answer) and whether it names the spool. */
static long
health(struct fixture *f, bool *spool_trouble)
{
	struct hb_buf body = { 0 };
	char url[128];
	long st;

	snprintf(url, sizeof(url), "http://127.0.0.1:%d/health", f->http);
	st = hbt_http("GET", url, NULL, &body);
	if (spool_trouble && body.data && strstr(body.data, "spool: cannot write") &&
	    (strstr(body.data, "\"status\":\"degraded\"") ||
	    strstr(body.data, "\"status\":\"down\"")))
		*spool_trouble = true;
	hb_buf_free(&body);
	return st;
}

/*
 * 60,000 points of ~100 bytes (twice what a 3 MB disk holds), asking for
 * /health and /metrics as they pour in: the points the broker
 * acknowledged. *trouble as health() says, *unanswered when /health or
 * /metrics did not answer, *spool_failed when homebus_writer_spool_ok was 0.
 */
static long
pour_points(struct fixture *f, bool *trouble, bool *unanswered,
    bool *spool_failed)
{
	struct hb_buf msg = { 0 };
	long acked = 0;

	for (int m = 0; m < MESSAGES; m++) {
		hb_buf_reset(&msg);
		for (int i = 0; i < LINES; i++) {
			long seq = (long)m * LINES + i;

			hb_buf_printf(&msg, "full,run=e seq=%ldi,pad=\"%060d\" %lld\n", seq,
			    i, 1764800000000000000LL + seq * 1000);
		}
		if (hbt_mqtt_publish(f->bus, "homebus/points/full", msg.data, msg.len - 1,
		    1, false) == 0)
			acked += LINES;
		if (m % 10 == 9) {
			if (health(f, trouble) == 0 || hbt_metric(f->http,
			    "homebus_writer_points_received_total") < 0)
				*unanswered = true;
			if (hbt_metric(f->http, "homebus_writer_spool_ok") == 0)
				*spool_failed = true;
		}
	}
	hb_buf_free(&msg);
	return acked;
}

static void
scenario_diskfull(struct fixture *f)
{
	bool tmpfs, trouble = false, unanswered = false, spool_failed = false;
	struct stat st;
	char wal[720];
	long acked;
	int logged;
	double dropped;

	setup(f, NULL);
	tmpfs = mount_small_disk(f->data_dir, DISK_BYTES);
	hbt_log("the spool's disk: %s", tmpfs ? "a 3 MB tmpfs" :
	    "a 3 MB file size limit (no tmpfs here)");
	start_writer(f);
	if (!tmpfs)
		limit_writer_files(f, DISK_BYTES);
	hbt_log("killing influxd");
	hbt_influx_kill(&f->influx);
	acked = pour_points(f, &trouble, &unanswered, &spool_failed);
	HBT_CHECK(acked == (long)MESSAGES * LINES, "the broker acknowledged %ld "
	    "points", acked);
	HBT_CHECK(HBT_WAIT(hbt_metric(f->http, "homebus_writer_points_received_total")
	    == (double)acked, 60000), "the writer took them all (%g)",
	    hbt_metric(f->http, "homebus_writer_points_received_total"));
	HBT_CHECK(!unanswered, "/health and /metrics answered while points poured in");
	/* what the test is about: the disk did fill */
	HBT_REQUIRE(HBT_WAIT(spool_failed || hbt_metric(f->http,
	    "homebus_writer_spool_ok") == 0, 30000), "the spool's disk filled up");
	HBT_CHECK(HBT_WAIT((health(f, &trouble), trouble), 10000),
	    "/health said degraded or down, naming the spool's trouble");
	HBT_CHECK(health(f, NULL) == 503, "and answered 503");

	HBT_REQUIRE(hbt_influx_restart(&f->influx) == 0, "influxd restarts");
	hbt_log("influxd is back");
	dropped = hbt_metric(f->http, "homebus_writer_points_dropped_total");
	HBT_CHECK(HBT_WAIT(count(f, "SELECT count(seq) FROM full") + (long long)dropped
	    >= acked, 120000), "every acknowledged point not reported dropped "
	    "landed: %lld of %ld, %g dropped", count(f, "SELECT count(seq) FROM full"),
	    acked, dropped);
	HBT_CHECK(dropped == 0, "none had to be dropped (memory_max_mb holds them)");
	HBT_CHECK(HBT_WAIT(hbt_metric(f->http, "homebus_writer_spool_points") == 0,
	    30000), "nothing waits to be sent");
	/* No more room than before: the WAL the spool filled the disk with
	 * holds the sent batches, and deleting them needed room in it. */
	HBT_CHECK(HBT_WAIT(health(f, NULL) == 200, 30000), "the spool put itself "
	    "right on the same disk: whole, and /health is 200 again");
	snprintf(wal, sizeof(wal), "%s-wal", f->spool);
	memset(&st, 0, sizeof(st));
	stat(wal, &st);
	HBT_CHECK(st.st_size <= DISK_BYTES / 4, "its WAL no longer fills the disk "
	    "(%lld bytes)", (long long)st.st_size);
	logged = log_lines_with(f, "cannot write");
	hbt_log("lines about the spool's trouble in the log: %d", logged);
	HBT_CHECK(logged >= 1 && logged <= 30, "the trouble was logged at a limited "
	    "rate (%d lines)", logged);

	HBT_CHECK(hbt_proc_stop(&f->writer.proc, SIGTERM, 15000) == 0,
	    "the writer stopped cleanly");
	HBT_CHECK(rows_in_spool(f) == 0, "no batch is left to be replayed at the "
	    "next start (%lld)", rows_in_spool(f));
	HBT_REQUIRE(hbt_proc_restart(&f->writer.proc) == 0, "the writer restarts");
	HBT_REQUIRE(HBT_WAIT(hbt_metric(f->http, "homebus_writer_bus_connected") == 1,
	    10000), "writer back on the bus");
	HBT_CHECK(HBT_WAIT(health(f, NULL) == 200, 10000), "/health is 200 at once");
	HBT_CHECK(hbt_metric(f->http, "homebus_writer_points_written_total") == 0 &&
	    hbt_metric(f->http, "homebus_writer_batches_replayed_total") == 0,
	    "and nothing InfluxDB took was sent again (%g points)",
	    hbt_metric(f->http, "homebus_writer_points_written_total"));
	HBT_CHECK(count(f, "SELECT count(seq) FROM full") == acked, "InfluxDB "
	    "holds every point once: %lld", count(f, "SELECT count(seq) FROM full"));
	HBT_CHECK(hbt_proc_stop(&f->writer.proc, SIGTERM, 15000) == 0,
	    "the writer stopped cleanly");
	if (tmpfs && umount2(f->data_dir, 0) == 0)
		mounted[0] = '\0';
}

/*
 * A 4 MB disk and writer.spool.max_mb 2: the cap, not the disk, bounds the
 * spool. The file on disk never shrinks, so its size at the end is the
 * most it ever took.
 */
static void
scenario_smalldisk(struct fixture *f)
{
	bool tmpfs, trouble = false, unanswered = false, spool_failed = false;
	struct stat st;
	char wal[720];
	long long file;
	long acked;
	double dropped;

	setup(f, "\"spool\": {\"max_mb\": 2}");
	tmpfs = mount_small_disk(f->data_dir, 4 * 1024 * 1024);
	hbt_log("the spool's disk: %s", tmpfs ? "a 4 MB tmpfs" :
	    "the test's own (no tmpfs here: the cap alone is checked)");
	start_writer(f);
	hbt_influx_kill(&f->influx);
	acked = pour_points(f, &trouble, &unanswered, &spool_failed);
	HBT_CHECK(HBT_WAIT(hbt_metric(f->http, "homebus_writer_points_received_total")
	    == (double)acked, 60000), "the writer took them all");
	dropped = hbt_metric(f->http, "homebus_writer_points_dropped_total");
	HBT_CHECK(dropped > 0, "the cap dropped the oldest (%g points)", dropped);
	HBT_CHECK(!spool_failed && hbt_metric(f->http, "homebus_writer_spool_ok") == 1,
	    "the disk never refused a write: the cap held the spool under it");
	memset(&st, 0, sizeof(st));
	stat(f->spool, &st);
	file = (long long)st.st_size;
	snprintf(wal, sizeof(wal), "%s-wal", f->spool);
	memset(&st, 0, sizeof(st));
	stat(wal, &st);
	hbt_log("file %lld bytes, WAL %lld", file, (long long)st.st_size);
	HBT_CHECK(file + (long long)st.st_size <= 2 * 1024 * 1024, "the file, at "
	    "the most it ever took, and its WAL are under the cap: %lld + %lld",
	    file, (long long)st.st_size);
	HBT_CHECK(st.st_size <= 512 * 1024, "the WAL is kept to a quarter of the "
	    "cap (%lld)", (long long)st.st_size);

	HBT_REQUIRE(hbt_influx_restart(&f->influx) == 0, "influxd restarts");
	HBT_CHECK(HBT_WAIT(count(f, "SELECT count(seq) FROM full") + (long long)dropped
	    == acked, 60000), "every point not dropped landed: %lld + %g of %ld",
	    count(f, "SELECT count(seq) FROM full"), dropped, acked);
	HBT_CHECK(HBT_WAIT(health(f, NULL) == 200, 30000), "/health is 200");
	HBT_CHECK(hbt_proc_stop(&f->writer.proc, SIGTERM, 15000) == 0,
	    "the writer stopped cleanly");
	if (tmpfs && umount2(f->data_dir, 0) == 0)
		mounted[0] = '\0';
}

/* Fills what is left of the disk at dir with one file; its path in out. */
static void
fill_disk(const char *dir, char *out, size_t outlen)
{
	char block[4096];
	int fd;

	memset(block, 'x', sizeof(block));
	snprintf(out, outlen, "%s/filler", dir);
	fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	HBT_REQUIRE(fd >= 0, "filler: %s", strerror(errno));
	while (write(fd, block, sizeof(block)) > 0)
		;
	close(fd);
}

/*
 * The writer is killed with batches on a full disk, which <spool>-sent
 * names as taken by InfluxDB (written here the way the writer writes it
 * when a delete fails): the next start sends none of them, /health says
 * the spool's trouble, and once the disk has room the rows are deleted.
 */
static void
scenario_sentrestart(struct fixture *f)
{
	struct {
		char magic[8];
		uint32_t n, reserved;
		int64_t lo, hi;
	} sent = { "HBSENT1\n", 1, 0, 1, 0 };
	bool trouble = false;
	char filler[800], path[800];
	int fd;

	setup(f, NULL);
	if (!mount_small_disk(f->data_dir, DISK_BYTES)) {
		hbt_log("SKIPPED: cannot mount a tmpfs here (this scenario needs a "
		    "full disk that the writer's own files did not fill)");
		return;
	}
	start_writer(f);
	hbt_influx_kill(&f->influx);
	for (int m = 0; m < 10; m++) {
		char line[128];

		snprintf(line, sizeof(line), "taken,run=s seq=%di %lld", m,
		    1764800000000000000LL + m);
		hbt_mqtt_publish(f->bus, "homebus/points/taken", line, strlen(line), 1,
		    false);
	}
	HBT_REQUIRE(HBT_WAIT(hbt_metric(f->http, "homebus_writer_spool_points") == 10,
	    10000), "ten points spooled");
	hbt_sleep_ms(500);	/* committed, not staged */
	fill_disk(f->data_dir, filler, sizeof(filler));
	HBT_REQUIRE(hbt_proc_stop(&f->writer.proc, SIGKILL, 5000) == 128 + SIGKILL,
	    "killed");
	sent.hi = spool_number(f, "SELECT max(id) FROM batch");
	HBT_REQUIRE(sent.hi > 0, "batches on disk (%lld)", (long long)sent.hi);
	snprintf(path, sizeof(path), "%s-sent", f->spool);
	fd = open(path, O_WRONLY);
	HBT_REQUIRE(fd >= 0 && pwrite(fd, &sent, sizeof(sent), 0) ==
	    (ssize_t)sizeof(sent), "%s names them taken", path);
	close(fd);

	HBT_REQUIRE(hbt_influx_restart(&f->influx) == 0, "influxd restarts");
	HBT_REQUIRE(hbt_proc_restart(&f->writer.proc) == 0, "the writer restarts");
	HBT_REQUIRE(HBT_WAIT(hbt_metric(f->http, "homebus_writer_bus_connected") == 1,
	    10000), "writer back on the bus");
	HBT_CHECK(HBT_WAIT((health(f, &trouble), trouble), 10000), "/health names "
	    "the spool's trouble: the disk will not let it delete them");
	HBT_CHECK(hbt_metric(f->http, "homebus_writer_spool_points") == 0,
	    "nothing counts as waiting");
	unlink(filler);
	HBT_CHECK(HBT_WAIT(health(f, NULL) == 200, 15000), "with room on the disk "
	    "the spool is whole again by itself");
	HBT_CHECK(hbt_metric(f->http, "homebus_writer_points_written_total") == 0 &&
	    count(f, "SELECT count(seq) FROM taken") <= 0, "and none of what "
	    "InfluxDB had taken was sent again (%g)", hbt_metric(f->http,
	    "homebus_writer_points_written_total"));
	HBT_CHECK(hbt_proc_stop(&f->writer.proc, SIGTERM, 15000) == 0,
	    "the writer stopped cleanly");
	HBT_CHECK(rows_in_spool(f) == 0, "the rows were deleted (%lld)",
	    rows_in_spool(f));
	if (umount2(f->data_dir, 0) == 0)
		mounted[0] = '\0';
}

/* Sum of the points told dropped in notifications so far. */
static long
told_dropped(struct fixture *f, int *notes)
{
	const char *tag = "dropped ";
	long total = 0;

	*notes = 0;
	for (size_t i = 0;; i++) {
		struct hbt_mqtt_msg *m = hbt_mqtt_nth(f->bus, "homebus/notify/warning", i);
		const char *p;

		if (m == NULL)
			break;
		p = strstr(m->payload, tag);
		if (p && strstr(m->payload, "homebus-writer")) {
			total += strtol(p + strlen(tag), NULL, 10);
			(*notes)++;
		}
		hbt_mqtt_msg_free(m);
	}
	return total;
}

static void
scenario_cap(struct fixture *f)
{
	struct hb_buf msg = { 0 };
	struct stat st;
	char wal[720];
	double dropped = 0, dead_dropped;
	int notes = 0;
	long told;
	long long file;
	bool ok;

	setup(f, "\"batch_size\": 500, \"spool\": {\"max_mb\": 1, "
	    "\"drop_notify_s\": 3}");
	HBT_REQUIRE(hbt_mqtt_subscribe(f->bus, "homebus/notify/#", 1) == 0,
	    "subscribe to notifications");
	start_writer(f);

	/* ~2 MB of dead letters: strings where InfluxDB has floats */
	hbt_mqtt_publish(f->bus, "homebus/points/dl", "dl v=1 1", 8, 1, false);
	HBT_REQUIRE(HBT_WAIT(count(f, "SELECT count(v) FROM dl") == 1, 10000),
	    "v is a float");
	/* one message at a time: a burst of 2 MB would be cut by the cap before
	 * InfluxDB had refused it */
	for (int m = 0; m < 20; m++) {
		hb_buf_reset(&msg);
		for (int i = 0; i < 500; i++)
			hb_buf_printf(&msg, "dl v=\"%0180d\" %d\n", i, m * 500 + i + 2);
		hbt_mqtt_publish(f->bus, "homebus/points/dl", msg.data, msg.len - 1, 1,
		    false);
		HBT_REQUIRE(HBT_WAIT(hbt_metric(f->http,
		    "homebus_writer_points_dead_lettered_total") == (m + 1) * 500.0,
		    10000), "%d lines dead-lettered (%g)", (m + 1) * 500,
		    hbt_metric(f->http, "homebus_writer_points_dead_lettered_total"));
	}
	dead_dropped = hbt_metric(f->http, "homebus_writer_dead_letters_dropped_total");
	HBT_CHECK(dead_dropped > 0, "the oldest dead letters made room (%g points)",
	    dead_dropped);

	/* InfluxDB away: ~3 MB of points in three bursts, a window apart */
	hbt_influx_kill(&f->influx);
	for (int burst = 0; burst < 3; burst++) {
		for (int m = 0; m < 20; m++) {
			hb_buf_reset(&msg);
			for (int i = 0; i < 500; i++)
				hb_buf_printf(&msg, "capped,b=%d seq=%di,pad=\"%060d\" %d\n",
				    burst, m * 500 + i, i, (burst * 20 + m) * 500 + i + 1);
			hbt_mqtt_publish(f->bus, "homebus/points/capped", msg.data,
			    msg.len - 1, 1, false);
		}
		HBT_CHECK(HBT_WAIT(hbt_metric(f->http,
		    "homebus_writer_points_received_total") >= 10001 + (burst + 1) *
		    10000.0, 30000), "burst %d taken", burst);
		hbt_sleep_ms(1500);	/* the next burst in the same window, or not */
	}
	hb_buf_free(&msg);
	dropped = hbt_metric(f->http, "homebus_writer_points_dropped_total");
	hbt_log("dropped %g points, %g dead-lettered points", dropped, dead_dropped);
	HBT_CHECK(dropped > 0, "the cap dropped points");
	HBT_CHECK(hbt_metric(f->http, "homebus_writer_spool_file_bytes") <= 1048576,
	    "the spool file in use is under 1 MB (%g)",
	    hbt_metric(f->http, "homebus_writer_spool_file_bytes"));
	/* stat first: the order a function's arguments are evaluated in is
	 * not the order they are written in */
	memset(&st, 0, sizeof(st));
	ok = stat(f->spool, &st) == 0;
	file = (long long)st.st_size;
	snprintf(wal, sizeof(wal), "%s-wal", f->spool);
	memset(&st, 0, sizeof(st));
	stat(wal, &st);
	HBT_CHECK(ok && file + (long long)st.st_size <= 1048576, "the cap covers "
	    "the file on disk and its WAL: %lld + %lld", file, (long long)st.st_size);
	HBT_CHECK(st.st_size <= 256 * 1024, "the WAL is kept to a quarter of the "
	    "cap (%lld)", (long long)st.st_size);

	/* the drops stopped; the last window still tells its total */
	HBT_CHECK(HBT_WAIT((told = told_dropped(f, &notes)) == (long)dropped, 15000),
	    "the notifications told every dropped point: %ld of %g in %d "
	    "notifications", told_dropped(f, &notes), dropped, notes);
	HBT_CHECK(notes >= 2, "in more than one window (%d)", notes);
}

int
main(int argc, char **argv)
{
	struct fixture f;
	const char *which = argc > 1 ? argv[1] : "diskfull";
	char name[64];

	memset(&f, 0, sizeof(f));
	snprintf(name, sizeof(name), "writer_spool_%s", which);
	hbt_init(name);
	if (strcmp(which, "diskfull") == 0)
		scenario_diskfull(&f);
	else if (strcmp(which, "cap") == 0)
		scenario_cap(&f);
	else if (strcmp(which, "smalldisk") == 0)
		scenario_smalldisk(&f);
	else if (strcmp(which, "sentrestart") == 0)
		scenario_sentrestart(&f);
	else
		HBT_REQUIRE(false, "unknown scenario %s", which);
	if (f.bus)
		hbt_mqtt_close(f.bus);
	hb_buf_free(&f.cfg);
	hbt_exit();
}
