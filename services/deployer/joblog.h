/*
 * joblog: the whole output of every job, one file per job in a folder
 * beside the journal (<journal's folder>/deploy-logs/<seq>.log): each
 * step's name, command, outcome and all its output, at most JOBLOG_MAX
 * bytes a job. The journal and the state keep only a 20-line tail.
 * Files are written and read on the loop thread, a step at a time.
 */
#ifndef DEPLOYER_JOBLOG_H
#define DEPLOYER_JOBLOG_H

#include <stddef.h>
#include <stdint.h>

#define JOBLOG_MAX (1024 * 1024)	/* bytes kept of one job's log */
#define JOBLOG_KEEP 200			/* logs of the newest jobs kept */

/* The logs' folder for the journal at journal_path. */
void joblog_dir(const char *journal_path, char *out, size_t outlen);

/*
 * Appends text to job seq's log (creating the folder and the file). Past
 * JOBLOG_MAX the rest is dropped and one line says so. 0, or -1 (logged).
 */
int joblog_append(const char *dir, int64_t seq, const char *text, size_t len);

/*
 * Removes the logs of every job older than the newest `keep` (by seq),
 * when job newest_seq begins. Returns how many were removed.
 */
int joblog_prune(const char *dir, int64_t newest_seq, int keep);

/* Job seq's log (free it), its length in len; NULL when it has none. */
char *joblog_read(const char *dir, int64_t seq, size_t *len);

#endif
