/*
 * hb_util: small things every homebus module needs — clocks, a growable
 * byte buffer, exponential backoff with jitter, checked number parsing and
 * a few process facts (hostname, RSS, CPU time).
 */
#ifndef HB_UTIL_H
#define HB_UTIL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HB_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* Monotonic clock, for intervals and timeouts. */
int64_t hb_mono_ms(void);
int64_t hb_mono_us(void);
/* Wall clock, for timestamps that leave the process. */
int64_t hb_wall_ns(void);
int64_t hb_wall_ms(void);
/* Arms a libevent timer to fire ms milliseconds from now (negative: 0). */
struct event;
int hb_timer_add_ms(struct event *ev, int64_t ms);
/* Formats a wall time in ms as ISO 8601 UTC ("2026-11-25T01:45:32.123Z"). */
void hb_iso8601(int64_t wall_ms, char *out, size_t outlen);

/*
 * A growable byte buffer that is always NUL-terminated. A zeroed struct is an
 * empty buffer. Allocation failure aborts: a daemon that cannot get a few
 * kilobytes cannot do anything useful.
 */
struct hb_buf {
	char *data;
	size_t len;
	size_t cap;
};

void hb_buf_reserve(struct hb_buf *b, size_t extra);
void hb_buf_append(struct hb_buf *b, const void *p, size_t n);
void hb_buf_puts(struct hb_buf *b, const char *s);
void hb_buf_putc(struct hb_buf *b, char c);
/* Appends a decimal integer (no printf on the hot path). */
void hb_buf_put_i64(struct hb_buf *b, int64_t v);
void hb_buf_printf(struct hb_buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void hb_buf_vprintf(struct hb_buf *b, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));
void hb_buf_reset(struct hb_buf *b);
/* Hands the data to the caller (free() it); the buffer becomes empty. */
char *hb_buf_steal(struct hb_buf *b);
void hb_buf_free(struct hb_buf *b);

/* malloc/strdup that abort on failure. */
void *hb_xmalloc(size_t n);
void *hb_xcalloc(size_t n, size_t size);
void *hb_xrealloc(void *p, size_t n);
char *hb_xstrdup(const char *s);
char *hb_xstrndup(const char *s, size_t n);

/*
 * Exponential backoff with full jitter: each failure doubles the ceiling
 * (from min_ms up to max_ms) and the delay is drawn in [ceiling/2, ceiling].
 * Success resets it.
 */
struct hb_backoff {
	int64_t min_ms;
	int64_t max_ms;
	int64_t ceiling_ms;
	unsigned attempts;
	uint32_t rng;
};

void hb_backoff_init(struct hb_backoff *bo, int64_t min_ms, int64_t max_ms);
int64_t hb_backoff_next(struct hb_backoff *bo);
void hb_backoff_reset(struct hb_backoff *bo);

/* A small xorshift generator, seeded from the clock and pid. */
uint32_t hb_rand(uint32_t *state);

/*
 * Checked parsing: the whole string must be a number in [min, max].
 * Returns 0 and stores the value, or -1 and leaves *out untouched.
 */
int hb_parse_ll(const char *s, long long min, long long max, long long *out);
int hb_parse_double(const char *s, double *out);
/* Parses "host:port" (port required); "[v6]:port" is accepted. */
int hb_parse_hostport(const char *s, char *host, size_t hostlen, int *port);

/*
 * Reads a whole (small) file into a NUL-terminated malloc'd string; the caller
 * frees it. Returns NULL with errno set on failure or if it exceeds max bytes.
 */
char *hb_read_file(const char *path, size_t max, size_t *len);
/* Removes trailing whitespace in place (secrets files end with a newline). */
void hb_rstrip(char *s);

/* Creates a directory and its parents (mode 0750). 0 or -1 with errno. */
int hb_mkdirs(const char *path);

/* Facts about this process, for heartbeats and /metrics. */
void hb_hostname(char *out, size_t outlen);
long hb_rss_kb(void);
double hb_cpu_seconds(void);

/*
 * Writes a finite double the way Python's repr() does, without its ".0":
 * the fewest digits that read back as the same value, fixed notation for
 * exponents -4..15 ("150", "0.001", "21.5"), else "1.5e+16". Returns the
 * length, or -1 for NaN/Inf (nothing written).
 */
int hb_fmt_double(double v, char *out, size_t outlen);

/* True when s is valid UTF-8 of n bytes with no NUL. */
bool hb_utf8_valid(const char *s, size_t n);

#endif
