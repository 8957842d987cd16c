#include "exec.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "path_search.h"
#include "proctree.h"
#include "proto.h"

/* Queued stdin beyond this is refused with ENOBUFS (a daemon waiting for each OK never gets near it). */
#define MAX_STDIN_QUEUE (64u * 1024u * 1024u)

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
		if (!g.running && kill(-g.pgid, 0) < 0 && errno == ESRCH && !proc_members_alive(&g)) {
			free(g.members);
			continue;
		}
		a->groups[w++] = g;
	}
	a->ngroups = w;
}

static int add_group(struct agent *a, pid_t pgid, uint32_t exec_id)
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
	a->groups[a->ngroups++] = (struct group){ .pgid = pgid, .exec_id = exec_id, .running = true };
	return 0;
}

static void close_fd(int *fd)
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
		out_error(&a->out, c->req_id, EPIPE, "stdin of exec %u: %s", e->id, why);
		free(c);
		c = next;
	}
	e->inq_head = e->inq_tail = NULL;
	e->inq_bytes = 0;
}

static void close_stdin(struct agent *a, struct exec *e, const char *why)
{
	fail_stdin_queue(a, e, why);
	close_fd(&e->in_fd);
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
	close_fd(&e->out.fd);
	close_fd(&e->err.fd);
	close_fd(&e->in_fd);
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
static void try_finish(struct agent *a, struct exec *e)
{
	if (!e->reaped || e->out.fd >= 0 || e->err.fd >= 0)
		return;
	close_stdin(a, e, "the process ended");
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

int exec_stream_wants_read(const struct stream *s)
{
	return s->fd >= 0 && s->credit > 0;
}

int exec_stdin_wants_write(const struct exec *e)
{
	return e->in_fd >= 0 && e->inq_head != NULL;
}

static void stream_done(struct stream *s)
{
	close_fd(&s->fd);
}

void exec_on_readable(struct agent *a, struct exec *e, struct stream *s)
{
	uint8_t type = s == &e->out ? MSG_STDOUT : MSG_STDERR;
	/* A few reads per wakeup keep one busy stream from starving the others. */
	for (int round = 0; round < 4 && s->fd >= 0 && s->credit > 0; round++) {
		uint64_t want = a->iobuf_size;
		if (want > s->credit)
			want = s->credit;
		if (s->draining && want > s->budget)
			want = s->budget;
		ssize_t n = read(s->fd, a->iobuf, (size_t)want);
		if (n > 0) {
			out_data(&a->out, type, e->id, a->iobuf, (size_t)n);
			s->credit -= (uint64_t)n;
			if (s->draining) {
				s->budget -= (uint64_t)n;
				if (s->budget == 0)
					stream_done(s);
			}
			if ((uint64_t)n < want)
				break;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN) {
			if (s->draining)
				stream_done(s); /* held open by a background process, nothing left */
			break;
		}
		stream_done(s); /* end of file or a read error */
	}
	try_finish(a, e);
}

void exec_on_writable(struct agent *a, struct exec *e)
{
	while (e->in_fd >= 0 && e->inq_head) {
		struct stdin_chunk *c = e->inq_head;
		if (c->close) {
			e->inq_head = c->next;
			if (!e->inq_head)
				e->inq_tail = NULL;
			close_fd(&e->in_fd);
			e->in_state = STDIN_CLOSED;
			out_empty(&a->out, MSG_OK, c->req_id);
			free(c);
			break;
		}
		ssize_t n = write(e->in_fd, c->data + c->off, c->len - c->off);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				return;
			close_stdin(a, e, strerror(errno));
			return;
		}
		c->off += (size_t)n;
		e->inq_bytes -= (size_t)n;
		if (c->off < c->len)
			return;
		e->inq_head = c->next;
		if (!e->inq_head)
			e->inq_tail = NULL;
		out_empty(&a->out, MSG_OK, c->req_id);
		free(c);
	}
}

static int queue_stdin(struct exec *e, uint32_t req_id, const uint8_t *data, size_t len, bool is_close)
{
	struct stdin_chunk *c = malloc(sizeof *c + len);
	if (!c)
		return ENOMEM;
	c->next = NULL;
	c->req_id = req_id;
	c->close = is_close;
	c->len = len;
	c->off = 0;
	if (len)
		memcpy(c->data, data, len);
	if (e->inq_tail)
		e->inq_tail->next = c;
	else
		e->inq_head = c;
	e->inq_tail = c;
	e->inq_bytes += len;
	return 0;
}

void exec_handle_stdin(struct agent *a, uint32_t id, struct rd *r)
{
	uint32_t exec_id = rd_u32(r);
	struct rstr data = rd_bytes(r);
	if (!rd_finish(r)) {
		out_error(&a->out, id, EINVAL, "STDIN: %s", r->err);
		return;
	}
	if (data.n > MAX_CHUNK) {
		out_error(&a->out, id, EINVAL, "STDIN: data larger than MAX_CHUNK");
		return;
	}
	struct exec *e = exec_find(a, exec_id);
	if (!e) {
		out_error(&a->out, id, ESRCH, "STDIN: no running exec %u", exec_id);
		return;
	}
	if (e->in_state == STDIN_NONE) {
		out_error(&a->out, id, EBADF, "STDIN: exec %u has no stdin pipe", exec_id);
		return;
	}
	if (e->in_state != STDIN_OPEN || e->in_fd < 0) {
		out_error(&a->out, id, EPIPE, "STDIN: stdin of exec %u is closed", exec_id);
		return;
	}
	if (data.n == 0) {
		if (e->inq_head) {
			if (queue_stdin(e, id, NULL, 0, true) != 0) {
				out_error(&a->out, id, ENOMEM, "STDIN: out of memory");
				return;
			}
			e->in_state = STDIN_CLOSING;
			return;
		}
		close_fd(&e->in_fd);
		e->in_state = STDIN_CLOSED;
		out_empty(&a->out, MSG_OK, id);
		return;
	}
	if (e->inq_bytes + data.n > MAX_STDIN_QUEUE) {
		out_error(&a->out, id, ENOBUFS, "STDIN: more than %u bytes queued for exec %u", MAX_STDIN_QUEUE, exec_id);
		return;
	}
	size_t done = 0;
	if (!e->inq_head) {
		/* Fast path: straight into the pipe. */
		while (done < data.n) {
			ssize_t n = write(e->in_fd, data.p + done, data.n - done);
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0 && errno == EAGAIN)
				break;
			if (n < 0) {
				int err = errno;
				close_stdin(a, e, strerror(err));
				out_error(&a->out, id, err, "STDIN: exec %u: %s", exec_id, strerror(err));
				return;
			}
			done += (size_t)n;
		}
		if (done == data.n) {
			out_empty(&a->out, MSG_OK, id);
			return;
		}
	}
	if (queue_stdin(e, id, data.p + done, data.n - done, false) != 0)
		out_error(&a->out, id, ENOMEM, "STDIN: out of memory");
}

