import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuthenticationError, NotFoundError, Sandbox, SandboxNotFoundError } from 'e2b';
import { startE2bDaemon, type E2bTestDaemon } from './harness.js';

/** The E2B control plane with the real, pinned `e2b` SDK against a real daemon (namespace backend). */
describe('E2B control plane (stock e2b SDK)', () => {
  let e: E2bTestDaemon;
  beforeAll(async () => {
    e = await startE2bDaemon();
  });
  afterAll(async () => {
    await e?.close();
  });

  it('create, getInfo, isRunning, kill: an agentd sandbox with the TTL of the timeout', async () => {
    const sbx = await Sandbox.create({ ...e.opts, metadata: { job: 'j1' }, timeoutMs: 120_000, envs: { GREETING: 'hi' } });
    expect(sbx.sandboxId).toMatch(/^sbx_/);
    const info = await sbx.getInfo();
    expect(info.sandboxId).toBe(sbx.sandboxId);
    expect(info.templateId).toBe('base');
    expect(info.metadata).toEqual({ job: 'j1' });
    expect(info.state).toBe('running');
    expect(info.endAt.getTime() - info.startedAt.getTime()).toBe(120_000);
    // The same sandbox in agentd's own API: labels from metadata, env from envs, TTL from the timeout.
    const own = await e.d.call('GET', `/v1/sandboxes/${sbx.sandboxId}`, { headers: await adminOf(e, 't1') });
    expect(own.status).toBe(200);
    expect(own.body.labels).toEqual({ job: 'j1' });
    expect(own.body.expires_at_ms - Date.now()).toBeGreaterThan(100_000);
    expect(await sbx.isRunning()).toBe(true);
    await sbx.kill();
    expect(await Sandbox.kill(sbx.sandboxId, e.opts)).toBe(false);
    await expect(Sandbox.getInfo(sbx.sandboxId, e.opts)).rejects.toBeInstanceOf(SandboxNotFoundError);
    expect(await sbx.isRunning()).toBe(false);
  });

  it("setTimeout moves the end (and agentd's TTL); a timeout over E2B's 24 h ceiling is refused", async () => {
    const sbx = await Sandbox.create({ ...e.opts, timeoutMs: 60_000 });
    await sbx.setTimeout(600_000);
    const info = await sbx.getInfo();
    expect(info.endAt.getTime() - Date.now()).toBeGreaterThan(590_000);
    const own = await e.d.call('GET', `/v1/sandboxes/${sbx.sandboxId}`, { headers: await adminOf(e, 't1') });
    expect(own.body.expires_at_ms - Date.now()).toBeGreaterThan(590_000);
    await expect(sbx.setTimeout(48 * 3600 * 1000)).rejects.toThrow(/400/);
    await sbx.kill();
  });

  it('a sandbox whose timeout ends is killed (agentd TTL sweeper)', async () => {
    const sbx = await Sandbox.create({ ...e.opts, timeoutMs: 1000 });
    let gone = false;
    for (let i = 0; i < 100 && !gone; i++) {
      await new Promise((r) => setTimeout(r, 100));
      gone = !(await sbx.isRunning());
    }
    expect(gone).toBe(true);
    await expect(sbx.getInfo()).rejects.toBeInstanceOf(SandboxNotFoundError);
  });

  it('pause, list as paused, connect resumes it', async () => {
    const sbx = await Sandbox.create({ ...e.opts, metadata: { pause: 'yes' } });
    expect(await sbx.pause()).toBe(true);
    expect(await Sandbox.pause(sbx.sandboxId, e.opts)).toBe(false);
    expect((await sbx.getInfo()).state).toBe('paused');
    const own = await e.d.call('GET', `/v1/sandboxes/${sbx.sandboxId}`, { headers: await adminOf(e, 't1') });
    expect(own.body.state).toBe('suspended');
    // A paused sandbox answers the in-sandbox plane with 502 (what the SDK reads as not running).
    expect(await sbx.isRunning()).toBe(false);
    const paused = await Sandbox.list({ ...e.opts, query: { state: ['paused'], metadata: { pause: 'yes' } } }).nextItems();
    expect(paused.map((s) => s.sandboxId)).toEqual([sbx.sandboxId]);
    const again = await Sandbox.connect(sbx.sandboxId, { ...e.opts, timeoutMs: 90_000 });
    expect(again.sandboxId).toBe(sbx.sandboxId);
    expect((await again.getInfo()).state).toBe('running');
    expect(await again.isRunning()).toBe(true);
    // Connect to a running one: no change, same tokens.
    const third = await Sandbox.connect(sbx.sandboxId, e.opts);
    expect(await third.isRunning()).toBe(true);
    await sbx.kill();
  });

  it('autoPause: the timeout pauses instead of killing; connect resumes', async () => {
    const sbx = await Sandbox.create({ ...e.opts, timeoutMs: 1000, lifecycle: { onTimeout: 'pause' } });
    let state = 'running';
    for (let i = 0; i < 100 && state === 'running'; i++) {
      await new Promise((r) => setTimeout(r, 100));
      state = (await sbx.getInfo()).state;
    }
    expect(state).toBe('paused');
    expect((await sbx.getInfo()).lifecycle?.onTimeout).toBe('pause');
    const back = await Sandbox.connect(sbx.sandboxId, { ...e.opts, timeoutMs: 60_000 });
    expect((await back.getInfo()).state).toBe('running');
    await sbx.kill();
  });

  it('list: metadata and state filters, pagination with nextToken, only the key\'s tenant', async () => {
    const made: Sandbox[] = [];
    for (let i = 0; i < 3; i++) made.push(await Sandbox.create({ ...e.opts, metadata: { batch: 'p', n: String(i) } }));
    const other = await e.newKey('bob', 't2');
    const theirs = await Sandbox.create({ ...e.opts, apiKey: other.key, metadata: { batch: 'p' } });
    const pager = Sandbox.list({ ...e.opts, query: { metadata: { batch: 'p' } }, limit: 2 });
    const first = await pager.nextItems();
    expect(first).toHaveLength(2);
    expect(pager.hasNext).toBe(true);
    const second = await pager.nextItems();
    expect(second).toHaveLength(1);
    expect(pager.hasNext).toBe(false);
    expect([...first, ...second].map((s) => s.sandboxId).sort()).toEqual(made.map((s) => s.sandboxId).sort());
    const one = await Sandbox.list({ ...e.opts, query: { metadata: { batch: 'p', n: '1' } } }).nextItems();
    expect(one.map((s) => s.sandboxId)).toEqual([made[1]?.sandboxId]);
    expect(await Sandbox.list({ ...e.opts, query: { state: ['paused'], metadata: { batch: 'p' } } }).nextItems()).toEqual([]);
    // Another tenant's sandbox is not listed, not found, not killable.
    await expect(Sandbox.getInfo(theirs.sandboxId, e.opts)).rejects.toBeInstanceOf(SandboxNotFoundError);
    expect(await Sandbox.kill(theirs.sandboxId, e.opts)).toBe(false);
    expect(await theirs.isRunning()).toBe(true);
    for (const s of [...made, theirs]) await s.kill();
  });

  it('errors: a bad key is AuthenticationError, an unknown sandbox NotFoundError, an unknown template an error naming it', async () => {
    await expect(Sandbox.create({ ...e.opts, apiKey: `e2b_${'0'.repeat(64)}` })).rejects.toBeInstanceOf(AuthenticationError);
    await expect(Sandbox.create({ ...e.opts, apiKey: 'agd_not_an_e2b_key' })).rejects.toBeInstanceOf(AuthenticationError);
    await expect(Sandbox.list({ ...e.opts, apiKey: `e2b_${'a'.repeat(64)}` }).nextItems()).rejects.toBeInstanceOf(AuthenticationError);
    await expect(Sandbox.connect('sbx_doesnotexist0000', e.opts)).rejects.toBeInstanceOf(NotFoundError);
    await expect(Sandbox.setTimeout('sbx_doesnotexist0000', 10_000, e.opts)).rejects.toBeInstanceOf(NotFoundError);
    await expect(Sandbox.create('no-such-template', e.opts)).rejects.toThrow(/404: no template 'no-such-template'/);
    // Options agentd cannot honour are refused by name, never ignored.
    await expect(Sandbox.create({ ...e.opts, network: { egressProxy: { address: '127.0.0.1:1' } } })).rejects.toThrow(/400: network.egressProxy is not supported/);
    await expect(Sandbox.create({ ...e.opts, volumeMounts: { '/data': 'vol' } })).rejects.toThrow(/400: volumeMounts is not supported/);
    // Calls agentd does not serve answer 501, at once.
    const sbx = await Sandbox.create(e.opts);
    await expect(sbx.getMetrics()).rejects.toThrow(/501: agentd's E2B API does not serve sandbox metrics/);
    await expect(sbx.createSnapshot()).rejects.toThrow(/501/);
    await sbx.kill();
  });

  it('network options map onto agentd\'s rules: deny-all is network none, allowOut must lie within the config\'s allowlist', async () => {
    const none = await Sandbox.create({ ...e.opts, allowInternetAccess: false });
    expect((await none.getInfo()).allowInternetAccess).toBe(false);
    await none.kill();
    const denyAll = await Sandbox.create({ ...e.opts, network: { denyOut: ['0.0.0.0/0'] } });
    expect((await denyAll.getInfo()).allowInternetAccess).toBe(false);
    await denyAll.kill();
    // The test daemon's config allows no host: a sandbox may only narrow it, so this is POLICY_DENIED (403).
    await expect(Sandbox.create({ ...e.opts, network: { allowOut: ['example.com'], denyOut: ['0.0.0.0/0'] } })).rejects.toThrow(/403/);
  });

  it('an API path agentd does not serve answers 501 at once (not 404, which the SDK would read as not found)', async () => {
    const r = await fetch(`${e.apiUrl}/secrets`, { headers: { 'x-api-key': e.apiKey } });
    expect(r.status).toBe(501);
    expect(await r.json()).toMatchObject({ code: 501, message: expect.stringContaining('does not serve GET /secrets') });
    const anon = await fetch(`${e.apiUrl}/v2/sandboxes`);
    expect(anon.status).toBe(401);
    expect(await anon.json()).toMatchObject({ code: 401 });
  });

  it('keys do not cross: an E2B key is refused by agentd\'s own API, an agentd key by the E2B API', async () => {
    const own = await e.d.call('GET', '/v1/sandboxes', { headers: { authorization: `Bearer ${e.apiKey}` } });
    expect(own.status).toBe(401);
    const agd = await e.d.call('POST', '/v1/keys', { body: { subject: 'alice', tenant: 't1', roles: ['admin'] } });
    expect(agd.body.key).toMatch(/^agd_/);
    await expect(Sandbox.list({ ...e.opts, apiKey: agd.body.key as string }).nextItems()).rejects.toBeInstanceOf(AuthenticationError);
    const asHeader = await fetch(`${e.apiUrl}/v2/sandboxes`, { headers: { authorization: `Bearer ${agd.body.key as string}` } });
    expect(asHeader.status).toBe(401);
  });

  it('a revoked key stops both planes: the control plane and the in-sandbox calls of its sandboxes', async () => {
    const k = await e.newKey('carol', 't3');
    const sbx = await Sandbox.create({ ...e.opts, apiKey: k.key });
    expect(await sbx.isRunning()).toBe(true);
    const rev = await e.d.call('DELETE', `/v1/keys/${k.id}`);
    expect(rev.status).toBe(204);
    await expect(Sandbox.getInfo(sbx.sandboxId, { ...e.opts, apiKey: k.key })).rejects.toBeInstanceOf(AuthenticationError);
    await expect(sbx.isRunning()).rejects.toBeInstanceOf(AuthenticationError);
    await e.d.call('DELETE', `/v1/sandboxes/${sbx.sandboxId}`, { headers: await adminOf(e, 't3') });
  });

  it('a viewer key may list but not create (the gate\'s read-only role)', async () => {
    const k = await e.newKey('vera', 't1', ['viewer']);
    await expect(Sandbox.create({ ...e.opts, apiKey: k.key })).rejects.toThrow(/403: sandbox.create changes something/);
    expect(Array.isArray(await Sandbox.list({ ...e.opts, apiKey: k.key }).nextItems())).toBe(true);
  });

  it('every control-plane call is in agentd\'s audit log with the E2B key\'s subject', async () => {
    const sbx = await Sandbox.create(e.opts);
    await sbx.kill();
    const audit = await e.d.call('GET', '/v1/audit?limit=200');
    const mine = (audit.body.events as Array<{ action: string; subject: string; sandbox_id: string | null; status: string }>).filter((ev) => ev.sandbox_id === sbx.sandboxId || (ev.action === 'sandbox.create' && ev.subject === 'alice'));
    expect(mine.some((ev) => ev.action === 'sandbox.create' && ev.subject === 'alice' && ev.status === 'ok')).toBe(true);
    expect(mine.some((ev) => ev.action === 'sandbox.delete' && ev.subject === 'alice' && ev.status === 'ok')).toBe(true);
  });
});

/** An agentd API key of tenant `tenant` with the admin role (to look at the same sandbox through agentd's own API). */
async function adminOf(e: E2bTestDaemon, tenant: string): Promise<Record<string, string>> {
  const r = await e.d.call('POST', '/v1/keys', { body: { subject: `admin-${tenant}`, tenant, roles: ['admin'] } });
  return { authorization: `Bearer ${r.body.key as string}` };
}

describe('E2B sandboxes and agentd\'s idle stop (sandbox.idle_timeout_ms)', () => {
  let e: E2bTestDaemon;
  beforeAll(async () => {
    e = await startE2bDaemon({ sandbox: { idle_timeout_ms: 1000 } });
  });
  afterAll(async () => {
    await e?.close();
  });

  it('an idle-stopped sandbox reads as paused; connect starts it again on its files', async () => {
    const sbx = await Sandbox.create(e.opts);
    await sbx.files.write('/workspace/kept.txt', 'kept');
    let state = 'running';
    for (let i = 0; i < 100 && state === 'running'; i++) {
      await new Promise((r) => setTimeout(r, 100));
      state = (await sbx.getInfo()).state;
    }
    expect(state).toBe('paused');
    expect(await sbx.isRunning()).toBe(false);
    expect(await sbx.pause()).toBe(false);
    const back = await Sandbox.connect(sbx.sandboxId, e.opts);
    expect(await back.isRunning()).toBe(true);
    expect(await back.files.read('/workspace/kept.txt')).toBe('kept');
    await back.kill();
  });
});
