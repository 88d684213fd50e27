/*
 * hbt_telegram: the fake Telegram Bot API (tests/fakes/fake_telegram.c)
 * from a test — start, kill and restart it on the same port, set how it
 * answers, queue updates for getUpdates, and read what it received.
 */
#ifndef HBT_TELEGRAM_H
#define HBT_TELEGRAM_H

#include "hbt.h"

struct hbt_telegram {
	struct hbt_proc proc;
	int port;
	char url[128];		/* the api_url to configure */
	char token[128];
	char record[512];	/* JSON lines, one per request, across restarts */
};

int hbt_telegram_start(struct hbt_telegram *tg, const char *token);
int hbt_telegram_restart(struct hbt_telegram *tg);
void hbt_telegram_kill(struct hbt_telegram *tg);
/* Replaces the answer rules (a JSON list, see fake_telegram.c). 0 or -1. */
int hbt_telegram_rules(struct hbt_telegram *tg, const char *json);
/* Queues a text message from user in chat, sent now (message.date);
 * update_id is chosen by the test. */
int hbt_telegram_say(struct hbt_telegram *tg, long long update_id,
    long long chat_id, long long user_id, const char *username, const char *text);
/* The same, sent at date (Unix seconds). */
int hbt_telegram_say_at(struct hbt_telegram *tg, long long update_id,
    long long chat_id, long long user_id, const char *username,
    const char *text, long long date);
/* Every request recorded so far (a JSON list; decref it). */
json_t *hbt_telegram_records(struct hbt_telegram *tg);
/* Records of one method ("sendMessage", "webhook", "getUpdates") answered
 * with status (0: any). A new JSON list. */
json_t *hbt_telegram_select(struct hbt_telegram *tg, const char *method,
    long status);
size_t hbt_telegram_count(struct hbt_telegram *tg, const char *method,
    long status);

#endif
