/*
 * commands: the text of a Telegram message read as a notifier command
 * ("/deploy abc1234", "/mute@homebus_bot 30"). Only the parsing; who may
 * use them and what they do is in notifier.c.
 */
#ifndef COMMANDS_H
#define COMMANDS_H

#include <stdbool.h>
#include <stddef.h>

enum hb_command_kind {
	HB_CMD_NONE,		/* not a command (plain text) */
	HB_CMD_UNKNOWN,		/* "/something" we do not know */
	HB_CMD_BAD,		/* a known command with wrong arguments */
	HB_CMD_HELP,		/* /help, /start */
	HB_CMD_STATUS,
	HB_CMD_DEPLOY,		/* tag set */
	HB_CMD_ROLLBACK,
	HB_CMD_MUTE,		/* minutes set; 0 unmutes */
};

#define HB_COMMAND_MAX_MUTE 10080	/* a week */

struct hb_command {
	enum hb_command_kind kind;
	char name[32];		/* without '/' or "@bot"; "" for NONE */
	bool to_bot;		/* "/name@bot": addressed to one bot by name */
	char bot[65];		/* that name, without '@' (cut if longer) */
	char tag[129];
	long minutes;
	char error[160];	/* for HB_CMD_BAD: what is wrong, for the user */
};

/* Reads text (NUL-terminated, any bytes) into *out. Never fails. */
void hb_command_parse(const char *text, struct hb_command *out);

/* The command's name for metrics and logs ("deploy", "unknown", "none"). */
const char *hb_command_kind_name(enum hb_command_kind kind);

#endif
