/*
 * page: HTML for the status page.
 */
#include "page.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char style[] =
    "*{box-sizing:border-box}"
    "body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;"
    "margin:0;padding:12px;background:#f4f5f7;color:#1c1f23;line-height:1.35}"
    "header{margin:0 0 12px}"
    "h1{font-size:1.25rem;margin:0 0 4px;display:flex;gap:8px;align-items:center;"
    "flex-wrap:wrap}"
    ".sum{margin:0;color:#555;font-size:.9rem}"
    ".t{background:#fff;border-radius:8px;padding:10px 12px;margin:0 0 10px;"
    "border-left:6px solid #9e9e9e;box-shadow:0 1px 2px rgba(0,0,0,.08)}"
    ".t.ok{border-color:#2e7d32}.t.degraded{border-color:#f9a825}"
    ".t.down{border-color:#c62828}"
    ".h{display:flex;justify-content:space-between;gap:8px;align-items:baseline}"
    ".n{font-weight:600;font-size:1.05rem;word-break:break-all}"
    ".s{font-weight:700;font-size:.8rem;letter-spacing:.03em;padding:2px 9px;"
    "border-radius:10px;color:#fff;background:#757575;white-space:nowrap}"
    ".s.ok{background:#2e7d32}.s.degraded{background:#b26a00}"
    ".s.down{background:#c62828}"
    ".m{font-size:.85rem;color:#555;margin-top:3px}"
    ".r{font-size:.9rem;margin-top:3px;word-break:break-word}"
    ".strip{display:flex;gap:1px;margin-top:8px;height:14px}"
    ".strip i{flex:1;background:#e3e3e3;border-radius:1px}"
    ".strip i.ok{background:#66bb6a}.strip i.degraded{background:#fbc02d}"
    ".strip i.down{background:#e53935}"
    ".ax{display:flex;justify-content:space-between;font-size:.7rem;color:#888}"
    "footer{font-size:.75rem;color:#888;margin-top:12px}"
    "@media (prefers-color-scheme:dark){body{background:#121417;color:#e6e6e6}"
    ".t{background:#1d2126}.sum,.m{color:#aaa}.strip i{background:#33383f}}";

void
page_escape(struct hb_buf *out, const char *s)
{
	for (; *s; s++) {
		switch (*s) {
		case '&': hb_buf_puts(out, "&amp;"); break;
		case '<': hb_buf_puts(out, "&lt;"); break;
		case '>': hb_buf_puts(out, "&gt;"); break;
		case '"': hb_buf_puts(out, "&quot;"); break;
		case '\'': hb_buf_puts(out, "&#39;"); break;
		default: hb_buf_putc(out, *s);
		}
	}
}

void
page_duration(int64_t ms, char *out, size_t outlen)
{
	int64_t s = ms < 0 ? 0 : ms / 1000;

	if (s < 60)
		snprintf(out, outlen, "%lld s", (long long)s);
	else if (s < 3600)
		snprintf(out, outlen, "%lld min", (long long)(s / 60));
	else if (s < 86400)
		snprintf(out, outlen, "%lld h %lld min", (long long)(s / 3600),
		    (long long)(s % 3600 / 60));
	else
		snprintf(out, outlen, "%lld d %lld h", (long long)(s / 86400),
		    (long long)(s % 86400 / 3600));
}

/* "14:05 UTC", or "2026-11-24 14:05 UTC" when not today. */
static void
clock_time(int64_t ms, int64_t now_ms, char *out, size_t outlen)
{
	time_t t = (time_t)(ms / 1000), now = (time_t)(now_ms / 1000);
	struct tm tm, tn;

	gmtime_r(&t, &tm);
	gmtime_r(&now, &tn);
	if (tm.tm_yday == tn.tm_yday && tm.tm_year == tn.tm_year)
		strftime(out, outlen, "%H:%M:%S UTC", &tm);
	else
		strftime(out, outlen, "%Y-%m-%d %H:%M UTC", &tm);
}

static const char *const level_class[] = { "ok", "degraded", "down" };

static int
by_state_then_name(const void *a, const void *b)
{
	const struct target *x = *(const struct target *const *)a;
	const struct target *y = *(const struct target *const *)b;
	int rx = health_state_rank(x->state), ry = health_state_rank(y->state);

	if (rx != ry)
		return ry - rx;
	return strcmp(x->name, y->name);
}

