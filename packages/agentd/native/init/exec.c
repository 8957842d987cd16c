/* The exec table: lookup, process groups, EXIT, reaping. */
#include "exec.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "exec_internal.h"
#include "proctree.h"
#include "proto.h"

struct exec *exec_find(struct agent *a, uint32_t id)
{
	for (size_t i = 0; i < a->nexec; i++)
		if (a->execs[i]->id == id)
			return a->execs[i];
	return NULL;
}

struct group *exec_find_group(struct agent *a, uint32_t exec_id)
{
	if (exec_id == 0)
		return NULL;
	for (size_t i = 0; i < a->ngroups; i++)
		if (a->groups[i].exec_id == exec_id)
			return &a->groups[i];
	return NULL;
}

void exec_prune_groups(struct agent *a)
{
	size_t w = 0;
	for (size_t i = 0; i < a->ngroups; i++) {
		struct group g = a->groups[i];
		if (!g.running && g.shepherd == 0 && kill(-g.pgid, 0) < 0 && errno == ESRCH && !proc_members_alive(&g)) {
			free(g.members);
			continue;
		}
		a->groups[w++] = g;
	}
	a->ngroups = w;
}

int exec_add_group(struct agent *a, pid_t pgid, pid_t shepherd, uint32_t exec_id)
{
	exec_prune_groups(a);
	for (size_t i = 0; i < a->ngroups; i++)
		if (a->groups[i].exec_id == exec_id)
			a->groups[i].exec_id = 0; /* the id now names the new exec */
	if (a->ngroups == a->cap_groups) {
		size_t cap = a->cap_groups ? a->cap_groups * 2 : 16;
		struct group *g = realloc(a->groups, cap * sizeof *g);
		if (!g)
			return ENOMEM;
		a->groups = g;
		a->cap_groups = cap;
	}
	a->groups[a->ngroups++] = (struct group){ .pgid = pgid, .shepherd = shepherd, .exec_id = exec_id, .running = true };
	return 0;
}

void exec_close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

/* Answers every queued stdin request with EPIPE and drops the queue. */
static void fail_stdin_queue(struct agent *a, struct exec *e, const char *why)
{
	struct stdin_chunk *c = e->inq_head;
	while (c) {
		struct stdin_chunk *next = c->next;
		if (!c->quiet)
			out_error(&a->out, c->req_id, EPIPE, "stdin of exec %u: %s", e->id, why);
		free(c);
		c = next;
	}
	e->inq_head = e->inq_tail = NULL;
	e->inq_bytes = 0;
}

void exec_close_stdin(struct agent *a, struct exec *e, const char *why)
{
	fail_stdin_queue(a, e, why);
	exec_close_fd(&e->in_fd);
	if (e->in_state != STDIN_NONE)
		e->in_state = STDIN_CLOSED;
}

static void free_exec(struct exec *e)
{
	struct stdin_chunk *c = e->inq_head;
	while (c) {
		struct stdin_chunk *next = c->next;
		free(c);
		c = next;
	}
	exec_close_fd(&e->out.fd);
	exec_close_fd(&e->err.fd);
	exec_close_fd(&e->in_fd);
	exec_close_fd(&e->report_fd);
	exec_close_fd(&e->pty_fd);
	free(e);
}

static void remove_exec(struct agent *a, struct exec *e)
{
	for (size_t i = 0; i < a->nexec; i++) {
		if (a->execs[i] == e) {
			a->execs[i] = a->execs[--a->nexec];
			break;
		}
	}
	for (size_t i = 0; i < a->ngroups; i++)
		if (a->groups[i].pgid == e->pid && a->groups[i].exec_id == e->id)
			a->groups[i].running = false;
	free_exec(e);
}

void exec_free_all(struct agent *a)
{
	for (size_t i = 0; i < a->nexec; i++)
		free_exec(a->execs[i]);
	free(a->execs);
	a->execs = NULL;
	a->nexec = a->cap_exec = 0;
	for (size_t i = 0; i < a->ngroups; i++)
		free(a->groups[i].members);
	free(a->groups);
	a->groups = NULL;
	a->ngroups = a->cap_groups = 0;
}

static uint64_t tv_usec(struct timeval tv)
{
	return (uint64_t)tv.tv_sec * 1000000u + (uint64_t)tv.tv_usec;
}

