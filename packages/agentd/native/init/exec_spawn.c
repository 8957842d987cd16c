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
#include <linux/close_range.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "exec_internal.h"
#include "path_search.h"
#include "proto.h"
#include "pty.h"

struct spawn_req {
	uint32_t flags;
	struct rstrlist argv;
	struct rstrlist env;
	char *cwd;
	uint32_t window;
	/* Added to the init's own nice value (the sum capped at MAX_NICE). */
	uint32_t nice;
	/* EXEC_PTY: the terminal's size (0 and 0 without it). */
	uint32_t rows;
	uint32_t cols;
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
	if (q->flags & EXEC_PTY) {
		if (q->flags != EXEC_PTY)
			return "PTY takes no other flag (the terminal is stdin, stdout and stderr)";
		if (q->rows == 0 || q->cols == 0 || q->rows > MAX_PTY_DIM || q->cols > MAX_PTY_DIM)
			return "PTY rows and cols must be 1..65535";
	} else if (q->rows != 0 || q->cols != 0) {
		return "rows and cols must be 0 without PTY";
	}
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
	if (!err && (q->flags & EXEC_PTY))
		err = pty_make_controlling(0);
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

/*
 * The shepherd: a child of the init, forked per exec, that is the child subreaper of the
 * command's whole tree. Whatever the command does (setsid, setpgid, double forks), every
 * process it starts stays a descendant of its shepherd: an orphan is reparented to the
 * nearest subreaper ancestor, which is the shepherd, not the init. So "every process of
 * this exec" is exactly "every descendant of its shepherd", and a tree SIGNAL or a kill
 * from outside the sandbox (the daemon, docs/protocol.md) finds them all. The shepherd
 * starts the leader, reports its pid, reaps every child, reports the leader's exit status
 * and resource usage, and exits once it has no child left. It never runs foreign code
 * (it is a fork of the non-dumpable init, so a command can neither ptrace it nor read its
 * memory). A command can kill it (same uid): the init then kills every process reparented
 * to itself that no live shepherd owns (proc_kill_strays), so that is no way out either.
 *
 * With --no-shepherd-subreaper (a kernel that allows a child subreaper only at PID 1:
 * gVisor's), the shepherd is not a subreaper: the command's orphans are reparented to the
 * init, which reaps them (no zombie stays), and an exec's processes are its session and
 * process group (the leader's pid: it starts them with setsid) plus the shepherd's
 * descendants and the members a tree signal found (proctree.c). What leaves both the
 * session and the group (setsid) and then loses its parent is then no longer attributed to
 * the exec: it is still killed with the sandbox (every descendant of the init).
 */
static void write_report(int fd, const struct shepherd_report *r)
{
	while (write(fd, r, sizeof *r) < 0 && errno == EINTR)
		;
}

/* Keeps `keep` (sorted, unique, >= 3) and fd 2, closes every other fd, puts /dev/null on 0 and 1. */
static void shepherd_fds(const int *keep, int n)
{
	int from = 3;
	for (int i = 0; i < n; i++) {
		if (keep[i] > from)
			syscall(SYS_close_range, (unsigned)from, (unsigned)keep[i] - 1, 0u);
		from = keep[i] + 1;
	}
	syscall(SYS_close_range, (unsigned)from, ~0u, 0u);
	int nul = open("/dev/null", O_RDWR);
	if (nul >= 0) {
		dup2(nul, 0);
		dup2(nul, 1);
		if (nul > 2)
			close(nul);
	}
}

static void sort_fds(int *v, int n)
{
	for (int i = 1; i < n; i++)
		for (int k = i; k > 0 && v[k - 1] > v[k]; k--) {
			int t = v[k];
			v[k] = v[k - 1];
			v[k - 1] = t;
		}
}

static void shepherd_main(const char *prog, const struct spawn_req *q, const int fds_in[3], int report, pid_t init_pid, bool subreaper)
{
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != init_pid)
		_exit(127);
	struct shepherd_report r = { .kind = SHEPHERD_STARTED };
	/* Without it (--no-shepherd-subreaper), the command's orphans go to the init (PID 1),
	 * which reaps them; the shepherd still reaps the leader and the children it has. */
	if (subreaper && prctl(PR_SET_CHILD_SUBREAPER, 1) < 0) {
		r.err = errno;
		write_report(report, &r);
		_exit(127);
	}
	int keep[4] = { fds_in[0], fds_in[1], fds_in[2], report };
	sort_fds(keep, 4);
	int uniq[4], n = 0;
	for (int i = 0; i < 4; i++)
		if (n == 0 || uniq[n - 1] != keep[i])
			uniq[n++] = keep[i];
	shepherd_fds(uniq, n);
	pid_t leader = 0;
	r.err = (q->nice || (q->flags & EXEC_PTY)) ? fork_exec(prog, q, fds_in, &leader) : posix_spawn_exec(prog, q, fds_in, &leader);
	r.pid = leader;
	write_report(report, &r);
	for (int i = 0; i < 3; i++)
		close(fds_in[i]);
	if (r.err)
		_exit(0);
	for (;;) {
		int status = 0;
		struct rusage ru;
		memset(&ru, 0, sizeof ru);
		pid_t pid = wait4(-1, &status, 0, &ru);
		if (pid < 0 && errno == EINTR)
			continue;
		if (pid < 0)
			_exit(0); /* ECHILD: the whole tree is gone */
		if (pid == leader) {
			struct shepherd_report done = { .kind = SHEPHERD_EXITED, .pid = pid, .status = status, .ru = ru };
			write_report(report, &done);
		}
	}
}

