/*
 * fake_telegram: a Telegram Bot API stand-in for the tests, on loopback.
 * It answers getMe, sendMessage, editMessageText, setMyCommands,
 * deleteMyCommands and getUpdates (long polling, "limit", offsets confirmed the way Telegram
 * does) for one token, takes webhook
 * POSTs on /hook/..., and records every request it gets — arrival time,
 * what it answered, the body — as JSON lines in a file that outlives a
 * restart of the fake.
 *
 * Like Telegram, sendMessage refuses with 400 a text that is empty, longer
 * than 4096 UTF-16 units once its entities are parsed ("message is too
 * long"), or, in parse_mode HTML, with a '<' or '&' that starts no tag or
 * entity, an unknown tag or unbalanced tags ("can't parse entities").
 * setMyCommands refuses a list that is empty or past 100, a command that is
 * not 1-32 of a-z, 0-9 and '_', a description not 1-256 characters, and a
 * scope that is not one of Telegram's (a chat scope needs its chat_id);
 * deleteMyCommands checks the scope the same way. It keeps the text of
 * every message sent and of every message in an update: editMessageText
 * of a message it does not know is 400 "message to edit not found", of
 * the text the message already has 400 "message is not modified", and a
 * sendMessage whose reply_parameters name an unknown message is 400
 * "message to be replied not found" unless allow_sending_without_reply.
 * A sendMessage's record carries the message_id it was given. Any other method is 404
 * "method not found", as Telegram answers.
 *
 *   fake_telegram --port N --record FILE [--token TOKEN] [--username NAME]
 *
 * Controlled over HTTP:
 *   POST /control/rules    [{"match": "text in the body", "method":
 *                           "sendMessage", "status": 429, "retry_after": 2,
 *                           "description": "...", "hang": true, "times": 1,
 *                           "pad": 5000000}]
 *                          replaces the answer rules (first match wins;
 *                          "times" uses a rule up, absent means forever;
 *                          "pad" without "status" answers getUpdates as
 *                          usual, when it has updates or times out, with
 *                          that many bytes more: an answer too big to take)
 *   POST /control/updates  [Update, ...] queued for getUpdates (update_id
 *                          given, or the next one). An update_id below the
 *                          last one starts a new sequence, as Telegram does
 *                          after a week without updates: an offset beyond
 *                          the newest update confirms nothing.
 *   GET  /control/requests every record since this process started
 */
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>
#include <time.h>

#include "hb_util.h"

struct held {
	TAILQ_ENTRY(held) entry;
	struct fake *fake;
	struct evhttp_request *req;
	struct event *timeout;
	long long offset;
	long long limit;
	long long pad;
};

TAILQ_HEAD(held_list, held);

struct fake {
	struct event_base *base;
	struct evhttp *http;
	char token[128];
	char username[64];
	FILE *record;
	json_t *rules;		/* array */
	json_t *updates;	/* array of pending Update objects */
	json_t *requests;	/* array of records */
	long long next_update_id;
	long long newest_id;	/* of the current sequence */
	long long seq;
	struct held_list held;
	json_t *messages;	/* "<chat>:<message_id>" -> text */
	long long record_message_id;	/* for the next record; 0: none */
};

/* The key of a message in f->messages. */
static void
message_key(json_t *chat_id, long long message_id, char *out, size_t outlen)
{
	if (json_is_integer(chat_id))
		snprintf(out, outlen, "%lld:%lld",
		    (long long)json_integer_value(chat_id), message_id);
	else
		snprintf(out, outlen, "%s:%lld", json_string_value(chat_id) ?
		    json_string_value(chat_id) : "", message_id);
}

static json_t *
body_json(struct evhttp_request *req, struct hb_buf *raw)
{
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	size_t n = evbuffer_get_length(in);

	hb_buf_reset(raw);
	if (n > 0)
		hb_buf_append(raw, evbuffer_pullup(in, -1), n);
	else
		hb_buf_puts(raw, "");
	return json_loadb(raw->data, raw->len, 0, NULL);
}

static void
reply_json(struct evhttp_request *req, int code, json_t *o)
{
	struct evbuffer *out = evbuffer_new();
	char *s = json_dumps(o, JSON_COMPACT);

	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
	    "application/json");
	evbuffer_add(out, s, strlen(s));
	evhttp_send_reply(req, code, code == 200 ? "OK" : "Error", out);
	evbuffer_free(out);
	free(s);
}

