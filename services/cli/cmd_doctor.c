/*
 * cmd_doctor: checks an installation against what homebus promises.
 */
#include "commands.h"

int
cmd_doctor(const struct global *g, const struct command *cmd, int argc,
    char **argv)
{
	(void)g;
	(void)argc;
	(void)argv;
	command_usage(cmd, stderr);
	return CLI_FAILED;
}
