#include "seccomp_file.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

/* The largest classic BPF program the kernel takes (BPF_MAXINSNS instructions). */
#define MAX_BYTES (BPF_MAXINSNS * sizeof(struct sock_filter))

/*
 * --seccomp-file PATH (the oci and gvisor backends): the init installs the compiled filter
 * itself, first thing, so a runtime that cannot load a raw BPF program (runc, crun, runsc take
 * only their JSON rule language) still runs the sandbox under the very filter bwrap loads for
 * the namespace backend. no_new_privs is set first (the runtime set it too); the filter then
 * holds for the init and everything it starts. Any failure is fatal: no sandbox without it.
 */
int seccomp_file_load(const char *path)
{
	static struct sock_filter prog[BPF_MAXINSNS];
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		fprintf(stderr, "agentd-init: --seccomp-file %s: %s\n", path, strerror(errno));
		return -1;
	}
	size_t len = 0;
	for (;;) {
		ssize_t n = read(fd, (char *)prog + len, MAX_BYTES - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			fprintf(stderr, "agentd-init: --seccomp-file %s: %s\n", path, strerror(errno));
			close(fd);
			return -1;
		}
		if (n == 0)
			break;
		len += (size_t)n;
		if (len == MAX_BYTES) {
			char extra;
			if (read(fd, &extra, 1) != 0) {
				fprintf(stderr, "agentd-init: --seccomp-file %s: larger than %zu bytes\n", path, (size_t)MAX_BYTES);
				close(fd);
				return -1;
			}
			break;
		}
	}
	close(fd);
	if (len == 0 || len % sizeof(struct sock_filter) != 0) {
		fprintf(stderr, "agentd-init: --seccomp-file %s: not a BPF program (%zu bytes)\n", path, len);
		return -1;
	}
	struct sock_fprog fprog = { .len = (unsigned short)(len / sizeof(struct sock_filter)), .filter = prog };
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 || prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &fprog, 0, 0) < 0) {
		fprintf(stderr, "agentd-init: --seccomp-file %s: cannot install: %s\n", path, strerror(errno));
		return -1;
	}
	return 0;
}
