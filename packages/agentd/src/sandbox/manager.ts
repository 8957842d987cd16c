import { join } from 'node:path';
import { AgentdError } from '../core/errors.js';
import type { SandboxPrefs } from '../core/intent.js';
import { removeSandboxDirs, sandboxDirs } from '../isolation/dirs.js';
import { withVolume } from '../isolation/disk/volume.js';
import { assertLimitsEnforceable, LIMIT_KEYS } from '../isolation/profile-guard.js';
import { createSnapshot, deleteSnapshot, forkFromSnapshot, restoreSnapshot } from '../isolation/snapshot/index.js';
import type { ProfileName, SandboxDirs, SandboxHandle, SandboxSpec } from '../isolation/types.js';
import type { SandboxFilter, SandboxRecord, SnapshotRecord } from '../state/types.js';
import { newId } from './ids.js';
import { ImageStore } from '../images/store.js';
import { minDefined } from '../util/numbers.js';
import { WarmPool } from './pool.js';
import { assertBackendGranted, assertSpecWithinGrants, assertWithinGrants, clampDefaults, type Grantee, type Grants } from './grants.js';
import { assertHostPathGrant, withLocalGrant } from './host-path-grant.js';
import { applyTemplate, buildSpec, isPlainCreate, requestLimits, type ProfileDefaults, type SandboxCreate } from './spec.js';
import { runExec } from '../capabilities/exec-driver.js';
import { commandEnv } from '../isolation/exec-env.js';
import { runAsUser } from '../images/exec-user.js';
import type { Lease, ManagerDeps, ManagerOptions, ManagerStats } from './types.js';

/** What the manager keeps for a sandbox whose init runs. */
interface Live {
  handle: SandboxHandle;
  destroying: boolean;
  /** Last time an intent leased or released it (epoch ms). */
  lastUsedMs: number;
  /** Intents holding it now (a running command, an attached exec stream): the idle sweeper never stops a busy sandbox. */
  busy: number;
}

/** What an intent asks of the sandbox it runs in, beyond the sandbox prefs. */
export interface LeaseNeeds {
  /** The intent's `constraints.max_memory_bytes` (after policy). */
  maxMemoryBytes?: number;
  /** The intent's `constraints.allow_network: false`: a new sandbox gets network none, a named one must have it. */
  noNetwork?: boolean;
  /** The caller has the admin role (grants.ts: host-direct under a root daemon). */
  admin?: boolean;
}

/** A named sandbox runs an intent with allow_network: false only if it has no network. */
function assertNoNetwork(rec: SandboxRecord): void {
  const network = (rec.spec as SandboxSpec | null)?.network ?? 'none';
  if (network === 'none') return;
  throw new AgentdError('POLICY_DENIED', `sandbox '${rec.id}' has network '${network}' but the intent says constraints.allow_network: false; run it in a sandbox with network 'none' or without sandbox_id`, {
    details: { rule: 'allow_network', sandbox_id: rec.id, network },
  });
}

const NOBODY: Grantee = { admin: false };

/** A named sandbox runs an intent with max_memory_bytes only if its own memory limit is already that low. */
function assertMemoryWithin(rec: SandboxRecord, maxMemoryBytes: number): void {
  const limit = (rec.spec as SandboxSpec | null)?.limits.memoryBytes;
  if (limit !== undefined && limit <= maxMemoryBytes) return;
  const has = limit === undefined ? 'has no memory limit' : `has a memory limit of ${limit} bytes`;
  throw new AgentdError(
    'LIMIT_UNSUPPORTED',
    `sandbox '${rec.id}' ${has}, more than the intent's max_memory_bytes ${maxMemoryBytes}: an existing sandbox's limit is not changed for one intent; ` +
      'run it in a new sandbox (no sandbox_id) or in one created with limits.memory_bytes at most that',
    { details: { sandbox_id: rec.id, sandbox_memory_bytes: limit ?? null, max_memory_bytes: maxMemoryBytes, limits: ['max_memory_bytes'] } },
  );
}

/** What `fresh_per_request` refuses: anything that would let one request's sandbox reach another. */
function refusedByFreshPerRequest(what: string, details: Record<string, unknown> = {}): AgentdError {
  return new AgentdError(
    'POLICY_DENIED',
    `${what}: this daemon runs every request in a fresh sandbox (sandbox.fresh_per_request, forced under the paranoid profile); send intents without sandbox_prefs.sandbox_id and without persist`,
    { details: { rule: 'fresh_per_request', ...details } },
  );
}

const expiryOf = (now: number, ttlMs: number | undefined): number | null => (ttlMs === undefined ? null : now + ttlMs);

const notFound = (id: string): AgentdError => new AgentdError('NOT_FOUND', `no sandbox '${id}'`, { details: { sandbox_id: id } });

/**
 * Owns every sandbox of the daemon: creates them (from the warm pool when it can), keeps the
 * state store in step with the live handles, enforces the maximum and TTLs, and hands out
 * leases to the intent pipeline. Tenancy is checked here: another tenant's sandbox is NOT_FOUND.
 */
export class SandboxManager {
  private readonly live = new Map<string, Live>();
  /** Snapshot id -> restores/forks reading it now (retention skips those). */
  private readonly snapshotsInUse = new Map<string, number>();
  private readonly pool: WarmPool;
  private readonly now: () => number;
  private starting = 0;
  private created = 0;
  private createMsTotal = 0;
  private timeoutDestroys = 0;
  private closed = false;

