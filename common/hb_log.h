/*
 * hb_log: one line per event. Text ("ts level service: event key=value") for
 * a terminal, JSON lines for containers. Where a flood is possible, callers
 * keep a struct hb_ratelimit and log through hb_log_limited().
 *
 * The log sink is process-wide, like syslog(3): it is set up once by the
 * service's start-up code and then only read.
 */
#ifndef HB_LOG_H
#define HB_LOG_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum hb_log_level {
	HB_LOG_DEBUG,
	HB_LOG_INFO,
	HB_LOG_WARN,
	HB_LOG_ERROR,
};

enum hb_log_format {
	HB_LOG_TEXT,
	HB_LOG_JSON,
};

/* Parses "debug"/"info"/"warn"/"error"; returns -1 if unknown. */
int hb_log_level_parse(const char *s);
/* Parses "text"/"json"/"auto" (auto: text on a terminal, else JSON). */
int hb_log_format_parse(const char *s, enum hb_log_format *out);

/*
 * Sets the service name, level, format and destination (NULL: stderr).
 * Returns 0, or -1 if the file cannot be opened (stderr is kept).
 */
int hb_log_setup(const char *service, enum hb_log_level level,
    enum hb_log_format format, const char *file);
/* Reopens the log file (SIGHUP, after logrotate). */
void hb_log_reopen(void);
bool hb_log_enabled(enum hb_log_level level);

void hb_log(enum hb_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void hb_vlog(enum hb_log_level level, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));

#define hb_debug(...) do { if (hb_log_enabled(HB_LOG_DEBUG)) hb_log(HB_LOG_DEBUG, __VA_ARGS__); } while (0)
#define hb_info(...) hb_log(HB_LOG_INFO, __VA_ARGS__)
#define hb_warn(...) hb_log(HB_LOG_WARN, __VA_ARGS__)
#define hb_error(...) hb_log(HB_LOG_ERROR, __VA_ARGS__)

/*
 * Token bucket: `burst` lines at once, then `per_min` a minute. Lines held
 * back are counted and the count is appended to the next line let through.
 */
struct hb_ratelimit {
	double per_min;
	double burst;
	double tokens;
	int64_t last_ms;
	uint64_t suppressed;
};

void hb_ratelimit_init(struct hb_ratelimit *rl, double per_min, double burst);
/* Logs unless the limit is reached. Returns true if the line was written. */
bool hb_log_limited(struct hb_ratelimit *rl, enum hb_log_level level,
    const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/*
 * Writes s into out (at most outlen) in a form safe for one log line:
 * control bytes and quotes escaped, cut with "..." to fit outlen.
 */
void hb_log_sanitize(const char *s, size_t len, char *out, size_t outlen);

#endif
