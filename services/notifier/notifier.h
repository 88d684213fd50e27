/*
 * notifier: notifications from the bus to Telegram and a webhook through a
 * SQLite outbox (nothing lost, order kept per chat, Telegram's rate limits
 * respected), and allow-listed Telegram commands back onto the bus.
 */
#ifndef NOTIFIER_H
#define NOTIFIER_H

#include "hb_app.h"

struct notifier;

/*
 * Reads the notifier's options from app->cfg (errors are recorded there).
 * Returns the notifier, not yet started.
 */
struct notifier *hb_notifier_new(struct hb_app *app);
/* Opens the outbox, connects to the bus, starts polling. 0, or -1 (logged). */
int hb_notifier_start(struct notifier *nf);
void hb_notifier_free(struct notifier *nf);

#endif
