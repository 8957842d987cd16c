/**
 * The cache key of the namespace probe's bwrap test run: a hash of everything its outcome
 * depends on. Whatever is not read here cannot be relied on by a cached result, so the
 * list errs towards more: a change anywhere in it only costs one real probe.
 */
import { createHash } from 'node:crypto';
import { readFile, readlink, stat } from 'node:fs/promises';
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

async function fileIdentity(path: string): Promise<unknown> {
  const st = await stat(path).catch(() => undefined);
  if (st === undefined) return null;
  return [st.dev, st.ino, st.mode, st.uid, st.gid, st.size, st.mtimeMs, st.ctimeMs];
}

async function statusFields(): Promise<Record<string, string>> {
  const text = await readFile('/proc/self/status', 'utf8').catch(() => '');
  const wanted = new Set<string>(STATUS_FIELDS);
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const colon = line.indexOf(':');
    const name = line.slice(0, colon);
    if (colon > 0 && wanted.has(name)) out[name] = line.slice(colon + 1).trim();
  }
  return out;
}

/** A hex SHA-256 over the test's argv, the identity of its files, this process's ids and privileges, and the kernel's state. */
export async function bwrapTestKey(input: ProbeKeyInput): Promise<string> {
  const [files, hostState, status, userNs] = await Promise.all([
    Promise.all(input.files.map(async (f) => [f, await fileIdentity(f)])),
    Promise.all(HOST_STATE_FILES.map(async (f) => [f, await readFile(f, 'utf8').catch(() => null)])),
    statusFields(),
    readlink('/proc/self/ns/user').catch(() => null),
  ]);
  const ids = [process.getuid?.(), process.geteuid?.(), process.getgid?.(), process.getegid?.(), process.getgroups?.()];
  const material = JSON.stringify({ v: KEY_VERSION, argv: input.argv, files, hostState, status, userNs, ids, kernel: [release(), version()] });
  return createHash('sha256').update(material).digest('hex');
}
