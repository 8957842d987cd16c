import { describe, expect } from 'vitest';
import Database from 'better-sqlite3';
import { redact, REDACTED } from '../../src/state/index.js';
import { test } from './fixture.js';

const apiKey = `agd_0123456789abcdef_${'A'.repeat(43)}`;

describe('audit redaction', () => {
  test('env values, stdin, file contents and credentials never reach the database', ({ store }) => {
    const id = store.audit.append({
      subject: 'alice',
      tenant: 'acme',
      action: 'intent',
      capability: 'shell.exec.v1',
      sandboxId: 's1',
      intentId: 'i1',
      status: 'ok',
      code: 'OK',
      durationMs: 12.6,
      details: {
        params: {
          command: 'deploy',
          env: { AWS_SECRET_ACCESS_KEY: 'hunter2-aws', PATH: '/usr/bin' },
          stdin: 'password=hunter2-stdin',
        },
        write: { path: '/workspace/.env', content: 'TOKEN=hunter2-file' },
        edit: { old_string: 'hunter2-old', new_string: 'hunter2-new' },
        headers: { Authorization: 'Bearer hunter2-jwt', 'X-Agentd-Signature': 'hunter2-sig', 'user-agent': 'sdk/1' },
        note: `created ${apiKey}`,
      },
    });
    const [event] = store.audit.query({ tenant: 'acme' });
    expect(event).toMatchObject({ id, subject: 'alice', capability: 'shell.exec.v1', durationMs: 13, code: 'OK', status: 'ok' });
    expect(event?.details).toEqual({
      params: { command: 'deploy', env: { AWS_SECRET_ACCESS_KEY: REDACTED, PATH: REDACTED }, stdin: '[redacted 22 chars]' },
      write: { path: '/workspace/.env', content: '[redacted 18 chars]' },
      edit: { old_string: '[redacted 11 chars]', new_string: '[redacted 11 chars]' },
      headers: { Authorization: REDACTED, 'X-Agentd-Signature': REDACTED, 'user-agent': 'sdk/1' },
      note: REDACTED,
    });
    // The raw row, not just the parsed view, holds no secret.
    const db = new Database(store.path, { readonly: true });
    try {
      const raw = JSON.stringify(db.prepare('SELECT * FROM audit_events').all());
      expect(raw).not.toMatch(/hunter2|AAAAAAAAAAAAAAAA/);
      expect(raw).toContain('AWS_SECRET_ACCESS_KEY');
    } finally {
      db.close();
    }
  });

  test('redact does not mutate its input, cuts long strings and deep nesting', () => {
    const input = { env: { A: 'x' }, long: 'y'.repeat(5000) };
    const out = redact(input) as { long: string };
    expect(input.env.A).toBe('x');
    expect(out.long.length).toBeLessThan(1100);
    expect(out.long).toMatch(/3976 more chars/);
    let deep: Record<string, unknown> = { leaf: 1 };
    for (let i = 0; i < 20; i++) deep = { d: deep };
    expect(JSON.stringify(redact(deep))).toContain('[truncated]');
  });
});

describe('audit queries', () => {
  test('filter by tenant, time, sandbox and subject; newest first by default; limit capped', ({ store, clock }) => {
    const base = { action: 'intent', status: 'ok' as const };
    store.audit.append({ ...base, subject: 'alice', tenant: 'acme', sandboxId: 's1' });
    clock.advance(10);
    store.audit.append({ ...base, subject: 'bob', tenant: 'acme', sandboxId: 's2' });
    clock.advance(10);
    store.audit.append({ ...base, subject: 'eve', tenant: 'other' });
    store.audit.append({ action: 'auth', status: 'denied', code: 'UNAUTHENTICATED', subject: null, tenant: null });
    const t0 = clock.now() - 20;
    expect(store.audit.query().map((e) => e.subject)).toEqual([null, 'eve', 'bob', 'alice']);
    expect(store.audit.query({ order: 'asc', tenant: 'acme' }).map((e) => e.subject)).toEqual(['alice', 'bob']);
    expect(store.audit.query({ sinceMs: t0 + 10 }).map((e) => e.subject)).toEqual([null, 'eve', 'bob']);
    expect(store.audit.query({ untilMs: t0 + 10 }).map((e) => e.subject)).toEqual(['alice']);
    expect(store.audit.query({ sandboxId: 's2' }).map((e) => e.subject)).toEqual(['bob']);
    expect(store.audit.query({ subject: 'eve', tenant: 'acme' })).toEqual([]);
    expect(store.audit.query({ limit: 2 })).toHaveLength(2);
    expect(store.audit.query({ limit: 0 })).toHaveLength(1);
    expect(store.audit.prune(t0 + 10)).toBe(1);
    expect(store.audit.query()).toHaveLength(3);
  });
});
