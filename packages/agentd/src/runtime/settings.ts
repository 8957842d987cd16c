import type { AgentdConfig } from '../config/schema.js';
import { PRESETS } from '../config/profiles.js';
import type { HostPathRules } from '../isolation/host-paths.js';
import type { ProfileName, SandboxLimits } from '../isolation/types.js';
import type { ManagerOptions } from '../sandbox/types.js';
import type { ProfileDefaults } from '../sandbox/spec.js';
import type { SessionDefaults } from '../sandbox/sessions.js';

const MINUTE = 60_000;

/** Daemon knobs that are not in the config file (tests shorten them). */
export interface RuntimeTuning {
  /** How often TTLs, pool age and session timeouts are checked (default 1000 ms). */
  sweepIntervalMs?: number;
  sessionDefaults?: Partial<SessionDefaults>;
  /** Grace period for in-flight requests at stop (default 5000 ms). */
  stopGraceMs?: number;
}

function limitsFrom(section: AgentdConfig['sandbox']['limits']): SandboxLimits {
  // Every default is carried, enforceable here or not: a backend that cannot enforce one
  // refuses the create naming the key (profile-guard.ts assertLimitsEnforceable), never drops it.
  // 0 = no limit, on purpose. The daemon's own profile's defaults are also checked at start (assertDefaultLimits).
  const set = (v: number | undefined): v is number => v !== undefined && v !== 0;
  const out: SandboxLimits = {};
  if (set(section.memory_bytes)) out.memoryBytes = section.memory_bytes;
  if (set(section.pids)) out.pids = section.pids;
  if (set(section.cpus)) out.cpus = section.cpus;
  if (section.open_files !== undefined) out.openFiles = section.open_files;
  if (set(section.disk_bytes)) out.diskBytes = section.disk_bytes;
  return out;
}

/** What a profile gives a new sandbox: the config's own section for the daemon's profile, the preset for others. */
export function profileDefaultsFrom(config: AgentdConfig, backend: string) {
  return (profile: ProfileName): ProfileDefaults => {
    const section = profile === config.profile ? config.sandbox : PRESETS[profile].sandbox;
    return {
      backend,
      network: section.network,
      limits: limitsFrom(section.limits),
      env: { ...section.env },
      ...(section.workdir === undefined ? {} : { workdir: section.workdir }),
      ...(section.ttl_ms === undefined ? {} : { ttlMs: section.ttl_ms }),
    };
  };
}

/** `sandbox.local_mount_roots` when unset: where users keep their checkouts (see sandbox/host-path-grant.ts). */
export const DEFAULT_LOCAL_MOUNT_ROOTS: readonly string[] = ['/home', '/root'];

/** The host-path rules of a config (isolation/host-paths.ts): its roots, what no host path may touch, and its paths for every sandbox. */
export function hostPathRulesFrom(config: AgentdConfig): HostPathRules {
  return {
    roots: [...(config.sandbox.host_path_roots ?? [])],
    localRoots: [...(config.sandbox.local_mount_roots ?? DEFAULT_LOCAL_MOUNT_ROOTS)],
    // The home holds state.db and every sandbox's folders; the socket (which may lie elsewhere) is the daemon's door.
    protectedPaths: [config.home, ...(config.adapters.unix.enabled ? [config.adapters.unix.path] : [])],
    config: { allowedPathsRo: [...config.sandbox.allowed_paths_ro], allowedPathsRw: [...config.sandbox.allowed_paths_rw], denyPaths: [...config.sandbox.deny_paths] },
  };
}

export function managerOptionsFrom(config: AgentdConfig, backend: string, tuning: RuntimeTuning): ManagerOptions {
  return {
    home: config.home,
    defaultProfile: config.profile,
    profileDefaults: profileDefaultsFrom(config, backend),
    maxSandboxes: config.sandbox.max_sandboxes,
    pool: config.pool.enabled ? { minWarm: config.pool.min_warm, maxWarm: config.pool.max_warm, ttlMs: config.pool.ttl_ms } : { minWarm: 0, maxWarm: 0, ttlMs: config.pool.ttl_ms },
    sweepIntervalMs: tuning.sweepIntervalMs ?? 1000,
    freshPerRequest: config.sandbox.fresh_per_request,
    allowHostDirect: config.isolation.allow_host_direct,
    hostPaths: hostPathRulesFrom(config),
    ...(config.templates === undefined ? {} : { templates: config.templates }),
    snapshotQuota: { maxCount: config.limits.max_snapshots_per_tenant, maxBytes: config.limits.max_snapshot_bytes_per_tenant },
    snapshotRetention: {
      ...(config.limits.snapshot_max_age_ms === undefined ? {} : { maxAgeMs: config.limits.snapshot_max_age_ms }),
      ...(config.limits.snapshot_keep_per_sandbox === undefined ? {} : { keepPerSandbox: config.limits.snapshot_keep_per_sandbox }),
    },
    ...(config.sandbox.idle_timeout_ms === undefined ? {} : { idleStopMs: config.sandbox.idle_timeout_ms }),
  };
}

export function sessionDefaultsFrom(config: AgentdConfig, tuning: RuntimeTuning): SessionDefaults {
  return {
    idleTimeoutMs: tuning.sessionDefaults?.idleTimeoutMs ?? config.sandbox.idle_timeout_ms ?? 30 * MINUTE,
    detachTimeoutMs: tuning.sessionDefaults?.detachTimeoutMs ?? 30 * MINUTE,
    suspendAfterMs: tuning.sessionDefaults?.suspendAfterMs ?? 0,
  };
}
