/*
 * menu: the commands Telegram offers as you type "/" in an allowed chat.
 * setMyCommands, scoped to each chat of command_chat_ids, at start; a
 * chat dropped from the list gets deleteMyCommands. What was registered
 * is kept in the outbox (a hash of the commands and the chats), so a
 * restart with the same list sends nothing and a changed one registers
 * again.
 */
#ifndef NOTIFIER_MENU_H
#define NOTIFIER_MENU_H

#include <event2/event.h>
#include <stddef.h>
#include <stdint.h>

#include "telegram.h"

#include "hb_http_client.h"
#include "hb_outbox.h"

/* The pointers are borrowed and must outlive the menu. */
struct menu_config {
	struct telegram_api api;
	const long long *chats;		/* command_chat_ids */
	size_t nchats;
};

struct menu;

/*
 * A menu over http and outbox, its retry timer on base (all borrowed, all
 * outlive it). Free with menu_free.
 */
struct menu *menu_new(const struct menu_config *cfg, struct event_base *base,
    struct hb_http_client *http, struct hb_outbox *outbox);
/* Registers what is not registered yet (nothing when the outbox says so). */
void menu_start(struct menu *m);
/* Cancels what is in flight: the rest is registered at the next start. */
void menu_free(struct menu *m);

/*
 * The key that names a registration: the commands and the chats, in
 * the order given. out gets 16 hex digits and a NUL.
 */
void menu_key(const long long *chats, size_t nchats, char out[17]);

#endif
