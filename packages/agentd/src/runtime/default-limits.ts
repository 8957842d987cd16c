import type { AgentdConfig } from '../config/schema.js';
import { AgentdError } from '../core/errors.js';
import type { BackendProbe, SandboxLimits } from '../isolation/types.js';
import type { Logger } from '../util/logger.js';

/** The default limits of `sandbox.limits` and the probe feature that enforces each. */
const ENFORCED_BY = [
  { key: 'memory_bytes', feature: 'memoryLimit', field: 'memoryBytes' },
  { key: 'pids', feature: 'pidsLimit', field: 'pids' },
  { key: 'cpus', feature: 'cpuLimit', field: 'cpus' },
  { key: 'disk_bytes', feature: 'diskLimit', field: 'diskBytes' },
] as const;

export interface UnenforceableLimit {
  /** Config key, `sandbox.limits.<key>`. */
  key: string;
  /** The SandboxLimits field it sets. */
  field: keyof SandboxLimits;
  reason: string;
}

/**
 * The default limits of `section` (0 = none on purpose, not listed) that `backend` cannot
 * enforce here, as its probe says (host-direct under a root daemon has the cgroup, so memory,
 * pids and CPU quotas hold there; the disk volume is the namespace backend's only).
 */
export function unenforceableDefaults(section: AgentdConfig['sandbox']['limits'], backend: string, probe: BackendProbe | undefined): UnenforceableLimit[] {
  const out: UnenforceableLimit[] = [];
  for (const { key, feature, field } of ENFORCED_BY) {
    const value = section[key];
    if (value === undefined || value === 0) continue;
    const status = probe?.features[feature];
    if (status === undefined || !status.ok) out.push({ key: `sandbox.limits.${key}`, field, reason: status?.detail ?? `backend '${backend}' has no ${feature}` });
  }
  return out;
}

/**
 * Refuses a daemon (or `agentd run`) whose default limits its backend cannot enforce: a
 * default limit never vanishes silently (no cgroup for a non-root daemon, no loop mounts,
 * host-direct). The message names every key and how to run without it.
 */
export function assertDefaultLimits(config: AgentdConfig, backend: string, probe: BackendProbe | undefined): void {
  const missing = unenforceableDefaults(config.sandbox.limits, backend, probe);
  if (missing.length === 0) return;
  const list = missing.map((m) => `${m.key} (${m.reason})`).join('; ');
  throw new AgentdError(
    'LIMIT_UNSUPPORTED',
    `profile '${config.profile}' limits every sandbox by default, but backend '${backend}' cannot enforce ${list}. ` +
      `Run the daemon where it can (as root, with cgroups; the disk limit needs the namespace backend as root), or set ${missing.map((m) => `${m.key} = 0`).join(', ')} in the config to run without ${missing.length === 1 ? 'it' : 'them'}`,
    { details: { backend, profile: config.profile, limits: missing.map((m) => m.key) } },
  );
}

/**
 * `agentd run`: the operator runs one command on their own host and reads its stderr, so a
 * default limit the chosen backend cannot enforce is named there in a warning (with the key to
 * set to 0 to say so on purpose) and this run goes without it; the daemon refuses instead.
 */
export function dropUnenforceableForRun(config: AgentdConfig, backend: string, probe: BackendProbe | undefined, limits: SandboxLimits, logger: Logger): SandboxLimits {
  const missing = unenforceableDefaults(config.sandbox.limits, backend, probe);
  if (missing.length === 0) return limits;
  logger.warn(
    { backend, limits: missing.map((m) => m.key).join(',') },
    `backend '${backend}' cannot enforce ${missing.map((m) => `${m.key} (${m.reason})`).join('; ')}: this run goes without ${missing.length === 1 ? 'it' : 'them'} (set ${missing.map((m) => `${m.key} = 0`).join(', ')} in the config to say so)`,
  );
  const out: SandboxLimits = { ...limits };
  for (const m of missing) delete out[m.field];
  return out;
}
