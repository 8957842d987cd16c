import { describe, expect } from 'vitest';
import type { NewSandbox } from '../../src/state/index.js';
import { test } from './fixture.js';

const sbx = (id: string, over: Partial<NewSandbox> = {}): NewSandbox => ({
  id, tenant: 'acme', backend: 'namespace', profile: 'server', state: 'running', spec: { network: 'none' }, ...over,
});

describe('sandboxes', () => {
  test('insert, get, update and delete round-trip every field', ({ store, clock }) => {
    const created = store.sandboxes.insert(sbx('s1', { labels: { team: 'a' }, expiresAtMs: 9_000_000, spec: { env: { A: '1' }, limits: [1, 2] } }));
    expect(created).toEqual({
      id: 's1', tenant: 'acme', backend: 'namespace', profile: 'server', state: 'running',
      spec: { env: { A: '1' }, limits: [1, 2] }, labels: { team: 'a' },
      createdAtMs: clock.now(), updatedAtMs: clock.now(), expiresAtMs: 9_000_000, lastError: null,
    });
    clock.advance(50);
    const updated = store.sandboxes.update('s1', { state: 'dead', lastError: 'init exited 137' });
    expect(updated).toMatchObject({ state: 'dead', lastError: 'init exited 137', updatedAtMs: created.createdAtMs + 50, expiresAtMs: 9_000_000, labels: { team: 'a' } });
    expect(store.sandboxes.update('s1', { expiresAtMs: null, lastError: null })).toMatchObject({ expiresAtMs: null, lastError: null, state: 'dead' });
    expect(store.sandboxes.update('missing', { state: 'stopped' })).toBeUndefined();
    expect(() => store.sandboxes.insert(sbx('s1'))).toThrow(/UNIQUE/);
    expect(store.sandboxes.delete('s1')).toBe(true);
    expect(store.sandboxes.delete('s1')).toBe(false);
    expect(store.sandboxes.get('s1')).toBeUndefined();
  });

  test('getForTenant hides other tenants; list filters by tenant, state, backend and labels', ({ store }) => {
    store.sandboxes.insert(sbx('a1', { labels: { env: 'dev', team: 'x' } }));
    store.sandboxes.insert(sbx('a2', { state: 'stopped', backend: 'host-direct', labels: { env: 'prod' } }));
    store.sandboxes.insert(sbx('b1', { tenant: 'other', labels: { env: 'dev' } }));
    expect(store.sandboxes.getForTenant('b1', 'acme')).toBeUndefined();
    expect(store.sandboxes.getForTenant('b1', 'other')?.id).toBe('b1');
    const ids = (f: Parameters<typeof store.sandboxes.list>[0]): string[] => store.sandboxes.list(f).map((s) => s.id);
    expect(ids({})).toEqual(['a1', 'a2', 'b1']);
    expect(ids({ tenant: 'acme' })).toEqual(['a1', 'a2']);
    expect(ids({ tenant: 'acme', states: ['stopped'] })).toEqual(['a2']);
    expect(ids({ states: [] })).toEqual([]);
    expect(ids({ backend: 'namespace' })).toEqual(['a1', 'b1']);
    expect(ids({ labels: { env: 'dev' } })).toEqual(['a1', 'b1']);
    expect(ids({ labels: { env: 'dev', team: 'x' } })).toEqual(['a1']);
    expect(ids({ labels: {} })).toEqual(['a1', 'a2', 'b1']);
    expect(store.sandboxes.countByState()).toEqual({ running: 2, stopped: 1 });
  });

  test('listExpired returns sandboxes past their TTL that are not destroyed, soonest first', ({ store, clock }) => {
    const now = clock.now();
    store.sandboxes.insert(sbx('late', { expiresAtMs: now - 10 }));
    store.sandboxes.insert(sbx('early', { expiresAtMs: now - 100 }));
    store.sandboxes.insert(sbx('future', { expiresAtMs: now + 100 }));
    store.sandboxes.insert(sbx('gone', { expiresAtMs: now - 5, state: 'destroyed' }));
    store.sandboxes.insert(sbx('forever'));
    expect(store.sandboxes.listExpired().map((s) => s.id)).toEqual(['early', 'late']);
    expect(store.sandboxes.listExpired(now + 100).map((s) => s.id)).toEqual(['early', 'late', 'future']);
  });
});

describe('sessions', () => {
  test('a session needs an existing sandbox and is removed with it', ({ store }) => {
    const base = { tenant: 'acme', state: 'attached' as const, idleTimeoutMs: 1000, detachTimeoutMs: 2000, suspendAfterMs: 3000 };
    expect(() => store.sessions.insert({ ...base, id: 'x', sandboxId: 'nope' })).toThrow(/FOREIGN KEY/);
    store.sandboxes.insert(sbx('s1'));
    const ses = store.sessions.insert({ ...base, id: 'ses1', sandboxId: 's1' });
    expect(ses.lastActiveMs).toBe(ses.createdAtMs);
    store.sandboxes.delete('s1');
    expect(store.sessions.get('ses1')).toBeUndefined();
  });

  test('update, touch and list filters', ({ store, clock }) => {
    store.sandboxes.insert(sbx('s1'));
    store.sandboxes.insert(sbx('s2', { tenant: 'other' }));
    const base = { state: 'attached' as const, idleTimeoutMs: 1000, detachTimeoutMs: 2000, suspendAfterMs: 3000 };
    store.sessions.insert({ ...base, id: 'a', tenant: 'acme', sandboxId: 's1' });
    store.sessions.insert({ ...base, id: 'b', tenant: 'other', sandboxId: 's2', state: 'detached' });
    clock.advance(500);
    expect(store.sessions.touch('a')?.lastActiveMs).toBe(clock.now());
    expect(store.sessions.update('a', { state: 'suspended', idleTimeoutMs: 7 })).toMatchObject({ state: 'suspended', idleTimeoutMs: 7, detachTimeoutMs: 2000 });
    expect(store.sessions.list({ tenant: 'acme' }).map((s) => s.id)).toEqual(['a']);
    expect(store.sessions.list({ states: ['detached'] }).map((s) => s.id)).toEqual(['b']);
    expect(store.sessions.list({ sandboxId: 's2', tenant: 'acme' })).toEqual([]);
    expect(store.sessions.getForTenant('b', 'acme')).toBeUndefined();
    expect(store.sessions.delete('a')).toBe(true);
  });
});

describe('snapshots', () => {
  test('outlive their sandbox and are scoped by tenant', ({ store }) => {
    store.sandboxes.insert(sbx('s1'));
    store.snapshots.insert({ id: 'snap1', sandboxId: 's1', tenant: 'acme', name: 'before', path: '/h/snapshots/snap1', sizeBytes: 42 });
    store.snapshots.insert({ id: 'snap2', sandboxId: 's9', tenant: 'other', path: '/h/snapshots/snap2', sizeBytes: 1 });
    store.sandboxes.delete('s1');
    expect(store.snapshots.get('snap1')).toMatchObject({ sandboxId: 's1', name: 'before', sizeBytes: 42 });
    expect(store.snapshots.get('snap2')?.name).toBeNull();
    expect(store.snapshots.getForTenant('snap2', 'acme')).toBeUndefined();
    expect(store.snapshots.list({ tenant: 'acme' }).map((s) => s.id)).toEqual(['snap1']);
    expect(store.snapshots.list({ sandboxId: 's9' }).map((s) => s.id)).toEqual(['snap2']);
    expect(store.snapshots.delete('snap1')).toBe(true);
    expect(store.snapshots.list().map((s) => s.id)).toEqual(['snap2']);
  });
});
