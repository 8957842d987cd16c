/*
 * PTY execs. The init opens a pseudo-terminal from /dev/ptmx in its own view (inside a
 * namespace sandbox that is the devpts instance bwrap's --dev mounts for that sandbox
 * alone), gets the slave through TIOCGPTPEER (no path lookup, so no race on /dev/pts/N),
 * and hands the slave to the command as fds 0-2; the command's child makes it the
 * controlling terminal of its new session (TIOCSCTTY), so the line discipline turns ^C and
 * ^Z into SIGINT and SIGTSTP for the foreground process group, and TIOCSWINSZ sends it
 * SIGWINCH. The master carries the terminal's bytes both ways (STDOUT frames under credit,
 * STDIN frames in).
 */
#include "pty.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include "exec.h"
#include "out.h"
#include "proto.h"

#ifndef TIOCGPTPEER
#define TIOCGPTPEER _IO('T', 0x41)
#endif

int pty_open(uint32_t rows, uint32_t cols, int *master, int *slave)
{
	int m = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC | O_NONBLOCK);
	if (m < 0)
		return errno;
	int unlock = 0;
	if (ioctl(m, TIOCSPTLCK, &unlock) < 0) {
		int err = errno;
		close(m);
		return err;
	}
	struct winsize ws = { .ws_row = (unsigned short)rows, .ws_col = (unsigned short)cols };
	if (ioctl(m, TIOCSWINSZ, &ws) < 0) {
		int err = errno;
		close(m);
		return err;
	}
	int s = ioctl(m, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (s < 0) {
		int err = errno;
		close(m);
		return err;
	}
	*master = m;
	*slave = s;
	return 0;
}

int pty_make_controlling(int fd)
{
	return ioctl(fd, TIOCSCTTY, 0) < 0 ? errno : 0;
}

uint8_t pty_veof(int master)
{
	struct termios t;
	if (master >= 0 && tcgetattr(master, &t) == 0 && t.c_cc[VEOF] != _POSIX_VDISABLE)
		return t.c_cc[VEOF];
	return 4; /* ^D */
}

void pty_handle_resize(struct agent *a, uint32_t id, struct rd *r)
{
	uint32_t exec_id = rd_u32(r);
	uint32_t rows = rd_u32(r);
	uint32_t cols = rd_u32(r);
	if (rd_finish(r) && (rows == 0 || cols == 0 || rows > MAX_PTY_DIM || cols > MAX_PTY_DIM))
		rd_fail(r, "rows and cols must be 1..65535");
	if (r->err) {
		out_error(&a->out, id, EINVAL, "RESIZE: %s", r->err);
		return;
	}
	struct exec *e = exec_find(a, exec_id);
	if (!e) {
		out_error(&a->out, id, ESRCH, "RESIZE: no running exec %u", exec_id);
		return;
	}
	if (e->pty_fd < 0) {
		out_error(&a->out, id, ENOTTY, "RESIZE: exec %u has no terminal", exec_id);
		return;
	}
	/* The kernel sends SIGWINCH to the terminal's foreground process group when the size changes. */
	struct winsize ws = { .ws_row = (unsigned short)rows, .ws_col = (unsigned short)cols };
	if (ioctl(e->pty_fd, TIOCSWINSZ, &ws) < 0) {
		int err = errno;
		out_error(&a->out, id, err, "RESIZE: exec %u: %s", exec_id, strerror(err));
		return;
	}
	out_empty(&a->out, MSG_OK, id);
}
