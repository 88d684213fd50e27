/*
 * homebus: a person's tool for the bus — deploy and watch it happen, see
 * what is up, send a notification, tail and publish messages, check an
 * installation.
 */
#include "commands.h"

#include "hb_util.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct command commands[] = {
	{ "deploy", "[TAG] [--force] [--services a,b] [--instance NAME] [--wait] "
	    "[--timeout S] [--json]", "deploy TAG (none: the available one; --force: again, "
	    "every service recreated), and with --wait follow it", cmd_deploy },
	{ "rollback", "[--to BACKUP] [--instance NAME] [--wait] [--timeout S] "
	    "[--json]",
	    "go back to the version before the last deploy (or a backup's)",
	    cmd_rollback },
	{ "backup", "[--instance NAME] [--wait] [--timeout S] [--json]",
	    "back up now, as before a deploy", cmd_backup },
	{ "restore", "BACKUP [--only FILE[,FILE]] [--wait] [--timeout S] [--json]",
	    "put a backup back (checked first; rolled back if it does not verify)",
	    cmd_restore },
	{ "available", "TAG", "tell Home Assistant that TAG is the newest version",
	    cmd_available },
	{ "status", "[--json]", "every target's health, then the last deploy",
	    cmd_status },
	{ "deploys", "[-n N] [--json] | --log ID", "the deploy history, or one "
	    "job's whole log", cmd_deploys },
	{ "backups", "[--json] | --verify NAME | --drill", "the deployer's backups; "
	    "check one again, or a restore drill of the newest", cmd_backups },
	{ "notify", "[--severity S] [--title T] [--key K] TEXT|-",
	    "send a notification (TEXT - reads standard input)", cmd_notify },
	{ "tail", "[--json] [FILTER...]", "messages as they pass (default P/#)",
	    cmd_tail },
	{ "publish", "TOPIC PAYLOAD [--retain] [--qos N]", "publish one message",
	    cmd_publish },
	{ "doctor", "[--json]", "check the installation against what homebus "
	    "promises", cmd_doctor },
};

static void
usage(FILE *out)
{
	fprintf(out, "usage: homebus [-c FILE] [-v] COMMAND [ARGS]\n\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].summary);
	fprintf(out, "  %-10s %s\n", "help", "what COMMAND takes and does");
	fprintf(out, "\n"
	    "  -c, --config FILE  the stack's configuration (default\n"
	    "                     $HOMEBUS_CONFIG, or /etc/homebus/homebus.json)\n"
	    "  -v, --verbose      the bus's own log lines on stderr\n"
	    "  -V, --version      print the version\n\n"
	    "\"homebus help COMMAND\" (or \"homebus COMMAND --help\") says more,\n"
	    "man homebus everything; --instance NAME: the deployer of that\n"
	    "bus.instance, when several share the bus. Exit codes: 0 done,\n"
	    "1 failed, 2 refused (usage, bad tag, rejected, busy), 3 no broker\n"
	    "or no answer.\n");
}

const struct command *
command_find(const char *name)
{
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(commands[i].name, name) == 0)
			return &commands[i];
	return NULL;
}

void
command_usage(const struct command *cmd, FILE *out)
{
	fprintf(out, "usage: homebus %s %s\n  %s\n", cmd->name, cmd->args,
	    cmd->summary);
}

int
command_options(const struct command *cmd, int argc, char **argv, bool *json,
    long long *n, int nargs)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int o;

	while ((o = getopt_long(argc, argv, "jhn:", opts, NULL)) != -1) {
		if (o == 'j' && json) {
			*json = true;
		} else if (o == 'n' && n) {
			if (hb_parse_ll(optarg, 1, 1000, n) != 0) {
				cli_error("-n: a number from 1 to 1000");
				return CLI_REFUSED;
			}
		} else if (o == 'h') {
			command_usage(cmd, stdout);
			return CLI_OK;
		} else {
			command_usage(cmd, stderr);
			return CLI_REFUSED;
		}
	}
	if (nargs >= 0 && argc - optind != nargs) {
		command_usage(cmd, stderr);
		return CLI_REFUSED;
	}
	return -1;
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct global g = { 0 };
	const struct command *cmd;
	int c;

	/* "+": options stop at the command, whose own options follow it */
	while ((c = getopt_long(argc, argv, "+c:vVh", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			g.config = optarg;
			break;
		case 'v':
			g.verbose = true;
			break;
		case 'V':
			printf("homebus %s\n", HB_VERSION);
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return 2;
	}
	/* homebus help [COMMAND]: as COMMAND --help, without a broker */
	if (strcmp(argv[optind], "help") == 0) {
		if (optind + 1 >= argc) {
			usage(stdout);
			return 0;
		}
		cmd = command_find(argv[optind + 1]);
		if (cmd == NULL || optind + 2 < argc) {
			fprintf(stderr, "homebus: help takes one command; \"%s\" is "
			    "not one\n\n", argv[optind + 1]);
			usage(stderr);
			return 2;
		}
		command_usage(cmd, stdout);
		return 0;
	}
	cmd = command_find(argv[optind]);
	if (cmd == NULL) {
		fprintf(stderr, "homebus: unknown command \"%s\"\n\n", argv[optind]);
		usage(stderr);
		return 2;
	}
	/* the command's argv: its name first, as getopt expects */
	argc -= optind;
	argv += optind;
	optind = 0;	/* 0: glibc starts afresh (permuting, unlike the "+" above) */
	return cmd->run(&g, cmd, argc, argv);
}
