import { generateKeyPairSync } from 'node:crypto';
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiKeyService } from '../../src/auth/api-key.js';
import { signRequest } from '../../src/auth/signature.js';
import { startTestDaemon, type TestDaemon } from './harness.js';

const ISSUER = 'https://issuer.test';
const AUDIENCE = 'agentd-test';
const SECRET = 'a-shared-hmac-secret-that-is-long-enough-0123456789';
const secretKey = new TextEncoder().encode(SECRET);

function jwt(claims: Record<string, unknown>, opts: { aud?: string; expSecondsFromNow?: number } = {}): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ tenant: 'acme', roles: ['user'], ...claims })
    .setProtectedHeader({ alg: 'HS256' })
    .setIssuer(ISSUER)
    .setAudience(opts.aud ?? AUDIENCE)
    .setSubject('jwt-user')
    .setIssuedAt(now - 10)
    .setExpirationTime(now + (opts.expSecondsFromNow ?? 600))
    .sign(secretKey);
}

const b64url = (o: unknown): string => Buffer.from(JSON.stringify(o)).toString('base64url');

/** Auth on a real server-profile daemon: api-key, jwt, signature, peer-creds; tenancy. */
describe('auth and tenancy (server profile, real daemon)', () => {
  let d: TestDaemon;
  let keyA: string;
  let keyB: string;
  const signer = generateKeyPairSync('ed25519');
  const bearer = (k: string) => ({ authorization: `Bearer ${k}` });

  beforeAll(async () => {
    d = await startTestDaemon({
      profile: 'server',
      pool: { enabled: false, min_warm: 0 },
      auth: {
        providers: [
          { type: 'peer-creds' },
          { type: 'api-key' },
          { type: 'jwt', issuer: ISSUER, audience: AUDIENCE, algorithms: ['HS256'], key: SECRET },
          { type: 'signature', window_s: 60 },
        ],
      },
    });
    const keys = new ApiKeyService(d.daemon.store.apiKeys);
    keyA = keys.create({ subject: 'alice', tenant: 'tenant-a', roles: ['user'] }).key;
    keyB = keys.create({ subject: 'bob', tenant: 'tenant-b', roles: ['user'] }).key;
    const pub = signer.publicKey.export({ format: 'pem', type: 'spki' }).toString();
    d.daemon.store.signingKeys.insert({ id: 'sig-1', publicKey: pub, subject: 'signer', tenant: 'tenant-a', roles: ['user'] });
  });
  afterAll(async () => {
    await d?.close();
  });

  it('no credentials over TCP -> 401 UNAUTHENTICATED; health stays open', async () => {
    const r = await d.call('GET', '/v1/sandboxes');
    expect(r.status).toBe(401);
    expect(r.body.error.code).toBe('UNAUTHENTICATED');
    expect((await d.call('GET', '/healthz')).status).toBe(200);
  });

  it('a wrong or revoked API key -> 401', async () => {
    expect((await d.call('GET', '/v1/sandboxes', { headers: bearer(`${keyA.slice(0, -4)}AAAA`) })).status).toBe(401);
    expect((await d.call('GET', '/v1/sandboxes', { headers: bearer('agd_nope_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx') })).status).toBe(401);
    const keys = new ApiKeyService(d.daemon.store.apiKeys);
    const k = keys.create({ subject: 'tmp', tenant: 'tenant-a', roles: [] });
    expect((await d.call('GET', '/v1/sandboxes', { headers: bearer(k.key) })).status).toBe(200);
    keys.revoke(k.id);
    expect((await d.call('GET', '/v1/sandboxes', { headers: bearer(k.key) })).status).toBe(401);
  });

  it('JWT: valid accepted; expired, wrong audience, alg none and a tampered signature -> 401', async () => {
    const ok = await d.call('GET', '/v1/sandboxes', { headers: bearer(await jwt({})) });
    expect(ok.status).toBe(200);
    const expired = await d.call('GET', '/v1/sandboxes', { headers: bearer(await jwt({}, { expSecondsFromNow: -3600 })) });
    expect(expired.status).toBe(401);
    expect(expired.body.error.code).toBe('UNAUTHENTICATED');
    expect((await d.call('GET', '/v1/sandboxes', { headers: bearer(await jwt({}, { aud: 'someone-else' })) })).status).toBe(401);
    const now = Math.floor(Date.now() / 1000);
    const none = `${b64url({ alg: 'none', typ: 'JWT' })}.${b64url({ iss: ISSUER, aud: AUDIENCE, sub: 'evil', tenant: 'tenant-a', exp: now + 600 })}.`;
    expect((await d.call('GET', '/v1/sandboxes', { headers: bearer(none) })).status).toBe(401);
    const good = await jwt({});
    const [h, p] = good.split('.');
    const forged = `${h}.${b64url({ iss: ISSUER, aud: AUDIENCE, sub: 'evil', tenant: 'tenant-b', exp: now + 600 })}.${good.split('.')[2]}`;
    void p;
    expect((await d.call('GET', '/v1/sandboxes', { headers: bearer(forged) })).status).toBe(401);
  });

  it('signed requests: accepted once; a replayed signature and a stale timestamp -> 401', async () => {
    const body = Buffer.from(JSON.stringify({ labels: { signed: 'yes' } }));
    const headers = signRequest({ keyId: 'sig-1', privateKey: signer.privateKey, method: 'POST', path: '/v1/sandboxes', body });
    const first = await d.call('POST', '/v1/sandboxes', { raw: body, contentType: 'application/json', headers });
    expect(first.status).toBe(201);
    expect(first.body.tenant).toBe('tenant-a');
    const replay = await d.call('POST', '/v1/sandboxes', { raw: body, contentType: 'application/json', headers });
    expect(replay.status).toBe(401);
    expect(replay.body.error.code).toBe('UNAUTHENTICATED');
    const stale = signRequest({ keyId: 'sig-1', privateKey: signer.privateKey, method: 'GET', path: '/v1/sandboxes', timestampMs: Date.now() - 10 * 60_000 });
    expect((await d.call('GET', '/v1/sandboxes', { headers: stale })).status).toBe(401);
    const tampered = signRequest({ keyId: 'sig-1', privateKey: signer.privateKey, method: 'GET', path: '/v1/sandboxes' });
    expect((await d.call('GET', '/v1/sandboxes?state=running', { headers: tampered })).status).toBe(401);
    await d.call('DELETE', `/v1/sandboxes/${first.body.id}`, { headers: bearer(keyA) });
  });

  it("cross-tenant access answers 404, never 403, and lists stay per tenant", async () => {
    const mine = await d.call('POST', '/v1/sandboxes', { body: {}, headers: bearer(keyA) });
    expect(mine.status).toBe(201);
    const id = mine.body.id;
    const theirs = bearer(keyB);
    for (const [method, path, body] of [
      ['GET', `/v1/sandboxes/${id}`, undefined],
      ['DELETE', `/v1/sandboxes/${id}`, undefined],
      ['POST', `/v1/sandboxes/${id}/exec`, { argv: ['true'] }],
      ['GET', `/v1/sandboxes/${id}/files?path=x`, undefined],
      ['POST', `/v1/sandboxes/${id}/suspend`, undefined],
      ['POST', `/v1/sandboxes/${id}/snapshot`, {}],
    ] as const) {
      const r = await d.call(method, path, { headers: theirs, ...(body ? { body } : {}) });
      expect(r.status, `${method} ${path}`).toBe(404);
      expect(r.body.error.code).toBe('NOT_FOUND');
    }
    const viaIntent = await d.call('POST', '/v1/intents', { body: { capability: 'shell.exec.v1', params: { argv: ['true'] }, sandbox_prefs: { sandbox_id: id } }, headers: theirs });
    expect(viaIntent.status).toBe(404);
    expect((await d.call('GET', '/v1/sandboxes', { headers: theirs })).body.sandboxes).toEqual([]);
    expect((await d.call('GET', `/v1/sandboxes/${id}`, { headers: bearer(keyA) })).status).toBe(200);
    await d.call('DELETE', `/v1/sandboxes/${id}`, { headers: bearer(keyA) });
  });

  it('keys routes need the admin role (403 PERMISSION_DENIED); the audit log is per tenant', async () => {
    const r = await d.call('POST', '/v1/keys', { body: { subject: 'x', tenant: 'tenant-a' }, headers: bearer(keyA) });
    expect(r.status).toBe(403);
    expect(r.body.error.code).toBe('PERMISSION_DENIED');
    const audit = await d.call('GET', '/v1/audit', { headers: bearer(keyB) });
    expect(audit.status).toBe(200);
    for (const e of audit.body.events) expect(e.tenant).toBe('tenant-b');
  });

  it('the Unix socket identifies the caller by peer credentials (our own uid: admin)', async () => {
    const r = await d.call('GET', '/v1/keys', { unix: true });
    expect(r.status).toBe(200);
    const c = await d.call('POST', '/v1/sandboxes', { body: {}, unix: true });
    expect(c.status).toBe(201);
    await d.call('DELETE', `/v1/sandboxes/${c.body.id}`, { unix: true });
    const a = await d.call('GET', '/v1/audit?limit=1000', { unix: true });
    const created = a.body.events.find((e: { action: string; details: { id?: string } }) => e.action === 'sandbox.create' && e.details.id === c.body.id);
    expect(created).toMatchObject({ subject: `uid:${process.getuid?.()}`, details: { provider: 'peer-creds' } });
  });

  it('allow-all is refused under the server profile', async () => {
    await expect(startTestDaemon({ profile: 'server', auth: { providers: [{ type: 'allow-all' }] } })).rejects.toMatchObject({ code: 'INVALID_CONFIG' });
  });

  it('a soft backend (host-direct) is refused under the server profile', async () => {
    await expect(startTestDaemon({ profile: 'server', isolation: { backend: 'host-direct' }, auth: { providers: [{ type: 'api-key' }] } })).rejects.toMatchObject({ code: expect.stringMatching(/ISOLATION_REQUIRED|INVALID_CONFIG/) });
  });
});
