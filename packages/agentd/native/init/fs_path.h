/*
 * Path resolution for file operations: everything goes through openat2 with
 * RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS beneath the init's file root, so no path,
 * `..` or symlink can leave it.
 */
#ifndef AGENTD_FS_PATH_H
#define AGENTD_FS_PATH_H

#include <stdbool.h>
#include <stdint.h>

#include "agent.h"

/* Sets a->root_fd and a->cwd_rel from `root` (NULL = "/"). Returns 0 or an errno. */
int fs_setup(struct agent *a, const char *root);

/* Opens `path` (relative = from the init's cwd inside the root). Returns an fd or -errno. */
int fs_open(const struct agent *a, const char *path, int flags, unsigned mode);

/*
 * Splits `path` into its parent directory (opened O_PATH beneath the root) and last
 * component, for calls that must not follow a final symlink. *name points into a heap
 * copy returned in *hold (free it). *name is "" when the path names the root, "." or
 * "..": the caller treats those specially. Returns 0 or an errno.
 */
int fs_open_parent(const struct agent *a, const char *path, int *dirfd, const char **name, char **hold);

/* true for "", "." and "..": names that cannot be created, removed or renamed. */
bool fs_special_name(const char *name);

#endif
