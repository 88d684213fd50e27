/*
 * The writer's spool when SQLite cannot write: batches it cannot commit are
 * held in memory and handed out in order with the others, a batch it cannot
 * delete is never handed out again, replace and split carry on in memory,
 * and spool_retry() puts everything on disk once the disk takes writes
 * again (a reopen finds exactly what was waiting). Then the cap: it covers
 * dead letters too, dead letters go first, and the WAL is truncated. And
 * staged batches: handed out in order with the rest, gone without a trace
 * when taken before they are due, on disk when due or at close.
 *
 * A spool whose WAL filled its disk puts itself right once everything on
 * it was delivered: it starts its file afresh, keeping the dead letters,
 * and what InfluxDB took is not handed out again, not even after a
 * restart while the disk was still full.
 *
 * "Cannot write" is a file size limit (RLIMIT_FSIZE, SIGXFSZ ignored): the
 * WAL cannot grow, as on a full disk, and it needs no privileges.
 */
#include "hbt.h"
#include "spool.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>

static int64_t
file_size(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 ? (int64_t)st.st_size : 0;
}

static void
limit_files(rlim_t bytes)
{
	struct rlimit rl = { bytes, RLIM_INFINITY };

	HBT_REQUIRE(setrlimit(RLIMIT_FSIZE, &rl) == 0, "setrlimit");
}

/* A body of n lines "<tag> v=<i>i <i>\n". */
static void
make_body(struct hb_buf *b, const char *tag, int n)
{
	hb_buf_reset(b);
	for (int i = 0; i < n; i++)
		hb_buf_printf(b, "%s v=%di %d\n", tag, i, i + 1);
}

/* The ids and first words of what spool_next hands out, in order. */
static void
walk(struct spool *sp, char *out, size_t outlen)
{
	struct spool_batch b = { 0 };
	int64_t after = 0;
	size_t len = 0;

	out[0] = '\0';
	while (spool_next(sp, after, &b) == 1) {
		size_t word = strcspn(b.body.data, " ");

		len += (size_t)snprintf(out + len, outlen - len, "%s%.*s/%lld",
		    len ? " " : "", (int)word, b.body.data, (long long)b.points);
		after = b.id;
		if (len >= outlen)
			break;
	}
	hb_buf_free(&b.body);
}

