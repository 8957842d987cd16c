#include "splice_relay.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define SPLICE_FLAGS (SPLICE_F_MOVE | SPLICE_F_NONBLOCK)
/* Asked of splice per call; the pipe (64 KiB by default) takes what it can. */
#define SPLICE_ASK (1u << 20)

size_t relay_pipe_bytes;

static void set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);
	if (fl >= 0 && !(fl & O_NONBLOCK))
		fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

static uint8_t *copy_of(const uint8_t *p, size_t n)
{
	if (!p || n == 0)
		return NULL;
	uint8_t *q = malloc(n);
	if (q)
		memcpy(q, p, n);
	return q;
}

struct relay_conn *relay_conn_new(int fd0, int fd1, const uint8_t *head0, size_t len0, const uint8_t *head1, size_t len1)
{
	struct relay_conn *c = calloc(1, sizeof *c);
	if (!c)
		return NULL;
	for (int i = 0; i < 2; i++) {
		c->end[i].kind = RELAY_KIND_END;
		c->end[i].side = i;
		c->end[i].conn = c;
		c->rd_ready[i] = c->wr_ready[i] = true;
	}
	c->pipe[0][0] = c->pipe[0][1] = c->pipe[1][0] = c->pipe[1][1] = -1;
	for (int d = 0; d < 2; d++) {
		if (pipe2(c->pipe[d], O_CLOEXEC | O_NONBLOCK) < 0)
			goto fail;
		if (relay_pipe_bytes)
			fcntl(c->pipe[d][1], F_SETPIPE_SZ, (int)relay_pipe_bytes);
	}
	c->head[0] = copy_of(head0, len0);
	c->head[1] = copy_of(head1, len1);
	if ((len0 && !c->head[0]) || (len1 && !c->head[1]))
		goto fail;
	c->head_len[0] = c->head[0] ? len0 : 0;
	c->head_len[1] = c->head[1] ? len1 : 0;
	c->fd[0] = fd0;
	c->fd[1] = fd1;
	set_nonblock(fd0);
	set_nonblock(fd1);
	return c;
fail: {
	int e = errno;
	for (int d = 0; d < 2; d++)
		for (int i = 0; i < 2; i++)
			if (c->pipe[d][i] >= 0)
				close(c->pipe[d][i]);
	free(c->head[0]);
	free(c->head[1]);
	free(c);
	errno = e ? e : ENOMEM;
	return NULL;
}
}

int relay_conn_register(struct relay_conn *c, int ep)
{
	struct epoll_event ev = { .events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, .data.ptr = &c->end[0] };
	if (epoll_ctl(ep, EPOLL_CTL_ADD, c->fd[0], &ev) < 0)
		return -1;
	ev.data.ptr = &c->end[1];
	if (epoll_ctl(ep, EPOLL_CTL_ADD, c->fd[1], &ev) < 0) {
		int e = errno;
		epoll_ctl(ep, EPOLL_CTL_DEL, c->fd[0], NULL);
		errno = e;
		return -1;
	}
	c->registered = true;
	return 0;
}

static bool transient(int e)
{
	return e == EAGAIN || e == EWOULDBLOCK || e == EINTR;
}

/* One round of direction d. Returns 1 if something moved, 0 if it must wait, -1 on an error (c->err set). */
static int step(struct relay_conn *c, int d)
{
	if (c->shut[d])
		return 0;
	int src = c->fd[d], dst = c->fd[1 - d];
	int moved = 0;
	if (c->head_off[d] < c->head_len[d]) {
		if (!c->wr_ready[1 - d])
			return 0;
		ssize_t w = send(dst, c->head[d] + c->head_off[d], c->head_len[d] - c->head_off[d], MSG_NOSIGNAL);
		if (w < 0) {
			if (!transient(errno)) {
				c->err = errno;
				return -1;
			}
			c->wr_ready[1 - d] = false;
			return 0;
		}
		c->head_off[d] += (size_t)w;
		c->moved[d] += (uint64_t)w;
		if (c->head_off[d] < c->head_len[d])
			return 1;
		free(c->head[d]);
		c->head[d] = NULL;
		c->head_len[d] = c->head_off[d] = 0;
		moved = 1;
	}
	if (!c->eof[d] && c->rd_ready[d]) {
		ssize_t n = splice(src, NULL, c->pipe[d][1], NULL, SPLICE_ASK, SPLICE_FLAGS);
		if (n > 0) {
			c->inpipe[d] += (size_t)n;
			moved = 1;
		} else if (n == 0) {
			c->eof[d] = true;
			moved = 1;
		} else if (!transient(errno)) {
			c->err = errno;
			return -1;
		} else if (c->inpipe[d] == 0) {
			/* An empty pipe had room: the socket has nothing now (a full pipe says nothing of it). */
			c->rd_ready[d] = false;
		}
	}
	if (c->inpipe[d] > 0 && c->wr_ready[1 - d]) {
		ssize_t m = splice(c->pipe[d][0], NULL, dst, NULL, c->inpipe[d], SPLICE_FLAGS);
		if (m > 0) {
			c->inpipe[d] -= (size_t)m;
			c->moved[d] += (uint64_t)m;
			moved = 1;
		} else if (m == 0 || !transient(errno)) {
			c->err = m == 0 ? EPIPE : errno;
			return -1;
		} else {
			c->wr_ready[1 - d] = false;
		}
	}
	if (c->eof[d] && c->inpipe[d] == 0) {
		shutdown(dst, SHUT_WR);
		c->shut[d] = true;
		moved = 1;
	}
	return moved;
}

bool relay_conn_pump(struct relay_conn *c)
{
	if (c->err)
		return true;
	for (;;) {
		int a = step(c, 0);
		int b = a < 0 ? -1 : step(c, 1);
		if (a < 0 || b < 0)
			return true;
		if (c->shut[0] && c->shut[1])
			return true;
		if (a == 0 && b == 0)
			return false;
	}
}

bool relay_end_event(struct relay_end *e, uint32_t events)
{
	struct relay_conn *c = e->conn;
	if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
		c->rd_ready[e->side] = true;
	if (events & (EPOLLOUT | EPOLLHUP | EPOLLERR))
		c->wr_ready[e->side] = true;
	return relay_conn_pump(c);
}

void relay_conn_free(struct relay_conn *c, int ep)
{
	for (int i = 0; i < 2; i++) {
		if (c->registered && ep >= 0)
			epoll_ctl(ep, EPOLL_CTL_DEL, c->fd[i], NULL);
		close(c->fd[i]);
		close(c->pipe[i][0]);
		close(c->pipe[i][1]);
		free(c->head[i]);
	}
	free(c);
}