static void
reply_error(struct evhttp_request *req, int code, const char *desc,
    long retry_after)
{
	json_t *o = json_pack("{s:b, s:i, s:s}", "ok", 0, "error_code", code,
	    "description", desc);

	if (retry_after >= 0)
		json_object_set_new(o, "parameters", json_pack("{s:i}", "retry_after",
		    (int)retry_after));
	reply_json(req, code, o);
	json_decref(o);
}

/* at_ms: when the request had arrived (before it was answered). */
static void
record(struct fake *f, int64_t at_ms, const char *method, int status,
    const char *raw, json_t *body, long long offset)
{
	json_t *r = json_object();
	char *line;

	json_object_set_new(r, "seq", json_integer(++f->seq));
	json_object_set_new(r, "at_ms", json_integer(at_ms));
	json_object_set_new(r, "method", json_string(method));
	json_object_set_new(r, "status", json_integer(status));
	if (body)
		json_object_set(r, "body", body);
	else
		json_object_set_new(r, "raw", json_string(raw ? raw : ""));
	if (offset >= 0)
		json_object_set_new(r, "offset", json_integer(offset));
	if (f->record_message_id > 0)
		json_object_set_new(r, "message_id",
		    json_integer(f->record_message_id));
	f->record_message_id = 0;
	line = json_dumps(r, JSON_COMPACT);
	fprintf(f->record, "%s\n", line);
	fflush(f->record);
	free(line);
	json_array_append_new(f->requests, r);
}

/* The first rule that matches; its "times" is used up. NULL: answer OK. */
static json_t *
match_rule(struct fake *f, const char *method, const char *raw)
{
	size_t i;
	json_t *rule;

	json_array_foreach(f->rules, i, rule) {
		const char *m = json_string_value(json_object_get(rule, "match"));
		const char *meth = json_string_value(json_object_get(rule, "method"));
		json_t *times = json_object_get(rule, "times");

		if (meth && strcmp(meth, method) != 0)
			continue;
		if (m && strstr(raw, m) == NULL)
			continue;
		if (json_is_integer(times)) {
			if (json_integer_value(times) <= 0)
				continue;
			json_integer_set(times, json_integer_value(times) - 1);
		}
		return rule;
	}
	return NULL;
}

/* Applies a rule: returns the status answered (0 for a hang). */
static int
answer_by_rule(struct evhttp_request *req, json_t *rule)
{
	int status = (int)json_integer_value(json_object_get(rule, "status"));
	const char *desc = json_string_value(json_object_get(rule, "description"));
	json_t *ra = json_object_get(rule, "retry_after");

	if (json_is_true(json_object_get(rule, "hang")))
		return 0;	/* never answered; evhttp frees it when the client goes */
	if (status == 0)
		status = 500;
	if (desc == NULL)
		desc = status == 429 ? "Too Many Requests: retry later" :
		    status == 400 ? "Bad Request: chat not found" :
		    status == 403 ? "Forbidden: bot was blocked by the user" :
		    "Internal Server Error";
	reply_error(req, status, desc, json_is_integer(ra) ?
	    (long)json_integer_value(ra) : -1);
	return status;
}

/* UTF-16 units of the character starting with byte c (0 for a continuation). */
static size_t
units_of(unsigned char c)
{
	if ((c & 0xC0) == 0x80)
		return 0;
	return c >= 0xF0 ? 2 : 1;
}

static bool
tag_known(const char *name)
{
	static const char *const tags[] = { "b", "strong", "i", "em", "u", "ins",
	    "s", "strike", "del", "span", "tg-spoiler", "a", "code", "pre",
	    "blockquote", "tg-emoji", NULL };

	for (size_t i = 0; tags[i]; i++)
		if (strcmp(tags[i], name) == 0)
			return true;
	return false;
}