/* Forks the shepherd, which starts the command. Returns 0 with both pids, or an errno. */
static int shepherd_spawn(struct agent *a, const char *prog, const struct spawn_req *q, const int fds[3], pid_t *leader, pid_t *shepherd, int *report_fd)
{
	int report[2];
	if (pipe2(report, O_CLOEXEC) < 0)
		return errno;
	pid_t self = getpid();
	/* The shepherd, and so the command, inherit the raised value; the init holds it only
	 * for the fork itself (a command must never see the init above its own value). */
	oom_score_adj_for_child(a, true);
	pid_t child = fork();
	if (child != 0)
		oom_score_adj_for_child(a, false);
	if (child < 0) {
		int err = errno;
		close(report[0]);
		close(report[1]);
		return err;
	}
	if (child == 0) {
		close(report[0]);
		shepherd_main(prog, q, fds, report[1], self, a->shepherd_subreaper);
		_exit(127);
	}
	close(report[1]);
	struct shepherd_report r;
	ssize_t n;
	while ((n = read(report[0], &r, sizeof r)) < 0 && errno == EINTR)
		;
	int err = 0;
	if (n != (ssize_t)sizeof r || r.kind != SHEPHERD_STARTED)
		err = EIO; /* the shepherd died before it could start anything */
	else if (r.err)
		err = r.err;
	if (err) {
		close(report[0]);
		/* It exits at once when nothing started: reap it here, before the loop's reaper sees it. */
		kill(child, SIGKILL);
		while (waitpid(child, NULL, 0) < 0 && errno == EINTR)
			;
		return err;
	}
	int fl = fcntl(report[0], F_GETFL);
	if (fl >= 0)
		fcntl(report[0], F_SETFL, fl | O_NONBLOCK);
	*leader = r.pid;
	*shepherd = child;
	*report_fd = report[0];
	return 0;
}

