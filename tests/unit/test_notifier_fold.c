/*
 * The notifier's dedupe windows alone (services/notifier/fold.c, nothing
 * else of the notifier): notifications with one key inside the window are
 * folded into the first, the summary comes when the window ends (not
 * before) with the count and the latest text, a worse severity closes the
 * window and opens its own while a milder one is folded, each destination
 * has windows and summaries of its own, and closing every window at once
 * (SIGTERM) hands on only the summaries that hold folds.
 * Time is passed in: nothing here waits.
 */
#include "hbt.h"
#include "fold.h"
#include "route.h"

#include <stdlib.h>
#include <string.h>

#define WINDOW_MS (5 * 60 * 1000)

/* The summaries handed on, in order. */
static struct summary {
	size_t dest;
	int severity;
	int repeats;
	char text[512];
	char title[64];
	char source[64];
	char key[64];
} seen[16];
static int nseen;

/* stub for the router, which the folds hand their summaries */
void
route_summary(struct router *r, size_t dest, const struct hb_notify *s,
    int repeats)
{
	struct summary *out = &seen[nseen < 16 ? nseen : 15];

	(void)r;
	out->dest = dest;
	out->severity = (int)s->severity;
	out->repeats = repeats;
	snprintf(out->text, sizeof(out->text), "%s", s->text);
	snprintf(out->title, sizeof(out->title), "%s", s->title ? s->title : "");
	snprintf(out->source, sizeof(out->source), "%s",
	    s->source ? s->source : "");
	snprintf(out->key, sizeof(out->key), "%s", s->key ? s->key : "");
	nseen++;
}

static bool
take_for(struct folds *fs, size_t dest, enum hb_severity sev, const char *key,
    const char *text, int64_t now)
{
	struct hb_notify n = { 0 };

	n.severity = sev;
	n.key = (char *)key;
	n.text = (char *)text;
	n.title = (char *)"Disk";
	n.source = (char *)"health";
	return fold_take(fs, dest, &n, now);
}

/* For destination 0, the only one most tests need. */
static bool
take(struct folds *fs, enum hb_severity sev, const char *key,
    const char *text, int64_t now)
{
	return take_for(fs, 0, sev, key, text, now);
}

static struct folds *
folds_new(struct hb_metrics *m, int64_t window_ms)
{
	nseen = 0;
	memset(seen, 0, sizeof(seen));
	return fold_new(window_ms, NULL, m);
}

/* Same key inside the window: folded; the summary at the window's end. */
static void
test_fold_and_summary(struct hb_metrics *m)
{
	struct folds *fs = folds_new(m, WINDOW_MS);
	struct hb_counter *folded = hb_metrics_counter(m,
	    "notifications_folded_total", "", NULL);
	struct hb_counter *summaries = hb_metrics_counter(m, "summaries_total",
	    "", NULL);

	HBT_CHECK(!take(fs, HB_SEV_WARNING, "disk", "90 %", 1000),
	    "the first of a key goes out");
	HBT_CHECK(take(fs, HB_SEV_WARNING, "disk", "91 %", 2000) &&
	    take(fs, HB_SEV_WARNING, "disk", "92 %", 3000) &&
	    take(fs, HB_SEV_WARNING, "disk", "93 %", 1000 + WINDOW_MS - 1),
	    "the next three inside the window are folded");
	HBT_CHECK(folded->value == 3, "folded_total 3, got %llu",
	    (unsigned long long)folded->value);
	fold_expire(fs, 1000 + WINDOW_MS - 1);
	HBT_CHECK(nseen == 0, "no summary before the window ends, got %d", nseen);
	fold_expire(fs, 1000 + WINDOW_MS);
	HBT_REQUIRE(nseen == 1, "one summary when it ends, got %d", nseen);
	HBT_CHECK(seen[0].repeats == 3, "repeats 3, got %d", seen[0].repeats);
	HBT_CHECK(strcmp(seen[0].text, "and 3 more like this in the last 5 min; "
	    "the latest:\n93 %") == 0, "summary text: %s", seen[0].text);
	HBT_CHECK(seen[0].severity == HB_SEV_WARNING &&
	    strcmp(seen[0].title, "Disk") == 0 &&
	    strcmp(seen[0].source, "health") == 0 &&
	    strcmp(seen[0].key, "disk") == 0, "the first's severity, title, "
	    "source and key");
	HBT_CHECK(summaries->value == 1, "summaries_total 1");
	HBT_CHECK(fold_open_count(fs) == 0, "the window is gone");
	fold_expire(fs, 10 * WINDOW_MS);
	HBT_CHECK(nseen == 1, "and its summary comes once");
	HBT_CHECK(!take(fs, HB_SEV_WARNING, "disk", "94 %", 2 * WINDOW_MS),
	    "after the window, the key goes out again");
	fold_free(fs);
}

