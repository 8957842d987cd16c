/**
 * The OCI bundle of a sandbox (config.json, runtime-spec 1.0): generated from the SandboxSpec
 * and the namespace backend's own mount plan (namespace/mounts.ts, namespace/image-root.ts),
 * translated op by op, so both backends show a sandbox the same file system. Pure: every host
 * fact it needs is passed in.
 */
import { PROFILE_RULES } from '../../config/profiles.js';
import { AgentdError } from '../../core/errors.js';
import { SANDBOX_NET_DIR } from '../../network/paths.js';
import { sandboxHostname } from '../namespace/bwrap-args.js';
import { SANDBOX_PATHS, type Mount } from '../namespace/mounts.js';
import type { HostIds } from '../host-ids.js';
import type { SandboxSpec } from '../types.js';

/** Where the compiled seccomp filter is bound inside (agentd-init `--seccomp-file` loads it). */
export const SANDBOX_SECCOMP_PATH = '/.agentd/seccomp.bpf';

export interface OciMount {
  destination: string;
  type: string;
  source: string;
  options?: string[];
}

export interface OciConfig {
  ociVersion: string;
  process: Record<string, unknown>;
  root: { path: string; readonly: boolean };
  hostname: string;
  mounts: OciMount[];
  linux: Record<string, unknown>;
}

export interface BundleInput {
  spec: SandboxSpec;
  /** The namespace backend's mount plan; `*-fd` mounts are bound from `stagedSource(fd)`. */
  mounts: readonly Mount[];
  /** Host path of a pinned host mount by its fd number in the plan (a daemon-owned staging mount, never the user's path). */
  stagedSource: (fd: number) => string;
  /** Host path of the compiled seccomp filter, bound read-only at SANDBOX_SECCOMP_PATH. */
  seccompFile: string;
  /** The root file system: a daemon-owned, read-only skeleton (no image), or the image's overlay (writable). */
  rootfs: { path: string; readonly: boolean };
  /** The sandbox's user namespace: uid/gid 1000 inside -> `agent`, 0 inside -> `root`. Absent: no user namespace (gVisor: its own kernel). */
  userns?: { agent: HostIds; root: HostIds };
  /** The uid/gid agentd-init runs as inside (1000 with a user namespace and no image; 0 with an image). */
  user: { uid: number; gid: number };
  /** Capabilities agentd-init keeps (root inside with an image: image-root.ts ROOT_CAPS), none otherwise. */
  caps: readonly string[];
  /** `--fs-uid` for an init running as root inside. */
  fsUid?: number;
  /** `--no-shepherd-subreaper`: the runtime's kernel refuses PR_SET_CHILD_SUBREAPER below PID 1 (gVisor's, found by the probe). */
  noShepherdSubreaper?: boolean;
  /** cgroupsPath: the sandbox's own group made by agentd's cgroup driver (limits already set there). */
  cgroupsPath?: string;
  /** The base environment (sandboxEnv). */
  env: Record<string, string>;
}

export type SkeletonEntry = { path: string; kind: 'dir' | 'file' } | { path: string; kind: 'symlink'; target: string };

function bindOptions(readonly: boolean, extra: string[] = []): string[] {
  return ['rbind', readonly ? 'ro' : 'rw', 'nosuid', 'nodev', ...extra];
}

