import type { ProfileName, SandboxHandle } from '../isolation/types.js';
import type { Logger } from '../util/logger.js';

/**
 * Warm-pool sizing, per profile+backend key. `minWarm: 0` = the pool is off (nothing kept
 * warm, `take` always misses); `maxWarm` caps what is kept; a warm sandbox older than
 * `ttlMs` is destroyed and replaced, so nothing stale is handed out.
 */
export interface PoolOptions {
  minWarm: number;
  maxWarm: number;
  ttlMs: number;
}

export interface PoolKey {
  profile: ProfileName;
  backend: string;
}

interface WarmEntry {
  handle: SandboxHandle;
  warmedAtMs: number;
}

export interface PoolDeps {
  /** Starts a fresh sandbox for the key (not yet recorded in state); a failed start leaves nothing behind (folders, cgroup). */
  start(key: PoolKey): Promise<SandboxHandle>;
  /** May the pool start one more sandbox (the daemon-wide maximum counts warm ones too)? */
  hasRoom(): boolean;
  logger: Logger;
  now: () => number;
  /** Wait after the first failed start of a key (doubled after each further one, up to capMs). Default 1 s, cap 5 min. */
  backoff?: { baseMs: number; capMs: number };
}

/** Start failures of one key in a row, and when the next start may be tried. */
interface Backoff {
  failures: number;
  nextTryAtMs: number;
}

const DEFAULT_BACKOFF = { baseMs: 1000, capMs: 5 * 60_000 };
/** How long after a take its refill starts (see refillSoon). */
const REFILL_DELAY_MS = 20;

const keyOf = (k: PoolKey): string => `${k.profile}/${k.backend}`;

/**
 * Pre-started sandboxes, taken by plain creates. A warm sandbox is handed out once and never
 * comes back: released sandboxes are destroyed, so no state leaks from one caller to the next
 * (the paranoid profile's "never reuse" holds by construction).
 */
export class WarmPool {
  private readonly entries = new Map<string, WarmEntry[]>();
  private readonly keys = new Map<string, PoolKey>();
  private readonly filling = new Map<string, Promise<void>>();
  private readonly backoffs = new Map<string, Backoff>();
  /** A refill asked for by a take, not started yet (see refillSoon). */
  private scheduled: Promise<void> | undefined;
  private closed = false;
  hits = 0;
  misses = 0;

  constructor(
    private options: PoolOptions,
    private readonly deps: PoolDeps,
  ) {}

  /** Keeps `key` warm from now on (called for the daemon's default profile+backend). */
  register(key: PoolKey): void {
    this.keys.set(keyOf(key), key);
    if (!this.entries.has(keyOf(key))) this.entries.set(keyOf(key), []);
  }

  reconfigure(options: PoolOptions): void {
    this.options = options;
  }

  get size(): number {
    let n = 0;
    for (const list of this.entries.values()) n += list.length;
    return n;
  }

  sizeOf(key: PoolKey): number {
    return this.entries.get(keyOf(key))?.length ?? 0;
  }

  /** A live warm sandbox for the key, or undefined (counted as a miss). */
  take(key: PoolKey): SandboxHandle | undefined {
    const list = this.entries.get(keyOf(key));
    while (list && list.length > 0) {
      const entry = list.shift();
      if (entry && entry.handle.isAlive()) {
        this.hits++;
        this.refillSoon();
        return entry.handle;
      }
      if (entry) void entry.handle.destroy().catch(() => undefined);
    }
    this.misses++;
    this.refillSoon();
    return undefined;
  }

  /** Gives up one warm sandbox (any key) so a real request can use its slot. */
  async evictOne(): Promise<boolean> {
    for (const list of this.entries.values()) {
      const entry = list.pop();
      if (entry) {
        await entry.handle.destroy().catch(() => undefined);
        return true;
      }
    }
    return false;
  }

  /** Starts background fills up to minWarm for every registered key (at most one fill loop per key; none while a key backs off). */
  refill(): void {
    if (this.closed) return;
    for (const [id, key] of this.keys) {
      if (this.filling.has(id)) continue;
      if ((this.backoffs.get(id)?.nextTryAtMs ?? 0) > this.deps.now()) continue;
      const run = this.fill(id, key).finally(() => this.filling.delete(id));
      this.filling.set(id, run);
    }
  }

  /**
   * A take is on its caller's critical path; the fill it triggers (a sandbox start: a spawn
   * that blocks the event loop for milliseconds, then bwrap and agentd-init busy on both cores
   * of a small machine) is not: it starts REFILL_DELAY_MS later, once the taker's response
   * has been written and, typically, read by a client on the same machine (measured with the
   * fill started at the next turn instead: acquire 4.8 ms against 2.0 ms for GET /healthz, the
   * daemon's own part under 1 ms). Takes within the delay share one fill.
   */
  private refillSoon(): void {
    this.scheduled ??= new Promise((resolve) => {
      setTimeout(() => {
        this.scheduled = undefined;
        this.refill();
        resolve();
      }, REFILL_DELAY_MS);
    });
  }

  /** Resolves when no fill is scheduled or running (tests and shutdown). */
  async idle(): Promise<void> {
    while (this.scheduled !== undefined || this.filling.size > 0) {
      await this.scheduled;
      await Promise.allSettled([...this.filling.values()]);
    }
  }

  /** Destroys warm sandboxes past their TTL, dead ones, and any over maxWarm; then refills. */
  async recycle(): Promise<void> {
    const cutoff = this.deps.now() - this.options.ttlMs;
    const doomed: SandboxHandle[] = [];
    for (const list of this.entries.values()) {
      for (let i = list.length - 1; i >= 0; i--) {
        const entry = list[i];
        if (entry && (entry.warmedAtMs <= cutoff || !entry.handle.isAlive() || i >= this.options.maxWarm)) {
          list.splice(i, 1);
          doomed.push(entry.handle);
        }
      }
    }
    await Promise.allSettled(doomed.map((h) => h.destroy()));
    this.refill();
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.idle();
    const all = [...this.entries.values()].flat();
    this.entries.clear();
    await Promise.allSettled(all.map((e) => e.handle.destroy()));
  }

  /**
   * Starts sandboxes for the key until min_warm. A failed start ends the loop and backs the
   * key off: no start for base, 2x base, 4x base... up to the cap (a host that cannot start a
   * sandbox is not hammered), one warning per step; a success resets it.
   */
  private async fill(id: string, key: PoolKey): Promise<void> {
    const target = Math.min(this.options.minWarm, this.options.maxWarm);
    while (!this.closed && (this.entries.get(id)?.length ?? 0) < target && this.deps.hasRoom()) {
      let handle: SandboxHandle;
      try {
        handle = await this.deps.start(key);
      } catch (err) {
        const { baseMs, capMs } = this.deps.backoff ?? DEFAULT_BACKOFF;
        const failures = (this.backoffs.get(id)?.failures ?? 0) + 1;
        const waitMs = Math.min(capMs, baseMs * 2 ** Math.min(failures - 1, 30));
        this.backoffs.set(id, { failures, nextTryAtMs: this.deps.now() + waitMs });
        this.deps.logger.warn({ pool: id, err: (err as Error).message, failures, next_try_in_ms: waitMs }, 'warm pool: could not start a sandbox; backing off');
        return;
      }
      this.backoffs.delete(id);
      if (this.closed) {
        await handle.destroy();
        return;
      }
      const list = this.entries.get(id) ?? [];
      list.push({ handle, warmedAtMs: this.deps.now() });
      this.entries.set(id, list);
    }
  }
}