void exec_handle_credit(struct agent *a, uint32_t id, struct rd *r)
{
	uint32_t exec_id = rd_u32(r);
	uint8_t stream = rd_u8(r);
	uint32_t bytes = rd_u32(r);
	if (rd_finish(r) && stream != STREAM_STDOUT && stream != STREAM_STDERR)
		rd_fail(r, "stream must be 1 or 2");
	if (r->err) {
		out_error(&a->out, id, EINVAL, "CREDIT: %s", r->err);
		return;
	}
	/* A CREDIT may cross the EXIT of its exec: silently ignored then. */
	struct exec *e = exec_find(a, exec_id);
	if (e) {
		struct stream *s = stream == STREAM_STDOUT ? &e->out : &e->err;
		if (s->credit < UINT64_MAX / 2)
			s->credit += bytes;
	}
	if (id != 0)
		out_empty(&a->out, MSG_OK, id);
}

/* Called for every reaped child; only leaders of running execs matter. */
static void on_reaped(struct agent *a, pid_t pid, int status, const struct rusage *ru)
{
	for (size_t i = 0; i < a->nexec; i++) {
		struct exec *e = a->execs[i];
		if (e->pid != pid || e->reaped)
			continue;
		e->reaped = true;
		e->status = status;
		e->ru = *ru;
		struct stream *streams[2] = { &e->out, &e->err };
		for (int k = 0; k < 2; k++) {
			struct stream *s = streams[k];
			if (s->fd < 0)
				continue;
			/* Everything the leader wrote is in the pipe now: deliver that much, no more. */
			int avail = 0;
			if (ioctl(s->fd, FIONREAD, &avail) < 0 || avail <= 0) {
				stream_done(s);
				continue;
			}
			s->draining = true;
			s->budget = (uint64_t)avail;
		}
		close_stdin(a, e, "the process ended");
		try_finish(a, e);
		return;
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
	exec_prune_groups(a);
}

/* ---------------------------------------------------------------- EXEC */

struct spawn_req {
	uint32_t flags;
	struct rstrlist argv;
	struct rstrlist env;
	char *cwd;
	uint32_t window;
};

static const char *validate_exec(uint32_t id, const struct spawn_req *q)
{
	if (id == 0)
		return "EXEC needs a non-zero request id (its frames carry it)";
	if (q->flags & ~EXEC_FLAGS_ALL)
		return "unknown flag bits";
	if (q->argv.count == 0)
		return "argv is empty";
	if (q->argv.items[0][0] == 0)
		return "argv[0] is empty";
	for (uint32_t i = 0; i < q->env.count; i++)
		if (!strchr(q->env.items[i], '='))
			return "env entry without '='";
	return NULL;
}

static int make_pipe(int fds[2], int our_end)
{
	if (pipe2(fds, O_CLOEXEC) < 0)
		return errno;
	int fl = fcntl(fds[our_end], F_GETFL);
	if (fl < 0 || fcntl(fds[our_end], F_SETFL, fl | O_NONBLOCK) < 0) {
		int err = errno;
		close(fds[0]);
		close(fds[1]);
		return err;
	}
	return 0;
}

/* Starts the process. Returns 0 and fills *e, or an errno with *what naming the failing step. */
static int spawn(struct agent *a, const struct spawn_req *q, struct exec *e, const char **what)
{
	int outp[2] = { -1, -1 }, errp[2] = { -1, -1 }, inp[2] = { -1, -1 };
	char *prog = NULL;
	int err;
	bool merge = q->flags & EXEC_MERGE_STDERR;

	if (q->cwd[0]) {
		/* Checked here only for a clear error; the chdir itself happens in the child. */
		int cfd = open(q->cwd, O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (cfd < 0) {
			*what = "cwd";
			return errno;
		}
		close(cfd);
	}
	*what = "program";
	err = path_search(q->argv.items[0], q->env.items, q->cwd, &prog);
	if (err)
		return err;
	*what = "pipe";
	if ((err = make_pipe(outp, 0)) != 0)
		goto fail;
	if (!merge && (err = make_pipe(errp, 0)) != 0)
		goto fail;
	if ((q->flags & EXEC_STDIN_PIPE) || a->devnull_fd < 0) {
		if ((err = make_pipe(inp, 1)) != 0)
			goto fail;
		if (!(q->flags & EXEC_STDIN_PIPE))
			close_fd(&inp[1]); /* no /dev/null: an empty pipe at end of file instead */
	}

	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	posix_spawn_file_actions_init(&fa);
	posix_spawnattr_init(&attr);
	posix_spawn_file_actions_adddup2(&fa, inp[0] >= 0 ? inp[0] : a->devnull_fd, 0);
	posix_spawn_file_actions_adddup2(&fa, outp[1], 1);
	posix_spawn_file_actions_adddup2(&fa, merge ? outp[1] : errp[1], 2);
	if (q->cwd[0])
		posix_spawn_file_actions_addchdir_np(&fa, q->cwd);
	sigset_t none, defaults;
	sigemptyset(&none);
	sigemptyset(&defaults);
	sigaddset(&defaults, SIGPIPE);
	posix_spawnattr_setsigmask(&attr, &none);
	posix_spawnattr_setsigdefault(&attr, &defaults);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
	pid_t pid;
	*what = "program";
	err = posix_spawn(&pid, prog, &fa, &attr, q->argv.items, q->env.items);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	if (err)
		goto fail;

	close_fd(&outp[1]);
	close_fd(&errp[1]);
	close_fd(&inp[0]);
	free(prog);
	uint64_t window = q->window ? q->window : DEFAULT_WINDOW;
	e->pid = pid;
	e->out = (struct stream){ .fd = outp[0], .credit = window };
	e->err = (struct stream){ .fd = errp[0], .credit = window };
	e->in_fd = inp[1];
	e->in_state = (q->flags & EXEC_STDIN_PIPE) ? STDIN_OPEN : STDIN_NONE;
	return 0;

fail:
	close_fd(&outp[0]);
	close_fd(&outp[1]);
	close_fd(&errp[0]);
	close_fd(&errp[1]);
	close_fd(&inp[0]);
	close_fd(&inp[1]);
	free(prog);
	return err;
}

static void start(struct agent *a, uint32_t id, const struct spawn_req *q)
{
	const char *bad = validate_exec(id, q);
	if (bad) {
		out_error(&a->out, id, EINVAL, "EXEC: %s", bad);
		return;
	}
	if (a->dry) {
		out_error(&a->out, id, EPERM, "EXEC: disabled");
		return;
	}
	if (a->nexec == a->cap_exec) {
		size_t cap = a->cap_exec ? a->cap_exec * 2 : 16;
		struct exec **v = realloc(a->execs, cap * sizeof *v);
		if (!v) {
			out_error(&a->out, id, ENOMEM, "EXEC: out of memory");
			return;
		}
		a->execs = v;
		a->cap_exec = cap;
	}
	struct exec *e = calloc(1, sizeof *e);
	if (!e) {
		out_error(&a->out, id, ENOMEM, "EXEC: out of memory");
		return;
	}
	e->id = id;
	e->in_fd = -1;
	const char *what = "program";
	int err = spawn(a, q, e, &what);
	if (err) {
		free(e);
		if (strcmp(what, "cwd") == 0)
			out_error(&a->out, id, err, "cannot use cwd %s: %s", q->cwd, strerror(err));
		else
			out_error(&a->out, id, err, "cannot execute %s: %s", q->argv.items[0], strerror(err));
		return;
	}
	a->execs[a->nexec++] = e;
	if (add_group(a, e->pid, id) != 0) {
		/* Still runs and is still killed at exit through the process tree. */
	}
	uint8_t p[4];
	put_le32(p, (uint32_t)e->pid);
	out_frame(&a->out, MSG_STARTED, id, p, sizeof p, NULL, 0);
}

void exec_handle_exec(struct agent *a, uint32_t id, struct rd *r)
{
	struct spawn_req q;
	memset(&q, 0, sizeof q);
	q.flags = rd_u32(r);
	q.argv = rd_strlist(r);
	q.env = rd_strlist(r);
	struct rstr cwd = rd_str(r);
	q.window = rd_u32(r);
	if (rd_finish(r)) {
		q.cwd = rstr_dup(cwd);
		if (!q.cwd)
			rd_fail(r, "out of memory");
	}
	if (r->err)
		out_error(&a->out, id, EINVAL, "EXEC: %s", r->err);
	else
		start(a, id, &q);
	free(q.cwd);
	rstrlist_free(&q.argv);
	rstrlist_free(&q.env);
}
