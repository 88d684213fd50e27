/*
 * telegram: Bot API bodies, answers and updates (see telegram.h).
 */
#include "telegram.h"
#include "hb_text.h"
#include "hb_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Room kept in the header for " (k/n)". */
#define PART_MARK_MAX 12

const char *
telegram_severity_icon(int severity)
{
	switch (severity) {
	case 0: return "\xe2\x84\xb9\xef\xb8\x8f";		/* information */
	case 1: return "\xe2\x9a\xa0\xef\xb8\x8f";		/* warning sign */
	case 2: return "\xf0\x9f\x94\xb4";			/* red circle */
	default: return "\xf0\x9f\x9a\xa8";			/* rotating light */
	}
}

/* The UTF-16 units of the character that starts with byte c (0 inside one). */
static size_t
units_of(unsigned char c)
{
	if ((c & 0xC0) == 0x80)
		return 0;
	return c >= 0xF0 ? 2 : 1;
}

/*
 * How many bytes of the title to show: all of it when it fits in
 * TELEGRAM_TITLE_MAX units, else as many whole characters as leave room
 * for the ellipsis (*cut set). A title has no limit of its own on the bus,
 * and one longer than a message would make every part too long.
 */
static size_t
title_fit(const char *title, bool *cut)
{
	size_t len = strlen(title), units = 0, i;

	*cut = false;
	if (hb_text_utf16_len(title, len) <= TELEGRAM_TITLE_MAX)
		return len;
	for (i = 0; i < len; i++) {
		size_t u = units_of((unsigned char)title[i]);

		if (u > 0 && units + u > TELEGRAM_TITLE_MAX - 1)
			break;
		units += u;
	}
	*cut = true;
	return i;
}

#define ELLIPSIS "\xe2\x80\xa6"

static void
put_header(struct hb_buf *html, const struct telegram_text *t,
    size_t title_len, bool title_cut, size_t k, size_t n)
{
	if (t->icon && *t->icon) {
		hb_buf_puts(html, t->icon);
		hb_buf_putc(html, ' ');
	}
	hb_buf_puts(html, "<b>");
	if (t->title)
		hb_html_escape(html, t->title, title_len);
	if (title_cut)
		hb_buf_puts(html, ELLIPSIS);
	hb_buf_puts(html, "</b>");
	if (n > 1)
		hb_buf_printf(html, " (%zu/%zu)", k, n);
	hb_buf_putc(html, '\n');
}

json_t *
telegram_render(const struct telegram_text *t, size_t max_chars)
{
	const char *text = t->text ? t->text : "";
	size_t len = strlen(text), pos = 0, header, budget, npieces = 0, cap = 8;
	size_t *starts = hb_xmalloc(cap * sizeof(size_t));
	size_t *lens = hb_xmalloc(cap * sizeof(size_t));
	json_t *parts = json_array();
	struct hb_buf html = { 0 };
	bool title_cut = false;
	size_t title_len = t->title ? title_fit(t->title, &title_cut) : 0;

	/* visible header: icon, space, title, " (kk/nn)", newline */
	header = (t->icon ? hb_text_utf16_len(t->icon, strlen(t->icon)) + 1 : 0) +
	    (t->title ? hb_text_utf16_len(t->title, title_len) : 0) +
	    (title_cut ? 1 : 0) + PART_MARK_MAX + 1;
	budget = max_chars > header + 64 ? max_chars - header : 64;
	while (pos < len) {
		size_t skip, n = hb_text_piece(text + pos, len - pos, budget, &skip);

		if (n > 0) {
			if (npieces == cap) {
				cap *= 2;
				starts = hb_xrealloc(starts, cap * sizeof(size_t));
				lens = hb_xrealloc(lens, cap * sizeof(size_t));
			}
			starts[npieces] = pos;
			lens[npieces] = n;
			npieces++;
		}
		pos += n + skip;
	}
	if (npieces == 0) {
		starts[0] = 0;
		lens[0] = 0;
		npieces = 1;
	}
	for (size_t k = 0; k < npieces; k++) {
		json_t *body = json_object();

		hb_buf_reset(&html);
		put_header(&html, t, title_len, title_cut, k + 1, npieces);
		hb_html_escape(&html, text + starts[k], lens[k]);
		json_object_set_new(body, "chat_id", json_integer(t->chat_id));
		json_object_set_new(body, "text", json_stringn(html.data, html.len));
		json_object_set_new(body, "parse_mode", json_string("HTML"));
		if (t->silent)
			json_object_set_new(body, "disable_notification", json_true());
		json_array_append_new(parts, body);
	}
	hb_buf_free(&html);
	free(starts);
	free(lens);
	return parts;
}

