#include "net.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "proto.h"
#include "splice_relay.h"

/* One port request as the init hands it to the helper through a pipe (atomic: < PIPE_BUF). */
struct port_req {
	uint16_t port;
	uint8_t token[NET_TOKEN_BYTES];
} __attribute__((packed));

/* A connected stream socket of `family` to `sa`, or -1 with errno (the socket closed). */
static int stream_connect(int family, const struct sockaddr *sa, socklen_t len)
{
	int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (connect(fd, sa, len) < 0) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

static int unix_connect(const char *dir, const char *name)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int n = snprintf(sa.sun_path, sizeof sa.sun_path, "%s/%s", dir, name);
	if (n < 0 || (size_t)n >= sizeof sa.sun_path) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return stream_connect(AF_UNIX, (const struct sockaddr *)&sa, sizeof sa);
}

static int loopback_connect(uint16_t port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int fd = stream_connect(AF_INET, (const struct sockaddr *)&sa, sizeof sa);
	if (fd < 0)
		return -1;
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	return fd;
}

static bool write_all(int fd, const uint8_t *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return false;
		p += w;
		n -= (size_t)w;
	}
	return true;
}

/* Relays one connection in its own loop until both sides ended, then exits the process (port relays). */
static void relay_alone(int a, int b)
{
	int ep = epoll_create1(EPOLL_CLOEXEC);
	struct relay_conn *c = ep < 0 ? NULL : relay_conn_new(a, b, NULL, 0, NULL, 0);
	if (!c || relay_conn_register(c, ep) < 0)
		_exit(1);
	if (relay_conn_pump(c))
		_exit(0);
	for (;;) {
		struct epoll_event ev[2];
		int n = epoll_wait(ep, ev, 2, -1);
		if (n < 0 && errno != EINTR)
			_exit(1);
		for (int i = 0; i < n; i++)
			if (relay_end_event(ev[i].data.ptr, ev[i].events))
				_exit(0);
	}
}

/* The helper's loop objects other than relays: the listener and the request pipe. */
struct loop_src {
	int kind; /* RELAY_KIND_OTHER */
	int fd;
};

/*
 * A new egress connection: the sandbox's client on one side, a fresh connection to the
 * daemon's egress.sock on the other, relayed in the helper's own loop (no process per
 * connection). A connection the helper cannot set up is closed: the client sees it cut.
 */
/* An fd kept in reserve: out of descriptors, the helper gives it up to accept and close a client. */
static int reserve_fd = -1;

static void on_accept(int lfd, int ep, const char *dir)
{
	for (;;) {
		int c = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (c < 0 && (errno == EMFILE || errno == ENFILE) && reserve_fd >= 0) {
			/* The listener stays readable while the client waits: take it and cut it, or the loop would spin. */
			close(reserve_fd);
			c = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
			if (c >= 0)
				close(c);
			reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
			continue;
		}
		if (c < 0)
			return; /* EAGAIN: nothing more to accept; anything else: the client is gone */
		int one = 1;
		setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
		struct sockaddr_un sa = { .sun_family = AF_UNIX };
		int u = -1;
		int n = snprintf(sa.sun_path, sizeof sa.sun_path, "%s/egress.sock", dir);
		if (n > 0 && (size_t)n < sizeof sa.sun_path)
			u = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
		if (u >= 0 && connect(u, (const struct sockaddr *)&sa, sizeof sa) < 0) {
			close(u);
			u = -1;
		}
		struct relay_conn *r = u < 0 ? NULL : relay_conn_new(c, u, NULL, 0, NULL, 0);
		if (!r || relay_conn_register(r, ep) < 0) {
			if (r) {
				relay_conn_free(r, -1); /* closes c and u */
			} else {
				close(c);
				if (u >= 0)
					close(u);
			}
			continue;
		}
		if (relay_conn_pump(r))
			relay_conn_free(r, ep);
	}
}

static void on_port_req(const struct port_req *q, const char *dir)
{
	pid_t pid = fork();
	if (pid != 0)
		return;
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	/* Not the helper's other connections: a copy of their sockets here would keep them open. */
	close_range(3, ~0u, 0);
	int t = loopback_connect(q->port);
	uint8_t status = t < 0 ? (uint8_t)(errno > 255 ? 255 : errno) : 0;
	int u = unix_connect(dir, "ports.sock");
	if (u < 0)
		_exit(1);
	uint8_t hello[NET_TOKEN_BYTES + 1];
	memcpy(hello, q->token, NET_TOKEN_BYTES);
	hello[NET_TOKEN_BYTES] = status;
	if (!write_all(u, hello, sizeof hello) || t < 0)
		_exit(0);
	relay_alone(t, u);
}

#define MAX_EVENTS 64

