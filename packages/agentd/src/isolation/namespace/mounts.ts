import { posix } from 'node:path';
import { AgentdError } from '../../core/errors.js';
import type { SandboxSpec } from '../types.js';

/**
 * The file system a namespace sandbox sees, as an ordered list of mounts (later ones cover
 * earlier ones). Pure: the host facts it needs (which system entries exist, what each deny
 * path is on the host) are measured by the caller and passed in.
 */

/** Fixed paths inside every namespace sandbox. */
export const SANDBOX_PATHS = {
  workspace: '/workspace',
  home: '/home/agent',
  tmp: '/tmp',
  /** Where agentd-init is bound (read-only). */
  init: '/.agentd/init',
} as const;

/** A top-level system entry of the host (`/usr`, `/bin` -> usr/bin, ...). */
export type SystemEntry = { path: string; kind: 'dir' } | { path: string; kind: 'symlink'; target: string };

/** What a deny path is, looked up on the host side of the mount that holds it. */
export type PathKind = 'dir' | 'file' | 'missing';

export type Mount =
  | { op: 'ro-bind' | 'bind'; source: string; target: string }
  /**
   * A checked host path (isolation/host-paths.ts), bound from a descriptor bwrap inherits as
   * `fd`, never by path: a rename between the check and the mount cannot change what is bound.
   * `source` is the path that was checked (to look deny paths up under it).
   */
  | { op: 'ro-bind-fd' | 'bind-fd'; fd: number; source: string; target: string }
  | { op: 'symlink'; linkTarget: string; target: string }
  | { op: 'proc' | 'dev'; target: string }
  /** An empty, mode-000, read-only tmpfs over a directory (or a path that does not exist yet). */
  | { op: 'mask-dir'; target: string }
  /** The host's empty mode-000 file bound read-only over a file. */
  | { op: 'mask-file'; source: string; target: string };

/** Paths a bind mount must neither replace nor hide (equal to or an ancestor of these). */
const RESERVED = ['/', '/proc', '/dev', '/.agentd', SANDBOX_PATHS.workspace, SANDBOX_PATHS.home, SANDBOX_PATHS.tmp, '/etc/passwd', '/etc/group'];

export function isUnder(path: string, root: string): boolean {
  return root === '/' || path === root || path.startsWith(`${root}/`);
}

/** Absolute, normalised, no trailing slash, no NUL: the only form accepted for a sandbox path. */
export function checkSandboxPath(path: string, what: string): string {
  if (!posix.isAbsolute(path) || path.includes('\0') || posix.normalize(path) !== path || (path.length > 1 && path.endsWith('/'))) {
    throw new AgentdError('INVALID_ARGUMENT', `${what}: '${path}' must be an absolute, normalised path (no '..', '//' or trailing '/')`, { details: { path } });
  }
  return path;
}

function checkBindTarget(target: string, what: string): void {
  checkSandboxPath(target, what);
  // The workspace itself may be replaced by a host folder (`--mount-cwd`): the sandbox's own, empty one is then hidden.
  if (target === SANDBOX_PATHS.workspace) return;
  const hidden = RESERVED.find((r) => isUnder(r, target) || (r !== '/' && isUnder(target, r) && (r === '/proc' || r === '/dev' || r === '/.agentd')));
  if (hidden !== undefined) {
    throw new AgentdError('INVALID_ARGUMENT', `${what}: '${target}' would replace or hide the sandbox's own '${hidden}'`, { details: { path: target } });
  }
}

/** A host path to mount, already checked and pinned (`fd`: its descriptor number in bwrap). */
export interface HostMount {
  /** The resolved host path that was checked. */
  source: string;
  fd: number;
  /** Where the sandbox sees it. */
  target: string;
  readonly: boolean;
  /** The field it came from, for messages ("allowed_paths_ro", "sandbox.deny_paths (config)"...). */
  what: string;
}

/**
 * Every host path a sandbox asks for, config's first: [source as given, target, mode, field].
 * Config paths (`config`) apply to every sandbox; the spec's come from its creator.
 */
export function wantedHostMounts(spec: SandboxSpec, config: { allowedPathsRo: readonly string[]; allowedPathsRw: readonly string[] }): Array<{ given: string; target: string; readonly: boolean; what: string; mapOwner: boolean; local?: boolean }> {
  return [
    ...config.allowedPathsRo.map((p) => ({ given: p, target: p, readonly: true, what: 'sandbox.allowed_paths_ro (config)', mapOwner: false })),
    ...config.allowedPathsRw.map((p) => ({ given: p, target: p, readonly: false, what: 'sandbox.allowed_paths_rw (config)', mapOwner: false })),
    ...spec.allowedPathsRo.map((p) => ({ given: p, target: p, readonly: true, what: 'allowed_paths_ro', mapOwner: false })),
    ...spec.allowedPathsRw.map((p) => ({ given: p, target: p, readonly: false, what: 'allowed_paths_rw', mapOwner: false })),
    // A bind mount (`-v`, `--mount-cwd`) is the caller's own folder: under a root daemon it is
    // mounted owner-preserving (owner-mounts.ts); allowed paths give what the sandbox's uid may.
    ...spec.bindMounts.map((b, i) => ({ given: b.source, target: b.target, readonly: b.readonly, what: `bind_mounts[${i}].source`, mapOwner: true, ...(b.local === true ? { local: true } : {}) })),
  ];
}