/* An entity s[0..n) (between '&' and ';'): its UTF-16 units, or 0 if unknown. */
static size_t
entity_units(const char *s, size_t n)
{
	unsigned long v = 0;
	size_t i = 1;
	bool hex;

	if ((n == 2 && (strncmp(s, "lt", 2) == 0 || strncmp(s, "gt", 2) == 0)) ||
	    (n == 3 && strncmp(s, "amp", 3) == 0) ||
	    (n == 4 && strncmp(s, "quot", 4) == 0))
		return 1;
	if (n < 2 || s[0] != '#')
		return 0;
	hex = s[1] == 'x' || s[1] == 'X';
	if (hex)
		i = 2;
	if (i >= n)
		return 0;
	for (; i < n; i++) {
		char c = s[i];
		unsigned d;

		if (c >= '0' && c <= '9')
			d = (unsigned)(c - '0');
		else if (hex && c >= 'a' && c <= 'f')
			d = (unsigned)(c - 'a' + 10);
		else if (hex && c >= 'A' && c <= 'F')
			d = (unsigned)(c - 'A' + 10);
		else
			return 0;
		v = v * (hex ? 16 : 10) + d;
		if (v > 0x10FFFF)
			return 0;
	}
	if (v == 0)
		return 0;
	return v >= 0x10000 ? 2 : 1;
}

/*
 * Reads text the way Telegram's HTML parse mode does: known tags, balanced;
 * '<' only to start a tag and '&' only to start &lt; &gt; &amp; &quot; or a
 * numeric entity. Sets *units to the UTF-16 units of what is left to show.
 * 0, or -1 with the reason in err.
 */
static int
parse_html(const char *s, size_t len, size_t *units, char *err, size_t errlen)
{
	char stack[32][16];
	size_t depth = 0, i = 0, u = 0;

	while (i < len) {
		size_t start = i;

		if (s[i] == '<') {
			char name[16];
			size_t n = 0;
			bool end = false;

			i++;
			if (i < len && s[i] == '/') {
				end = true;
				i++;
			}
			while (i < len && ((s[i] >= 'a' && s[i] <= 'z') ||
			    (s[i] >= 'A' && s[i] <= 'Z') || s[i] == '-')) {
				if (n + 1 < sizeof(name))
					name[n++] = (char)(s[i] >= 'A' && s[i] <= 'Z' ?
					    s[i] - 'A' + 'a' : s[i]);
				i++;
			}
			name[n] = '\0';
			if (!tag_known(name)) {
				snprintf(err, errlen, "Unsupported %s tag \"%s\" at byte "
				    "offset %zu", end ? "end" : "start", name, start);
				return -1;
			}
			/* attributes, whose quoted values may hold '>' */
			while (i < len && s[i] != '>') {
				if (s[i] == '"' || s[i] == '\'') {
					char q = s[i++];

					while (i < len && s[i] != q)
						i++;
				}
				if (i < len)
					i++;
			}
			if (i >= len) {
				snprintf(err, errlen, "Can't find end of the tag starting "
				    "at byte offset %zu", start);
				return -1;
			}
			i++;
			if (!end) {
				if (depth == sizeof(stack) / sizeof(stack[0])) {
					snprintf(err, errlen, "Too deep nesting at byte "
					    "offset %zu", start);
					return -1;
				}
				snprintf(stack[depth++], sizeof(stack[0]), "%s", name);
			} else if (depth == 0) {
				snprintf(err, errlen, "Unexpected end tag at byte offset "
				    "%zu", start);
				return -1;
			} else if (strcmp(stack[depth - 1], name) != 0) {
				snprintf(err, errlen, "Unmatched end tag at byte offset "
				    "%zu, expected \"</%s>\", found \"</%s>\"", start,
				    stack[depth - 1], name);
				return -1;
			} else
				depth--;
			continue;
		}
		if (s[i] == '&') {
			size_t j = i + 1, n;

			while (j < len && j - i <= 10 && s[j] != ';')
				j++;
			n = j < len && s[j] == ';' ? entity_units(s + i + 1, j - i - 1) : 0;
			if (n == 0) {
				snprintf(err, errlen, "Character '&' is reserved and must "
				    "be escaped with \"&amp;\" (byte offset %zu)", start);
				return -1;
			}
			u += n;
			i = j + 1;
			continue;
		}
		u += units_of((unsigned char)s[i]);
		i++;
	}
	if (depth > 0) {
		snprintf(err, errlen, "Can't find end tag corresponding to start tag "
		    "\"%s\"", stack[depth - 1]);
		return -1;
	}
	*units = u;
	return 0;
}

