#include "loop.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "exec.h"
#include "watch.h"

int loop_setup(bool subreaper)
{
	pid_t parent = getppid();
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0)
		return -1;
	if (getpid() != 1 && getppid() != parent)
		_exit(1); /* the daemon died before the death signal was armed */
	if (subreaper && prctl(PR_SET_CHILD_SUBREAPER, 1) < 0)
		return -1;
	signal(SIGPIPE, SIG_IGN);
	sigset_t mask;
	sigemptyset(&mask);
	sigaddset(&mask, SIGCHLD);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
		return -1;
	return signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
}

/* What one pollfd entry stands for. */
enum { EV_STDIN, EV_SIGNAL, EV_OUT, EV_ERR, EV_IN, EV_REPORT, EV_WATCH };

struct watch {
	int kind;
	uint32_t exec_id;
	int fd;
};

struct pollset {
	struct pollfd *fds;
	struct watch *w;
	size_t n;
	size_t cap;
};

static bool ps_add(struct pollset *ps, int fd, short events, int kind, uint32_t exec_id)
{
	if (ps->n == ps->cap) {
		size_t cap = ps->cap ? ps->cap * 2 : 32;
		struct pollfd *f = realloc(ps->fds, cap * sizeof *f);
		if (!f)
			return false;
		ps->fds = f;
		struct watch *w = realloc(ps->w, cap * sizeof *w);
		if (!w)
			return false;
		ps->w = w;
		ps->cap = cap;
	}
	ps->fds[ps->n] = (struct pollfd){ .fd = fd, .events = events };
	ps->w[ps->n] = (struct watch){ .kind = kind, .exec_id = exec_id, .fd = fd };
	ps->n++;
	return true;
}

static bool build(struct agent *a, struct pollset *ps, int sigfd)
{
	ps->n = 0;
	bool ok = ps_add(ps, 0, POLLIN, EV_STDIN, 0) && ps_add(ps, sigfd, POLLIN, EV_SIGNAL, 0);
	for (size_t i = 0; ok && i < a->nexec; i++) {
		struct exec *e = a->execs[i];
		if (exec_stream_wants_read(&e->out))
			ok = ps_add(ps, e->out.fd, POLLIN, EV_OUT, e->id);
		if (ok && exec_stream_wants_read(&e->err))
			ok = ps_add(ps, e->err.fd, POLLIN, EV_ERR, e->id);
		if (ok && exec_stdin_wants_write(e))
			ok = ps_add(ps, e->in_fd, POLLOUT, EV_IN, e->id);
		if (ok && e->report_fd >= 0)
			ok = ps_add(ps, e->report_fd, POLLIN, EV_REPORT, e->id);
	}
	for (size_t i = 0; ok && i < a->nwatch; i++) {
		int fd = watch_poll_fd(a, i);
		if (fd >= 0)
			ok = ps_add(ps, fd, POLLIN, EV_WATCH, watch_id_at(a, i));
	}
	return ok;
}

static void on_signals(struct agent *a, int sigfd)
{
	struct signalfd_siginfo si[8];
	for (;;) {
		ssize_t n = read(sigfd, si, sizeof si);
		if (n <= 0)
			break;
		for (size_t i = 0; i < (size_t)n / sizeof si[0]; i++) {
			if (si[i].ssi_signo == SIGCHLD)
				continue;
			/* As PID 1, a termination signal from inside the sandbox (a sender visible in
			 * our pid namespace) is ignored like the kernel ignores it for any init; one
			 * from outside (sender pid 0 here) stops the sandbox. */
			if (getpid() == 1 && si[i].ssi_pid != 0) {
				fprintf(stderr, "agentd-init: ignoring signal %u from pid %u in the sandbox\n", si[i].ssi_signo, si[i].ssi_pid);
				continue;
			}
			if (!a->stop) {
				a->stop = true;
				a->exit_code = 128 + (int)si[i].ssi_signo;
			}
		}
	}
	exec_reap(a);
}

static void on_exec_event(struct agent *a, const struct watch *w)
{
	if (w->kind == EV_WATCH) {
		/* It may add watches on new folders: as the file-operation user, as WATCH did. */
		if (agent_fs_ids(a, true) != 0)
			return;
		watch_on_readable(a, w->exec_id);
		agent_fs_ids(a, false);
		return;
	}
	struct exec *e = exec_find(a, w->exec_id);
	if (!e)
		return; /* ended earlier in this round */
	if (w->kind == EV_OUT && e->out.fd == w->fd)
		exec_on_readable(a, e, &e->out);
	else if (w->kind == EV_ERR && e->err.fd == w->fd)
		exec_on_readable(a, e, &e->err);
	else if (w->kind == EV_IN && e->in_fd == w->fd)
		exec_on_writable(a, e);
	else if (w->kind == EV_REPORT && e->report_fd == w->fd)
		exec_on_report(a, e);
}

static void on_stdin(struct agent *a)
{
	uint8_t buf[256 * 1024];
	ssize_t n = read(0, buf, sizeof buf);
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n <= 0) {
		/* The daemon is gone: nothing may outlive it. */
		a->stop = true;
		a->exit_code = 0;
		return;
	}
	agent_feed(a, buf, (size_t)n);
}

int loop_run(struct agent *a, int sigfd)
{
	struct pollset ps = { 0 };
	agent_send_ready(a);
	while (!a->stop && !a->out.failed) {
		if (!build(a, &ps, sigfd)) {
			a->exit_code = 1;
			break;
		}
		int n = poll(ps.fds, ps.n, -1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			a->exit_code = 1;
			break;
		}
		/* Signals first (reaping), then pipes, then new requests: a request may change the exec table. */
		if (ps.fds[1].revents)
			on_signals(a, sigfd);
		for (size_t i = 2; i < ps.n && !a->out.failed; i++)
			if (ps.fds[i].revents)
				on_exec_event(a, &ps.w[i]);
		if (!a->stop && ps.fds[0].revents)
			on_stdin(a);
	}
	if (a->out.failed && !a->stop)
		a->exit_code = 1;
	agent_kill_all(a);
	free(ps.fds);
	free(ps.w);
	return a->exit_code;
}
