import { constants } from 'node:fs';
import { open, readlink, realpath, stat, type FileHandle } from 'node:fs/promises';
import { posix } from 'node:path';
import { AgentdError } from '../core/errors.js';

/*
 * The one check every host path goes through (config `sandbox.allowed_paths_*`, request
 * `allowed_paths_*` and `bind_mounts[].source`), before it is mounted into a sandbox.
 *
 * A host path is accepted only when, after resolving every symlink:
 * - it lies under one of the operator's `sandbox.host_path_roots` (none listed: no host path at all);
 * - it is not `/` and not `/proc`, `/sys`, `/dev` or below them;
 * - it neither lies in nor contains a protected path (the agentd home, which holds state.db
 *   and every sandbox's folders, and the daemon's Unix socket);
 * - it is a directory, a regular file with a single name (a hard link could be a second name
 *   of a protected file), a socket or a FIFO, never a device node or a symlink.
 *
 * openHostPath() then pins the checked object: it opens the resolved path with
 * O_PATH|O_NOFOLLOW and checks, through /proc/self/fd, that the descriptor is still at the
 * path that was checked. The namespace backend hands bwrap that descriptor
 * (`--bind-fd`/`--ro-bind-fd`), and bwrap verifies after mounting that what it mounted is the
 * descriptor's inode. A rename or symlink swap between the check and the mount therefore
 * either is seen (refused) or mounts the object that was checked, never another one.
 */

/** What the operator allows, and the paths no host path may touch. */
export interface HostPathRules {
  /**
   * config `sandbox.host_path_roots`: host paths must resolve under one of these.
   * []: no host path at all (neither from the config nor from a request).
   */
  roots: readonly string[];
  /**
   * config `sandbox.local_mount_roots`: more roots for the bind mounts of a local caller (a
   * bind mount whose spec says `local`, see sandbox/host-path-grant.ts). Absent: none.
   */
  localRoots?: readonly string[];
  /** Paths a host path may neither lie in nor contain (the agentd home, the daemon's socket). */
  protectedPaths: readonly string[];
  /** Paths from the config applied to every sandbox (merged with the request's). */
  config: {
    allowedPathsRo: readonly string[];
    allowedPathsRw: readonly string[];
    /** Sandbox paths (not host paths): masked in every sandbox. */
    denyPaths: readonly string[];
  };
}

/** No roots, nothing protected, nothing from the config: every host path is refused. */
export const NO_HOST_PATHS: HostPathRules = Object.freeze({
  roots: Object.freeze([]),
  protectedPaths: Object.freeze([]),
  config: Object.freeze({ allowedPathsRo: Object.freeze([]), allowedPathsRw: Object.freeze([]), denyPaths: Object.freeze([]) }),
});

/** Host trees that are never mounted into a sandbox, nor anything below them. */
export const SYSTEM_TREES = ['/proc', '/sys', '/dev'] as const;

/** Linux O_PATH (not in node's fs.constants): a descriptor that only names an inode. */
const O_PATH = 0o10000000;

/** The rule a refused host path broke (`details.rule` of the error). */
export type HostPathRule = 'syntax' | 'missing' | 'root' | 'system' | 'protected' | 'outside-roots' | 'file-type' | 'hard-link' | 'changed';

export function isSameOrUnder(path: string, dir: string): boolean {
  return dir === '/' || path === dir || path.startsWith(`${dir}/`);
}

function refuse(rule: HostPathRule, what: string, path: string, message: string, extra: Record<string, unknown> = {}): AgentdError {
  const code = rule === 'syntax' || rule === 'missing' ? 'INVALID_ARGUMENT' : 'POLICY_DENIED';
  return new AgentdError(code, `${what}: host path '${path}'${message.startsWith(' ') ? '' : ' '}${message}`, { details: { path, field: what, rule, ...extra } });
}

/** Absolute, normalised, no trailing slash, no NUL. */
function checkSyntax(path: string, what: string): void {
  if (!posix.isAbsolute(path) || path.includes('\0') || posix.normalize(path) !== path || (path.length > 1 && path.endsWith('/'))) {
    throw refuse('syntax', what, path, "must be an absolute, normalised path (no '..', '//' or trailing '/')");
  }
}

/**
 * The rules that need no file system: `/`, the system trees, the protected paths and the roots,
 * checked on `real` (already resolved). `given` is what the caller wrote (for the message).
 */
