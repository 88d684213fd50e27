/*
 * timestamp: the time a device wrote into its message, as nanoseconds since
 * the epoch — the unit of every point ingest publishes. Converted digit by
 * digit, never through a double: InfluxDB overwrites a point only when its
 * series and time are equal, so a reading sent twice must get the same
 * nanosecond both times.
 */
#ifndef INGEST_TIMESTAMP_H
#define INGEST_TIMESTAMP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Parses a timestamp: ISO 8601 (with or without an offset; without, local
 * time when `local`) or an epoch number (see timestamp_epoch). Returns ns
 * since the epoch, or -1.
 */
int64_t timestamp_parse(const char *s, bool local);

/*
 * An epoch number s[0..n) — an integer, a decimal, an exponent ("1.7e12") —
 * in seconds, ms, us or ns, told apart by its size (under 1e11 seconds,
 * under 1e14 ms, under 1e17 us, else ns). Digits past the nanosecond are
 * cut. Returns ns since the epoch, or -1 when it is no number, negative, or
 * past InfluxDB's last second (2262-04-11T23:47:16Z).
 */
int64_t timestamp_epoch(const char *s, size_t n);

#endif
