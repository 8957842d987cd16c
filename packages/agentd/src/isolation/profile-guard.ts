import { PROFILE_RULES } from '../config/profiles.js';
import { AgentdError } from '../core/errors.js';
import type { BackendProbe, ProfileName } from './types.js';

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
  if (!probe.available) {
    throw new AgentdError('BACKEND_UNAVAILABLE', `backend ${named} is not available on this host (${probe.reason ?? 'probe failed'}); see 'agentd doctor'`, { details });
  }
}
