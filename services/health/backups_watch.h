/*
 * backups_watch: the health watcher's `backups` targets, judged from what
 * the deployer retains on P/deploy/backups (its fields and the rule this
 * relies on are in bus/hb_msg.h): down when the newest backup is older than
 * the target's max_age_h, or when the last restore drill failed.
 * Pure logic: health.c feeds it the messages and asks for a verdict.
 */
#ifndef BACKUPS_WATCH_H
#define BACKUPS_WATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hb_msg.h"
#include "target.h"

struct backups_watch {
	bool seen;			/* a message came (retained, or since) */
	struct hb_backups_state last;
};

/* Keeps what a P/deploy/backups message says; one that does not decode is
 * ignored (logged at most by the caller). 0, or -1. */
int backups_watch_take(struct backups_watch *w, const char *payload,
    size_t len);

/* The verdict on backups target t at now_ms (wall clock). */
void backups_watch_judge(const struct backups_watch *w, const struct target *t,
    int64_t now_ms, struct check_result *r);

#endif