/** One plan mount as OCI mounts (symlinks are made in the skeleton root by the backend, see skeletonEntries). */
function ociMounts(m: Mount, inp: BundleInput): OciMount[] {
  switch (m.op) {
    case 'ro-bind':
    case 'bind':
      // '/' is the image's overlay: it is the bundle's root, not a mount.
      if (m.target === '/') return [];
      return [{ destination: m.target, type: 'bind', source: m.source, options: bindOptions(m.op === 'ro-bind') }];
    case 'ro-bind-fd':
    case 'bind-fd':
      return [{ destination: m.target, type: 'bind', source: inp.stagedSource(m.fd), options: bindOptions(m.op === 'ro-bind-fd') }];
    case 'symlink':
      return [];
    case 'proc':
      return [{ destination: m.target, type: 'proc', source: 'proc', options: ['nosuid', 'noexec', 'nodev'] }];
    case 'dev':
      // The runtime adds the default device nodes (null, zero, full, random, urandom, tty) and /dev/ptmx.
      return [
        { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
        { destination: '/dev/pts', type: 'devpts', source: 'devpts', options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620'] },
        { destination: '/dev/shm', type: 'tmpfs', source: 'shm', options: ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=65536k'] },
        { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
      ];
    case 'mask-dir':
      return [{ destination: m.target, type: 'tmpfs', source: 'tmpfs', options: ['ro', 'nosuid', 'nodev', 'noexec', 'mode=000', 'size=4k'] }];
    case 'mask-file':
      return [{ destination: m.target, type: 'bind', source: m.source, options: ['bind', 'ro', 'nosuid', 'nodev', 'noexec'] }];
  }
}

/**
 * What the backend creates in a skeleton root before the runtime runs (the runtime, as the
 * sandbox's root inside, cannot create anything in a root-owned folder): every mount point
 * that is not inside another mount, and the symlinks of the plan (`/bin -> usr/bin`,
 * `/var/tmp -> ../tmp`).
 */
export function skeletonEntries(mounts: readonly OciMount[], plan: readonly Mount[], fileTargets: ReadonlySet<string>): SkeletonEntry[] {
  const out: SkeletonEntry[] = [];
  const seen = new Set<string>();
  const covered = (p: string, before: number): boolean => mounts.slice(0, before).some((m) => m.type === 'bind' && p.startsWith(`${m.destination}/`));
  const addParents = (p: string): void => {
    const parts = p.split('/').filter(Boolean);
    for (let k = 1; k < parts.length; k++) {
      const dir = `/${parts.slice(0, k).join('/')}`;
      if (!seen.has(dir)) out.push({ path: dir, kind: 'dir' });
      seen.add(dir);
    }
  };
  for (const [i, m] of mounts.entries()) {
    if (covered(m.destination, i) || seen.has(m.destination)) continue;
    addParents(m.destination);
    seen.add(m.destination);
    out.push({ path: m.destination, kind: fileTargets.has(m.destination) ? 'file' : 'dir' });
  }
  for (const m of plan) {
    if (m.op !== 'symlink' || seen.has(m.target)) continue;
    addParents(m.target);
    seen.add(m.target);
    out.push({ path: m.target, kind: 'symlink', target: m.linkTarget });
  }
  return out;
}

function rlimits(spec: SandboxSpec): Array<{ type: string; hard: number; soft: number }> {
  const core = spec.limits.coreBytes ?? 0;
  const out = [{ type: 'RLIMIT_CORE', hard: core, soft: core }];
  // Unset: the runtime's own (inherited from the daemon), as the namespace backend's launcher leaves it.
  if (spec.limits.openFiles !== undefined) out.push({ type: 'RLIMIT_NOFILE', hard: spec.limits.openFiles, soft: spec.limits.openFiles });
  return out;
}

/** agentd-init's command line inside: the filter first (seccomp_file.c), then the namespace backend's arguments. */
export function initArgs(inp: Pick<BundleInput, 'spec' | 'fsUid' | 'noShepherdSubreaper'>): string[] {
  const args = [SANDBOX_PATHS.init, '--seccomp-file', SANDBOX_SECCOMP_PATH, '--fs-root', '/'];
  if (inp.fsUid !== undefined) args.push('--fs-uid', String(inp.fsUid));
  if (inp.noShepherdSubreaper === true) args.push('--no-shepherd-subreaper');
  const net = inp.spec.net;
  if (net !== undefined) {
    args.push('--net-dir', SANDBOX_NET_DIR);
    if (net.proxyPort !== undefined) args.push('--proxy-port', String(net.proxyPort));
  }
  return args;
}

function checkEnv(env: Record<string, string>): string[] {
  return Object.entries(env).map(([k, v]) => {
    if (k === '' || k.includes('=') || k.includes('\0') || v.includes('\0')) {
      throw new AgentdError('INVALID_ARGUMENT', `env: invalid variable name or value for '${k}'`, { details: { name: k } });
    }
    return `${k}=${v}`;
  });
}

/**
 * The namespace backend's network rules (bwrap-args.ts): 'host' only where the profile allows
 * it, 'allowlist' only with the daemon's egress proxy (the init's relay), 'none' always.
 */
function checkNetwork(spec: SandboxSpec): void {
  if (spec.network === 'host' && !PROFILE_RULES[spec.profile].networks.includes('host')) {
    const allowing = Object.entries(PROFILE_RULES).filter(([, r]) => r.networks.includes('host')).map(([n]) => `'${n}'`).join(', ');
    throw new AgentdError('INVALID_ARGUMENT', `network 'host' is not allowed with profile '${spec.profile}' (only with ${allowing})`, { details: { network: spec.network, profile: spec.profile } });
  }
  if (spec.network === 'allowlist' && spec.net?.proxyPort === undefined) {
    throw new AgentdError('BACKEND_UNAVAILABLE', "network 'allowlist' needs the daemon's egress proxy (a sandbox started without the daemon's network service)", { details: { network: spec.network } });
  }
}

/** The config.json of a sandbox. */
export function ociConfig(inp: BundleInput): OciConfig {
  const { spec } = inp;
  checkNetwork(spec);
  const mounts = inp.mounts.flatMap((m) => ociMounts(m, inp));
  mounts.push({ destination: SANDBOX_SECCOMP_PATH, type: 'bind', source: inp.seccompFile, options: ['bind', 'ro', 'nosuid', 'nodev'] });
  // The daemon's network sockets of this sandbox (network/service.ts): the daemon's folder, read-only inside.
  if (spec.net !== undefined) mounts.push({ destination: SANDBOX_NET_DIR, type: 'bind', source: spec.net.hostDir, options: bindOptions(true) });
  const caps = [...inp.caps];
  const namespaces: Array<{ type: string }> = [{ type: 'pid' }, { type: 'ipc' }, { type: 'uts' }, { type: 'mount' }, { type: 'cgroup' }];
  // network 'host' keeps the host's network namespace (profiles that allow it); 'none' and 'allowlist' get their own, empty one.
  if (spec.network !== 'host') namespaces.push({ type: 'network' });
  const linux: Record<string, unknown> = {
    namespaces,
    maskedPaths: ['/proc/acpi', '/proc/asound', '/proc/kcore', '/proc/keys', '/proc/latency_stats', '/proc/timer_list', '/proc/timer_stats', '/proc/sched_debug', '/proc/scsi', '/sys/firmware'],
    readonlyPaths: ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'],
    // Mounts made on the host later never reach the sandbox, and the sandbox's never reach the host.
    rootfsPropagation: 'rprivate',
  };
  if (inp.userns !== undefined) {
    namespaces.push({ type: 'user' });
    const { agent, root } = inp.userns;
    linux.uidMappings = [{ containerID: 0, hostID: root.uid, size: 1 }, { containerID: 1000, hostID: agent.uid, size: 1 }];
    linux.gidMappings = [{ containerID: 0, hostID: root.gid, size: 1 }, { containerID: 1000, hostID: agent.gid, size: 1 }];
  }
  if (inp.cgroupsPath !== undefined) linux.cgroupsPath = inp.cgroupsPath;
  return {
    ociVersion: '1.0.2',
    process: {
      terminal: false,
      user: { uid: inp.user.uid, gid: inp.user.gid, additionalGids: [] },
      args: initArgs(inp),
      env: checkEnv(inp.env),
      cwd: spec.workdir ?? SANDBOX_PATHS.workspace,
      noNewPrivileges: true,
      capabilities: { bounding: caps, effective: caps, permitted: caps, inheritable: [], ambient: [] },
      rlimits: rlimits(spec),
      oomScoreAdj: 0,
    },
    root: { path: inp.rootfs.path, readonly: inp.rootfs.readonly },
    hostname: sandboxHostname(spec.id),
    mounts,
    linux,
  };
}
