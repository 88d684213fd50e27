/*
 * The writer's sending and what each of InfluxDB's answers does
 * (services/writer/send.c with retry.c, settle.c and influx_answer.c; the
 * spool is a small fake in memory and InfluxDB's client a stub that
 * records each request, answered by the test): oldest first; a second
 * write beside one in flight only for a batch that is full, old, from
 * before the restart or retried; a batch taken is deleted; a failure keeps
 * the batch, waits, and sends the same batch again, one at a time while
 * InfluxDB fails; a 413 sends the halves; a 400 sends the lines InfluxDB
 * did not name again under the same id and dead-letters the one it named;
 * a 404 naming a missing database creates it (database.c) and the batch
 * goes again, or, when InfluxDB refuses, InfluxDB's state says how to put
 * it right while the batch stays.
 */
#include "hbt.h"
#include "send.h"

#include <string.h>

/* ---------------- a spool in memory ---------------- */

#define NB 16

static struct fake_batch {
	bool live;
	struct spool_batch b;
} fb[NB];
static int64_t next_id;
static char dead_body[256];
static int64_t dead_points;

static struct fake_batch *
find(int64_t id)
{
	for (int i = 0; i < NB; i++)
		if (fb[i].live && fb[i].b.id == id)
			return &fb[i];
	return NULL;
}

static int64_t
add(const char *body, int64_t points, int64_t created_ms)
{
	for (int i = 0; i < NB; i++)
		if (!fb[i].live) {
			fb[i].live = true;
			fb[i].b.id = next_id++;
			fb[i].b.points = points;
			fb[i].b.created_ms = created_ms;
			fb[i].b.attempts = 0;
			hb_buf_reset(&fb[i].b.body);
			hb_buf_puts(&fb[i].b.body, body);
			return fb[i].b.id;
		}
	HBT_REQUIRE(0, "fake spool full");
	return 0;
}

int
spool_next(struct spool *sp, int64_t after, struct spool_batch *out)
{
	struct fake_batch *best = NULL;

	(void)sp;
	for (int i = 0; i < NB; i++)
		if (fb[i].live && fb[i].b.id > after && (!best || fb[i].b.id < best->b.id))
			best = &fb[i];
	if (best == NULL)
		return 0;
	out->id = best->b.id;
	out->points = best->b.points;
	out->created_ms = best->b.created_ms;
	out->attempts = best->b.attempts;
	hb_buf_reset(&out->body);
	hb_buf_append(&out->body, best->b.body.data, best->b.body.len);
	return 1;
}

int
spool_delete(struct spool *sp, int64_t id)
{
	struct fake_batch *f = find(id);

	(void)sp;
	if (f)
		f->live = false;
	return 0;
}

int
spool_note_attempt(struct spool *sp, int64_t id)
{
	struct fake_batch *f = find(id);

	(void)sp;
	if (f)
		f->b.attempts++;
	return 0;
}

int64_t
spool_points(const struct spool *sp)
{
	int64_t n = 0;

	(void)sp;
	for (int i = 0; i < NB; i++)
		if (fb[i].live)
			n += fb[i].b.points;
	return n;
}

int
spool_split(struct spool *sp, int64_t id, const char *body, size_t len,
    size_t cut, int64_t points_first, int64_t points_second)
{
	char half[256];

	spool_delete(sp, id);
	snprintf(half, sizeof(half), "%.*s", (int)cut, body);
	add(half, points_first, hb_wall_ms());
	snprintf(half, sizeof(half), "%.*s", (int)(len - cut), body + cut);
	add(half, points_second, hb_wall_ms());
	return 0;
}

int
spool_replace(struct spool *sp, int64_t id, const char *body, size_t len,
    int64_t points)
{
	struct fake_batch *f = find(id);

	(void)sp;
	if (f == NULL)
		return -1;
	hb_buf_reset(&f->b.body);
	hb_buf_append(&f->b.body, body, len);
	f->b.points = points;
	return 0;
}

