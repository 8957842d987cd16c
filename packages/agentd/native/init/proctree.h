/* SIGNAL with its three scopes, and killing everything at shutdown, via /proc. */
#ifndef AGENTD_PROCTREE_H
#define AGENTD_PROCTREE_H

#include <stdint.h>
#include <sys/types.h>

#include "agent.h"
#include "wire.h"

void proc_handle_signal(struct agent *a, uint32_t id, struct rd *r);

/*
 * Signals the process group of `g`, the processes remembered in g->members that still
 * live, and every descendant of those (found through /proc/<pid>/stat), stopping each one
 * first so none can fork away. Never signals `self`. Remembers what it found in
 * g->members. Returns how many processes were signalled.
 */
size_t proc_signal_tree(struct group *g, int signo, pid_t self);

/* SIGKILLs the remembered members of `g` that still live. */
void proc_kill_members(const struct group *g);

/* Whether any remembered member of `g` is still alive (same pid and start time). */
bool proc_members_alive(const struct group *g);

/*
 * SIGKILLs every process that was reparented to the init without being a shepherd (its
 * shepherd was killed), with all its descendants, until a scan finds no new one.
 */
void proc_kill_strays(struct agent *a);
/* SIGKILLs every live descendant of `self` until a scan finds no new one. */
void proc_kill_descendants(pid_t self);

#endif