  constructor(
    private options: ManagerOptions,
    private readonly deps: ManagerDeps,
  ) {
    this.now = deps.now ?? Date.now;
    this.pool = new WarmPool(options.pool, {
      start: async (key) => {
        const spec = buildSpec(newId('sbx'), options.home, key.profile, this.defaultsFor(key.profile), {});
        try {
          return await this.startHandle(spec, key.backend);
        } catch (err) {
          // A warm sandbox is never recorded: nothing else would ever remove its folders.
          await removeSandboxDirs(spec.dirs).catch(() => undefined);
          throw err;
        }
      },
      hasRoom: () => this.used() < this.options.maxSandboxes,
      logger: deps.logger,
      now: this.now,
    });
  }

  /** Starts keeping the default profile+backend warm (no-op when min_warm is 0). */
  startPool(): void {
    if (this.options.pool.minWarm <= 0) return;
    const profile = this.options.defaultProfile;
    const backend = this.deps.backends.canonical(this.options.profileDefaults(profile).backend);
    this.pool.register({ profile, backend });
    this.pool.refill();
  }

  reconfigure(options: ManagerOptions): void {
    this.options = options;
    this.pool.reconfigure(options.pool);
    this.startPool();
  }

  stats(): ManagerStats {
    const lookups = this.pool.hits + this.pool.misses;
    return {
      created: this.created,
      active: this.live.size,
      poolSize: this.pool.size,
      poolHits: this.pool.hits,
      poolMisses: this.pool.misses,
      poolHitRate: lookups === 0 ? 0 : this.pool.hits / lookups,
      avgCreateMs: this.created === 0 ? 0 : this.createMsTotal / this.created,
      timeoutDestroys: this.timeoutDestroys,
    };
  }

  // ---- queries -------------------------------------------------------------------------

  get(tenant: string, id: string): SandboxRecord {
    const rec = this.deps.store.sandboxes.getForTenant(id, tenant);
    if (!rec) throw notFound(id);
    return rec;
  }

  list(filter: SandboxFilter): SandboxRecord[] {
    return this.deps.store.sandboxes.list(filter);
  }

  /** The image store of the daemon's home (images/store.ts). */
  images(): ImageStore {
    return new ImageStore(this.options.home);
  }

  /** Ids of the sandboxes (every tenant's, any state with files) started from image `digest`. */
  sandboxesUsingImage(digest: string): string[] {
    return this.deps.store.sandboxes.list({}).filter((r) => (r.spec as SandboxSpec | null)?.image?.digest === digest).map((r) => r.id);
  }

  /** The live handle of a running sandbox of `tenant`; typed errors for every other state. */
  handleOf(tenant: string, id: string): SandboxHandle {
    return this.handleFor(this.get(tenant, id));
  }

  private handleFor(rec: SandboxRecord): SandboxHandle {
    const id = rec.id;
    const live = this.live.get(id);
    switch (rec.state) {
      case 'running':
        if (live && !live.destroying && live.handle.isAlive()) return live.handle;
        this.markDead(id, 'the sandbox init is gone');
        throw new AgentdError('SANDBOX_DEAD', `sandbox '${id}' is dead (its init process is gone)`, { details: { sandbox_id: id } });
      case 'suspended':
        throw new AgentdError('SANDBOX_SUSPENDED', `sandbox '${id}' is suspended; resume it first`, { details: { sandbox_id: id } });
      case 'stopped':
        throw new AgentdError(
          'CONFLICT',
          `sandbox '${id}' is stopped (an idle stop or a daemon restart stops sandboxes, their files stay): start it with \`agentd sandbox start ${id}\` (POST /v1/sandboxes/${id}/start)`,
          { details: { sandbox_id: id, state: rec.state } },
        );
      case 'dead':
        throw new AgentdError('SANDBOX_DEAD', `sandbox '${id}' is dead (its init process is gone)`, { details: { sandbox_id: id } });
      case 'destroying':
        throw new AgentdError('CONFLICT', `sandbox '${id}' is being destroyed (an earlier destroy did not finish: DELETE it again)`, { details: { sandbox_id: id, state: rec.state } });
      case 'creating':
      case 'destroyed':
        throw new AgentdError('CONFLICT', `sandbox '${id}' is ${rec.state}`, { details: { sandbox_id: id, state: rec.state } });
    }
  }

  /** Live usage of a running sandbox (undefined when not running or the backend cannot tell). */
  async usage(id: string): Promise<{ memory_bytes: number; memory_peak_bytes: number; cpu_ms: number; pids: number } | undefined> {
    const live = this.live.get(id);
    if (!live || !live.handle.isAlive()) return undefined;
    try {
      const u = await live.handle.usage();
      if (u.memoryBytes === undefined && u.cpuUsec === undefined) return undefined;
      return { memory_bytes: u.memoryBytes ?? 0, memory_peak_bytes: u.memoryPeakBytes ?? 0, cpu_ms: Math.round((u.cpuUsec ?? 0) / 1000), pids: u.pids ?? 0 };
    } catch {
      return undefined;
    }
  }

  // ---- lifecycle -----------------------------------------------------------------------

