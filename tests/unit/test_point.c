/*
 * The point builder on its own: what a converter may put into a point, and
 * the exact line it then gets — or no line, and a count of what was left out.
 */
#include "hbt.h"
#include "hb_lp.h"
#include "point.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define T 1700000000000000000LL

static void
start(struct point *p, const char *meas)
{
	memset(p, 0, sizeof(*p));
	hb_buf_puts(&p->meas, meas);
	p->time_ns = T;
}

/* Emits p into a fresh buffer; returns the line (caller frees) or NULL. */
static char *
emit(struct point *p)
{
	struct hb_buf out = { 0 };

	if (!point_emit(p, &out)) {
		HBT_CHECK(out.len == 0, "a point that is not written leaves nothing");
		hb_buf_free(&out);
		return NULL;
	}
	return hb_buf_steal(&out);
}

static void
check_line(struct point *p, const char *want)
{
	char *got = emit(p);

	HBT_CHECK(got && strcmp(got, want) == 0, "got \"%s\"\n  want \"%s\"",
	    got ? got : "(none)", want);
	free(got);
}

static void
test_every_type(void)
{
	struct point p;

	start(&p, "living room");
	point_tag(&p, "room", "a,b", 3, true);
	point_float(&p, "t", 21.5);
	point_int(&p, "battery", 97.0);
	point_bool(&p, "on", true);
	point_string(&p, "mode", "say \"hi\"", 8);
	HBT_CHECK(point_has_field(&p, "battery") && !point_has_field(&p, "x"),
	    "the point knows its field names");
	check_line(&p, "living\\ room,room=a\\,b t=21.5,battery=97i,on=true,"
	    "mode=\"say \\\"hi\\\"\" 1700000000000000000\n");
	HBT_CHECK(p.skipped == 0, "nothing skipped");
	point_free(&p);
}

/* A value that cannot be written is left out and counted; the rest stays. */
static void
test_left_out(void)
{
	struct point p;

	start(&p, "m");
	point_float(&p, "a", 1);
	point_float(&p, "a", 2);		/* a name twice: the first stays */
	point_float(&p, "nan", 0.0 / 0.0);
	point_int(&p, "big", 1e19);		/* past int64 */
	point_string(&p, "nl", "a\nb", 3);	/* a quoted string ends on its line */
	point_float(&p, "bad\\", 1);		/* a trailing backslash is not */
	point_tag(&p, "empty", "", 0, false);	/* an optional tag: counted */
	check_line(&p, "m a=1 1700000000000000000\n");
	HBT_CHECK(p.skipped == 6, "six values left out (%d)", p.skipped);
	point_free(&p);

	/* a tag the rule requires spoils the point: the series would change */
	start(&p, "m");
	point_tag(&p, "room", "", 0, true);
	point_float(&p, "a", 1);
	HBT_CHECK(p.bad && emit(&p) == NULL, "a required tag that cannot be "
	    "written: no point");
	point_free(&p);

	start(&p, "m");
	HBT_CHECK(emit(&p) == NULL, "no field: no point");
	point_free(&p);

	start(&p, "");
	point_float(&p, "a", 1);
	HBT_CHECK(emit(&p) == NULL, "no measurement: no point");
	point_free(&p);
}

/*
 * The writer's parser takes at most HB_LP_MAX_FIELDS fields: past them the
 * first are kept and the rest counted (issue 14, item 10), never the whole
 * point lost.
 */
static void
test_field_cap(void)
{
	struct point p;
	struct hb_lp_line *line = hb_xmalloc(sizeof(*line));
	char *got, err[160];
	size_t pos = 0;

	start(&p, "m");
	for (int i = 0; i < HB_LP_MAX_FIELDS + 44; i++) {
		char k[16];

		snprintf(k, sizeof(k), "f%d", i);
		point_float(&p, k, i);
	}
	HBT_CHECK(p.nfields == HB_LP_MAX_FIELDS && p.skipped == 44,
	    "%d fields kept, %d counted", p.nfields, p.skipped);
	got = emit(&p);
	HBT_REQUIRE(got != NULL, "the point is written");
	HBT_CHECK(hb_lp_next(got, strlen(got), &pos, NULL, line, err, sizeof(err)) ==
	    HB_LP_OK && line->nfields == HB_LP_MAX_FIELDS && strstr(got, " f0=0,") &&
	    strstr(got, ",f255=255 ") && !strstr(got, "f256"),
	    "the writer's parser takes it, with the first %d fields: %s",
	    HB_LP_MAX_FIELDS, err);
	free(got);
	free(line);
	point_free(&p);
}

/* The writer refuses lines over 64 KiB: none is made. */
static void
test_line_limit(void)
{
	struct point p;
	char *big = hb_xmalloc(35000);

	memset(big, 'x', 35000);
	start(&p, "m");
	point_string(&p, "s1", big, 35000);
	point_string(&p, "s2", big, 35000);
	HBT_CHECK(p.nfields == 2 && emit(&p) == NULL, "a 70 kB line is not made");
	point_free(&p);
	free(big);
}

int
main(void)
{
	hbt_init("point");
	test_every_type();
	test_left_out();
	test_field_cap();
	test_line_limit();
	hbt_exit();
}
