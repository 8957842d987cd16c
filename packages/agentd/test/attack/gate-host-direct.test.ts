import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiKeyService } from '../../src/auth/api-key.js';
import { startTestDaemon, type TestDaemon } from '../daemon/harness.js';

const rootDaemon = process.geteuid?.() === 0;
if (!rootDaemon) console.info('gate-host-direct: the allow_host_direct tests are skipped: they need a root daemon');

/**
 * The reported escalation: under the workstation defaults any loopback caller (a command inside
 * a sandbox included) is admin through allow-all and could `POST /v1/sandboxes
 * {"backend":"host-direct"}`, exec `id -u` in it and read 0: root on the host.
 */
describe('attack: choosing host-direct over the API', () => {
  describe('workstation defaults (allow-all, namespace backend, isolation.allow_host_direct unset)', () => {
    let d: TestDaemon;
    beforeAll(async () => {
      d = await startTestDaemon({ pool: { enabled: false, min_warm: 0 } });
    });
    afterAll(async () => {
      await d?.close();
    });

    it('POST /v1/sandboxes {"backend":"host-direct"} then exec `id -u`: refused with 403 POLICY_DENIED, nothing runs on the host', async () => {
      expect(d.daemon.backend).toBe('namespace');
      const c = await d.call('POST', '/v1/sandboxes', { body: { backend: 'host-direct' } });
      if (c.status === 201) {
        // The old daemon got here: show what the attacker would have had.
        const e = await d.call('POST', `/v1/sandboxes/${c.body.id}/exec`, { body: { argv: ['id', '-u'] } });
        expect.fail(`host-direct sandbox created; exec id -u answered ${JSON.stringify(e.body.stdout)}`);
      }
      expect(c.status).toBe(403);
      expect(c.body.error.code).toBe('POLICY_DENIED');
      expect(c.body.error.details).toMatchObject({ field: 'backend', asked: 'host-direct', ceiling: 'namespace' });
      expect(c.body.error.message).toContain('isolation.allow_host_direct = false');
      expect(d.daemon.store.sandboxes.list({})).toEqual([]);
    });

    it('every other way to name it is refused the same: aliases, sessions, an intent sandbox_prefs', async () => {
      for (const backend of ['none', 'host', 'workstation']) {
        const r = await d.call('POST', '/v1/sandboxes', { body: { backend } });
        expect({ backend, code: r.body?.error?.code }).toEqual({ backend, code: 'POLICY_DENIED' });
      }
      const s = await d.call('POST', '/v1/sessions', { body: { sandbox: { backend: 'host-direct' } } });
      expect(s.body.error.code).toBe('POLICY_DENIED');
      const i = await d.call('POST', '/v1/intents', { body: { capability: 'shell.exec', params: { argv: ['id', '-u'] }, sandbox_prefs: { backend: 'host-direct' } } });
      expect(i.status).toBe(403);
      expect(i.body.code).toBe('POLICY_DENIED');
      expect(i.body.result).toBeUndefined();
      expect(d.daemon.store.sandboxes.list({})).toEqual([]);
    });

    it('the default backend and a backend at least as isolated stay allowed', async () => {
      const r = await d.call('POST', '/v1/sandboxes', { body: { backend: 'bwrap' } });
      expect(r.status).toBe(201);
      const e = await d.call('POST', `/v1/sandboxes/${r.body.id}/exec`, { body: { argv: ['id', '-u'] } });
      expect(e.body.stdout).not.toBe('0\n');
      expect((await d.call('DELETE', `/v1/sandboxes/${r.body.id}`)).status).toBe(204);
    });
  });

  // host-direct gives no network isolation, no CPU quota and no disk volume: the config grants
  // host network and sets those defaults to 0 on purpose, or every host-direct create is refused for them.
  const hostDirectSandbox = { network: 'host', limits: { cpus: 0, disk_bytes: 0 } };

  describe.skipIf(!rootDaemon)('isolation.allow_host_direct = true under a root daemon: admin role only', () => {
    let d: TestDaemon;
    let user = '';
    let admin = '';
    const as = (key: string) => ({ authorization: `Bearer ${key}` });
    beforeAll(async () => {
      d = await startTestDaemon({ pool: { enabled: false, min_warm: 0 }, isolation: { allow_host_direct: true }, sandbox: hostDirectSandbox, auth: { providers: [{ type: 'api-key' }] } });
      const keys = new ApiKeyService(d.daemon.store.apiKeys);
      user = keys.create({ subject: 'u', tenant: 't', roles: ['user'] }).key;
      admin = keys.create({ subject: 'root-op', tenant: 't', roles: ['admin'] }).key;
    });
    afterAll(async () => {
      await d?.close();
    });

    it('a role-user key asking for host-direct is refused with 403 PERMISSION_DENIED on create, session and intent', async () => {
      const c = await d.call('POST', '/v1/sandboxes', { body: { backend: 'host-direct' }, headers: as(user) });
      expect(c.status).toBe(403);
      expect(c.body.error).toMatchObject({ code: 'PERMISSION_DENIED', details: { field: 'backend', role: 'admin' } });
      const s = await d.call('POST', '/v1/sessions', { body: { sandbox: { backend: 'host-direct' } }, headers: as(user) });
      expect(s.body.error.code).toBe('PERMISSION_DENIED');
      const i = await d.call('POST', '/v1/intents', { body: { capability: 'shell.exec', params: { argv: ['id', '-u'] }, sandbox_prefs: { backend: 'host-direct' } }, headers: as(user) });
      expect(i.body.code).toBe('PERMISSION_DENIED');
      expect(d.daemon.store.sandboxes.list({})).toEqual([]);
    });

    it("an admin may; a user of the same tenant cannot exec in, start or fork the admin's host-direct sandbox", async () => {
      const c = await d.call('POST', '/v1/sandboxes', { body: { backend: 'host-direct' }, headers: as(admin) });
      expect(c.status).toBe(201);
      const id = c.body.id as string;
      const mine = await d.call('POST', `/v1/sandboxes/${id}/exec`, { body: { argv: ['id', '-u'] }, headers: as(admin) });
      expect(mine.body.stdout).toBe('0\n');
      const e = await d.call('POST', `/v1/sandboxes/${id}/exec`, { body: { argv: ['id', '-u'] }, headers: as(user) });
      expect(e.status).toBe(403);
      expect(e.body.error.code).toBe('PERMISSION_DENIED');
      const f = await d.call('POST', `/v1/sandboxes/${id}/fork`, { body: {}, headers: as(user) });
      expect(f.body.error.code).toBe('PERMISSION_DENIED');
      expect(d.daemon.store.snapshots.list({})).toEqual([]);
      expect((await d.call('POST', `/v1/sandboxes/${id}/exec`, { body: { argv: ['true'] }, headers: as(admin) })).status).toBe(200);
      expect((await d.call('DELETE', `/v1/sandboxes/${id}`, { headers: as(admin) })).status).toBe(204);
    });
  });

  describe.skipIf(!rootDaemon)('start of a stopped host-direct sandbox', () => {
    let d: TestDaemon;
    let user = '';
    let admin = '';
    const as = (key: string) => ({ authorization: `Bearer ${key}` });
    beforeAll(async () => {
      // Idle sandboxes are stopped (files kept) almost at once: the start route then has work to do.
      d = await startTestDaemon({ pool: { enabled: false, min_warm: 0 }, isolation: { allow_host_direct: true }, sandbox: { ...hostDirectSandbox, idle_timeout_ms: 1 }, auth: { providers: [{ type: 'api-key' }] } });
      const keys = new ApiKeyService(d.daemon.store.apiKeys);
      user = keys.create({ subject: 'u', tenant: 't', roles: ['user'] }).key;
      admin = keys.create({ subject: 'root-op', tenant: 't', roles: ['admin'] }).key;
    });
    afterAll(async () => {
      await d?.close();
    });

    it("a user cannot start the admin's stopped host-direct sandbox (403 PERMISSION_DENIED); the admin can", async () => {
      const c = await d.call('POST', '/v1/sandboxes', { body: { backend: 'host-direct' }, headers: as(admin) });
      expect(c.status).toBe(201);
      const id = c.body.id as string;
      for (let i = 0; i < 100 && d.daemon.store.sandboxes.get(id)?.state !== 'stopped'; i++) await new Promise((r) => setTimeout(r, 100));
      expect(d.daemon.store.sandboxes.get(id)?.state).toBe('stopped');
      const s = await d.call('POST', `/v1/sandboxes/${id}/start`, { headers: as(user) });
      expect(s.status).toBe(403);
      expect(s.body.error).toMatchObject({ code: 'PERMISSION_DENIED', details: { field: 'backend', role: 'admin' } });
      expect(d.daemon.store.sandboxes.get(id)?.state).toBe('stopped');
      const ok = await d.call('POST', `/v1/sandboxes/${id}/start`, { headers: as(admin) });
      expect(ok.status).toBe(200);
      expect((await d.call('DELETE', `/v1/sandboxes/${id}`, { headers: as(admin) })).status).toBe(204);
    });
  });

  it('config: allow_host_direct cannot be true where kernel isolation is required', async () => {
    await expect(startTestDaemon({ profile: 'server', isolation: { allow_host_direct: true }, auth: { providers: [{ type: 'api-key' }] } })).rejects.toThrow("isolation.allow_host_direct: cannot be true while profile 'server' requires kernel isolation");
  });
});
