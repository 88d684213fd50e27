/*
 * page: the status page on GET / — every target with its state in colour,
 * since when, why, and the last hour of checks as a strip, worst first.
 * Plain HTML and inline CSS, readable on a phone; it reloads itself with a
 * meta refresh (no scripts, no fonts, nothing fetched from elsewhere).
 */
#ifndef PAGE_H
#define PAGE_H

#include <stdbool.h>
#include <stdint.h>

#include "hb_util.h"
#include "target.h"

struct page_info {
	const char *instance;		/* the watcher's bus instance */
	enum hb_health_state overall;
	bool bus_connected;
	int refresh_s;
	int64_t now_ms;			/* wall clock */
	const char *other_watcher;	/* another watcher on the bus prefix, or NULL */
};

/* Appends the whole page to out. */
void page_render(struct hb_buf *out, struct target_list *targets,
    const struct page_info *pi);

/* Appends s with &, <, >, " and ' escaped. */
void page_escape(struct hb_buf *out, const char *s);
/* "42 s", "5 min", "3 h 12 min", "4 d 3 h". */
void page_duration(int64_t ms, char *out, size_t outlen);

#endif
