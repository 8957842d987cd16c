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
    /**
     * Sandboxes can run on an image (`spec.image`, docs/images.md). The manager refuses an
     * image on a backend whose probe lacks this feature or has it !ok (never by name).
     */
    images?: FeatureStatus;
    /** A sandbox with an image can run commands as root inside (uid 0 mapped to an unprivileged host uid). */
    rootInside?: FeatureStatus;
    /** snapshot/restore/fork work (absent: yes, through the shared folder copy, see lifecycle.ts). */
    snapshot?: FeatureStatus;
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

  // ---- optional lifecycle hooks (docs/architecture.md, "Backends") ------------------------
  // Every hook below is optional: the core calls it through isolation/lifecycle.ts, which
  // falls back to a shared default that works for any backend whose whole state is its
  // SandboxDirs (workspace, home, tmp; with a disk-limit volume or an image layer, both
  // handled by the default). A backend overrides a hook only when its state lives elsewhere
  // (a container's own root file system, a VM disk).

  /**
   * Copies the sandbox's state into `<snapshotsRoot>/<snapshotId>/` with a manifest. Called by
   * the manager with the sandbox stopped, or frozen (handle.suspend) when it could be.
   * Default: lifecycle.ts defaultSnapshot (folder copy, image layer included, volume mounted for the call).
   */
  snapshot?(dirs: SandboxDirs, snapshotsRoot: string, snapshotId: string, opts: StateOpOptions & { sandboxId: string }): Promise<BackendSnapshot>;
  /**
   * Makes the (stopped) sandbox's state exactly the snapshot's. The manager stops a running
   * sandbox first and starts it again after. Default: defaultRestore.
   */
  restore?(snapshotDir: string, dirs: SandboxDirs, opts?: StateOpOptions): Promise<void>;
  /**
   * Seeds the folders of a new sandbox (`newDirs`, not started yet) from a snapshot of another
   * one of this backend; its first start() takes the seed over (the new sandbox's own uids).
   * Default: defaultFork.
   */
  fork?(snapshotDir: string, newDirs: SandboxDirs, opts?: StateOpOptions): Promise<void>;
  /**
   * Removes what a sandbox that is NOT running left (its folders, volume, leases): a destroy
   * of a stopped sandbox, a start that failed, a destroy the old daemon did not finish.
   * A running sandbox is destroyed through its handle instead. Default: dirs.ts removeSandboxDirs.
   */
  removeFiles?(dirs: SandboxDirs): Promise<void>;
  /**
   * Called once at daemon start, before any sandbox starts, on every registered backend: finds
   * and cleans what a crashed daemon left of `ctx.ours` (cgroups, mounts, containers). Must
   * never touch another home's sandboxes, must not throw for one bad leftover (log and go
   * on). Default: nothing to clean.
   */
  recover?(ctx: RecoverContext): Promise<RecoverReport>;
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

/** What a snapshot, restore or fork works on (the sandbox is stopped or frozen meanwhile: the manager sees to that). */
export interface StateOpOptions {
  signal?: AbortSignal;
}

/** A snapshot taken by a backend: a folder under the snapshots root holding a manifest (snapshot/manifest.ts). */
export interface BackendSnapshot {
  /** `<snapshotsRoot>/<snapshotId>`: deleted by the core (snapshot/snapshot.ts deleteSnapshot) when the snapshot goes. */
  dir: string;
  /** Apparent size in bytes (counted against the tenant's snapshot quota). */
  sizeBytes: number;
}

/** What recover() gets at daemon start (runtime/recovery.ts). */
export interface RecoverContext {
  /** `$AGENTD_HOME` */
  home: string;
  /**
   * Ids of this home's sandboxes (every record, every folder under `<home>/sandboxes`): only
   * leftovers of these are the backend's to clean; another daemon's (another home, a one-shot
   * `agentd run`) are left alone.
   */
  ours: ReadonlySet<string>;
  /** The sandboxes the state says were running or suspended when the old daemon stopped (now `stopped`), with their folders. */
  stopped: ReadonlyArray<{ id: string; dirs: SandboxDirs; spec?: SandboxSpec }>;
  /** Every folder of `<home>/sandboxes` (recorded or not), with its folders. */
  folders: ReadonlyArray<{ id: string; dirs: SandboxDirs }>;
  logger: BackendFactoryContext['logger'];
}

/** What recover() found and cleaned. */
export interface RecoverReport {
  /** Sandbox ids whose leftover cgroup (processes killed) was removed. */
  cgroups: string[];
  /** Other leftovers cleaned (mounts, containers), described for the log. */
  other?: string[];
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
