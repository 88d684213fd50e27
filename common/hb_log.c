/*
 * hb_log: the process-wide log sink, text or JSON lines, and rate limiting.
 */
#include "hb_log.h"
#include "hb_util.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static struct {
	char service[32];
	enum hb_log_level level;
	enum hb_log_format format;
	char *path;
	FILE *out;
	pthread_mutex_t lock;
} sink = {
	.service = "homebus",
	.level = HB_LOG_INFO,
	.format = HB_LOG_TEXT,
	.lock = PTHREAD_MUTEX_INITIALIZER,
};

static const char *level_names[] = { "debug", "info", "warn", "error" };

int
hb_log_level_parse(const char *s)
{
	for (size_t i = 0; i < HB_ARRAY_LEN(level_names); i++)
		if (strcmp(s, level_names[i]) == 0)
			return (int)i;
	if (strcmp(s, "warning") == 0)
		return HB_LOG_WARN;
	return -1;
}

int
hb_log_format_parse(const char *s, enum hb_log_format *out)
{
	if (strcmp(s, "text") == 0)
		*out = HB_LOG_TEXT;
	else if (strcmp(s, "json") == 0)
		*out = HB_LOG_JSON;
	else if (strcmp(s, "auto") == 0)
		*out = isatty(STDERR_FILENO) ? HB_LOG_TEXT : HB_LOG_JSON;
	else
		return -1;
	return 0;
}

int
hb_log_setup(const char *service, enum hb_log_level level,
    enum hb_log_format format, const char *file)
{
	int rc = 0;

	pthread_mutex_lock(&sink.lock);
	snprintf(sink.service, sizeof(sink.service), "%s", service);
	sink.level = level;
	sink.format = format;
	free(sink.path);
	sink.path = NULL;
	if (sink.out && sink.out != stderr)
		fclose(sink.out);
	sink.out = NULL;
	if (file && *file) {
		sink.out = fopen(file, "a");
		if (sink.out == NULL)
			rc = -1;
		else {
			sink.path = hb_xstrdup(file);
			setvbuf(sink.out, NULL, _IOLBF, 0);
		}
	}
	pthread_mutex_unlock(&sink.lock);
	return rc;
}

void
hb_log_reopen(void)
{
	FILE *f;

	pthread_mutex_lock(&sink.lock);
	if (sink.path) {
		f = fopen(sink.path, "a");
		if (f) {
			if (sink.out && sink.out != stderr)
				fclose(sink.out);
			sink.out = f;
			setvbuf(sink.out, NULL, _IOLBF, 0);
		}
	}
	pthread_mutex_unlock(&sink.lock);
}

bool
hb_log_enabled(enum hb_log_level level)
{
	return level >= sink.level;
}

static void
json_escape(struct hb_buf *b, const char *s)
{
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\') {
			hb_buf_putc(b, '\\');
			hb_buf_putc(b, (char)c);
		} else if (c < 0x20)
			hb_buf_printf(b, "\\u%04x", c);
		else
			hb_buf_putc(b, (char)c);
	}
}

void
hb_vlog(enum hb_log_level level, const char *fmt, va_list ap)
{
	struct hb_buf msg = { 0 }, line = { 0 };
	char ts[40];
	FILE *out;

	if (level < sink.level)
		return;
	hb_buf_vprintf(&msg, fmt, ap);
	hb_iso8601(hb_wall_ms(), ts, sizeof(ts));
	if (sink.format == HB_LOG_JSON) {
		hb_buf_printf(&line, "{\"ts\":\"%s\",\"level\":\"%s\",\"service\":\"",
		    ts, level_names[level]);
		json_escape(&line, sink.service);
		hb_buf_puts(&line, "\",\"msg\":\"");
		json_escape(&line, msg.data ? msg.data : "");
		hb_buf_puts(&line, "\"}\n");
	} else {
		hb_buf_printf(&line, "%s %-5s %s: %s\n", ts, level_names[level],
		    sink.service, msg.data ? msg.data : "");
	}
	pthread_mutex_lock(&sink.lock);
	out = sink.out ? sink.out : stderr;
	fwrite(line.data, 1, line.len, out);
	fflush(out);
	pthread_mutex_unlock(&sink.lock);
	hb_buf_free(&msg);
	hb_buf_free(&line);
}

void
hb_log(enum hb_log_level level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	hb_vlog(level, fmt, ap);
	va_end(ap);
}

void
hb_ratelimit_init(struct hb_ratelimit *rl, double per_min, double burst)
{
	memset(rl, 0, sizeof(*rl));
	rl->per_min = per_min;
	rl->burst = burst;
	rl->tokens = burst;
	rl->last_ms = hb_mono_ms();
}

bool
hb_log_limited(struct hb_ratelimit *rl, enum hb_log_level level,
    const char *fmt, ...)
{
	int64_t now = hb_mono_ms();
	struct hb_buf msg = { 0 };
	va_list ap;

	if (rl->per_min <= 0 && rl->burst <= 0)
		hb_ratelimit_init(rl, 10, 5);
	rl->tokens += (double)(now - rl->last_ms) * rl->per_min / 60000.0;
	if (rl->tokens > rl->burst)
		rl->tokens = rl->burst;
	rl->last_ms = now;
	if (rl->tokens < 1.0) {
		rl->suppressed++;
		return false;
	}
	rl->tokens -= 1.0;
	va_start(ap, fmt);
	hb_buf_vprintf(&msg, fmt, ap);
	va_end(ap);
	if (rl->suppressed) {
		hb_buf_printf(&msg, " suppressed_since_last=%llu",
		    (unsigned long long)rl->suppressed);
		rl->suppressed = 0;
	}
	hb_log(level, "%s", msg.data);
	hb_buf_free(&msg);
	return true;
}

void
hb_log_sanitize(const char *s, size_t len, char *out, size_t outlen)
{
	size_t o = 0;

	if (outlen == 0)
		return;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		char tmp[8];
		size_t tl;

		if (c == '"' || c == '\\') {
			tmp[0] = '\\';
			tmp[1] = (char)c;
			tl = 2;
		} else if (c < 0x20 || c == 0x7f) {
			snprintf(tmp, sizeof(tmp), "\\x%02x", c);
			tl = 4;
		} else {
			tmp[0] = (char)c;
			tl = 1;
		}
		if (o + tl + 4 >= outlen) {
			memcpy(out + o, "...", 3);
			o += 3;
			break;
		}
		memcpy(out + o, tmp, tl);
		o += tl;
	}
	out[o] = '\0';
}