/* What Telegram says about a sendMessage body: 200, or 400 with desc. */
static int
check_message(json_t *body, char *desc, size_t desclen)
{
	json_t *jt = json_object_get(body, "text");
	const char *text = json_string_value(jt);
	const char *mode = json_string_value(json_object_get(body, "parse_mode"));
	size_t units = 0;
	char why[200];

	if (!json_is_integer(json_object_get(body, "chat_id")) &&
	    !json_is_string(json_object_get(body, "chat_id"))) {
		snprintf(desc, desclen, "Bad Request: chat_id is empty");
		return 400;
	}
	if (text == NULL) {
		snprintf(desc, desclen, "Bad Request: message text is empty");
		return 400;
	}
	if (mode && strcasecmp(mode, "HTML") == 0) {
		if (parse_html(text, json_string_length(jt), &units, why,
		    sizeof(why)) != 0) {
			snprintf(desc, desclen, "Bad Request: can't parse entities: %s",
			    why);
			return 400;
		}
	} else if (mode && *mode) {
		snprintf(desc, desclen, "Bad Request: unsupported parse_mode");
		return 400;
	} else {
		for (size_t i = 0; i < json_string_length(jt); i++)
			units += units_of((unsigned char)text[i]);
	}
	if (units == 0) {
		snprintf(desc, desclen, "Bad Request: message text is empty");
		return 400;
	}
	if (units > 4096) {
		snprintf(desc, desclen, "Bad Request: message is too long");
		return 400;
	}
	return 200;
}

static int check_reply_to(struct fake *f, json_t *body, char *desc,
    size_t desclen);

static void
on_send_message(struct fake *f, struct evhttp_request *req, const char *method)
{
	int64_t at = hb_mono_ms();
	struct hb_buf raw = { 0 };
	json_t *body = body_json(req, &raw), *rule, *o;
	char desc[300];
	int status;

	rule = match_rule(f, method, raw.data);
	if (rule)
		status = answer_by_rule(req, rule);
	else if (strcmp(method, "sendMessage") == 0 &&
	    ((status = check_message(body, desc, sizeof(desc))) != 200 ||
	    (status = check_reply_to(f, body, desc, sizeof(desc))) != 200))
		reply_error(req, status, desc, -1);
	else {
		status = 200;
		if (strcmp(method, "webhook") == 0)
			o = json_pack("{s:b}", "ok", 1);
		else
			o = json_pack("{s:b, s:{s:I, s:I, s:O, s:O}}", "ok", 1, "result",
			    "message_id", (json_int_t)f->seq + 1, "date",
			    (json_int_t)time(NULL), "chat", json_object_get(body, "chat_id") ?
			    json_object_get(body, "chat_id") : json_null(), "text",
			    json_object_get(body, "text") ? json_object_get(body, "text") :
			    json_null());
		reply_json(req, 200, o);
		json_decref(o);
		if (strcmp(method, "sendMessage") == 0) {
			char key[100];

			message_key(json_object_get(body, "chat_id"), f->seq + 1, key,
			    sizeof(key));
			json_object_set(f->messages, key, json_object_get(body, "text"));
			f->record_message_id = f->seq + 1;
		}
	}
	record(f, at, method, status, raw.data, body, -1);
	json_decref(body);
	hb_buf_free(&raw);
}

