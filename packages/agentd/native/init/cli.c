#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fsuid.h>
#include <sys/prctl.h>
#include <linux/close_range.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "agent.h"
#include "landlock.h"
#include "launch.h"
#include "loop.h"
#include "net.h"
#include "proto.h"
#include "seccomp_file.h"

#define USAGE                                                        \
	"usage: agentd-init [--fs-root DIR] [--subreaper] [--no-shepherd-subreaper] [--fs-uid ID] [--net-dir DIR [--proxy-port N]] [--seccomp-file BPF]\n"             \
	"       agentd-init --launch [--cgroup-procs FILE]... [--rlimit NAME=SOFT[:HARD]]... [--nice N] -- PROGRAM ARGS...\n"

/*
 * fds 0-2 must exist, or a pipe created later could land on them; every other inherited
 * fd is marked close-on-exec so no process the init starts can inherit it (it may be a
 * descriptor of the daemon's, e.g. a host directory).
 */
static void sanitize_fds(void)
{
	for (int fd = 0; fd < 3; fd++) {
		if (fcntl(fd, F_GETFD) >= 0)
			continue;
		int n = open("/dev/null", O_RDWR);
		if (n >= 0 && n != fd)
			close(n);
	}
	if (syscall(SYS_close_range, 3u, ~0u, CLOSE_RANGE_CLOEXEC) < 0) {
		for (int fd = 3; fd < 1024; fd++) {
			int fl = fcntl(fd, F_GETFD);
			if (fl >= 0)
				fcntl(fd, F_SETFD, fl | FD_CLOEXEC);
		}
	}
}

int cli_run(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "--launch") == 0)
		return launch_main(argc, argv);
	if (argc == 2 && strcmp(argv[1], "--landlock-abi") == 0) {
		/* The kernel's Landlock ABI (0: none), for the linux-native backend's probe. */
		printf("%d\n", ll_abi());
		return 0;
	}
	struct agent_options opt = { 0 };
	struct net_options net = { 0 };
	/*
	 * --fs-uid ID: an init running as root inside (a sandbox with an image) does its file
	 * operations as ID (uid and gid), i.e. as the unprivileged sandbox user: files the API
	 * writes belong to that user and root's files stay out of its reach. Commands are not
	 * affected (execve sets the file-system ids from the effective ones).
	 */
	long fs_uid = -1;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--fs-uid") == 0 && i + 1 < argc) {
			char *end;
			fs_uid = strtol(argv[++i], &end, 10);
			if (*end || fs_uid < 0 || fs_uid > 65535) {
				fprintf(stderr, "agentd-init: --fs-uid %s: expected 0..65535\n", argv[i]);
				return 2;
			}
		} else if (strcmp(argv[i], "--seccomp-file") == 0 && i + 1 < argc) {
			/* Installed as soon as it is parsed (the backends pass it first): see seccomp_file.c. */
			if (seccomp_file_load(argv[++i]) < 0)
				return 1;
		} else if (strcmp(argv[i], "--fs-root") == 0 && i + 1 < argc) {
			opt.fs_root = argv[++i];
		} else if (strcmp(argv[i], "--net-dir") == 0 && i + 1 < argc) {
			net.dir = argv[++i];
		} else if (strcmp(argv[i], "--proxy-port") == 0 && i + 1 < argc) {
			char *end;
			long p = strtol(argv[++i], &end, 10);
			if (*end || p < 1 || p > 65535) {
				fprintf(stderr, "agentd-init: bad --proxy-port %s\n", argv[i]);
				return 2;
			}
			net.proxy_port = (uint16_t)p;
		} else if (strcmp(argv[i], "--subreaper") == 0) {
			opt.subreaper = true;
		} else if (strcmp(argv[i], "--no-shepherd-subreaper") == 0) {
			opt.no_shepherd_subreaper = true;
		} else if (strcmp(argv[i], "--version") == 0) {
			puts(AGENTD_INIT_VERSION);
			return 0;
		} else if (strcmp(argv[i], "--help") == 0) {
			fputs(USAGE, stdout);
			return 0;
		} else {
			fprintf(stderr, "agentd-init: bad argument %s\n%s", argv[i], USAGE);
			return 2;
		}
	}
	/*
	 * Without subreaper shepherds, a command's orphans are reparented to the nearest
	 * subreaper ancestor: that must be the init, which reaps them and finds them by their
	 * session and process group (proctree.c), never a process outside the sandbox.
	 */
	if (opt.no_shepherd_subreaper && getpid() != 1 && !opt.subreaper) {
		fprintf(stderr, "agentd-init: --no-shepherd-subreaper needs the init to be PID 1 of its pid namespace (or --subreaper)\n");
		return 2;
	}
	sanitize_fds();
	int sigfd = loop_setup(opt.subreaper);
	if (sigfd < 0) {
		fprintf(stderr, "agentd-init: setup: %s\n", strerror(errno));
		return 1;
	}
	struct agent a;
	int err = agent_init(&a, &opt, NULL, NULL);
	if (err) {
		fprintf(stderr, "agentd-init: --fs-root %s: %s\n", opt.fs_root ? opt.fs_root : "/", strerror(err));
		agent_free(&a);
		return 1;
	}
	/*
	 * Not dumpable from here on (after agent_init opened /proc/self/oom_score_adj, which
	 * then becomes root-owned): a command of the same uid can neither ptrace the init nor
	 * open its /proc/1/mem, environ or fd/N nor change its /proc/1/oom_score_adj. execve
	 * resets the flag, so it is set here, in the init itself; the shepherds forked from
	 * it inherit it, the commands they execve do not.
	 */
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0) {
		fprintf(stderr, "agentd-init: PR_SET_DUMPABLE: %s\n", strerror(errno));
		agent_free(&a);
		return 1;
	}
	err = net_start(&a, &net);
	if (err) {
		fprintf(stderr, "agentd-init: network relay (127.0.0.1:%u): %s\n", (unsigned)net.proxy_port, strerror(err));
		agent_free(&a);
		return 1;
	}
	if (fs_uid >= 0) {
		/* No supplementary group (root's 0 among them) may widen what the file operations reach. */
		if (syscall(SYS_setgroups, 0, NULL) < 0) { /* (grp.h's struct group clashes with ours) */
			fprintf(stderr, "agentd-init: --fs-uid: setgroups: %s\n", strerror(errno));
			agent_free(&a);
			return 1;
		}
		setfsgid((gid_t)fs_uid);
		setfsuid((uid_t)fs_uid);
		if ((long)setfsuid((uid_t)-1) != fs_uid) {
			/* gVisor's kernel has no setfsuid (it answers only the query): the same ids,
			 * as the effective ones, around each file operation (agent_fs_ids), tried once
			 * here so a kernel that refuses that too stops the init now. */
			a.fs_euid = fs_uid;
			if (agent_fs_ids(&a, true) != 0) {
				fprintf(stderr, "agentd-init: --fs-uid %ld: not applied (neither setfsuid nor setresuid)\n", fs_uid);
				agent_free(&a);
				return 1;
			}
			agent_fs_ids(&a, false);
		}
	}
	int code = loop_run(&a, sigfd);
	agent_free(&a);
	close(sigfd);
	return code;
}