static void
test_failing_disk(void)
{
	struct spool *sp;
	struct spool_state st;
	struct spool_drops drops;
	struct hb_buf body = { 0 };
	char path[600], wal[620], err[256], order[512];
	int64_t a, b, c, d, keep[1];
	size_t cut;

	snprintf(path, sizeof(path), "%s/spool.db", hbt_dir());
	snprintf(wal, sizeof(wal), "%s-wal", path);
	sp = spool_open(path, 64 * 1024 * 1024, err, sizeof(err));
	HBT_REQUIRE(sp != NULL, "open: %s", err);
	make_body(&body, "a", 10);
	a = spool_commit(sp, body.data, body.len, 10);
	make_body(&body, "b", 20);
	b = spool_commit_buf(sp, &body, 20);
	HBT_CHECK(spool_whole(sp), "both on disk");

	/* the disk fills: the WAL cannot grow past what it is now */
	limit_files((rlim_t)file_size(wal));
	make_body(&body, "c", 2000);
	c = spool_commit_buf(sp, &body, 2000);
	spool_state(sp, &st);
	HBT_CHECK(c > b && st.failing && st.error && st.error[0] &&
	    st.held_points == 2000, "a batch SQLite refused is held in memory "
	    "(failing=%d error=%s held=%lld)", st.failing, st.error ? st.error : "",
	    (long long)st.held_points);
	walk(sp, order, sizeof(order));
	HBT_CHECK(strcmp(order, "a/10 b/20 c/2000") == 0,
	    "the held batch is handed out after those on disk: %s", order);

	/* sent: a's row cannot be deleted, and is never handed out again */
	spool_delete(sp, a);
	spool_state(sp, &st);
	walk(sp, order, sizeof(order));
	HBT_CHECK(strcmp(order, "b/20 c/2000") == 0 && st.undeleted <= 1,
	    "a sent batch is gone from the queue whatever the disk did: %s", order);
	HBT_CHECK(spool_points(sp) == 2020 && spool_batches(sp) == 2,
	    "totals: %lld points in %lld batches", (long long)spool_points(sp),
	    (long long)spool_batches(sp));

	make_body(&body, "d", 40);
	d = spool_commit(sp, body.data, body.len, 40);
	/* bad lines out of b: the disk cannot update it, memory can */
	make_body(&body, "b2", 15);
	HBT_CHECK(spool_replace(sp, b, body.data, body.len, 15) == 0, "replace");
	/* d was too large for InfluxDB: its halves are held */
	make_body(&body, "d", 40);
	cut = 0;
	for (int lines = 0; lines < 20; cut++)
		if (body.data[cut] == '\n')
			lines++;
	HBT_CHECK(spool_split(sp, d, body.data, body.len, cut, 20, 20) == 0,
	    "split");
	walk(sp, order, sizeof(order));
	HBT_CHECK(strcmp(order, "b2/15 c/2000 d/20 d/20") == 0,
	    "replace and split carry on in memory, in order: %s", order);

	/* the memory cap: the oldest held first, never one in flight */
	keep[0] = b;
	spool_enforce_held(sp, 1, keep, 1, &drops);
	walk(sp, order, sizeof(order));
	HBT_CHECK(drops.batches == 3 && drops.points == 2040 &&
	    strcmp(order, "b2/15") == 0, "over memory_max the oldest held batches "
	    "not in flight go: dropped %lld/%lld, left %s", (long long)drops.batches,
	    (long long)drops.points, order);
	make_body(&body, "e", 30);
	spool_commit(sp, body.data, body.len, 30);

	/* the disk has room again */
	limit_files(RLIM_INFINITY);
	HBT_CHECK(spool_retry(sp) == 0 && spool_whole(sp),
	    "retry puts everything on disk");
	spool_state(sp, &st);
	HBT_CHECK(!st.failing && st.held_points == 0 && st.undeleted == 0,
	    "not failing, nothing held, nothing left to delete");
	make_body(&body, "f", 5);
	spool_commit(sp, body.data, body.len, 5);
	HBT_CHECK(spool_whole(sp), "new batches go to disk");
	spool_close(sp);

	/* a restart finds exactly what was waiting: a is not sent again */
	sp = spool_open(path, 64 * 1024 * 1024, err, sizeof(err));
	HBT_REQUIRE(sp != NULL, "reopen: %s", err);
	walk(sp, order, sizeof(order));
	HBT_CHECK(strcmp(order, "b2/15 e/30 f/5") == 0, "after a reopen: %s", order);
	HBT_CHECK(spool_points(sp) == 50 && spool_batches(sp) == 3,
	    "totals after a reopen: %lld points in %lld batches",
	    (long long)spool_points(sp), (long long)spool_batches(sp));
	spool_close(sp);
	hb_buf_free(&body);
}

