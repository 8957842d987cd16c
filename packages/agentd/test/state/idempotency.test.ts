import { describe, expect } from 'vitest';
import { AgentdError } from '../../src/core/errors.js';
import { hashRequest, openStateStore } from '../../src/state/index.js';
import { test } from './fixture.js';

const scope = { tenant: 'acme', subject: 'alice', key: 'retry-1' };

describe('idempotency keys', () => {
  test('the first claim runs, a concurrent retry sees in-flight, a later retry gets the first response', ({ store, clock }) => {
    const hash = hashRequest({ capability: 'shell.exec.v1', params: { command: 'date' } });
    expect(store.idempotency.claim(scope, hash)).toEqual({ kind: 'claimed' });
    const claimedAt = clock.now();
    clock.advance(10);
    expect(store.idempotency.claim(scope, hash)).toEqual({ kind: 'in_flight', claimedAtMs: claimedAt });
    clock.advance(10);
    expect(store.idempotency.complete(scope, { status: 'ok', result: { exit_code: 0, stdout: 'Mon\n' } })).toBe(true);
    expect(store.idempotency.claim(scope, hash)).toEqual({
      kind: 'completed', completedAtMs: claimedAt + 20, response: { status: 'ok', result: { exit_code: 0, stdout: 'Mon\n' } },
    });
  });

  test('the same key with a different request body is a CONFLICT, and does not disturb the stored answer', ({ store }) => {
    const first = hashRequest({ command: 'echo a' });
    store.idempotency.claim(scope, first);
    store.idempotency.complete(scope, { n: 1 });
    let err: unknown;
    try {
      store.idempotency.claim(scope, hashRequest({ command: 'rm -rf /' }));
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(AgentdError);
    expect((err as AgentdError).code).toBe('CONFLICT');
    expect((err as AgentdError).httpStatus).toBe(409);
    expect(store.idempotency.claim(scope, first)).toMatchObject({ kind: 'completed', response: { n: 1 } });
  });

  test('keys are scoped per tenant and per subject', ({ store }) => {
    const h = hashRequest({ a: 1 });
    expect(store.idempotency.claim(scope, h).kind).toBe('claimed');
    expect(store.idempotency.claim({ ...scope, subject: 'bob' }, h).kind).toBe('claimed');
    expect(store.idempotency.claim({ ...scope, tenant: 'other' }, hashRequest({ b: 2 })).kind).toBe('claimed');
  });

  test('release lets a retry run again; an expired key is forgotten; prune deletes expired rows', ({ store, clock }) => {
    const h = hashRequest({ a: 1 });
    store.idempotency.claim(scope, h, 1000);
    expect(store.idempotency.release(scope)).toBe(true);
    expect(store.idempotency.claim(scope, h, 1000).kind).toBe('claimed');
    store.idempotency.complete(scope, 'first', 1000);
    expect(store.idempotency.release(scope)).toBe(false); // a completed answer is never released
    clock.advance(1000);
    // Expired: even another body may now use the key.
    expect(store.idempotency.claim(scope, hashRequest({ other: true }), 1000).kind).toBe('claimed');
    store.idempotency.claim({ ...scope, key: 'k2' }, h, 10);
    clock.advance(10);
    expect(store.idempotency.prune()).toBe(1);
  });

  test('two connections to the same file cannot both claim a key', ({ store, home, clock }) => {
    const other = openStateStore({ home, now: clock.now });
    try {
      const h = hashRequest({ x: 1 });
      expect(store.idempotency.claim(scope, h).kind).toBe('claimed');
      expect(other.idempotency.claim(scope, h).kind).toBe('in_flight');
    } finally {
      other.close();
    }
  });

  test('hashRequest ignores key order but not values', () => {
    expect(hashRequest({ a: 1, b: { c: [1, 2], d: 'x' } })).toBe(hashRequest({ b: { d: 'x', c: [1, 2] }, a: 1 }));
    expect(hashRequest({ a: 1 })).not.toBe(hashRequest({ a: 2 }));
    expect(hashRequest({ c: [1, 2] })).not.toBe(hashRequest({ c: [2, 1] }));
  });
});
