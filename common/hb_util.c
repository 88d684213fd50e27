/*
 * hb_util: clocks, buffers, backoff, parsing and process facts.
 */
#include "hb_util.h"

#include <event2/event.h>

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int64_t
hb_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t
hb_mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t
hb_wall_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t
hb_wall_ms(void)
{
	return hb_wall_ns() / 1000000;
}

int
hb_timer_add_ms(struct event *ev, int64_t ms)
{
	struct timeval tv;

	if (ms < 0)
		ms = 0;
	tv.tv_sec = (time_t)(ms / 1000);
	tv.tv_usec = (suseconds_t)((ms % 1000) * 1000);
	return evtimer_add(ev, &tv);
}

void
hb_iso8601(int64_t wall_ms, char *out, size_t outlen)
{
	time_t secs = (time_t)(wall_ms / 1000);
	struct tm tm;

	gmtime_r(&secs, &tm);
	snprintf(out, outlen, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
	    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
	    tm.tm_min, tm.tm_sec, (int)(wall_ms % 1000));
}

void *
hb_xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (p == NULL)
		abort();
	return p;
}

void *
hb_xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);

	if (p == NULL)
		abort();
	return p;
}

void *
hb_xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);

	if (q == NULL)
		abort();
	return q;
}

char *
hb_xstrdup(const char *s)
{
	return hb_xstrndup(s, strlen(s));
}

char *
hb_xstrndup(const char *s, size_t n)
{
	char *p = hb_xmalloc(n + 1);

	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

void
hb_buf_reserve(struct hb_buf *b, size_t extra)
{
	size_t need = b->len + extra + 1;
	size_t cap;

	if (need <= b->cap)
		return;
	cap = b->cap ? b->cap : 64;
	while (cap < need)
		cap *= 2;
	b->data = hb_xrealloc(b->data, cap);
	b->cap = cap;
}

void
hb_buf_append(struct hb_buf *b, const void *p, size_t n)
{
	hb_buf_reserve(b, n);
	if (n)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
}

void
hb_buf_puts(struct hb_buf *b, const char *s)
{
	hb_buf_append(b, s, strlen(s));
}

void
hb_buf_putc(struct hb_buf *b, char c)
{
	hb_buf_append(b, &c, 1);
}

void
hb_buf_vprintf(struct hb_buf *b, const char *fmt, va_list ap)
{
	va_list ap2;
	int n;

	hb_buf_reserve(b, 64);
	va_copy(ap2, ap);
	n = vsnprintf(b->data + b->len, b->cap - b->len, fmt, ap2);
	va_end(ap2);
	if (n < 0)
		return;
	if ((size_t)n >= b->cap - b->len) {
		hb_buf_reserve(b, (size_t)n);
		vsnprintf(b->data + b->len, b->cap - b->len, fmt, ap);
	}
	b->len += (size_t)n;
}

void
hb_buf_put_i64(struct hb_buf *b, int64_t v)
{
	char tmp[24];
	size_t n = sizeof(tmp);
	uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;

	do {
		tmp[--n] = (char)('0' + u % 10);
		u /= 10;
	} while (u);
	if (v < 0)
		tmp[--n] = '-';
	hb_buf_append(b, tmp + n, sizeof(tmp) - n);
}

void
hb_buf_printf(struct hb_buf *b, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	hb_buf_vprintf(b, fmt, ap);
	va_end(ap);
}

void
hb_buf_reset(struct hb_buf *b)
{
	b->len = 0;
	if (b->data)
		b->data[0] = '\0';
}

char *
hb_buf_steal(struct hb_buf *b)
{
	char *p = b->data;

	if (p == NULL)
		p = hb_xstrdup("");
	b->data = NULL;
	b->len = b->cap = 0;
	return p;
}

void
hb_buf_free(struct hb_buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

uint32_t
hb_rand(uint32_t *state)
{
	uint32_t x = *state;

	if (x == 0)
		x = (uint32_t)hb_mono_us() ^ ((uint32_t)getpid() << 16) ^ 0x9e3779b9u;
	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	*state = x;
	return x;
}

void
hb_backoff_init(struct hb_backoff *bo, int64_t min_ms, int64_t max_ms)
{
	memset(bo, 0, sizeof(*bo));
	bo->min_ms = min_ms > 0 ? min_ms : 1;
	bo->max_ms = max_ms > bo->min_ms ? max_ms : bo->min_ms;
	bo->ceiling_ms = bo->min_ms;
}

int64_t
hb_backoff_next(struct hb_backoff *bo)
{
	int64_t ceiling = bo->ceiling_ms;
	int64_t half = ceiling / 2;
	int64_t delay = half + (int64_t)(hb_rand(&bo->rng) % (uint32_t)(ceiling - half + 1));

	bo->attempts++;
	if (bo->ceiling_ms < bo->max_ms) {
		bo->ceiling_ms *= 2;
		if (bo->ceiling_ms > bo->max_ms)
			bo->ceiling_ms = bo->max_ms;
	}
	return delay;
}

void
hb_backoff_reset(struct hb_backoff *bo)
{
	bo->ceiling_ms = bo->min_ms;
	bo->attempts = 0;
}

int
hb_parse_ll(const char *s, long long min, long long max, long long *out)
{
	char *end;
	long long v;

	if (s == NULL || *s == '\0')
		return -1;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

int
hb_parse_double(const char *s, double *out)
{
	char *end;
	double v;

	if (s == NULL || *s == '\0')
		return -1;
	errno = 0;
	v = strtod(s, &end);
	if (errno != 0 || *end != '\0' || !isfinite(v))
		return -1;
	*out = v;
	return 0;
}

int
hb_parse_hostport(const char *s, char *host, size_t hostlen, int *port)
{
	const char *colon;
	const char *h = s;
	size_t hlen;
	long long p;

	if (s[0] == '[') {
		const char *close = strchr(s, ']');

		if (close == NULL || close[1] != ':')
			return -1;
		h = s + 1;
		hlen = (size_t)(close - h);
		colon = close + 1;
	} else {
		colon = strrchr(s, ':');
		if (colon == NULL)
			return -1;
		hlen = (size_t)(colon - s);
	}
	if (hlen == 0 || hlen >= hostlen)
		return -1;
	if (hb_parse_ll(colon + 1, 0, 65535, &p) != 0)
		return -1;
	memcpy(host, h, hlen);
	host[hlen] = '\0';
	*port = (int)p;
	return 0;
}

char *
hb_read_file(const char *path, size_t max, size_t *len)
{
	FILE *f = fopen(path, "rb");
	struct hb_buf b = { 0 };
	char chunk[4096];
	size_t n;

	if (f == NULL)
		return NULL;
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
		if (b.len + n > max) {
			fclose(f);
			hb_buf_free(&b);
			errno = EFBIG;
			return NULL;
		}
		hb_buf_append(&b, chunk, n);
	}
	if (ferror(f)) {
		int e = errno;

		fclose(f);
		hb_buf_free(&b);
		errno = e ? e : EIO;
		return NULL;
	}
	fclose(f);
	if (len)
		*len = b.len;
	return hb_buf_steal(&b);
}

void
hb_rstrip(char *s)
{
	size_t n = strlen(s);

	while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == '\r' ||
	    s[n - 1] == ' ' || s[n - 1] == '\t'))
		s[--n] = '\0';
}

