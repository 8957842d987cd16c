import type { Channel } from '../channel/types.js';
import type { HostPathRules } from './host-paths.js';

export type ProfileName = 'workstation' | 'server' | 'paranoid' | 'custom';
export type IsolationLevel = 'none' | 'kernel';
export type NetworkMode = 'none' | 'allowlist' | 'host';

export interface BindMount {
  source: string;
  target: string;
  readonly: boolean;
  /**
   * Set by the daemon (never by a request) when a local caller asked for it
   * (sandbox/host-path-grant.ts): its source may also lie under `sandbox.local_mount_roots`.
   */
  local?: boolean;
}

export interface SandboxLimits {
  /** Memory limit in bytes (cgroup). */
  memoryBytes?: number;
  /** Max number of processes/threads (cgroup pids). */
  pids?: number;
  /** CPU quota in cores (0.5 = half a core) (cgroup cpu). */
  cpus?: number;
  /** RLIMIT_NOFILE for every process in the sandbox. */
  openFiles?: number;
  /** RLIMIT_CORE in bytes (default 0). */
  coreBytes?: number;
  /** Size of the sandbox's own file system holding workspace, home and tmp (loop-mounted image; root daemons only). */
  diskBytes?: number;
}

/** Host folders that hold a sandbox's persistent state. */
export interface SandboxDirs {
  /** `$AGENTD_HOME/sandboxes/<id>` */
  root: string;
  workspace: string;
  home: string;
  tmp: string;
}

/** Everything a backend needs to start one sandbox. Already validated and defaulted. */
export interface SandboxSpec {
  id: string;
  profile: ProfileName;
  dirs: SandboxDirs;
  /** Base environment of every exec (merged under each exec's own env). */
  env: Record<string, string>;
  /** Default cwd in the sandbox's view ("/workspace" for namespace; the workspace path for host-direct). */
  workdir?: string;
  network: NetworkMode;
  limits: SandboxLimits;
  /** Extra host paths visible read-only / read-write (same path inside). */
  allowedPathsRo: string[];
  allowedPathsRw: string[];
  bindMounts: BindMount[];
  /** Paths masked inside the sandbox (an empty dir/file over them), even if they do not exist yet. */
  denyPaths: string[];
  labels: Record<string, string>;
  /** The sandbox's own egress rules (network 'allowlist'; docs/network.md): they only narrow the config's. undefined = the config's alone. */
  egress?: { allow?: string[]; deny?: string[] };
  /** Ports exposed on the host at create (docs/network.md, "Ports"). */
  ports?: Array<{ host?: string; hostPort?: number; port: number }>;
  /**
   * Set at each start by the daemon's network service (never stored): the daemon-owned host
   * folder holding the sandbox's egress and ports sockets, bound read-only into the sandbox,
   * and (network 'allowlist') the loopback port of the init's proxy relay.
   */
  net?: { hostDir: string; proxyPort?: number };
  /**
   * The image the sandbox's root file system comes from (docs/images.md): its name when
   * created, the digest it was resolved to (kept for the sandbox's life) and the host path of
   * the stored root file system. Absent: the host's system folders, read-only.
   */
  image?: { name: string; digest: string; rootfs: string };
}

export interface FeatureStatus {
  ok: boolean;
  /** Why not, when !ok; what was detected when ok. */
  detail?: string;
}

/** What a backend really enforces on this host, measured by probe(). */
export interface BackendProbe {
  backend: string;
  available: boolean;
  /** Why the backend cannot run here, when !available. */
  reason?: string;
  isolation: IsolationLevel;
  features: {
    filesystem: FeatureStatus;
    network: FeatureStatus;
    pidNamespace: FeatureStatus;
    seccomp: FeatureStatus;
    memoryLimit: FeatureStatus;
    pidsLimit: FeatureStatus;
    cpuLimit: FeatureStatus;
    suspend: FeatureStatus;
  } & Record<string, FeatureStatus>;
}

export interface SandboxUsage {
  memoryBytes?: number;
  memoryPeakBytes?: number;
  cpuUsec?: number;
  pids?: number;
  /** true if the cgroup's OOM killer fired since the last read (v1 memory.oom_control/failcnt, v2 memory.events). */
  oomKilled?: boolean;
}

export interface DestroyOptions {
  /** Keep the sandbox's folders on disk (default false: remove them). */
  keepFiles?: boolean;
}

/** A started sandbox. `channel` talks to its agentd-init. */
export interface SandboxHandle {
  readonly id: string;
  readonly backend: string;
  readonly channel: Channel;
  readonly spec: SandboxSpec;
  /** The environment every exec starts from: the backend's defaults (PATH, HOME, USER...) under `spec.env`. */
  readonly baseEnv: Readonly<Record<string, string>>;
  /** false once the init is gone (crashed, killed, destroyed). */
  isAlive(): boolean;
  /** Resolves when the init process exits. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  suspend(): Promise<void>;
  resume(): Promise<void>;
  readonly suspended: boolean;
  usage(): Promise<SandboxUsage>;
  /** Kills every process, removes the cgroup; removes the folders unless keepFiles. Idempotent. */
  destroy(opts?: DestroyOptions): Promise<void>;
}

export interface StartOptions {
  signal?: AbortSignal;
  /**
   * The operator's host-path rules and the config's paths for every sandbox (see
   * isolation/host-paths.ts). Absent: no host path is allowed and the config adds nothing.
   * A backend that cannot enforce a path rule refuses to start (never ignores it).
   */
  hostPaths?: HostPathRules;
}

export interface IsolationBackend {
  /** Canonical name ("host-direct", "namespace"). */
  readonly name: string;
  readonly isolation: IsolationLevel;
  probe(): Promise<BackendProbe>;
  start(spec: SandboxSpec, opts?: StartOptions): Promise<SandboxHandle>;
  /**
   * Optional, called once at daemon start with the folder that will hold the sandboxes
   * (`<home>/sandboxes`): a backend whose sandboxes need something of it (the namespace
   * backend: reachable by the sandboxes' host uids) makes it so or refuses here, with a clear
   * message, instead of failing every create later.
   */
  prepareHome?(sandboxesDir: string): Promise<void>;
  /** Optional: releases what the backend keeps between sandboxes (the namespace backend's spare volumes); called once when the daemon stops. */
  close?(): Promise<void>;
}

/**
 * Remembers successful probe steps between processes, so a one-shot `agentd run` need not
 * repeat an expensive check (a real bwrap run). `key` must capture everything the step's
 * outcome depends on; a different key, a missing or untrusted entry is a miss. Failures
 * are never stored. Implementations never throw. See probe-cache.ts.
 */
export interface ProbeCache {
  get(entry: string, key: string): Promise<FeatureStatus | undefined>;
  set(entry: string, key: string, value: FeatureStatus): Promise<void>;
}

export interface BackendFactoryContext {
  /** Absolute path of the agentd-init binary. */
  initPath: string;
  /** Per-backend options from the config (`isolation.backends.<name>`). */
  options: Record<string, unknown>;
  logger: { info(obj: object | string, msg?: string): void; warn(obj: object | string, msg?: string): void; error(obj: object | string, msg?: string): void; debug(obj: object | string, msg?: string): void };
  /** Where probe() may remember successful checks between processes (the CLI's `run`); absent: always probe for real. */
  probeCache?: ProbeCache;
}

export type BackendFactory = (ctx: BackendFactoryContext) => IsolationBackend;
