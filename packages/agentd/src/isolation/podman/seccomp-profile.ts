/**
 * agentd's seccomp rules (native/seccomp/gen.c, the filter the namespace backend hands bwrap)
 * as an OCI seccomp profile for podman (`seccomp_profile_path`): everything allowed except
 * the same refusals, with the same errno. runc builds the filter with libseccomp from it,
 * as gen.c does; only the native architecture is listed, so another one's syscalls are
 * killed (gen.c: bad-arch action KILL_PROCESS). test/podman/seccomp-profile.test.ts checks
 * the lists against gen.c so the two cannot drift apart.
 */

const EPERM = 1;
const ENOSYS = 38;
const EAFNOSUPPORT = 97;

/** gen.c DENY_ALWAYS: [name, errno]. */
export const DENY_ALWAYS: ReadonlyArray<readonly [string, number]> = [
  ['ptrace', EPERM], ['process_vm_readv', EPERM], ['process_vm_writev', EPERM], ['process_madvise', EPERM], ['pidfd_getfd', EPERM], ['kcmp', EPERM],
  ['mount', EPERM], ['umount2', EPERM], ['pivot_root', EPERM], ['chroot', EPERM], ['fsopen', EPERM], ['fsconfig', EPERM], ['fsmount', EPERM], ['fspick', EPERM],
  ['move_mount', EPERM], ['open_tree', EPERM], ['mount_setattr', EPERM],
  ['setns', EPERM],
  ['init_module', EPERM], ['finit_module', EPERM], ['delete_module', EPERM], ['kexec_load', EPERM], ['kexec_file_load', EPERM], ['bpf', EPERM], ['perf_event_open', EPERM],
  ['keyctl', EPERM], ['add_key', EPERM], ['request_key', EPERM], ['reboot', EPERM], ['swapon', EPERM], ['swapoff', EPERM], ['acct', EPERM], ['syslog', EPERM],
  ['quotactl', EPERM], ['quotactl_fd', EPERM], ['lookup_dcookie', EPERM], ['fanotify_init', EPERM], ['uselib', EPERM], ['iopl', EPERM], ['ioperm', EPERM],
  ['userfaultfd', EPERM], ['io_uring_setup', EPERM], ['io_uring_enter', EPERM], ['io_uring_register', EPERM], ['open_by_handle_at', EPERM], ['name_to_handle_at', EPERM],
  ['settimeofday', EPERM], ['clock_settime', EPERM], ['clock_adjtime', EPERM], ['adjtimex', EPERM],
  // clone3's flags are in memory, out of a filter's reach: ENOSYS, so libc falls back to clone(2).
  ['clone3', ENOSYS],
];

/** gen.c NS_FLAGS: CLONE_NEWUSER, NEWNS, NEWPID, NEWNET, NEWUTS, NEWIPC, NEWCGROUP, NEWTIME. */
export const NS_FLAGS = [0x10000000, 0x00020000, 0x20000000, 0x40000000, 0x04000000, 0x08000000, 0x02000000, 0x00000080] as const;
/** gen.c DENIED_FAMILIES: AF_NETLINK, AF_PACKET, AF_VSOCK. */
export const DENIED_FAMILIES = [16, 17, 40] as const;
/** gen.c DENIED_PERSONALITY: ADDR_NO_RANDOMIZE, MMAP_PAGE_ZERO, ADDR_COMPAT_LAYOUT, READ_IMPLIES_EXEC. */
export const DENIED_PERSONALITY = [0x0040000, 0x0100000, 0x0200000, 0x0400000] as const;
/** gen.c DENIED_IOCTLS: TIOCSTI, TIOCLINUX. */
export const DENIED_IOCTLS = [0x5412, 0x541c] as const;
const PER_QUERY = 0xffffffff;

interface Arg {
  index: number;
  value: number;
  valueTwo: number;
  op: 'SCMP_CMP_EQ' | 'SCMP_CMP_MASKED_EQ' | 'SCMP_CMP_GT';
}
interface Rule {
  names: string[];
  action: 'SCMP_ACT_ERRNO';
  errnoRet: number;
  args?: Arg[];
}

export function seccompProfile(): { defaultAction: string; architectures: string[]; syscalls: Rule[] } {
  const deny = (names: string[], errnoRet: number, args?: Arg[]): Rule => ({ names, action: 'SCMP_ACT_ERRNO', errnoRet, ...(args === undefined ? {} : { args }) });
  const byErrno = new Map<number, string[]>();
  for (const [name, err] of DENY_ALWAYS) byErrno.set(err, [...(byErrno.get(err) ?? []), name]);
  const rules: Rule[] = [...byErrno].map(([err, names]) => deny(names, err));
  // libseccomp's MASKED_EQ: (arg & value) == valueTwo.
  for (const f of NS_FLAGS) {
    rules.push(deny(['clone'], EPERM, [{ index: 0, value: f, valueTwo: f, op: 'SCMP_CMP_MASKED_EQ' }]));
    rules.push(deny(['unshare'], EPERM, [{ index: 0, value: f, valueTwo: f, op: 'SCMP_CMP_MASKED_EQ' }]));
  }
  for (const fam of DENIED_FAMILIES) rules.push(deny(['socket'], EAFNOSUPPORT, [{ index: 0, value: fam, valueTwo: 0, op: 'SCMP_CMP_EQ' }]));
  rules.push(deny(['personality'], EPERM, [{ index: 0, value: PER_QUERY, valueTwo: 0, op: 'SCMP_CMP_GT' }]));
  for (const f of DENIED_PERSONALITY) {
    for (let bit = 0; bit < 32; bit++) {
      const g = 2 ** bit;
      if (g === f) continue;
      rules.push(deny(['personality'], EPERM, [{ index: 0, value: f + g, valueTwo: f, op: 'SCMP_CMP_MASKED_EQ' }]));
    }
  }
  for (const req of DENIED_IOCTLS) rules.push(deny(['ioctl'], EPERM, [{ index: 1, value: 0xffffffff, valueTwo: req, op: 'SCMP_CMP_MASKED_EQ' }]));
  return { defaultAction: 'SCMP_ACT_ALLOW', architectures: [nativeArch()], syscalls: rules };
}

const ARCHES: Partial<Record<NodeJS.Architecture, string>> = { x64: 'SCMP_ARCH_X86_64', arm64: 'SCMP_ARCH_AARCH64' };

function nativeArch(): string {
  return ARCHES[process.arch] ?? `SCMP_ARCH_${process.arch.toUpperCase()}`;
}
