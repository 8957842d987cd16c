import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test as base } from 'vitest';
import { openStateStore, type StateStore } from '../../src/state/index.js';

/** A clock the test moves by hand. */
export interface FakeClock {
  now: () => number;
  set(ms: number): void;
  advance(ms: number): void;
}

export function fakeClock(start = 1_000_000): FakeClock {
  let t = start;
  return { now: () => t, set: (ms) => { t = ms; }, advance: (ms) => { t += ms; } };
}

/** `store`: a fresh state store in a temp home (closed and removed after the test); `clock` drives it. */
export const test = base.extend<{ home: string; clock: FakeClock; store: StateStore }>({
  // eslint-disable-next-line no-empty-pattern
  home: async ({}, use) => {
    const dir = mkdtempSync(join(tmpdir(), 'agentd-state-'));
    try {
      await use(dir);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
  // eslint-disable-next-line no-empty-pattern
  clock: async ({}, use) => {
    await use(fakeClock());
  },
  store: async ({ home, clock }, use) => {
    const store = openStateStore({ home, now: clock.now });
    try {
      await use(store);
    } finally {
      store.close();
    }
  },
});
