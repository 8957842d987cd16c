#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fs_ops.h"
#include "fs_path.h"
#include "proto.h"

uint8_t fs_kind(mode_t mode)
{
	if (S_ISREG(mode))
		return KIND_FILE;
	if (S_ISDIR(mode))
		return KIND_DIR;
	if (S_ISLNK(mode))
		return KIND_SYMLINK;
	return KIND_OTHER;
}

int64_t fs_mtime_ms(const struct stat *st)
{
	return (int64_t)st->st_mtim.tv_sec * 1000 + st->st_mtim.tv_nsec / 1000000;
}

static void send_stat(struct agent *a, uint32_t id, const struct stat *st, const char *target, size_t tlen)
{
	struct wbuf w;
	wb_init(&w);
	wb_u8(&w, fs_kind(st->st_mode));
	wb_u32(&w, st->st_mode & 07777);
	wb_u64(&w, (uint64_t)st->st_size);
	wb_i64(&w, fs_mtime_ms(st));
	wb_u32(&w, st->st_uid);
	wb_u32(&w, st->st_gid);
	wb_str(&w, target, tlen);
	out_payload(&a->out, MSG_FS_STAT_RESULT, id, &w);
	wb_free(&w);
}

/* stat without following a final symlink. Returns 0 or an errno; fills the link target. */
static int stat_nofollow(struct agent *a, const char *p, struct stat *st, char *target, size_t *tlen)
{
	int dfd;
	const char *name;
	char *hold;
	*tlen = 0;
	int err = fs_open_parent(a, p, &dfd, &name, &hold);
	if (err)
		return err;
	if (fs_special_name(name)) {
		/* ".", ".." or the root: not symlinks, so following is the same. */
		close(dfd);
		free(hold);
		int fd = fs_open(a, p, O_PATH, 0);
		if (fd < 0)
			return -fd;
		err = fstat(fd, st) < 0 ? errno : 0;
		close(fd);
		return err;
	}
	if (fstatat(dfd, name, st, AT_SYMLINK_NOFOLLOW) < 0) {
		err = errno;
	} else if (S_ISLNK(st->st_mode)) {
		ssize_t n = readlinkat(dfd, name, target, PATH_MAX);
		if (n < 0)
			err = errno;
		else
			*tlen = (size_t)n;
	}
	close(dfd);
	free(hold);
	return err;
}

void fs_handle_stat(struct agent *a, uint32_t id, struct rd *r)
{
	struct rstr path = rd_str(r);
	bool follow = rd_flag(r);
	if (!rd_finish(r)) {
		out_error(&a->out, id, EINVAL, "FS_STAT: %s", r->err);
		return;
	}
	char *p = rstr_dup(path);
	char *target = malloc(PATH_MAX);
	if (!p || !target) {
		out_error(&a->out, id, ENOMEM, "FS_STAT: out of memory");
		free(p);
		free(target);
		return;
	}
	struct stat st;
	size_t tlen = 0;
	int err;
	if (follow) {
		int fd = fs_open(a, p, O_PATH, 0);
		err = fd < 0 ? -fd : 0;
		if (fd >= 0) {
			if (fstat(fd, &st) < 0)
				err = errno;
			close(fd);
		}
	} else {
		err = stat_nofollow(a, p, &st, target, &tlen);
	}
	if (err)
		out_error(&a->out, id, err, "%s: %s", p, strerror(err));
	else
		send_stat(a, id, &st, target, tlen);
	free(target);
	free(p);
}

static int cmp_names(const void *x, const void *y)
{
	return strcmp(*(char *const *)x, *(char *const *)y);
}

/* All names in the directory but "." and "..", sorted (a stable order for paging). */
static int read_names(int fd, char ***out, size_t *count)
{
	*out = NULL;
	*count = 0;
	int dup_fd = dup(fd);
	if (dup_fd < 0)
		return errno;
	DIR *d = fdopendir(dup_fd);
	if (!d) {
		int err = errno;
		close(dup_fd);
		return err;
	}
	char **v = NULL;
	size_t n = 0, cap = 0;
	int err = 0;
	struct dirent *de;
	errno = 0;
	while ((de = readdir(d)) != NULL) {
		if (fs_special_name(de->d_name))
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			char **nv = realloc(v, cap * sizeof *nv);
			if (!nv) {
				err = ENOMEM;
				break;
			}
			v = nv;
		}
		v[n] = strdup(de->d_name);
		if (!v[n]) {
			err = ENOMEM;
			break;
		}
		n++;
		errno = 0;
	}
	if (!err && errno)
		err = errno;
	closedir(d);
	if (err) {
		for (size_t i = 0; i < n; i++)
			free(v[i]);
		free(v);
		return err;
	}
	if (n > 1)
		qsort(v, n, sizeof *v, cmp_names);
	*out = v;
	*count = n;
	return 0;
}

/* Bytes of entries one FS_LIST_RESULT may carry (its frame stays under MAX_FRAME). */
#define LIST_BUDGET (MAX_FRAME - 5 - 1 - 4 - 16)

void fs_handle_list(struct agent *a, uint32_t id, struct rd *r)
{
	struct rstr path = rd_str(r);
	uint32_t start = rd_u32(r);
	if (!rd_finish(r)) {
		out_error(&a->out, id, EINVAL, "FS_LIST: %s", r->err);
		return;
	}
	char *p = rstr_dup(path);
	if (!p) {
		out_error(&a->out, id, ENOMEM, "FS_LIST: out of memory");
		return;
	}
	int fd = fs_open(a, p, O_RDONLY | O_DIRECTORY, 0);
	if (fd < 0) {
		out_error(&a->out, id, -fd, "%s: %s", p, strerror(-fd));
		free(p);
		return;
	}
	char **names;
	size_t total;
	int err = read_names(fd, &names, &total);
	if (err) {
		close(fd);
		out_error(&a->out, id, err, "%s: %s", p, strerror(err));
		free(p);
		return;
	}
	struct wbuf w;
	wb_init(&w);
	wb_u8(&w, 0);  /* more: patched below */
	wb_u32(&w, 0); /* count: patched below */
	uint32_t count = 0;
	size_t used = 0;
	size_t i = start;
	for (; i < total && count < MAX_LIST_ITEMS; i++) {
		const char *name = names[i];
		size_t nl = strlen(name);
		size_t need = 4 + nl + 1 + 4 + 8 + 8;
		if (used + need > LIST_BUDGET)
			break;
		struct stat st;
		if (fstatat(fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			/* Removed since it was listed: still counted, so `start + count` pages stay exact. */
			memset(&st, 0, sizeof st);
			st.st_mode = S_IFIFO;
		}
		wb_str(&w, name, nl);
		wb_u8(&w, fs_kind(st.st_mode));
		wb_u32(&w, st.st_mode & 07777);
		wb_u64(&w, (uint64_t)st.st_size);
		wb_i64(&w, fs_mtime_ms(&st));
		used += need;
		count++;
	}
	close(fd);
	if (!w.oom) {
		w.p[0] = i < total;
		put_le32(w.p + 1, count);
	}
	out_payload(&a->out, MSG_FS_LIST_RESULT, id, &w);
	wb_free(&w);
	for (size_t k = 0; k < total; k++)
		free(names[k]);
	free(names);
	free(p);
}
