/*
 * chat_command: the text of a Telegram message read as a notifier command
 * ("/deploy abc1234", "/mute@homebus_bot 30"). Only the parsing; who may
 * use them and what they do is in notifier.c.
 */
#ifndef CHAT_COMMAND_H
#define CHAT_COMMAND_H

#include <stdbool.h>
#include <stddef.h>

enum command_kind {
	CMD_NONE,	/* not a command (plain text) */
	CMD_UNKNOWN,	/* "/something" we do not know */
	CMD_BAD,	/* a known command with wrong arguments */
	CMD_HELP,	/* /help, /start */
	CMD_STATUS,
	CMD_DEPLOY,	/* tag set */
	CMD_ROLLBACK,
	CMD_MUTE,	/* minutes set; 0 unmutes */
};

#define COMMAND_MAX_MUTE 10080	/* a week */

struct command {
	enum command_kind kind;
	char name[32];		/* without '/' or "@bot"; "" for NONE */
	bool to_bot;		/* "/name@bot": addressed to one bot by name */
	char bot[65];		/* that name, without '@' (cut if longer) */
	char tag[129];
	long minutes;
	char error[160];	/* for CMD_BAD: what is wrong, for the user */
};

/* A command as a person sees it: in /help and in Telegram's menu. */
struct command_info {
	const char *name;	/* without '/': lower case, digits, '_' */
	const char *args;	/* " TAG", or "" */
	const char *description;	/* one line, at most 256 characters */
};

/* Every command the notifier obeys, in the order /help lists them. */
extern const struct command_info command_list[];
extern const size_t command_count;

/* Reads text (NUL-terminated, any bytes) into *out. Never fails. */
void command_parse(const char *text, struct command *out);

/* The command's name for metrics and logs ("deploy", "unknown", "none"). */
const char *command_kind_name(enum command_kind kind);

#endif
