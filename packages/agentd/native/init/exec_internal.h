/* Helpers shared by the exec_*.c files; not part of the exec interface. */
#ifndef AGENTD_EXEC_INTERNAL_H
#define AGENTD_EXEC_INTERNAL_H

#include <stdint.h>
#include <sys/types.h>

#include "agent.h"

void exec_close_fd(int *fd);
/* Closes the exec's stdin, answering every queued STDIN with EPIPE (`why` in the message). */
void exec_close_stdin(struct agent *a, struct exec *e, const char *why);
/* A stream is done: its fd is closed. */
void exec_stream_done(struct stream *s);
/* Sends EXIT and frees the exec once the leader is reaped and both streams are done. */
void exec_try_finish(struct agent *a, struct exec *e);
/* Remembers the process group of a new exec. Returns 0 or ENOMEM. */
int exec_add_group(struct agent *a, pid_t pgid, uint32_t exec_id);

#endif
