/* Frames from the init to the daemon. Every frame goes out whole through one sink. */
#ifndef AGENTD_OUT_H
#define AGENTD_OUT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "wire.h"

/* Writes all of iov or fails; returns 0 or -1. */
typedef int (*out_write_fn)(void *arg, const struct iovec *iov, int iovcnt);

struct out {
	out_write_fn write;
	void *arg;
	int failed; /* set once a write failed: the daemon is gone */
};

/* A sink writing to a file descriptor (blocking, retrying short writes and EAGAIN). */
int out_fd_write(void *arg, const struct iovec *iov, int iovcnt);

/* One frame: header, then `a`, then `b` (either may be empty). */
void out_frame(struct out *o, uint8_t type, uint32_t id, const void *a, size_t alen, const void *b, size_t blen);
/* A frame whose payload was built in `w` (an allocation failure is answered ENOMEM). */
void out_payload(struct out *o, uint8_t type, uint32_t id, const struct wbuf *w);
void out_empty(struct out *o, uint8_t type, uint32_t id);
void out_error(struct out *o, uint32_t id, int err, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* STDOUT/STDERR: `bytes data`. */
void out_data(struct out *o, uint8_t type, uint32_t id, const void *data, size_t n);

#endif
