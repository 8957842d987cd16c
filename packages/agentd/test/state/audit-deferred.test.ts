/**
 * AuditRepo.appendSoon (the gate's audit path): a row is written after the current turn of the
 * event loop, in one transaction with the other rows of that turn, with its time and order
 * fixed at the call; every read, direct append and close writes pending rows first.
 */
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { describe, expect } from 'vitest';
import { openStateStore } from '../../src/state/index.js';
import { test } from './fixture.js';

const event = (n: number) => ({ subject: 'alice', tenant: 'acme', action: 'intent', capability: 'shell.exec.v1', status: 'ok' as const, code: 'OK', details: { n } });

/** Rows as another connection sees them (what is committed). */
function committed(home: string): number[] {
  const db = new Database(join(home, 'state.db'), { readonly: true, fileMustExist: true });
  try {
    return (db.prepare("SELECT json_extract(details, '$.n') AS n FROM audit_events ORDER BY id").all() as Array<{ n: number }>).map((r) => r.n);
  } finally {
    db.close();
  }
}

describe('audit: appendSoon', () => {
  test('rows of one turn are committed together right after it, in call order, with the time of the call', async ({ store, clock, home }) => {
    store.audit.appendSoon(event(1));
    clock.advance(5);
    store.audit.appendSoon(event(2));
    expect(committed(home)).toEqual([]);
    await new Promise((r) => setImmediate(r));
    expect(committed(home)).toEqual([1, 2]);
    const [second, first] = store.audit.query({ tenant: 'acme' });
    expect(second!.tsMs - first!.tsMs).toBe(5);
  });

  test('a read, a direct append or a retention pass sees every pending row first; close writes them', async ({ store, home }) => {
    store.audit.appendSoon(event(1));
    expect(store.audit.query({ tenant: 'acme' }).map((e) => e.details.n)).toEqual([1]);
    store.audit.appendSoon(event(2));
    store.audit.append(event(3));
    expect(committed(home)).toEqual([1, 2, 3]);
    store.audit.appendSoon(event(4));
    expect(store.audit.applyRetention({ maxEvents: 2 })).toBe(2);
    expect(committed(home)).toEqual([3, 4]);
    store.audit.appendSoon(event(5));
    store.close();
    expect(committed(home)).toEqual([3, 4, 5]);
  });

  test('a failed deferred write is reported, not thrown', async ({ home, clock }) => {
    const store = openStateStore({ home: `${home}/other`, now: clock.now });
    const errors: Array<[string, number]> = [];
    store.audit.onDeferredError = (err, rows) => errors.push([(err as Error).message, rows]);
    store.audit.appendSoon(event(2));
    // The insert cannot succeed: the table is dropped under the repo by another connection.
    new Database(join(`${home}/other`, 'state.db')).exec('DROP TABLE audit_events');
    await new Promise((r) => setImmediate(r));
    expect(errors).toHaveLength(1);
    expect(errors[0]![1]).toBe(1);
    store.close();
  });
});
