/*
 * backup: a deploy's backup folder, backup_dir/<UTC time>-<from_tag>/ —
 * SQLite files copied through SQLite's online backup API and checked with
 * PRAGMA integrity_check (a cp of a live SQLite file can be corrupt), a
 * manifest.json with every file's size and sha256, and retention. Copying
 * and hashing run on a worker thread of this module's own, one job at a
 * time (a home-assistant_v2.db of gigabytes must not stop the loop); the
 * loop learns of the end through a pipe and calls back on the loop thread.
 */
#ifndef DEPLOYER_BACKUP_H
#define DEPLOYER_BACKUP_H

#include <event2/event.h>
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct backup;

/* ok, or the reason it failed; valid during the call. */
typedef void (*backup_done_fn)(bool ok, const char *error, void *arg);

struct backup *backup_new(struct event_base *base);
/* Stops and waits for a job still running (no callback). */
void backup_free(struct backup *b);
bool backup_busy(const struct backup *b);
/* Asks a running job to stop after the file it is on (it fails then). */
void backup_cancel(struct backup *b);

/*
 * Creates a new folder under root named "<UTC time>-<tag>" (a second later
 * if that name is taken) and writes its name into out. 0 or -1 with err.
 */
int backup_make_folder(const char *root, const char *tag, int64_t wall_ms,
    char *out, size_t outlen, char *err, size_t errlen);

/*
 * Copies each SQLite file of files[n] into root/name/ under its own base
 * name, verified with integrity_check. Returns 0 (done comes later) or -1
 * with err when a job is running.
 */
int backup_copy_sqlite(struct backup *b, const char *root, const char *name,
    const char *const *files, size_t n, backup_done_fn done, void *arg,
    char *err, size_t errlen);

/*
 * Restores each SQLite file of files[n] (their live paths) from its copy
 * in root/name/, with the services that use it stopped: the live file as
 * it is now kept beside as <file>.<kept>-<UTC time of wall_ms> (kept:
 * "failed" after a failed deploy, "before-restore"; never deleted), the copy written into it through the online backup API, then
 * integrity_check. done gets ok with, in `error`, the list of what was
 * restored and where the failed version's file was kept; or the reason it
 * failed. 0 (done comes later), or -1 with err when a job is running.
 */
int backup_restore_sqlite(struct backup *b, const char *root, const char *name,
    const char *const *files, size_t n, const char *kept, int64_t wall_ms,
    backup_done_fn done, void *arg, char *err, size_t errlen);

/*
 * Whether the schema of the live SQLite file differs from the one the
 * manifest of root/name recorded for it (schema_sha256). Quick enough for
 * the loop thread (it reads sqlite_master only). 0, or -1 with err (no
 * manifest, the file is not in it, the live file cannot be read).
 */
int backup_schema_changed(const char *root, const char *name, const char *live,
    bool *changed, char *err, size_t errlen);

/*
 * Checks root/name against its manifest again: every file listed is there
 * with its size and sha256, and every SQLite copy passes integrity_check.
 * done gets ok with a summary, or the first mismatch. 0 (done comes
 * later), or -1 with err when a job is running.
 */
int backup_verify(struct backup *b, const char *root, const char *name,
    backup_done_fn done, void *arg, char *err, size_t errlen);

/*
 * A restore drill of root/name: checked as backup_verify does, then every
 * SQLite copy restored through the online backup API into a scratch
 * folder (root/.drill, emptied before and after), integrity_check on the
 * restored file, and its rows per table compared with the manifest's.
 * done gets ok with a summary, or what differs. 0, or -1 with err.
 */
int backup_drill(struct backup *b, const char *root, const char *name,
    backup_done_fn done, void *arg, char *err, size_t errlen);

/* The newest complete backup of any version ("" if none). */
void backup_newest(const char *root, char *out, size_t outlen);

/* When the backup folder `name` was taken (from its name); -1 if unknown. */
int64_t backup_time_ms(const char *name);

