/*
 * chat_command: parsing "/name[@bot] args" (see chat_command.h).
 */
#include "chat_command.h"
#include "hb_msg.h"
#include "hb_util.h"

#include <stdio.h>
#include <string.h>

#define MAX_ARGS 4

const struct command_info command_list[] = {
	{ "status", "", "health of every target and the last deploy" },
	{ "deploy", " TAG", "deploy that image tag (verified by health, rolled "
	    "back on failure)" },
	{ "rollback", "", "back to the version before the last deploy" },
	{ "mute", " MINUTES", "notifications arrive silently for a while (0 ends "
	    "it); critical ones still ring" },
	{ "help", "", "this list" },
};
const size_t command_count = HB_ARRAY_LEN(command_list);

static bool
is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static bool
is_name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c == '_';
}

const char *
command_kind_name(enum command_kind kind)
{
	switch (kind) {
	case CMD_NONE: return "none";
	case CMD_UNKNOWN: return "unknown";
	case CMD_BAD: return "bad";
	case CMD_HELP: return "help";
	case CMD_STATUS: return "status";
	case CMD_DEPLOY: return "deploy";
	case CMD_ROLLBACK: return "rollback";
	case CMD_MUTE: return "mute";
	}
	return "unknown";
}

/*
 * Reads "/name[@bot]" at *pp into out (name lower-cased) and moves *pp past
 * it. False when text is not a command at all.
 */
static bool
read_name(const char **pp, struct command *out)
{
	const char *p = *pp;
	size_t n = 0;

	while (is_space(*p))
		p++;
	if (*p != '/')
		return false;
	p++;
	while (is_name_char(*p)) {
		if (n + 1 < sizeof(out->name))
			out->name[n++] = (char)(*p >= 'A' && *p <= 'Z' ?
			    *p - 'A' + 'a' : *p);
		p++;
	}
	out->name[n] = '\0';
	if (n == 0)
		return false;
	if (*p == '@') {		/* /deploy@homebus_bot in a group */
		size_t b = 0;

		out->to_bot = true;
		p++;
		while (is_name_char(*p)) {
			if (b + 1 < sizeof(out->bot))
				out->bot[b++] = *p;
			p++;
		}
		out->bot[b] = '\0';
	}
	*pp = p;
	return true;
}

/*
 * Splits p into up to MAX_ARGS words; returns how many there were, or
 * MAX_ARGS + 1 when more (an error for every command). A word too long
 * for args is left "" (no valid argument is that long).
 */
static size_t
read_args(const char *p, char args[][130])
{
	size_t nargs = 0;

	for (;;) {
		size_t k = 0;

		while (is_space(*p))
			p++;
		if (*p == '\0')
			break;
		if (nargs == MAX_ARGS)
			return nargs + 1;
		while (*p && !is_space(*p)) {
			if (k + 1 < sizeof(args[0]))
				args[nargs][k++] = *p;
			else
				k = sizeof(args[0]);	/* too long: marked below */
			p++;
		}
		if (k >= sizeof(args[0]))
			args[nargs][0] = '\0';
		else
			args[nargs][k] = '\0';
		nargs++;
	}
	return nargs;
}

static void
bad(struct command *out, const char *usage)
{
	out->kind = CMD_BAD;
	snprintf(out->error, sizeof(out->error), "%s", usage);
}

/* Which command out->name is, and whether its arguments fit it. */
static void
judge(struct command *out, char args[][130], size_t nargs)
{
	long long minutes;

	if (strcmp(out->name, "help") == 0 || strcmp(out->name, "start") == 0) {
		out->kind = CMD_HELP;
	} else if (strcmp(out->name, "status") == 0) {
		out->kind = CMD_STATUS;
	} else if (strcmp(out->name, "deploy") == 0) {
		if (nargs != 1 || !hb_deploy_tag_ok(args[0])) {
			bad(out, "usage: /deploy TAG (a tag is letters, digits, '.', "
			    "'_' or '-', at most 128)");
			return;
		}
		out->kind = CMD_DEPLOY;
		snprintf(out->tag, sizeof(out->tag), "%s", args[0]);
	} else if (strcmp(out->name, "rollback") == 0) {
		if (nargs != 0) {
			bad(out, "usage: /rollback (no arguments: back to the version "
			    "before the last deploy)");
			return;
		}
		out->kind = CMD_ROLLBACK;
	} else if (strcmp(out->name, "mute") == 0) {
		if (nargs != 1 || hb_parse_ll(args[0], 0, COMMAND_MAX_MUTE,
		    &minutes) != 0) {
			out->kind = CMD_BAD;
			snprintf(out->error, sizeof(out->error), "usage: /mute MINUTES "
			    "(0 to %d; 0 unmutes)", COMMAND_MAX_MUTE);
			return;
		}
		out->kind = CMD_MUTE;
		out->minutes = (long)minutes;
	} else {
		out->kind = CMD_UNKNOWN;
	}
}

void
command_parse(const char *text, struct command *out)
{
	char args[MAX_ARGS][130];
	const char *p = text;

	memset(out, 0, sizeof(*out));
	out->kind = CMD_NONE;
	if (!read_name(&p, out)) {
		out->name[0] = '\0';
		return;
	}
	if (*p != '\0' && !is_space(*p)) {
		out->kind = CMD_UNKNOWN;
		return;
	}
	judge(out, args, read_args(p, args));
}