static void
test_cap(void)
{
	const int64_t cap = 512 * 1024;
	struct spool *sp;
	struct spool_drops drops, total = { 0 };
	struct spool_batch left = { 0 };
	struct hb_buf body = { 0 };
	char path[600], wal[620], err[256];
	int64_t first = 0, id;

	snprintf(path, sizeof(path), "%s/cap.db", hbt_dir());
	snprintf(wal, sizeof(wal), "%s-wal", path);
	sp = spool_open(path, cap, err, sizeof(err));
	HBT_REQUIRE(sp != NULL, "open: %s", err);
	/* 10 x 100 KB of dead letters, then as much in batches */
	/* the writer enforces the cap after every commit and every answer */
	make_body(&body, "dead", 4000);
	for (int i = 0; i < 10; i++) {
		HBT_CHECK(spool_dead_letter(sp, body.data, body.len, 1000, 400,
		    "field type conflict") == 0, "dead letter %d", i);
		spool_enforce_cap(sp, NULL, 0, &drops);
		total.dead_points += drops.dead_points;
	}
	make_body(&body, "batch", 4000);
	for (int i = 0; i < 10; i++) {
		id = spool_commit(sp, body.data, body.len, 1000);
		if (first == 0)
			first = id;
		spool_enforce_cap(sp, &first, 1, &drops);
		total.batches += drops.batches;
		total.points += drops.points;
		total.dead_points += drops.dead_points;
	}
	hbt_log("file %lld bytes in use, %lld on disk, WAL %lld; dropped %lld "
	    "batches, %lld dead-lettered points", (long long)spool_file_bytes(sp),
	    (long long)file_size(path), (long long)file_size(wal),
	    (long long)total.batches, (long long)total.dead_points);
	HBT_CHECK(spool_file_bytes(sp) <= cap, "the file in use stays under the "
	    "cap: %lld", (long long)spool_file_bytes(sp));
	HBT_CHECK(total.dead_points == 10000 && spool_dead_letters(sp) == 0,
	    "dead letters went first, all of them before a batch (%lld points)",
	    (long long)total.dead_points);
	HBT_CHECK(total.batches > 0 && spool_batches(sp) == 10 - total.batches,
	    "then the oldest batches (%lld dropped)", (long long)total.batches);
	HBT_CHECK(spool_next(sp, 0, &left) == 1, "something is left to send");
	hb_buf_free(&left.body);
	HBT_CHECK(file_size(path) + file_size(wal) <= cap, "the cap covers the "
	    "file on disk and its WAL: %lld + %lld", (long long)file_size(path),
	    (long long)file_size(wal));
	HBT_CHECK(file_size(wal) <= cap / 4, "the WAL is kept to a quarter of "
	    "the cap: %lld", (long long)file_size(wal));
	spool_close(sp);
	hb_buf_free(&body);
}

static void
test_jammed(void)
{
	struct spool *sp;
	struct spool_state st;
	struct hb_buf body = { 0 };
	char path[600], wal[620], err[256], order[512];
	int64_t a, b, c;

	snprintf(path, sizeof(path), "%s/jammed.db", hbt_dir());
	snprintf(wal, sizeof(wal), "%s-wal", path);
	sp = spool_open(path, 64 * 1024 * 1024, err, sizeof(err));
	HBT_REQUIRE(sp != NULL, "open: %s", err);
	make_body(&body, "dead", 100);
	HBT_CHECK(spool_dead_letter(sp, body.data, body.len, 100, 400,
	    "field type conflict") == 0, "a dead letter");
	make_body(&body, "a", 3000);
	a = spool_commit(sp, body.data, body.len, 3000);
	make_body(&body, "b", 3000);
	b = spool_commit(sp, body.data, body.len, 3000);
	make_body(&body, "c", 3000);
	c = spool_commit(sp, body.data, body.len, 3000);

	/* the WAL filled the disk: nothing more is written, not even a delete */
	limit_files((rlim_t)file_size(wal));
	make_body(&body, "d", 10);
	spool_commit(sp, body.data, body.len, 10);
	spool_delete(sp, a);
	spool_delete(sp, b);
	spool_state(sp, &st);
	HBT_REQUIRE(st.failing && st.undeleted == 2, "a and b were delivered and "
	    "could not be deleted (failing=%d undeleted=%zu)", st.failing,
	    st.undeleted);
	spool_close(sp);	/* d, held in memory, is lost: documented */

	/* a restart while the disk is still full */
	sp = spool_open(path, 64 * 1024 * 1024, err, sizeof(err));
	HBT_REQUIRE(sp != NULL, "reopen on the full disk: %s", err);
	walk(sp, order, sizeof(order));
	HBT_CHECK(strcmp(order, "c/3000") == 0, "what InfluxDB took is not handed "
	    "out again after the restart: %s", order);
	HBT_CHECK(spool_points(sp) == 3000 && spool_batches(sp) == 1,
	    "nor counted as waiting: %lld points in %lld batches",
	    (long long)spool_points(sp), (long long)spool_batches(sp));

	/* c is delivered too: nothing on the disk is needed but the dead letter */
	spool_delete(sp, c);
	HBT_CHECK(spool_retry(sp) == 0 && spool_whole(sp), "the spool puts "
	    "itself right (a file size limit lets the WAL be copied into the file; "
	    "test_writer_spool_diskfull fills a real disk)");
	make_body(&body, "e", 5);
	spool_commit(sp, body.data, body.len, 5);
	HBT_CHECK(spool_whole(sp), "new batches go to disk");
	spool_close(sp);
	limit_files(RLIM_INFINITY);

	sp = spool_open(path, 64 * 1024 * 1024, err, sizeof(err));
	HBT_REQUIRE(sp != NULL, "reopen: %s", err);
	walk(sp, order, sizeof(order));
	HBT_CHECK(strcmp(order, "e/5") == 0, "after a reopen only what came "
	    "since is waiting: %s", order);
	HBT_CHECK(spool_dead_letters(sp) == 1, "and the dead letter was kept (%lld)",
	    (long long)spool_dead_letters(sp));
	make_body(&body, "f", 5);
	HBT_CHECK(spool_commit(sp, body.data, body.len, 5) > c, "ids keep growing");
	spool_close(sp);
	hb_buf_free(&body);
}