  /**
   * Creates a sandbox for `tenant` to be used by later requests (REST, sessions): refused
   * under fresh_per_request, where no request may use a sandbox another one made.
   */
  async create(tenant: string, req: SandboxCreate, signal?: AbortSignal, who: Grantee = NOBODY): Promise<{ record: SandboxRecord; fromPool: boolean }> {
    assertHostPathGrant(req, who);
    this.assertReusable('a sandbox kept for later requests');
    return this.createSandbox(tenant, req, signal, who);
  }

  /** What the config grants a new sandbox (grants.ts): the daemon's profile defaults are the ceilings. */
  grants(): Grants {
    const d = this.options.profileDefaults(this.options.defaultProfile);
    const backend = this.deps.backends.canonical(d.backend);
    return {
      profile: this.options.defaultProfile, network: d.network, limits: d.limits, ...(d.ttlMs === undefined ? {} : { ttlMs: d.ttlMs }),
      backend, backendIsolation: this.deps.backends.get(backend).isolation,
      allowHostDirect: this.options.allowHostDirect ?? false, rootDaemon: this.options.rootDaemon ?? process.geteuid?.() === 0,
    };
  }

  /** A profile's defaults, never looser than the config grants. */
  private defaultsFor(profile: ProfileName): ProfileDefaults {
    return clampDefaults(this.grants(), this.options.profileDefaults(profile));
  }

  /** Throws unless `who` may use a sandbox of `backendName` (a named sandbox, start, fork). */
  private assertMayUse(backendName: string, who: Grantee): void {
    assertBackendGranted(this.grants(), backendName, this.deps.backends.get(backendName).isolation, who);
  }

  /** Throws POLICY_DENIED under fresh_per_request: `what` would let a later request use a sandbox. */
  assertReusable(what: string): void {
    if (this.options.freshPerRequest === true) throw refusedByFreshPerRequest(what);
  }

  /** Creates a sandbox for `tenant` (a warm one when the request is plain). */
  private async createSandbox(tenant: string, given: SandboxCreate, signal?: AbortSignal, who: Grantee = NOBODY): Promise<{ record: SandboxRecord; fromPool: boolean }> {
    this.assertOpen();
    // A template is its image and defaults under the request's own fields; grants judge the result.
    const { req, template } = applyTemplate(given, this.options.templates);
    const profile: ProfileName = req.profile ?? this.options.defaultProfile;
    const defaults = this.defaultsFor(profile);
    const backendName = this.deps.backends.canonical(req.backend ?? defaults.backend);
    const backend = this.deps.backends.get(backendName);
    assertWithinGrants(this.grants(), {
      ...(req.profile === undefined ? {} : { profile: req.profile }), ...(req.network === undefined ? {} : { network: req.network }),
      limits: requestLimits(req.limits), ...(req.ttl_ms === undefined ? {} : { ttlMs: req.ttl_ms }),
      ...(req.backend === undefined ? {} : { backend: { name: backendName, isolation: backend.isolation } }),
    }, who);
    this.deps.backends.assertProfileAllows(profile, backend);
    if (req.egress !== undefined || req.ports !== undefined) {
      if (!this.deps.network) throw new AgentdError('INVALID_ARGUMENT', 'this daemon has no network service: egress rules and ports cannot be set');
      if (req.egress !== undefined) this.deps.network.checkSandboxRules(profile, tenant, req.egress);
    }
    const ttlMs = req.ttl_ms ?? defaults.ttlMs;
    const expiresAtMs = ttlMs === undefined ? null : this.now() + ttlMs;
    const labels = req.labels ?? {};

    if (isPlainCreate(req)) {
      const warm = this.pool.take({ profile, backend: backendName });
      if (warm) {
        const record = this.deps.store.sandboxes.insert({
          id: warm.id, tenant, backend: backendName, profile, state: 'running', spec: { ...warm.spec, labels }, labels, expiresAtMs,
        });
        this.adopt(warm);
        return { record, fromPool: true };
      }
    }
    const image = req.image === undefined ? undefined : await new ImageStore(this.options.home).resolve(req.image);
    // A backend runs images when its probe says so (namespace, oci).
    if (image !== undefined && this.deps.backends.probeOf?.(backendName)?.features.images?.ok !== true) {
      throw new AgentdError('INVALID_ARGUMENT', `backend '${backendName}' does not run images (its probe: ${this.deps.backends.probeOf?.(backendName)?.features.images?.detail ?? 'no images feature'})`, { details: { backend: backendName, image: req.image } });
    }
    const spec = withLocalGrant(buildSpec(newId('sbx'), this.options.home, profile, defaults, req, image), who);
    // A limit the backend cannot enforce is refused, the profile's defaults too (never dropped).
    assertLimitsEnforceable(backendName, this.deps.backends.probeOf?.(backendName), spec.limits, (f) =>
      req.limits?.[LIMIT_KEYS[f] as keyof NonNullable<SandboxCreate['limits']>] !== undefined
        ? `limits.${LIMIT_KEYS[f]} (request)`
        : `sandbox.limits.${LIMIT_KEYS[f]} (${profile === this.options.defaultProfile ? 'config' : `profile '${profile}' preset`})`);
    await this.reserveSlot();
    const record = this.deps.store.sandboxes.insert({ id: spec.id, tenant, backend: backendName, profile, state: 'creating', spec, labels, expiresAtMs });
    try {
      const handle = await this.startHandle(spec, backendName, signal);
      this.adopt(handle);
      if (template?.start_command !== undefined) await this.runStartCommand(handle, template.start_command, signal);
      return { record: this.deps.store.sandboxes.setState(record.id, 'running') ?? record, fromPool: false };
    } catch (err) {
      const live = this.live.get(record.id);
      if (live) {
        live.destroying = true;
        await live.handle.destroy().catch(() => undefined);
        this.live.delete(record.id);
      }
      this.deps.store.sandboxes.delete(record.id);
      await removeSandboxDirs(spec.dirs).catch(() => undefined);
      throw err;
    }
  }

