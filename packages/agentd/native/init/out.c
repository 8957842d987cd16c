#include "out.h"

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <unistd.h>

#include "proto.h"

int out_fd_write(void *arg, const struct iovec *iov_in, int iovcnt)
{
	int fd = *(int *)arg;
	struct iovec iov[4];
	if (iovcnt > 4)
		return -1;
	for (int i = 0; i < iovcnt; i++)
		iov[i] = iov_in[i];
	int at = 0;
	while (at < iovcnt) {
		if (iov[at].iov_len == 0) {
			at++;
			continue;
		}
		ssize_t n = writev(fd, iov + at, iovcnt - at);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN) {
				/* stdout shared with a non-blocking description: wait until writable */
				struct pollfd p = { .fd = fd, .events = POLLOUT };
				(void)poll(&p, 1, -1);
				continue;
			}
			return -1;
		}
		size_t left = (size_t)n;
		while (at < iovcnt && left >= iov[at].iov_len) {
			left -= iov[at].iov_len;
			at++;
		}
		if (at < iovcnt) {
			iov[at].iov_base = (char *)iov[at].iov_base + left;
			iov[at].iov_len -= left;
		}
	}
	return 0;
}

void out_frame(struct out *o, uint8_t type, uint32_t id, const void *a, size_t alen, const void *b, size_t blen)
{
	uint8_t hdr[HEADER_BYTES];
	put_le32(hdr, (uint32_t)(5 + alen + blen));
	hdr[4] = type;
	put_le32(hdr + 5, id);
	struct iovec iov[3] = {
		{ .iov_base = hdr, .iov_len = sizeof hdr },
		{ .iov_base = (void *)a, .iov_len = alen },
		{ .iov_base = (void *)b, .iov_len = blen },
	};
	if (o->failed)
		return;
	if (o->write(o->arg, iov, 3) < 0)
		o->failed = 1;
}

void out_payload(struct out *o, uint8_t type, uint32_t id, const struct wbuf *w)
{
	if (w->oom) {
		out_error(o, id, ENOMEM, "out of memory building the answer");
		return;
	}
	out_frame(o, type, id, w->p, w->len, NULL, 0);
}

void out_empty(struct out *o, uint8_t type, uint32_t id)
{
	out_frame(o, type, id, NULL, 0, NULL, 0);
}

void out_error(struct out *o, uint32_t id, int err, const char *fmt, ...)
{
	uint8_t head[8];
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	if ((size_t)n >= sizeof msg)
		n = sizeof msg - 1;
	put_le32(head, (uint32_t)err);
	put_le32(head + 4, (uint32_t)n);
	out_frame(o, MSG_ERROR, id, head, sizeof head, msg, (size_t)n);
}

void out_data(struct out *o, uint8_t type, uint32_t id, const void *data, size_t n)
{
	uint8_t head[4];
	put_le32(head, (uint32_t)n);
	out_frame(o, type, id, head, sizeof head, data, n);
}
