/*
 * options: the notifier's section of the configuration, read and checked
 * once before start (errors are collected in the config and reported as
 * every service's are). The parts borrow what they need from here.
 */
#ifndef NOTIFIER_OPTIONS_H
#define NOTIFIER_OPTIONS_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hb_app.h"

/* A chat notifications go to, and the least severity it wants. */
struct recipient {
	long long id;
	int min_sev;
};

struct notifier_options {
	int min_sev;
	int64_t dedupe_window_ms;	/* 0: no dedupe */
	char outbox_path[PATH_MAX];
	int64_t retry_min_ms, retry_max_ms, drain_timeout_ms;

	/* Telegram */
	char *token;			/* owned; NULL: Telegram off; never logged */
	char api_url[512];		/* without a trailing '/' */
	struct recipient *chats;	/* owned */
	size_t nchats;
	long long *cmd_chats;		/* owned: whose commands are obeyed */
	size_t ncmd_chats;
	long tg_timeout_ms;
	int64_t max_command_age_ms;	/* older commands are refused; 0: any age */
	bool poll;
	int poll_timeout_s;
	int64_t chat_interval_ms;
	int group_max;
	int64_t group_window_ms;
	int global_per_s;

	/* the webhook */
	char webhook_url[1024];		/* "": off */
	char *webhook_token;		/* owned; NULL: no header; never logged */
	int webhook_min_sev;
	long webhook_timeout_ms;
};

/* Fills o from app's configuration (o zeroed first); free with options_free. */
void options_read(struct notifier_options *o, struct hb_app *app);
void options_free(struct notifier_options *o);

#endif
