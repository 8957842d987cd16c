/*
 * Launcher mode, for backends that must place a process in cgroups and set limits before
 * it runs, without a shell:
 *   agentd-init --launch [--cgroup-procs FILE]... [--rlimit NAME=SOFT[:HARD]]... [--nice N] -- PROGRAM ARGS...
 * Writes its own pid to each FILE, applies the limits, then execvp(PROGRAM).
 * linux-native adds [--landlock PATH=CLASS]... [--landlock-fd FD=CLASS]... --landlock-net none|host
 * [--seccomp-fd FD]: after the uid drop, a Landlock ruleset, no_new_privs and the seccomp
 * filter (landlock.h); it fails closed when the kernel's Landlock ABI is below 6.
 * Any failure prints one line to stderr and exits 127.
 */
#ifndef AGENTD_LAUNCH_H
#define AGENTD_LAUNCH_H

/* argv[0] is the program name, argv[1] is "--launch". Returns only on failure (127). */
int launch_main(int argc, char **argv);

#endif
