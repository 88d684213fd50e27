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
	hb_command_parse("  /deploy@homebus_bot   v1.2.3-rc_1 ", &c);
	HBT_CHECK(c.kind == HB_CMD_DEPLOY && strcmp(c.tag, "v1.2.3-rc_1") == 0,
	    "deploy@bot");
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
	test_answers();
	test_updates();
	test_mask();
	test_commands();
	hbt_exit();
}
