import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiKeyService } from '../../src/auth/api-key.js';
import type { SandboxSpec } from '../../src/isolation/types.js';
import { startTestDaemon, type TestDaemon } from '../daemon/harness.js';

const GiB = 1024 ** 3;
const MiB = 1024 ** 2;
const HOUR = 3_600_000;

/** expires_at_ms and created_at_ms are read from the clock a moment apart. */
function expectTtl(sandbox: { expires_at_ms: number; created_at_ms: number }, ttlMs: number): void {
  const span = sandbox.expires_at_ms - sandbox.created_at_ms;
  expect(span).toBeGreaterThan(ttlMs - 1000);
  expect(span).toBeLessThanOrEqual(ttlMs);
}

/**
 * Profile, network, limit and TTL downgrades on every route that makes a sandbox. Under
 * `server`, a role-`user` key sent `{"profile":"workstation"}` and got host network, no TTL
 * and no memory limit; `limits` of 64 GiB were taken as given.
 */
describe('attack: a caller loosening what the server config grants', () => {
  let d: TestDaemon;
  let key = '';
  const auth = () => ({ authorization: `Bearer ${key}` });
  const post = (path: string, body: unknown) => d.call('POST', path, { body, headers: auth() });
  const specOf = (id: string): SandboxSpec => d.daemon.store.sandboxes.get(id)?.spec as SandboxSpec;

  beforeAll(async () => {
    d = await startTestDaemon({ profile: 'server', pool: { enabled: false, min_warm: 0 }, auth: { providers: [{ type: 'api-key' }] } });
    key = new ApiKeyService(d.daemon.store.apiKeys).create({ subject: 'mallory', tenant: 't1', roles: ['user'] }).key;
  });
  afterAll(async () => {
    await d?.close();
  });

  const downgrades: Array<[string, Record<string, unknown>, string, unknown]> = [
    ['a weaker profile', { profile: 'workstation' }, 'profile', 'server'],
    ['the custom profile (ranked below server)', { profile: 'custom' }, 'profile', 'server'],
    ['a wider network', { network: 'allowlist' }, 'network', 'none'],
    ['64 GiB of memory', { limits: { memory_bytes: 64 * GiB } }, 'limits.memory_bytes', 2 * GiB],
    ['more pids', { limits: { pids: 100_000 } }, 'limits.pids', 1024],
    ['more cpus', { limits: { cpus: 64 } }, 'limits.cpus', 1],
    ['more open files', { limits: { open_files: 1 << 20 } }, 'limits.open_files', 4096],
    ['a longer TTL', { ttl_ms: 7 * 24 * HOUR }, 'ttl_ms', 24 * HOUR],
  ];

  for (const [what, ask, field, ceiling] of downgrades) {
    it(`${what}: refused with 403 POLICY_DENIED naming ${field} and its ceiling on POST /v1/sandboxes and POST /v1/sessions; nothing is created`, async () => {
      for (const [path, body] of [['/v1/sandboxes', ask], ['/v1/sessions', { sandbox: ask }]] as const) {
        const r = await post(path, body);
        expect({ path, status: r.status, code: r.body?.error?.code }).toEqual({ path, status: 403, code: 'POLICY_DENIED' });
        expect(r.body.error.details).toMatchObject({ field, ceiling });
        expect(r.body.error.message).toContain(field === 'profile' ? 'profile' : field);
      }
      expect(d.daemon.store.sandboxes.list({})).toEqual([]);
      expect(d.daemon.store.sessions.list({})).toEqual([]);
    });
  }

  it("the reported attack: {profile: 'workstation'} gets no host network, TTL or memory limit by the back door", async () => {
    const r = await post('/v1/sandboxes', { profile: 'workstation' });
    expect(r.status).toBe(403);
    expect(r.body.error.message).toMatch(/^profile 'workstation' is weaker than this daemon's profile 'server'/);
    // The same through an intent's sandbox_prefs.
    const i = await post('/v1/intents', { capability: 'shell.exec', params: { argv: ['true'] }, sandbox_prefs: { profile: 'workstation', persist: true } });
    expect(i.status).toBe(403);
    expect(i.body.code).toBe('POLICY_DENIED');
    expect(d.daemon.store.sandboxes.list({})).toEqual([]);
  });

  it('a stricter request is served, with every configured ceiling kept (paranoid preset values, no limit dropped)', async () => {
    const r = await post('/v1/sandboxes', { profile: 'paranoid', limits: { memory_bytes: 256 * MiB }, ttl_ms: HOUR });
    expect(r.status).toBe(201);
    const spec = specOf(r.body.id);
    expect(spec.network).toBe('none');
    expect(spec.limits).toMatchObject({ memoryBytes: 256 * MiB, pids: 256, cpus: 1, openFiles: 1024 });
    expectTtl(r.body, HOUR);
    expect((await d.call('DELETE', `/v1/sandboxes/${r.body.id}`, { headers: auth() })).status).toBe(204);
  });

  it('a fork copies no more than the config grants at the time of the fork (config tightened by a reload)', async () => {
    const r = await post('/v1/sandboxes', { limits: { memory_bytes: GiB } });
    expect(r.status).toBe(201);
    const tighter = { ...d.daemon.config, sandbox: { ...d.daemon.config.sandbox, limits: { ...d.daemon.config.sandbox.limits, memory_bytes: 512 * MiB } } };
    await d.daemon.reload(tighter);
    try {
      const f = await post(`/v1/sandboxes/${r.body.id}/fork`, {});
      expect(f.status).toBe(403);
      expect(f.body.error).toMatchObject({ code: 'POLICY_DENIED', details: { field: 'limits.memory_bytes', ceiling: 512 * MiB, asked: GiB } });
      expect(d.daemon.store.sandboxes.list({}).map((s) => s.id)).toEqual([r.body.id]);
    } finally {
      await d.daemon.reload({ ...d.daemon.config, sandbox: { ...d.daemon.config.sandbox, limits: { ...d.daemon.config.sandbox.limits, memory_bytes: 2 * GiB } } });
    }
    expect((await d.call('DELETE', `/v1/sandboxes/${r.body.id}`, { headers: auth() })).status).toBe(204);
  });
});

describe('a stricter profile never raises a configured ceiling (workstation daemon with its own limits)', () => {
  let d: TestDaemon;
  beforeAll(async () => {
    d = await startTestDaemon({ sandbox: { network: 'none', limits: { memory_bytes: GiB, pids: 512 }, ttl_ms: 2 * HOUR } });
  });
  afterAll(async () => {
    await d?.close();
  });

  it("custom's preset has no limits and server's allows 2 GiB and 24 h: both get the config's 1 GiB, 512 pids and 2 h", async () => {
    for (const profile of ['custom', 'server']) {
      const r = await d.call('POST', '/v1/sandboxes', { body: { profile } });
      expect({ profile, status: r.status }).toEqual({ profile, status: 201 });
      const spec = d.daemon.store.sandboxes.get(r.body.id)?.spec as SandboxSpec;
      expect(spec.limits.memoryBytes).toBe(GiB);
      expect(spec.limits.pids).toBe(512);
      expectTtl(r.body, 2 * HOUR);
      expect((await d.call('DELETE', `/v1/sandboxes/${r.body.id}`)).status).toBe(204);
    }
  });

  it('a request cannot drop the TTL or ask for host network', async () => {
    const ttl = await d.call('POST', '/v1/sandboxes', { body: { ttl_ms: 3 * HOUR } });
    expect(ttl.body.error).toMatchObject({ code: 'POLICY_DENIED', details: { field: 'ttl_ms', ceiling: 2 * HOUR } });
    const net = await d.call('POST', '/v1/sandboxes', { body: { network: 'host' } });
    expect(net.body.error).toMatchObject({ code: 'POLICY_DENIED', details: { field: 'network', ceiling: 'none' } });
    const plain = await d.call('POST', '/v1/sandboxes', { body: {} });
    expectTtl(plain.body, 2 * HOUR);
    expect((await d.call('DELETE', `/v1/sandboxes/${plain.body.id}`)).status).toBe(204);
  });
});
