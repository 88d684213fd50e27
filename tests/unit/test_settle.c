/*
 * What the writer does with a batch InfluxDB did not take as it was
 * (services/writer/settle.c with influx_answer.c, the spool stubbed): a 413
 * splits the batch after half its lines, a single line too large goes to
 * the dead letters; a 400/422 dead-letters exactly the lines InfluxDB names
 * (with its status and reason) and keeps the others to be sent again, or
 * the whole batch when it names none.
 */
#include "hbt.h"
#include "settle.h"

#include <string.h>

/* what the spool was asked to do */
static struct {
	int splits, deletes, replaces, dead;
	int64_t split_id, split_first, split_second;
	char split_a[512], split_b[512];
	int64_t deleted_id, replaced_id, replaced_points;
	char replaced[512];
	int64_t dead_points;
	int dead_status;
	char dead_body[512], dead_reason[256];
	int split_result;
} sp;

/* stubs: the spool functions settle calls */
int
spool_split(struct spool *s, int64_t id, const char *body, size_t len,
    size_t cut, int64_t points_first, int64_t points_second)
{
	(void)s;
	sp.splits++;
	sp.split_id = id;
	sp.split_first = points_first;
	sp.split_second = points_second;
	snprintf(sp.split_a, sizeof(sp.split_a), "%.*s", (int)cut, body);
	snprintf(sp.split_b, sizeof(sp.split_b), "%.*s", (int)(len - cut), body + cut);
	return sp.split_result;
}

int
spool_delete(struct spool *s, int64_t id)
{
	(void)s;
	sp.deletes++;
	sp.deleted_id = id;
	return 0;
}

int
spool_replace(struct spool *s, int64_t id, const char *body, size_t len,
    int64_t points)
{
	(void)s;
	sp.replaces++;
	sp.replaced_id = id;
	sp.replaced_points = points;
	snprintf(sp.replaced, sizeof(sp.replaced), "%.*s", (int)len, body);
	return 0;
}

int
spool_dead_letter(struct spool *s, const char *body, size_t len,
    int64_t points, int status, const char *reason)
{
	(void)s;
	sp.dead++;
	sp.dead_points += points;
	sp.dead_status = status;
	snprintf(sp.dead_body, sizeof(sp.dead_body), "%.*s", (int)len, body);
	snprintf(sp.dead_reason, sizeof(sp.dead_reason), "%s", reason);
	return 0;
}

static struct hb_ratelimit log_limit;

static void
setup(struct settle *st, struct spool_batch *b, int64_t id, const char *body,
    int64_t points)
{
	memset(&sp, 0, sizeof(sp));
	hb_ratelimit_init(&log_limit, 100, 100);
	st->spool = NULL;
	st->log = &log_limit;
	st->dead = NULL;
	memset(b, 0, sizeof(*b));
	b->id = id;
	b->points = points;
	hb_buf_puts(&b->body, body);
}

static void
answer(long status, const char *body, struct influx_result *res)
{
	influx_classify(status, 0, NULL, body, -1, res);
}

static void
test_too_large(void)
{
	struct settle st;
	struct spool_batch b;
	struct influx_result res;

	answer(413, "{\"error\":\"Request Entity Too Large\"}", &res);
	setup(&st, &b, 7, "m v=1 1\nm v=2 2\nm v=3 3\nm v=4 4\nm v=5 5\n", 5);
	HBT_CHECK(res.verdict == INFLUX_TOO_LARGE, "413 reads as too large");
	HBT_CHECK(settle_too_large(&st, &b, &res) == SETTLE_DONE, "split: done");
	HBT_CHECK(sp.splits == 1 && sp.split_id == 7 && sp.split_first == 2 &&
	    sp.split_second == 3, "batch 7 split into 2 + 3 (%lld + %lld)",
	    (long long)sp.split_first, (long long)sp.split_second);
	HBT_CHECK(strcmp(sp.split_a, "m v=1 1\nm v=2 2\n") == 0 &&
	    strcmp(sp.split_b, "m v=3 3\nm v=4 4\nm v=5 5\n") == 0,
	    "cut between lines: [%s] [%s]", sp.split_a, sp.split_b);
	HBT_CHECK(sp.dead == 0 && sp.deletes == 0, "nothing dead-lettered");
	hb_buf_free(&b.body);

	/* two lines: one each */
	setup(&st, &b, 8, "m v=1 1\nm v=2 2\n", 2);
	settle_too_large(&st, &b, &res);
	HBT_CHECK(sp.split_first == 1 && sp.split_second == 1 &&
	    strcmp(sp.split_b, "m v=2 2\n") == 0, "2 lines: 1 + 1");
	hb_buf_free(&b.body);

	/* a spool that cannot split: retried as it is */
	setup(&st, &b, 9, "m v=1 1\nm v=2 2\n", 2);
	sp.split_result = -1;
	HBT_CHECK(settle_too_large(&st, &b, &res) == SETTLE_RETRY,
	    "a split the spool refused is retried");
	hb_buf_free(&b.body);
}

