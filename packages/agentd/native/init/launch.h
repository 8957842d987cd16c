/*
 * Launcher mode, for backends that must place a process in cgroups and set limits before
 * it runs, without a shell:
 *   agentd-init --launch [--cgroup-procs FILE]... [--rlimit NAME=SOFT[:HARD]]... [--nice N] -- PROGRAM ARGS...
 * Writes its own pid to each FILE, applies the limits, then execvp(PROGRAM).
 * Any failure prints one line to stderr and exits 127.
 */
#ifndef AGENTD_LAUNCH_H
#define AGENTD_LAUNCH_H

/* argv[0] is the program name, argv[1] is "--launch". Returns only on failure (127). */
int launch_main(int argc, char **argv);

#endif