/* The window's end is exclusive: at that instant a new one starts. */
static void
test_window_edge(struct hb_metrics *m)
{
	struct folds *fs = folds_new(m, WINDOW_MS);

	take(fs, HB_SEV_ERROR, "db", "down", 0);
	take(fs, HB_SEV_ERROR, "db", "still down", 10);
	/* nothing expired it yet: the next notification closes it itself */
	HBT_CHECK(!take(fs, HB_SEV_ERROR, "db", "down again", WINDOW_MS),
	    "at the window's end a notification goes out");
	HBT_CHECK(nseen == 1 && seen[0].repeats == 1 &&
	    strstr(seen[0].text, "still down") != NULL,
	    "after the summary of the window it closed");
	HBT_CHECK(fold_open_count(fs) == 1, "and opens its own window");
	fold_free(fs);
	HBT_CHECK(nseen == 1, "fold_free hands on nothing");
}

/* Worse news is never folded into milder news; milder news is. */
static void
test_severity(struct hb_metrics *m)
{
	struct folds *fs = folds_new(m, WINDOW_MS);

	take(fs, HB_SEV_WARNING, "ups", "on battery", 0);
	take(fs, HB_SEV_WARNING, "ups", "on battery", 100);
	HBT_CHECK(!take(fs, HB_SEV_CRITICAL, "ups", "battery low", 200),
	    "a worse severity goes out");
	HBT_CHECK(nseen == 1 && seen[0].severity == HB_SEV_WARNING &&
	    seen[0].repeats == 1, "after the summary of the milder window");
	HBT_CHECK(take(fs, HB_SEV_WARNING, "ups", "on battery", 300) &&
	    take(fs, HB_SEV_CRITICAL, "ups", "battery low", 400),
	    "milder and equal ones fold into the worse window");
	fold_expire(fs, 200 + WINDOW_MS);
	HBT_CHECK(nseen == 2 && seen[1].severity == HB_SEV_CRITICAL &&
	    seen[1].repeats == 2 && strstr(seen[1].text, "battery low"),
	    "its summary keeps the worse severity and the latest text");
	fold_free(fs);
}

/* No key, no window, other keys: nothing folded. */
static void
test_not_folded(struct hb_metrics *m)
{
	struct folds *fs = folds_new(m, WINDOW_MS), *off;

	HBT_CHECK(!take(fs, HB_SEV_INFO, NULL, "a", 0) &&
	    !take(fs, HB_SEV_INFO, NULL, "a", 1), "without a key, never");
	HBT_CHECK(!take(fs, HB_SEV_INFO, "a", "a", 0) &&
	    !take(fs, HB_SEV_INFO, "b", "b", 1) &&
	    take(fs, HB_SEV_INFO, "a", "a", 2) &&
	    take(fs, HB_SEV_INFO, "b", "b", 3), "each key its own window");
	HBT_CHECK(fold_open_count(fs) == 2, "two windows");
	fold_free(fs);

	off = folds_new(m, 0);
	HBT_CHECK(!take(off, HB_SEV_INFO, "a", "a", 0) &&
	    !take(off, HB_SEV_INFO, "a", "a", 1), "dedupe_window_s 0: off");
	HBT_CHECK(fold_open_count(off) == 0, "and no window kept");
	fold_free(off);
}

