#include "fs_path.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

int fs_setup(struct agent *a, const char *root)
{
	if (!root)
		root = "/";
	a->root_fd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (a->root_fd < 0)
		return errno;
	char *root_real = realpath(root, NULL);
	char *cwd = getcwd(NULL, 0);
	const char *rel = "";
	a->root_is_slash = root_real && strcmp(root_real, "/") == 0;
	if (root_real && cwd) {
		size_t rl = strlen(root_real);
		if (strcmp(root_real, "/") == 0)
			rel = cwd + 1;
		else if (strncmp(cwd, root_real, rl) == 0 && (cwd[rl] == '/' || cwd[rl] == 0))
			rel = cwd[rl] == '/' ? cwd + rl + 1 : "";
	}
	a->cwd_rel = strdup(rel);
	free(root_real);
	free(cwd);
	return a->cwd_rel ? 0 : ENOMEM;
}

/* The path to hand to openat2 relative to the root fd: relative paths get the cwd prefix. */
static char *full_path(const struct agent *a, const char *path)
{
	if (path[0] == '/' || a->cwd_rel[0] == 0)
		return strdup(path);
	size_t cl = strlen(a->cwd_rel), pl = strlen(path);
	char *f = malloc(cl + 1 + pl + 1);
	if (!f)
		return NULL;
	memcpy(f, a->cwd_rel, cl);
	f[cl] = '/';
	memcpy(f + cl + 1, path, pl + 1);
	return f;
}

/*
 * The openat fallback follows magic links (/proc/self/fd/N and the like), which openat2's
 * RESOLVE_NO_MAGICLINKS refuses: a symlink planted by the sandbox could point the init's
 * file operations at its own channel. An object without a path name (a pipe, a socket, an
 * anonymous inode: what only a magic link reaches) is refused with ELOOP, as openat2 would.
 */
static int refuse_magic(int fd)
{
	char link[64], target[8];
	snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
	ssize_t n = readlink(link, target, sizeof target);
	if (n > 0 && target[0] == '/')
		return fd;
	close(fd);
	return -ELOOP;
}

static int open_beneath(const struct agent *a, const char *p, int flags, unsigned mode)
{
	int root_fd = a->root_fd;
	struct open_how how;
	memset(&how, 0, sizeof how);
	how.flags = (uint64_t)(flags | O_CLOEXEC);
	how.mode = (flags & O_CREAT) ? mode : 0;
	how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
	for (int tries = 0;; tries++) {
		long fd = syscall(SYS_openat2, root_fd, p, &how, sizeof how);
		if (fd >= 0)
			return (int)fd;
		/* EAGAIN: a concurrent rename raced the `..` checks; try again a few times. */
		if ((errno == EAGAIN && tries < 8) || errno == EINTR)
			continue;
		if (errno == ENOSYS && a->root_is_slash) {
			/* A kernel without openat2 (gVisor before 2026): with "/" as the root the
			 * sandbox's whole view is the limit anyway, so plain openat confines the same
			 * (only magic links are not refused). Any other root fails closed. */
			int fd2 = openat(root_fd, p, flags | O_CLOEXEC, mode);
			if (fd2 < 0)
				return -errno;
			return refuse_magic(fd2);
		}
		return -errno;
	}
}

static int check_path(const char *path)
{
	if (path[0] == 0)
		return ENOENT;
	if (strlen(path) >= PATH_MAX)
		return ENAMETOOLONG;
	return 0;
}

int fs_open(const struct agent *a, const char *path, int flags, unsigned mode)
{
	int err = check_path(path);
	if (err)
		return -err;
	char *f = full_path(a, path);
	if (!f)
		return -ENOMEM;
	int fd = open_beneath(a, f, flags, mode);
	free(f);
	return fd;
}

bool fs_special_name(const char *name)
{
	return name[0] == 0 || strcmp(name, ".") == 0 || strcmp(name, "..") == 0;
}

int fs_open_parent(const struct agent *a, const char *path, int *dirfd, const char **name, char **hold)
{
	*dirfd = -1;
	*name = "";
	*hold = NULL;
	int err = check_path(path);
	if (err)
		return err;
	char *f = full_path(a, path);
	if (!f)
		return ENOMEM;
	size_t len = strlen(f);
	while (len > 1 && f[len - 1] == '/')
		f[--len] = 0;
	char *slash = strrchr(f, '/');
	const char *dir;
	if (!slash) {
		dir = ".";
		*name = f;
	} else if (slash == f) {
		dir = "/";
		*name = f + 1;
	} else {
		*slash = 0;
		dir = f;
		*name = slash + 1;
	}
	if (fs_special_name(*name))
		*name = "";
	int fd = open_beneath(a, dir, O_PATH | O_DIRECTORY, 0);
	if (fd < 0) {
		free(f);
		*name = "";
		return -fd;
	}
	*dirfd = fd;
	*hold = f;
	return 0;
}
