import { posix } from 'node:path';
import { AgentdError } from '../../core/errors.js';
import { isSameOrUnder } from '../host-paths.js';
import type { SandboxSpec } from '../types.js';

/**
 * The Landlock rules of a linux-native sandbox, as a list the launcher turns into one ruleset
 * (native/init/landlock.c). Pure: which host entries exist is measured by the caller.
 *
 * Access classes (landlock.c): rx = read, list, execute; ro = read, list; rwx = everything but
 * device nodes; dev = read, write and ioctl of device files; proc = read, list and write files
 * (the init writes its own /proc/self/oom_score_adj). Nothing else is reachable: every file
 * system right of Landlock ABI 5 is handled, so a path no rule covers is EACCES.
 */
export type AccessClass = 'rx' | 'ro' | 'rwx' | 'dev' | 'proc';

export type Rule =
  /** A path the launcher opens itself (O_PATH|O_NOFOLLOW): system folders, devices, the sandbox's own folders. */
  | { path: string; access: AccessClass; why: string }
  /** A checked, pinned host path (host-paths.ts), handed to the launcher as descriptor `index` of the pinned list. */
  | { pinned: number; path: string; access: AccessClass; why: string };

/** Top-level system folders: read and execute (symlinks such as /bin -> usr/bin are followed by path lookup, no rule needed). */
export const SYSTEM_DIRS = ['/usr', '/bin', '/sbin', '/lib', '/lib32', '/lib64', '/libx32', '/opt'] as const;

/**
 * The parts of /etc a process needs (name service, dynamic linker, TLS roots, time zone,
 * locale, shells' start files, tool defaults); everything else in /etc stays EACCES.
 */
export const ETC_ENTRIES = [
  'passwd', 'group', 'nsswitch.conf', 'hosts', 'host.conf', 'resolv.conf', 'gai.conf', 'services', 'protocols', 'networks',
  'ld.so.cache', 'ld.so.conf', 'ld.so.conf.d', 'localtime', 'timezone', 'locale.alias', 'locale.conf', 'default/locale',
  'ssl/certs', 'ssl/openssl.cnf', 'ca-certificates', 'ca-certificates.conf', 'alternatives', 'os-release', 'debian_version',
  'mime.types', 'magic', 'magic.mime', 'profile', 'profile.d', 'bash.bashrc', 'inputrc', 'environment', 'terminfo',
  'gitconfig', 'vim', 'python3', 'python3.11', 'pip.conf', 'npmrc', 'shells', 'login.defs', 'manpath.config',
] as const;

/** Device files a command needs (plus /dev/pts for terminals); /dev/shm is shared with the host and left out. */
export const DEV_ENTRIES = ['/dev/null', '/dev/zero', '/dev/full', '/dev/random', '/dev/urandom', '/dev/tty', '/dev/ptmx', '/dev/pts'] as const;

export interface RuleInputs {
  spec: SandboxSpec;
  /** The host path of agentd-init (exec'd by the launcher once the ruleset holds). */
  initPath: string;
  /** Which of SYSTEM_DIRS, /etc/<ETC_ENTRIES> and DEV_ENTRIES exist here as directories or files (not symlinks). */
  existing: ReadonlySet<string>;
  /**
   * /etc entries that are symlinks, by their resolved target (e.g. resolv.conf ->
   * /run/systemd/resolve/stub-resolv.conf): the target gets the entry's read-only rule, unless
   * a rule already covers it or it lies in /proc, /sys or /dev.
   */
  etcLinks?: ReadonlyMap<string, string>;
  /** The host paths asked for (allowed paths, bind mounts), in the order they are pinned. */
  hostPaths: ReadonlyArray<{ given: string; target: string; readonly: boolean; what: string }>;
  /** Deny paths (config's and the spec's). */
  denyPaths: readonly string[];
}

/** Every candidate path whose existence the caller measures (lstat, not following). */
export function candidatePaths(): string[] {
  return [...SYSTEM_DIRS, ...ETC_ENTRIES.map((e) => `/etc/${e}`), ...DEV_ENTRIES];
}

/**
 * The rules, after refusing what Landlock cannot express: a bind mount whose target differs
 * from its source (no mount namespace: a path is seen where it is), and a deny path under a
 * path a rule allows (Landlock rules only add access; they cannot carve a hole). A deny path
 * no rule covers is already denied (EACCES) and is accepted.
 */
export function landlockRules(inp: RuleInputs): Rule[] {
  const { spec } = inp;
  const rules: Rule[] = [];
  for (const d of SYSTEM_DIRS) if (inp.existing.has(d)) rules.push({ path: d, access: 'rx', why: 'system folder' });
  for (const e of ETC_ENTRIES) {
    const p = `/etc/${e}`;
    if (inp.existing.has(p)) rules.push({ path: p, access: 'ro', why: 'system configuration' });
  }
  for (const [link, target] of inp.etcLinks ?? []) {
    const covered = rules.some((r) => isSameOrUnder(target, r.path));
    const system = ['/proc', '/sys', '/dev'].some((t) => isSameOrUnder(target, t)) || target === '/';
    if (!covered && !system) rules.push({ path: target, access: 'ro', why: `system configuration (${link})` });
  }
  rules.push({ path: '/proc', access: 'proc', why: 'process information (own /proc/self; other processes only what ptrace rules allow)' });
  for (const d of DEV_ENTRIES) if (inp.existing.has(d)) rules.push({ path: d, access: 'dev', why: 'device' });
  rules.push({ path: inp.initPath, access: 'rx', why: 'agentd-init' });
  rules.push(
    { path: spec.dirs.workspace, access: 'rwx', why: 'workspace' },
    { path: spec.dirs.home, access: 'rwx', why: 'home' },
    { path: spec.dirs.tmp, access: 'rwx', why: 'tmp' },
  );
  inp.hostPaths.forEach((h, i) => {
    if (h.target !== h.given) {
      throw new AgentdError('ISOLATION_REQUIRED', `${h.what.replace(/\.source$/, '.target')}: backend 'linux-native' has no mount namespace, so a host path is seen where it is: target '${h.target}' must equal source '${h.given}' (or use backend 'namespace')`, {
        details: { rule: 'bind_target', field: h.what, source: h.given, target: h.target, backend: 'linux-native' },
      });
    }
    rules.push({ pinned: i, path: h.given, access: h.readonly ? 'rx' : 'rwx', why: h.what });
  });
  for (const deny of inp.denyPaths) {
    const p = posix.normalize(deny);
    const under = rules.find((r) => isSameOrUnder(p, r.path) || isSameOrUnder(r.path, p));
    if (under !== undefined) {
      throw new AgentdError('ISOLATION_REQUIRED', `deny path '${deny}' overlaps '${under.path}' (${under.why}), which the sandbox may use: backend 'linux-native' cannot hide a path inside an allowed one (Landlock rules only add access); use backend 'namespace'`, {
        details: { rule: 'deny_paths', path: deny, allowedBy: under.path, backend: 'linux-native' },
      });
    }
  }
  return rules;
}