static void helper_main(int lfd, int reqfd, const char *dir)
{
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	signal(SIGCHLD, SIG_IGN); /* children are reaped by the kernel */
	signal(SIGPIPE, SIG_IGN); /* a peer gone is an error of its relay, not the helper's end */
	sigset_t all;
	sigemptyset(&all);
	sigprocmask(SIG_SETMASK, &all, NULL);
	/* Every relay holds six descriptors here (two sockets, two pipes): allow as many as the hard limit. */
	struct rlimit nofile;
	if (getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur < nofile.rlim_max) {
		nofile.rlim_cur = nofile.rlim_max;
		setrlimit(RLIMIT_NOFILE, &nofile);
	}
	reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	int ep = epoll_create1(EPOLL_CLOEXEC);
	if (ep < 0)
		_exit(1);
	struct loop_src req = { .kind = RELAY_KIND_OTHER, .fd = reqfd }, lis = { .kind = RELAY_KIND_OTHER, .fd = lfd };
	struct epoll_event rev = { .events = EPOLLIN, .data.ptr = &req }, lev = { .events = EPOLLIN, .data.ptr = &lis };
	if (epoll_ctl(ep, EPOLL_CTL_ADD, reqfd, &rev) < 0 || (lfd >= 0 && epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &lev) < 0))
		_exit(1);
	for (;;) {
		struct epoll_event ev[MAX_EVENTS];
		int n = epoll_wait(ep, ev, MAX_EVENTS, -1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			_exit(1);
		}
		/* A relay finished by one event may have a second event in this batch: free after it. */
		struct relay_conn *dead[MAX_EVENTS];
		int ndead = 0;
		for (int i = 0; i < n; i++) {
			int kind = *(int *)ev[i].data.ptr;
			if (kind == RELAY_KIND_END) {
				struct relay_end *e = ev[i].data.ptr;
				struct relay_conn *c = e->conn;
				if (!c->finished && relay_end_event(e, ev[i].events)) {
					c->finished = true;
					dead[ndead++] = c;
				}
				continue;
			}
			if (ev[i].data.ptr == &req) {
				struct port_req q;
				ssize_t r = read(reqfd, &q, sizeof q);
				if (r == 0 || (r < 0 && errno != EINTR && errno != EAGAIN))
					_exit(0); /* the init is gone */
				if (r == (ssize_t)sizeof q)
					on_port_req(&q, dir);
			} else {
				on_accept(lfd, ep, dir);
			}
		}
		for (int i = 0; i < ndead; i++)
			relay_conn_free(dead[i], ep);
	}
}

int net_start(struct agent *a, const struct net_options *opt)
{
	a->net_req_fd = -1;
	a->netd_pid = 0;
	if (!opt->dir)
		return 0;
	int lfd = -1;
	if (opt->proxy_port) {
		lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
		if (lfd < 0)
			return errno;
		int one = 1;
		setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
		struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(opt->proxy_port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
		if (bind(lfd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(lfd, 128) < 0) {
			int e = errno;
			close(lfd);
			return e;
		}
	}
	int pfd[2];
	if (pipe2(pfd, O_CLOEXEC) < 0) {
		int e = errno;
		if (lfd >= 0)
			close(lfd);
		return e;
	}
	pid_t pid = fork();
	if (pid < 0) {
		int e = errno;
		close(pfd[0]);
		close(pfd[1]);
		if (lfd >= 0)
			close(lfd);
		return e;
	}
	if (pid == 0) {
		close(pfd[1]);
		int nul = open("/dev/null", O_RDWR | O_CLOEXEC);
		if (nul >= 0) {
			dup2(nul, 0);
			dup2(nul, 1); /* the frame pipe stays the init's alone */
		}
		helper_main(lfd, pfd[0], opt->dir);
	}
	close(pfd[0]);
	if (lfd >= 0)
		close(lfd);
	fcntl(pfd[1], F_SETFL, O_NONBLOCK);
	a->net_req_fd = pfd[1];
	a->netd_pid = pid;
	return 0;
}

void net_handle_connect(struct agent *a, uint32_t id, struct rd *r)
{
	uint32_t port = rd_u32(r);
	struct rstr token = rd_bytes(r);
	if (rd_finish(r)) {
		if (port == 0 || port > 65535)
			rd_fail(r, "port must be 1..65535");
		else if (token.n != NET_TOKEN_BYTES)
			rd_fail(r, "token must be 16 bytes");
	}
	if (r->err) {
		out_error(&a->out, id, EINVAL, "NET_CONNECT: %s", r->err);
		return;
	}
	if (a->net_req_fd < 0 || a->dry) {
		out_error(&a->out, id, ENOSYS, "NET_CONNECT: this sandbox has no network relay");
		return;
	}
	struct port_req q = { .port = (uint16_t)port };
	memcpy(q.token, token.p, NET_TOKEN_BYTES);
	ssize_t n = write(a->net_req_fd, &q, sizeof q);
	if (n != (ssize_t)sizeof q) {
		out_error(&a->out, id, n < 0 ? errno : EIO, "NET_CONNECT: the relay helper is not taking requests");
		return;
	}
	out_empty(&a->out, MSG_OK, id);
}
