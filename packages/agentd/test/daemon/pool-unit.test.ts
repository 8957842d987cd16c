import { describe, expect, it } from 'vitest';
import type { SandboxHandle } from '../../src/isolation/types.js';
import { WarmPool, type PoolKey } from '../../src/sandbox/pool.js';
import { silentLogger } from '../../src/util/logger.js';

/** A stand-in handle: the pool only needs identity, liveness and destroy (timing logic only; real sandboxes are tested in pool-sessions). */
function fakeHandle(id: string): SandboxHandle & { destroyed: boolean; kill(): void } {
  let alive = true;
  const h = {
    id,
    destroyed: false,
    isAlive: () => alive,
    kill: () => {
      alive = false;
    },
    destroy: async () => {
      h.destroyed = true;
      alive = false;
    },
  };
  return h as unknown as SandboxHandle & { destroyed: boolean; kill(): void };
}

const KEY: PoolKey = { profile: 'workstation', backend: 'fake' };

function setup(opts: { minWarm: number; maxWarm: number; ttlMs: number }, room = () => true, failFirst = 0) {
  let clock = 1_000;
  let n = 0;
  let failures = failFirst;
  const started: Array<ReturnType<typeof fakeHandle>> = [];
  const pool = new WarmPool(opts, {
    start: async () => {
      if (failures-- > 0) throw new Error('backend hiccup');
      const h = fakeHandle(`sbx_${++n}`);
      started.push(h);
      return h;
    },
    hasRoom: room,
    logger: silentLogger,
    now: () => clock,
  });
  return { pool, started, tick: (ms: number) => (clock += ms) };
}

describe('WarmPool timing logic', () => {
  it('fills to min_warm, hands each sandbox out once, counts hits and misses, refills after a take', async () => {
    const { pool, started } = setup({ minWarm: 2, maxWarm: 3, ttlMs: 10_000 });
    expect(pool.take(KEY)).toBeUndefined();
    expect(pool.misses).toBe(1);
    pool.register(KEY);
    pool.refill();
    await pool.idle();
    expect(pool.size).toBe(2);
    const a = pool.take(KEY);
    const b = pool.take(KEY);
    expect(a?.id).not.toBe(b?.id);
    expect(pool.hits).toBe(2);
    await pool.idle();
    expect(pool.size).toBe(2);
    expect(started.length).toBe(4);
  });

  it('skips dead warm sandboxes, recycles ones past the TTL, and stops at the daemon maximum', async () => {
    let room = 1;
    const { pool, started, tick } = setup({ minWarm: 2, maxWarm: 2, ttlMs: 500 }, () => room-- > 0);
    pool.register(KEY);
    pool.refill();
    await pool.idle();
    expect(pool.size).toBe(1);
    room = 10;
    started[0]!.kill();
    expect(pool.take(KEY)).toBeUndefined();
    expect(started[0]!.destroyed).toBe(true);
    await pool.idle();
    expect(pool.size).toBe(2);
    tick(600);
    const before = started.filter((h) => !h.destroyed).length;
    await pool.recycle();
    await pool.idle();
    expect(started.slice(1, 3).every((h) => h.destroyed)).toBe(true);
    expect(pool.size).toBe(2);
    expect(started.filter((h) => !h.destroyed).length).toBe(before);
  });

  it('starts the refill a take triggers only after the current I/O callbacks (the taker answers first)', async () => {
    const { pool, started } = setup({ minWarm: 1, maxWarm: 1, ttlMs: 10_000 });
    pool.register(KEY);
    pool.refill();
    await pool.idle();
    expect(started.length).toBe(1);
    expect(pool.take(KEY)).toBeDefined();
    // Synchronously after the take, and after the microtasks of the same turn, nothing has started yet.
    expect(started.length).toBe(1);
    await Promise.resolve();
    expect(started.length).toBe(1);
    await new Promise((resolve) => setImmediate(resolve));
    await pool.idle();
    expect(started.length).toBe(2);
    expect(pool.size).toBe(1);
  });

  it('backs off after a failed start (1 s, 2 s, 4 s... no start before), and fills again once a start succeeds', async () => {
    const { pool, tick } = setup({ minWarm: 1, maxWarm: 1, ttlMs: 10_000 }, () => true, 3);
    pool.register(KEY);
    const attempt = async (): Promise<void> => {
      pool.refill();
      await pool.idle();
    };
    await attempt(); // failure 1: next try in 1 s
    await attempt(); // too early: not tried
    tick(999);
    await attempt(); // still too early
    tick(1);
    await attempt(); // failure 2: next try in 2 s
    tick(1999);
    await attempt();
    tick(1);
    await attempt(); // failure 3: next try in 4 s
    expect(pool.size).toBe(0);
    tick(4000);
    await attempt(); // succeeds
    expect(pool.size).toBe(1);
  });

  it('close destroys every warm sandbox and refuses new fills', async () => {
    const { pool, started } = setup({ minWarm: 2, maxWarm: 2, ttlMs: 10_000 });
    pool.register(KEY);
    pool.refill();
    await pool.idle();
    await pool.close();
    expect(started.every((h) => h.destroyed)).toBe(true);
    pool.refill();
    await pool.idle();
    expect(pool.size).toBe(0);
  });
});
