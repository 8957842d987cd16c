/*
 * seccomp-gen: writes the namespace backend's baseline seccomp filter as compiled
 * classic BPF (the format bwrap's `--seccomp FD` loads).
 *
 *   seccomp-gen OUT.bpf        write the filter
 *   seccomp-gen --pfc          print the filter in libseccomp's readable form (for review)
 *
 * Policy: allow by default, deny a list of calls that either reach kernel attack surface a
 * sandboxed command never needs, or would let it leave or inspect its sandbox. Every rule
 * is listed with its reason in docs/security.md; keep the two in step.
 * Any syscall made through a foreign ABI (32-bit x86 `int 0x80`, x32) kills the process:
 * the filter below only describes the native ABI, so a foreign one must not pass unchecked.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif
#ifndef AF_VSOCK
#define AF_VSOCK 40
#endif

/* personality(2) flags that weaken the process's memory protections (ASLR, W^X, NULL page). */
#define PER_ADDR_NO_RANDOMIZE 0x0040000UL
#define PER_MMAP_PAGE_ZERO 0x0100000UL
#define PER_ADDR_COMPAT_LAYOUT 0x0200000UL
#define PER_READ_IMPLIES_EXEC 0x0400000UL
#define PER_QUERY 0xffffffffUL

struct deny {
  const char *name;
  int err;
};

/* Denied outright, whatever the arguments. */
static const struct deny DENY_ALWAYS[] = {
    /* looking into or controlling other processes */
    {"ptrace", EPERM},
    {"process_vm_readv", EPERM},
    {"process_vm_writev", EPERM},
    {"process_madvise", EPERM},
    {"pidfd_getfd", EPERM},
    {"kcmp", EPERM},
    /* changing the mount tree (the sandbox's view of the file system) */
    {"mount", EPERM},
    {"umount2", EPERM},
    {"pivot_root", EPERM},
    {"chroot", EPERM},
    {"fsopen", EPERM},
    {"fsconfig", EPERM},
    {"fsmount", EPERM},
    {"fspick", EPERM},
    {"move_mount", EPERM},
    {"open_tree", EPERM},
    {"mount_setattr", EPERM},
    /* joining other namespaces */
    {"setns", EPERM},
    /* the kernel itself: modules, kexec, BPF, perf, keys, reboot, swap, accounting, log */
    {"init_module", EPERM},
    {"finit_module", EPERM},
    {"delete_module", EPERM},
    {"kexec_load", EPERM},
    {"kexec_file_load", EPERM},
    {"bpf", EPERM},
    {"perf_event_open", EPERM},
    {"keyctl", EPERM},
    {"add_key", EPERM},
    {"request_key", EPERM},
    {"reboot", EPERM},
    {"swapon", EPERM},
    {"swapoff", EPERM},
    {"acct", EPERM},
    {"syslog", EPERM},
    {"quotactl", EPERM},
    {"quotactl_fd", EPERM},
    {"lookup_dcookie", EPERM},
    {"fanotify_init", EPERM},
    {"uselib", EPERM},
    {"iopl", EPERM},
    {"ioperm", EPERM},
    /* large, often-exploited interfaces a command does not need */
    {"userfaultfd", EPERM},
    {"io_uring_setup", EPERM},
    {"io_uring_enter", EPERM},
    {"io_uring_register", EPERM},
    {"open_by_handle_at", EPERM},
    {"name_to_handle_at", EPERM},
    /* the clock is the host's */
    {"settimeofday", EPERM},
    {"clock_settime", EPERM},
    {"clock_adjtime", EPERM},
    {"adjtimex", EPERM},
    /* clone3 passes its flags in memory, where a filter cannot read them: answer ENOSYS so
     * libc falls back to clone(2), whose flags are checked below. */
    {"clone3", ENOSYS},
};

/* Namespace flags refused in clone(2) and unshare(2). */
static const unsigned long NS_FLAGS[] = {
    CLONE_NEWUSER, CLONE_NEWNS, CLONE_NEWPID, CLONE_NEWNET, CLONE_NEWUTS,
    CLONE_NEWIPC, CLONE_NEWCGROUP, CLONE_NEWTIME,
};

/* Socket families refused (kernel configuration and raw-link interfaces). */
static const int DENIED_FAMILIES[] = {AF_NETLINK, AF_PACKET, AF_VSOCK};

