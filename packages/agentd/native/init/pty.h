/* PTY execs (docs/protocol.md, "Terminals"): opening the pseudo-terminal, RESIZE, VEOF. */
#ifndef AGENTD_PTY_H
#define AGENTD_PTY_H

#include <stdint.h>

#include "agent.h"
#include "wire.h"

/*
 * Opens a new pseudo-terminal pair from the sandbox's own /dev/ptmx with the given size.
 * Both ends close-on-exec, the master non-blocking, the slave not our controlling
 * terminal. Returns 0 or an errno.
 */
int pty_open(uint32_t rows, uint32_t cols, int *master, int *slave);

/* In the child, after setsid: makes fd the controlling terminal of the new session. 0 or errno. */
int pty_make_controlling(int fd);

/* The terminal's current end-of-file character (VEOF, ^D by default). */
uint8_t pty_veof(int master);

void pty_handle_resize(struct agent *a, uint32_t id, struct rd *r);

#endif
