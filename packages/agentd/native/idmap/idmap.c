/*
 * agentd-idmap: mounts a pinned host path as an idmapped mount, for the namespace backend of a
 * root daemon (one of its sandboxes runs as its own unprivileged host uid).
 *
 *   agentd-idmap mount --fd N --target PATH --uid DISK:HOST --gid DISK:HOST [--ro]
 *   agentd-idmap mount-image USERNS_FILE SOURCE TARGET
 *   agentd-idmap umount PATH
 *
 * mount: clones the mount tree of descriptor N (an O_PATH descriptor the daemon opened and
 * checked, so no path is looked up again: a rename or symlink swap of the host path after the
 * check cannot change what is mounted), gives the clone an id mapping in which exactly one
 * user and one group exist (files owned by DISK on the disk are seen as HOST, and files HOST
 * creates are written as DISK; every other id on the disk is seen as the overflow id and no
 * other id can be written), marks it nosuid, nodev (and read-only with --ro), private, and
 * attaches it at TARGET (a folder or file the daemon made; opened O_NOFOLLOW).
 * mount-image: mounts SOURCE (an image's root file system in the daemon's own store) at TARGET
 * read-only, nosuid, nodev, idmapped through the maps of the user namespace USERNS_FILE
 * (/proc/PID/ns/user): an image stored with files of uid 0 is seen, in one sandbox, as owned
 * by that sandbox's root-inside host uid; the image itself is never written.
 * umount: detaches the mount at PATH (MNT_DETACH, UMOUNT_NOFOLLOW); not mounted is success.
 *
 * Kernel >= 5.12 (open_tree, mount_setattr, move_mount); the file system must support idmapped
 * mounts (ext4, xfs, btrfs, tmpfs >= 6.3, ...). Errors: one line on stderr, exit 1 (bad use: 2).
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/mount.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef MOUNT_ATTR_IDMAP
#define MOUNT_ATTR_IDMAP 0x00100000
#endif
#ifndef AT_RECURSIVE
#define AT_RECURSIVE 0x8000
#endif
#ifndef UMOUNT_NOFOLLOW
#define UMOUNT_NOFOLLOW 0x00000008
#endif
#ifndef MNT_DETACH
#define MNT_DETACH 0x00000002
#endif

static void die(const char *what)
{
	fprintf(stderr, "agentd-idmap: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void usage(void)
{
	fputs("usage: agentd-idmap mount --fd N --target PATH --uid DISK:HOST --gid DISK:HOST [--ro]\n"
	      "       agentd-idmap mount-image USERNS_FILE SOURCE TARGET\n"
	      "       agentd-idmap umount PATH\n", stderr);
	exit(2);
}

/* "DISK:HOST", both decimal ids below 2^32-1. */
static void parse_pair(const char *s, unsigned long *disk, unsigned long *host)
{
	char *end;
	errno = 0;
	*disk = strtoul(s, &end, 10);
	if (errno || end == s || *end != ':' || *disk >= UINT32_MAX) usage();
	const char *h = end + 1;
	*host = strtoul(h, &end, 10);
	if (errno || end == h || *end != '\0' || *host >= UINT32_MAX) usage();
}

static void write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0) die(path);
	ssize_t n = write(fd, text, strlen(text));
	if (n != (ssize_t)strlen(text)) die(path);
	close(fd);
}

/*
 * A user namespace whose only ids are DISK -> HOST (uid and gid): a child unshares it and
 * waits; the maps are written from here (root in the initial namespace may map any id), its
 * /proc/PID/ns/user opened, then the child is killed. The namespace lives on through the fd.
 */
static int make_userns(unsigned long udisk, unsigned long uhost, unsigned long gdisk, unsigned long ghost)
{
	int ready[2], hold[2];
	if (pipe2(ready, O_CLOEXEC) < 0 || pipe2(hold, O_CLOEXEC) < 0) die("pipe");
	pid_t pid = fork();
	if (pid < 0) die("fork");
	if (pid == 0) {
		char c = 0;
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (unshare(CLONE_NEWUSER) < 0) _exit(1);
		if (write(ready[1], &c, 1) != 1) _exit(1);
		/* Blocks until the parent is done (its end closes) or kills us. */
		(void)!read(hold[0], &c, 1);
		_exit(0);
	}
	close(ready[1]);
	close(hold[0]);
	char c;
	if (read(ready[0], &c, 1) != 1) {
		errno = ECHILD;
		die("unshare(CLONE_NEWUSER) in the helper's child");
	}
	char path[64], line[64];
	snprintf(line, sizeof line, "%lu %lu 1\n", udisk, uhost);
	snprintf(path, sizeof path, "/proc/%d/uid_map", (int)pid);
	write_file(path, line);
	snprintf(path, sizeof path, "/proc/%d/setgroups", (int)pid);
	write_file(path, "deny\n");
	snprintf(line, sizeof line, "%lu %lu 1\n", gdisk, ghost);
	snprintf(path, sizeof path, "/proc/%d/gid_map", (int)pid);
	write_file(path, line);
	snprintf(path, sizeof path, "/proc/%d/ns/user", (int)pid);
	int ns = open(path, O_RDONLY | O_CLOEXEC);
	if (ns < 0) die(path);
	kill(pid, SIGKILL);
	close(hold[1]);
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {}
	return ns;
}

