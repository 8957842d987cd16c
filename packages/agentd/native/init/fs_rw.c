#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fs_ops.h"
#include "fs_path.h"
#include "proto.h"

void fs_handle_read(struct agent *a, uint32_t id, struct rd *r)
{
	struct rstr path = rd_str(r);
	uint64_t offset = rd_u64(r);
	uint32_t limit = rd_u32(r);
	if (rd_finish(r)) {
		if (limit > MAX_CHUNK)
			rd_fail(r, "limit larger than MAX_CHUNK");
		else if (offset > (uint64_t)INT64_MAX)
			rd_fail(r, "offset out of range");
	}
	if (r->err) {
		out_error(&a->out, id, EINVAL, "FS_READ: %s", r->err);
		return;
	}
	char *p = rstr_dup(path);
	if (!p) {
		out_error(&a->out, id, ENOMEM, "FS_READ: out of memory");
		return;
	}
	/* O_NONBLOCK: opening a FIFO must never hang the init. */
	int fd = fs_open(a, p, O_RDONLY | O_NOCTTY | O_NONBLOCK, 0);
	if (fd < 0) {
		out_error(&a->out, id, -fd, "%s: %s", p, strerror(-fd));
		free(p);
		return;
	}
	struct stat st;
	int err = 0;
	if (fstat(fd, &st) < 0)
		err = errno;
	else if (S_ISDIR(st.st_mode))
		err = EISDIR;
	else if (!S_ISREG(st.st_mode))
		err = EINVAL;
	uint8_t *buf = NULL;
	size_t got = 0;
	if (!err && limit > 0) {
		buf = malloc(limit);
		if (!buf)
			err = ENOMEM;
	}
	while (!err && got < limit) {
		ssize_t n = pread(fd, buf + got, limit - got, (off_t)(offset + got));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			err = errno;
			break;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	if (err) {
		out_error(&a->out, id, err, "%s: %s", p, err == EINVAL ? "not a regular file" : strerror(err));
	} else {
		uint8_t head[8 + 1 + 4];
		uint64_t size = (uint64_t)st.st_size;
		uint8_t eof = got < limit || offset + got >= size;
		put_le64(head, size);
		head[8] = eof;
		put_le32(head + 9, (uint32_t)got);
		out_frame(&a->out, MSG_FS_DATA, id, head, sizeof head, buf, got);
	}
	free(buf);
	free(p);
}

void fs_handle_write(struct agent *a, uint32_t id, struct rd *r)
{
	struct rstr path = rd_str(r);
	uint32_t flags = rd_u32(r);
	uint32_t mode = rd_u32(r);
	struct rstr data = rd_bytes(r);
	if (rd_finish(r)) {
		if (flags & ~WRITE_FLAGS_ALL)
			rd_fail(r, "unknown flag bits");
		else if (mode & ~07777u)
			rd_fail(r, "mode out of range");
		else if (data.n > MAX_CHUNK)
			rd_fail(r, "data larger than MAX_CHUNK");
	}
	if (r->err) {
		out_error(&a->out, id, EINVAL, "FS_WRITE: %s", r->err);
		return;
	}
	char *p = rstr_dup(path);
	if (!p) {
		out_error(&a->out, id, ENOMEM, "FS_WRITE: out of memory");
		return;
	}
	int oflags = O_WRONLY | O_CREAT | O_NOCTTY | O_NONBLOCK;
	oflags |= (flags & WRITE_APPEND) ? O_APPEND : O_TRUNC;
	if (flags & WRITE_EXCLUSIVE)
		oflags |= O_EXCL;
	int fd = fs_open(a, p, oflags, mode);
	if (fd == -ENOENT && (flags & WRITE_CREATE_DIRS)) {
		char *parent = strdup(p);
		int err = parent ? 0 : ENOMEM;
		if (parent) {
			char *slash = strrchr(parent, '/');
			if (slash && slash != parent) {
				*slash = 0;
				err = fs_mkdir_parents(a, parent, 0755);
			}
			free(parent);
		}
		fd = err ? -err : fs_open(a, p, oflags, mode);
	}
	if (fd < 0) {
		out_error(&a->out, id, -fd, "%s: %s", p, strerror(-fd));
		free(p);
		return;
	}
	int err = 0;
	struct stat st;
	if (fstat(fd, &st) < 0)
		err = errno;
	else if (!S_ISREG(st.st_mode))
		err = EINVAL;
	size_t done = 0;
	while (!err && done < data.n) {
		ssize_t n = write(fd, data.p + done, data.n - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			err = errno;
			break;
		}
		done += (size_t)n;
	}
	if (!err && fstat(fd, &st) < 0)
		err = errno;
	close(fd);
	if (err) {
		out_error(&a->out, id, err, "%s: %s", p, err == EINVAL ? "not a regular file" : strerror(err));
	} else {
		uint8_t res[16];
		put_le64(res, done);
		put_le64(res + 8, (uint64_t)st.st_size);
		out_frame(&a->out, MSG_FS_WRITTEN, id, res, sizeof res, NULL, 0);
	}
	free(p);
}
