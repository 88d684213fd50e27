/*
 * timestamp: device times to nanoseconds; see timestamp.h.
 */
#include "timestamp.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/* InfluxDB's last instant is INT64_MAX ns; its last second is refused. */
#define TS_MAX (INT64_MAX - 1000000000)
/* Digits enough for any epoch in range and every digit down to the ns. */
#define TS_DIGITS 64

/* A decimal number: its significant digits times 10^exp. */
struct decimal {
	char digits[TS_DIGITS];
	int ndigits;
	int exp;
};

/* Reads [0-9]* from *s; appends what is significant to d. */
static int
read_digits(const char **s, const char *end, struct decimal *d, bool fraction)
{
	int n = 0;

	for (; *s < end && isdigit((unsigned char)**s); (*s)++, n++) {
		if (d->ndigits == 0 && **s == '0') {
			if (fraction)
				d->exp--;	/* 0.05: a leading zero of the fraction */
			continue;
		}
		if (d->ndigits < TS_DIGITS) {
			d->digits[d->ndigits++] = (char)(**s - '0');
			if (fraction)
				d->exp--;
		} else if (!fraction)
			d->exp++;	/* far past any epoch: refused below */
	}
	return n;
}

/* Reads "+123" / "-4" / "5" after an 'e'; false if no digit. */
static bool
read_exponent(const char **s, const char *end, int *exp)
{
	int sign = 1, v = 0, n = 0;

	if (*s < end && (**s == '+' || **s == '-'))
		sign = *(*s)++ == '-' ? -1 : 1;
	for (; *s < end && isdigit((unsigned char)**s); (*s)++, n++)
		if (v < 100000)
			v = v * 10 + (**s - '0');
	*exp += sign * v;
	return n > 0;
}

/* Parses the whole of s[0..n) as a non-negative decimal number. */
static bool
decimal_parse(const char *s, size_t n, struct decimal *d)
{
	const char *end = s + n;
	int digits;

	memset(d, 0, sizeof(*d));
	while (s < end && isspace((unsigned char)*s))
		s++;
	while (end > s && isspace((unsigned char)end[-1]))
		end--;
	if (s < end && *s == '+')
		s++;
	digits = read_digits(&s, end, d, false);
	if (s < end && *s == '.') {
		s++;
		digits += read_digits(&s, end, d, true);
	}
	if (digits == 0)
		return false;
	if (s < end && (*s == 'e' || *s == 'E')) {
		s++;
		if (!read_exponent(&s, end, &d->exp))
			return false;
	}
	return s == end;
}

/* d times 10^shift, digits past the point cut; -1 past TS_MAX. */
static int64_t
decimal_scale(const struct decimal *d, int shift)
{
	int keep = d->ndigits + (shift < 0 ? shift : 0);
	int64_t v = 0;

	for (int i = 0; i < keep; i++)
		if (__builtin_mul_overflow(v, 10, &v) ||
		    __builtin_add_overflow(v, d->digits[i], &v))
			return -1;
	for (; shift > 0; shift--)
		if (__builtin_mul_overflow(v, 10, &v))
			return -1;
	return v < TS_MAX ? v : -1;
}

static int64_t
decimal_epoch(const struct decimal *d)
{
	int whole = d->ndigits + d->exp;	/* digits before the point */
	int to_ns;

	if (d->ndigits == 0)
		return 0;
	if (whole <= 11)
		to_ns = 9;	/* seconds: under 1e11, the year 5138 */
	else if (whole <= 14)
		to_ns = 6;	/* milliseconds */
	else if (whole <= 17)
		to_ns = 3;	/* microseconds */
	else
		to_ns = 0;	/* nanoseconds */
	return decimal_scale(d, d->exp + to_ns);
}

int64_t
timestamp_epoch(const char *s, size_t n)
{
	struct decimal d;

	if (!decimal_parse(s, n, &d))
		return -1;
	return decimal_epoch(&d);
}

/* The fraction of a second after the '.' or ',', in ns; digits past ns cut. */
static int64_t
iso_fraction(const char **s)
{
	int64_t ns = 0, scale = 100000000;

	for (; isdigit((unsigned char)**s); (*s)++) {
		ns += (**s - '0') * scale;
		scale /= 10;
	}
	return ns;
}

/* "Z", "+01:00", "-0130", "+01": seconds east of UTC; 1 if none, -1 if bad. */
static int
iso_offset(const char **s, int *secs)
{
	int sign, oh = 0, om = 0, k = 0;

	if (**s == 'Z' || **s == 'z') {
		(*s)++;
		*secs = 0;
		return 0;
	}
	if (**s != '+' && **s != '-')
		return 1;
	sign = **s == '+' ? 1 : -1;
	if (sscanf(*s + 1, "%2d%n", &oh, &k) != 1)
		return -1;
	*s += 1 + k;
	if (**s == ':')
		(*s)++;
	if (isdigit((unsigned char)**s)) {
		if (sscanf(*s, "%2d%n", &om, &k) != 1)
			return -1;
		*s += k;
	}
	*secs = sign * (oh * 3600 + om * 60);
	return 0;
}

static int64_t
iso8601(const char *s, bool local)
{
	struct tm tm;
	int n = 0, off = 0, has_off;
	int64_t frac_ns = 0, secs;

	memset(&tm, 0, sizeof(tm));
	if (sscanf(s, "%4d-%2d-%2d%*1[T ]%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon,
	    &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &n) != 6)
		return -1;
	s += n;
	if (*s == '.' || *s == ',') {
		s++;
		frac_ns = iso_fraction(&s);
	}
	if ((has_off = iso_offset(&s, &off)) < 0)
		return -1;
	if (*s != '\0' || tm.tm_mon < 1 || tm.tm_mon > 12 || tm.tm_mday < 1 ||
	    tm.tm_mday > 31 || tm.tm_hour > 23 || tm.tm_min > 59 || tm.tm_sec > 60 ||
	    tm.tm_year < 1970 || tm.tm_year > 2262)
		return -1;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	if (has_off == 1 && local) {
		tm.tm_isdst = -1;
		secs = (int64_t)mktime(&tm);
	} else
		secs = (int64_t)timegm(&tm) - off;
	if (secs < 0 || secs >= TS_MAX / 1000000000)
		return -1;	/* before 1970 or after 2262-04-11 */
	return secs * 1000000000 + frac_ns;
}

int64_t
timestamp_parse(const char *s, bool local)
{
	struct decimal d;

	while (isspace((unsigned char)*s))
		s++;
	if (decimal_parse(s, strlen(s), &d))
		return decimal_epoch(&d);
	return iso8601(s, local);
}
