/* The single-threaded event loop: stdin frames, child pipes, and a signalfd. */
#ifndef AGENTD_LOOP_H
#define AGENTD_LOOP_H

#include <stdbool.h>

#include "agent.h"

/*
 * Process-wide setup before agent_init: PR_SET_PDEATHSIG(SIGKILL), the child subreaper
 * bit, SIGPIPE ignored, and SIGCHLD/SIGTERM/SIGINT/SIGHUP blocked for the signalfd.
 * Returns the signalfd, or -1 with errno set.
 */
int loop_setup(bool subreaper);

/* Sends READY and runs until SHUTDOWN, stdin end of file or a termination signal. Returns the exit code. */
int loop_run(struct agent *a, int sigfd);

#endif
