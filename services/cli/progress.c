/*
 * progress: the display of a deploy being followed (see progress.h).
 */
#include "progress.h"

#include "hb_util.h"

#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

static const char *const spinner[] = { "|", "/", "-", "\\" };

static void
elapsed(int64_t ms, char *out, size_t n)
{
	if (ms < 60000)
		snprintf(out, n, "%.1f s", (double)ms / 1000.0);
	else
		snprintf(out, n, "%lld:%02lld", (long long)(ms / 60000),
		    (long long)(ms / 1000 % 60));
}

static void
stamp(char *out, size_t n)
{
	time_t t = time(NULL);
	struct tm tm;

	localtime_r(&t, &tm);
	snprintf(out, n, "%02d:%02d:%02d", tm.tm_hour, tm.tm_min, tm.tm_sec);
}

static const char *
col(const struct progress *p, const char *esc)
{
	return p->color ? esc : "";
}

void
progress_start(struct progress *p, bool live, bool color,
    const struct hb_deploy_cmd *cmd)
{
	struct winsize ws;

	memset(p, 0, sizeof(*p));
	p->out = stdout;
	p->live = live;
	p->color = color;
	p->width = 80;
	if (live && ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col >= 20)
		p->width = ws.ws_col;
	snprintf(p->what, sizeof(p->what), "%s%s%s%s%s",
	    hb_deploy_action_name(cmd->action), cmd->tag[0] ? " " : "", cmd->tag,
	    cmd->backup[0] ? " to backup " : "", cmd->backup);
	p->started_ms = p->phase_ms = hb_mono_ms();
	snprintf(p->phase, sizeof(p->phase), "sent");
	if (live) {
		progress_redraw(p);
	} else {
		char t[16];

		stamp(t, sizeof(t));
		fprintf(p->out, "%s %s: sent, waiting for the deployer\n", t, p->what);
		fflush(p->out);
	}
}

/* "step 2/6" when the deployer says, "" otherwise. */
static void
step_text(const struct progress *p, char *out, size_t n)
{
	if (p->step_count > 0 && p->step_index > 0)
		snprintf(out, n, "step %d/%d", p->step_index, p->step_count);
	else
		out[0] = '\0';
}

void
progress_redraw(struct progress *p)
{
	char line[512], el[32], st[32];
	int len;

	if (!p->live)
		return;
	elapsed(hb_mono_ms() - p->phase_ms, el, sizeof(el));
	step_text(p, st, sizeof(st));
	len = snprintf(line, sizeof(line), "%s %-10s %-9s %7s  %s",
	    spinner[p->spin++ % 4], p->phase, st, el, p->what);
	if (len >= p->width)
		line[p->width - 1] = '\0';
	/* back to the start of the line, clear it, draw */
	fprintf(p->out, "\r\033[K%s", line);
	fflush(p->out);
	p->line_open = true;
}

/* Ends the live line of the phase that just ended, with a tick. */
static void
close_phase(struct progress *p, const char *mark, const char *color)
{
	char el[32], st[32];

	if (!p->live || !p->line_open)
		return;
	elapsed(hb_mono_ms() - p->phase_ms, el, sizeof(el));
	step_text(p, st, sizeof(st));
	fprintf(p->out, "\r\033[K%s%s%s %-10s %-9s %7s\n", col(p, color), mark,
	    col(p, "\033[0m"), p->phase, st, el);
	p->line_open = false;
}

void
progress_update(struct progress *p, const struct hb_deploy_state *s)
{
	bool changed = strcmp(p->phase, s->phase) != 0 ||
	    strcmp(p->step, s->step) != 0 || p->step_index != s->step_index;

	if (!changed)
		return;
	if (strcmp(p->phase, "sent") != 0)
		close_phase(p, "ok", "\033[32m");
	else if (p->live && p->line_open)
		fprintf(p->out, "\r\033[K");
	snprintf(p->phase, sizeof(p->phase), "%s", s->phase);
	snprintf(p->step, sizeof(p->step), "%s", s->step);
	p->step_index = s->step_index;
	p->step_count = s->step_count;
	p->phase_ms = hb_mono_ms();
	if (p->live) {
		progress_redraw(p);
	} else {
		char t[16], st[32];

		stamp(t, sizeof(t));
		step_text(p, st, sizeof(st));
		fprintf(p->out, "%s %s: %s%s%s%s\n", t, p->what, s->phase,
		    st[0] ? " (" : "", st, st[0] ? ")" : "");
		fflush(p->out);
	}
}

/* The last lines of the failing step's output (of a check or a drill
 * that passed: what it found), indented. */
static void
print_tail(struct progress *p, const char *tail, bool ok)
{
	const char *line = tail, *nl;

	if (*tail == '\0')
		return;
	fprintf(p->out, "  %s:\n", ok ? "found" : "output of the failing step");
	while (*line) {
		nl = strchr(line, '\n');
		if (nl == NULL)
			nl = line + strlen(line);
		fprintf(p->out, "  | %.*s\n", (int)(nl - line), line);
		line = *nl ? nl + 1 : nl;
	}
}

void
progress_end(struct progress *p, const struct hb_deploy_state *s)
{
	bool ok = strcmp(s->phase, "done") == 0;
	char el[32], t[16];

	if (strcmp(p->phase, "sent") != 0)
		close_phase(p, ok ? "ok" : "!!", ok ? "\033[32m" : "\033[31m");
	else if (p->live && p->line_open)
		fprintf(p->out, "\r\033[K");
	p->line_open = false;
	elapsed(hb_mono_ms() - p->started_ms, el, sizeof(el));
	stamp(t, sizeof(t));
	fprintf(p->out, "%s%s%s: %s%s", p->live ? "" : t, p->live ? "" : " ",
	    p->what, col(p, ok ? "\033[32m" : "\033[31m"), s->phase);
	fprintf(p->out, "%s", col(p, "\033[0m"));
	if (s->from_tag[0] || s->to_tag[0])
		fprintf(p->out, " (from %s to %s)", s->from_tag[0] ? s->from_tag : "-",
		    s->to_tag[0] ? s->to_tag : "-");
	fprintf(p->out, " in %s\n", el);
	if (s->error[0])
		fprintf(p->out, "  %s\n", s->error);
	if (s->backup[0])
		fprintf(p->out, "  backup: %s\n", s->backup);
	if (s->restored[0])
		fprintf(p->out, "  restored: %s\n", s->restored);
	print_tail(p, s->log_tail, ok);
	fflush(p->out);
}

void
progress_abort(struct progress *p)
{
	if (p->live && p->line_open) {
		fprintf(p->out, "\r\033[K");
		fflush(p->out);
	}
	p->line_open = false;
}

void
progress_free(struct progress *p)
{
	(void)p;
}