/* Whether the manifest of root/name lists a copy of the SQLite file live. */
bool backup_lists_source(const char *root, const char *name, const char *live);

/* What the manifest says besides the files. */
struct backup_meta {
	const char *id;		/* the job that took it */
	const char *from_tag;	/* the version running when it was taken */
	const char *to_tag;	/* the deploy's target, "" for a plain backup */
	const char *instance;
	const char *const *sqlite;	/* sources of the SQLite copies */
	size_t nsqlite;
};

/*
 * Writes root/name/manifest.json: meta, and every file in the folder with
 * its size and sha256; the SQLite copies with their source, their check,
 * user_version, schema_sha256 (the SQL of sqlite_master) and the rows of
 * each table.
 */
int backup_write_manifest(struct backup *b, const char *root, const char *name,
    const struct backup_meta *meta, backup_done_fn done, void *arg, char *err,
    size_t errlen);

/*
 * Retention: keeps the newest `keep` backup folders with a manifest, every
 * one taken within the last keep_days days before now_ms (0: none by age),
 * and every protected name; removes the rest, and folders without a
 * manifest (backups that failed). Returns how many were removed.
 */
int backup_prune(const char *root, int keep, int keep_days, int64_t now_ms,
    const char *const *protect, size_t nprotect);

/*
 * Seconds from now until the next hour:minute of local time (a day at
 * most; never 0: the minute that runs now counts as tomorrow's).
 */
long backup_next_at(int hour, int minute, time_t now);

/*
 * The backup schedule, from what outlives a restart: seconds from now
 * until the next scheduled backup, -1 when none is scheduled (every_h 0,
 * at_h -1). newest: when the newest complete backup was taken (a deploy's
 * counts); tried: when the last scheduled backup began, whatever became of
 * it (one that failed is not tried again at once); -1 for none, and the
 * later of the two counts.
 *   every_h > 0: due every_h hours after it.
 *   at_h >= 0: due at the most recent at_h:at_m of local time if it is
 *   older than that (a host off then missed it; none at all: missed),
 *   else at the next one.
 * Due now or in the past: catch_up_s (0: now); else never 0.
 */
long backup_due_in(time_t now, time_t newest, time_t tried, double every_h,
    int at_h, int at_m, long catch_up_s);

/*
 * The drill schedule, every every_d days (-1 when every_d is 0): seconds
 * from now until the next restore drill. last: when the last drill ended
 * (-1: none yet), then due every_d days later; before the first, an hour
 * after the newest complete backup (newest; -1: none); with no backup
 * either, 3600: a look again in an hour, nothing due. Due now or in the
 * past: catch_up_s (0: now); else never 0.
 */
long backup_drill_due_in(time_t now, time_t last, time_t newest,
    double every_d, long catch_up_s);

/*
 * Removes the backup folder root/name at once (a backup that failed: its
 * partial copies must not hold the space the next backup needs). Does
 * nothing to a name that is not a backup folder's. 0, or -1 (logged).
 */
int backup_discard(const char *root, const char *name);

/*
 * At start: removes every backup folder without a manifest (left by a
 * deployer killed while it backed up; no backup runs yet). Returns how
 * many were removed.
 */
int backup_discard_incomplete(const char *root);

/* The newest complete backup taken while `tag` ran ("" if none). */
void backup_newest_of(const char *root, const char *tag, char *out,
    size_t outlen);

/*
 * The version a backup folder was taken from (the part of its name after
 * the time), if root/name is a complete backup. 0, or -1 with err.
 */
int backup_tag_of(const char *root, const char *name, char *tag, size_t taglen,
    char *err, size_t errlen);

/*
 * The backup folders under root, newest first (GET /backups): each with
 * its name, the version it was taken from, whether it is complete (has its
 * manifest), its size in bytes, and `keep` when it is one of keep[] (the
 * last verified version's, which retention never deletes). Decref it.
 */
json_t *backup_list(const char *root, const char *const *keep, size_t nkeep);

/* Megabytes free for us under path; -1 if it cannot be told. */
long long backup_free_mb(const char *path);

#endif
