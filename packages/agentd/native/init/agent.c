#include "agent.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "exec.h"
#include "fs_ops.h"
#include "fs_path.h"
#include "net.h"
#include "proctree.h"
#include "proto.h"
#include "pty.h"
#include "watch.h"

#define IOBUF_SIZE (256u * 1024u)

static bool sink_frame(void *arg, uint8_t type, uint32_t id, const uint8_t *payload, size_t n)
{
	return agent_on_frame(arg, type, id, payload, n);
}

static void sink_bad(void *arg, int err, const char *msg)
{
	struct agent *a = arg;
	out_error(&a->out, 0, err, "%s", msg);
}

/*
 * Opens /proc/self/oom_score_adj and reads the init's own value, for exec_spawn.c to start
 * commands above it and come back to it. Returns -1 (nothing to do) when the file cannot be
 * used or the init already sits at or above COMMAND_OOM_SCORE_ADJ.
 */
static int oom_score_adj_file(char *own, size_t cap, size_t *len)
{
	int fd = open("/proc/self/oom_score_adj", O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t n = pread(fd, own, cap - 1, 0);
	while (n > 0 && (own[n - 1] == '\n' || own[n - 1] == ' '))
		n--;
	if (n > 0) {
		own[n] = 0;
		if (strtol(own, NULL, 10) < COMMAND_OOM_SCORE_ADJ) {
			*len = (size_t)n;
			return fd;
		}
	}
	close(fd);
	return -1;
}

int agent_init(struct agent *a, const struct agent_options *opt, out_write_fn sink, void *sink_arg)
{
	memset(a, 0, sizeof *a);
	a->out_fd = 1;
	a->out.write = sink ? sink : out_fd_write;
	a->out.arg = sink ? sink_arg : &a->out_fd;
	a->dry = opt->dry;
	a->shepherd_subreaper = !opt->no_shepherd_subreaper;
	a->fs_euid = -1;
	a->root_fd = -1;
	a->net_req_fd = -1;
	a->devnull_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	a->oom_fd = a->dry ? -1 : oom_score_adj_file(a->oom_own, sizeof a->oom_own, &a->oom_own_len);
	framer_init(&a->framer);
	a->iobuf_size = IOBUF_SIZE;
	a->iobuf = malloc(a->iobuf_size);
	if (!a->iobuf)
		return ENOMEM;
	return fs_setup(a, opt->fs_root);
}

void agent_free(struct agent *a)
{
	exec_free_all(a);
	watch_free_all(a);
	framer_free(&a->framer);
	free(a->iobuf);
	free(a->cwd_rel);
	if (a->root_fd >= 0)
		close(a->root_fd);
	if (a->devnull_fd >= 0)
		close(a->devnull_fd);
	if (a->oom_fd >= 0)
		close(a->oom_fd);
	if (a->net_req_fd >= 0)
		close(a->net_req_fd);
	memset(a, 0, sizeof *a);
	a->root_fd = a->devnull_fd = a->oom_fd = a->net_req_fd = -1;
}

bool agent_feed(struct agent *a, const uint8_t *data, size_t n)
{
	struct frame_sink sink = { .on_frame = sink_frame, .on_bad = sink_bad, .arg = a };
	return framer_feed(&a->framer, data, n, &sink);
}

void agent_send_ready(struct agent *a)
{
	struct wbuf w;
	wb_init(&w);
	wb_u32(&w, PROTOCOL_VERSION);
	wb_i32(&w, (int32_t)getpid());
	wb_str(&w, AGENTD_INIT_VERSION, strlen(AGENTD_INIT_VERSION));
	out_payload(&a->out, MSG_READY, 0, &w);
	wb_free(&w);
}

void agent_kill_all(struct agent *a)
{
	if (a->dry)
		return;
	for (size_t i = 0; i < a->ngroups; i++) {
		kill(-a->groups[i].pgid, SIGKILL);
		proc_kill_members(&a->groups[i]);
	}
	for (size_t i = 0; i < a->nexec; i++)
		if (!a->execs[i]->reaped)
			kill(a->execs[i]->pid, SIGKILL);
	proc_kill_descendants(getpid());
}

static void handle_empty(struct agent *a, uint32_t id, struct rd *r, const char *name, uint8_t answer)
{
	if (!rd_finish(r))
		out_error(&a->out, id, EINVAL, "%s: %s", name, r->err);
	else
		out_empty(&a->out, answer, id);
}

int agent_fs_ids(struct agent *a, bool enter)
{
	if (a->fs_euid < 0)
		return 0;
	if (enter) {
		/* The group first, while the effective uid (and so CAP_SETGID) is still root's;
		 * real and saved ids stay 0, so leaving needs no capability. */
		if (setresgid((gid_t)-1, (gid_t)a->fs_euid, (gid_t)-1) < 0)
			return errno;
		if (setresuid((uid_t)-1, (uid_t)a->fs_euid, (uid_t)-1) < 0) {
			int err = errno;
			if (setresgid((gid_t)-1, 0, (gid_t)-1) < 0)
				_exit(1);
			return err;
		}
		return 0;
	}
	/* Back to root: the effective capabilities come back from the permitted set. */
	if (setresuid((uid_t)-1, 0, (uid_t)-1) < 0 || setresgid((gid_t)-1, 0, (gid_t)-1) < 0) {
		fprintf(stderr, "agentd-init: cannot give back the file-operation ids: %s\n", strerror(errno));
		_exit(1);
	}
	return 0;
}

static bool is_fs_message(uint8_t type)
{
	switch (type) {
	case MSG_FS_READ:
	case MSG_FS_WRITE:
	case MSG_FS_STAT:
	case MSG_FS_LIST:
	case MSG_FS_MKDIR:
	case MSG_FS_REMOVE:
	case MSG_FS_RENAME:
	case MSG_WATCH:
	case MSG_UNWATCH:
	case MSG_WATCH_CREDIT:
		return true;
	default:
		return false;
	}
}

static bool dispatch(struct agent *a, uint8_t type, uint32_t id, struct rd *rp);

bool agent_on_frame(struct agent *a, uint8_t type, uint32_t id, const uint8_t *payload, size_t n)
{
	struct rd r;
	rd_init(&r, payload, n);
	if (id != 0 && exec_find(a, id)) {
		out_error(&a->out, id, EBUSY, "request id %u is in use by a running exec", id);
		return true;
	}
	if (id != 0 && watch_id_in_use(a, id)) {
		out_error(&a->out, id, EBUSY, "request id %u is in use by a watch", id);
		return true;
	}
	/* File operations as the file-operation user (--fs-uid without setfsuid). */
	bool as_fs = a->fs_euid >= 0 && is_fs_message(type);
	if (as_fs) {
		int err = agent_fs_ids(a, true);
		if (err) {
			out_error(&a->out, id, err, "cannot take the file-operation ids: %s", strerror(err));
			return true;
		}
	}
	bool more = dispatch(a, type, id, &r);
	if (as_fs)
		agent_fs_ids(a, false);
	return more;
}

static bool dispatch(struct agent *a, uint8_t type, uint32_t id, struct rd *rp)
{
	struct rd r = *rp;
	switch (type) {
	case MSG_PING:
		handle_empty(a, id, &r, "PING", MSG_PONG);
		return true;
	case MSG_EXEC:
		exec_handle_exec(a, id, &r);
		return true;
	case MSG_STDIN:
		exec_handle_stdin(a, id, &r);
		return true;
	case MSG_CREDIT:
		exec_handle_credit(a, id, &r);
		return true;
	case MSG_SIGNAL:
		proc_handle_signal(a, id, &r);
		return true;
	case MSG_RESIZE:
		pty_handle_resize(a, id, &r);
		return true;
	case MSG_SHUTDOWN:
		if (!rd_finish(&r)) {
			out_error(&a->out, id, EINVAL, "SHUTDOWN: %s", r.err);
			return true;
		}
		agent_kill_all(a);
		out_empty(&a->out, MSG_OK, id);
		a->stop = true;
		a->exit_code = 0;
		return false;
	case MSG_FS_READ:
		fs_handle_read(a, id, &r);
		return true;
	case MSG_FS_WRITE:
		fs_handle_write(a, id, &r);
		return true;
	case MSG_FS_STAT:
		fs_handle_stat(a, id, &r);
		return true;
	case MSG_FS_LIST:
		fs_handle_list(a, id, &r);
		return true;
	case MSG_FS_MKDIR:
		fs_handle_mkdir(a, id, &r);
		return true;
	case MSG_FS_REMOVE:
		fs_handle_remove(a, id, &r);
		return true;
	case MSG_FS_RENAME:
		fs_handle_rename(a, id, &r);
		return true;
	case MSG_WATCH:
		watch_handle_watch(a, id, &r);
		return true;
	case MSG_UNWATCH:
		watch_handle_unwatch(a, id, &r);
		return true;
	case MSG_WATCH_CREDIT:
		watch_handle_credit(a, id, &r);
		return true;
	case MSG_NET_CONNECT:
		net_handle_connect(a, id, &r);
		return true;
	default:
		out_error(&a->out, id, ENOSYS, "unknown message type %u", (unsigned)type);
		return true;
	}
}