/* Sends EXIT and frees the exec once the leader is reaped and both streams are done. */
void exec_try_finish(struct agent *a, struct exec *e)
{
	if (!e->reaped || e->out.fd >= 0 || e->err.fd >= 0)
		return;
	exec_close_stdin(a, e, "the process ended");
	uint8_t p[4 + 4 + 8 + 8 + 8];
	int32_t code = WIFEXITED(e->status) ? WEXITSTATUS(e->status) : -1;
	int32_t sig = WIFSIGNALED(e->status) ? WTERMSIG(e->status) : 0;
	put_le32(p, (uint32_t)code);
	put_le32(p + 4, (uint32_t)sig);
	put_le64(p + 8, (uint64_t)(e->ru.ru_maxrss > 0 ? e->ru.ru_maxrss : 0));
	put_le64(p + 16, tv_usec(e->ru.ru_utime));
	put_le64(p + 24, tv_usec(e->ru.ru_stime));
	out_frame(&a->out, MSG_EXIT, e->id, p, sizeof p, NULL, 0);
	remove_exec(a, e);
}

/* The leader ended (reported by its shepherd, or reaped by the init after the shepherd died). */
static void leader_ended(struct agent *a, struct exec *e, int status, const struct rusage *ru)
{
	if (e->reaped)
		return;
	e->reaped = true;
	e->status = status;
	e->ru = *ru;
	struct stream *streams[2] = { &e->out, &e->err };
	if (e->pty_fd >= 0 && e->out.fd >= 0) {
		/* A terminal: FIONREAD may not count bytes the kernel has yet to move to the master
		 * (the pty's flip buffer), but a read does wait for them. Read now, until the master
		 * says every slave is closed (EIO), or it has nothing (EAGAIN: a background process
		 * still holds the terminal), or what it held plus PTY_DRAIN_SLACK went out. */
		int avail = 0;
		if (ioctl(e->out.fd, FIONREAD, &avail) < 0 || avail < 0)
			avail = 0;
		e->out.draining = true;
		e->out.budget = (uint64_t)avail + PTY_DRAIN_SLACK;
		exec_stream_read(a, e, &e->out);
		streams[0] = &e->err; /* -1 for a PTY exec */
	}
	for (int k = 0; k < 2; k++) {
		struct stream *s = streams[k];
		if (s->fd < 0)
			continue;
		/* Everything the leader wrote is in the pipe now: deliver that much, no more. */
		int avail = 0;
		if (ioctl(s->fd, FIONREAD, &avail) < 0 || avail <= 0) {
			exec_stream_done(s);
			continue;
		}
		s->draining = true;
		s->budget = (uint64_t)avail;
	}
	exec_close_stdin(a, e, "the process ended");
	exec_try_finish(a, e);
}

void exec_on_report(struct agent *a, struct exec *e)
{
	for (;;) {
		struct shepherd_report r;
		ssize_t n = read(e->report_fd, &r, sizeof r);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		if (n == (ssize_t)sizeof r) {
			if (r.kind == SHEPHERD_EXITED && r.pid == e->pid) {
				leader_ended(a, e, r.status, &r.ru);
				return; /* e may be freed */
			}
			continue;
		}
		/* End of file: the shepherd is gone. A leader it did not report is now the init's
		 * child (reaped by exec_reap), or already gone with its status. */
		exec_close_fd(&e->report_fd);
		if (!e->reaped && kill(e->pid, 0) < 0 && errno == ESRCH) {
			struct rusage ru;
			memset(&ru, 0, sizeof ru);
			leader_ended(a, e, SIGKILL, &ru); /* a wait status of "killed by SIGKILL" */
		}
		return;
	}
}

static void on_reaped(struct agent *a, pid_t pid, int status, const struct rusage *ru)
{
	for (size_t i = 0; i < a->ngroups; i++) {
		if (a->groups[i].shepherd != pid)
			continue;
		a->groups[i].shepherd = 0;
		/* Killed (by a command: the init never signals a shepherd before it exits itself):
		 * its processes were reparented to the init. */
		if (WIFSIGNALED(status) && a->shepherd_subreaper)
			a->strays = true;
		/* Without subreaper shepherds the init's other children are every exec's orphans,
		 * not strays: only this exec's processes (session, group, members) go. */
		else if (WIFSIGNALED(status) && !a->dry)
			proc_signal_tree(&a->groups[i], SIGKILL, getpid());
	}
	for (size_t i = 0; i < a->nexec; i++) {
		struct exec *e = a->execs[i];
		if (e->pid == pid && !e->reaped) {
			leader_ended(a, e, status, ru); /* its shepherd died: the init inherited it */
			return;
		}
	}
}

void exec_reap(struct agent *a)
{
	for (;;) {
		int status = 0;
		struct rusage ru;
		memset(&ru, 0, sizeof ru);
		pid_t pid = wait4(-1, &status, WNOHANG, &ru);
		if (pid < 0 && errno == EINTR)
			continue;
		if (pid <= 0)
			break;
		on_reaped(a, pid, status, &ru);
	}
	if (a->strays && !a->dry) {
		a->strays = false;
		proc_kill_strays(a);
	}
	exec_prune_groups(a);
}

/* ---------------------------------------------------------------- EXEC */