void
telegram_answer(long http_status, const char *body, size_t len,
    long retry_after_header, struct telegram_answer *out)
{
	json_t *root = NULL, *v, *params;

	memset(out, 0, sizeof(*out));
	out->retry_after_s = retry_after_header;
	out->error_code = http_status;
	if (body && len > 0 && len < (1u << 20))
		root = json_loadb(body, len, 0, NULL);
	if (json_is_object(root)) {
		const char *d = json_string_value(json_object_get(root, "description"));

		if (d)
			snprintf(out->description, sizeof(out->description), "%s", d);
		if (json_is_integer(v = json_object_get(root, "error_code")))
			out->error_code = (long)json_integer_value(v);
		params = json_object_get(root, "parameters");
		if (json_is_object(params)) {
			v = json_object_get(params, "retry_after");
			if (json_is_integer(v) && json_integer_value(v) >= 0 &&
			    json_integer_value(v) <= 86400)
				out->retry_after_s = (long)json_integer_value(v);
			v = json_object_get(params, "migrate_to_chat_id");
			if (json_is_integer(v))
				out->migrate_to_chat_id = json_integer_value(v);
		}
	}
	if (http_status >= 200 && http_status < 300)
		out->verdict = json_is_false(json_object_get(root, "ok")) ?
		    TG_RETRY : TG_DELIVERED;
	else if (http_status == 429)
		out->verdict = TG_WAIT;
	else if (http_status == 400 || http_status == 403)
		out->verdict = TG_REFUSED;
	else if (http_status == 401 || http_status == 404)
		out->verdict = TG_AUTH;
	else
		out->verdict = TG_RETRY;
	if (out->description[0] == '\0' && http_status > 0)
		snprintf(out->description, sizeof(out->description), "HTTP %ld",
		    http_status);
	json_decref(root);
}

static long long
get_int(json_t *obj, const char *key, bool *ok)
{
	json_t *v = json_object_get(obj, key);

	if (!json_is_integer(v)) {
		*ok = false;
		return 0;
	}
	*ok = true;
	return json_integer_value(v);
}

static void
copy_str(json_t *obj, const char *key, char *dst, size_t dstlen)
{
	const char *s = json_string_value(json_object_get(obj, key));

	snprintf(dst, dstlen, "%s", s ? s : "");
}

static void
parse_message(json_t *msg, struct telegram_update *u)
{
	json_t *chat = json_object_get(msg, "chat"), *from = json_object_get(msg, "from");
	const char *text;
	bool ok;

	if (!json_is_object(msg) || !json_is_object(chat))
		return;
	u->chat_id = get_int(chat, "id", &ok);
	if (!ok)
		return;
	u->has_message = true;
	u->message_id = get_int(msg, "message_id", &ok);
	u->date = get_int(msg, "date", &ok);
	if (!ok)
		u->date = 0;
	copy_str(chat, "type", u->chat_type, sizeof(u->chat_type));
	if (json_is_object(from)) {
		u->from_id = get_int(from, "id", &u->has_from);
		u->from_bot = json_is_true(json_object_get(from, "is_bot"));
		copy_str(from, "username", u->username, sizeof(u->username));
		copy_str(from, "first_name", u->first_name, sizeof(u->first_name));
	}
	text = json_string_value(json_object_get(msg, "text"));
	if (text)
		u->text = hb_xstrndup(text, json_string_length(json_object_get(msg,
		    "text")));
}

