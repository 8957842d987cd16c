import type { HostPathRules } from '../isolation/host-paths.js';
import type { BackendProbe, ProfileName, IsolationBackend, SandboxHandle, SandboxSpec } from '../isolation/types.js';
import type { SandboxRepo } from '../state/sandboxes.js';
import type { SessionRepo } from '../state/sessions.js';
import type { SnapshotRepo } from '../state/snapshots.js';
import type { Logger } from '../util/logger.js';
import type { PoolOptions } from './pool.js';
import type { ProfileDefaults, SandboxTemplate } from './spec.js';

/** The backends a daemon runs, by canonical name or alias. */
export interface BackendSet {
  /** Canonical name for a name or alias; throws AgentdError UNKNOWN_BACKEND. */
  canonical(nameOrAlias: string): string;
  /** The started backend instance; throws UNKNOWN_BACKEND / BACKEND_UNAVAILABLE. */
  get(nameOrAlias: string): IsolationBackend;
  /** Throws ISOLATION_REQUIRED when `profile` forbids the backend's isolation level. */
  assertProfileAllows(profile: ProfileName, backend: IsolationBackend): void;
  /** What the backend enforces on this host, as probed at start (undefined: not probed). */
  probeOf?(nameOrAlias: string): BackendProbe | undefined;
}

/** The tables the manager keeps in sync (a subset of the StateStore). */
export interface ManagerStore {
  sandboxes: SandboxRepo;
  sessions: SessionRepo;
  snapshots: SnapshotRepo;
}

export interface ManagerOptions {
  /** $AGENTD_HOME */
  home: string;
  defaultProfile: ProfileName;
  profileDefaults(profile: ProfileName): ProfileDefaults;
  /** Live + warm + starting sandboxes at most; more -> RESOURCE_EXHAUSTED. */
  maxSandboxes: number;
  pool: PoolOptions;
  /** How often TTLs, pool age and session timeouts are checked. */
  sweepIntervalMs: number;
  /** A running sandbox with no exec for this long and no open session is stopped (files kept). undefined = never. */
  idleStopMs?: number;
  /**
   * config `sandbox.fresh_per_request` (forced under paranoid): every intent runs in a sandbox
   * no earlier request used. Intents naming a sandbox or keeping theirs (`persist`), and
   * sandboxes or sessions made to be used again, are refused with POLICY_DENIED.
   */
  freshPerRequest?: boolean;
  /** config `isolation.allow_host_direct`: a request may name host-direct though the default backend isolates (grants.ts). Default false. */
  allowHostDirect?: boolean;
  /** The daemon runs as root (default: its effective uid is 0): host-direct then needs the admin role. */
  rootDaemon?: boolean;
  /** Host-path roots, protected paths and the config's paths for every sandbox; absent: no host path at all. */
  hostPaths?: HostPathRules;
  /** Per-tenant snapshot quota (config limits.max_snapshots_per_tenant / max_snapshot_bytes_per_tenant); undefined = none (tests). */
  snapshotQuota?: { maxCount: number; maxBytes: number };
  /** config `templates`: name -> an image plus defaults (docs/images.md); absent: none. */
  templates?: Readonly<Record<string, SandboxTemplate>>;
  /** Snapshot retention (config limits.snapshot_max_age_ms / snapshot_keep_per_sandbox), enforced by `sweepSnapshots`; absent: kept until deleted. */
  snapshotRetention?: { maxAgeMs?: number; keepPerSandbox?: number };
}

/** The daemon's network service as the manager uses it (network/service.ts). */
export interface ManagerNetwork {
  /** Makes the sandbox's network sockets; returns the spec to start (with `net`). */
  attach(spec: SandboxSpec): Promise<SandboxSpec>;
  /** Closes them (only those made for `only`, when given). */
  detach(id: string, only?: SandboxSpec): Promise<void>;
  /** Once its init is ready: exposes the ports the spec asks for. */
  started(handle: SandboxHandle): Promise<void>;
  /** POLICY_DENIED / INVALID_ARGUMENT unless a sandbox's own rules only narrow the config's. */
  checkSandboxRules(profile: string, tenant: string | undefined, rules: { allow?: string[]; deny?: string[] }): void;
}

export interface ManagerDeps {
  store: ManagerStore;
  /** Absent: sandboxes get no network sockets (no allowlist mode, no ports). */
  network?: ManagerNetwork;
  backends: BackendSet;
  logger: Logger;
  now?: () => number;
}

/** Counters of one manager (the /metrics and stats view). */
export interface ManagerStats {
  created: number;
  active: number;
  poolSize: number;
  poolHits: number;
  poolMisses: number;
  poolHitRate: number;
  avgCreateMs: number;
  timeoutDestroys: number;
}

/** One sandbox picked for an intent; `release()` destroys it when it was made just for the intent. */
export interface Lease {
  handle: SandboxHandle;
  id: string;
  backend: string;
  profile: ProfileName;
  reused: boolean;
  fromPool: boolean;
  release(): Promise<void>;
}