/* editMessageText: the new text of a message the bot sent. */
static void
on_edit_message(struct fake *f, struct evhttp_request *req)
{
	int64_t at = hb_mono_ms();
	struct hb_buf raw = { 0 };
	json_t *body = body_json(req, &raw), *rule, *id, *old;
	char desc[300], key[100];
	int status;

	rule = match_rule(f, "editMessageText", raw.data);
	id = json_object_get(body, "message_id");
	if (json_is_integer(id))
		message_key(json_object_get(body, "chat_id"),
		    (long long)json_integer_value(id), key, sizeof(key));
	old = json_is_integer(id) ? json_object_get(f->messages, key) : NULL;
	if (rule)
		status = answer_by_rule(req, rule);
	else if (!json_is_integer(id) || json_object_get(body, "chat_id") == NULL) {
		status = 400;
		reply_error(req, status, "Bad Request: message identifier is not "
		    "specified", -1);
	} else if ((status = check_message(body, desc, sizeof(desc))) != 200)
		reply_error(req, status, desc, -1);
	else if (old == NULL) {
		status = 400;
		reply_error(req, status, "Bad Request: message to edit not found", -1);
	} else if (json_equal(old, json_object_get(body, "text"))) {
		status = 400;
		reply_error(req, status, "Bad Request: message is not modified: "
		    "specified new message content and reply markup are exactly the "
		    "same as a current content and reply markup of the message", -1);
	} else {
		json_t *o = json_pack("{s:b, s:{s:O, s:I, s:O}}", "ok", 1, "result",
		    "message_id", id, "edit_date", (json_int_t)time(NULL), "text",
		    json_object_get(body, "text"));

		json_object_set(f->messages, key, json_object_get(body, "text"));
		reply_json(req, 200, o);
		json_decref(o);
	}
	record(f, at, "editMessageText", status, raw.data, body, -1);
	json_decref(body);
	hb_buf_free(&raw);
}

/*
 * sendMessage's reply_parameters: 200, or 400 with desc when they name a
 * message this chat does not have (and sending without it is not allowed).
 */
static int
check_reply_to(struct fake *f, json_t *body, char *desc, size_t desclen)
{
	json_t *rp = json_object_get(body, "reply_parameters"), *id;
	char key[100];

	if (rp == NULL)
		return 200;
	id = json_object_get(rp, "message_id");
	if (!json_is_object(rp) || !json_is_integer(id)) {
		snprintf(desc, desclen, "Bad Request: can't parse reply parameters "
		    "JSON object");
		return 400;
	}
	message_key(json_object_get(body, "chat_id"),
	    (long long)json_integer_value(id), key, sizeof(key));
	if (json_object_get(f->messages, key) == NULL &&
	    !json_is_true(json_object_get(rp, "allow_sending_without_reply"))) {
		snprintf(desc, desclen, "Bad Request: message to be replied not found");
		return 400;
	}
	return 200;
}

/* A BotCommandScope as Telegram takes it: 0, or -1 with desc. */
static int
check_scope(json_t *scope, char *desc, size_t desclen)
{
	static const char *const types[] = { "default", "all_private_chats",
	    "all_group_chats", "all_chat_administrators", "chat",
	    "chat_administrators", "chat_member" };
	const char *type = json_string_value(json_object_get(scope, "type"));
	size_t i;

	if (scope == NULL)
		return 0;
	for (i = 0; type && i < sizeof(types) / sizeof(types[0]); i++)
		if (strcmp(type, types[i]) == 0)
			break;
	if (!json_is_object(scope) || type == NULL ||
	    i == sizeof(types) / sizeof(types[0])) {
		snprintf(desc, desclen, "Bad Request: can't parse BotCommandScope "
		    "JSON object");
		return -1;
	}
	if (strncmp(type, "chat", 4) == 0 &&
	    !json_is_integer(json_object_get(scope, "chat_id")) &&
	    !json_is_string(json_object_get(scope, "chat_id"))) {
		snprintf(desc, desclen, "Bad Request: chat_id is empty");
		return -1;
	}
	return 0;
}

/* What Telegram says about a setMyCommands body: 0, or -1 with desc. */
static int
check_commands(json_t *body, char *desc, size_t desclen)
{
	json_t *list = json_object_get(body, "commands"), *c;
	size_t i;

	if (!json_is_array(list) || json_array_size(list) == 0 ||
	    json_array_size(list) > 100) {
		snprintf(desc, desclen, "Bad Request: commands must be a non-empty "
		    "list of at most 100");
		return -1;
	}
	json_array_foreach(list, i, c) {
		const char *name = json_string_value(json_object_get(c, "command"));
		json_t *jd = json_object_get(c, "description");
		size_t n = name ? strlen(name) : 0, units = 0;

		for (size_t k = 0; k < n; k++)
			if (!((name[k] >= 'a' && name[k] <= 'z') ||
			    (name[k] >= '0' && name[k] <= '9') || name[k] == '_'))
				n = 0;
		if (n == 0 || n > 32) {
			snprintf(desc, desclen, "Bad Request: BOT_COMMAND_INVALID");
			return -1;
		}
		for (size_t k = 0; json_is_string(jd) && k < json_string_length(jd);
		    k++)
			units += units_of((unsigned char)json_string_value(jd)[k]);
		if (units == 0 || units > 256) {
			snprintf(desc, desclen, "Bad Request: "
			    "BOT_COMMAND_DESCRIPTION_INVALID");
			return -1;
		}
	}
	return 0;
}

