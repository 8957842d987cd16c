import type { NetworkMode, ProfileName } from '../isolation/types.js';
import { deepFreeze } from './objects.js';
import { NETWORK_DEFAULTS } from './network-section.js';
import type { ConfigShape } from './sections.js';

/** What a profile enforces. The preset (below) only fills defaults; these are checked after the file is merged. */
export interface ProfileRules {
  /** Backends without kernel isolation (host-direct) and unavailable backends are refused. */
  readonly requireKernel: boolean;
  /**
   * Backends whose sandboxes share the host's pid namespace (linux-native: they see every
   * host process, other tenants' command lines included) are refused.
   */
  readonly requirePidNamespace: boolean;
  /** The allow-all auth provider may be configured (Unix socket callers only, socket mode 0600). */
  readonly allowAllowAllAuth: boolean;
  /** Network modes a sandbox may have. */
  readonly networks: readonly NetworkMode[];
  /** Every request gets a sandbox no earlier request used. */
  readonly freshPerRequest: boolean;
}

export const PROFILE_RULES: Readonly<Record<ProfileName, ProfileRules>> = deepFreeze({
  workstation: { requireKernel: false, requirePidNamespace: false, allowAllowAllAuth: true, networks: ['none', 'allowlist', 'host'], freshPerRequest: false },
  server: { requireKernel: true, requirePidNamespace: true, allowAllowAllAuth: false, networks: ['none', 'allowlist'], freshPerRequest: false },
  paranoid: { requireKernel: true, requirePidNamespace: true, allowAllowAllAuth: false, networks: ['none'], freshPerRequest: true },
  custom: { requireKernel: false, requirePidNamespace: false, allowAllowAllAuth: true, networks: ['none', 'allowlist', 'host'], freshPerRequest: false },
});

/** A preset: every value except those derived from the host (home, socket path). */
export type Preset = Omit<ConfigShape, 'profile' | 'home' | 'adapters'> & {
  adapters: Omit<ConfigShape['adapters'], 'unix'> & { unix: Omit<ConfigShape['adapters']['unix'], 'path'> };
};

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;
const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

const adapters = (bodyLimit: number): Preset['adapters'] => ({
  http: {
    enabled: true, listen: '127.0.0.1:7070', body_limit_bytes: bodyLimit, request_timeout_ms: 60_000, headers_timeout_ms: 10_000, keep_alive_timeout_ms: 5000,
  },
  unix: { enabled: true, mode: 0o660 },
  grpc: { enabled: false },
  nats: { enabled: false },
});

const snapshotQuota = (count: number, bytes: number) => ({ max_snapshots_per_tenant: count, max_snapshot_bytes_per_tenant: bytes });
/** TCP callers need a credential under every profile: the local token (auth/local-token.ts) for the CLI and SDK on this host. */
const localCallers = [{ type: 'local-token' as const }, { type: 'peer-creds' as const }];

/** Audit retention, the same under every profile. */
const audit = { max_age_ms: 90 * 24 * HOUR, max_events: 1_000_000 };
/** Commands' output buffers and retention, the same under every profile. */
const commands = { ring_buffer_bytes: 1 * MiB, keep_exited_ms: 10 * MINUTE, max_kept: 256, persisted_tail_bytes: 64 * 1024 };
/** Daemon-wide budget for non-streamed exec output held in memory. */
const BUFFERED_OUTPUT = 256 * MiB;

const noPaths = { allowed_paths_ro: [], allowed_paths_rw: [], deny_paths: [] };

