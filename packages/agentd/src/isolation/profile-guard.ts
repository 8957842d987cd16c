import { PROFILE_RULES } from '../config/profiles.js';
import { AgentdError } from '../core/errors.js';
import type { BackendProbe, ProfileName, SandboxLimits } from './types.js';

export interface ProfileGuardOptions {
  /** Also demand kernel isolation under a profile that does not force it (config isolation.require_kernel). */
  requireKernel?: boolean;
  /** How to name a backend that would do, e.g. "backend 'namespace' (bwrap)". */
  kernelHint?: string;
}

/**
 * Refuses a backend the profile does not allow: server and paranoid (or require_kernel)
 * need a backend that is available and isolates with the kernel; any profile needs an
 * available backend. The message names the profile and the backend and says what to do.
 */
export function assertProfileAllows(profile: ProfileName, backendName: string, probe: BackendProbe, opts: ProfileGuardOptions = {}): void {
  const forced = PROFILE_RULES[profile].requireKernel;
  const requireKernel = forced || opts.requireKernel === true;
  const named = probe.backend === backendName ? `'${backendName}'` : `'${backendName}' (${probe.backend})`;
  const details = { profile, backend: probe.backend, requested: backendName, isolation: probe.isolation, available: probe.available, reason: probe.reason };
  const who = forced ? `profile '${profile}'` : `profile '${profile}' with isolation.require_kernel = true`;
  const hint = opts.kernelHint ?? 'a backend with kernel isolation';
  if (requireKernel && probe.isolation === 'none') {
    throw new AgentdError('ISOLATION_REQUIRED', `${who} requires kernel isolation, but backend ${named} provides none; use ${hint} or profile 'workstation'`, { details });
  }
  if (requireKernel && !probe.available) {
    throw new AgentdError('ISOLATION_REQUIRED', `${who} requires kernel isolation, but backend ${named} is not available on this host (${probe.reason ?? 'probe failed'}); fix that (see 'agentd doctor') or use profile 'workstation'`, { details });
  }
  const pid = probe.features.pidNamespace;
  if (PROFILE_RULES[profile].requirePidNamespace && pid?.ok !== true) {
    throw new AgentdError('ISOLATION_REQUIRED', `profile '${profile}' requires a pid namespace (a sandbox must not see the host's or other sandboxes' processes), but backend ${named} has none (${pid?.detail ?? 'not reported'}); use ${hint} or profile 'workstation'`, {
      details: { ...details, rule: 'pid_namespace' },
    });
  }
  if (!probe.available) {
    throw new AgentdError('BACKEND_UNAVAILABLE', `backend ${named} is not available on this host (${probe.reason ?? 'probe failed'}); see 'agentd doctor'`, { details });
  }
}

/** The probe feature that says whether a backend enforces a limit here (rlimits are always set). */
const LIMIT_FEATURE: Partial<Record<keyof SandboxLimits, string>> = {
  memoryBytes: 'memoryLimit',
  pids: 'pidsLimit',
  cpus: 'cpuLimit',
  diskBytes: 'diskLimit',
};

/** The config/request key of each limit (`limits.<key>` in a request, `sandbox.limits.<key>` in the config). */
export const LIMIT_KEYS: Record<keyof SandboxLimits, string> = {
  memoryBytes: 'memory_bytes',
  pids: 'pids',
  cpus: 'cpus',
  openFiles: 'open_files',
  coreBytes: 'core_bytes',
  diskBytes: 'disk_bytes',
};

/**
 * Refuses (LIMIT_UNSUPPORTED) a limit the backend cannot enforce on this host, as its probe
 * measured, whether the request asked for it or it is a default of the profile: a limit is
 * enforced or refused, never dropped. `originOf` names where each limit came from (e.g.
 * "sandbox.limits.memory_bytes (config)"), so the message says what to change.
 */
export function assertLimitsEnforceable(backendName: string, probe: BackendProbe | undefined, limits: SandboxLimits, originOf: (field: keyof SandboxLimits) => string): void {
  if (probe === undefined) return; // not probed: the backend's own start refuses what it cannot do
  const refused = (Object.keys(LIMIT_FEATURE) as Array<keyof SandboxLimits>).filter((f) => {
    const feature = LIMIT_FEATURE[f];
    return limits[f] !== undefined && feature !== undefined && probe.features[feature]?.ok !== true;
  });
  if (refused.length === 0) return;
  const parts = refused.map((f) => `${originOf(f)} = ${String(limits[f])} (${probe.features[LIMIT_FEATURE[f] ?? '']?.detail ?? 'not supported'})`);
  throw new AgentdError('LIMIT_UNSUPPORTED', `backend '${backendName}' cannot enforce ${parts.join('; ')} on this host; remove these limits, or run where they can be enforced (see 'agentd doctor')`, {
    details: { backend: backendName, limits: refused, origins: refused.map(originOf) },
  });
}