int
telegram_updates_parse(const char *body, size_t len,
    struct telegram_update **out, size_t *n, char *err, size_t errlen)
{
	json_error_t jerr;
	json_t *root, *result, *item;
	struct telegram_update *u = NULL;
	size_t i, k = 0;

	*out = NULL;
	*n = 0;
	root = json_loadb(body, len, 0, &jerr);
	if (!json_is_object(root)) {
		snprintf(err, errlen, "getUpdates answer is not a JSON object");
		json_decref(root);
		return -1;
	}
	if (!json_is_true(json_object_get(root, "ok"))) {
		const char *d = json_string_value(json_object_get(root, "description"));

		snprintf(err, errlen, "getUpdates refused: %s", d ? d : "ok is not true");
		json_decref(root);
		return -1;
	}
	result = json_object_get(root, "result");
	if (!json_is_array(result)) {
		snprintf(err, errlen, "getUpdates result is not a list");
		json_decref(root);
		return -1;
	}
	if (json_array_size(result) > 0)
		u = hb_xcalloc(json_array_size(result), sizeof(*u));
	json_array_foreach(result, i, item) {
		bool ok;
		long long id;

		if (!json_is_object(item))
			continue;
		id = get_int(item, "update_id", &ok);
		if (!ok)
			continue;
		u[k].update_id = id;
		parse_message(json_object_get(item, "message"), &u[k]);
		k++;
	}
	json_decref(root);
	*out = u;
	*n = k;
	return 0;
}

void
telegram_updates_free(struct telegram_update *u, size_t n)
{
	for (size_t i = 0; u && i < n; i++)
		free(u[i].text);
	free(u);
}

int
telegram_me_parse(const char *body, size_t len, char *out, size_t outlen,
    char *err, size_t errlen)
{
	json_t *root = body && len > 0 ? json_loadb(body, len, 0, NULL) : NULL;
	json_t *v = json_object_get(json_object_get(root, "result"), "username");
	const char *name = json_string_value(v);
	size_t n = 0;
	int rc = -1;

	if (outlen > 0)
		out[0] = '\0';
	if (!json_is_object(root))
		snprintf(err, errlen, "getMe answer is not a JSON object");
	else if (!json_is_true(json_object_get(root, "ok")))
		snprintf(err, errlen, "getMe refused");
	else if (name == NULL)
		snprintf(err, errlen, "getMe answer has no result.username");
	else {
		n = json_string_length(v);	/* a "\u0000" inside is refused */
		for (size_t i = 0; i < n; i++)
			if (!((name[i] >= 'a' && name[i] <= 'z') ||
			    (name[i] >= 'A' && name[i] <= 'Z') ||
			    (name[i] >= '0' && name[i] <= '9') || name[i] == '_'))
				n = 0;
		if (n == 0 || n >= outlen)
			snprintf(err, errlen, "getMe answer has no usable username");
		else {
			memcpy(out, name, n + 1);
			rc = 0;
		}
	}
	json_decref(root);
	return rc;
}

void
telegram_mask(const char *s, const char *token, char *out, size_t outlen)
{
	size_t tl = token ? strlen(token) : 0, o = 0;

	if (outlen == 0)
		return;
	while (*s && o + 1 < outlen) {
		if (tl > 0 && strncmp(s, token, tl) == 0) {
			for (const char *m = "***"; *m && o + 1 < outlen; m++)
				out[o++] = *m;
			s += tl;
			continue;
		}
		out[o++] = *s++;
	}
	out[o] = '\0';
}

bool
telegram_chat_in(const long long *ids, size_t n, long long id)
{
	for (size_t i = 0; i < n; i++)
		if (ids[i] == id)
			return true;
	return false;
}
