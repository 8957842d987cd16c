#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fs_ops.h"
#include "fs_path.h"
#include "proto.h"

/* Deeper trees are refused by a recursive remove (each level holds a directory fd). */
#define MAX_REMOVE_DEPTH 256

/* mkdir of the last component, not following it. Returns 0 or an errno. */
static int mkdir_one(const struct agent *a, const char *path, unsigned mode)
{
	int dfd;
	const char *name;
	char *hold;
	int err = fs_open_parent(a, path, &dfd, &name, &hold);
	if (err)
		return err;
	if (fs_special_name(name))
		err = EEXIST;
	else if (mkdirat(dfd, name, mode) < 0)
		err = errno;
	close(dfd);
	free(hold);
	return err;
}

static bool is_dir(const struct agent *a, const char *path)
{
	int fd = fs_open(a, path, O_PATH | O_DIRECTORY, 0);
	if (fd < 0)
		return false;
	close(fd);
	return true;
}

int fs_mkdir_parents(const struct agent *a, const char *path, unsigned mode)
{
	int err = mkdir_one(a, path, mode);
	if (err == 0)
		return 0;
	if (err == EEXIST)
		return is_dir(a, path) ? 0 : EEXIST;
	if (err != ENOENT)
		return err;
	/* Create each missing prefix from the top; iterative, so depth costs no stack. */
	char *buf = strdup(path);
	if (!buf)
		return ENOMEM;
	size_t len = strlen(buf);
	err = 0;
	for (size_t i = 1; i <= len && !err; i++) {
		if (i < len && buf[i] != '/')
			continue;
		if (i < len && buf[i - 1] == '/')
			continue; /* "//" */
		char saved = buf[i];
		buf[i] = 0;
		int e = mkdir_one(a, buf, i == len ? mode : 0755);
		if (e == EEXIST)
			e = is_dir(a, buf) ? 0 : (i == len ? EEXIST : ENOTDIR);
		err = e;
		buf[i] = saved;
	}
	free(buf);
	return err;
}

void fs_handle_mkdir(struct agent *a, uint32_t id, struct rd *r)
{
	struct rstr path = rd_str(r);
	uint32_t mode = rd_u32(r);
	bool parents = rd_flag(r);
	if (rd_finish(r) && (mode & ~07777u))
		rd_fail(r, "mode out of range");
	if (r->err) {
		out_error(&a->out, id, EINVAL, "FS_MKDIR: %s", r->err);
		return;
	}
	char *p = rstr_dup(path);
	if (!p) {
		out_error(&a->out, id, ENOMEM, "FS_MKDIR: out of memory");
		return;
	}
	int err = parents ? fs_mkdir_parents(a, p, mode) : mkdir_one(a, p, mode);
	if (err)
		out_error(&a->out, id, err, "%s: %s", p, strerror(err));
	else
		out_empty(&a->out, MSG_OK, id);
	free(p);
}

/* Removes directory `name` in `parent` and everything below it, never following a symlink. */
static int remove_tree(int parent, const char *name, int depth)
{
	if (depth > MAX_REMOVE_DEPTH)
		return ELOOP;
	int fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return errno;
	DIR *d = fdopendir(fd);
	if (!d) {
		int err = errno;
		close(fd);
		return err;
	}
	int err = 0;
	struct dirent *de;
	while (!err && (de = readdir(d)) != NULL) {
		if (fs_special_name(de->d_name))
			continue;
		bool dir = de->d_type == DT_DIR;
		if (de->d_type == DT_UNKNOWN) {
			struct stat st;
			dir = fstatat(fd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode);
		}
		if (dir)
			err = remove_tree(fd, de->d_name, depth + 1);
		else if (unlinkat(fd, de->d_name, 0) < 0 && errno != ENOENT)
			err = errno;
	}
	closedir(d);
	if (!err && unlinkat(parent, name, AT_REMOVEDIR) < 0)
		err = errno;
	return err;
}

void fs_handle_remove(struct agent *a, uint32_t id, struct rd *r)
{
	struct rstr path = rd_str(r);
	bool recursive = rd_flag(r);
	if (!rd_finish(r)) {
		out_error(&a->out, id, EINVAL, "FS_REMOVE: %s", r->err);
		return;
	}
	char *p = rstr_dup(path);
	if (!p) {
		out_error(&a->out, id, ENOMEM, "FS_REMOVE: out of memory");
		return;
	}
	int dfd;
	const char *name;
	char *hold;
	int err = fs_open_parent(a, p, &dfd, &name, &hold);
	if (!err) {
		if (fs_special_name(name)) {
			err = EINVAL;
		} else if (unlinkat(dfd, name, 0) < 0) {
			err = errno;
			if (err == EISDIR) {
				if (recursive)
					err = remove_tree(dfd, name, 0);
				else
					err = unlinkat(dfd, name, AT_REMOVEDIR) < 0 ? errno : 0;
			}
		}
		close(dfd);
		free(hold);
	}
	if (err == EINVAL)
		out_error(&a->out, id, err, "%s: cannot remove the root, \".\" or \"..\"", p);
	else if (err)
		out_error(&a->out, id, err, "%s: %s", p, strerror(err));
	else
		out_empty(&a->out, MSG_OK, id);
	free(p);
}

void fs_handle_rename(struct agent *a, uint32_t id, struct rd *r)
{
	struct rstr from = rd_str(r);
	struct rstr to = rd_str(r);
	bool overwrite = rd_flag(r);
	if (!rd_finish(r)) {
		out_error(&a->out, id, EINVAL, "FS_RENAME: %s", r->err);
		return;
	}
	char *pf = rstr_dup(from), *pt = rstr_dup(to);
	if (!pf || !pt) {
		out_error(&a->out, id, ENOMEM, "FS_RENAME: out of memory");
		free(pf);
		free(pt);
		return;
	}
	int fd1 = -1, fd2 = -1;
	const char *n1, *n2;
	char *h1 = NULL, *h2 = NULL;
	int err = fs_open_parent(a, pf, &fd1, &n1, &h1);
	if (!err)
		err = fs_open_parent(a, pt, &fd2, &n2, &h2);
	if (!err) {
		if (fs_special_name(n1) || fs_special_name(n2)) {
			err = EINVAL;
		} else if (renameat2(fd1, n1, fd2, n2, overwrite ? 0 : RENAME_NOREPLACE) < 0) {
			err = errno;
			if (err == EINVAL && !overwrite) {
				/* A file system without RENAME_NOREPLACE: check, then rename. */
				struct stat st;
				if (fstatat(fd2, n2, &st, AT_SYMLINK_NOFOLLOW) == 0)
					err = EEXIST;
				else
					err = renameat(fd1, n1, fd2, n2) < 0 ? errno : 0;
			}
		}
	}
	if (fd1 >= 0)
		close(fd1);
	if (fd2 >= 0)
		close(fd2);
	free(h1);
	free(h2);
	if (err)
		out_error(&a->out, id, err, "rename %s -> %s: %s", pf, pt, strerror(err));
	else
		out_empty(&a->out, MSG_OK, id);
	free(pf);
	free(pt);
}