static void
test_single_line_too_large(void)
{
	struct settle st;
	struct spool_batch b;
	struct influx_result res;

	answer(413, "", &res);
	setup(&st, &b, 3, "big v=\"xxxxxxxx\" 1\n", 1);
	HBT_CHECK(settle_too_large(&st, &b, &res) == SETTLE_DONE, "done");
	HBT_CHECK(sp.splits == 0, "one line is not split");
	HBT_CHECK(sp.dead == 1 && sp.dead_points == 1 && sp.dead_status == 413 &&
	    strcmp(sp.dead_body, "big v=\"xxxxxxxx\" 1\n") == 0 &&
	    strstr(sp.dead_reason, "max-body-size"), "it is dead-lettered with "
	    "status 413 and why (%s)", sp.dead_reason);
	HBT_CHECK(sp.deletes == 1 && sp.deleted_id == 3, "and leaves the batches");
	hb_buf_free(&b.body);
}

static void
test_bad_points_named(void)
{
	struct settle st;
	struct spool_batch b;
	struct influx_result res;
	const char *body = "c v=1 1\nc v=\"s\" 2\nc v=2 3\n";

	/* InfluxDB 1.x's words for a float field written as a string */
	answer(400, "{\"error\":\"partial write: field type conflict: input field "
	    "\\\"v\\\" on measurement \\\"c\\\" is type string, already exists as "
	    "type float dropped=1\"}", &res);
	setup(&st, &b, 11, body, 3);
	HBT_CHECK(res.verdict == INFLUX_BAD_POINTS, "400 reads as bad points");
	HBT_CHECK(settle_bad_points(&st, &b, &res) == SETTLE_RESEND,
	    "the rest is sent again");
	HBT_CHECK(sp.dead == 1 && sp.dead_points == 1 &&
	    strcmp(sp.dead_body, "c v=\"s\" 2\n") == 0 && sp.dead_status == 400 &&
	    strstr(sp.dead_reason, "field type conflict"), "only the string line "
	    "is dead-lettered, with InfluxDB's reason: [%s]", sp.dead_body);
	HBT_CHECK(sp.replaces == 1 && sp.replaced_id == 11 &&
	    sp.replaced_points == 2 && strcmp(sp.replaced, "c v=1 1\nc v=2 3\n") == 0,
	    "the batch keeps the other two under its id: [%s]", sp.replaced);
	HBT_CHECK(sp.deletes == 0, "and is not deleted");
	hb_buf_free(&b.body);

	/* v2's 422, every line named: nothing left to send */
	answer(422, "{\"code\":\"unprocessable entity\",\"message\":\"failure "
	    "writing points to database: partial write: field type conflict: "
	    "input field \\\"v\\\" on measurement \\\"x\\\" is type integer, "
	    "already exists as type float dropped=1\"}", &res);
	setup(&st, &b, 12, "x v=1i 1\n", 1);
	HBT_CHECK(settle_bad_points(&st, &b, &res) == SETTLE_DONE, "all refused");
	HBT_CHECK(sp.dead == 1 && sp.dead_points == 1 && sp.dead_status == 422 &&
	    strcmp(sp.dead_body, "x v=1i 1\n") == 0 && sp.replaces == 0 &&
	    sp.deletes == 1 && sp.deleted_id == 12, "dead-lettered and deleted "
	    "(%s)", sp.dead_reason);
	hb_buf_free(&b.body);
}

static void
test_bad_points_unnamed(void)
{
	struct settle st;
	struct spool_batch b;
	struct influx_result res;

	answer(400, "{\"error\":\"points beyond retention policy dropped=2\"}", &res);
	setup(&st, &b, 21, "old v=1 1\nold v=2 2\n", 2);
	HBT_CHECK(settle_bad_points(&st, &b, &res) == SETTLE_DONE, "done");
	HBT_CHECK(sp.dead == 1 && sp.dead_points == 2 &&
	    strcmp(sp.dead_body, "old v=1 1\nold v=2 2\n") == 0 &&
	    strstr(sp.dead_reason, "retention"), "no line named: the whole batch "
	    "is dead-lettered with the reason");
	HBT_CHECK(sp.deletes == 1 && sp.deleted_id == 21 && sp.replaces == 0,
	    "and deleted");
	hb_buf_free(&b.body);
}

static void
test_split_point(void)
{
	const char *body = "a v=1 1\n\n# note\nb v=2 2\nc v=3 3\nd v=4 4\n";
	int64_t first = -1;
	size_t cut = settle_split_point(body, strlen(body), 4, &first);

	HBT_CHECK(first == 2 && strncmp(body + cut, "c v=3 3\n", 8) == 0,
	    "blank lines and comments are not lines: cut before c (first=%lld)",
	    (long long)first);
}

int
main(void)
{
	hbt_init("settle");
	test_too_large();
	test_single_line_too_large();
	test_bad_points_named();
	test_bad_points_unnamed();
	test_split_point();
	hbt_exit();
}
