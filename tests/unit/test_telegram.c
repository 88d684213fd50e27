/*
 * The notifier's Telegram codec and command parser: what Telegram gets for
 * a notification, how its answers are judged, updates read defensively, the
 * token masked, and commands parsed strictly.
 */
#include "hbt.h"
#include "commands.h"
#include "telegram.h"

#include <string.h>

static void
test_render(void)
{
	struct hb_telegram_text t = { 1001, "\xe2\x9a\xa0\xef\xb8\x8f", "Disk <nuc>",
	    "free < 5% & falling", false };
	json_t *parts = hb_telegram_render(&t, HB_TELEGRAM_MAX_CHARS), *p;
	char *s;

	HBT_CHECK(json_array_size(parts) == 1, "one part");
	p = json_array_get(parts, 0);
	s = json_dumps(p, JSON_COMPACT | JSON_SORT_KEYS);
	HBT_CHECK(strcmp(s, "{\"chat_id\":1001,\"parse_mode\":\"HTML\",\"text\":"
	    "\"\xe2\x9a\xa0\xef\xb8\x8f <b>Disk &lt;nuc&gt;</b>\\nfree &lt; 5% &amp; "
	    "falling\"}") == 0, "%s", s);
	free(s);
	json_decref(parts);

	t.silent = true;
	t.chat_id = -100123456789012LL;
	parts = hb_telegram_render(&t, HB_TELEGRAM_MAX_CHARS);
	p = json_array_get(parts, 0);
	HBT_CHECK(json_is_true(json_object_get(p, "disable_notification")), "silent");
	HBT_CHECK(json_integer_value(json_object_get(p, "chat_id")) ==
	    -100123456789012LL, "supergroup ids keep 52 bits");
	json_decref(parts);

	/* three lines at a limit of 60: parts marked (k/n) and under the limit */
	t.text = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n"
	    "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\n"
	    "cccc";
	t.title = "T";
	parts = hb_telegram_render(&t, 100);
	HBT_CHECK(json_array_size(parts) == 2, "two parts, got %zu",
	    json_array_size(parts));
	HBT_CHECK(strstr(json_string_value(json_object_get(json_array_get(parts, 1),
	    "text")), "<b>T</b> (2/2)\nbbbb") != NULL, "second part: %s",
	    json_string_value(json_object_get(json_array_get(parts, 1), "text")));
	json_decref(parts);

	HBT_CHECK(strcmp(hb_telegram_severity_icon(3), "\xf0\x9f\x9a\xa8") == 0,
	    "critical icon");
}

/* What Telegram counts in an HTML text: UTF-16 units once tags are gone
 * and entities decoded (the renderer only writes <b>, </b> and &..;). */
static size_t
visible_units(const char *t)
{
	size_t n = 0;

	for (const char *p = t; *p; p++) {
		if (strncmp(p, "<b>", 3) == 0 || strncmp(p, "</b>", 4) == 0) {
			p = strchr(p, '>');
			continue;
		}
		if (*p == '&') {
			p = strchr(p, ';');
			n++;
			continue;
		}
		if (((unsigned char)*p & 0xC0) != 0x80)
			n += (unsigned char)*p >= 0xF0 ? 2 : 1;
	}
	return n;
}

/* The title between <b> and </b> of a rendered part (a new string). */
static char *
shown_title(json_t *part)
{
	const char *t = json_string_value(json_object_get(part, "text"));
	const char *a = t ? strstr(t, "<b>") : NULL, *b = t ? strstr(t, "</b>") : NULL;

	if (a == NULL || b == NULL || b < a)
		return hb_xstrdup("(no title)");
	return hb_xstrndup(a + 3, (size_t)(b - a - 3));
}