int
spool_dead_letter(struct spool *sp, const char *body, size_t len,
    int64_t points, int status, const char *reason)
{
	(void)sp;
	(void)status;
	(void)reason;
	snprintf(dead_body, sizeof(dead_body), "%.*s", (int)len, body);
	dead_points += points;
	return 0;
}

/* ---------------- InfluxDB's client: requests recorded ---------------- */

static struct call {
	influx_done_fn done;
	void *arg;
	char body[256];
	bool answered;
} calls[32];
static int ncalls;

struct hb_http_xfer *
influx_write(struct influx *ix, const char *body, size_t len,
    influx_done_fn done, void *arg)
{
	struct call *c = &calls[ncalls++];

	(void)ix;
	c->done = done;
	c->arg = arg;
	c->answered = false;
	snprintf(c->body, sizeof(c->body), "%.*s", (int)len, body);
	return (struct hb_http_xfer *)c;
}

struct hb_http_xfer *
influx_ping(struct influx *ix, influx_done_fn done, void *arg)
{
	(void)ix;
	(void)done;
	(void)arg;
	return NULL;
}

struct hb_http_xfer *
influx_create_db(struct influx *ix, influx_done_fn done, void *arg)
{
	struct call *c = &calls[ncalls++];

	(void)ix;
	c->done = done;
	c->arg = arg;
	c->answered = false;
	snprintf(c->body, sizeof(c->body), "CREATE");
	return (struct hb_http_xfer *)c;
}

const char *
influx_create_statement(const struct influx *ix)
{
	(void)ix;
	return "CREATE DATABASE \"homebus\"";
}

void
hb_http_cancel(struct hb_http_xfer *xfer)
{
	(void)xfer;
}

/* InfluxDB answers request i with status (and an error body). */
static void
reply(int i, long status, const char *body)
{
	struct influx_result res;

	HBT_REQUIRE(i < ncalls && !calls[i].answered, "request %d is in flight", i);
	influx_classify(status, 0, NULL, body, -1, &res);
	calls[i].answered = true;
	calls[i].done(&res, 0.001, calls[i].arg);
}

/* ---------------- the sender and its neighbours ---------------- */

static int answers;

/* stub for the writer, which the sender tells of each answer */
void
writer_answered(struct writer *w)
{
	(void)w;
	answers++;
}

static struct retry retry;
static struct sender snd;

static void
setup(struct event_base *base)
{
	struct writer_options o;

	for (int i = 0; i < NB; i++)
		fb[i].live = false;
	next_id = 1;
	ncalls = 0;
	answers = 0;
	dead_points = 0;
	memset(&o, 0, sizeof(o));
	o.max_inflight = 2;
	o.batch_size = 100;
	o.flush_interval_ms = 1000;
	retry_init(&retry, base, NULL, "http://influx:8086", 30000, &snd, NULL);
	send_init(&snd, &o, NULL, NULL, &retry, NULL);
}

static void
teardown(void)
{
	send_free(&snd);
	retry_free(&retry);
}

static void
test_oldest_first_second_slot(struct event_base *base)
{
	int64_t now = hb_wall_ms();

	setup(base);
	send_committed(&snd, add("a v=1 1\n", 1, now));
	add("b v=1 1\n", 1, now);
	send_pump(&snd);
	HBT_CHECK(ncalls == 1 && strcmp(calls[0].body, "a v=1 1\n") == 0,
	    "the oldest batch goes; a small fresh one waits beside it (calls=%d)",
	    ncalls);
	reply(0, 204, "");
	HBT_CHECK(answers == 1 && find(1) == NULL, "taken: deleted");
	send_pump(&snd);
	HBT_CHECK(ncalls == 2 && strcmp(calls[1].body, "b v=1 1\n") == 0,
	    "then the next");
	reply(1, 204, "");
	teardown();

	/* from before the restart, full or old: a second write at once */
	setup(base);
	add("old1 v=1 1\n", 1, now);
	add("old2 v=1 1\n", 1, now);
	send_committed(&snd, add("a v=1 1\n", 1, now));
	send_pump(&snd);
	HBT_CHECK(ncalls == 2 && strcmp(calls[1].body, "old2 v=1 1\n") == 0,
	    "a backlog from before the restart takes the second slot (calls=%d)",
	    ncalls);
	teardown();

	setup(base);
	send_committed(&snd, add("a v=1 1\n", 1, now));
	add("full v=1 1\n", 100, now);
	send_pump(&snd);
	HBT_CHECK(ncalls == 2 && strcmp(calls[1].body, "full v=1 1\n") == 0,
	    "a full batch takes the second slot (calls=%d)", ncalls);
	teardown();

	setup(base);
	send_committed(&snd, add("a v=1 1\n", 1, now));
	add("aged v=1 1\n", 1, now - 1000);
	send_pump(&snd);
	HBT_CHECK(ncalls == 2, "a batch older than flush_interval_ms too");
	reply(0, 204, "");
	reply(1, 204, "");
	teardown();
}

