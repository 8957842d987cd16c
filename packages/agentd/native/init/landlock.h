/*
 * The linux-native backend's confinement, applied by `agentd-init --launch` right before it
 * execs the init (launch.c): a Landlock ruleset (file system, TCP, scoping), no_new_privs and
 * a seccomp filter. Nothing here runs in the other backends.
 */
#ifndef AGENTD_LANDLOCK_H
#define AGENTD_LANDLOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The lowest Landlock ABI the rules need: 6 (scoping of abstract Unix sockets and signals). */
#define LL_MIN_ABI 6

/* The kernel's Landlock ABI version; 0 when Landlock is absent or disabled (errno says why). */
int ll_abi(void);

struct ll_rules;

/* A new, empty rule set; NULL on out-of-memory. */
struct ll_rules *ll_new(void);

/*
 * Adds a rule: PATH (opened here, O_PATH|O_NOFOLLOW) or an inherited descriptor FD, with the
 * access class CLASS: "rx" (read, list, execute), "ro" (read, list), "rwx" (everything but
 * device nodes), "dev" (read, write and ioctl on device files), "proc" (read, list, write
 * files: /proc/self's own files). A descriptor of a non-directory keeps only the classes'
 * file rights. Returns 0, or writes a message to `err` and returns -1.
 */
int ll_add_path(struct ll_rules *r, const char *path, const char *cls, char *err, size_t errlen);
int ll_add_fd(struct ll_rules *r, int fd, const char *cls, char *err, size_t errlen);

/* "none": no TCP bind or connect at all; "host": TCP is not handled (the host's network). */
int ll_set_net(struct ll_rules *r, const char *mode, char *err, size_t errlen);

/*
 * Builds the ruleset (ABI >= LL_MIN_ABI or it fails closed), sets no_new_privs, restricts this
 * process (and everything it execs) to it and then loads the classic-BPF seccomp filter read
 * from `seccomp_fd` (-1: none). Closes every descriptor the rules were given. 0, or -1 and a
 * message in `err`.
 */
int ll_apply(struct ll_rules *r, int seccomp_fd, char *err, size_t errlen);

#endif