static void
render_target(struct hb_buf *out, const struct target *t,
    const struct page_info *pi)
{
	const char *st = hb_health_state_name(t->state);
	int64_t minute = pi->now_ms / 60000;
	char since[40], dur[40], lat[32];

	clock_time(t->since_ms, pi->now_ms, since, sizeof(since));
	page_duration(pi->now_ms - t->since_ms, dur, sizeof(dur));
	lat[0] = '\0';
	if (t->latency_ms >= 0)
		snprintf(lat, sizeof(lat), " · %.*f ms", t->latency_ms < 1 ? 2 :
		    t->latency_ms < 10 ? 1 : 0, t->latency_ms);
	hb_buf_printf(out, "<section class=\"t %s\" id=\"t-%s\" data-state=\"%s\">"
	    "<div class=\"h\"><span class=\"n\">", st, t->ha_id, st);
	page_escape(out, t->name);
	hb_buf_printf(out, "</span><span class=\"s %s\">%s</span></div>"
	    "<div class=\"m\">%s · since %s (%s)%s", st, st,
	    target_type_name(t->type), since, dur, lat);
	/* the figures a disk's reason leaves out */
	if (t->type == TT_DISK && t->total_mb > 0) {
		char free_s[32];

		if (t->free_mb >= 1024.0)
			snprintf(free_s, sizeof(free_s), "%.1f GB", t->free_mb / 1024.0);
		else
			snprintf(free_s, sizeof(free_s), "%.0f MB", t->free_mb);
		hb_buf_printf(out, " · %s free (%.0f %%)", free_s,
		    t->free_mb * 100.0 / t->total_mb);
	}
	/* a service tells its start and memory in its heartbeat; the uptime
	 * is counted from the start (the last heartbeat's may be old) */
	if (target_started(t) >= 0) {
		page_duration(pi->now_ms - target_started(t), dur, sizeof(dur));
		hb_buf_printf(out, " · up %s", dur);
		if (t->heartbeat.rss_kb > 0)
			hb_buf_printf(out, ", %.1f MB", (double)t->heartbeat.rss_kb / 1024);
	}
	hb_buf_puts(out, "</div><div class=\"r\">");
	page_escape(out, t->reason);
	hb_buf_puts(out, "</div><div class=\"strip\" title=\"the last hour, "
	    "a minute a cell\">");
	for (int64_t m = minute - (HISTORY_SLOTS - 1); m <= minute; m++) {
		unsigned checks = 0;
		int worst = target_history_at(t, m, &checks);

		if (worst < 0)
			hb_buf_puts(out, "<i></i>");
		else
			hb_buf_printf(out, "<i class=\"%s\"></i>", level_class[worst]);
	}
	hb_buf_puts(out, "</div><div class=\"ax\"><span>an hour ago</span>"
	    "<span>now</span></div></section>\n");
}

void
page_render(struct hb_buf *out, struct target_list *targets,
    const struct page_info *pi)
{
	const char *overall = hb_health_state_name(pi->overall);
	struct target **sorted, *t;
	size_t n = 0, i = 0, counts[4] = { 0 };
	char now[40];

	TAILQ_FOREACH(t, targets, entry)
		n++;
	sorted = hb_xcalloc(n ? n : 1, sizeof(*sorted));
	TAILQ_FOREACH(t, targets, entry) {
		sorted[i++] = t;
		counts[t->state]++;
	}
	qsort(sorted, n, sizeof(*sorted), by_state_then_name);
	clock_time(pi->now_ms, pi->now_ms, now, sizeof(now));

	hb_buf_printf(out, "<!doctype html>\n<html lang=\"en\"><head>"
	    "<meta charset=\"utf-8\">"
	    "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
	    "<meta http-equiv=\"refresh\" content=\"%d\">"
	    "<title>homebus health: %s</title><style>%s</style></head><body>\n"
	    "<header><h1>homebus health <span class=\"s %s\" id=\"overall\">%s"
	    "</span></h1><p class=\"sum\">%zu targets: ", pi->refresh_s, overall,
	    style, overall, overall, n);
	hb_buf_printf(out, "%zu ok", counts[HB_HEALTH_OK]);
	if (counts[HB_HEALTH_DOWN])
		hb_buf_printf(out, ", %zu down", counts[HB_HEALTH_DOWN]);
	if (counts[HB_HEALTH_DEGRADED])
		hb_buf_printf(out, ", %zu degraded", counts[HB_HEALTH_DEGRADED]);
	if (counts[HB_HEALTH_UNKNOWN])
		hb_buf_printf(out, ", %zu unknown", counts[HB_HEALTH_UNKNOWN]);
	hb_buf_printf(out, " · %s · %s</p></header>\n<main>\n",
	    pi->bus_connected ? "connected to the broker" :
	    "<strong>not connected to the broker</strong>", now);
	if (pi->other_watcher) {
		hb_buf_puts(out, "<p class=\"sum\" id=\"warning\"><strong>Another "
		    "health watcher (");
		page_escape(out, pi->other_watcher);
		hb_buf_puts(out, ") is online on this broker: both write the same "
		    "states. Run one watcher per bus prefix.</strong></p>\n");
	}
	for (i = 0; i < n; i++)
		render_target(out, sorted[i], pi);
	if (n == 0)
		hb_buf_puts(out, "<p>No targets yet.</p>\n");
	hb_buf_puts(out, "</main><footer>homebus-health " HB_VERSION " on ");
	page_escape(out, pi->instance);
	hb_buf_printf(out, " · reloads every %d s</footer>\n</body></html>\n",
	    pi->refresh_s);
	free(sorted);
}
