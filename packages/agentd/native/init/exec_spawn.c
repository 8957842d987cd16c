/*
 * EXEC: validating the request and starting the process: with posix_spawn, or, for a
 * process that must run at a lower priority (a `nice` above 0), with fork so the child can
 * lower its own priority before execve (posix_spawn has no attribute for the nice value,
 * and the init cannot lower its own and raise it back without CAP_SYS_NICE).
 */
#include "exec.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "exec_internal.h"
#include "path_search.h"
#include "proto.h"

struct spawn_req {
	uint32_t flags;
	struct rstrlist argv;
	struct rstrlist env;
	char *cwd;
	uint32_t window;
	/* Added to the init's own nice value (the sum capped at MAX_NICE). */
	uint32_t nice;
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
	if (q->nice > MAX_NICE)
		return "nice out of range (0..19)";
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

/* Starts `prog` with fds[0..2] as its stdin/stdout/stderr, in a new session, with default signals. */
static int posix_spawn_exec(const char *prog, const struct spawn_req *q, const int fds[3], pid_t *pid)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	posix_spawn_file_actions_init(&fa);
	posix_spawnattr_init(&attr);
	int err = 0;
	for (int i = 0; i < 3 && !err; i++)
		err = posix_spawn_file_actions_adddup2(&fa, fds[i], i);
	if (q->cwd[0] && !err)
		err = posix_spawn_file_actions_addchdir_np(&fa, q->cwd);
	sigset_t none, defaults;
	sigemptyset(&none);
	sigemptyset(&defaults);
	sigaddset(&defaults, SIGPIPE);
	posix_spawnattr_setsigmask(&attr, &none);
	posix_spawnattr_setsigdefault(&attr, &defaults);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
	if (!err)
		err = posix_spawn(pid, prog, &fa, &attr, q->argv.items, q->env.items);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	return err;
}

/*
 * The child of fork_exec: the same set-up as posix_spawn_exec, then its nice value raised
 * by q->nice, then execve. Any failure is written as an errno to `report` (close-on-exec,
 * so a successful execve closes it with nothing written). Never returns.
 */
static void niced_child(const char *prog, const struct spawn_req *q, const int fds[3], int report)
{
	int err = 0;
	for (int i = 0; i < 3 && !err; i++)
		if (dup2(fds[i], i) < 0)
			err = errno;
	if (!err && q->cwd[0] && chdir(q->cwd) < 0)
		err = errno;
	if (!err && setsid() < 0)
		err = errno;
	if (!err) {
		/* The init has no signal handlers (it reads signals from a signalfd): only SIGPIPE
		 * is ignored, and the mask blocks what the signalfd reads. */
		signal(SIGPIPE, SIG_DFL);
		sigset_t none;
		sigemptyset(&none);
		if (sigprocmask(SIG_SETMASK, &none, NULL) < 0)
			err = errno;
	}
	if (!err) {
		errno = 0;
		int now = getpriority(PRIO_PROCESS, 0);
		if (errno)
			err = errno;
		else {
			int want = now + (int)q->nice;
			if (setpriority(PRIO_PROCESS, 0, want > MAX_NICE ? MAX_NICE : want) < 0)
				err = errno;
		}
	}
	if (!err) {
		execve(prog, q->argv.items, q->env.items);
		err = errno;
	}
	while (write(report, &err, sizeof err) < 0 && errno == EINTR)
		;
	_exit(127);
}

/* Like posix_spawn_exec, for a process whose nice value must be raised first. */
static int fork_exec(const char *prog, const struct spawn_req *q, const int fds[3], pid_t *pid)
{
	int report[2];
	if (pipe2(report, O_CLOEXEC) < 0)
		return errno;
	pid_t child = fork();
	if (child < 0) {
		int err = errno;
		close(report[0]);
		close(report[1]);
		return err;
	}
	if (child == 0) {
		close(report[0]);
		niced_child(prog, q, fds, report[1]);
	}
	close(report[1]);
	int err = 0;
	ssize_t n;
	while ((n = read(report[0], &err, sizeof err)) < 0 && errno == EINTR)
		;
	close(report[0]);
	if (n == (ssize_t)sizeof err) {
		/* It never ran the program: reap it here, before the loop's reaper sees it. */
		while (waitpid(child, NULL, 0) < 0 && errno == EINTR)
			;
		return err ? err : EIO;
	}
	*pid = child;
	return 0;
}

/*
 * Around a spawn: the init's oom_score_adj goes up to COMMAND_OOM_SCORE_ADJ, which the
 * child inherits, then back to the init's own value (an unprivileged process may raise its
 * value and lower it again down to where it started). So in a sandbox's cgroup the OOM
 * killer takes a command, with its whole process tree, before the init or bwrap, whose
 * death would kill the sandbox. Best effort: if a write fails, the command runs at the
 * init's value, as it did before.
 */
static void oom_score_adj_for_child(struct agent *a, bool before)
{
	if (a->oom_fd < 0)
		return;
	const char *text = before ? COMMAND_OOM_SCORE_ADJ_TEXT : a->oom_own;
	size_t len = before ? sizeof COMMAND_OOM_SCORE_ADJ_TEXT - 1 : a->oom_own_len;
	while (pwrite(a->oom_fd, text, len, 0) < 0 && errno == EINTR)
		;
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
			exec_close_fd(&inp[1]); /* no /dev/null: an empty pipe at end of file instead */
	}

	const int fds[3] = { inp[0] >= 0 ? inp[0] : a->devnull_fd, outp[1], merge ? outp[1] : errp[1] };
	pid_t pid;
	*what = "program";
	/* A command is the OOM killer's first choice, not the init (see oom_score_adj_for_child). */
	oom_score_adj_for_child(a, true);
	err = q->nice ? fork_exec(prog, q, fds, &pid) : posix_spawn_exec(prog, q, fds, &pid);
	oom_score_adj_for_child(a, false);
	if (err)
		goto fail;

	exec_close_fd(&outp[1]);
	exec_close_fd(&errp[1]);
	exec_close_fd(&inp[0]);
	free(prog);
	uint64_t window = q->window ? q->window : DEFAULT_WINDOW;
	e->pid = pid;
	e->out = (struct stream){ .fd = outp[0], .credit = window };
	e->err = (struct stream){ .fd = errp[0], .credit = window };
	e->in_fd = inp[1];
	e->in_state = (q->flags & EXEC_STDIN_PIPE) ? STDIN_OPEN : STDIN_NONE;
	return 0;

fail:
	exec_close_fd(&outp[0]);
	exec_close_fd(&outp[1]);
	exec_close_fd(&errp[0]);
	exec_close_fd(&errp[1]);
	exec_close_fd(&inp[0]);
	exec_close_fd(&inp[1]);
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
	if (exec_add_group(a, e->pid, id) != 0) {
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
	q.nice = rd_u32(r);
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
