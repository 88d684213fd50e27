/*
 * timestamp: device times to nanoseconds; see timestamp.h.
 */
#include "timestamp.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int64_t
timestamp_from_epoch(double v)
{
	double a = fabs(v), ns;

	if (!isfinite(v) || v < 0)
		return -1;
	if (a < 1e11)
		ns = v * 1e9;	/* seconds */
	else if (a < 1e14)
		ns = v * 1e6;	/* milliseconds */
	else if (a < 1e17)
		ns = v * 1e3;	/* microseconds */
	else
		ns = v;		/* nanoseconds */
	/* InfluxDB's last instant, 2262-04-11T23:47:16Z */
	if (ns >= 9223372036854775807.0 - 1e9)
		return -1;
	return (int64_t)ns;
}

int64_t
timestamp_parse(const char *s, bool local)
{
	struct tm tm;
	int n = 0, off_sign = 0, oh = 0, om = 0;
	int64_t frac_ns = 0, secs;
	double num;
	char *end;

	while (isspace((unsigned char)*s))
		s++;
	num = strtod(s, &end);
	if (end != s && *end == '\0')
		return timestamp_from_epoch(num);
	memset(&tm, 0, sizeof(tm));
	if (sscanf(s, "%4d-%2d-%2d%*1[T ]%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon,
	    &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &n) != 6)
		return -1;
	s += n;
	if (*s == '.' || *s == ',') {
		int64_t scale = 100000000;

		for (s++; isdigit((unsigned char)*s); s++) {
			frac_ns += (*s - '0') * scale;
			scale /= 10;
		}
	}
	if (*s == 'Z' || *s == 'z') {
		off_sign = 1;
		s++;
	} else if (*s == '+' || *s == '-') {
		int k = 0;

		off_sign = *s == '+' ? 1 : -1;
		if (sscanf(s + 1, "%2d%n", &oh, &k) != 1)
			return -1;
		s += 1 + k;
		if (*s == ':')
			s++;
		if (isdigit((unsigned char)*s)) {
			if (sscanf(s, "%2d%n", &om, &k) != 1)
				return -1;
			s += k;
		}
	}
	if (*s != '\0' || tm.tm_mon < 1 || tm.tm_mon > 12 || tm.tm_mday < 1 ||
	    tm.tm_mday > 31 || tm.tm_hour > 23 || tm.tm_min > 59 || tm.tm_sec > 60 ||
	    tm.tm_year < 1970 || tm.tm_year > 2262)
		return -1;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	if (off_sign == 0 && local) {
		tm.tm_isdst = -1;
		secs = (int64_t)mktime(&tm);
	} else {
		secs = (int64_t)timegm(&tm);
		if (off_sign)
			secs -= off_sign * (oh * 3600 + om * 60);
	}
	if (secs < 0 || secs >= INT64_MAX / 1000000000 - 1)
		return -1;	/* before 1970 or after 2262-04-11 */
	return secs * 1000000000 + frac_ns;
}
