import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PolicyHook, PolicyInput } from '../../src/pipeline/policy.js';
import { startTestDaemon, type TestDaemon } from '../daemon/harness.js';

/**
 * One gate for every operation: lifecycle routes ask the same policy hook as intents, with the
 * operation's name, and every refusal lands in the audit log. Before the gate existed the
 * routes called the manager directly: a policy could not deny a fork.
 */
describe('attack: lifecycle routes bypassing the policy hook', () => {
  let d: TestDaemon;
  const denied = new Set<string>();
  const seen: PolicyInput[] = [];
  const policy: PolicyHook = {
    decide(input) {
      seen.push(input);
      if (denied.has(input.capability) || denied.has('*')) return { allow: false, rule: 'test-deny', reason: `${input.capability} is denied by the test policy` };
      return { allow: true, constraints: input.constraints };
    },
  };
  let sbx = '';
  let snap = '';
  let ses = '';

  beforeAll(async () => {
    d = await startTestDaemon({ pool: { enabled: false, min_warm: 0 } }, { policy });
    sbx = (await d.call('POST', '/v1/sandboxes', { body: { labels: { who: 'gate' } } })).body.id;
    snap = (await d.call('POST', `/v1/sandboxes/${sbx}/snapshot`, { body: {} })).body.id;
    ses = (await d.call('POST', '/v1/sessions', { body: { sandbox_id: sbx } })).body.id;
    expect([sbx, snap, ses].every((x) => typeof x === 'string' && x.length > 0)).toBe(true);
  });
  afterAll(async () => {
    await d?.close();
  });

  const routes = (): Array<[string, string, string, unknown?]> => [
    ['sandbox.create', 'POST', '/v1/sandboxes', {}],
    ['sandbox.delete', 'DELETE', `/v1/sandboxes/${sbx}`],
    ['sandbox.start', 'POST', `/v1/sandboxes/${sbx}/start`],
    ['sandbox.suspend', 'POST', `/v1/sandboxes/${sbx}/suspend`],
    ['sandbox.resume', 'POST', `/v1/sandboxes/${sbx}/resume`],
    ['sandbox.snapshot', 'POST', `/v1/sandboxes/${sbx}/snapshot`, {}],
    ['sandbox.restore', 'POST', `/v1/sandboxes/${sbx}/restore`, { snapshot_id: snap }],
    ['sandbox.fork', 'POST', `/v1/sandboxes/${sbx}/fork`, { snapshot_id: snap }],
    ['snapshot.list', 'GET', '/v1/snapshots'],
    ['snapshot.delete', 'DELETE', `/v1/snapshots/${snap}`],
    ['session.create', 'POST', '/v1/sessions', { sandbox_id: sbx }],
    ['session.attach', 'POST', `/v1/sessions/${ses}/attach`],
    ['session.detach', 'POST', `/v1/sessions/${ses}/detach`],
    ['session.close', 'DELETE', `/v1/sessions/${ses}`],
    ['sandbox.list', 'GET', '/v1/sandboxes'],
    ['sandbox.get', 'GET', `/v1/sandboxes/${sbx}`],
  ];

  it('a policy denying each operation by name refuses its route with 403 POLICY_DENIED, writes a denied audit row, and nothing happens', async () => {
    for (const [name, method, path, body] of routes()) {
      denied.clear();
      denied.add(name);
      const before = d.daemon.store.audit.query({ limit: 1 })[0]?.id ?? 0;
      const r = await d.call(method, path, body === undefined ? {} : { body });
      expect({ name, status: r.status, code: r.body?.error?.code }).toEqual({ name, status: 403, code: 'POLICY_DENIED' });
      expect(r.body.error.message).toBe(`${name} is denied by the test policy`);
      expect(r.body.error.details).toMatchObject({ rule: 'test-deny', operation: name });
      const rows = d.daemon.store.audit.query({ limit: 10 }).filter((e) => e.id > before);
      expect({ name, rows: rows.map((e) => [e.action, e.status, e.code]) }).toEqual({ name, rows: [[name, 'denied', 'POLICY_DENIED']] });
    }
    denied.clear();
    // No side effect: the sandbox still runs with its snapshot and its attached session; only the setup's sandbox exists.
    expect((await d.call('GET', `/v1/sandboxes/${sbx}`)).body.state).toBe('running');
    expect((await d.call('GET', '/v1/snapshots')).body.snapshots.map((s: { id: string }) => s.id)).toEqual([snap]);
    expect((await d.call('GET', `/v1/sessions/${ses}`)).body.state).toBe('attached');
    expect((await d.call('GET', '/v1/sandboxes')).body.sandboxes.map((s: { id: string }) => s.id)).toEqual([sbx]);
  });

  it('the policy sees the operation name, the caller, the sandbox and the validated body (a fork is refused, a snapshot allowed)', async () => {
    denied.clear();
    denied.add('sandbox.fork');
    seen.length = 0;
    const f = await d.call('POST', `/v1/sandboxes/${sbx}/fork`, { body: {} });
    expect(f.status).toBe(403);
    expect(f.body.error.code).toBe('POLICY_DENIED');
    expect(seen).toHaveLength(1);
    expect(seen[0]).toMatchObject({ kind: 'operation', capability: 'sandbox.fork', writes: true, sandboxPrefs: { sandbox_id: sbx }, principal: { subject: 'local' } });
    // Nothing was forked, and no snapshot was taken for it.
    expect((await d.call('GET', '/v1/sandboxes')).body.sandboxes).toHaveLength(1);
    expect((await d.call('GET', '/v1/snapshots')).body.snapshots).toHaveLength(1);
    const c = await d.call('POST', '/v1/sandboxes', { body: { profile: 'paranoid', labels: { k: 'v' } } });
    expect(seen.at(-1)).toMatchObject({ kind: 'operation', capability: 'sandbox.create', params: { profile: 'paranoid', labels: { k: 'v' } }, sandboxPrefs: { profile: 'paranoid' } });
    denied.clear();
    if (c.status === 201) expect((await d.call('DELETE', `/v1/sandboxes/${c.body.id}`)).status).toBe(204);
  });

  it('allowed operations are audited under their own name (reads are not)', async () => {
    denied.clear();
    const before = d.daemon.store.audit.query({ limit: 1 })[0]?.id ?? 0;
    expect((await d.call('POST', `/v1/sandboxes/${sbx}/suspend`)).status).toBe(200);
    expect((await d.call('POST', `/v1/sandboxes/${sbx}/resume`)).status).toBe(200);
    expect((await d.call('GET', `/v1/sandboxes/${sbx}`)).status).toBe(200);
    const rows = d.daemon.store.audit.query({ limit: 10 }).filter((e) => e.id > before).reverse();
    expect(rows.map((e) => [e.action, e.status, e.sandboxId])).toEqual([['sandbox.suspend', 'ok', sbx], ['sandbox.resume', 'ok', sbx]]);
  });
});