/* personality(2) flags refused. */
static const unsigned long DENIED_PERSONALITY[] = {
    PER_ADDR_NO_RANDOMIZE, PER_MMAP_PAGE_ZERO, PER_ADDR_COMPAT_LAYOUT, PER_READ_IMPLIES_EXEC,
};

/* ioctl(2) requests refused: pushing input into (or rewriting) a terminal the sandbox shares. */
static const unsigned long DENIED_IOCTLS[] = {TIOCSTI, TIOCLINUX};

static int resolve(const char *name) {
  int nr = seccomp_syscall_resolve_name(name);
  if (nr == __NR_SCMP_ERROR) fprintf(stderr, "seccomp-gen: unknown syscall %s\n", name);
  return nr;
}

#define CHECK(expr, what)                                                         \
  do {                                                                            \
    int rc_ = (expr);                                                             \
    if (rc_ < 0) {                                                                \
      fprintf(stderr, "seccomp-gen: %s: %s\n", (what), strerror(-rc_));           \
      return -1;                                                                  \
    }                                                                             \
  } while (0)

static int build(scmp_filter_ctx ctx) {
  CHECK(seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS), "bad-arch action");
  /* a binary search over syscall numbers keeps the cost of an allowed call small */
  CHECK(seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2), "optimize");

  for (size_t i = 0; i < sizeof DENY_ALWAYS / sizeof DENY_ALWAYS[0]; i++) {
    int nr = resolve(DENY_ALWAYS[i].name);
    if (nr == __NR_SCMP_ERROR) return -1;
    CHECK(seccomp_rule_add(ctx, SCMP_ACT_ERRNO(DENY_ALWAYS[i].err), nr, 0), DENY_ALWAYS[i].name);
  }

  for (size_t i = 0; i < sizeof NS_FLAGS / sizeof NS_FLAGS[0]; i++) {
    unsigned long f = NS_FLAGS[i];
    CHECK(seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(clone), 1, SCMP_A0(SCMP_CMP_MASKED_EQ, f, f)), "clone");
    CHECK(seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(unshare), 1, SCMP_A0(SCMP_CMP_MASKED_EQ, f, f)), "unshare");
  }

  for (size_t i = 0; i < sizeof DENIED_FAMILIES / sizeof DENIED_FAMILIES[0]; i++) {
    CHECK(seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EAFNOSUPPORT), SCMP_SYS(socket), 1,
                           SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)DENIED_FAMILIES[i])),
          "socket");
  }

  /* The kernel reads personality's argument as 32 bits: refuse any value with upper bits
   * set (they would hide a flag from the checks below). A dangerous flag is refused unless
   * the value is the query 0xffffffff; a filter rule can hold one comparison per argument,
   * so "flag set and not the query" is written as "flag set and some other bit clear". */
  CHECK(seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(personality), 1, SCMP_A0(SCMP_CMP_GT, PER_QUERY)),
        "personality");
  for (size_t i = 0; i < sizeof DENIED_PERSONALITY / sizeof DENIED_PERSONALITY[0]; i++) {
    unsigned long f = DENIED_PERSONALITY[i];
    for (unsigned bit = 0; bit < 32; bit++) {
      unsigned long g = 1UL << bit;
      if (g == f) continue;
      CHECK(seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(personality), 1, SCMP_A0(SCMP_CMP_MASKED_EQ, f | g, f)),
            "personality flag");
    }
  }

  /* ioctl's request is an unsigned int in the kernel: compare the low 32 bits only. */
  for (size_t i = 0; i < sizeof DENIED_IOCTLS / sizeof DENIED_IOCTLS[0]; i++) {
    CHECK(seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(ioctl), 1,
                           SCMP_A1(SCMP_CMP_MASKED_EQ, 0xffffffffUL, DENIED_IOCTLS[i])),
          "ioctl");
  }
  return 0;
}

/*
 * --owner-guard: the same filter plus rules for a sandbox with an owner-preserving bind mount
 * (an idmapped mount whose files the sandbox writes as the folder's owner, maybe root): no
 * set-user-ID or set-group-ID bit can be set or created, so the sandbox cannot leave a setuid
 * file of that owner on the host. chmod family: mode & 06000 -> EPERM; file creation with a
 * mode argument (open, openat, creat, mknod, mknodat) likewise. openat2 takes its mode in a
 * struct a filter cannot read: it answers ENOSYS (callers fall back to openat, which is
 * checked; agentd-init does so with its file root "/").
 */
