/*
 * plan: a job's steps and what it restores (see plan.h).
 */
#include "plan.h"
#include "backup.h"
#include "hb_log.h"

#include <assert.h>
#include <stdio.h>
#include <string.h>

void
plan_add(struct plan *p, enum job_step kind, int index)
{
	assert(p->n < PLAN_MAX);
	p->step[p->n++] = (struct plan_step){ kind, index };
	p->count = index;
}

void
plan_restore(struct plan *p, const struct plan_job *pj)
{
	const struct deployer_config *c = pj->cfg;
	char err[512];
	bool changed;

	p->nrestore = 0;
	p->restore_cmd = false;
	if (pj->backup[0] == '\0' || c->restore_on_rollback == RESTORE_NEVER ||
	    pj->dry_run)
		return;
	p->restore_cmd = c->restore_on_rollback == RESTORE_ALWAYS &&
	    c->steps[STEP_RESTORE].argc > 0;
	for (size_t i = 0; i < c->nsqlite; i++) {
		if (c->restore_on_rollback == RESTORE_CHANGED) {
			if (backup_schema_changed(c->backup_dir, pj->backup,
			    c->sqlite[i], &changed, err, sizeof(err)) != 0) {
				hb_warn("job id=%s not restored: %s", pj->id, err);
				continue;
			}
			hb_info("job id=%s %s: schema %s since backup %s", pj->id,
			    c->sqlite[i], changed ? "changed" : "unchanged",
			    pj->backup);
			if (!changed)
				continue;
		}
		p->restore[p->nrestore++] = c->sqlite[i];
	}
}

int
plan_going_back(struct plan *p, int n)
{
	if (p->nrestore > 0) {
		plan_add(p, JS_STOP, ++n);
		plan_add(p, JS_RESTORE_SQLITE, ++n);
	}
	plan_add(p, JS_UP, ++n);
	if (p->restore_cmd)
		plan_add(p, JS_RESTORE, ++n);
	plan_add(p, JS_VERIFY, ++n);
	return n;
}

/* base name of a path */
static const char *
file_name(const char *path)
{
	const char *s = strrchr(path, '/');

	return s ? s + 1 : path;
}

int
plan_restore_target(struct plan *p, const struct deployer_config *c,
    const char *backup, const char *const *only, size_t nonly, char *why,
    size_t whylen)
{
	char tag[129];

	p->nrestore = 0;
	p->restore_cmd = nonly == 0 && c->steps[STEP_RESTORE].argc > 0;
	if (backup_tag_of(c->backup_dir, backup, tag, sizeof(tag), why,
	    whylen) != 0)
		return -1;
	for (size_t k = 0; k < nonly; k++) {
		bool known = false;

		for (size_t i = 0; i < c->nsqlite; i++)
			known = known || strcmp(file_name(c->sqlite[i]), only[k]) == 0;
		if (!known) {
			snprintf(why, whylen, "%s is not one of "
			    "deployer.sqlite_backups", only[k]);
			return -1;
		}
	}
	for (size_t i = 0; i < c->nsqlite; i++) {
		bool wanted = nonly == 0;

		for (size_t k = 0; k < nonly; k++)
			wanted = wanted || strcmp(file_name(c->sqlite[i]), only[k]) == 0;
		if (!wanted)
			continue;
		if (!backup_lists_source(c->backup_dir, backup, c->sqlite[i])) {
			if (nonly > 0) {
				snprintf(why, whylen, "backup %s has no copy of %s", backup,
				    c->sqlite[i]);
				return -1;
			}
			continue;
		}
		p->restore[p->nrestore++] = c->sqlite[i];
	}
	if (p->nrestore == 0 && !p->restore_cmd) {
		snprintf(why, whylen, "nothing to restore from %s: none of "
		    "deployer.sqlite_backups is in it, and no deployer.steps.restore",
		    backup);
		return -1;
	}
	return 0;
}

void
plan_restore_back(struct plan *p, const struct deployer_config *c,
    const char *safety, bool dry_run)
{
	p->nrestore = 0;
	if (safety[0] == '\0' || dry_run)
		return;
	p->restore_cmd = c->steps[STEP_RESTORE].argc > 0;
	for (size_t i = 0; i < c->nsqlite; i++)
		if (backup_lists_source(c->backup_dir, safety, c->sqlite[i]))
			p->restore[p->nrestore++] = c->sqlite[i];
}

void
plan_build(struct plan *p, const struct plan_job *pj)
{
	p->n = 0;
	p->pos = 0;
	plan_add(p, JS_PREFLIGHT, 1);
	switch (pj->action) {
	case HB_DEPLOY_DEPLOY:
		plan_add(p, JS_PULL, 2);
		plan_add(p, JS_SQLITE, 3);
		plan_add(p, JS_BACKUP_CMD, 3);
		plan_add(p, JS_MANIFEST, 3);
		plan_add(p, JS_UP, 4);
		plan_add(p, JS_VERIFY, 5);
		plan_add(p, JS_RECORD, 6);
		break;
	case HB_DEPLOY_ROLLBACK:
		plan_restore(p, pj);
		plan_add(p, JS_RECORD, plan_going_back(p, 1) + 1);
		break;
	case HB_DEPLOY_VERIFY:
		plan_add(p, JS_CHECK, 2);
		plan_add(p, JS_RECORD, 3);
		break;
	case HB_DEPLOY_DRILL:
		plan_add(p, JS_DRILL, 2);
		if (pj->cfg->steps[STEP_DRILL].argc > 0)
			plan_add(p, JS_DRILL_CMD, 2);
		plan_add(p, JS_RECORD, 3);
		break;
	case HB_DEPLOY_RESTORE:
		/* plan_restore_target chose the files */
		plan_add(p, JS_CHECK, 2);
		plan_add(p, JS_SQLITE, 3);
		plan_add(p, JS_BACKUP_CMD, 3);
		plan_add(p, JS_MANIFEST, 3);
		plan_add(p, JS_RECORD, plan_going_back(p, 3) + 1);
		break;
	default:
		plan_add(p, JS_SQLITE, 2);
		plan_add(p, JS_BACKUP_CMD, 2);
		plan_add(p, JS_MANIFEST, 2);
		plan_add(p, JS_RECORD, 3);
		break;
	}
}