  /**
   * A sandbox for one intent: the named one, or a new one (warm when possible) destroyed on
   * release unless `persist`. With `needs.maxMemoryBytes`, a new sandbox is created (never
   * taken from the pool) with a memory limit no higher than it, and a named sandbox must
   * already have such a limit (else LIMIT_UNSUPPORTED: its limit is not changed for one intent).
   */
  async lease(tenant: string, prefs: SandboxPrefs, signal?: AbortSignal, needs: LeaseNeeds = {}): Promise<Lease> {
    if (this.options.freshPerRequest === true) {
      if (prefs.sandbox_id !== undefined) throw refusedByFreshPerRequest(`an intent in the existing sandbox '${prefs.sandbox_id}'`, { sandbox_id: prefs.sandbox_id });
      if (prefs.persist === true) throw refusedByFreshPerRequest('an intent that keeps its sandbox (persist: true)');
    }
    if (prefs.sandbox_id !== undefined) {
      if (prefs.require_fresh) {
        throw new AgentdError('INVALID_ARGUMENT', 'sandbox_prefs: require_fresh and sandbox_id contradict each other (a named sandbox is not fresh)', { details: { sandbox_id: prefs.sandbox_id } });
      }
      const rec = this.get(tenant, prefs.sandbox_id);
      this.assertMayUse(rec.backend, { admin: needs.admin === true });
      const handle = this.handleFor(rec);
      if (needs.maxMemoryBytes !== undefined) assertMemoryWithin(rec, needs.maxMemoryBytes);
      if (needs.noNetwork === true) assertNoNetwork(rec);
      const done = this.hold(rec.id);
      return { handle, id: rec.id, backend: rec.backend, profile: rec.profile as ProfileName, reused: true, fromPool: false, release: async () => done() };
    }
    const profile = prefs.profile ?? this.options.defaultProfile;
    // A limit in the request makes it a custom create: the warm pool's sandboxes have the profile's limit.
    const defaults = this.defaultsFor(profile);
    const memory = needs.maxMemoryBytes === undefined ? undefined : minDefined(needs.maxMemoryBytes, defaults.limits.memoryBytes);
    // allow_network: false on a profile whose sandboxes have network makes it a custom create (no pooled sandbox).
    const noNetwork = needs.noNetwork === true && defaults.network !== 'none';
    const { record, fromPool } = await this.createSandbox(
      tenant,
      {
        ...(prefs.profile ? { profile: prefs.profile } : {}), ...(prefs.backend ? { backend: prefs.backend } : {}), ...(prefs.labels ? { labels: prefs.labels } : {}),
        ...(memory === undefined ? {} : { limits: { memory_bytes: memory } }),
        ...(noNetwork ? { network: 'none' as const } : {}),
      },
      signal,
      { admin: needs.admin === true },
    );
    const handle = this.handleFor(record);
    const done = this.hold(record.id);
    return {
      handle,
      id: record.id,
      backend: record.backend,
      profile: record.profile as ProfileName,
      reused: false,
      fromPool,
      release: async () => {
        done();
        if (!prefs.persist) await this.destroy(tenant, record.id).catch(() => undefined);
      },
    };
  }

  async suspend(tenant: string, id: string): Promise<SandboxRecord> {
    const rec = this.get(tenant, id);
    if (rec.state === 'suspended') return rec;
    const handle = this.handleOf(tenant, id);
    await handle.suspend();
    return this.deps.store.sandboxes.setState(id, 'suspended') ?? rec;
  }

  async resume(tenant: string, id: string): Promise<SandboxRecord> {
    const rec = this.get(tenant, id);
    if (rec.state !== 'suspended') {
      if (rec.state === 'running') return rec;
      throw new AgentdError('CONFLICT', `sandbox '${id}' is ${rec.state}, not suspended`, { details: { sandbox_id: id, state: rec.state } });
    }
    const live = this.live.get(id);
    if (!live || !live.handle.isAlive()) {
      this.markDead(id, 'the sandbox init is gone');
      throw new AgentdError('SANDBOX_DEAD', `sandbox '${id}' is dead (its init process is gone)`);
    }
    await live.handle.resume();
    return this.deps.store.sandboxes.setState(id, 'running') ?? rec;
  }

