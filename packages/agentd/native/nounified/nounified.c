/*
 * agentd-nounified: runs a program in a private mount namespace from which the cgroup2 mount
 * at /sys/fs/cgroup/unified is gone, for crun on a hybrid cgroup host (v1 controllers plus a
 * cgroup2 mount holding a controller: crun 1.8 refuses "cgroups in hybrid mode"; see
 * src/isolation/oci/runtime.ts crunWorkaround).
 *
 *   agentd-nounified PROGRAM [ARG...]
 *
 * The same three steps as `unshare --mount --propagation private -- sh -c 'umount
 * /sys/fs/cgroup/unified && exec "$0" "$@"' PROGRAM ARG...`, in one process instead of three
 * (unshare, sh, and umount forked by sh): unshare(CLONE_NEWNS), every mount made private
 * (nothing done in the new namespace reaches the host's), the cgroup2 mount detached there
 * only, then PROGRAM replaces this process (same pid, same environment; PATH is searched when
 * PROGRAM has no slash). The host's mounts are never changed. Root only (CAP_SYS_ADMIN).
 * Errors: one line on stderr, exit 125 (bad use: 2); PROGRAM not run: 127.
 */
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <unistd.h>

#ifndef UMOUNT_NOFOLLOW
#define UMOUNT_NOFOLLOW 0x00000008
#endif

#define UNIFIED "/sys/fs/cgroup/unified"

static int fail(const char *what)
{
	fprintf(stderr, "agentd-nounified: %s: %s\n", what, strerror(errno));
	return 125;
}

int main(int argc, char **argv)
{
	if (argc < 2 || argv[1][0] == '\0') {
		fputs("usage: agentd-nounified PROGRAM [ARG...]\n", stderr);
		return 2;
	}
	if (unshare(CLONE_NEWNS) != 0)
		return fail("unshare(CLONE_NEWNS)");
	if (mount("none", "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0)
		return fail("making the mounts private");
	if (umount2(UNIFIED, UMOUNT_NOFOLLOW) != 0)
		return fail("umount " UNIFIED);
	execvp(argv[1], argv + 1);
	fprintf(stderr, "agentd-nounified: %s: %s\n", argv[1], strerror(errno));
	return 127;
}