static void
test_staged(void)
{
	struct spool *sp;
	struct hb_buf body = { 0 };
	char path[600], err[256], order[512];
	int64_t a;

	snprintf(path, sizeof(path), "%s/staged.db", hbt_dir());
	sp = spool_open(path, 64 * 1024 * 1024, err, sizeof(err));
	HBT_REQUIRE(sp != NULL, "open: %s", err);
	make_body(&body, "a", 3);
	a = spool_stage_buf(sp, &body, 3, 1000);
	HBT_CHECK(body.len == 0, "staging takes the body");
	make_body(&body, "b", 2);
	spool_commit_buf(sp, &body, 2);
	make_body(&body, "c", 1);
	spool_stage_buf(sp, &body, 1, 5000);
	walk(sp, order, sizeof(order));
	HBT_CHECK(strcmp(order, "a/3 b/2 c/1") == 0, "staged batches are handed "
	    "out in order with the committed one: %s", order);
	HBT_CHECK(spool_batches(sp) == 3 && spool_points(sp) == 6 &&
	    spool_staged_batches(sp) == 2, "they count as waiting (%lld batches)",
	    (long long)spool_batches(sp));
	HBT_CHECK(spool_write_due(sp, 999, INT64_MAX) == 1000 &&
	    spool_staged_batches(sp) == 2,
	    "nothing is written before it is due; the next is due at 1000");
	spool_delete(sp, a);	/* InfluxDB took it in time */
	HBT_CHECK(spool_write_due(sp, 2000, INT64_MAX) == 5000 &&
	    spool_staged_batches(sp) == 1,
	    "a batch taken before it was due is gone; the next is due at 5000");
	HBT_CHECK(spool_write_due(sp, 5000, INT64_MAX) == 0 &&
	    spool_staged_batches(sp) == 0 && spool_batches(sp) == 2, "a batch still here when due goes to disk");
	make_body(&body, "e", 1);
	spool_stage_buf(sp, &body, 1, 6000);
	make_body(&body, "f", 1);
	spool_stage_buf(sp, &body, 1, 6000);
	HBT_CHECK(spool_write_due(sp, 7000, 1) == 6000 &&
	    spool_staged_batches(sp) == 1, "one at a time: the other due batch "
	    "is left and said to be due");
	HBT_CHECK(spool_write_due(sp, 7000, 1) == 0 &&
	    spool_staged_batches(sp) == 0, "and written at the next call");
	make_body(&body, "d", 4);
	spool_stage_buf(sp, &body, 4, 9000);
	spool_close(sp);	/* d goes to disk at close */
	sp = spool_open(path, 64 * 1024 * 1024, err, sizeof(err));
	HBT_REQUIRE(sp != NULL, "reopen: %s", err);
	walk(sp, order, sizeof(order));
	HBT_CHECK(strcmp(order, "b/2 c/1 e/1 f/1 d/4") == 0, "a reopen finds what was "
	    "due or staged at close, not what was taken before it was due: %s",
	    order);
	spool_close(sp);
	hb_buf_free(&body);
}

int
main(void)
{
	hbt_init("spool");
	signal(SIGXFSZ, SIG_IGN);
	test_failing_disk();
	test_cap();
	test_jammed();
	test_staged();
	hbt_exit();
}
