import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiKeyService } from '../../src/auth/api-key.js';
import { startTestDaemon, type TestDaemon } from '../daemon/harness.js';

/**
 * Tenant B (role user) against tenant A's sandbox, session, snapshot, exec, files and intents
 * on every route: always 404 NOT_FOUND (never 403: ids of another tenant cannot be probed),
 * and nothing of A's changes. A regression guard over the gate: every route passes it, and the
 * tenant scoping sits under it in the manager.
 */
describe('attack: tenant B against tenant A on every route', () => {
  let d: TestDaemon;
  let keyA = '';
  let keyB = '';
  let sbxA = '';
  let sbxB = '';
  let snapA = '';
  let sesA = '';
  const as = (key: string) => ({ authorization: `Bearer ${key}` });
  const A = (method: string, path: string, body?: unknown) => d.call(method, path, { headers: as(keyA), ...(body === undefined ? {} : { body }) });
  const B = (method: string, path: string, opts: { body?: unknown; raw?: string } = {}) => d.call(method, path, { headers: as(keyB), ...opts });

  beforeAll(async () => {
    d = await startTestDaemon({ profile: 'server', pool: { enabled: false, min_warm: 0 }, auth: { providers: [{ type: 'api-key' }] } });
    const keys = new ApiKeyService(d.daemon.store.apiKeys);
    keyA = keys.create({ subject: 'alice', tenant: 'tenant-a', roles: ['user'] }).key;
    keyB = keys.create({ subject: 'bob', tenant: 'tenant-b', roles: ['user'] }).key;
    sbxA = (await A('POST', '/v1/sandboxes', {})).body.id;
    expect((await d.call('PUT', `/v1/sandboxes/${sbxA}/files?path=secret.txt`, { headers: as(keyA), raw: 'alice-only\n' })).status).toBe(200);
    snapA = (await A('POST', `/v1/sandboxes/${sbxA}/snapshot`, { name: 'a' })).body.id;
    sesA = (await A('POST', '/v1/sessions', { sandbox_id: sbxA })).body.id;
    sbxB = (await B('POST', '/v1/sandboxes', { body: {} })).body.id;
    expect([sbxA, snapA, sesA, sbxB].every((x) => typeof x === 'string' && x.length > 0)).toBe(true);
  });
  afterAll(async () => {
    await d?.close();
  });

  it('every route on A\'s ids answers B 404 NOT_FOUND', async () => {
    const attempts: Array<[string, string, { body?: unknown; raw?: string }?]> = [
      ['GET', `/v1/sandboxes/${sbxA}`],
      ['DELETE', `/v1/sandboxes/${sbxA}`],
      ['DELETE', `/v1/sandboxes/${sbxA}?keep_files=true`],
      ['POST', `/v1/sandboxes/${sbxA}/start`],
      ['POST', `/v1/sandboxes/${sbxA}/suspend`],
      ['POST', `/v1/sandboxes/${sbxA}/resume`],
      ['POST', `/v1/sandboxes/${sbxA}/snapshot`, { body: {} }],
      ['POST', `/v1/sandboxes/${sbxA}/restore`, { body: { snapshot_id: snapA } }],
      ['POST', `/v1/sandboxes/${sbxA}/fork`, { body: {} }],
      ['POST', `/v1/sandboxes/${sbxA}/fork`, { body: { snapshot_id: snapA } }],
      ['POST', `/v1/sandboxes/${sbxA}/exec`, { body: { argv: ['cat', 'secret.txt'] } }],
      ['POST', `/v1/sandboxes/${sbxA}/exec?stream=1`, { body: { argv: ['cat', 'secret.txt'] } }],
      ['GET', `/v1/sandboxes/${sbxA}/files?path=secret.txt`],
      ['PUT', `/v1/sandboxes/${sbxA}/files?path=secret.txt`, { raw: 'bob was here\n' }],
      ['POST', `/v1/sandboxes/${sbxA}/files/edit`, { body: { path: 'secret.txt', old_string: 'alice', new_string: 'bob' } }],
      ['GET', `/v1/sandboxes/${sbxA}/files/list?path=.`],
      ['GET', `/v1/sandboxes/${sbxA}/files/stat?path=secret.txt`],
      ['POST', `/v1/sandboxes/${sbxA}/files/mkdir`, { body: { path: 'bobdir' } }],
      ['DELETE', `/v1/sandboxes/${sbxA}/files?path=secret.txt`],
      ['DELETE', `/v1/snapshots/${snapA}`],
      ['GET', `/v1/sessions/${sesA}`],
      ['POST', `/v1/sessions/${sesA}/attach`],
      ['POST', `/v1/sessions/${sesA}/detach`],
      ['DELETE', `/v1/sessions/${sesA}`],
      ['POST', '/v1/sessions', { body: { sandbox_id: sbxA } }],
      // B's own sandbox with A's snapshot: restore and fork take no other tenant's snapshot.
      ['POST', `/v1/sandboxes/${sbxB}/restore`, { body: { snapshot_id: snapA } }],
      ['POST', `/v1/sandboxes/${sbxB}/fork`, { body: { snapshot_id: snapA } }],
    ];
    for (const [method, path, opts] of attempts) {
      const r = await B(method, path, opts ?? {});
      expect({ route: `${method} ${path}`, status: r.status, code: r.body?.error?.code }).toEqual({ route: `${method} ${path}`, status: 404, code: 'NOT_FOUND' });
    }
    for (const capability of ['shell.exec', 'fs.read', 'fs.write', 'fs.list']) {
      const params = capability === 'shell.exec' ? { argv: ['cat', 'secret.txt'] } : capability === 'fs.write' ? { path: 'secret.txt', content: 'bob' } : { path: capability === 'fs.list' ? '.' : 'secret.txt' };
      const r = await B('POST', '/v1/intents', { body: { capability, params, sandbox_prefs: { sandbox_id: sbxA } } });
      expect({ capability, status: r.status, code: r.body.code, result: r.body.result }).toEqual({ capability, status: 404, code: 'NOT_FOUND', result: undefined });
    }
  });

  it("B's lists hold none of A's things", async () => {
    expect((await B('GET', '/v1/sandboxes')).body.sandboxes.map((s: { id: string }) => s.id)).toEqual([sbxB]);
    expect((await B('GET', '/v1/snapshots')).body.snapshots).toEqual([]);
    expect((await B('GET', '/v1/sessions')).body.sessions).toEqual([]);
    const audit = (await B('GET', '/v1/audit?limit=1000')).body.events as Array<{ tenant: string }>;
    expect(audit.length).toBeGreaterThan(0);
    expect(audit.every((e) => e.tenant === 'tenant-b')).toBe(true);
  });

  it("nothing of A's changed: sandbox running, file intact, no new folder, snapshot and session there, B's sandbox untouched", async () => {
    expect((await A('GET', `/v1/sandboxes/${sbxA}`)).body.state).toBe('running');
    expect((await d.call('GET', `/v1/sandboxes/${sbxA}/files?path=secret.txt`, { headers: as(keyA) })).text).toBe('alice-only\n');
    const names = (await A('GET', `/v1/sandboxes/${sbxA}/files/list?path=.`)).body.entries.map((e: { name: string }) => e.name);
    expect(names).toEqual(['secret.txt']);
    expect((await A('GET', '/v1/snapshots')).body.snapshots.map((s: { id: string }) => s.id)).toEqual([snapA]);
    expect((await A('GET', `/v1/sessions/${sesA}`)).body.state).toBe('attached');
    expect((await d.call('GET', `/v1/sandboxes/${sbxB}/files/list?path=.`, { headers: as(keyB) })).body.entries).toEqual([]);
    expect(d.daemon.store.sandboxes.list({}).map((s) => s.id).sort()).toEqual([sbxA, sbxB].sort());
  });
});
