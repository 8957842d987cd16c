#include "landlock.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

/*
 * The Landlock user API (include/uapi/linux/landlock.h, Documentation/userspace-api/landlock.rst),
 * written out here: the build host's headers may predate ABI 6.
 */
struct ll_ruleset_attr {
	uint64_t handled_access_fs;
	uint64_t handled_access_net;
	uint64_t scoped;
};

struct ll_path_beneath_attr {
	uint64_t allowed_access;
	int32_t parent_fd;
} __attribute__((packed));

#define LL_CREATE_RULESET_VERSION (1U << 0)
#define LL_RULE_PATH_BENEATH 1

#define FS_EXECUTE (1ULL << 0)
#define FS_WRITE_FILE (1ULL << 1)
#define FS_READ_FILE (1ULL << 2)
#define FS_READ_DIR (1ULL << 3)
#define FS_REMOVE_DIR (1ULL << 4)
#define FS_REMOVE_FILE (1ULL << 5)
#define FS_MAKE_CHAR (1ULL << 6)
#define FS_MAKE_DIR (1ULL << 7)
#define FS_MAKE_REG (1ULL << 8)
#define FS_MAKE_SOCK (1ULL << 9)
#define FS_MAKE_FIFO (1ULL << 10)
#define FS_MAKE_BLOCK (1ULL << 11)
#define FS_MAKE_SYM (1ULL << 12)
#define FS_REFER (1ULL << 13)    /* ABI 2 */
#define FS_TRUNCATE (1ULL << 14) /* ABI 3 */
#define FS_IOCTL_DEV (1ULL << 15) /* ABI 5 */

#define NET_BIND_TCP (1ULL << 0)    /* ABI 4 */
#define NET_CONNECT_TCP (1ULL << 1) /* ABI 4 */

#define SCOPE_ABSTRACT_UNIX_SOCKET (1ULL << 0) /* ABI 6 */
#define SCOPE_SIGNAL (1ULL << 1)               /* ABI 6 */

/* Every file-system right of ABI 5 and later: all of them handled, so what no rule grants is denied. */
#define FS_ALL                                                                                          \
	(FS_EXECUTE | FS_WRITE_FILE | FS_READ_FILE | FS_READ_DIR | FS_REMOVE_DIR | FS_REMOVE_FILE |      \
	 FS_MAKE_CHAR | FS_MAKE_DIR | FS_MAKE_REG | FS_MAKE_SOCK | FS_MAKE_FIFO | FS_MAKE_BLOCK |        \
	 FS_MAKE_SYM | FS_REFER | FS_TRUNCATE | FS_IOCTL_DEV)
/* The rights a rule on a non-directory may carry. */
#define FS_FILE (FS_EXECUTE | FS_WRITE_FILE | FS_READ_FILE | FS_TRUNCATE | FS_IOCTL_DEV)

static const struct {
	const char *name;
	uint64_t access;
} CLASSES[] = {
	{ "rx", FS_READ_FILE | FS_READ_DIR | FS_EXECUTE },
	{ "ro", FS_READ_FILE | FS_READ_DIR },
	/* a folder of the sandbox's own: everything but device nodes and device ioctls */
	{ "rwx", FS_ALL & ~(FS_MAKE_CHAR | FS_MAKE_BLOCK | FS_IOCTL_DEV) },
	{ "dev", FS_READ_FILE | FS_WRITE_FILE | FS_READ_DIR | FS_IOCTL_DEV },
	{ "proc", FS_READ_FILE | FS_READ_DIR | FS_WRITE_FILE },
};

#define MAX_RULES 256

struct ll_rules {
	int fds[MAX_RULES];
	uint64_t access[MAX_RULES];
	size_t n;
	bool net_none;
	bool net_set;
};

