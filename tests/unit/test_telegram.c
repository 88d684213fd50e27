/*
 * The notifier's Telegram codec and command parser: what Telegram gets for
 * a notification, how its answers are judged, updates read defensively, the
 * token masked, and commands parsed strictly.
 */
#include "hbt.h"
#include "chat_command.h"
#include "telegram.h"

#include <string.h>

static void
test_render(void)
{
	struct telegram_text t = { 1001, "\xe2\x9a\xa0\xef\xb8\x8f", "Disk <nuc>",
	    "free < 5% & falling", false };
	json_t *parts = telegram_render(&t, TELEGRAM_MAX_CHARS), *p;
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
	parts = telegram_render(&t, TELEGRAM_MAX_CHARS);
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
	parts = telegram_render(&t, 100);
	HBT_CHECK(json_array_size(parts) == 2, "two parts, got %zu",
	    json_array_size(parts));
	HBT_CHECK(strstr(json_string_value(json_object_get(json_array_get(parts, 1),
	    "text")), "<b>T</b> (2/2)\nbbbb") != NULL, "second part: %s",
	    json_string_value(json_object_get(json_array_get(parts, 1), "text")));
	json_decref(parts);

	HBT_CHECK(strcmp(telegram_severity_icon(3), "\xf0\x9f\x9a\xa8") == 0,
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
	struct telegram_text t = { 1001, "\xf0\x9f\x94\xb4", NULL, NULL, false };
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
	parts = telegram_render(&t, TELEGRAM_MAX_CHARS);
	HBT_CHECK(json_array_size(parts) == 2, "a long title: %zu parts",
	    json_array_size(parts));
	json_array_foreach(parts, i, p) {
		const char *s = json_string_value(json_object_get(p, "text"));

		HBT_CHECK(s && visible_units(s) <= TELEGRAM_MAX_CHARS, "part %zu "
		    "is %zu units", i + 1, s ? visible_units(s) : 0);
		shown = shown_title(p);
		HBT_CHECK(visible_units(shown) == TELEGRAM_TITLE_MAX, "title shown "
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
	parts = telegram_render(&t, TELEGRAM_MAX_CHARS);
	shown = shown_title(json_array_get(parts, 0));
	HBT_CHECK(strcmp(shown, want.data) == 0, "emoji title cut between "
	    "characters (%zu bytes shown)", strlen(shown));
	free(shown);
	json_decref(parts);

	/* exactly at the cap: shown whole */
	hb_buf_reset(&title);
	for (i = 0; i < TELEGRAM_TITLE_MAX; i++)
		hb_buf_putc(&title, 'x');
	t.title = title.data;
	parts = telegram_render(&t, TELEGRAM_MAX_CHARS);
	shown = shown_title(json_array_get(parts, 0));
	HBT_CHECK(strcmp(shown, title.data) == 0, "a title of %d units is whole",
	    TELEGRAM_TITLE_MAX);
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

	HBT_CHECK(telegram_me_parse(ok, strlen(ok), name, sizeof(name), err,
	    sizeof(err)) == 0 && strcmp(name, "homebus_bot") == 0, "getMe: %s", name);
	for (size_t i = 0; i < HB_ARRAY_LEN(bad); i++)
		HBT_CHECK(telegram_me_parse(bad[i], strlen(bad[i]), name,
		    sizeof(name), err, sizeof(err)) == -1 && name[0] == '\0',
		    "getMe answer %zu refused", i);
	HBT_CHECK(telegram_me_parse(ok, strlen(ok), name, 5, err, sizeof(err)) ==
	    -1, "a name longer than the buffer is refused, not cut");
}

/* How each answer of sendMessage is judged. */
static const struct answer_case {
	long status;
	const char *body;		/* NULL: no answer at all */
	long retry_after_header;	/* -1: none */
	enum telegram_verdict verdict;
	long retry_after_s;		/* -1: not checked */
	const char *description;	/* NULL: not checked */
	const char *what;
} answer_cases[] = {
	{ 200, "{\"ok\":true,\"result\":{}}", -1, TG_DELIVERED, -1, NULL,
	    "200" },
	{ 429, "{\"ok\":false,\"error_code\":429,\"description\":"
	    "\"Too Many Requests: retry after 7\",\"parameters\":"
	    "{\"retry_after\":7}}", 3, TG_WAIT, 7, NULL,
	    "429: parameters.retry_after wins over the header" },
	{ 429, "", 3, TG_WAIT, 3, NULL, "429: header" },
	{ 400, "{\"ok\":false,\"error_code\":400,\"description\":"
	    "\"Bad Request: chat not found\"}", -1, TG_REFUSED, -1,
	    "Bad Request: chat not found", "400" },
	{ 403, "", -1, TG_REFUSED, -1, "HTTP 403", "403" },
	{ 401, "", -1, TG_AUTH, -1, NULL, "401 keeps the message" },
	{ 502, "<html>bad gateway</html>", -1, TG_RETRY, -1, NULL, "502" },
	{ 0, NULL, -1, TG_RETRY, -1, NULL, "no answer" },
	{ 200, "{\"ok\":false}", -1, TG_RETRY, -1, NULL,
	    "200 with ok false is not delivered" },
};

static void
test_answers(void)
{
	for (size_t i = 0; i < HB_ARRAY_LEN(answer_cases); i++) {
		const struct answer_case *c = &answer_cases[i];
		struct telegram_answer a;

		telegram_answer(c->status, c->body, c->body ? strlen(c->body) : 0,
		    c->retry_after_header, &a);
		HBT_CHECK(a.verdict == c->verdict, "%s: verdict %d", c->what,
		    (int)a.verdict);
		if (c->retry_after_s >= 0)
			HBT_CHECK(a.retry_after_s == c->retry_after_s, "%s: %ld",
			    c->what, a.retry_after_s);
		if (c->description)
			HBT_CHECK(strcmp(a.description, c->description) == 0, "%s: %s",
			    c->what, a.description);
	}
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
	struct telegram_update *u;
	size_t n;
	char err[200];

	HBT_REQUIRE(telegram_updates_parse(body, strlen(body), &u, &n, err,
	    sizeof(err)) == 0, "%s", err);
	HBT_CHECK(n == 3, "three usable update ids, got %zu", n);
	HBT_CHECK(u[0].update_id == 7 && u[0].has_message && u[0].chat_id == 1001 &&
	    u[0].from_id == 42 && strcmp(u[0].username, "alice") == 0 &&
	    strcmp(u[0].text, "/deploy abc") == 0, "a message");
	HBT_CHECK(u[1].update_id == 8 && !u[1].has_message, "edited: no message");
	HBT_CHECK(u[2].update_id == 10 && u[2].has_message && u[2].text == NULL &&
	    !u[2].has_from, "a photo: no text");
	telegram_updates_free(u, n);
	HBT_CHECK(telegram_updates_parse("{\"ok\":false,\"description\":\"Conflict\"}",
	    37, &u, &n, err, sizeof(err)) == -1 && strstr(err, "Conflict"), "%s", err);
	HBT_CHECK(telegram_updates_parse("[]", 2, &u, &n, err, sizeof(err)) == -1,
	    "not an object");
}

static const struct mask_case {
	const char *in, *token, *want;
} mask_cases[] = {
	{ "https://api.telegram.org/bot123:ABC/sendMessage", "123:ABC",
	    "https://api.telegram.org/bot***/sendMessage" },
	{ "no token here", NULL, "no token here" },
};

static void
test_mask(void)
{
	char out[200];

	for (size_t i = 0; i < HB_ARRAY_LEN(mask_cases); i++) {
		telegram_mask(mask_cases[i].in, mask_cases[i].token, out,
		    sizeof(out));
		HBT_CHECK(strcmp(out, mask_cases[i].want) == 0, "%s", out);
	}
}

/* Whether a command was addressed to a bot by name, when a case checks it. */
enum to_bot { TO_ANY, TO_NONE, TO_BOT };

static const struct command_case {
	const char *text;
	enum command_kind kind;
	const char *tag;		/* NULL: not checked */
	long minutes;			/* -1: not checked */
	const char *name;		/* NULL: not checked */
	const char *error_has;		/* NULL: not checked */
	enum to_bot to;
	const char *bot;		/* with TO_BOT: the name after '@' */
	const char *what;
} command_cases[] = {
	{ "/deploy abc1234", CMD_DEPLOY, "abc1234", -1, NULL, NULL, TO_NONE,
	    NULL, "deploy" },
	{ "  /deploy@homebus_bot   v1.2.3-rc_1 ", CMD_DEPLOY, "v1.2.3-rc_1",
	    -1, NULL, NULL, TO_BOT, "homebus_bot", "deploy@bot" },
	{ "/status@", CMD_STATUS, NULL, -1, NULL, NULL, TO_BOT, "",
	    "addressed to no name" },
	{ "/deploy", CMD_BAD, NULL, -1, NULL, "usage", TO_ANY, NULL, "no tag" },
	{ "/deploy ../etc", CMD_BAD, NULL, -1, NULL, NULL, TO_ANY, NULL,
	    "bad tag" },
	{ "/deploy a;rm -rf /", CMD_BAD, NULL, -1, NULL, NULL, TO_ANY, NULL,
	    "shell" },
	{ "/deploy a b", CMD_BAD, NULL, -1, NULL, NULL, TO_ANY, NULL,
	    "two tags" },
	{ "/rollback", CMD_ROLLBACK, NULL, -1, NULL, NULL, TO_ANY, NULL,
	    "rollback" },
	{ "/rollback now", CMD_BAD, NULL, -1, NULL, NULL, TO_ANY, NULL,
	    "rollback takes nothing" },
	{ "/mute 30", CMD_MUTE, NULL, 30, NULL, NULL, TO_ANY, NULL, "mute" },
	{ "/mute 0", CMD_MUTE, NULL, 0, NULL, NULL, TO_ANY, NULL, "unmute" },
	{ "/mute -5", CMD_BAD, NULL, -1, NULL, NULL, TO_ANY, NULL,
	    "negative" },
	{ "/mute 99999999", CMD_BAD, NULL, -1, NULL, NULL, TO_ANY, NULL,
	    "too long" },
	{ "/STATUS", CMD_STATUS, NULL, -1, NULL, NULL, TO_ANY, NULL, "case" },
	{ "/start", CMD_HELP, NULL, -1, NULL, NULL, TO_ANY, NULL,
	    "start is help" },
	{ "/reboot", CMD_UNKNOWN, NULL, -1, "reboot", NULL, TO_ANY, NULL,
	    "unknown" },
	{ "hello /deploy x", CMD_NONE, NULL, -1, NULL, NULL, TO_ANY, NULL,
	    "not at the start" },
	{ "/", CMD_NONE, NULL, -1, NULL, NULL, TO_ANY, NULL, "a slash" },
	{ "/deploy\xe2\x80\x8b x", CMD_UNKNOWN, NULL, -1, NULL, NULL, TO_ANY,
	    NULL, "a zero-width space after the name" },
};

static void
test_commands(void)
{
	for (size_t i = 0; i < HB_ARRAY_LEN(command_cases); i++) {
		const struct command_case *want = &command_cases[i];
		struct command c;

		command_parse(want->text, &c);
		HBT_CHECK(c.kind == want->kind, "%s: kind %s", want->what,
		    command_kind_name(c.kind));
		if (want->tag)
			HBT_CHECK(strcmp(c.tag, want->tag) == 0, "%s: tag %s",
			    want->what, c.tag);
		if (want->minutes >= 0)
			HBT_CHECK(c.minutes == want->minutes, "%s: %ld minutes",
			    want->what, c.minutes);
		if (want->name)
			HBT_CHECK(strcmp(c.name, want->name) == 0, "%s: name %s",
			    want->what, c.name);
		if (want->error_has)
			HBT_CHECK(strstr(c.error, want->error_has) != NULL, "%s: %s",
			    want->what, c.error);
		if (want->to == TO_NONE)
			HBT_CHECK(!c.to_bot && c.bot[0] == '\0', "%s: not addressed "
			    "to a bot", want->what);
		else if (want->to == TO_BOT)
			HBT_CHECK(c.to_bot && strcmp(c.bot, want->bot) == 0, "%s: "
			    "addressed to @%s", want->what, c.bot);
	}
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
