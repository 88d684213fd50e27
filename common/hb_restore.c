/*
 * hb_restore: when to put a retained message of ours back (see hb_restore.h).
 */
#include "hb_restore.h"
#include "hb_log.h"
#include "hb_util.h"

void
hb_restore_init(struct hb_restore *r, int max, int64_t window_ms)
{
	hb_rate_init(&r->rate, max, window_ms);
	r->logged_ms = hb_mono_ms() - window_ms;
	r->found = 0;
}

void
hb_restore_free(struct hb_restore *r)
{
	hb_rate_free(&r->rate);
}

bool
hb_restore_take(struct hb_restore *r, const char *what, const char *topic)
{
	int64_t now = hb_mono_ms();
	bool again = hb_rate_next(&r->rate, now) <= now;

	r->found++;
	if (now - r->logged_ms >= r->rate.window_ms) {
		hb_warn("%s on %s is not ours (%ld time(s) in %lld s; another "
		    "account's, or an older version's): %s", what, topic, r->found,
		    (long long)(r->rate.window_ms / 1000), again ?
		    "publishing ours again" : "too often, leaving it until the "
		    "limit allows");
		r->logged_ms = now;
		r->found = 0;
	}
	if (again)
		hb_rate_take(&r->rate, now);
	return again;
}
