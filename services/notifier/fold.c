/*
 * fold: dedupe windows and their summaries (see fold.h).
 */
#include "fold.h"
#include "route.h"

#include "hb_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

/* Notifications with one key inside the dedupe window, for one destination. */
struct fold {
	TAILQ_ENTRY(fold) entry;
	size_t dest;
	char *key;
	int severity;
	char *title;
	char *text;		/* the latest */
	char *source;
	int count;		/* folded after the first */
	int64_t window_end_ms;
};

TAILQ_HEAD(fold_list, fold);

struct folds {
	int64_t window_ms;
	struct router *router;		/* takes the summaries */
	struct fold_list list;
	int open;
	struct hb_counter *m_folded, *m_summaries;
};

struct folds *
fold_new(int64_t window_ms, struct router *router, struct hb_metrics *m)
{
	struct folds *fs = hb_xcalloc(1, sizeof(*fs));

	fs->window_ms = window_ms;
	fs->router = router;
	TAILQ_INIT(&fs->list);
	fs->m_folded = hb_metrics_counter(m, "notifications_folded_total",
	    "Notifications folded into an earlier one with the same key, once "
	    "for each destination that would have received them.", NULL);
	fs->m_summaries = hb_metrics_counter(m, "summaries_total",
	    "\"and N more like this\" summaries sent when a dedupe window closed, "
	    "one for each destination.", NULL);
	return fs;
}

static void
fold_forget(struct folds *fs, struct fold *f)
{
	TAILQ_REMOVE(&fs->list, f, entry);
	fs->open--;
	free(f->key);
	free(f->title);
	free(f->text);
	free(f->source);
	free(f);
}

void
fold_free(struct folds *fs)
{
	struct fold *f;

	if (fs == NULL)
		return;
	while ((f = TAILQ_FIRST(&fs->list)) != NULL)
		fold_forget(fs, f);
	free(fs);
}

static void
human_duration(int64_t ms, char *out, size_t outlen)
{
	int64_t s = ms / 1000;

	if (s >= 3600 && s % 3600 == 0)
		snprintf(out, outlen, "%lld h", (long long)(s / 3600));
	else if (s >= 60 && s % 60 == 0)
		snprintf(out, outlen, "%lld min", (long long)(s / 60));
	else
		snprintf(out, outlen, "%lld s", (long long)s);
}

/* The window of f closed: a summary if anything was folded into it. */
static void
fold_close(struct folds *fs, struct fold *f)
{
	if (f->count > 0) {
		struct hb_notify s = { 0 };
		struct hb_buf text = { 0 };
		char window[32];

		human_duration(fs->window_ms, window, sizeof(window));
		hb_buf_printf(&text, "and %d more like this in the last %s; the "
		    "latest:\n%s", f->count, window, f->text);
		s.severity = (enum hb_severity)f->severity;
		s.text = text.data;
		s.title = f->title;
		s.source = f->source;
		s.key = f->key;
		hb_counter_add(fs->m_summaries, 1);
		route_summary(fs->router, f->dest, &s, f->count);
		hb_buf_free(&text);
	}
	fold_forget(fs, f);
}

bool
fold_take(struct folds *fs, size_t dest, const struct hb_notify *n,
    int64_t now)
{
	struct fold *f;

	if (n->key == NULL || fs->window_ms == 0)
		return false;
	TAILQ_FOREACH(f, &fs->list, entry)
		if (f->dest == dest && strcmp(f->key, n->key) == 0)
			break;
	if (f && now < f->window_end_ms && (int)n->severity <= f->severity) {
		f->count++;
		free(f->text);
		f->text = hb_xstrdup(n->text);
		hb_counter_add(fs->m_folded, 1);
		return true;
	}
	if (f)		/* window over, or worse news: summarise, start again */
		fold_close(fs, f);
	f = hb_xcalloc(1, sizeof(*f));
	f->dest = dest;
	f->key = hb_xstrdup(n->key);
	f->severity = (int)n->severity;
	f->title = n->title ? hb_xstrdup(n->title) : NULL;
	f->text = hb_xstrdup(n->text);
	f->source = n->source ? hb_xstrdup(n->source) : NULL;
	f->window_end_ms = now + fs->window_ms;
	TAILQ_INSERT_TAIL(&fs->list, f, entry);
	fs->open++;
	return false;
}

void
fold_expire(struct folds *fs, int64_t now)
{
	struct fold *f, *next;

	for (f = TAILQ_FIRST(&fs->list); f; f = next) {
		next = TAILQ_NEXT(f, entry);
		if (now >= f->window_end_ms)
			fold_close(fs, f);
	}
}

int
fold_close_all(struct folds *fs)
{
	struct fold *f;
	int held = 0;

	while ((f = TAILQ_FIRST(&fs->list)) != NULL) {
		held += f->count > 0;
		fold_close(fs, f);
	}
	return held;
}

int
fold_open_count(const struct folds *fs)
{
	return fs->open;
}
