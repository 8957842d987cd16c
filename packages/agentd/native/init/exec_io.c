/* An exec's pipes: output under credit, queued stdin, CREDIT and STDIN requests. */
#include "exec.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "exec_internal.h"
#include "proto.h"
#include "pty.h"

/* Queued stdin beyond this is refused with ENOBUFS (a daemon waiting for each OK never gets near it). */
#define MAX_STDIN_QUEUE (64u * 1024u * 1024u)

int exec_stream_wants_read(const struct stream *s)
{
	return s->fd >= 0 && s->credit > 0;
}

int exec_stdin_wants_write(const struct exec *e)
{
	return e->in_fd >= 0 && e->inq_head != NULL;
}

void exec_stream_done(struct stream *s)
{
	exec_close_fd(&s->fd);
}

void exec_stream_read(struct agent *a, struct exec *e, struct stream *s)
{
	uint8_t type = s == &e->out ? MSG_STDOUT : MSG_STDERR;
	/* A few reads per wakeup keep one busy stream from starving the others. */
	for (int round = 0; round < 4 && s->fd >= 0 && s->credit > 0; round++) {
		uint64_t want = a->iobuf_size;
		if (want > s->credit)
			want = s->credit;
		if (s->draining && want > s->budget)
			want = s->budget;
		ssize_t n = read(s->fd, a->iobuf, (size_t)want);
		if (n > 0) {
			out_data(&a->out, type, e->id, a->iobuf, (size_t)n);
			s->credit -= (uint64_t)n;
			if (s->draining) {
				s->budget -= (uint64_t)n;
				if (s->budget == 0)
					exec_stream_done(s);
			}
			if ((uint64_t)n < want)
				break;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN) {
			if (s->draining)
				exec_stream_done(s); /* held open by a background process, nothing left */
			break;
		}
		exec_stream_done(s); /* end of file or a read error (EIO: a terminal's last slave closed) */
	}
}

void exec_on_readable(struct agent *a, struct exec *e, struct stream *s)
{
	exec_stream_read(a, e, s);
	exec_try_finish(a, e);
}

void exec_on_writable(struct agent *a, struct exec *e)
{
	while (e->in_fd >= 0 && e->inq_head) {
		struct stdin_chunk *c = e->inq_head;
		if (c->close) {
			e->inq_head = c->next;
			if (!e->inq_head)
				e->inq_tail = NULL;
			exec_close_fd(&e->in_fd);
			e->in_state = STDIN_CLOSED;
			out_empty(&a->out, MSG_OK, c->req_id);
			free(c);
			break;
		}
		ssize_t n = write(e->in_fd, c->data + c->off, c->len - c->off);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				return;
			exec_close_stdin(a, e, strerror(errno));
			return;
		}
		c->off += (size_t)n;
		e->inq_bytes -= (size_t)n;
		if (c->off < c->len)
			return;
		e->inq_head = c->next;
		if (!e->inq_head)
			e->inq_tail = NULL;
		if (!c->quiet)
			out_empty(&a->out, MSG_OK, c->req_id);
		free(c);
	}
}

static int queue_stdin(struct exec *e, uint32_t req_id, const uint8_t *data, size_t len, bool is_close)
{
	struct stdin_chunk *c = malloc(sizeof *c + len);
	if (!c)
		return ENOMEM;
	c->next = NULL;
	c->req_id = req_id;
	c->close = is_close;
	c->quiet = false;
	c->len = len;
	c->off = 0;
	if (len)
		memcpy(c->data, data, len);
	if (e->inq_tail)
		e->inq_tail->next = c;
	else
		e->inq_head = c;
	e->inq_tail = c;
	e->inq_bytes += len;
	return 0;
}