/* setMyCommands and deleteMyCommands: true, or 400 as Telegram says. */
static void
on_my_commands(struct fake *f, struct evhttp_request *req, const char *method)
{
	int64_t at = hb_mono_ms();
	struct hb_buf raw = { 0 };
	json_t *body = body_json(req, &raw), *rule;
	char desc[300];
	int status = 200;

	rule = match_rule(f, method, raw.data);
	if (rule)
		status = answer_by_rule(req, rule);
	else if (!json_is_object(body) ||
	    check_scope(json_object_get(body, "scope"), desc, sizeof(desc)) != 0 ||
	    (strcmp(method, "setMyCommands") == 0 &&
	    check_commands(body, desc, sizeof(desc)) != 0)) {
		if (!json_is_object(body))
			snprintf(desc, sizeof(desc), "Bad Request: no parameters");
		status = 400;
		reply_error(req, status, desc, -1);
	} else {
		json_t *o = json_pack("{s:b, s:b}", "ok", 1, "result", 1);

		reply_json(req, 200, o);
		json_decref(o);
	}
	record(f, at, method, status, raw.data, body, -1);
	json_decref(body);
	hb_buf_free(&raw);
}

/*
 * Telegram forgets updates below the offset a client confirms, and hands
 * over at most limit of the rest. An offset beyond the newest update is
 * one from an earlier sequence of ids: it confirms nothing.
 */
static json_t *
take_updates(struct fake *f, long long offset, long long limit)
{
	json_t *out = json_array(), *keep = json_array(), *u;
	bool confirms = offset > 0 && offset <= f->newest_id + 1;
	size_t i;

	json_array_foreach(f->updates, i, u) {
		long long id = json_integer_value(json_object_get(u, "update_id"));

		if (confirms && id < offset)
			continue;
		json_array_append(keep, u);
		if ((long long)json_array_size(out) < limit)
			json_array_append(out, u);
	}
	json_decref(f->updates);
	f->updates = keep;
	return out;
}

/* pad: bytes of padding added to the answer (0: none). */
static void
answer_updates(struct evhttp_request *req, json_t *updates, long long pad)
{
	json_t *o = json_pack("{s:b, s:O}", "ok", 1, "result", updates);

	if (pad > 0) {
		char *p = hb_xmalloc((size_t)pad + 1);

		memset(p, 'x', (size_t)pad);
		p[pad] = '\0';
		json_object_set_new(o, "padding", json_stringn(p, (size_t)pad));
		free(p);
	}
	reply_json(req, 200, o);
	json_decref(o);
}

static void
held_free(struct held *h)
{
	TAILQ_REMOVE(&h->fake->held, h, entry);
	event_free(h->timeout);
	free(h);
}

static void
on_held_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct held *h = arg;
	json_t *none = json_array();

	(void)fd;
	(void)what;
	evhttp_connection_set_closecb(evhttp_request_get_connection(h->req), NULL,
	    NULL);
	answer_updates(h->req, none, h->pad);
	json_decref(none);
	held_free(h);
}

static void
on_held_closed(struct evhttp_connection *conn, void *arg)
{
	(void)conn;
	held_free(arg);
}

