/**
 * The libpod SpecGenerator (POST /libpod/containers/create) of one sandbox. Pure: whatever
 * it needs of the host is measured by the caller.
 */
import { PROFILE_RULES } from '../../config/profiles.js';
import { AgentdError } from '../../core/errors.js';
import { SANDBOX_NET_DIR } from '../../network/paths.js';
import { ROOT_CAPS } from '../namespace/image-root.js';
import { sandboxEnv, sandboxHostname } from '../namespace/bwrap-args.js';
import { SANDBOX_PATHS, type SystemEntry } from '../namespace/mounts.js';
import type { SandboxSpec } from '../types.js';
import { UIDS_PER_SANDBOX } from './options.js';
import { AGENT_UID } from './uids.js';

/** Labels every container of agentd carries: found again by recovery (this home's only). */
export const LABEL_SANDBOX = 'io.agentd.sandbox';
export const LABEL_HOME = 'io.agentd.home';

export interface SpecInput {
  spec: SandboxSpec;
  name: string;
  home: string;
  initPath: string;
  /** The first host uid of the sandbox's block. */
  uidBase: number;
  /** podman's name of the imported image, or the host-root skeleton (no image). */
  root: { image: string } | { hostRoot: string; system: SystemEntry[]; passwdFile: string; groupFile: string };
  /** Deny paths: masked files (podman `mask`: /dev/null bound over) and folders (an empty, read-only, mode-000 tmpfs). */
  masks: { files: string[]; dirs: string[] };
  /** The daemon's own soft and hard limits (what a namespace sandbox inherits). */
  hostLimits: HostLimits;
  /** agentd's seccomp rules as podman's profile (seccomp-profile.ts). */
  seccompPath: string;
  /** The sandbox's own cgroup (holding its limits), the container's cgroup parent. */
  cgroupParent: string;
}

export interface HostLimits {
  nofile: { soft: number; hard: number };
  nproc: { soft: number; hard: number };
}

type MountSpec = { destination: string; source: string; type: 'bind' | 'tmpfs'; options: string[] };

function bind(source: string, destination: string, readonly: boolean): MountSpec {
  return { destination, source, type: 'bind', options: ['rbind', readonly ? 'ro' : 'rw', 'nosuid', 'nodev'] };
}

function netns(spec: SandboxSpec): { nsmode: string } {
  switch (spec.network) {
    case 'none':
      return { nsmode: 'none' };
    case 'allowlist':
      if (spec.net?.proxyPort === undefined) {
        throw new AgentdError('BACKEND_UNAVAILABLE', "network 'allowlist' needs the daemon's egress proxy (a sandbox started without the daemon's network service)", { details: { network: spec.network } });
      }
      return { nsmode: 'none' };
    case 'host':
      if (!PROFILE_RULES[spec.profile].networks.includes('host')) {
        throw new AgentdError('INVALID_ARGUMENT', `network 'host' is not allowed with profile '${spec.profile}'`, { details: { network: spec.network, profile: spec.profile } });
      }
      return { nsmode: 'host' };
  }
}

export function initCommand(spec: SandboxSpec): string[] {
  const argv = [SANDBOX_PATHS.init, '--fs-root', '/'];
  if (spec.image !== undefined) argv.push('--fs-uid', String(AGENT_UID));
  if (spec.net !== undefined) {
    argv.push('--net-dir', SANDBOX_NET_DIR);
    if (spec.net.proxyPort !== undefined) argv.push('--proxy-port', String(spec.net.proxyPort));
  }
  return argv;
}

export function containerSpec(inp: SpecInput): Record<string, unknown> {
  const { spec } = inp;
  const image = 'image' in inp.root;
  const mounts: MountSpec[] = [];
  if (!('image' in inp.root)) {
    for (const e of inp.root.system) if (e.kind === 'dir') mounts.push(bind(e.path, e.path, true));
    mounts.push(bind('/etc', '/etc', true), bind(inp.root.passwdFile, '/etc/passwd', true), bind(inp.root.groupFile, '/etc/group', true));
  }
  mounts.push(
    bind(spec.dirs.workspace, SANDBOX_PATHS.workspace, false),
    bind(spec.dirs.home, SANDBOX_PATHS.home, false),
    bind(spec.dirs.tmp, SANDBOX_PATHS.tmp, false),
    { destination: SANDBOX_PATHS.init, source: inp.initPath, type: 'bind', options: ['rbind', 'ro', 'nosuid', 'nodev'] },
  );
  if (spec.net !== undefined) mounts.push(bind(spec.net.hostDir, SANDBOX_NET_DIR, true));
  for (const d of inp.masks.dirs) mounts.push({ destination: d, source: 'tmpfs', type: 'tmpfs', options: ['ro', 'mode=000', 'size=4k', 'nosuid', 'nodev', 'noexec'] });

  const limits = spec.limits;
  // Memory, pids and CPU are limits of the sandbox's own cgroup (the container's parent): hierarchical, and its OOM count is the sandbox's.
  const rlimits = [{ type: 'core', soft: limits.coreBytes ?? 0, hard: limits.coreBytes ?? 0 }];
  // Given limits replace podman's defaults (containers.conf): the daemon's own are kept where the spec says nothing
  // (root here cannot raise a hard limit above its own).
  const nofile = limits.openFiles !== undefined && limits.openFiles > 0 ? { soft: limits.openFiles, hard: limits.openFiles } : inp.hostLimits.nofile;
  rlimits.push({ type: 'nofile', ...nofile }, { type: 'nproc', ...inp.hostLimits.nproc });

  const idmap = [{ container_id: 0, host_id: inp.uidBase, size: UIDS_PER_SANDBOX }];
  const env = sandboxEnv(spec);
  for (const [k, v] of Object.entries(env)) {
    if (k === '' || k.includes('=') || k.includes('\0') || v.includes('\0')) {
      throw new AgentdError('INVALID_ARGUMENT', `env: invalid variable name or value for '${k}'`, { details: { name: k } });
    }
  }
  return {
    name: inp.name,
    ...(image ? { image: (inp.root as { image: string }).image } : { rootfs: (inp.root as { hostRoot: string }).hostRoot, read_only_filesystem: true, read_write_tmpfs: false }),
    command: initCommand(spec),
    entrypoint: [],
    env,
    work_dir: spec.workdir ?? SANDBOX_PATHS.workspace,
    hostname: sandboxHostname(spec.id),
    user: image ? '0:0' : `${AGENT_UID}:${AGENT_UID}`,
    stdin: true,
    terminal: false,
    labels: { [LABEL_SANDBOX]: spec.id, [LABEL_HOME]: inp.home },
    mounts,
    mask: inp.masks.files,
    netns: netns(spec),
    pidns: { nsmode: 'private' },
    ipcns: { nsmode: 'private' },
    utsns: { nsmode: 'private' },
    cgroupns: { nsmode: 'private' },
    userns: { nsmode: 'private' },
    idmappings: { uidmap: idmap, gidmap: idmap },
    cap_drop: ['ALL'],
    cap_add: image ? [...ROOT_CAPS] : [],
    no_new_privileges: true,
    seccomp_policy: 'default',
    seccomp_profile_path: inp.seccompPath,
    cgroup_parent: inp.cgroupParent,
    r_limits: rlimits,
    log_configuration: { driver: 'none' },
    init: false,
    systemd: 'false',
    remove: false,
  };
}