#ifndef __NR_fchmodat2
#define __NR_fchmodat2 452
#endif
static int build_owner_guard(scmp_filter_ctx ctx) {
  static const struct { const char *name; int arg; } MODE_ARG[] = {
      {"chmod", 1}, {"fchmod", 1}, {"fchmodat", 2}, {"open", 2}, {"openat", 3}, {"creat", 1}, {"mknod", 1}, {"mknodat", 2},
  };
  static const scmp_datum_t BITS[] = {04000, 02000};
  for (size_t i = 0; i < sizeof MODE_ARG / sizeof MODE_ARG[0]; i++) {
    int nr = resolve(MODE_ARG[i].name);
    if (nr < 0) continue;
    for (size_t b = 0; b < 2; b++) {
      struct scmp_arg_cmp cmp = {(unsigned)MODE_ARG[i].arg, SCMP_CMP_MASKED_EQ, BITS[b], BITS[b]};
      CHECK(seccomp_rule_add_array(ctx, SCMP_ACT_ERRNO(EPERM), nr, 1, &cmp), MODE_ARG[i].name);
    }
  }
  for (size_t b = 0; b < 2; b++)
    CHECK(seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), __NR_fchmodat2, 1, SCMP_A2(SCMP_CMP_MASKED_EQ, BITS[b], BITS[b])), "fchmodat2");
  CHECK(seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(openat2), 0), "openat2");
  return 0;
}

/*
 * --no-sockets: the linux-native backend's filter under network 'none' (no network namespace
 * there: the host's). socket(2) of AF_INET, AF_INET6 and AF_UNIX is refused, which closes what
 * Landlock's TCP rules leave open (UDP, ICMP, raw; connecting to a host's pathname Unix socket,
 * which Landlock ABI 7 does not control), with EACCES ("permission to create a socket of the
 * specified type is denied", socket(2)), the errno Landlock gives a refused TCP connect.
 * socketpair(2) stays allowed: it reaches nobody else.
 */
static int build_no_sockets(scmp_filter_ctx ctx) {
  static const int FAMILIES[] = {AF_UNIX, AF_INET, AF_INET6};
  for (size_t i = 0; i < sizeof FAMILIES / sizeof FAMILIES[0]; i++) {
    CHECK(seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EACCES), SCMP_SYS(socket), 1, SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)FAMILIES[i])),
          "socket (no-sockets)");
  }
  return 0;
}

static int write_bpf(scmp_filter_ctx ctx, const char *out) {
  size_t n = strlen(out);
  char *tmp = malloc(n + 8);
  if (tmp == NULL) return -1;
  snprintf(tmp, n + 8, "%s.tmp", out);
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    perror(tmp);
    free(tmp);
    return -1;
  }
  int rc = seccomp_export_bpf(ctx, fd);
  if (rc < 0) fprintf(stderr, "seccomp-gen: export: %s\n", strerror(-rc));
  if (close(fd) < 0 && rc == 0) rc = -errno;
  if (rc == 0 && rename(tmp, out) < 0) rc = -errno;
  if (rc < 0) unlink(tmp);
  free(tmp);
  return rc < 0 ? -1 : 0;
}

int main(int argc, char **argv) {
  int guard = 0, no_sockets = 0;
  while (argc > 2 && (strcmp(argv[1], "--owner-guard") == 0 || strcmp(argv[1], "--no-sockets") == 0)) {
    if (strcmp(argv[1], "--owner-guard") == 0) guard = 1;
    else no_sockets = 1;
    argv++;
    argc--;
  }
  if (argc != 2) {
    fprintf(stderr, "usage: seccomp-gen [--owner-guard] [--no-sockets] OUT.bpf | --pfc\n");
    return 2;
  }
  scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
  if (ctx == NULL) {
    fprintf(stderr, "seccomp-gen: seccomp_init failed\n");
    return 1;
  }
  int rc = build(ctx);
  if (rc == 0 && guard) rc = build_owner_guard(ctx);
  if (rc == 0 && no_sockets) rc = build_no_sockets(ctx);
  if (rc == 0) rc = strcmp(argv[1], "--pfc") == 0 ? seccomp_export_pfc(ctx, STDOUT_FILENO) : write_bpf(ctx, argv[1]);
  seccomp_release(ctx);
  return rc == 0 ? 0 : 1;
}