export interface MountInputs {
  spec: SandboxSpec;
  /** The checked host paths (allowed paths and bind mounts, config's and the spec's). */
  hostMounts: HostMount[];
  system: SystemEntry[];
  initPath: string;
  /** Host files holding the sandbox's /etc/passwd and /etc/group. */
  passwdFile: string;
  groupFile: string;
  /** Host path of an empty mode-000 file, bound over denied files. */
  maskFile: string;
  /** Host-side kind of each deny path (key: the deny path as given). Missing keys count as 'missing'. */
  denyKinds: Record<string, PathKind>;
}

/** The sandbox's mounts before the deny masks: system, own folders, then the spec's extra paths. */
export function baseMounts(inp: Omit<MountInputs, 'denyKinds' | 'maskFile'>): Mount[] {
  const { spec } = inp;
  const mounts: Mount[] = [];
  for (const e of inp.system) {
    if (e.kind === 'dir') mounts.push({ op: 'ro-bind', source: e.path, target: e.path });
    else mounts.push({ op: 'symlink', linkTarget: e.target, target: e.path });
  }
  mounts.push(
    { op: 'ro-bind', source: '/etc', target: '/etc' },
    { op: 'ro-bind', source: inp.passwdFile, target: '/etc/passwd' },
    { op: 'ro-bind', source: inp.groupFile, target: '/etc/group' },
    { op: 'proc', target: '/proc' },
    { op: 'dev', target: '/dev' },
    { op: 'bind', source: spec.dirs.workspace, target: SANDBOX_PATHS.workspace },
    { op: 'bind', source: spec.dirs.home, target: SANDBOX_PATHS.home },
    { op: 'bind', source: spec.dirs.tmp, target: SANDBOX_PATHS.tmp },
    { op: 'symlink', linkTarget: '../tmp', target: '/var/tmp' },
    { op: 'ro-bind', source: inp.initPath, target: SANDBOX_PATHS.init },
  );
  for (const h of inp.hostMounts) {
    checkBindTarget(h.target, h.what.replace(/\.source$/, '.target'));
    mounts.push({ op: h.readonly ? 'ro-bind-fd' : 'bind-fd', fd: h.fd, source: h.source, target: h.target });
  }
  return mounts;
}

/** The innermost mount that holds `path` (the last one in mount order whose target contains it). */
function holder(mounts: Mount[], path: string): Mount | undefined {
  for (let i = mounts.length - 1; i >= 0; i--) {
    const m = mounts[i];
    if (m !== undefined && isUnder(path, m.target)) return m;
  }
  return undefined;
}

/**
 * Where a sandbox path lives on the host (so its kind can be looked up there), or undefined
 * when it lies in the sandbox's own tmpfs root, /proc or /dev.
 */
export function hostPathOf(mounts: Mount[], path: string): string | undefined {
  const m = holder(mounts, path);
  if (m === undefined || (m.op !== 'bind' && m.op !== 'ro-bind' && m.op !== 'bind-fd' && m.op !== 'ro-bind-fd')) return undefined;
  return posix.join(m.source, posix.relative(m.target, path));
}

export interface MountPlan {
  mounts: Mount[];
  /**
   * Deny paths that cannot be masked: they do not exist and lie under a read-only mount,
   * where no mount point can be made. The sandbox cannot create them either; a file the
   * host creates there later would be visible.
   */
  unmaskable: string[];
}

export function planMounts(inp: MountInputs): MountPlan {
  const mounts = baseMounts(inp);
  const unmaskable: string[] = [];
  const masks: Mount[] = [];
  for (const p of inp.spec.denyPaths) {
    checkSandboxPath(p, 'deny_paths');
    if (p === '/' || RESERVED.includes(p) && p !== '/etc/passwd' && p !== '/etc/group') {
      throw new AgentdError('INVALID_ARGUMENT', `deny_paths: '${p}' cannot be masked (the sandbox needs it)`, { details: { path: p } });
    }
    const kind = inp.denyKinds[p] ?? 'missing';
    if (kind === 'file') {
      masks.push({ op: 'mask-file', source: inp.maskFile, target: p });
    } else if (kind === 'dir') {
      masks.push({ op: 'mask-dir', target: p });
    } else {
      const m = holder(mounts, p);
      const writable = m === undefined || m.op === 'bind' || m.op === 'bind-fd';
      if (writable) masks.push({ op: 'mask-dir', target: p });
      else unmaskable.push(p);
    }
  }
  return { mounts: [...mounts, ...masks], unmaskable };
}
