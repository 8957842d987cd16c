import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestDaemon, type TestDaemon } from './harness.js';

async function waitFor<T>(what: string, fn: () => Promise<T> | T, ok: (v: T) => boolean, timeoutMs = 15_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (ok(v)) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what} (last: ${JSON.stringify(v)})`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const metric = (text: string, name: string): number => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? Number.NaN);

describe('warm pool (real daemon, namespace backend)', () => {
  let d: TestDaemon;
  beforeAll(async () => {
    d = await startTestDaemon({ pool: { enabled: true, min_warm: 2, max_warm: 2, ttl_ms: 2_000 } });
  });
  afterAll(async () => {
    await d?.close();
  });

  it('fills to min_warm in the background, serves a plain create from the pool and refills', async () => {
    await waitFor('pool filled', () => d.daemon.manager.stats().poolSize, (n) => n === 2);
    const c = await d.call('POST', '/v1/sandboxes', { body: { labels: { from: 'pool' } } });
    expect(c.status).toBe(201);
    expect(c.body.labels).toEqual({ from: 'pool' });
    expect(d.daemon.manager.stats().poolHits).toBe(1);
    expect((await d.call('POST', `/v1/sandboxes/${c.body.id}/exec`, { body: { argv: ['echo', 'warm'] } })).body.stdout).toBe('warm\n');
    await waitFor('pool refilled', () => d.daemon.manager.stats().poolSize, (n) => n === 2);
    const m = await d.call('GET', '/metrics');
    expect(metric(m.text, 'agentd_pool_hits_total')).toBe(1);
    expect(metric(m.text, 'agentd_pool_size')).toBe(2);
    // A customised sandbox cannot come from the pool.
    const custom = await d.call('POST', '/v1/sandboxes', { body: { env: { X: '1' } } });
    expect(custom.status).toBe(201);
    expect(d.daemon.manager.stats().poolHits).toBe(1);
    // An intent without a sandbox also takes a warm one (and destroys it after).
    const i = await d.call('POST', '/v1/intents', { body: { capability: 'shell.exec.v1', params: { argv: ['true'] } } });
    expect(i.body.sandbox_info).toMatchObject({ reused: false, from_pool: true });
    for (const id of [c.body.id, custom.body.id]) await d.call('DELETE', `/v1/sandboxes/${id}`);
  });

  it('recycles warm sandboxes older than the pool TTL', async () => {
    await waitFor('pool filled', () => d.daemon.manager.stats().poolSize, (n) => n === 2);
    const before = d.daemon.manager.stats().created;
    await waitFor('recycled', () => d.daemon.manager.stats().created, (n) => n >= before + 2, 10_000);
    await waitFor('pool refilled', () => d.daemon.manager.stats().poolSize, (n) => n === 2);
  });
});

describe('limits, TTL and session timeouts (real daemon)', () => {
  let d: TestDaemon;
  beforeAll(async () => {
    d = await startTestDaemon({ sandbox: { max_sandboxes: 3 } });
  });
  afterAll(async () => {
    await d?.close();
  });

  it('max sandboxes -> 429 RESOURCE_EXHAUSTED with Retry-After', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) ids.push((await d.call('POST', '/v1/sandboxes', { body: {} })).body.id);
    const r = await d.call('POST', '/v1/sandboxes', { body: {} });
    expect(r.status).toBe(429);
    expect(r.body.error).toMatchObject({ code: 'RESOURCE_EXHAUSTED', retryable: true });
    expect(r.headers['retry-after']).toBeDefined();
    for (const id of ids) await d.call('DELETE', `/v1/sandboxes/${id}`);
    expect((await d.call('POST', '/v1/sandboxes', { body: {} })).status).toBe(201);
    for (const s of (await d.call('GET', '/v1/sandboxes')).body.sandboxes) await d.call('DELETE', `/v1/sandboxes/${s.id}`);
  });

  it('a sandbox past its TTL is destroyed by the sweeper', async () => {
    const c = await d.call('POST', '/v1/sandboxes', { body: { ttl_ms: 1000 } });
    const before = d.daemon.manager.stats().timeoutDestroys;
    await waitFor('ttl destroy', async () => (await d.call('GET', `/v1/sandboxes/${c.body.id}`)).status, (s) => s === 404, 5000);
    expect(d.daemon.manager.stats().timeoutDestroys).toBe(before + 1);
  });

  it('idle -> detached, then detach timeout -> closed and its sandbox destroyed', async () => {
    const s = await d.call('POST', '/v1/sessions', { body: { idle_timeout_ms: 300, detach_timeout_ms: 600 } });
    const t0 = Date.now();
    await waitFor('detached', async () => (await d.call('GET', `/v1/sessions/${s.body.id}`)).body.state as string, (st) => st === 'detached');
    expect(Date.now() - t0).toBeGreaterThanOrEqual(250);
    expect((await d.call('GET', `/v1/sandboxes/${s.body.sandbox_id}`)).body.state).toBe('running');
    await waitFor('sandbox gone', async () => (await d.call('GET', `/v1/sandboxes/${s.body.sandbox_id}`)).status, (st) => st === 404);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(800);
    expect((await d.call('GET', `/v1/sessions/${s.body.id}`)).status).toBe(404);
  });

  it('activity keeps a session attached', async () => {
    const s = await d.call('POST', '/v1/sessions', { body: { idle_timeout_ms: 1500, detach_timeout_ms: 60000 } });
    const t0 = Date.now();
    while (Date.now() - t0 < 3000) {
      await d.call('POST', `/v1/sandboxes/${s.body.sandbox_id}/exec`, { body: { argv: ['true'] } });
      await new Promise((r) => setTimeout(r, 150));
    }
    expect((await d.call('GET', `/v1/sessions/${s.body.id}`)).body.state).toBe('attached');
    await d.call('DELETE', `/v1/sessions/${s.body.id}`);
  });

  it('suspend_after freezes the sandbox; attach resumes it', async () => {
    const s = await d.call('POST', '/v1/sessions', { body: { suspend_after_ms: 300, idle_timeout_ms: 0, detach_timeout_ms: 60000 } });
    await waitFor('suspended', async () => (await d.call('GET', `/v1/sessions/${s.body.id}`)).body.state as string, (st) => st === 'suspended');
    expect((await d.call('GET', `/v1/sandboxes/${s.body.sandbox_id}`)).body.state).toBe('suspended');
    expect((await d.call('POST', `/v1/sandboxes/${s.body.sandbox_id}/exec`, { body: { argv: ['true'] } })).body.error.code).toBe('SANDBOX_SUSPENDED');
    const a = await d.call('POST', `/v1/sessions/${s.body.id}/attach`);
    expect(a.body.state).toBe('attached');
    expect((await d.call('POST', `/v1/sandboxes/${s.body.sandbox_id}/exec`, { body: { argv: ['echo', 'back'] } })).body.stdout).toBe('back\n');
    await d.call('DELETE', `/v1/sessions/${s.body.id}`);
  });
});

describe('idle sandboxes (sandbox.idle_timeout_ms)', () => {
  let d: TestDaemon;
  beforeAll(async () => {
    d = await startTestDaemon({ sandbox: { idle_timeout_ms: 600 } });
  });
  afterAll(async () => {
    await d?.close();
  });

  it('a sandbox unused past the idle timeout is stopped with its files; one held by a session is not', async () => {
    const lone = (await d.call('POST', '/v1/sandboxes', { body: {} })).body.id as string;
    await d.call('PUT', `/v1/sandboxes/${lone}/files?path=f.txt`, { raw: 'kept' });
    const ses = await d.call('POST', '/v1/sessions', { body: { idle_timeout_ms: 0, detach_timeout_ms: 0 } });
    await waitFor('idle stop', async () => (await d.call('GET', `/v1/sandboxes/${lone}`)).body.state as string, (st) => st === 'stopped', 10_000);
    expect((await d.call('GET', `/v1/sandboxes/${ses.body.sandbox_id}`)).body.state).toBe('running');
    expect((await d.call('POST', `/v1/sandboxes/${lone}/start`)).body.state).toBe('running');
    expect((await d.call('GET', `/v1/sandboxes/${lone}/files?path=f.txt`)).text).toBe('kept');
  });
});

describe('paranoid profile: a fresh sandbox per request', () => {
  let d: TestDaemon;
  beforeAll(async () => {
    d = await startTestDaemon({ profile: 'paranoid', pool: { enabled: true, min_warm: 1, max_warm: 1 }, auth: { providers: [{ type: 'peer-creds' }] } });
  });
  afterAll(async () => {
    await d?.close();
  });

  it('two intents never share a sandbox, and none outlives its request', async () => {
    const run = async (): Promise<{ id: string; host: string }> => {
      const r = await d.call('POST', '/v1/intents', { body: { capability: 'shell.exec.v1', params: { command: 'echo $$ > /tmp/mark; cat /proc/sys/kernel/hostname' } }, unix: true });
      expect(r.body.status, JSON.stringify(r.body)).toBe('ok');
      expect(r.body.sandbox_info.reused).toBe(false);
      return { id: r.body.sandbox_info.id as string, host: (r.body.result.stdout as string).trim() };
    };
    const a = await run();
    const b = await run();
    expect(a.id).not.toBe(b.id);
    expect((await d.call('GET', '/v1/sandboxes', { unix: true })).body.sandboxes).toEqual([]);
    const weaker = await d.call('POST', '/v1/intents', { body: { capability: 'shell.exec.v1', params: { argv: ['true'] }, sandbox_prefs: { profile: 'workstation' } }, unix: true });
    expect(weaker.body.code).toBe('POLICY_DENIED');
  });

  it('refuses everything that would let a later request use a sandbox: kept sandboxes, sessions, persist, named sandboxes', async () => {
    const denied = (a: { status: number; body: { error?: { code: string; message: string; details?: Record<string, unknown> } } }): void => {
      expect(a.status, JSON.stringify(a.body)).toBe(403);
      expect(a.body.error?.code).toBe('POLICY_DENIED');
      expect(a.body.error?.details?.rule).toBe('fresh_per_request');
      expect(a.body.error?.message).toContain('fresh sandbox');
    };
    denied(await d.call('POST', '/v1/sandboxes', { body: {}, unix: true }));
    denied(await d.call('POST', '/v1/sessions', { body: {}, unix: true }));
    const persist = await d.call('POST', '/v1/intents', { body: { capability: 'shell.exec.v1', params: { argv: ['true'] }, sandbox_prefs: { persist: true } }, unix: true });
    expect([persist.body.code, persist.body.error?.details?.rule]).toEqual(['POLICY_DENIED', 'fresh_per_request']);
    // A name is refused before it is even looked up: whether it exists tells the caller nothing.
    const named = await d.call('POST', '/v1/intents', { body: { capability: 'shell.exec.v1', params: { argv: ['true'] }, sandbox_prefs: { sandbox_id: 'sbx_somebodyelses00' } }, unix: true });
    expect([named.body.code, named.body.error?.details?.rule]).toEqual(['POLICY_DENIED', 'fresh_per_request']);
    denied(await d.call('POST', '/v1/sandboxes/sbx_somebodyelses00/exec', { body: { argv: ['true'] }, unix: true }));
    expect((await d.call('GET', '/v1/sandboxes', { unix: true })).body.sandboxes).toEqual([]);
    // A plain intent still runs, in a sandbox of its own.
    const ok = await d.call('POST', '/v1/intents', { body: { capability: 'shell.exec.v1', params: { argv: ['true'] } }, unix: true });
    expect(ok.body.status).toBe('ok');
  });
});

describe('server profile with sandbox.fresh_per_request = false (the default)', () => {
  let d: TestDaemon;
  beforeAll(async () => {
    d = await startTestDaemon({ profile: 'server', auth: { providers: [{ type: 'peer-creds' }] } });
  });
  afterAll(async () => {
    await d?.close();
  });

  it('keeps sandboxes for later requests, which fresh_per_request would refuse', async () => {
    const c = await d.call('POST', '/v1/sandboxes', { body: {}, unix: true });
    expect(c.status, JSON.stringify(c.body)).toBe(201);
    const r = await d.call('POST', `/v1/sandboxes/${c.body.id as string}/exec`, { body: { argv: ['true'] }, unix: true });
    expect(r.body.exit_code).toBe(0);
  });
});
