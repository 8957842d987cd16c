import { describe, expect } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AUTH_FAILURE_MAX_KEYS } from '../../src/state/audit.js';
import { openStateStore } from '../../src/state/index.js';
import { parseConfig } from '../../src/config/parse.js';
import { startDaemon } from '../../src/runtime/daemon.js';
import { test } from './fixture.js';

const failure = (source = '10.0.0.1', reason = 'invalid API key') => ({ source, code: 'UNAUTHENTICATED', reason, method: 'GET', route: '/v1/sandboxes' });
const rowCount = (db: { audit: { query(q: { limit: number }): unknown[] } }): number => db.audit.query({ limit: 1000 }).length;

describe('aggregated auth failures', () => {
  test('a flood of the same bad credential from one source is one row with a count', ({ store }) => {
    for (let i = 0; i < 5000; i++) store.audit.recordAuthFailure(failure());
    const rows = store.audit.query({ limit: 1000 });
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ action: 'auth', status: 'denied', code: 'UNAUTHENTICATED', subject: null, tenant: null });
    expect(rows[0]!.details).toMatchObject({ source: '10.0.0.1', reason: 'invalid API key', count: 5000 });
  });

  test('one row per source and reason per minute', ({ store, clock }) => {
    store.audit.recordAuthFailure(failure('10.0.0.1', 'invalid API key'));
    store.audit.recordAuthFailure(failure('10.0.0.1', 'token expired'));
    store.audit.recordAuthFailure(failure('10.0.0.2', 'invalid API key'));
    store.audit.recordAuthFailure(failure('10.0.0.2', 'invalid API key'));
    expect(rowCount(store)).toBe(3);
    clock.advance(60_000);
    store.audit.recordAuthFailure(failure('10.0.0.1', 'invalid API key'));
    expect(rowCount(store)).toBe(4);
    expect(store.audit.query({ limit: 1 })[0]!.details.count).toBe(1);
  });

  test('many sources in one minute: at most the key cap plus one shared row', ({ store }) => {
    for (let i = 0; i < AUTH_FAILURE_MAX_KEYS + 500; i++) store.audit.recordAuthFailure(failure(`10.1.${i >> 8}.${i & 255}`));
    // Nothing beyond the cap + 1 rows: keeping that many deletes none.
    expect(store.audit.applyRetention({ maxEvents: AUTH_FAILURE_MAX_KEYS + 1 })).toBe(0);
    const shared = store.audit.query({ limit: 1000, order: 'desc' }).find((r) => r.details.source === '*');
    expect(shared?.details).toMatchObject({ count: 500, reason: 'many sources' });
  });
});

describe('audit retention', () => {
  test('by age, then by count (the newest are kept)', ({ store, clock }) => {
    const t0 = clock.now();
    for (let i = 0; i < 10; i++) store.audit.append({ tsMs: t0 - 10_000 + i, subject: 'old', tenant: 't', action: 'x', status: 'ok' });
    for (let i = 0; i < 30; i++) store.audit.append({ tsMs: t0 + i, subject: `new${i}`, tenant: 't', action: 'x', status: 'ok' });
    expect(store.audit.applyRetention({ maxAgeMs: 5000 })).toBe(10);
    expect(store.audit.applyRetention({ maxEvents: 20 })).toBe(10);
    const left = store.audit.query({ limit: 1000, order: 'asc' });
    expect(left).toHaveLength(20);
    expect(left[0]!.subject).toBe('new10');
    expect(store.audit.applyRetention({ maxAgeMs: 5000, maxEvents: 20 })).toBe(0);
  });

  test('a daemon prunes at start: audit.max_events and audit.max_age_ms from the config', async () => {
    const home = mkdtempSync(join(tmpdir(), 'agentd-audit-'));
    try {
      const store = openStateStore({ home });
      const now = Date.now();
      for (let i = 0; i < 100; i++) store.audit.append({ tsMs: now - 10 * 86_400_000, subject: 'ancient', tenant: 't', action: 'x', status: 'ok' });
      for (let i = 0; i < 1500; i++) store.audit.append({ tsMs: now - 1000 + (i % 500), subject: 'recent', tenant: 't', action: 'x', status: 'ok' });
      store.close();
      const config = parseConfig({
        home,
        isolation: { backend: 'namespace', backends: { namespace: { cgroup_parent: `agentd-test-${process.pid}-audit` } } },
        adapters: { http: { enabled: false }, unix: { enabled: false } },
        audit: { max_age_ms: 86_400_000, max_events: 1000 },
      }, {}, {});
      const d = await startDaemon(config, { sweepIntervalMs: 100, stopGraceMs: 500 });
      try {
        expect(d.store.audit.query({ limit: 1000, subject: 'ancient' })).toHaveLength(0);
        expect(d.store.audit.query({ limit: 1000, subject: 'recent' })).toHaveLength(1000);
        // Exactly 1000 left: keeping 999 deletes one.
        expect(d.store.audit.applyRetention({ maxEvents: 999 })).toBe(1);
      } finally {
        await d.close();
      }
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
  });
});