static void
on_get_updates(struct fake *f, struct evhttp_request *req)
{
	int64_t at = hb_mono_ms();
	struct hb_buf raw = { 0 };
	json_t *body = body_json(req, &raw), *updates;
	long long offset = json_integer_value(json_object_get(body, "offset"));
	long long timeout = json_integer_value(json_object_get(body, "timeout"));
	long long limit = json_integer_value(json_object_get(body, "limit"));
	json_t *rule = match_rule(f, "getUpdates", raw.data);
	long long pad = 0;

	if (limit < 1 || limit > 100)
		limit = 100;	/* Telegram's default and maximum */
	if (rule && json_object_get(rule, "status") == NULL &&
	    json_integer_value(json_object_get(rule, "pad")) > 0) {
		pad = json_integer_value(json_object_get(rule, "pad"));
		rule = NULL;
	}
	record(f, at, "getUpdates", rule ? (int)json_integer_value(json_object_get(rule,
	    "status")) : 200, raw.data, body, offset);
	if (rule) {
		answer_by_rule(req, rule);
		goto out;
	}
	updates = take_updates(f, offset, limit);
	if (json_array_size(updates) > 0 || timeout <= 0) {
		answer_updates(req, updates, pad);
	} else {
		struct held *h = hb_xcalloc(1, sizeof(*h));
		struct timeval tv = { (time_t)(timeout > 60 ? 60 : timeout), 0 };

		h->fake = f;
		h->req = req;
		h->offset = offset;
		h->limit = limit;
		h->pad = pad;
		h->timeout = evtimer_new(f->base, on_held_timeout, h);
		evtimer_add(h->timeout, &tv);
		evhttp_connection_set_closecb(evhttp_request_get_connection(req),
		    on_held_closed, h);
		TAILQ_INSERT_TAIL(&f->held, h, entry);
	}
	json_decref(updates);
out:
	json_decref(body);
	hb_buf_free(&raw);
}

/* The bot's id is the token's part before ':'. */
static void
on_get_me(struct fake *f, struct evhttp_request *req)
{
	int64_t at = hb_mono_ms();
	json_t *rule = match_rule(f, "getMe", ""), *o;
	char id[32];
	long long bot_id = 0;
	int status = 200;

	snprintf(id, sizeof(id), "%.*s", (int)strcspn(f->token, ":"), f->token);
	if (hb_parse_ll(id, 1, LLONG_MAX, &bot_id) != 0)
		bot_id = 1;
	if (rule)
		status = answer_by_rule(req, rule);
	else {
		o = json_pack("{s:b, s:{s:I, s:b, s:s, s:s, s:b, s:b, s:b}}", "ok", 1,
		    "result", "id", (json_int_t)bot_id, "is_bot", 1, "first_name",
		    "homebus test", "username", f->username, "can_join_groups", 1,
		    "can_read_all_group_messages", 0, "supports_inline_queries", 0);
		reply_json(req, 200, o);
		json_decref(o);
	}
	record(f, at, "getMe", status, "", NULL, -1);
}

static void
on_control(struct fake *f, struct evhttp_request *req, const char *what)
{
	struct hb_buf raw = { 0 };
	json_t *body = NULL, *ok = json_pack("{s:b}", "ok", 1);
	struct held *h;

	if (strcmp(what, "requests") == 0) {
		reply_json(req, 200, f->requests);
		goto out;
	}
	body = body_json(req, &raw);
	if (!json_is_array(body)) {
		reply_error(req, 400, "control: a JSON list is expected", -1);
		goto out;
	}
	if (strcmp(what, "rules") == 0) {
		json_decref(f->rules);
		f->rules = json_deep_copy(body);
	} else if (strcmp(what, "updates") == 0) {
		size_t i;
		json_t *u;

		json_array_foreach(body, i, u) {
			json_t *c = json_deep_copy(u);
			json_t *id = json_object_get(c, "update_id");

			if (json_is_integer(id))
				f->next_update_id = json_integer_value(id) + 1;
			else
				json_object_set_new(c, "update_id",
				    json_integer(f->next_update_id++));
			f->newest_id = f->next_update_id - 1;
			{
				json_t *msg = json_object_get(c, "message");
				json_t *mid = json_object_get(msg, "message_id");
				char key[100];

				if (json_is_integer(mid)) {
					message_key(json_object_get(json_object_get(msg,
					    "chat"), "id"), (long long)json_integer_value(mid),
					    key, sizeof(key));
					json_object_set(f->messages, key, json_object_get(msg,
					    "text") ? json_object_get(msg, "text") : json_null());
				}
			}
			json_array_append_new(f->updates, c);
		}
		/* wake the long polls */
		while ((h = TAILQ_FIRST(&f->held)) != NULL) {
			json_t *updates = take_updates(f, h->offset, h->limit);

			evhttp_connection_set_closecb(evhttp_request_get_connection(h->req),
			    NULL, NULL);
			answer_updates(h->req, updates, h->pad);
			json_decref(updates);
			held_free(h);
		}
	} else {
		reply_error(req, 404, "control: unknown", -1);
		goto out;
	}
	reply_json(req, 200, ok);
out:
	json_decref(ok);
	json_decref(body);
	hb_buf_free(&raw);
}