/*
 * Gives the detached mount `tree` the id mapping of user namespace `ns`, nosuid, nodev, private
 * and `extra` attributes (`recursive`: AT_RECURSIVE or 0), and attaches it at `target` (opened
 * O_PATH | O_NOFOLLOW | `target_flags`). Dies with a message on any failure.
 */
static void attach_idmapped(int tree, int ns, uint64_t extra, unsigned recursive, const char *target, int target_flags)
{
	struct mount_attr attr;
	memset(&attr, 0, sizeof attr);
	attr.attr_set = MOUNT_ATTR_IDMAP | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | extra;
	attr.userns_fd = (uint64_t)ns;
	attr.propagation = MS_PRIVATE;
	if (syscall(SYS_mount_setattr, tree, "", AT_EMPTY_PATH | recursive, &attr, sizeof attr) < 0)
		die("mount_setattr(MOUNT_ATTR_IDMAP) (does the file system support idmapped mounts?)");
	int dst = open(target, O_PATH | O_NOFOLLOW | O_CLOEXEC | target_flags);
	if (dst < 0) die(target);
	if (syscall(SYS_move_mount, tree, "", dst, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0) die("move_mount");
}

static int do_mount(int argc, char **argv)
{
	int src = -1, ro = 0, have_uid = 0, have_gid = 0;
	const char *target = NULL;
	unsigned long udisk = 0, uhost = 0, gdisk = 0, ghost = 0;
	for (int i = 2; i < argc; i++) {
		if (strcmp(argv[i], "--ro") == 0) { ro = 1; continue; }
		if (i + 1 >= argc) usage();
		if (strcmp(argv[i], "--fd") == 0) {
			char *end;
			long v = strtol(argv[++i], &end, 10);
			if (*end != '\0' || v < 0 || v > 1 << 20) usage();
			src = (int)v;
		} else if (strcmp(argv[i], "--target") == 0) {
			target = argv[++i];
		} else if (strcmp(argv[i], "--uid") == 0) {
			parse_pair(argv[++i], &udisk, &uhost);
			have_uid = 1;
		} else if (strcmp(argv[i], "--gid") == 0) {
			parse_pair(argv[++i], &gdisk, &ghost);
			have_gid = 1;
		} else {
			usage();
		}
	}
	if (src < 0 || target == NULL || !have_uid || !have_gid) usage();

	int ns = make_userns(udisk, uhost, gdisk, ghost);
	/* A copy of the pinned object's mount tree, not attached anywhere yet. */
	int tree = (int)syscall(SYS_open_tree, src, "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH | AT_RECURSIVE);
	if (tree < 0) die("open_tree(OPEN_TREE_CLONE) of the pinned host path");
	attach_idmapped(tree, ns, ro ? MOUNT_ATTR_RDONLY : 0, AT_RECURSIVE, target, 0);
	return 0;
}

static int do_mount_image(int argc, char **argv)
{
	if (argc != 5) usage();
	int ns = open(argv[2], O_RDONLY | O_CLOEXEC);
	if (ns < 0) die(argv[2]);
	int tree = (int)syscall(SYS_open_tree, AT_FDCWD, argv[3], OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_SYMLINK_NOFOLLOW);
	if (tree < 0) die("open_tree(OPEN_TREE_CLONE) of the image");
	attach_idmapped(tree, ns, MOUNT_ATTR_RDONLY, 0, argv[4], O_DIRECTORY);
	return 0;
}

static int do_umount(int argc, char **argv)
{
	if (argc != 3) usage();
	if (syscall(SYS_umount2, argv[2], MNT_DETACH | UMOUNT_NOFOLLOW) < 0 && errno != EINVAL && errno != ENOENT) die(argv[2]);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 2) usage();
	if (strcmp(argv[1], "mount") == 0) return do_mount(argc, argv);
	if (strcmp(argv[1], "mount-image") == 0) return do_mount_image(argc, argv);
	if (strcmp(argv[1], "umount") == 0) return do_umount(argc, argv);
	usage();
	return 2;
}
