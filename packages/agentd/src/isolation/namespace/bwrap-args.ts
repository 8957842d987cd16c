import { PROFILE_RULES } from '../../config/profiles.js';
import { AgentdError } from '../../core/errors.js';
import { sandboxBaseEnv } from '../exec-env.js';
import { proxyEnv } from '../../network/env.js';
import { SANDBOX_NET_DIR } from '../../network/paths.js';
import type { SandboxSpec } from '../types.js';
import { SANDBOX_PATHS, type Mount } from './mounts.js';

/** The sandbox user (see etc-files.ts). */
export const SANDBOX_UID = 1000;
export const SANDBOX_GID = 1000;
export const SANDBOX_USER = 'agent';

const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/**
 * The environment agentd-init starts with. Each exec still sends its complete environment;
 * this one is what the init itself and `id`-like lookups see. The spec's env wins.
 */
export function sandboxEnv(spec: SandboxSpec): Record<string, string> {
  // network 'allowlist': the proxy variables point at the init's relay (network/env.ts); the spec's env wins.
  const proxy = spec.network === 'allowlist' && spec.net?.proxyPort !== undefined ? proxyEnv(spec.net.proxyPort) : {};
  return sandboxBaseEnv({ path: DEFAULT_PATH, home: SANDBOX_PATHS.home, tmp: SANDBOX_PATHS.tmp, user: SANDBOX_USER }, { ...proxy, ...spec.env });
}

/** "agentd-<id>", cut to the 63 bytes a host name may have. */
export function sandboxHostname(id: string): string {
  return `agentd-${id}`.replace(/[^A-Za-z0-9-]/g, '-').slice(0, 63);
}

/**
 * network 'none' -> an empty network namespace (only `lo`); 'host' -> the host's network,
 * for the profiles whose rules allow it (workstation, custom); 'allowlist' -> an empty network
 * namespace too: the only way out is agentd-init's relay to the daemon's egress proxy (network/).
 */
function profilesAllowingHost(): string {
  return Object.entries(PROFILE_RULES).filter(([, r]) => r.networks.includes('host')).map(([n]) => `'${n}'`).join(', ');
}

function networkArgs(spec: SandboxSpec): string[] {
  switch (spec.network) {
    case 'none':
      return ['--unshare-net'];
    case 'host':
      // The profile's own list (config/profiles.ts), the same one the config check uses: workstation and custom.
      if (!PROFILE_RULES[spec.profile].networks.includes('host')) {
        throw new AgentdError('INVALID_ARGUMENT', `network 'host' is not allowed with profile '${spec.profile}' (only with ${profilesAllowingHost()})`, { details: { network: spec.network, profile: spec.profile } });
      }
      return [];
    case 'allowlist':
      if (spec.net?.proxyPort === undefined) {
        throw new AgentdError('BACKEND_UNAVAILABLE', "network 'allowlist' needs the daemon's egress proxy (a sandbox started without the daemon's network service)", { details: { network: spec.network } });
      }
      return ['--unshare-net'];
  }
}

function mountArgs(m: Mount): string[] {
  switch (m.op) {
    case 'ro-bind':
      return ['--ro-bind', m.source, m.target];
    case 'bind':
      return ['--bind', m.source, m.target];
    case 'ro-bind-fd':
      return ['--ro-bind-fd', String(m.fd), m.target];
    case 'bind-fd':
      return ['--bind-fd', String(m.fd), m.target];
    case 'symlink':
      return ['--symlink', m.linkTarget, m.target];
    case 'proc':
      return ['--proc', m.target];
    case 'dev':
      return ['--dev', m.target];
    case 'mask-dir':
      // Mode 000 and read-only: the owner (the sandbox user) cannot chmod it back open.
      return ['--perms', '0000', '--tmpfs', m.target, '--remount-ro', m.target];
    case 'mask-file':
      return ['--ro-bind', m.source, m.target];
  }
}

export interface BwrapArgsInput {
  spec: SandboxSpec;
  /** Ordered mounts from planMounts(). */
  mounts: Mount[];
  /** The fd (in bwrap's fd table) holding the compiled seccomp filter; undefined = no filter. */
  seccompFd?: number;
  /**
   * A sandbox with an image (image-root.ts): the fd of the user namespace the daemon made
   * (uid 0 and 1000 mapped), joined with `--userns`; the init runs as root inside with
   * `rootCaps` only (file operations as the agent user), and `/` stays writable (the overlay).
   */
  image?: { usernsFd: number; rootCaps: readonly string[] };
  /** agentd-init `--no-shepherd-subreaper` (option shepherd_subreaper = false). */
  noShepherdSubreaper?: boolean;
}

/**
 * bwrap's arguments (without the bwrap binary itself), ending with agentd-init's command
 * line. Pure: everything it needs is in `input`.
 */
export function bwrapArgs(input: BwrapArgsInput): string[] {
  const { spec } = input;
  const image = input.image;
  const args = [
    ...(image === undefined ? ['--unshare-user'] : ['--userns', String(image.usernsFd)]),
    '--unshare-pid', '--unshare-ipc', '--unshare-uts', '--unshare-cgroup',
    ...networkArgs(spec),
    // A nested user namespace is refused by the kernel too (user.max_user_namespaces = 0
    // inside), not only by the seccomp filter. (bwrap allows it only with --unshare-user:
    // with an image, the seccomp filter alone refuses CLONE_NEWUSER.)
    ...(image === undefined ? ['--disable-userns', '--uid', String(SANDBOX_UID), '--gid', String(SANDBOX_GID)] : ['--uid', '0', '--gid', '0']),
    '--hostname', sandboxHostname(spec.id),
    '--die-with-parent', '--new-session', '--as-pid-1',
    '--cap-drop', 'ALL',
    ...(image === undefined ? [] : image.rootCaps.flatMap((c) => ['--cap-add', c])),
    '--clearenv',
  ];
  for (const [k, v] of Object.entries(sandboxEnv(spec))) {
    if (k === '' || k.includes('=') || k.includes('\0') || v.includes('\0')) {
      throw new AgentdError('INVALID_ARGUMENT', `env: invalid variable name or value for '${k}'`, { details: { name: k } });
    }
    args.push('--setenv', k, v);
  }
  for (const m of input.mounts) args.push(...mountArgs(m));
  // The daemon's network sockets of this sandbox (network/service.ts): the daemon's folder, read-only inside.
  if (spec.net !== undefined) args.push('--ro-bind', spec.net.hostDir, SANDBOX_NET_DIR);
  // Nothing may be created at the top of the sandbox's tree once it is built (an image's overlay stays writable).
  if (image === undefined) args.push('--remount-ro', '/');
  if (input.seccompFd !== undefined) args.push('--seccomp', String(input.seccompFd));
  args.push('--chdir', spec.workdir ?? SANDBOX_PATHS.workspace);
  args.push('--', SANDBOX_PATHS.init, '--fs-root', '/');
  if (image !== undefined) args.push('--fs-uid', String(SANDBOX_UID));
  if (input.noShepherdSubreaper === true) args.push('--no-shepherd-subreaper');
  if (spec.net !== undefined) {
    args.push('--net-dir', SANDBOX_NET_DIR);
    if (spec.net.proxyPort !== undefined) args.push('--proxy-port', String(spec.net.proxyPort));
  }
  return args;
}