void exec_handle_stdin(struct agent *a, uint32_t id, struct rd *r)
{
	uint32_t exec_id = rd_u32(r);
	struct rstr data = rd_bytes(r);
	if (!rd_finish(r)) {
		out_error(&a->out, id, EINVAL, "STDIN: %s", r->err);
		return;
	}
	if (data.n > MAX_CHUNK) {
		out_error(&a->out, id, EINVAL, "STDIN: data larger than MAX_CHUNK");
		return;
	}
	struct exec *e = exec_find(a, exec_id);
	if (!e) {
		out_error(&a->out, id, ESRCH, "STDIN: no running exec %u", exec_id);
		return;
	}
	if (e->in_state == STDIN_NONE) {
		out_error(&a->out, id, EBADF, "STDIN: exec %u has no stdin pipe", exec_id);
		return;
	}
	if (e->in_state != STDIN_OPEN || e->in_fd < 0) {
		out_error(&a->out, id, EPIPE, "STDIN: stdin of exec %u is closed", exec_id);
		return;
	}
	if (data.n == 0 && e->pty_fd >= 0) {
		/* A terminal has no end of file of its own: closing its input types the terminal's
		 * VEOF character (^D: end of file for a program reading in canonical mode at the
		 * start of a line), then the init stops writing to it. The OK comes after both. */
		uint8_t veof = pty_veof(e->pty_fd);
		if (queue_stdin(e, id, &veof, 1, false) != 0) {
			out_error(&a->out, id, ENOMEM, "STDIN: out of memory");
			return;
		}
		e->inq_tail->quiet = true;
		if (queue_stdin(e, id, NULL, 0, true) != 0) {
			e->inq_tail->quiet = false; /* the VEOF still goes; its OK answers the request */
			e->in_state = STDIN_CLOSING;
			exec_on_writable(a, e);
			return;
		}
		e->in_state = STDIN_CLOSING;
		exec_on_writable(a, e);
		return;
	}
	if (data.n == 0) {
		if (e->inq_head) {
			if (queue_stdin(e, id, NULL, 0, true) != 0) {
				out_error(&a->out, id, ENOMEM, "STDIN: out of memory");
				return;
			}
			e->in_state = STDIN_CLOSING;
			return;
		}
		exec_close_fd(&e->in_fd);
		e->in_state = STDIN_CLOSED;
		out_empty(&a->out, MSG_OK, id);
		return;
	}
	if (e->inq_bytes + data.n > MAX_STDIN_QUEUE) {
		out_error(&a->out, id, ENOBUFS, "STDIN: more than %u bytes queued for exec %u", MAX_STDIN_QUEUE, exec_id);
		return;
	}
	size_t done = 0;
	if (!e->inq_head) {
		/* Fast path: straight into the pipe. */
		while (done < data.n) {
			ssize_t n = write(e->in_fd, data.p + done, data.n - done);
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0 && errno == EAGAIN)
				break;
			if (n < 0) {
				int err = errno;
				exec_close_stdin(a, e, strerror(err));
				out_error(&a->out, id, err, "STDIN: exec %u: %s", exec_id, strerror(err));
				return;
			}
			done += (size_t)n;
		}
		if (done == data.n) {
			out_empty(&a->out, MSG_OK, id);
			return;
		}
	}
	if (queue_stdin(e, id, data.p + done, data.n - done, false) != 0)
		out_error(&a->out, id, ENOMEM, "STDIN: out of memory");
}

void exec_handle_credit(struct agent *a, uint32_t id, struct rd *r)
{
	uint32_t exec_id = rd_u32(r);
	uint8_t stream = rd_u8(r);
	uint32_t bytes = rd_u32(r);
	if (rd_finish(r) && stream != STREAM_STDOUT && stream != STREAM_STDERR)
		rd_fail(r, "stream must be 1 or 2");
	if (r->err) {
		out_error(&a->out, id, EINVAL, "CREDIT: %s", r->err);
		return;
	}
	/* A CREDIT may cross the EXIT of its exec: silently ignored then. */
	struct exec *e = exec_find(a, exec_id);
	bool retry = false;
	if (e) {
		struct stream *s = stream == STREAM_STDOUT ? &e->out : &e->err;
		if (s->credit < UINT64_MAX / 2)
			s->credit += bytes;
		/* A draining terminal may have nothing left to wake the loop (see leader_ended). */
		retry = e->pty_fd >= 0 && s == &e->out && s->draining && s->fd >= 0;
	}
	if (id != 0)
		out_empty(&a->out, MSG_OK, id);
	if (retry) {
		exec_stream_read(a, e, &e->out);
		exec_try_finish(a, e);
	}
}

/* Called for every reaped child; only leaders of running execs matter. */
