/*
 * timestamp: the time a device wrote into its message, as nanoseconds since
 * the epoch — the unit of every point ingest publishes.
 */
#ifndef INGEST_TIMESTAMP_H
#define INGEST_TIMESTAMP_H

#include <stdbool.h>
#include <stdint.h>

/*
 * Parses a timestamp: ISO 8601 (with or without an offset; without, local
 * time when `local`) or epoch seconds, ms, us or ns (told apart by size).
 * Returns ns since the epoch, or -1.
 */
int64_t timestamp_parse(const char *s, bool local);
int64_t timestamp_from_epoch(double v);

#endif
