/* Command line of agentd-init (docs/protocol.md, "Command line"). */
#ifndef AGENTD_CLI_H
#define AGENTD_CLI_H

/* Parses the arguments and runs the init or the launcher; returns the exit code. */
int cli_run(int argc, char **argv);

#endif
