/* Helpers shared by the exec_*.c files; not part of the exec interface. */
#ifndef AGENTD_EXEC_INTERNAL_H
#define AGENTD_EXEC_INTERNAL_H

#include <stdint.h>
#include <sys/resource.h>
#include <sys/types.h>

#include "agent.h"

void exec_close_fd(int *fd);
/* Closes the exec's stdin, answering every queued STDIN with EPIPE (`why` in the message). */
void exec_close_stdin(struct agent *a, struct exec *e, const char *why);
/* A stream is done: its fd is closed. */
void exec_stream_done(struct stream *s);
/* Reads what a stream's credit allows (a few rounds); never frees the exec. */
void exec_stream_read(struct agent *a, struct exec *e, struct stream *s);
/* A PTY exec's leader ended: at most this much more than the master held then is still read. */
#define PTY_DRAIN_SLACK (64u * 1024u)
/* Sends EXIT and frees the exec once the leader is reaped and both streams are done. */
void exec_try_finish(struct agent *a, struct exec *e);
/* Remembers the process group of a new exec. Returns 0 or ENOMEM. */
int exec_add_group(struct agent *a, pid_t pgid, pid_t shepherd, uint32_t exec_id);

/* What a shepherd writes to the init (exec_spawn.c): once STARTED, then EXITED for the leader. */
enum { SHEPHERD_STARTED = 1, SHEPHERD_EXITED = 2 };
struct shepherd_report {
	int kind;
	int err;    /* STARTED: 0, or why the leader could not start */
	pid_t pid;  /* the leader */
	int status; /* EXITED: wait status */
	struct rusage ru;
};

#endif
