/**
 * AuditRepo.appendWithin (the egress proxy's audit path): rows wait at most the given time to
 * share one transaction, and every read, direct append and close writes them first, as
 * appendSoon's do.
 */
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { describe, expect } from 'vitest';
import { test } from './fixture.js';

const event = (n: number) => ({ subject: null, tenant: 'acme', action: 'network.egress', status: 'ok' as const, code: 'OK', details: { n } });

function committed(home: string): number[] {
  const db = new Database(join(home, 'state.db'), { readonly: true, fileMustExist: true });
  try {
    return (db.prepare("SELECT json_extract(details, '$.n') AS n FROM audit_events ORDER BY id").all() as Array<{ n: number }>).map((r) => r.n);
  } finally {
    db.close();
  }
}

describe('audit: appendWithin', () => {
  test('rows are committed together once the wait is over, in call order, not at the next turn', async ({ store, home }) => {
    store.audit.appendWithin(event(1), 40);
    store.audit.appendWithin(event(2), 40);
    await new Promise((r) => setImmediate(r));
    expect(committed(home)).toEqual([]);
    await new Promise((r) => setTimeout(r, 80));
    expect(committed(home)).toEqual([1, 2]);
  });

  test('a read, a direct append, an appendSoon turn or close writes the waiting rows first', async ({ store, home }) => {
    store.audit.appendWithin(event(1), 60_000);
    expect(store.audit.query({ tenant: 'acme' }).map((e) => e.details.n)).toEqual([1]);
    store.audit.appendWithin(event(2), 60_000);
    store.audit.append(event(3));
    expect(committed(home)).toEqual([1, 2, 3]);
    store.audit.appendWithin(event(4), 60_000);
    store.audit.appendSoon(event(5));
    await new Promise((r) => setImmediate(r));
    expect(committed(home)).toEqual([1, 2, 3, 4, 5]);
    store.audit.appendWithin(event(6), 60_000);
    store.close();
    expect(committed(home)).toEqual([1, 2, 3, 4, 5, 6]);
  });
});
