/*
 * progress: how a deploy followed with --wait is shown. On a terminal, one
 * live line per phase (spinner, phase, step n of m, elapsed) redrawn in
 * place, closed with a tick when the phase ends; elsewhere (a pipe, CI,
 * cron) one plain line per change. At the end, the outcome and, when it
 * failed, the reason and the failing step's last lines of output.
 */
#ifndef CLI_PROGRESS_H
#define CLI_PROGRESS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "hb_msg.h"

struct progress {
	FILE *out;
	bool live;		/* a terminal: redraw in place */
	bool color;
	char what[180];		/* "deploy 2026.12.1" */
	char phase[32];
	char step[32];
	int step_index, step_count;
	int64_t started_ms;	/* monotonic */
	int64_t phase_ms;
	unsigned spin;
	bool line_open;		/* a live line is on the screen, unfinished */
	int width;		/* the terminal's columns */
};

void progress_start(struct progress *p, bool live, bool color,
    const struct hb_deploy_cmd *cmd);
/* A state of the followed command that is not final. */
void progress_update(struct progress *p, const struct hb_deploy_state *s);
/* The spinner's next frame and the elapsed time (live only). */
void progress_redraw(struct progress *p);
/* The final state: closes the live line, prints the outcome. */
void progress_end(struct progress *p, const struct hb_deploy_state *s);
/* Closes the live line without an outcome (the wait was given up). */
void progress_abort(struct progress *p);
void progress_free(struct progress *p);

#endif
