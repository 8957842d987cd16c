import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { AgentdError } from './core/errors.js';

/**
 * Where the native build outputs live. src/ and dist/ sit at the same depth under the
 * package root, so one relative URL serves both the TypeScript sources (tests) and the build.
 */
const NATIVE_BUILD = new URL('../native/build/', import.meta.url);

export interface NativePaths {
  init: string;
  seccompBpf: string;
  /** The same filter plus the owner guard (no setuid/setgid bits), for sandboxes with an owner-preserving mount. */
  seccompOwnerBpf: string;
  peercredAddon: string;
  /** The egress proxy's splice relay (network/native-relay.ts); a path that does not exist makes it relay in JavaScript. */
  relayAddon: string;
  /** Root daemon: mounts a pinned host path idmapped onto a staging point (isolation/namespace/owner-mounts.ts). */
  idmap: string;
  /** Root daemon: runs crun in a private mount namespace without /sys/fs/cgroup/unified (isolation/oci/runtime.ts crunWorkaround). */
  nounified: string;
}

export function nativePaths(env: NodeJS.ProcessEnv = process.env): NativePaths {
  return {
    init: env.AGENTD_INIT_PATH ?? fileURLToPath(new URL('agentd-init', NATIVE_BUILD)),
    seccompBpf: env.AGENTD_SECCOMP_BPF ?? fileURLToPath(new URL('seccomp.bpf', NATIVE_BUILD)),
    seccompOwnerBpf: env.AGENTD_SECCOMP_OWNER_BPF ?? fileURLToPath(new URL('seccomp-owner.bpf', NATIVE_BUILD)),
    peercredAddon: fileURLToPath(new URL('peercred.node', NATIVE_BUILD)),
    relayAddon: env.AGENTD_RELAY_ADDON ?? fileURLToPath(new URL('relay.node', NATIVE_BUILD)),
    idmap: env.AGENTD_IDMAP_PATH ?? fileURLToPath(new URL('agentd-idmap', NATIVE_BUILD)),
    nounified: fileURLToPath(new URL('agentd-nounified', NATIVE_BUILD)),
  };
}

/** The agentd-init path, or a clear error telling how to build it. */
export function requireInitPath(env: NodeJS.ProcessEnv = process.env): string {
  const { init } = nativePaths(env);
  if (!existsSync(init)) {
    throw new AgentdError('BACKEND_UNAVAILABLE', `agentd-init not found at ${init}; build it with 'npm run build:native' (or set AGENTD_INIT_PATH)`);
  }
  return init;
}
