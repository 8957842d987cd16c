#include "launch.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <grp.h>
#include <sys/resource.h>
#include <unistd.h>

#include "landlock.h"

#define LAUNCH_FAILED 127

static int fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int fail(const char *fmt, ...)
{
	va_list ap;
	fputs("agentd-init --launch: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return LAUNCH_FAILED;
}

static const struct {
	const char *name;
	int resource;
} LIMITS[] = {
	{ "nofile", RLIMIT_NOFILE }, { "core", RLIMIT_CORE },   { "nproc", RLIMIT_NPROC },
	{ "as", RLIMIT_AS },         { "fsize", RLIMIT_FSIZE }, { "cpu", RLIMIT_CPU },
	{ "stack", RLIMIT_STACK },   { "memlock", RLIMIT_MEMLOCK },
};

/* "unlimited" or a decimal number. */
static bool parse_limit(const char *s, rlim_t *out)
{
	if (strcmp(s, "unlimited") == 0) {
		*out = RLIM_INFINITY;
		return true;
	}
	if (*s < '0' || *s > '9')
		return false;
	errno = 0;
	char *end;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || *end)
		return false;
	*out = (rlim_t)v;
	return true;
}

/* NAME=SOFT[:HARD]; a single value sets both (like prlimit). */
static int apply_rlimit(const char *spec)
{
	const char *eq = strchr(spec, '=');
	if (!eq)
		return fail("--rlimit %s: expected NAME=SOFT[:HARD]", spec);
	size_t nl = (size_t)(eq - spec);
	int resource = -1;
	for (size_t i = 0; i < sizeof LIMITS / sizeof LIMITS[0]; i++)
		if (strlen(LIMITS[i].name) == nl && strncmp(LIMITS[i].name, spec, nl) == 0)
			resource = LIMITS[i].resource;
	if (resource < 0)
		return fail("--rlimit %s: unknown limit (nofile, core, nproc, as, fsize, cpu, stack, memlock)", spec);
	char buf[64];
	if (strlen(eq + 1) >= sizeof buf)
		return fail("--rlimit %s: value too long", spec);
	strcpy(buf, eq + 1);
	char *colon = strchr(buf, ':');
	if (colon)
		*colon = 0;
	struct rlimit rl;
	if (!parse_limit(buf, &rl.rlim_cur) || !parse_limit(colon ? colon + 1 : buf, &rl.rlim_max))
		return fail("--rlimit %s: expected a number or \"unlimited\"", spec);
	if (rl.rlim_cur > rl.rlim_max)
		return fail("--rlimit %s: soft limit above hard limit", spec);
	if (setrlimit(resource, &rl) < 0)
		return fail("--rlimit %s: %s", spec, strerror(errno));
	return 0;
}

