/*
 * hbt_telegram: driving the fake Telegram Bot API (see hbt_telegram.h).
 */
#include "hbt_telegram.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int
wait_up(struct hbt_telegram *tg)
{
	char url[200];

	snprintf(url, sizeof(url), "%s/control/requests", tg->url);
	if (!HBT_WAIT(hbt_http("GET", url, NULL, NULL) == 200 ||
	    !hbt_proc_alive(&tg->proc), 10000) || !hbt_proc_alive(&tg->proc)) {
		hbt_log("fake telegram did not start on port %d", tg->port);
		return -1;
	}
	return 0;
}

int
hbt_telegram_start(struct hbt_telegram *tg, const char *token)
{
	char bin[600], port[16];
	char *argv[] = { bin, "--port", port, "--record", tg->record, "--token",
	    tg->token, NULL };

	memset(tg, 0, sizeof(*tg));
	tg->port = hbt_free_port();
	snprintf(port, sizeof(port), "%d", tg->port);
	snprintf(tg->url, sizeof(tg->url), "http://127.0.0.1:%d", tg->port);
	snprintf(tg->token, sizeof(tg->token), "%s", token);
	snprintf(tg->record, sizeof(tg->record), "%s/telegram-requests.jsonl",
	    hbt_dir());
	snprintf(bin, sizeof(bin), "%s/fake_telegram", HBT_FAKES_DIR);
	if (hbt_proc_start(&tg->proc, "fake_telegram", argv) != 0)
		return -1;
	return wait_up(tg);
}

int
hbt_telegram_restart(struct hbt_telegram *tg)
{
	if (hbt_proc_restart(&tg->proc) != 0)
		return -1;
	return wait_up(tg);
}

void
hbt_telegram_kill(struct hbt_telegram *tg)
{
	hbt_proc_stop(&tg->proc, SIGKILL, 5000);
}

static int
control(struct hbt_telegram *tg, const char *what, const char *json)
{
	char url[200];

	snprintf(url, sizeof(url), "%s/control/%s", tg->url, what);
	return hbt_http("POST", url, json, NULL) == 200 ? 0 : -1;
}

int
hbt_telegram_rules(struct hbt_telegram *tg, const char *json)
{
	return control(tg, "rules", json);
}

int
hbt_telegram_say_at(struct hbt_telegram *tg, long long update_id,
    long long chat_id, long long user_id, const char *username,
    const char *text, long long date)
{
	json_t *u = json_pack("[{s:I, s:{s:I, s:I, s:{s:I, s:b, s:s, s:s}, "
	    "s:{s:I, s:s}, s:s}}]", "update_id", (json_int_t)update_id, "message",
	    "message_id", (json_int_t)update_id * 10, "date", (json_int_t)date,
	    "from", "id", (json_int_t)user_id, "is_bot", 0, "first_name", "Test",
	    "username", username, "chat", "id", (json_int_t)chat_id, "type",
	    chat_id < 0 ? "group" : "private", "text", text);
	char *s = json_dumps(u, JSON_COMPACT);
	int rc = control(tg, "updates", s);

	free(s);
	json_decref(u);
	return rc;
}

int
hbt_telegram_say(struct hbt_telegram *tg, long long update_id, long long chat_id,
    long long user_id, const char *username, const char *text)
{
	return hbt_telegram_say_at(tg, update_id, chat_id, user_id, username, text,
	    (long long)time(NULL));
}

json_t *
hbt_telegram_records(struct hbt_telegram *tg)
{
	json_t *all = json_array();
	char *text = hb_read_file(tg->record, 256 << 20, NULL);

	for (char *line = text; line && *line; ) {
		char *nl = strchr(line, '\n');
		json_t *r;

		if (nl == NULL)
			break;	/* a line still being written */
		r = json_loadb(line, (size_t)(nl - line), 0, NULL);
		if (r)
			json_array_append_new(all, r);
		line = nl + 1;
	}
	free(text);
	return all;
}

json_t *
hbt_telegram_select(struct hbt_telegram *tg, const char *method, long status)
{
	json_t *all = hbt_telegram_records(tg), *out = json_array(), *r;
	size_t i;

	json_array_foreach(all, i, r) {
		const char *m = json_string_value(json_object_get(r, "method"));
		long st = (long)json_integer_value(json_object_get(r, "status"));

		if (m && strcmp(m, method) == 0 && (status == 0 || st == status))
			json_array_append(out, r);
	}
	json_decref(all);
	return out;
}

size_t
hbt_telegram_count(struct hbt_telegram *tg, const char *method, long status)
{
	json_t *sel = hbt_telegram_select(tg, method, status);
	size_t n = json_array_size(sel);

	json_decref(sel);
	return n;
}
