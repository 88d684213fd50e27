/*
 * backups_watch: a backups target's verdict (see backups_watch.h).
 */
#include "backups_watch.h"

#include <stdio.h>
#include <string.h>

int
backups_watch_take(struct backups_watch *w, const char *payload, size_t len)
{
	struct hb_backups_state s;
	char err[160];

	if (hb_backups_state_decode(payload, len, &s, err, sizeof(err)) != 0)
		return -1;
	w->last = s;
	w->seen = true;
	return 0;
}

void
backups_watch_judge(const struct backups_watch *w, const struct target *t,
    int64_t now_ms, struct check_result *r)
{
	const struct hb_backups_state *s = &w->last;

	memset(r, 0, sizeof(*r));
	r->latency_ms = -1;
	r->level = LEVEL_FAIL;
	/* reasons stay the same while they last: no ages in them */
	if (!w->seen)
		snprintf(r->reason, sizeof(r->reason), "no word from the deployer on "
		    "deploy/backups (is it running?)");
	else if (s->newest_ms < 0)
		snprintf(r->reason, sizeof(r->reason), "no complete backup at all");
	else if (now_ms - s->newest_ms > t->max_age_ms)
		snprintf(r->reason, sizeof(r->reason), "the newest backup, %.120s, is "
		    "older than %.0f h", s->newest, (double)t->max_age_ms / 3600000.0);
	else if (strcmp(s->drill, "failed") == 0)
		snprintf(r->reason, sizeof(r->reason), "the last restore drill (of "
		    "%.60s) failed: %.120s", s->drill_backup, s->drill_error);
	else
		r->level = LEVEL_OK;
}
