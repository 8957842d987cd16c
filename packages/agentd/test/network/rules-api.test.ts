import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestDaemon } from '../daemon/harness.js';
import { createSandbox, run, startNetDaemon, startUpstreams, type Upstreams } from './fixtures.js';

describe('egress rules per sandbox: at create and while running', () => {
  let up: Upstreams;
  let d: TestDaemon;
  beforeAll(async () => {
    up = await startUpstreams();
    d = await startNetDaemon(up);
  }, 60_000);
  afterAll(async () => {
    await d?.close();
    await up?.close();
  });

  const get = (id: string, host: string) => run(d, id, ['curl', '-sS', '--max-time', '10', `http://${host}:${up.http}/`]);

  it('a request may narrow the config (a deny of its own, a shorter allow list), never widen it', async () => {
    const wide = await d.call('POST', '/v1/sandboxes', { body: { network: 'allowlist', egress: { allow: ['other.test'] } } });
    expect(wide.status).toBe(403);
    expect(wide.body.error.code).toBe('POLICY_DENIED');
    expect(wide.body.error.message).toContain("network rule 'other.test' is wider than the config allows");
    const bad = await d.call('POST', '/v1/sandboxes', { body: { network: 'allowlist', egress: { allow: ['*'] } } });
    expect(bad.body.error.code).toBe('INVALID_ARGUMENT');

    const id = await createSandbox(d, { network: 'allowlist', egress: { allow: [`www.up.test:${up.http}`] } });
    expect((await get(id, 'www.up.test')).stdout).toBe(`hello from upstream www.up.test:${up.http}\n`);
    expect((await get(id, 'up.test')).stdout).toContain('is not in the allowlist');

    const denied = await createSandbox(d, { network: 'allowlist', egress: { deny: ['up.test'] } });
    expect((await get(denied, 'up.test')).stdout).toContain("is denied by rule 'up.test'");
    expect((await get(denied, 'www.up.test')).stdout).toContain('hello from upstream');
  });

  it('rules changed on a running sandbox hold at once for new connections', async () => {
    const id = await createSandbox(d, { network: 'allowlist' });
    expect((await get(id, 'up.test')).stdout).toContain('hello from upstream');
    const put = await d.call('PUT', `/v1/sandboxes/${id}/network/rules`, { body: { deny: ['up.test'] } });
    expect(put.status).toBe(200);
    expect(put.body).toMatchObject({ network: 'allowlist', proxy: 'http://127.0.0.1:3128', rules: { allow: null, deny: ['up.test'] } });
    expect((await get(id, 'up.test')).stdout).toContain("is denied by rule 'up.test'");
    const wider = await d.call('PUT', `/v1/sandboxes/${id}/network/rules`, { body: { allow: ['other.test'] } });
    expect(wider.body.error.code).toBe('POLICY_DENIED');
    await d.call('PUT', `/v1/sandboxes/${id}/network/rules`, { body: {} });
    expect((await get(id, 'up.test')).stdout).toContain('hello from upstream');
    const view = await d.call('GET', `/v1/sandboxes/${id}/network`);
    expect(view.body.config.allow).toContain(`up.test:${up.http},${up.https},${up.tcpEcho}`);
  });

  it('rules apply to allowlist sandboxes only; a none sandbox has no proxy to change', async () => {
    const id = await createSandbox(d, { network: 'none' });
    const put = await d.call('PUT', `/v1/sandboxes/${id}/network/rules`, { body: { deny: ['up.test'] } });
    expect(put.body.error.code).toBe('CONFLICT');
  });
});

describe('config layers: per tenant and per profile', () => {
  let up: Upstreams;
  let d: TestDaemon;
  beforeAll(async () => {
    up = await startUpstreams();
    // Nothing for everyone; the local caller's tenant ("default") gets up.test; profile server gets a deny.
    d = await startNetDaemon(up, {
      network: {
        allow: [], tenants: { default: { allow: [`up.test:${up.http}`, `127.0.0.1/32:${up.http}`] } }, profiles: { server: { deny: ['up.test'] } },
        hosts: { 'up.test': ['127.0.0.1'] }, dns: 'hosts-only',
      },
    });
  }, 60_000);
  afterAll(async () => {
    await d?.close();
    await up?.close();
  });

  it("the tenant's allow applies to its sandboxes, the profile's deny to that profile's", async () => {
    const id = await createSandbox(d, { network: 'allowlist' });
    expect((await run(d, id, ['curl', '-sS', '--max-time', '10', `http://up.test:${up.http}/`])).stdout).toContain('hello from upstream');
    const strict = await createSandbox(d, { network: 'allowlist', profile: 'server' });
    expect((await run(d, strict, ['curl', '-sS', '--max-time', '10', `http://up.test:${up.http}/`])).stdout).toContain("is denied by rule 'up.test'");
  });
});
