/*
 * Fuzz target: what reaches the notifier from Telegram — getUpdates,
 * sendMessage and getMe answers, and the command parser on every message
 * text found (and on the raw input). Commands that parse as deploys must
 * carry a tag the deployer accepts.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "chat_command.h"
#include "hb_msg.h"
#include "telegram.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_command(const char *text)
{
	struct command c;

	command_parse(text, &c);
	if (c.kind == CMD_DEPLOY && !hb_deploy_tag_ok(c.tag))
		__builtin_trap();
	if (c.kind == CMD_MUTE && (c.minutes < 0 || c.minutes > COMMAND_MAX_MUTE))
		__builtin_trap();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data;
	struct telegram_update *u;
	struct telegram_answer a;
	char err[256], name[65], *text;
	size_t n;

	if (telegram_updates_parse(p, size, &u, &n, err, sizeof(err)) == 0) {
		for (size_t i = 0; i < n; i++)
			if (u[i].text)
				check_command(u[i].text);
		telegram_updates_free(u, n);
	}
	telegram_answer(429, p, size, -1, &a);
	if (a.verdict != TG_WAIT || a.retry_after_s > 86400)
		__builtin_trap();
	telegram_answer(200, p, size, -1, &a);
	if (telegram_me_parse(p, size, name, sizeof(name), err, sizeof(err)) == 0 &&
	    name[0] == '\0')
		__builtin_trap();
	text = malloc(size + 1);
	if (text == NULL)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	check_command(text);
	/* rendering any text: every part is valid JSON with a chat id */
	if (size < 20000) {
		struct telegram_text t = { 1, "!", "t", text, false };
		json_t *parts = telegram_render(&t, 200);

		if (json_array_size(parts) == 0)
			__builtin_trap();
		json_decref(parts);
		/* the same as a title, which is capped */
		t.title = text;
		parts = telegram_render(&t, TELEGRAM_MAX_CHARS);
		if (json_array_size(parts) == 0)
			__builtin_trap();
		json_decref(parts);
	}
	free(text);
	return 0;
}