static void
test_failure_kept_and_resent(struct event_base *base)
{
	int64_t now = hb_wall_ms();

	setup(base);
	send_committed(&snd, add("a v=1 1\n", 1, now));
	add("full v=1 1\n", 100, now);
	send_pump(&snd);
	HBT_CHECK(ncalls == 2, "two in flight");
	reply(1, 204, "");
	reply(0, 503, "<html>down</html>");
	HBT_CHECK(find(1) && find(1)->b.attempts == 1, "a 503 keeps the batch, "
	    "one attempt noted");
	HBT_CHECK(!retry.ok && !retry_may_send(&retry), "InfluxDB away: wait");
	send_pump(&snd);
	HBT_CHECK(ncalls == 2, "nothing starts while the retry is waited for");
	retry_resume(&retry);	/* the retry timer */
	add("full2 v=1 1\n", 100, now);
	send_pump(&snd);
	HBT_CHECK(ncalls == 3 && strcmp(calls[2].body, "a v=1 1\n") == 0,
	    "the same batch goes again after the wait (calls=%d)", ncalls);
	HBT_CHECK(snd.ninflight == 1, "one at a time while InfluxDB fails, "
	    "however full the next");
	reply(2, 204, "");
	HBT_CHECK(find(1) == NULL && retry.ok, "taken at last");
	send_pump(&snd);
	HBT_CHECK(ncalls == 4 && strcmp(calls[3].body, "full2 v=1 1\n") == 0,
	    "and the rest follows");
	reply(3, 204, "");
	teardown();

	/* 401: kept, and a ping that answers does not end the wait */
	setup(base);
	add("a v=1 1\n", 1, now);
	send_pump(&snd);
	reply(0, 401, "{\"error\":\"authorization failed\"}");
	HBT_CHECK(find(1) != NULL && !retry_may_send(&retry) &&
	    strstr(retry_reason(&retry), "authorization"), "401: kept, waiting, "
	    "with InfluxDB's reason");
	HBT_CHECK(!retry_pinged(&retry, &(struct influx_result){ .verdict =
	    INFLUX_OK }, hb_mono_ms()), "a ping does not end it");
	teardown();
}

static void
test_too_large_sends_halves(struct event_base *base)
{
	int64_t now = hb_wall_ms();

	setup(base);
	send_committed(&snd, add("m v=1 1\nm v=2 2\nm v=3 3\nm v=4 4\n", 4, now));
	send_pump(&snd);
	reply(0, 413, "{\"error\":\"Request Entity Too Large\"}");
	HBT_CHECK(find(1) == NULL && find(2) && find(3) && find(2)->b.points == 2,
	    "413: the batch became two halves");
	HBT_CHECK(retry.ok && retry_may_send(&retry), "InfluxDB answered: no wait");
	send_pump(&snd);
	HBT_CHECK(ncalls == 2 && strcmp(calls[1].body, "m v=1 1\nm v=2 2\n") == 0,
	    "the first half goes; the second, small and fresh, waits");
	teardown();
}