  /**
   * Starts a stopped (or dead) sandbox again on its files, with the spec it was created with.
   * `who` (the API caller) must be allowed the sandbox's backend; internal restarts (restore) pass none.
   */
  async start(tenant: string, id: string, signal?: AbortSignal, who?: Grantee): Promise<SandboxRecord> {
    const rec = this.get(tenant, id);
    if (rec.state === 'running' || rec.state === 'suspended') return rec;
    if (who) this.assertMayUse(rec.backend, who);
    if (rec.state !== 'stopped' && rec.state !== 'dead') {
      throw new AgentdError('CONFLICT', `sandbox '${id}' is ${rec.state}; only a stopped or dead sandbox can be started`, { details: { sandbox_id: id, state: rec.state } });
    }
    await this.reserveSlot();
    const spec = rec.spec as SandboxSpec;
    this.deps.store.sandboxes.setState(id, 'creating');
    try {
      const handle = await this.startHandle(spec, rec.backend, signal);
      this.adopt(handle);
      return this.deps.store.sandboxes.update(id, { state: 'running', lastError: null }) ?? rec;
    } catch (err) {
      this.deps.store.sandboxes.setState(id, 'stopped', (err as Error).message);
      throw err;
    }
  }

  /** Kills the sandbox; removes its files (and its record) unless keepFiles (record kept as `destroyed`). */
  async destroy(tenant: string, id: string, opts: { keepFiles?: boolean } = {}): Promise<void> {
    const rec = this.get(tenant, id);
    await this.destroyRecord(rec, opts.keepFiles ?? false);
  }

  /** Destroys sandboxes whose TTL passed; returns how many. */
  async sweepExpired(): Promise<number> {
    const expired = this.deps.store.sandboxes.listExpired(this.now());
    for (const rec of expired) {
      this.deps.logger.info({ sandbox: rec.id, expires_at_ms: rec.expiresAtMs }, 'sandbox TTL passed: destroying it');
      await this.destroyRecord(rec, false).catch((err: unknown) => this.deps.logger.warn({ sandbox: rec.id, err: (err as Error).message }, 'could not destroy an expired sandbox'));
      this.timeoutDestroys++;
    }
    return expired.length;
  }

  /**
   * Stops running sandboxes unused for `idleStopMs` (counted from the end of their last
   * command) that no intent holds now (no running command, no attached exec stream) and no
   * open session holds: their
   * processes end, their files stay, and `start` brings them back. Returns how many.
   */
  async sweepIdle(hasOpenSession: (sandboxId: string) => boolean): Promise<number> {
    const limit = this.options.idleStopMs;
    if (limit === undefined) return 0;
    const cutoff = this.now() - limit;
    let stopped = 0;
    for (const [id, live] of [...this.live]) {
      if (live.destroying || live.busy > 0 || live.lastUsedMs > cutoff || hasOpenSession(id)) continue;
      const rec = this.deps.store.sandboxes.get(id);
      if (!rec || rec.state !== 'running') continue;
      this.deps.logger.info({ sandbox: id, idle_ms: this.now() - live.lastUsedMs }, 'sandbox idle: stopping it (files kept)');
      live.destroying = true;
      await live.handle.destroy({ keepFiles: true }).catch(() => undefined);
      this.live.delete(id);
      this.deps.store.sandboxes.setState(id, 'stopped');
      stopped++;
    }
    return stopped;
  }

  /** Called by session timeouts: counts as a timeout destroy. */
  async destroyForTimeout(id: string): Promise<void> {
    const rec = this.deps.store.sandboxes.get(id);
    if (!rec) return;
    await this.destroyRecord(rec, false);
    this.timeoutDestroys++;
  }

  /** Suspends/resumes by id for sessions (no tenant check: the session already belongs to the tenant). */
  async suspendById(id: string): Promise<void> {
    const rec = this.deps.store.sandboxes.get(id);
    if (rec && rec.state === 'running') await this.suspend(rec.tenant, id);
  }

  async resumeById(id: string): Promise<void> {
    const rec = this.deps.store.sandboxes.get(id);
    if (rec && rec.state === 'suspended') await this.resume(rec.tenant, id);
  }

  recyclePool(): Promise<void> {
    return this.pool.recycle();
  }

  // ---- snapshots -----------------------------------------------------------------------

  async snapshot(tenant: string, id: string, name: string | undefined, signal?: AbortSignal): Promise<SnapshotRecord> {
    const rec = this.get(tenant, id);
    const live = this.live.get(id);
    const wasRunning = rec.state === 'running' && live !== undefined && live.handle.isAlive();
    const snapId = newId('snap');
    // Freeze the processes while copying so the copy is consistent, where the backend can.
    let frozen = false;
    if (wasRunning && live) {
      try {
        await live.handle.suspend();
        frozen = true;
      } catch {
        // host-direct cannot freeze: copy as is.
      }
    }
    if (wasRunning && !frozen && (rec.spec as SandboxSpec | null)?.image !== undefined) {
      throw new AgentdError('CONFLICT', `sandbox '${id}' has an image and could not be frozen: its layer (files of two uids) is copied only while no process of it runs; stop it first`, { details: { sandbox_id: id } });
    }
    this.assertSnapshotRoom(tenant, 0);
    try {
      const dirs = this.dirsOf(rec);
      const info = await withVolume(dirs.root, () => createSnapshot(dirs, this.snapshotsRoot(), snapId, { sandboxId: id, ...(signal ? { signal } : {}) }), signal);
      try {
        // Its size is known only once taken: one that brings the tenant over the byte quota is undone.
        this.assertSnapshotRoom(tenant, info.manifest.size_bytes);
      } catch (err) {
        await deleteSnapshot(info.dir).catch(() => undefined);
        throw err;
      }
      return this.deps.store.snapshots.insert({ id: snapId, sandboxId: id, tenant, name: name ?? null, path: info.dir, sizeBytes: info.manifest.size_bytes });
    } finally {
      if (frozen && live) await live.handle.resume().catch(() => undefined);
    }
  }

