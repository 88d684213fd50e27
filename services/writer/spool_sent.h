/*
 * spool_sent: the ids of batches InfluxDB took whose rows the spool could
 * not delete (a full disk), in a small file beside the spool
 * (<spool>-sent) that is written once at open and only overwritten in
 * place afterwards, so that noting a delivery needs no room on the disk.
 * A restart reads it and sends none of them again. No SQLite here.
 */
#ifndef WRITER_SPOOL_SENT_H
#define WRITER_SPOOL_SENT_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* What fits in the file's one block: id ranges, merged as they touch. */
#define SENT_MAX_RANGES 255

struct sent_range {
	int64_t lo, hi;
};

struct spool_sent {
	int fd;				/* -1: no file (then a restart resends) */
	char path[PATH_MAX + 8];
	struct sent_range ranges[SENT_MAX_RANGES];
	size_t n;
	bool full_told;
};

/*
 * Opens or creates spool_path-sent and reads the ranges it holds. Never
 * fails: without the file (a disk full before it was ever made) nothing is
 * noted, and what InfluxDB took is sent again after a restart; err says
 * why (empty when all is well).
 */
void sent_open(struct spool_sent *s, const char *spool_path, char *err,
    size_t errlen);
void sent_close(struct spool_sent *s);

/*
 * Notes that InfluxDB took batch id. Returns 0, or -1 if it could not be
 * noted (no file, or more ranges than fit): then a restart sends it again,
 * which InfluxDB takes as the same points.
 */
int sent_add(struct spool_sent *s, int64_t id);
/* Nothing is left undeleted: the file says so. */
void sent_clear(struct spool_sent *s);

#endif
