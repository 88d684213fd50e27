/*
 * hb_outbox: what goes in stays until removed or dead-lettered, per lane in
 * order, across a close and reopen (a restart), and a transaction that is
 * rolled back leaves nothing behind.
 */
#include "hbt.h"
#include "hb_outbox.h"

#include <stdlib.h>
#include <string.h>

struct lanes {
	char names[8][HB_OUTBOX_LANE_MAX];
	int n;
};

static void
collect_lane(void *arg, const char *lane)
{
	struct lanes *l = arg;

	if (l->n < 8)
		snprintf(l->names[l->n++], HB_OUTBOX_LANE_MAX, "%s", lane);
}

int
main(void)
{
	struct hb_outbox *ob;
	struct hb_outbox_item it = { 0 };
	struct lanes lanes = { 0 };
	char path[600], err[256], *v;
	int64_t a1, a2, b1;

	hbt_init("outbox");
	snprintf(path, sizeof(path), "%s/sub/outbox.db", hbt_dir());
	ob = hb_outbox_open(path, err, sizeof(err));
	HBT_REQUIRE(ob != NULL, "open: %s", err);
	HBT_CHECK(hb_outbox_head(ob, "a", &it) == 0, "empty");
	a1 = hb_outbox_add(ob, "a", "first", "A1", 2);
	b1 = hb_outbox_add(ob, "b", "other lane", "B1", 2);
	a2 = hb_outbox_add(ob, "a", "second", "A2", 2);
	HBT_CHECK(a1 > 0 && b1 > a1 && a2 > b1, "ids increase");
	HBT_CHECK(hb_outbox_count(ob) == 3, "three");
	HBT_CHECK(hb_outbox_lanes(ob, collect_lane, &lanes) == 2 &&
	    strcmp(lanes.names[0], "a") == 0 && strcmp(lanes.names[1], "b") == 0,
	    "two lanes");
	HBT_CHECK(hb_outbox_meta_set(ob, "offset", "42") == 0, "meta set");
	hb_outbox_close(ob);

	/* a restart: everything is still there, in order */
	ob = hb_outbox_open(path, err, sizeof(err));
	HBT_REQUIRE(ob != NULL, "reopen: %s", err);
	HBT_CHECK(hb_outbox_count(ob) == 3, "three after reopen");
	HBT_CHECK(hb_outbox_head(ob, "a", &it) == 1 && it.id == a1 &&
	    strcmp(it.body.data, "A1") == 0 && strcmp(it.label, "first") == 0,
	    "head of a is A1");
	HBT_CHECK(hb_outbox_note_attempt(ob, a1) == 0, "attempt");
	HBT_CHECK(hb_outbox_remove(ob, a1) == 0, "remove");
	HBT_CHECK(hb_outbox_head(ob, "a", &it) == 1 && it.id == a2, "then A2");
	HBT_CHECK(hb_outbox_dead_letter(ob, &it, 400, "Bad Request: chat not found") == 0,
	    "dead letter");
	HBT_CHECK(hb_outbox_head(ob, "a", &it) == 0, "lane a empty");
	HBT_CHECK(hb_outbox_count(ob) == 1 && hb_outbox_dead_count(ob) == 1,
	    "one left, one dead");
	v = hb_outbox_meta_get(ob, "offset");
	HBT_CHECK(v && strcmp(v, "42") == 0, "meta survives: %s", v ? v : "(null)");
	free(v);
	HBT_CHECK(hb_outbox_meta_get(ob, "nothing") == NULL, "absent meta");

	/* all or nothing */
	HBT_CHECK(hb_outbox_begin(ob) == 0, "begin");
	hb_outbox_add(ob, "c", "x", "C1", 2);
	hb_outbox_add(ob, "d", "x", "D1", 2);
	hb_outbox_rollback(ob);
	HBT_CHECK(hb_outbox_count(ob) == 1, "rolled back: %lld",
	    (long long)hb_outbox_count(ob));
	HBT_CHECK(hb_outbox_begin(ob) == 0, "begin");
	hb_outbox_add(ob, "c", "x", "C1", 2);
	hb_outbox_add(ob, "d", "x", "D1", 2);
	HBT_CHECK(hb_outbox_commit(ob) == 0 && hb_outbox_count(ob) == 3, "committed");
	hb_outbox_close(ob);
	hb_buf_free(&it.body);
	hbt_exit();
}