int
hb_mkdirs(const char *path)
{
	char tmp[PATH_MAX];
	size_t n = strlen(path);

	if (n == 0 || n >= sizeof(tmp)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(tmp, path, n + 1);
	for (char *p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(tmp, 0750) != 0 && errno != EEXIST)
			return -1;
		*p = '/';
	}
	if (mkdir(tmp, 0750) != 0 && errno != EEXIST)
		return -1;
	return 0;
}

void
hb_hostname(char *out, size_t outlen)
{
	if (gethostname(out, outlen) != 0 || out[0] == '\0')
		snprintf(out, outlen, "localhost");
	out[outlen - 1] = '\0';
	/* Topic levels and client ids must not carry '.' ambiguity or '/'. */
	for (char *p = out; *p; p++)
		if (*p == '/' || *p == '+' || *p == '#' || *p == ' ')
			*p = '_';
}

long
hb_rss_kb(void)
{
	FILE *f = fopen("/proc/self/statm", "r");
	long pages = 0, rss = 0;

	if (f == NULL)
		return -1;
	if (fscanf(f, "%ld %ld", &pages, &rss) != 2)
		rss = -1;
	fclose(f);
	return rss < 0 ? -1 : rss * (sysconf(_SC_PAGESIZE) / 1024);
}

double
hb_cpu_seconds(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_SELF, &ru) != 0)
		return 0;
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	    (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

bool
hb_utf8_valid(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0;

	while (i < n) {
		unsigned char c = p[i];
		size_t need;
		uint32_t cp;

		/* ASCII runs, eight bytes at a time: no high bit and no NUL. */
		while (i + 8 <= n) {
			uint64_t w;

			memcpy(&w, p + i, 8);
			if ((w & 0x8080808080808080ULL) ||
			    ((w - 0x0101010101010101ULL) & ~w & 0x8080808080808080ULL))
				break;
			i += 8;
		}
		if (i >= n)
			break;
		c = p[i];
		if (c == 0)
			return false;
		if (c < 0x80) {
			i++;
			continue;
		}
		if ((c & 0xe0) == 0xc0) {
			need = 1;
			cp = c & 0x1f;
		} else if ((c & 0xf0) == 0xe0) {
			need = 2;
			cp = c & 0x0f;
		} else if ((c & 0xf8) == 0xf0) {
			need = 3;
			cp = c & 0x07;
		} else
			return false;
		if (i + need >= n)
			return false;
		for (size_t k = 1; k <= need; k++) {
			if ((p[i + k] & 0xc0) != 0x80)
				return false;
			cp = (cp << 6) | (p[i + k] & 0x3f);
		}
		/* Reject overlong forms, surrogates and values past U+10FFFF. */
		if ((need == 1 && cp < 0x80) || (need == 2 && cp < 0x800) ||
		    (need == 3 && cp < 0x10000) || cp > 0x10ffff ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		i += need + 1;
	}
	return true;
}

/* Writes u in decimal (no sign, no NUL); returns the number of digits. */
static int
u64_digits(char *out, uint64_t u)
{
	char tmp[24];
	int n = 0;

	do {
		tmp[n++] = (char)('0' + u % 10);
		u /= 10;
	} while (u);
	for (int i = 0; i < n; i++)
		out[i] = tmp[n - 1 - i];
	return n;
}

/*
 * The common case fast: a reading with a few decimals (21.55, 0.652, 230).
 * The first d for which round(v * 10^d) / 10^d gives v back is the shortest
 * fixed form; both the division and strtod round correctly, so the text
 * reads back as v. Returns -1 when v is not such a number.
 */
static int
fmt_double_decimal(double v, char *out)	/* out: at least 32 bytes */
{
	static const double pow10[] = { 1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8,
	    1e9 };
	double a = fabs(v);
	char digits[24], *o = out;
	int n, d;

	if (a != 0 && (a < 1e-4 || a >= 1e15))
		return -1;
	for (d = 0; d < (int)(sizeof(pow10) / sizeof(pow10[0])); d++) {
		double x = v * pow10[d];
		long long r;

		if (fabs(x) >= 9007199254740992.0)	/* 2^53: no longer exact */
			return -1;
		r = llround(x);
		if ((double)r / pow10[d] != v)
			continue;
		n = u64_digits(digits, (uint64_t)(r < 0 ? -r : r));
		if (r < 0 || (r == 0 && signbit(v)))
			*o++ = '-';
		if (d == 0) {
			memcpy(o, digits, (size_t)n);
			o += n;
		} else if (n <= d) {	/* 0.05: "5" after d - n zeros */
			*o++ = '0';
			*o++ = '.';
			memset(o, '0', (size_t)(d - n));
			o += d - n;
			memcpy(o, digits, (size_t)n);
			o += n;
		} else {
			memcpy(o, digits, (size_t)(n - d));
			o += n - d;
			*o++ = '.';
			memcpy(o, digits + n - d, (size_t)d);
			o += d;
		}
		*o = '\0';
		return (int)(o - out);
	}
	return -1;
}

int
hb_fmt_double(double v, char *out, size_t outlen)
{
	char sci[40];
	int prec, exp;
	char *e;

	if (!isfinite(v) || outlen < 32)
		return -1;
	if ((prec = fmt_double_decimal(v, out)) > 0)
		return prec;
	/* %.15g round-trips most doubles and is then the shortest; else 16, 17 */
	for (prec = 15; prec < 17; prec++) {
		snprintf(sci, sizeof(sci), "%.*e", prec - 1, v);
		if (strtod(sci, NULL) == v)
			break;
	}
	snprintf(sci, sizeof(sci), "%.*e", prec - 1, v);
	/* fewer digits when the mantissa ends in zeros: 1.500000000000000e+20 */
	e = strchr(sci, 'e');
	exp = (int)strtol(e + 1, NULL, 10);
	{
		char *z = e;

		while (z > sci && z[-1] == '0')
			z--;
		if (z > sci && z[-1] == '.')
			z--;
		prec = 0;
		for (char *c = sci; c < z; c++)
			prec += *c >= '0' && *c <= '9';
		memmove(z, e, strlen(e) + 1);
		e = z;
	}
	if (exp >= -4 && exp < 16) {
		int decimals = prec - 1 - exp;

		return snprintf(out, outlen, "%.*f", decimals > 0 ? decimals : 0, v);
	}
	*e = '\0';
	return snprintf(out, outlen, "%se%c%02d", sci, exp < 0 ? '-' : '+',
	    exp < 0 ? -exp : exp);
}
