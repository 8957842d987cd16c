import { PROFILE_RULES } from '../config/profiles.js';
import { AgentdError } from '../core/errors.js';
import { BUILTIN_BACKENDS } from './names.js';
import type { BackendProbe } from './types.js';

export interface DetectOptions {
  /** Only backends with kernel isolation qualify (profiles server and paranoid). */
  requireKernel?: boolean;
  /** Named in the error when nothing qualifies. */
  profile?: string;
}

/** Lower is better: kernel isolation first, built-ins in their table order, user backends after built-ins. */
function rank(probe: BackendProbe): [number, number] {
  const builtin = BUILTIN_BACKENDS.findIndex((b) => b.name === probe.backend);
  return [probe.isolation === 'kernel' ? 0 : 1, builtin === -1 ? BUILTIN_BACKENDS.length : builtin];
}

/**
 * The best available backend among `probes` (canonical name): kernel isolation that works
 * here beats none (namespace > host-direct). Throws when nothing qualifies, listing why
 * each candidate cannot be used.
 */
export function detectBest(probes: readonly BackendProbe[], opts: DetectOptions = {}): string {
  // A profile that demands a pid namespace (server, paranoid) never gets one without it (linux-native).
  const needsPid = opts.profile !== undefined && Object.hasOwn(PROFILE_RULES, opts.profile) && PROFILE_RULES[opts.profile as keyof typeof PROFILE_RULES].requirePidNamespace;
  const usable = probes
    .filter((p) => p.available && (!opts.requireKernel || p.isolation === 'kernel') && (!needsPid || p.features.pidNamespace?.ok === true))
    .sort((a, b) => {
      const [ak, ai] = rank(a);
      const [bk, bi] = rank(b);
      return ak - bk || ai - bi;
    });
  const best = usable[0];
  if (best) return best.backend;
  const why = probes.map((p) => `${p.backend}: ${p.available ? `isolation ${p.isolation}` : (p.reason ?? 'unavailable')}`).join('; ');
  if (opts.requireKernel) {
    const who = opts.profile === undefined ? 'kernel isolation is required' : `profile '${opts.profile}' requires kernel isolation`;
    throw new AgentdError('ISOLATION_REQUIRED', `${who}, but no backend with kernel isolation is available on this host (${why || 'no backends registered'}); run 'agentd doctor' to see what is missing, or use profile 'workstation'`, {
      details: { profile: opts.profile, probes: probes.map((p) => ({ backend: p.backend, available: p.available, isolation: p.isolation, reason: p.reason })) },
    });
  }
  throw new AgentdError('BACKEND_UNAVAILABLE', `no isolation backend is available on this host (${why || 'no backends registered'}); run 'agentd doctor'`, {
    details: { probes: probes.map((p) => ({ backend: p.backend, available: p.available, reason: p.reason })) },
  });
}
