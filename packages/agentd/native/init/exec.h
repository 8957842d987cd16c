/* EXEC, STDIN and CREDIT: starting processes, streaming their output, reaping them. */
#ifndef AGENTD_EXEC_H
#define AGENTD_EXEC_H

#include <stdint.h>

#include "agent.h"
#include "wire.h"

void exec_handle_exec(struct agent *a, uint32_t id, struct rd *r);
void exec_handle_stdin(struct agent *a, uint32_t id, struct rd *r);
void exec_handle_credit(struct agent *a, uint32_t id, struct rd *r);

/* The running exec with this request id, or NULL. */
struct exec *exec_find(struct agent *a, uint32_t id);
/* The group of an exec id (running or ended), or NULL. */
struct group *exec_find_group(struct agent *a, uint32_t exec_id);

/* Whether the loop should poll this stream / the stdin pipe. */
int exec_stream_wants_read(const struct stream *s);
int exec_stdin_wants_write(const struct exec *e);

/* Loop events; each may end the exec (send EXIT and free it). */
void exec_on_readable(struct agent *a, struct exec *e, struct stream *s);
void exec_on_writable(struct agent *a, struct exec *e);
/* The exec's shepherd wrote to (or closed) its report pipe. */
void exec_on_report(struct agent *a, struct exec *e);
/* Reaps every exited child (leaders and orphans) after SIGCHLD. */
void exec_reap(struct agent *a);
/* Drops groups whose processes are all gone. */
void exec_prune_groups(struct agent *a);

/* Frees every exec without sending anything (at exit). */
void exec_free_all(struct agent *a);

#endif
