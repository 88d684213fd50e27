/*
 * telegram: the Telegram Bot API as data — sendMessage bodies rendered from
 * a notification (HTML parse mode, escaped, split at line boundaries past
 * 4096 characters), the verdict on an API answer, getUpdates and getMe
 * results parsed with size and type checks, and the bot token masked out
 * of any text.
 * No I/O here: notifier.c does the requests.
 */
#ifndef TELEGRAM_H
#define TELEGRAM_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Telegram's limit for one message, in UTF-16 units after entity parsing. */
#define TELEGRAM_MAX_CHARS 4096
/* Chat ids fit in 52 bits (Telegram's promise); 0 is never a chat. */
#define TELEGRAM_CHAT_ID_MAX 4503599627370496LL
/* A title is shown whole up to this many UTF-16 units, else cut with "…". */
#define TELEGRAM_TITLE_MAX 256

struct telegram_text {
	long long chat_id;
	const char *icon;	/* emoji before the title; may be "" */
	const char *title;	/* plain text, shown in bold (capped) */
	const char *text;	/* plain text */
	bool silent;		/* disable_notification */
};

/*
 * The sendMessage bodies for t, in order: one, or several "(k/n)" parts
 * whose visible text is at most max_chars each (TELEGRAM_MAX_CHARS).
 * Returns a new JSON array of objects (caller decrefs).
 */
json_t *telegram_render(const struct telegram_text *t, size_t max_chars);

/* The emoji that stands for a severity (0 info .. 3 critical). */
const char *telegram_severity_icon(int severity);

enum telegram_verdict {
	TG_DELIVERED,	/* 2xx */
	TG_WAIT,	/* 429: wait retry_after_s, then the same again */
	TG_RETRY,	/* 5xx, network, anything unclear: back off */
	TG_REFUSED,	/* 400, 403: this message will never go; dead letter */
	TG_AUTH,	/* 401, 404: the token is wrong; keep, report */
};

struct telegram_answer {
	enum telegram_verdict verdict;
	long error_code;
	long retry_after_s;		/* -1 if none */
	long long migrate_to_chat_id;	/* 0 if none */
	char description[256];
};

/*
 * Judges an answer: http_status 0 means no answer (network error; the
 * description is left for the caller). retry_after_header is the
 * Retry-After header in seconds or -1; parameters.retry_after wins.
 */
void telegram_answer(long http_status, const char *body, size_t len,
    long retry_after_header, struct telegram_answer *out);

struct telegram_update {
	long long update_id;
	bool has_message;	/* a "message" with a chat */
	long long message_id;
	long long date;		/* message.date, Unix seconds; 0 if none */
	long long chat_id;
	char chat_type[16];	/* private, group, supergroup, channel */
	bool has_from;
	long long from_id;
	bool from_bot;
	char username[64];	/* "" if none */
	char first_name[64];
	char *text;		/* NULL if none; owned */
};

/*
 * Parses a getUpdates answer ({"ok":true,"result":[Update...]}). Updates
 * without a usable message are kept (with has_message false) so that the
 * offset still moves past them. Returns 0 with *out (free with
 * telegram_updates_free) and *n, or -1 with a reason in err.
 */
int telegram_updates_parse(const char *body, size_t len,
    struct telegram_update **out, size_t *n, char *err, size_t errlen);
void telegram_updates_free(struct telegram_update *u, size_t n);

/*
 * Reads the bot's username out of a getMe answer
 * ({"ok":true,"result":{"username":"homebus_bot",...}}) into out (without
 * '@'). Returns 0, or -1 with a reason in err when the answer is not one
 * or the name is not a Telegram username (letters, digits, '_').
 */
int telegram_me_parse(const char *body, size_t len, char *out, size_t outlen,
    char *err, size_t errlen);

/* Where the Bot API is, and how its requests wait and retry; borrowed. */
struct telegram_api {
	const char *url;		/* without a trailing '/' */
	const char *token;		/* never logged */
	long timeout_ms;		/* per request (on top of a long poll) */
	int64_t retry_min_ms, retry_max_ms;	/* backoff after a failure */
};

/* True when id is among the n chat ids. */
bool telegram_chat_in(const long long *ids, size_t n, long long id);

/* Copies s into out with every occurrence of token replaced by "***". */
void telegram_mask(const char *s, const char *token, char *out, size_t outlen);

#endif
