/*
 * agentd-idmap-mount USERNS_FILE SOURCE TARGET
 *
 * Mounts SOURCE at TARGET read-only, nosuid, nodev, as an idmapped mount: ownership on disk
 * is seen through the uid/gid maps of the user namespace USERNS_FILE (/proc/PID/ns/user).
 * The namespace backend uses it for an image's root file system: an image stored with files
 * of uid 0 is seen, in one sandbox, as owned by that sandbox's root-inside host uid, so root
 * inside may change those files (in its own overlay layer) and nothing else. The image
 * itself is never written: the mount is read-only. util-linux 2.38 (Debian 12) has no
 * X-mount.idmap, hence this helper (open_tree, mount_setattr, move_mount; Linux >= 5.12).
 * Exit 0 on success; 1 with a message on stderr otherwise. Run by the root daemon only.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/mount.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

static int fail(const char *what, const char *arg) {
    fprintf(stderr, "agentd-idmap-mount: %s %s: %s\n", what, arg, strerror(errno));
    return 1;
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: agentd-idmap-mount USERNS_FILE SOURCE TARGET\n");
        return 2;
    }
    int userns = open(argv[1], O_RDONLY | O_CLOEXEC);
    if (userns < 0) return fail("open", argv[1]);
    int tree = (int)syscall(SYS_open_tree, AT_FDCWD, argv[2], OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_SYMLINK_NOFOLLOW);
    if (tree < 0) return fail("open_tree", argv[2]);
    struct mount_attr attr;
    memset(&attr, 0, sizeof attr);
    attr.attr_set = MOUNT_ATTR_IDMAP | MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV;
    attr.userns_fd = (unsigned long long)userns;
    if (syscall(SYS_mount_setattr, tree, "", AT_EMPTY_PATH, &attr, sizeof attr) != 0) return fail("mount_setattr (idmap) on", argv[2]);
    int target = open(argv[3], O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (target < 0) return fail("open", argv[3]);
    if (syscall(SYS_move_mount, tree, "", target, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) != 0) return fail("move_mount to", argv[3]);
    return 0;
}