static void
on_request(struct evhttp_request *req, void *arg)
{
	struct fake *f = arg;
	const char *uri = evhttp_request_get_uri(req);
	char prefix[200];
	size_t pl;

	if (strncmp(uri, "/control/", 9) == 0) {
		on_control(f, req, uri + 9);
		return;
	}
	if (strncmp(uri, "/hook", 5) == 0) {
		on_send_message(f, req, "webhook");
		return;
	}
	if (strncmp(uri, "/bot", 4) != 0) {
		reply_error(req, 404, "Not Found", -1);
		return;
	}
	pl = (size_t)snprintf(prefix, sizeof(prefix), "/bot%s/", f->token);
	if (strncmp(uri, prefix, pl) != 0) {
		/* Telegram answers a wrong token with 401 Unauthorized */
		record(f, hb_mono_ms(), "unauthorized", 401, "", NULL, -1);
		reply_error(req, 401, "Unauthorized", -1);
		return;
	}
	if (strcasecmp(uri + pl, "sendMessage") == 0)
		on_send_message(f, req, "sendMessage");
	else if (strcasecmp(uri + pl, "getMe") == 0)
		on_get_me(f, req);
	else if (strcasecmp(uri + pl, "getUpdates") == 0)
		on_get_updates(f, req);
	else if (strcasecmp(uri + pl, "editMessageText") == 0)
		on_edit_message(f, req);
	else if (strcasecmp(uri + pl, "setMyCommands") == 0)
		on_my_commands(f, req, "setMyCommands");
	else if (strcasecmp(uri + pl, "deleteMyCommands") == 0)
		on_my_commands(f, req, "deleteMyCommands");
	else
		reply_error(req, 404, "Not Found: method not found", -1);
}

int
main(int argc, char **argv)
{
	struct fake f;
	const char *record_path = NULL;
	int port = 0;

	memset(&f, 0, sizeof(f));
	snprintf(f.token, sizeof(f.token), "123456:TEST-token");
	snprintf(f.username, sizeof(f.username), "homebus_test_bot");
	for (int i = 1; i + 1 < argc; i += 2) {
		long long n;

		if (strcmp(argv[i], "--port") == 0)
			port = hb_parse_ll(argv[i + 1], 1, 65535, &n) == 0 ? (int)n : 0;
		else if (strcmp(argv[i], "--record") == 0)
			record_path = argv[i + 1];
		else if (strcmp(argv[i], "--token") == 0)
			snprintf(f.token, sizeof(f.token), "%s", argv[i + 1]);
		else if (strcmp(argv[i], "--username") == 0)
			snprintf(f.username, sizeof(f.username), "%s", argv[i + 1]);
	}
	if (port <= 0 || record_path == NULL) {
		fprintf(stderr, "usage: fake_telegram --port N --record FILE "
		    "[--token TOKEN] [--username NAME]\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	f.record = fopen(record_path, "a");
	if (f.record == NULL) {
		perror(record_path);
		return 1;
	}
	f.rules = json_array();
	f.updates = json_array();
	f.requests = json_array();
	f.messages = json_object();
	f.next_update_id = 1000;
	f.newest_id = f.next_update_id - 1;
	TAILQ_INIT(&f.held);
	f.base = event_base_new();
	f.http = evhttp_new(f.base);
	evhttp_set_allowed_methods(f.http, EVHTTP_REQ_GET | EVHTTP_REQ_POST);
	evhttp_set_gencb(f.http, on_request, &f);
	if (evhttp_bind_socket(f.http, "127.0.0.1", (ev_uint16_t)port) != 0) {
		fprintf(stderr, "fake_telegram: cannot bind 127.0.0.1:%d\n", port);
		return 1;
	}
	fprintf(stderr, "fake_telegram listening on 127.0.0.1:%d\n", port);
	event_base_dispatch(f.base);
	return 0;
}