  /**
   * Snapshot retention, run by the sweeper: deletes snapshots older than `maxAgeMs`, and of each
   * sandbox all but its newest `keepPerSandbox` (a snapshot of a destroyed sandbox kept by
   * keep_files counts under that sandbox's id). A snapshot a restore or fork is reading is
   * skipped until it is done. Returns how many were deleted.
   */
  async sweepSnapshots(): Promise<number> {
    const { maxAgeMs, keepPerSandbox } = this.options.snapshotRetention ?? {};
    if (maxAgeMs === undefined && keepPerSandbox === undefined) return 0;
    const all = this.deps.store.snapshots.list().sort((a, b) => b.createdAtMs - a.createdAtMs || (a.id < b.id ? 1 : -1));
    const seen = new Map<string, number>();
    const cutoff = this.now() - (maxAgeMs ?? Infinity);
    let deleted = 0;
    for (const snap of all) {
      const rank = (seen.get(snap.sandboxId) ?? 0) + 1;
      seen.set(snap.sandboxId, rank);
      const tooOld = snap.createdAtMs < cutoff;
      const tooMany = keepPerSandbox !== undefined && rank > keepPerSandbox;
      if ((!tooOld && !tooMany) || this.snapshotsInUse.has(snap.id)) continue;
      this.deps.logger.info({ snapshot: snap.id, sandbox: snap.sandboxId, reason: tooOld ? 'max_age' : 'keep_per_sandbox' }, 'snapshot retention: deleting it');
      await deleteSnapshot(snap.path);
      this.deps.store.snapshots.delete(snap.id);
      deleted++;
    }
    return deleted;
  }

  /** Marks a snapshot as being read (restore, fork) while `work` runs, so retention leaves it alone. */
  private async readingSnapshot<T>(snapshotId: string, work: () => Promise<T>): Promise<T> {
    this.snapshotsInUse.set(snapshotId, (this.snapshotsInUse.get(snapshotId) ?? 0) + 1);
    try {
      return await work();
    } finally {
      const n = (this.snapshotsInUse.get(snapshotId) ?? 1) - 1;
      if (n === 0) this.snapshotsInUse.delete(snapshotId);
      else this.snapshotsInUse.set(snapshotId, n);
    }
  }

  listSnapshots(tenant: string): SnapshotRecord[] {
    return this.deps.store.snapshots.list({ tenant });
  }

  async deleteSnapshot(tenant: string, snapshotId: string): Promise<void> {
    const snap = this.deps.store.snapshots.getForTenant(snapshotId, tenant);
    if (!snap) throw new AgentdError('NOT_FOUND', `no snapshot '${snapshotId}'`, { details: { snapshot_id: snapshotId } });
    await deleteSnapshot(snap.path);
    this.deps.store.snapshots.delete(snapshotId);
  }

  /**
   * Puts one of the sandbox's own snapshots back into it; a running sandbox is restarted on
   * them. Another sandbox's snapshot (even of the same tenant) is refused: its files were
   * made under another spec and owner, and fork is the way to start from them.
   */
  async restore(tenant: string, id: string, snapshotId: string, signal?: AbortSignal): Promise<SandboxRecord> {
    const rec = this.get(tenant, id);
    const snap = this.deps.store.snapshots.getForTenant(snapshotId, tenant);
    if (!snap) throw new AgentdError('NOT_FOUND', `no snapshot '${snapshotId}'`, { details: { snapshot_id: snapshotId } });
    if (snap.sandboxId !== id) {
      throw new AgentdError(
        'CONFLICT',
        `snapshot '${snapshotId}' is of sandbox '${snap.sandboxId}', not of '${id}': restore takes only a sandbox's own snapshots; to start from another sandbox's snapshot, fork it (POST /v1/sandboxes/${snap.sandboxId}/fork)`,
        { details: { snapshot_id: snapshotId, sandbox_id: id, snapshot_sandbox_id: snap.sandboxId } },
      );
    }
    const wasLive = this.live.get(id);
    if (wasLive) {
      wasLive.destroying = true;
      await wasLive.handle.destroy({ keepFiles: true });
      this.live.delete(id);
      this.deps.store.sandboxes.setState(id, 'stopped');
    }
    const dirs = this.dirsOf(rec);
    await this.readingSnapshot(snap.id, () => withVolume(dirs.root, () => restoreSnapshot(snap.path, dirs, signal ? { signal } : {}), signal));
    if (rec.state === 'running' || rec.state === 'suspended') return this.start(tenant, id, signal);
    return this.get(tenant, id);
  }

