/**
 * The cache key of the namespace probe's bwrap test run: a hash of everything its outcome
 * depends on. Whatever is not read here cannot be relied on by a cached result, so the
 * list errs towards more: a change anywhere in it only costs one real probe.
 *
 * The reads are synchronous on purpose: procfs and sysfs answer from memory and the files
 * are stat'ed only, so ~20 small reads take well under a millisecond this way, against
 * several for as many thread-pool round trips (measured), on the path of every `agentd run`.
 */
import { createHash } from 'node:crypto';
import { readFileSync, readlinkSync, statSync } from 'node:fs';
import { release, version } from 'node:os';

/** Bump when the test itself changes in a way its argv does not show. */
const KEY_VERSION = 1;

/**
 * Kernel state that decides whether this process may create the test's namespaces: the boot
 * (sysctls and loaded policies reset with it), the namespace limits, the distribution
 * switches for unprivileged user namespaces (Debian/Ubuntu, AppArmor), the LSMs, and the
 * user namespace this process itself lives in.
 */
const HOST_STATE_FILES = [
  '/proc/sys/kernel/random/boot_id',
  '/proc/sys/user/max_user_namespaces',
  '/proc/sys/user/max_mnt_namespaces',
  '/proc/sys/user/max_pid_namespaces',
  '/proc/sys/user/max_net_namespaces',
  '/proc/sys/user/max_ipc_namespaces',
  '/proc/sys/user/max_uts_namespaces',
  '/proc/sys/user/max_cgroup_namespaces',
  '/proc/sys/kernel/unprivileged_userns_clone',
  '/proc/sys/kernel/apparmor_restrict_unprivileged_userns',
  '/proc/sys/kernel/seccomp/actions_avail',
  '/sys/kernel/security/lsm',
  '/proc/self/uid_map',
  '/proc/self/gid_map',
  '/proc/self/setgroups',
] as const;

/** This process's privileges as the kernel sees them (capabilities, no_new_privs, its own seccomp mode). */
const STATUS_FIELDS = ['CapInh', 'CapPrm', 'CapEff', 'CapBnd', 'CapAmb', 'NoNewPrivs', 'Seccomp'] as const;

export interface ProbeKeyInput {
  /** The test's full argv: bwrap's path and flags, the system entries bound, the init's path, the uid drop. */
  argv: readonly string[];
  /** The executables and files the test runs or binds (bwrap, agentd-init, the seccomp filter, a drop helper). */
  files: readonly string[];
}

/** What identifies a file's content and permissions without reading it; null when missing. */
export function fileIdentity(path: string): unknown {
  const st = statSync(path, { throwIfNoEntry: false });
  if (st === undefined) return null;
  return [st.dev, st.ino, st.mode, st.uid, st.gid, st.size, st.mtimeMs, st.ctimeMs];
}

function readOrNull(path: string): string | null {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return null;
  }
}

function statusFields(): Record<string, string> {
  const wanted = new Set<string>(STATUS_FIELDS);
  const out: Record<string, string> = {};
  for (const line of (readOrNull('/proc/self/status') ?? '').split('\n')) {
    const colon = line.indexOf(':');
    const name = line.slice(0, colon);
    if (colon > 0 && wanted.has(name)) out[name] = line.slice(colon + 1).trim();
  }
  return out;
}

function userNamespace(): string | null {
  try {
    return readlinkSync('/proc/self/ns/user');
  } catch {
    return null;
  }
}

function sha256OfJson(value: unknown): string {
  return createHash('sha256').update(JSON.stringify(value)).digest('hex');
}

/** A hex SHA-256 over a file's path and identity (inode, size, times, mode): changes whenever the file does. */
export function fileKey(path: string): string {
  return sha256OfJson([path, fileIdentity(path)]);
}

/** A hex SHA-256 over the test's argv, the identity of its files, this process's ids and privileges, and the kernel's state. */
export function bwrapTestKey(input: ProbeKeyInput): string {
  return sha256OfJson({
    v: KEY_VERSION,
    argv: input.argv,
    files: input.files.map((f) => [f, fileIdentity(f)]),
    hostState: HOST_STATE_FILES.map((f) => [f, readOrNull(f)]),
    status: statusFields(),
    userNs: userNamespace(),
    ids: [process.getuid?.(), process.geteuid?.(), process.getgid?.(), process.getegid?.(), process.getgroups?.()],
    kernel: [release(), version()],
  });
}