static void
test_title_cap(void)
{
	struct hb_buf title = { 0 }, text = { 0 }, want = { 0 };
	struct hb_telegram_text t = { 1001, "\xf0\x9f\x94\xb4", NULL, NULL, false };
	json_t *parts, *p;
	char *shown;
	size_t i;

	/* a title longer than a message: every part still fits */
	for (i = 0; i < 5000; i++)
		hb_buf_putc(&title, i % 100 == 99 ? '&' : 'T');
	for (i = 0; i < 50; i++)
		hb_buf_printf(&text, "%s%.99s", i ? "\n" : "", "line of text <x> "
		    "................................................................"
		    "..................");
	t.title = title.data;
	t.text = text.data;
	parts = hb_telegram_render(&t, HB_TELEGRAM_MAX_CHARS);
	HBT_CHECK(json_array_size(parts) == 2, "a long title: %zu parts",
	    json_array_size(parts));
	json_array_foreach(parts, i, p) {
		const char *s = json_string_value(json_object_get(p, "text"));

		HBT_CHECK(s && visible_units(s) <= HB_TELEGRAM_MAX_CHARS, "part %zu "
		    "is %zu units", i + 1, s ? visible_units(s) : 0);
		shown = shown_title(p);
		HBT_CHECK(visible_units(shown) == HB_TELEGRAM_TITLE_MAX, "title shown "
		    "in %zu units", visible_units(shown));
		HBT_CHECK(strlen(shown) > 3 && strcmp(shown + strlen(shown) - 3,
		    "\xe2\x80\xa6") == 0, "a cut title ends with an ellipsis: "
		    "...%s", strlen(shown) > 20 ? shown + strlen(shown) - 20 : shown);
		free(shown);
	}
	/* escaped after the cut: 99 T, '&' as &amp;, ... 255 units, then "…" */
	for (i = 0; i < 255; i++)
		if (i % 100 == 99)
			hb_buf_puts(&want, "&amp;");
		else
			hb_buf_putc(&want, 'T');
	hb_buf_puts(&want, "\xe2\x80\xa6");
	shown = shown_title(json_array_get(parts, 0));
	HBT_CHECK(strcmp(shown, want.data) == 0, "title: %.80s...", shown);
	free(shown);
	json_decref(parts);

	/* cut between characters: 200 emoji are 400 units, 127 of them shown */
	hb_buf_reset(&title);
	hb_buf_reset(&want);
	for (i = 0; i < 200; i++)
		hb_buf_puts(&title, "\xf0\x9f\x9a\xaa");	/* door, 2 units */
	for (i = 0; i < 127; i++)
		hb_buf_puts(&want, "\xf0\x9f\x9a\xaa");
	hb_buf_puts(&want, "\xe2\x80\xa6");
	t.title = title.data;
	t.text = "open";
	parts = hb_telegram_render(&t, HB_TELEGRAM_MAX_CHARS);
	shown = shown_title(json_array_get(parts, 0));
	HBT_CHECK(strcmp(shown, want.data) == 0, "emoji title cut between "
	    "characters (%zu bytes shown)", strlen(shown));
	free(shown);
	json_decref(parts);

	/* exactly at the cap: shown whole */
	hb_buf_reset(&title);
	for (i = 0; i < HB_TELEGRAM_TITLE_MAX; i++)
		hb_buf_putc(&title, 'x');
	t.title = title.data;
	parts = hb_telegram_render(&t, HB_TELEGRAM_MAX_CHARS);
	shown = shown_title(json_array_get(parts, 0));
	HBT_CHECK(strcmp(shown, title.data) == 0, "a title of %d units is whole",
	    HB_TELEGRAM_TITLE_MAX);
	free(shown);
	json_decref(parts);
	hb_buf_free(&title);
	hb_buf_free(&text);
	hb_buf_free(&want);
}

static void
test_me(void)
{
	char name[65], err[200];
	const char *ok = "{\"ok\":true,\"result\":{\"id\":987654,\"is_bot\":true,"
	    "\"first_name\":\"homebus\",\"username\":\"homebus_bot\"}}";
	static const char *const bad[] = {
		"{\"ok\":false,\"error_code\":401,\"description\":\"Unauthorized\"}",
		"{\"ok\":true,\"result\":{\"id\":1}}",
		"{\"ok\":true,\"result\":{\"username\":\"\"}}",
		"{\"ok\":true,\"result\":{\"username\":\"two words\"}}",
		"{\"ok\":true,\"result\":{\"username\":\"@homebus_bot\"}}",
		"{\"ok\":true,\"result\":{\"username\":\"homebus\\u0000bot\"}}",
		"{\"ok\":true,\"result\":{\"username\":7}}",
		"<html>502</html>",
		"",
	};

	HBT_CHECK(hb_telegram_me_parse(ok, strlen(ok), name, sizeof(name), err,
	    sizeof(err)) == 0 && strcmp(name, "homebus_bot") == 0, "getMe: %s", name);
	for (size_t i = 0; i < HB_ARRAY_LEN(bad); i++)
		HBT_CHECK(hb_telegram_me_parse(bad[i], strlen(bad[i]), name,
		    sizeof(name), err, sizeof(err)) == -1 && name[0] == '\0',
		    "getMe answer %zu refused", i);
	HBT_CHECK(hb_telegram_me_parse(ok, strlen(ok), name, 5, err, sizeof(err)) ==
	    -1, "a name longer than the buffer is refused, not cut");
}