export function checkResolvedHostPath(given: string, real: string, rules: { roots: readonly string[]; protectedPaths: readonly string[] }, what: string): void {
  const via = real === given ? '' : ` (resolves to '${real}')`;
  const extra = real === given ? {} : { resolved: real };
  if (real === '/') throw refuse('root', what, given, `${via} is the host's root: a sandbox never gets the whole host file system`, extra);
  const system = SYSTEM_TREES.find((t) => isSameOrUnder(real, t));
  if (system !== undefined) {
    throw refuse('system', what, given, `${via} is in ${system}: the host's ${system} is never mounted into a sandbox (it shows every process, device or kernel setting of the host)`, extra);
  }
  for (const p of rules.protectedPaths) {
    if (isSameOrUnder(real, p) || isSameOrUnder(p, real)) {
      throw refuse('protected', what, given, `${via} ${isSameOrUnder(real, p) ? 'is inside' : 'contains'} '${p}', which belongs to the daemon (its state and every sandbox's files)`, { ...extra, protected: p });
    }
  }
  if (!rules.roots.some((r) => isSameOrUnder(real, r))) {
    const listed = rules.roots.length === 0 ? 'no sandbox.host_path_roots are configured, so no host path may be mounted' : `it is under none of sandbox.host_path_roots (with sandbox.local_mount_roots for a local caller's bind mounts): ${rules.roots.join(', ')}`;
    throw refuse('outside-roots', what, given, `${via} is not allowed: ${listed}`, { ...extra, roots: [...rules.roots] });
  }
}

/** `path` with every symlink resolved, or itself when it does not exist (a protected path may be created later). */
async function resolvedOrSelf(path: string): Promise<string> {
  return realpath(path).catch(() => path);
}

/** Roots and protected paths as they really are on the host (resolved once per check). */
async function resolveRules(rules: HostPathRules): Promise<{ roots: string[]; protectedPaths: string[] }> {
  const [roots, protectedPaths] = await Promise.all([Promise.all(rules.roots.map(resolvedOrSelf)), Promise.all(rules.protectedPaths.map(resolvedOrSelf))]);
  return { roots, protectedPaths };
}

/** `dev:ino` of `path`, or undefined when it does not exist. */
async function inodeOf(path: string): Promise<string | undefined> {
  const st = await stat(path).catch(() => undefined);
  return st === undefined ? undefined : `${st.dev}:${st.ino}`;
}

/** `dev:ino` of each existing ancestor of `path` (not the path itself), up to `/`. */
async function ancestorInodes(path: string): Promise<string[]> {
  const out: string[] = [];
  for (let p = posix.dirname(path); ; p = posix.dirname(p)) {
    const id = await inodeOf(p);
    if (id !== undefined) out.push(id);
    if (p === '/') return out;
  }
}

/**
 * The protected-path rule again, by identity rather than by name: a bind mount elsewhere of the
 * home (or of a folder holding it) has another path but the same device and inode.
 */
async function checkProtectedByInode(given: string, real: string, protectedPaths: readonly string[], what: string): Promise<void> {
  const self = await inodeOf(real);
  const mine = [...(self === undefined ? [] : [self]), ...(await ancestorInodes(real))];
  for (const p of protectedPaths) {
    const theirs = await inodeOf(p);
    const inside = theirs !== undefined && mine.includes(theirs);
    // `/` is every path's ancestor; it is refused earlier, so only another folder can hold p here.
    const holds = self !== undefined && real !== '/' && (await ancestorInodes(p)).includes(self);
    if (inside || holds) {
      const via = real === given ? '' : ` (resolves to '${real}')`;
      throw refuse('protected', what, given, `${via} is, or ${inside ? 'is inside' : 'contains'}, '${p}' under another name (a bind mount): it belongs to the daemon (its state and every sandbox's files)`, { resolved: real, protected: p });
    }
  }
}

/** A checked host path, pinned by an O_PATH descriptor. Close it once the mount is made. */
export interface PinnedHostPath {
  /** The path as given. */
  given: string;
  /** The path with every symlink resolved (what was checked). */
  real: string;
  kind: 'dir' | 'file';
  /** An O_PATH descriptor of `real`, taken after the check and verified to still be there. */
  handle: FileHandle;
}

