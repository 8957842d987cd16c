/*
 * A byte relay between two connected stream sockets, driven by an edge-triggered epoll loop
 * (no thread or process per connection). Each direction moves through a pipe of its own with
 * splice(2): the kernel passes page references from one socket to the other, the bytes are
 * never copied into this process. Used by agentd-init's network helper (net.c) and by the
 * daemon's native relay addon (native/relay/addon.c), one engine per loop.
 *
 * Direction d reads fd[d] and writes fd[1-d]. An end of input on fd[d] is passed on as
 * shutdown(fd[1-d], SHUT_WR) once everything read before it is written (half-closes pass);
 * the connection is finished when both directions are, or at once on an error of either
 * socket (both are closed: the other peer sees the connection cut).
 */
#ifndef AGENTD_SPLICE_RELAY_H
#define AGENTD_SPLICE_RELAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* What an epoll event's data.ptr points to: every registered object starts with this tag. */
enum relay_kind { RELAY_KIND_END = 1, RELAY_KIND_OTHER = 2 };

struct relay_conn;

/* One socket of a relay as epoll knows it (data.ptr): which relay, which side. */
struct relay_end {
	int kind; /* RELAY_KIND_END (first member: the epoll tag) */
	int side;
	struct relay_conn *conn;
};

struct relay_conn {
	struct relay_end end[2];
	int fd[2];
	/* What epoll last said of each socket (edge-triggered: cleared when a call would block). */
	bool rd_ready[2], wr_ready[2];
	int pipe[2][2];   /* pipe[d]: read from fd[d], waiting to be written to fd[1-d] */
	size_t inpipe[2]; /* bytes in pipe[d] */
	uint8_t *head[2]; /* bytes to write to fd[1-d] before anything read from fd[d] */
	size_t head_len[2], head_off[2];
	bool eof[2];       /* fd[d] gave an end of input */
	bool shut[2];      /* fd[1-d] was shut for writing: direction d is finished */
	uint64_t moved[2]; /* bytes written to fd[1-d] (heads included) */
	int err;           /* 0, or the errno that cut the connection */
	bool registered;
	bool finished; /* for the loop's owner: pump said so, free it after this batch */
	void *user;
};

/* Each pipe's capacity (F_SETPIPE_SZ), when not 0; the kernel's default (64 KiB) otherwise or if refused. */
extern size_t relay_pipe_bytes;

/*
 * A relay of fd0 and fd1 (both made non-blocking here; the relay owns them from now on and
 * closes them when done). head0/head1: bytes already taken from fd0/fd1 by the caller, written
 * first (copied; may be NULL). NULL with errno on failure (the fds are then left to the caller).
 */
struct relay_conn *relay_conn_new(int fd0, int fd1, const uint8_t *head0, size_t len0, const uint8_t *head1, size_t len1);

/* Adds both sockets to `ep` (edge-triggered; data.ptr = &c->end[side]). 0, or -1 with errno. */
int relay_conn_register(struct relay_conn *c, int ep);

/* Moves what can be moved now, both ways. True when the connection is finished (c->err says how). */
bool relay_conn_pump(struct relay_conn *c);

/* An epoll event on one of its sockets (e = the event's data.ptr): notes it, then pumps. */
bool relay_end_event(struct relay_end *e, uint32_t events);

/* Removes the sockets from `ep` (if registered), closes every fd and frees c. */
void relay_conn_free(struct relay_conn *c, int ep);

#endif
