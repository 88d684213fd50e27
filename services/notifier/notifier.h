/*
 * notifier: notifications from the bus to Telegram and a webhook through a
 * SQLite outbox (nothing lost, order kept per chat, Telegram's rate limits
 * respected), and allow-listed Telegram commands back onto the bus.
 */
#ifndef NOTIFIER_H
#define NOTIFIER_H

#include "hb_service.h"

extern const struct hb_service_def notifier_service;

#endif