static int write_pid(const char *file)
{
	char buf[32];
	int n = snprintf(buf, sizeof buf, "%d\n", (int)getpid());
	int fd = open(file, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return fail("--cgroup-procs %s: %s", file, strerror(errno));
	ssize_t w = write(fd, buf, (size_t)n);
	int err = errno;
	close(fd);
	if (w != n)
		return fail("--cgroup-procs %s: %s", file, w < 0 ? strerror(err) : "short write");
	return 0;
}

/* A uid or gid: a decimal number below 2^32-1 (which means "unchanged" to the kernel). */
static bool parse_id(const char *s, unsigned *out)
{
	if (*s < '0' || *s > '9')
		return false;
	errno = 0;
	char *end;
	unsigned long v = strtoul(s, &end, 10);
	if (errno || *end || v >= 0xffffffffUL)
		return false;
	*out = (unsigned)v;
	return true;
}

/* Drops to uid/gid with no supplementary groups, after everything that needs privileges. */
static int drop_ids(bool have_uid, unsigned uid, bool have_gid, unsigned gid)
{
	if (have_gid != have_uid)
		return fail("--uid and --gid go together");
	if (!have_uid)
		return 0;
	if (setgroups(0, NULL) < 0)
		return fail("setgroups: %s", strerror(errno));
	if (setresgid(gid, gid, gid) < 0)
		return fail("--gid %u: %s", gid, strerror(errno));
	if (setresuid(uid, uid, uid) < 0)
		return fail("--uid %u: %s", uid, strerror(errno));
	if (uid != 0 && setuid(0) == 0)
		return fail("--uid %u: privileges could be regained", uid);
	return 0;
}

/* NAME=CLASS split at the last '=' (a path may hold '='). */
static bool split_rule(const char *val, char *name, size_t cap, const char **cls)
{
	const char *eq = strrchr(val, '=');
	if (!eq || eq == val || (size_t)(eq - val) >= cap)
		return false;
	memcpy(name, val, (size_t)(eq - val));
	name[eq - val] = 0;
	*cls = eq + 1;
	return true;
}

/* --landlock PATH=CLASS, --landlock-fd N=CLASS, --landlock-net MODE, --seccomp-fd N (linux-native, landlock.h). */
static int landlock_option(struct ll_rules **rules, int *seccomp_fd, const char *arg, const char *val)
{
	char err[512], name[4096];
	const char *cls;
	if (!*rules && !(*rules = ll_new()))
		return fail("out of memory");
	if (strcmp(arg, "--seccomp-fd") == 0) {
		char *end;
		long fd = strtol(val, &end, 10);
		if (*end || !*val || fd < 3 || fd > 65535 || fcntl((int)fd, F_GETFD) < 0)
			return fail("--seccomp-fd %s: not an open descriptor", val);
		fcntl((int)fd, F_SETFD, FD_CLOEXEC);
		*seccomp_fd = (int)fd;
		return 0;
	}
	int rc;
	if (strcmp(arg, "--landlock-net") == 0) {
		rc = ll_set_net(*rules, val, err, sizeof err);
	} else {
		if (!split_rule(val, name, sizeof name, &cls))
			return fail("%s %s: expected %s=CLASS", arg, val, strcmp(arg, "--landlock") == 0 ? "PATH" : "FD");
		if (strcmp(arg, "--landlock") == 0) {
			rc = ll_add_path(*rules, name, cls, err, sizeof err);
		} else {
			char *end;
			long fd = strtol(name, &end, 10);
			if (*end || fd < 0 || fd > 65535)
				return fail("%s %s: expected FD=CLASS", arg, val);
			rc = ll_add_fd(*rules, (int)fd, cls, err, sizeof err);
		}
	}
	return rc < 0 ? fail("%s", err) : 0;
}

int launch_main(int argc, char **argv)
{
	struct ll_rules *rules = NULL;
	int seccomp_fd = -1;
	bool have_uid = false, have_gid = false;
	unsigned uid = 0, gid = 0;
	int i = 2;
	for (; i < argc; i++) {
		const char *arg = argv[i];
		if (strcmp(arg, "--") == 0) {
			i++;
			break;
		}
		if (i + 1 >= argc)
			return fail("%s: missing value", arg);
		const char *val = argv[++i];
		int rc = 0;
		if (strcmp(arg, "--cgroup-procs") == 0) {
			rc = write_pid(val);
		} else if (strcmp(arg, "--rlimit") == 0) {
			rc = apply_rlimit(val);
		} else if (strcmp(arg, "--nice") == 0) {
			char *end;
			errno = 0;
			long n = strtol(val, &end, 10);
			if (errno || *end || !*val || n < -20 || n > 19)
				return fail("--nice %s: expected -20..19", val);
			if (setpriority(PRIO_PROCESS, 0, (int)n) < 0)
				return fail("--nice %s: %s", val, strerror(errno));
		} else if (strcmp(arg, "--uid") == 0) {
			if (!parse_id(val, &uid))
				return fail("--uid %s: expected a numeric uid", val);
			have_uid = true;
		} else if (strcmp(arg, "--gid") == 0) {
			if (!parse_id(val, &gid))
				return fail("--gid %s: expected a numeric gid", val);
			have_gid = true;
		} else if (strcmp(arg, "--landlock") == 0 || strcmp(arg, "--landlock-fd") == 0 || strcmp(arg, "--landlock-net") == 0 || strcmp(arg, "--seccomp-fd") == 0) {
			rc = landlock_option(&rules, &seccomp_fd, arg, val);
		} else {
			return fail("unknown option %s", arg);
		}
		if (rc)
			return rc;
	}
	if (i >= argc)
		return fail("no program given (expected -- PROGRAM ARGS...)");
	int rc = drop_ids(have_uid, uid, have_gid, gid);
	if (rc)
		return rc;
	if (rules) {
		/* After the drop: Landlock, no_new_privs and seccomp hold for everything exec'd from here. */
		char err[512];
		if (ll_apply(rules, seccomp_fd, err, sizeof err) < 0)
			return fail("%s", err);
		free(rules);
	}
	execvp(argv[i], argv + i);
	return fail("cannot execute %s: %s", argv[i], strerror(errno));
}