static void
test_bad_points_resent(struct event_base *base)
{
	int64_t now = hb_wall_ms();

	setup(base);
	send_committed(&snd, add("c v=1 1\nc v=\"s\" 2\nc v=2 3\n", 3, now));
	send_pump(&snd);
	reply(0, 400, "{\"error\":\"partial write: field type conflict: input "
	    "field \\\"v\\\" on measurement \\\"c\\\" is type string, already "
	    "exists as type float dropped=1\"}");
	HBT_CHECK(dead_points == 1 && strcmp(dead_body, "c v=\"s\" 2\n") == 0,
	    "the line InfluxDB named is dead-lettered: [%s]", dead_body);
	send_pump(&snd);
	HBT_CHECK(ncalls == 2 && strcmp(calls[1].body, "c v=1 1\nc v=2 3\n") == 0,
	    "the others go again under the same id: [%s]", calls[1].body);
	reply(1, 204, "");
	HBT_CHECK(find(1) == NULL, "and are taken");
	teardown();
}

#define MISSING "{\"error\":\"database not found: \\\"homebus\\\"\"}"

/* A batch sent into a database that InfluxDB says is missing. */
static void
into_missing(struct event_base *base, struct database *db,
    const struct influx_config *cfg)
{
	setup(base);
	database_init(db, (struct influx *)(uintptr_t)cfg, &retry, cfg);
	snd.database = db;
	send_committed(&snd, add("a v=1 1\n", 1, hb_wall_ms()));
	send_pump(&snd);
	reply(0, 404, MISSING);
}

static void
test_missing_database(struct event_base *base)
{
	struct influx_config cfg = { .api = 1, .db = "homebus", .username = "bob" };
	struct database db;

	into_missing(base, &db, &cfg);
	HBT_CHECK(ncalls == 2 && strcmp(calls[1].body, "CREATE") == 0,
	    "a write into a missing database creates it (calls=%d)", ncalls);
	reply(1, 403, "{\"error\":\"error authorizing query: bob not authorized "
	    "to execute statement 'CREATE DATABASE homebus', requires admin "
	    "privilege\"}");
	HBT_CHECK(find(1) != NULL, "refused: the batch stays in the spool");
	HBT_CHECK(!retry.ok && strstr(retry_reason(&retry), "create it as an "
	    "admin: CREATE DATABASE \"homebus\"") && strstr(retry_reason(&retry),
	    "user \"bob\"") && strstr(retry_reason(&retry), "requires admin"),
	    "InfluxDB's state says why and what to do: %s", retry_reason(&retry));
	retry_resume(&retry);
	send_pump(&snd);
	reply(2, 404, MISSING);
	HBT_CHECK(ncalls == 3, "not asked again at the next write (calls=%d)",
	    ncalls);
	HBT_CHECK(strstr(retry_reason(&retry), "create it as an admin") != NULL,
	    "and the reason stays: %s", retry_reason(&retry));
	database_free(&db);
	teardown();

	into_missing(base, &db, &cfg);
	reply(1, 200, "{\"results\":[{\"statement_id\":0}]}");
	HBT_CHECK(retry_may_send(&retry), "created: the wait ends at once");
	send_pump(&snd);
	HBT_CHECK(ncalls == 3 && strcmp(calls[2].body, "a v=1 1\n") == 0,
	    "and the batch goes again (calls=%d)", ncalls);
	reply(2, 204, "");
	HBT_CHECK(find(1) == NULL && retry.ok, "taken");
	database_free(&db);
	teardown();
}

int
main(void)
{
	struct event_base *base;

	hbt_init("send");
	base = event_base_new();
	HBT_REQUIRE(base != NULL, "event_base_new");
	test_oldest_first_second_slot(base);
	test_failure_kept_and_resent(base);
	test_too_large_sends_halves(base);
	test_bad_points_resent(base);
	test_missing_database(base);
	for (int i = 0; i < NB; i++)
		hb_buf_free(&fb[i].b.body);
	event_base_free(base);
	hbt_exit();
}
