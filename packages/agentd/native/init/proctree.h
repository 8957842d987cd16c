/* SIGNAL with its three scopes, and killing everything at shutdown, via /proc. */
#ifndef AGENTD_PROCTREE_H
#define AGENTD_PROCTREE_H

#include <stdint.h>
#include <sys/types.h>

#include "agent.h"
#include "wire.h"

void proc_handle_signal(struct agent *a, uint32_t id, struct rd *r);

/*
 * Signals the process group `pgid` and every descendant of its members (found through
 * /proc/<pid>/stat), stopping each one first so none can fork away. Never signals `self`.
 * Returns how many processes were signalled.
 */
size_t proc_signal_tree(pid_t pgid, int signo, pid_t self);

/* SIGKILLs every live descendant of `self` until a scan finds no new one. */
void proc_kill_descendants(pid_t self);

#endif