const workstation: Preset = {
  isolation: { backend: 'auto', require_kernel: false, allow_host_direct: false, backends: {} },
  adapters: adapters(32 * MiB),
  auth: { providers: [...localCallers] },
  sandbox: {
    network: 'none',
    env: {},
    // One core and 1024 processes: a fork or CPU bomb leaves the rest of even a 2-core host to everyone else.
    limits: { memory_bytes: 4 * GiB, pids: 1024, cpus: 1, disk_bytes: 8 * GiB },
    idle_timeout_ms: 30 * MINUTE,
    max_sandboxes: 64,
    fresh_per_request: false,
    ...noPaths,
  },
  network: NETWORK_DEFAULTS,
  pool: { enabled: false, min_warm: 0, max_warm: 4, ttl_ms: 10 * MINUTE },
  limits: { max_exec_timeout_ms: 600_000, max_output_bytes: 16 * MiB, max_request_bytes: 32 * MiB, max_concurrent_execs: 64, ...snapshotQuota(64, 16 * GiB), max_buffered_output_bytes: BUFFERED_OUTPUT },
  commands,
  audit,
  log: { level: 'info' },
};

const server: Preset = {
  isolation: { backend: 'auto', require_kernel: true, allow_host_direct: false, backends: {} },
  adapters: adapters(32 * MiB),
  auth: { providers: [...localCallers, { type: 'api-key' }] },
  sandbox: {
    network: 'none',
    env: {},
    limits: { memory_bytes: 2 * GiB, pids: 1024, cpus: 1, open_files: 4096, disk_bytes: 8 * GiB },
    ttl_ms: 24 * HOUR,
    idle_timeout_ms: 30 * MINUTE,
    max_sandboxes: 256,
    fresh_per_request: false,
    ...noPaths,
  },
  network: NETWORK_DEFAULTS,
  pool: { enabled: true, min_warm: 2, max_warm: 8, ttl_ms: 30 * MINUTE },
  limits: { max_exec_timeout_ms: 600_000, max_output_bytes: 16 * MiB, max_request_bytes: 32 * MiB, max_concurrent_execs: 256, ...snapshotQuota(256, 64 * GiB), max_buffered_output_bytes: BUFFERED_OUTPUT },
  commands,
  audit,
  log: { level: 'info' },
};

const paranoid: Preset = {
  isolation: { backend: 'auto', require_kernel: true, allow_host_direct: false, backends: {} },
  adapters: adapters(8 * MiB),
  auth: { providers: [...localCallers, { type: 'api-key' }] },
  sandbox: {
    network: 'none',
    env: {},
    limits: { memory_bytes: 512 * MiB, pids: 256, cpus: 1, open_files: 1024, disk_bytes: 1 * GiB },
    ttl_ms: HOUR,
    idle_timeout_ms: 5 * MINUTE,
    max_sandboxes: 64,
    fresh_per_request: true,
    ...noPaths,
  },
  network: NETWORK_DEFAULTS,
  pool: { enabled: true, min_warm: 2, max_warm: 8, ttl_ms: 10 * MINUTE },
  limits: { max_exec_timeout_ms: 300_000, max_output_bytes: 4 * MiB, max_request_bytes: 8 * MiB, max_concurrent_execs: 32, ...snapshotQuota(16, 2 * GiB), max_buffered_output_bytes: BUFFERED_OUTPUT },
  commands,
  audit,
  log: { level: 'info' },
};

/** custom: nothing implied. Neutral fail-closed values; auth providers must come from the file. */
const custom: Preset = {
  isolation: { backend: 'auto', require_kernel: false, allow_host_direct: false, backends: {} },
  adapters: adapters(32 * MiB),
  auth: { providers: [] },
  sandbox: { network: 'none', env: {}, limits: { memory_bytes: 1 * GiB, pids: 512, cpus: 1, disk_bytes: 2 * GiB }, max_sandboxes: 64, fresh_per_request: false, ...noPaths },
  network: NETWORK_DEFAULTS,
  pool: { enabled: false, min_warm: 0, max_warm: 4, ttl_ms: 10 * MINUTE },
  limits: { max_exec_timeout_ms: 600_000, max_output_bytes: 16 * MiB, max_request_bytes: 32 * MiB, max_concurrent_execs: 64, ...snapshotQuota(64, 16 * GiB), max_buffered_output_bytes: BUFFERED_OUTPUT },
  commands,
  audit,
  log: { level: 'info' },
};

export const PRESETS: Readonly<Record<ProfileName, Preset>> = deepFreeze({ workstation, server, paranoid, custom });

export const DEFAULT_PROFILE: ProfileName = 'workstation';