  /** A new sandbox (same spec, new id) whose files start as the snapshot (taken now when none is given). */
  async fork(tenant: string, id: string, snapshotId: string | undefined, signal?: AbortSignal, who: Grantee = NOBODY): Promise<SandboxRecord> {
    const rec = this.get(tenant, id);
    const grants = this.grants();
    assertSpecWithinGrants(grants, rec.spec as SandboxSpec, { name: rec.backend, isolation: this.deps.backends.get(rec.backend).isolation }, who);
    const snap = snapshotId === undefined
      ? await this.snapshot(tenant, id, undefined, signal)
      : this.deps.store.snapshots.getForTenant(snapshotId, tenant);
    if (!snap) throw new AgentdError('NOT_FOUND', `no snapshot '${snapshotId}'`, { details: { snapshot_id: snapshotId } });
    await this.reserveSlot();
    const source = rec.spec as SandboxSpec;
    const newIdValue = newId('sbx');
    // The fork's bind mounts are its forker's: under local_mount_roots only when the forker is a local caller too.
    const unmarked = source.bindMounts.map(({ local: _local, ...b }) => b);
    const spec: SandboxSpec = withLocalGrant({ ...source, bindMounts: unmarked, id: newIdValue, dirs: sandboxDirs(this.options.home, newIdValue, { volume: source.limits.diskBytes !== undefined }) }, who);
    await this.readingSnapshot(snap.id, () => forkFromSnapshot(snap.path, spec.dirs, signal ? { signal } : {}));
    const record = this.deps.store.sandboxes.insert({
      id: spec.id, tenant, backend: rec.backend, profile: rec.profile, state: 'creating', spec, labels: rec.labels,
      expiresAtMs: expiryOf(this.now(), minDefined(rec.expiresAtMs === null ? undefined : Math.max(0, rec.expiresAtMs - rec.createdAtMs), grants.ttlMs)),
    });
    try {
      const handle = await this.startHandle(spec, rec.backend, signal);
      this.adopt(handle);
      return this.deps.store.sandboxes.setState(record.id, 'running') ?? record;
    } catch (err) {
      this.deps.store.sandboxes.delete(record.id);
      await removeSandboxDirs(spec.dirs).catch(() => undefined);
      throw err;
    }
  }

  // ---- shutdown ------------------------------------------------------------------------

  /** Stops every sandbox, keeping their files; their records say `stopped` (restartable). */
  async close(): Promise<void> {
    this.closed = true;
    await this.pool.close();
    const all = [...this.live.entries()];
    await Promise.allSettled(
      all.map(async ([id, live]) => {
        live.destroying = true;
        await live.handle.destroy({ keepFiles: true });
        // A destroy that failed stays `destroying`: the next start finishes it.
        if (this.deps.store.sandboxes.get(id)?.state !== 'destroying') this.deps.store.sandboxes.setState(id, 'stopped');
      }),
    );
    this.live.clear();
  }

  // ---- internals -----------------------------------------------------------------------

  private used(): number {
    return this.live.size + this.pool.size + this.starting;
  }

  /** Makes room for one more sandbox: gives up a warm one if needed, else RESOURCE_EXHAUSTED. */
  private async reserveSlot(): Promise<void> {
    while (this.used() >= this.options.maxSandboxes) {
      if (!(await this.pool.evictOne())) {
        throw new AgentdError('RESOURCE_EXHAUSTED', `the daemon already runs its maximum of ${this.options.maxSandboxes} sandboxes`, {
          details: { max_sandboxes: this.options.maxSandboxes },
          retryAfterMs: 1000,
        });
      }
    }
  }

  /** A template's start command, as the agent user; a failure fails the create (EXEC_FAILED). */
  private async runStartCommand(handle: SandboxHandle, command: string, signal?: AbortSignal): Promise<void> {
    const as = runAsUser(handle.spec, 'agent', ['/bin/sh', '-c', command], commandEnv(handle.baseEnv, undefined));
    const run = await runExec(handle, {
      argv: as.argv, env: as.env, timeoutMs: 10 * 60_000, maxOutputBytes: 64 * 1024, signal: signal ?? new AbortController().signal,
      ...(handle.spec.workdir === undefined ? {} : { cwd: handle.spec.workdir }),
    });
    if (run.exitCode !== 0) {
      const tail = run.stderr.toString('utf8').trim().split('\n').slice(-5).join('\n');
      throw new AgentdError('EXEC_FAILED', `the template's start_command failed (${run.timedOut ? 'timed out' : `exit ${run.exitCode ?? run.signal ?? '?'}`}): ${tail}`, { details: { exit_code: run.exitCode, stderr_tail: tail } });
    }
  }

  private async startHandle(spec: SandboxSpec, backendName: string, signal?: AbortSignal): Promise<SandboxHandle> {
    const backend = this.deps.backends.get(backendName);
    this.starting++;
    const t0 = performance.now();
    try {
      const network = this.deps.network;
      const started = network ? await network.attach(spec) : spec;
      let handle: SandboxHandle;
      try {
        handle = await backend.start(started, { ...(signal ? { signal } : {}), ...(this.options.hostPaths ? { hostPaths: this.options.hostPaths } : {}) });
      } catch (err) {
        await network?.detach(spec.id, started);
        throw err;
      }
      try {
        await handle.channel.ready;
        await network?.started(handle);
      } catch (err) {
        await handle.destroy({ keepFiles: true }).catch(() => undefined);
        await network?.detach(spec.id, started);
        throw err;
      }
      // Its network sockets go when its init does (stop, destroy, crash).
      if (network) void handle.exited.then(() => network.detach(spec.id, started));
      this.created++;
      this.createMsTotal += performance.now() - t0;
      return handle;
    } finally {
      this.starting--;
    }
  }