/* Starts the process. Returns 0 and fills *e, or an errno with *what naming the failing step. */
static int spawn(struct agent *a, const struct spawn_req *q, struct exec *e, const char **what)
{
	int outp[2] = { -1, -1 }, errp[2] = { -1, -1 }, inp[2] = { -1, -1 };
	int master = -1, slave = -1, ctl = -1;
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
	if (q->flags & EXEC_PTY) {
		/* One terminal for stdin, stdout and stderr; three copies of its master here:
		 * output (read under credit), input (closed by an empty STDIN), control (RESIZE). */
		*what = "pty";
		if ((err = pty_open(q->rows, q->cols, &master, &slave)) != 0)
			goto fail;
		outp[0] = master;
		master = -1;
		outp[1] = slave;
		slave = -1;
		inp[1] = fcntl(outp[0], F_DUPFD_CLOEXEC, 3);
		ctl = inp[1] < 0 ? -1 : fcntl(outp[0], F_DUPFD_CLOEXEC, 3);
		if (inp[1] < 0 || ctl < 0) {
			err = errno;
			goto fail;
		}
	} else if ((err = make_pipe(outp, 0)) != 0)
		goto fail;
	if (!merge && !(q->flags & EXEC_PTY) && (err = make_pipe(errp, 0)) != 0)
		goto fail;
	if (q->flags & EXEC_PTY) {
		/* stdin is the terminal too */
	} else if ((q->flags & EXEC_STDIN_PIPE) || a->devnull_fd < 0) {
		if ((err = make_pipe(inp, 1)) != 0)
			goto fail;
		if (!(q->flags & EXEC_STDIN_PIPE))
			exec_close_fd(&inp[1]); /* no /dev/null: an empty pipe at end of file instead */
	}

	const bool pty = q->flags & EXEC_PTY;
	const int fds[3] = { pty ? outp[1] : inp[0] >= 0 ? inp[0] : a->devnull_fd, outp[1], (merge || pty) ? outp[1] : errp[1] };
	pid_t pid = 0;
	*what = "program";
	/* A command is the OOM killer's first choice, not the init (see oom_score_adj_for_child). */
	pid_t shepherd = 0;
	int report_fd = -1;
	err = shepherd_spawn(a, prog, q, fds, &pid, &shepherd, &report_fd);
	if (err)
		goto fail;

	exec_close_fd(&outp[1]);
	exec_close_fd(&errp[1]);
	exec_close_fd(&inp[0]);
	free(prog);
	uint64_t window = q->window ? q->window : DEFAULT_WINDOW;
	e->pid = pid;
	e->shepherd = shepherd;
	e->report_fd = report_fd;
	e->out = (struct stream){ .fd = outp[0], .credit = window };
	e->err = (struct stream){ .fd = errp[0], .credit = window };
	e->in_fd = inp[1];
	e->in_state = (q->flags & (EXEC_STDIN_PIPE | EXEC_PTY)) ? STDIN_OPEN : STDIN_NONE;
	e->pty_fd = ctl;
	return 0;

fail:
	exec_close_fd(&outp[0]);
	exec_close_fd(&outp[1]);
	exec_close_fd(&errp[0]);
	exec_close_fd(&errp[1]);
	exec_close_fd(&inp[0]);
	exec_close_fd(&inp[1]);
	exec_close_fd(&master);
	exec_close_fd(&slave);
	exec_close_fd(&ctl);
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
	e->report_fd = -1;
	e->pty_fd = -1;
	const char *what = "program";
	int err = spawn(a, q, e, &what);
	if (err) {
		free(e);
		if (strcmp(what, "cwd") == 0)
			out_error(&a->out, id, err, "cannot use cwd %s: %s", q->cwd, strerror(err));
		else if (strcmp(what, "pty") == 0)
			out_error(&a->out, id, err, "cannot open a terminal: %s", strerror(err));
		else
			out_error(&a->out, id, err, "cannot execute %s: %s", q->argv.items[0], strerror(err));
		return;
	}
	a->execs[a->nexec++] = e;
	if (exec_add_group(a, e->pid, e->shepherd, id) != 0) {
		/* Still runs and is still killed at exit through the process tree. */
	}
	uint8_t p[8];
	put_le32(p, (uint32_t)e->pid);
	put_le32(p + 4, (uint32_t)e->shepherd);
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
	q.rows = rd_u32(r);
	q.cols = rd_u32(r);
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