/*
 * Each destination its own windows: what one was offered (the severities
 * it takes) is what its summary counts, whatever another got.
 */
static void
test_per_destination(struct hb_metrics *m)
{
	struct folds *fs = folds_new(m, WINDOW_MS);
	struct hb_counter *folded = hb_metrics_counter(m,
	    "notifications_folded_total", "", NULL);
	uint64_t before = folded->value;

	/* a warning for both; then infos, which only destination 0 takes */
	HBT_CHECK(!take_for(fs, 0, HB_SEV_WARNING, "door", "open", 0) &&
	    !take_for(fs, 1, HB_SEV_WARNING, "door", "open", 0),
	    "the first goes to each");
	HBT_CHECK(take_for(fs, 0, HB_SEV_INFO, "door", "still open 1", 10) &&
	    take_for(fs, 0, HB_SEV_INFO, "door", "still open 2", 20),
	    "folded for destination 0");
	HBT_CHECK(fold_open_count(fs) == 2, "a window each");
	HBT_CHECK(folded->value - before == 2, "two folded, got %llu",
	    (unsigned long long)(folded->value - before));
	fold_expire(fs, WINDOW_MS);
	HBT_REQUIRE(nseen == 1, "one summary, for destination 0 alone: %d",
	    nseen);
	HBT_CHECK(seen[0].dest == 0 && seen[0].repeats == 2 &&
	    strstr(seen[0].text, "and 2 more") && strstr(seen[0].text,
	    "still open 2"), "destination 0: %zu %s", seen[0].dest, seen[0].text);

	/* one key, two destinations, folds in both: a summary each */
	take_for(fs, 0, HB_SEV_ERROR, "db", "down", 0);
	take_for(fs, 1, HB_SEV_ERROR, "db", "down", 0);
	take_for(fs, 0, HB_SEV_ERROR, "db", "down 2", 1);
	take_for(fs, 1, HB_SEV_ERROR, "db", "down 2", 1);
	take_for(fs, 1, HB_SEV_ERROR, "db", "down 3", 2);
	HBT_CHECK(fold_close_all(fs) == 2 && nseen == 3 && seen[1].dest == 0 &&
	    seen[1].repeats == 1 && seen[2].dest == 1 && seen[2].repeats == 2,
	    "each destination's own count");
	fold_free(fs);
}

/* SIGTERM: every window closed at once, summaries only where folded. */
static void
test_close_all(struct hb_metrics *m)
{
	struct folds *fs = folds_new(m, 2 * 3600 * 1000);

	take(fs, HB_SEV_ERROR, "a", "a1", 0);
	take(fs, HB_SEV_ERROR, "a", "a2", 1);
	take(fs, HB_SEV_ERROR, "b", "b1", 2);
	take(fs, HB_SEV_ERROR, "c", "c1", 3);
	take(fs, HB_SEV_ERROR, "c", "c2", 4);
	take(fs, HB_SEV_ERROR, "c", "c3", 5);
	HBT_CHECK(fold_close_all(fs) == 2, "two windows held folds");
	HBT_CHECK(nseen == 2 && strcmp(seen[0].key, "a") == 0 &&
	    seen[0].repeats == 1 && strcmp(seen[1].key, "c") == 0 &&
	    seen[1].repeats == 2, "their summaries, oldest window first");
	HBT_CHECK(strstr(seen[0].text, "in the last 2 h;") != NULL,
	    "the window said in hours: %s", seen[0].text);
	HBT_CHECK(fold_open_count(fs) == 0, "nothing left open");
	fold_free(fs);
}

int
main(void)
{
	struct hb_metrics *m;

	hbt_init("notifier_fold");
	m = hb_metrics_new("homebus_notifier_");
	test_fold_and_summary(m);
	test_window_edge(m);
	test_severity(m);
	test_not_folded(m);
	test_per_destination(m);
	test_close_all(m);
	hb_metrics_free(m);
	hbt_exit();
}