static void
test_answers(void)
{
	struct hb_telegram_answer a;
	const char *r429 = "{\"ok\":false,\"error_code\":429,\"description\":"
	    "\"Too Many Requests: retry after 7\",\"parameters\":{\"retry_after\":7}}";
	const char *r400 = "{\"ok\":false,\"error_code\":400,\"description\":"
	    "\"Bad Request: chat not found\"}";

	hb_telegram_answer(200, "{\"ok\":true,\"result\":{}}", 23, -1, &a);
	HBT_CHECK(a.verdict == HB_TG_DELIVERED, "200");
	hb_telegram_answer(429, r429, strlen(r429), 3, &a);
	HBT_CHECK(a.verdict == HB_TG_WAIT && a.retry_after_s == 7,
	    "429: parameters.retry_after wins over the header: %ld", a.retry_after_s);
	hb_telegram_answer(429, "", 0, 3, &a);
	HBT_CHECK(a.verdict == HB_TG_WAIT && a.retry_after_s == 3, "429: header");
	hb_telegram_answer(400, r400, strlen(r400), -1, &a);
	HBT_CHECK(a.verdict == HB_TG_REFUSED &&
	    strcmp(a.description, "Bad Request: chat not found") == 0, "400: %s",
	    a.description);
	hb_telegram_answer(403, "", 0, -1, &a);
	HBT_CHECK(a.verdict == HB_TG_REFUSED && strcmp(a.description, "HTTP 403") == 0,
	    "403");
	hb_telegram_answer(401, "", 0, -1, &a);
	HBT_CHECK(a.verdict == HB_TG_AUTH, "401 keeps the message");
	hb_telegram_answer(502, "<html>bad gateway</html>", 24, -1, &a);
	HBT_CHECK(a.verdict == HB_TG_RETRY, "502");
	hb_telegram_answer(0, NULL, 0, -1, &a);
	HBT_CHECK(a.verdict == HB_TG_RETRY, "no answer");
	hb_telegram_answer(200, "{\"ok\":false}", 12, -1, &a);
	HBT_CHECK(a.verdict == HB_TG_RETRY, "200 with ok false is not delivered");
}

static void
test_updates(void)
{
	const char *body = "{\"ok\":true,\"result\":["
	    "{\"update_id\":7,\"message\":{\"message_id\":1,\"date\":1,"
	    "\"from\":{\"id\":42,\"is_bot\":false,\"first_name\":\"Alice\","
	    "\"username\":\"alice\"},\"chat\":{\"id\":1001,\"type\":\"private\"},"
	    "\"text\":\"/deploy abc\"}},"
	    "{\"update_id\":8,\"edited_message\":{}},"
	    "{\"update_id\":\"nine\"},"
	    "{\"update_id\":10,\"message\":{\"chat\":{\"id\":-5,\"type\":\"group\"},"
	    "\"photo\":[]}}]}";
	struct hb_telegram_update *u;
	size_t n;
	char err[200];

	HBT_REQUIRE(hb_telegram_updates_parse(body, strlen(body), &u, &n, err,
	    sizeof(err)) == 0, "%s", err);
	HBT_CHECK(n == 3, "three usable update ids, got %zu", n);
	HBT_CHECK(u[0].update_id == 7 && u[0].has_message && u[0].chat_id == 1001 &&
	    u[0].from_id == 42 && strcmp(u[0].username, "alice") == 0 &&
	    strcmp(u[0].text, "/deploy abc") == 0, "a message");
	HBT_CHECK(u[1].update_id == 8 && !u[1].has_message, "edited: no message");
	HBT_CHECK(u[2].update_id == 10 && u[2].has_message && u[2].text == NULL &&
	    !u[2].has_from, "a photo: no text");
	hb_telegram_updates_free(u, n);
	HBT_CHECK(hb_telegram_updates_parse("{\"ok\":false,\"description\":\"Conflict\"}",
	    37, &u, &n, err, sizeof(err)) == -1 && strstr(err, "Conflict"), "%s", err);
	HBT_CHECK(hb_telegram_updates_parse("[]", 2, &u, &n, err, sizeof(err)) == -1,
	    "not an object");
}