static int say(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int say(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -1;
}

int ll_abi(void)
{
	long v = syscall(SYS_landlock_create_ruleset, NULL, 0, LL_CREATE_RULESET_VERSION);
	return v < 0 ? 0 : (int)v;
}

struct ll_rules *ll_new(void)
{
	return calloc(1, sizeof(struct ll_rules));
}

static bool class_of(const char *cls, uint64_t *out)
{
	for (size_t i = 0; i < sizeof CLASSES / sizeof CLASSES[0]; i++)
		if (strcmp(CLASSES[i].name, cls) == 0) {
			*out = CLASSES[i].access;
			return true;
		}
	return false;
}

static int add(struct ll_rules *r, int fd, const char *what, const char *cls, char *err, size_t errlen)
{
	uint64_t access;
	if (!class_of(cls, &access)) {
		close(fd);
		return say(err, errlen, "%s: unknown access class %s (rx, ro, rwx, dev, proc)", what, cls);
	}
	struct stat st;
	if (fstat(fd, &st) < 0) {
		int e = errno;
		close(fd);
		return say(err, errlen, "%s: %s", what, strerror(e));
	}
	if (S_ISLNK(st.st_mode)) {
		close(fd);
		return say(err, errlen, "%s: is a symbolic link (rules name what they mean, never a link)", what);
	}
	if (!S_ISDIR(st.st_mode))
		access &= FS_FILE;
	if (r->n >= MAX_RULES) {
		close(fd);
		return say(err, errlen, "%s: more than %d rules", what, MAX_RULES);
	}
	r->fds[r->n] = fd;
	r->access[r->n] = access;
	r->n++;
	return 0;
}

int ll_add_path(struct ll_rules *r, const char *path, const char *cls, char *err, size_t errlen)
{
	int fd = open(path, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return say(err, errlen, "--landlock %s: %s", path, strerror(errno));
	char what[64 + 4096];
	snprintf(what, sizeof what, "--landlock %s", path);
	return add(r, fd, what, cls, err, errlen);
}

int ll_add_fd(struct ll_rules *r, int fd, const char *cls, char *err, size_t errlen)
{
	char what[64];
	snprintf(what, sizeof what, "--landlock-fd %d", fd);
	if (fd < 3 || fcntl(fd, F_GETFD) < 0)
		return say(err, errlen, "%s: not an open descriptor", what);
	fcntl(fd, F_SETFD, FD_CLOEXEC);
	return add(r, fd, what, cls, err, errlen);
}

int ll_set_net(struct ll_rules *r, const char *mode, char *err, size_t errlen)
{
	if (strcmp(mode, "none") == 0)
		r->net_none = true;
	else if (strcmp(mode, "host") == 0)
		r->net_none = false;
	else
		return say(err, errlen, "--landlock-net %s: expected none or host", mode);
	r->net_set = true;
	return 0;
}

static void close_rules(struct ll_rules *r)
{
	for (size_t i = 0; i < r->n; i++)
		close(r->fds[i]);
	r->n = 0;
}

/* A compiled classic-BPF filter (seccomp-gen's output) from `fd`, loaded for this process. */
static int load_seccomp(int fd, char *err, size_t errlen)
{
	struct sock_filter prog[4096];
	size_t got = 0;
	for (;;) {
		ssize_t n = read(fd, (char *)prog + got, sizeof prog - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return say(err, errlen, "--seccomp-fd %d: %s", fd, strerror(errno));
		if (n == 0)
			break;
		got += (size_t)n;
		if (got == sizeof prog)
			return say(err, errlen, "--seccomp-fd %d: filter too long", fd);
	}
	close(fd);
	if (got == 0 || got % sizeof(struct sock_filter) != 0)
		return say(err, errlen, "--seccomp-fd %d: not a compiled BPF filter (%zu bytes)", fd, got);
	struct sock_fprog fprog = { .len = (unsigned short)(got / sizeof(struct sock_filter)), .filter = prog };
	if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &fprog) < 0)
		return say(err, errlen, "seccomp: %s", strerror(errno));
	return 0;
}

int ll_apply(struct ll_rules *r, int seccomp_fd, char *err, size_t errlen)
{
	int abi = ll_abi();
	if (abi < LL_MIN_ABI) {
		int e = errno;
		close_rules(r);
		if (abi == 0)
			return say(err, errlen, "Landlock is not available (%s): the rules cannot be enforced", strerror(e));
		return say(err, errlen, "Landlock ABI %d is lower than %d, which the rules need (scoped signals and abstract sockets)", abi, LL_MIN_ABI);
	}
	if (!r->net_set) {
		close_rules(r);
		return say(err, errlen, "--landlock-net is required (none or host)");
	}
	struct ll_ruleset_attr attr = {
		.handled_access_fs = FS_ALL,
		.handled_access_net = r->net_none ? (NET_BIND_TCP | NET_CONNECT_TCP) : 0,
		.scoped = SCOPE_ABSTRACT_UNIX_SOCKET | SCOPE_SIGNAL,
	};
	int rs = (int)syscall(SYS_landlock_create_ruleset, &attr, sizeof attr, 0);
	if (rs < 0) {
		int e = errno;
		close_rules(r);
		return say(err, errlen, "landlock_create_ruleset: %s", strerror(e));
	}
	for (size_t i = 0; i < r->n; i++) {
		struct ll_path_beneath_attr pb = { .allowed_access = r->access[i], .parent_fd = r->fds[i] };
		if (syscall(SYS_landlock_add_rule, rs, LL_RULE_PATH_BENEATH, &pb, 0) < 0) {
			int e = errno;
			close(rs);
			close_rules(r);
			return say(err, errlen, "landlock_add_rule (rule %zu): %s", i + 1, strerror(e));
		}
	}
	close_rules(r);
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
		int e = errno;
		close(rs);
		return say(err, errlen, "no_new_privs: %s", strerror(e));
	}
	if (syscall(SYS_landlock_restrict_self, rs, 0) < 0) {
		int e = errno;
		close(rs);
		return say(err, errlen, "landlock_restrict_self: %s", strerror(e));
	}
	close(rs);
	if (seccomp_fd >= 0)
		return load_seccomp(seccomp_fd, err, errlen);
	return 0;
}
