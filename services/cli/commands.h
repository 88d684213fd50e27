/*
 * commands: the `homebus` commands. Each parses its own arguments, opens a
 * session (cli.h) and returns the process's exit code.
 */
#ifndef CLI_COMMANDS_H
#define CLI_COMMANDS_H

#include <stdbool.h>
#include <stdio.h>

#include "cli.h"
#include "hb_msg.h"

/* Options given before the command. */
struct global {
	const char *config;	/* -c; NULL: $HOMEBUS_CONFIG or the default */
	bool verbose;
};

struct command;
typedef int (*command_fn)(const struct global *g, const struct command *cmd,
    int argc, char **argv);

struct command {
	const char *name;
	const char *args;
	const char *summary;
	command_fn run;
};

const struct command *command_find(const char *name);
void command_usage(const struct command *cmd, FILE *out);
/*
 * The options several commands share: --json (when json is not NULL), -n N
 * (when n is not NULL: 1 to 1000) and --help, then nargs arguments (-1:
 * any number). Returns -1 to go on, the arguments starting at optind, or
 * the exit code.
 */
int command_options(const struct command *cmd, int argc, char **argv,
    bool *json, long long *n, int nargs);

/* cmd_deploy.c */
int cmd_deploy(const struct global *g, const struct command *cmd, int argc,
    char **argv);
int cmd_rollback(const struct global *g, const struct command *cmd, int argc,
    char **argv);
int cmd_backup(const struct global *g, const struct command *cmd, int argc,
    char **argv);
int cmd_available(const struct global *g, const struct command *cmd, int argc,
    char **argv);
/* cmd_status.c */
int cmd_status(const struct global *g, const struct command *cmd, int argc,
    char **argv);
/* cmd_history.c */
int cmd_restore(const struct global *g, const struct command *cmd, int argc,
    char **argv);
/*
 * A verify (backup required) or a drill (backup NULL: the newest) sent to
 * the deployer and followed to its end, as `deploy --wait` is.
 */
int cmd_deploy_check(const struct global *g, enum hb_deploy_action action,
    const char *backup, bool json);
int cmd_deploys(const struct global *g, const struct command *cmd, int argc,
    char **argv);
int cmd_backups(const struct global *g, const struct command *cmd, int argc,
    char **argv);
/* cmd_bus.c */
int cmd_notify(const struct global *g, const struct command *cmd, int argc,
    char **argv);
int cmd_tail(const struct global *g, const struct command *cmd, int argc,
    char **argv);
int cmd_publish(const struct global *g, const struct command *cmd, int argc,
    char **argv);
/* cmd_doctor.c */
int cmd_doctor(const struct global *g, const struct command *cmd, int argc,
    char **argv);

#endif
