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
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "proto.h"

#define RELAY_BUF (256u * 1024u)

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

/* Copies both ways until both sides ended (half-closes passed on), then exits the process. */
static void relay(int a, int b)
{
	uint8_t *buf = malloc(RELAY_BUF);
	if (!buf)
		_exit(1);
	bool open_a = true, open_b = true;
	while (open_a || open_b) {
		struct pollfd p[2] = { { .fd = open_a ? a : -1, .events = POLLIN }, { .fd = open_b ? b : -1, .events = POLLIN } };
		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		for (int i = 0; i < 2; i++) {
			if (!p[i].revents)
				continue;
			int from = i == 0 ? a : b, to = i == 0 ? b : a;
			ssize_t n = read(from, buf, RELAY_BUF);
			if (n < 0 && (errno == EINTR || errno == EAGAIN))
				continue;
			if (n <= 0) {
				if (n < 0) /* reset: tell the other side at once */
					_exit(0);
				shutdown(to, SHUT_WR);
				if (i == 0)
					open_a = false;
				else
					open_b = false;
				continue;
			}
			if (!write_all(to, buf, (size_t)n))
				_exit(0);
		}
	}
	_exit(0);
}

static void on_accept(int lfd, const char *dir)
{
	int c = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	if (c < 0)
		return;
	pid_t pid = fork();
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		int u = unix_connect(dir, "egress.sock");
		if (u < 0)
			_exit(1); /* the client sees the connection closed */
		int one = 1;
		setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
		relay(c, u);
	}
	close(c);
}

static void on_port_req(const struct port_req *q, const char *dir)
{
	pid_t pid = fork();
	if (pid != 0)
		return;
	prctl(PR_SET_PDEATHSIG, SIGKILL);
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
	relay(t, u);
}

static void helper_main(int lfd, int reqfd, const char *dir)
{
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	signal(SIGCHLD, SIG_IGN); /* children are reaped by the kernel */
	sigset_t all;
	sigemptyset(&all);
	sigprocmask(SIG_SETMASK, &all, NULL);
	for (;;) {
		struct pollfd p[2] = { { .fd = reqfd, .events = POLLIN }, { .fd = lfd, .events = POLLIN } };
		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			_exit(1);
		}
		if (p[0].revents) {
			struct port_req q;
			ssize_t n = read(reqfd, &q, sizeof q);
			if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN))
				_exit(0); /* the init is gone */
			if (n == (ssize_t)sizeof q)
				on_port_req(&q, dir);
		}
		if (p[1].revents)
			on_accept(lfd, dir);
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