  private adopt(handle: SandboxHandle): void {
    const entry: Live = { handle, destroying: false, lastUsedMs: this.now(), busy: 0 };
    this.live.set(handle.id, entry);
    void handle.exited.then(() => {
      if (this.live.get(handle.id) === entry && !entry.destroying) {
        this.live.delete(handle.id);
        this.markDead(handle.id, 'the sandbox init exited');
      }
    });
  }

  /** Marks the sandbox busy for one intent; the returned function (idempotent) ends that and counts as use. */
  private hold(id: string): () => void {
    const live = this.live.get(id);
    if (!live) return () => undefined;
    live.busy++;
    live.lastUsedMs = this.now();
    let held = true;
    return () => {
      if (!held) return;
      held = false;
      live.busy--;
      live.lastUsedMs = this.now();
    };
  }

  private markDead(id: string, why: string): void {
    const rec = this.deps.store.sandboxes.get(id);
    if (rec && (rec.state === 'running' || rec.state === 'suspended')) {
      this.deps.store.sandboxes.setState(id, 'dead', why);
      this.deps.logger.warn({ sandbox: id }, `sandbox is dead: ${why}`);
    }
  }

  /**
   * Kills the sandbox; without keepFiles removes its folders, its snapshots (their fate: they
   * go with their sandbox) and its record. The record says `destroying` from the start until
   * the end, so a destroy that fails half way (a folder that cannot be removed, a process
   * that does not die) is retried by the next DELETE, and finished by the next daemon start.
   */
  private async destroyRecord(rec: SandboxRecord, keepFiles: boolean): Promise<void> {
    if (!keepFiles) this.deps.store.sandboxes.setState(rec.id, 'destroying');
    try {
      const live = this.live.get(rec.id);
      if (live) {
        // Kept until its teardown succeeds: a retry tries the handle again (processes, cgroup, volume, folders).
        live.destroying = true;
        await live.handle.destroy({ keepFiles });
        this.live.delete(rec.id);
      } else if (!keepFiles) {
        await removeSandboxDirs(this.dirsOf(rec));
      }
      if (!keepFiles) await this.deleteSnapshotsOf(rec.id);
    } catch (err) {
      const why = `destroy failed: ${(err as Error).message}`;
      this.deps.store.sandboxes.setState(rec.id, keepFiles ? 'dead' : 'destroying', why);
      this.deps.logger.warn({ sandbox: rec.id, err: (err as Error).message }, keepFiles ? 'could not stop a sandbox' : 'could not destroy a sandbox: DELETE it again to retry (the next start finishes it)');
      throw new AgentdError('INTERNAL', `could not destroy sandbox '${rec.id}': ${(err as Error).message}; ${keepFiles ? 'it is marked dead' : 'it stays `destroying`: DELETE it again to retry'}`, {
        cause: err, details: { sandbox_id: rec.id, state: keepFiles ? 'dead' : 'destroying' },
      });
    }
    if (keepFiles) this.deps.store.sandboxes.setState(rec.id, 'destroyed');
    else this.deps.store.sandboxes.delete(rec.id);
  }

  /** A sandbox's snapshots go with it (files, then rows). */
  private async deleteSnapshotsOf(sandboxId: string): Promise<void> {
    for (const snap of this.deps.store.snapshots.list({ sandboxId })) {
      await deleteSnapshot(snap.path);
      this.deps.store.snapshots.delete(snap.id);
    }
  }

  /** RESOURCE_EXHAUSTED when `tenant` is at its snapshot count quota, or would pass its byte quota with `adding` more bytes. */
  private assertSnapshotRoom(tenant: string, adding: number): void {
    const quota = this.options.snapshotQuota;
    if (quota === undefined) return;
    const mine = this.deps.store.snapshots.list({ tenant });
    if (adding === 0 && mine.length >= quota.maxCount) {
      throw new AgentdError('RESOURCE_EXHAUSTED', `tenant '${tenant}' already has ${mine.length} snapshots, its maximum (limits.max_snapshots_per_tenant): delete one first (DELETE /v1/snapshots/{id})`, {
        details: { snapshots: mine.length, max_snapshots_per_tenant: quota.maxCount },
      });
    }
    const bytes = mine.reduce((n, sn) => n + sn.sizeBytes, 0);
    if (adding > 0 && bytes + adding > quota.maxBytes) {
      throw new AgentdError('RESOURCE_EXHAUSTED', `this snapshot (${adding} bytes) would bring tenant '${tenant}' to ${bytes + adding} bytes of snapshots, over its maximum of ${quota.maxBytes} (limits.max_snapshot_bytes_per_tenant): delete some first`, {
        details: { snapshot_bytes: bytes, adding_bytes: adding, max_snapshot_bytes_per_tenant: quota.maxBytes },
      });
    }
  }

  /** The sandbox's folders as its spec has them (inside its volume when it has a disk limit). */
  private dirsOf(rec: SandboxRecord): SandboxDirs {
    return (rec.spec as SandboxSpec | null)?.dirs ?? sandboxDirs(this.options.home, rec.id);
  }

  private snapshotsRoot(): string {
    return join(this.options.home, 'snapshots');
  }

  private assertOpen(): void {
    if (this.closed) throw new AgentdError('UNAVAILABLE', 'the daemon is stopping');
  }
}