/**
 * Checks `given` against `rules` (see the top of this file) and pins it. Throws
 * INVALID_ARGUMENT (bad syntax, missing path) or POLICY_DENIED (a rule; `details.rule` says which).
 */
export async function openHostPath(given: string, rules: HostPathRules, what: string): Promise<PinnedHostPath> {
  checkSyntax(given, what);
  const resolvedRules = await resolveRules(rules);
  // The written path first: '/proc/1/root' is refused as written, whatever it resolves to.
  if (given === '/' || SYSTEM_TREES.some((t) => isSameOrUnder(given, t))) checkResolvedHostPath(given, given, resolvedRules, what);
  let real: string;
  try {
    real = await realpath(given);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw refuse('missing', what, given, `cannot be resolved (${e.code ?? e.message}): a host path must exist when the sandbox starts`, { errno: e.code });
  }
  checkResolvedHostPath(given, real, resolvedRules, what);
  await checkProtectedByInode(given, real, resolvedRules.protectedPaths, what);
  const handle = await open(real, O_PATH | constants.O_NOFOLLOW).catch((err: NodeJS.ErrnoException) => {
    throw refuse('changed', what, given, `changed while it was checked (${err.code ?? err.message}); try again`);
  });
  try {
    // Where the descriptor really is: a component swapped for a symlink after realpath() shows here.
    const at = await readlink(`/proc/self/fd/${handle.fd}`);
    if (at !== real) throw refuse('changed', what, given, `changed while it was checked ('${real}' is now '${at}'); try again`, { resolved: real });
    const st = await handle.stat();
    if (st.isSymbolicLink()) throw refuse('changed', what, given, `was replaced by a symlink while it was checked; try again`, { resolved: real });
    if (st.isBlockDevice() || st.isCharacterDevice()) throw refuse('file-type', what, given, 'is a device node: devices are never mounted into a sandbox', { resolved: real });
    if (st.isFile() && st.nlink > 1) {
      throw refuse('hard-link', what, given, `is a file with ${st.nlink} names (hard links): it may be another name of a file outside the allowed roots`, { resolved: real });
    }
    return { given, real, kind: st.isDirectory() ? 'dir' : 'file', handle };
  } catch (err) {
    await handle.close();
    throw err;
  }
}

/** The rules for one bind mount: a local caller's also has `localRoots` as roots. */
export function rulesForMount(rules: HostPathRules, local: boolean): HostPathRules {
  if (!local || (rules.localRoots?.length ?? 0) === 0) return rules;
  return { ...rules, roots: [...new Set([...rules.roots, ...(rules.localRoots ?? [])])] };
}

/** Closes every pinned path (idempotent per handle). */
export async function closeHostPaths(paths: readonly PinnedHostPath[]): Promise<void> {
  await Promise.all(paths.map((p) => p.handle.close().catch(() => undefined)));
}

/** Problems of a configured root that make no sense whatever the file system holds (for the config rules). */
export function hostPathRootProblem(root: string): string | undefined {
  if (root === '/') return "'/' would allow every host path: list the folders sandboxes may see";
  const system = SYSTEM_TREES.find((t) => isSameOrUnder(root, t));
  if (system !== undefined) return `the host's ${system} is never mounted into a sandbox`;
  return undefined;
}

/**
 * Checks the config's own host paths (`sandbox.allowed_paths_ro/rw`) on this host, with every
 * symlink resolved, so a config whose paths would refuse every sandbox fails at start (or at a
 * reload) with INVALID_CONFIG naming the key, instead of at each create.
 */
export async function assertConfigHostPaths(rules: HostPathRules): Promise<void> {
  const wanted = [
    ...rules.config.allowedPathsRo.map((p, i) => ({ p, key: `sandbox.allowed_paths_ro[${i}]` })),
    ...rules.config.allowedPathsRw.map((p, i) => ({ p, key: `sandbox.allowed_paths_rw[${i}]` })),
  ];
  for (const { p, key } of wanted) {
    try {
      await closeHostPaths([await openHostPath(p, rules, key)]);
    } catch (err) {
      const e = err instanceof AgentdError ? err : new AgentdError('INTERNAL', String(err));
      throw new AgentdError('INVALID_CONFIG', e.message, { details: { ...e.details, key }, cause: err });
    }
  }
}