static void
test_mask(void)
{
	char out[200];

	hb_telegram_mask("https://api.telegram.org/bot123:ABC/sendMessage", "123:ABC",
	    out, sizeof(out));
	HBT_CHECK(strcmp(out, "https://api.telegram.org/bot***/sendMessage") == 0,
	    "%s", out);
	hb_telegram_mask("no token here", NULL, out, sizeof(out));
	HBT_CHECK(strcmp(out, "no token here") == 0, "%s", out);
}

static void
test_commands(void)
{
	struct hb_command c;

	hb_command_parse("/deploy abc1234", &c);
	HBT_CHECK(c.kind == HB_CMD_DEPLOY && strcmp(c.tag, "abc1234") == 0, "deploy");
	HBT_CHECK(!c.to_bot && c.bot[0] == '\0', "not addressed to a bot");
	hb_command_parse("  /deploy@homebus_bot   v1.2.3-rc_1 ", &c);
	HBT_CHECK(c.kind == HB_CMD_DEPLOY && strcmp(c.tag, "v1.2.3-rc_1") == 0,
	    "deploy@bot");
	HBT_CHECK(c.to_bot && strcmp(c.bot, "homebus_bot") == 0, "addressed to "
	    "@%s", c.bot);
	hb_command_parse("/status@", &c);
	HBT_CHECK(c.kind == HB_CMD_STATUS && c.to_bot && c.bot[0] == '\0',
	    "addressed to no name");
	hb_command_parse("/deploy", &c);
	HBT_CHECK(c.kind == HB_CMD_BAD && strstr(c.error, "usage"), "no tag");
	hb_command_parse("/deploy ../etc", &c);
	HBT_CHECK(c.kind == HB_CMD_BAD, "bad tag");
	hb_command_parse("/deploy a;rm -rf /", &c);
	HBT_CHECK(c.kind == HB_CMD_BAD, "shell");
	hb_command_parse("/deploy a b", &c);
	HBT_CHECK(c.kind == HB_CMD_BAD, "two tags");
	hb_command_parse("/rollback", &c);
	HBT_CHECK(c.kind == HB_CMD_ROLLBACK, "rollback");
	hb_command_parse("/rollback now", &c);
	HBT_CHECK(c.kind == HB_CMD_BAD, "rollback takes nothing");
	hb_command_parse("/mute 30", &c);
	HBT_CHECK(c.kind == HB_CMD_MUTE && c.minutes == 30, "mute");
	hb_command_parse("/mute 0", &c);
	HBT_CHECK(c.kind == HB_CMD_MUTE && c.minutes == 0, "unmute");
	hb_command_parse("/mute -5", &c);
	HBT_CHECK(c.kind == HB_CMD_BAD, "negative");
	hb_command_parse("/mute 99999999", &c);
	HBT_CHECK(c.kind == HB_CMD_BAD, "too long");
	hb_command_parse("/STATUS", &c);
	HBT_CHECK(c.kind == HB_CMD_STATUS, "case");
	hb_command_parse("/start", &c);
	HBT_CHECK(c.kind == HB_CMD_HELP, "start is help");
	hb_command_parse("/reboot", &c);
	HBT_CHECK(c.kind == HB_CMD_UNKNOWN && strcmp(c.name, "reboot") == 0, "unknown");
	hb_command_parse("hello /deploy x", &c);
	HBT_CHECK(c.kind == HB_CMD_NONE, "not at the start");
	hb_command_parse("/", &c);
	HBT_CHECK(c.kind == HB_CMD_NONE, "a slash");
	hb_command_parse("/deploy\xe2\x80\x8b x", &c);
	HBT_CHECK(c.kind == HB_CMD_UNKNOWN, "a zero-width space after the name");
}

int
main(void)
{
	hbt_init("telegram");
	test_render();
	test_title_cap();
	test_me();
	test_answers();
	test_updates();
	test_mask();
	test_commands();
	hbt_exit();
}
