import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SignJWT } from 'jose';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import {
  ApiKeyService,
  AuthChain,
  assertSameTenant,
  canSeeAllTenants,
  createAuthChain,
  ReplayCache,
  requireRole,
  signRequest,
  type AuthProvider,
  type Principal,
} from '../../src/auth/index.js';
import { AgentdError } from '../../src/core/errors.js';
import { openStateStore, type StateStore } from '../../src/state/index.js';
import { bearer, httpRequest, rejection } from './helpers.js';

const HS_SECRET = 'another-shared-secret-with-32-bytes-or-more';

function fixed(name: string, result: Principal | null | Error, calls: string[]): AuthProvider {
  return {
    name,
    async authenticate() {
      calls.push(name);
      if (result instanceof Error) throw result;
      return result;
    },
  };
}

describe('AuthChain', () => {
  const p = (subject: string): Principal => ({ subject, tenant: 't', roles: [], provider: subject });

  test('the first provider that recognizes the credentials decides; later ones are not asked', async () => {
    const calls: string[] = [];
    const chain = new AuthChain([fixed('a', null, calls), fixed('b', p('b'), calls), fixed('c', p('c'), calls)]);
    expect((await chain.authenticate(httpRequest())).subject).toBe('b');
    expect(calls).toEqual(['a', 'b']);
  });

  test('a provider that recognizes but rejects stops the chain with UNAUTHENTICATED', async () => {
    const calls: string[] = [];
    const bad = new AgentdError('UNAUTHENTICATED', 'invalid API key');
    const chain = new AuthChain([fixed('a', bad, calls), fixed('b', p('b'), calls)]);
    const err = await rejection(chain.authenticate(httpRequest()));
    expect(err).toBe(bad);
    expect(calls).toEqual(['a']);
  });

  test('no provider recognizing the request is UNAUTHENTICATED (401), listing what is accepted', async () => {
    const chain = new AuthChain([fixed('a', null, []), fixed('b', null, [])]);
    const err = await rejection(chain.authenticate(httpRequest()));
    expect(err.code).toBe('UNAUTHENTICATED');
    expect(err.httpStatus).toBe(401);
    expect(err.details).toEqual({ accepted: ['a', 'b'] });
    expect((await rejection(new AuthChain([]).authenticate(httpRequest()))).code).toBe('UNAUTHENTICATED');
  });

  test('an unexpected error inside a provider fails closed as INTERNAL (500), keeping the cause', async () => {
    const boom = new Error('provider bug');
    const calls: string[] = [];
    const err = await rejection(new AuthChain([fixed('a', boom, calls), fixed('b', p('b'), calls)]).authenticate(httpRequest()));
    expect(err.code).toBe('INTERNAL');
    expect(calls).toEqual(['a']);
    expect(err.cause).toBe(boom);
  });

  test('an aborted signal stops before asking providers', async () => {
    const calls: string[] = [];
    const ac = new AbortController();
    ac.abort();
    await expect(new AuthChain([fixed('a', p('a'), calls)]).authenticate(httpRequest(), ac.signal)).rejects.toThrow();
    expect(calls).toEqual([]);
  });
});

describe('createAuthChain from config', () => {
  let home: string;
  let state: StateStore;

  beforeEach(() => {
    home = mkdtempSync(join(tmpdir(), 'agentd-chain-'));
    state = openStateStore({ home });
  });

  afterEach(() => {
    state.close();
    rmSync(home, { recursive: true, force: true });
  });

  test('builds every provider type in order; each credential kind reaches its provider', async () => {
    const sig = generateKeyPairSync('ed25519');
    state.signingKeys.insert({ id: 'sk1', publicKey: sig.publicKey.export({ type: 'spki', format: 'pem' }).toString(), subject: 'signer', tenant: 'acme', roles: ['user'] });
    const chain = createAuthChain(
      {
        providers: [
          { type: 'peer-creds', uid_map: { '4242': { subject: 'local-dev', tenant: 'acme', roles: ['user'] } } },
          { type: 'api-key' },
          { type: 'jwt', issuer: 'iss', audience: 'aud', algorithms: ['HS256'], leeway_s: 0, key: HS_SECRET, subject_claim: 'sub', tenant_claim: 'tenant', roles_claim: 'roles' },
          { type: 'signature', window_s: 60 },
        ],
      },
      { profile: 'server', state },
    );
    expect(chain.names).toEqual(['peer-creds', 'api-key', 'jwt', 'signature']);

    const key = new ApiKeyService(state.apiKeys).create({ subject: 'bot', tenant: 'acme', roles: ['admin'] });
    expect(await chain.authenticate(bearer(key.key))).toMatchObject({ subject: 'bot', provider: 'api-key' });

    const jwt = await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject('carol').setIssuer('iss').setAudience('aud').setExpirationTime('5m').sign(new TextEncoder().encode(HS_SECRET));
    // No tenant/roles claims: the config's documented defaults ("default", ["user"]).
    expect(await chain.authenticate(bearer(jwt))).toEqual({ subject: 'carol', tenant: 'default', roles: ['user'], provider: 'jwt' });

    const body = Buffer.from('{}');
    const headers = signRequest({ keyId: 'sk1', privateKey: sig.privateKey, method: 'POST', path: '/v1/sandboxes', body });
    expect(await chain.authenticate(httpRequest({ method: 'POST', path: '/v1/sandboxes', body, headers }))).toMatchObject({ subject: 'signer', provider: 'signature' });
    state.signingKeys.revoke('sk1');
    const again = signRequest({ keyId: 'sk1', privateKey: sig.privateKey, method: 'POST', path: '/v1/sandboxes', body });
    expect((await rejection(chain.authenticate(httpRequest({ method: 'POST', path: '/v1/sandboxes', body, headers: again })))).message).toBe('invalid request signature');

    const unix = { ...httpRequest(), transport: 'unix' as const, peer: { uid: 4242, gid: 4242, pid: 1 } };
    expect(await chain.authenticate(unix)).toMatchObject({ subject: 'local-dev', provider: 'peer-creds' });
    // uid_map given: root is not implicitly trusted; with no other credentials that is 401.
    expect((await rejection(chain.authenticate({ ...unix, peer: { uid: 0, gid: 0, pid: 1 } }))).code).toBe('UNAUTHENTICATED');
    // ...but the same unknown uid with a valid API key is decided by the api-key provider.
    expect(await chain.authenticate({ ...unix, peer: { uid: 0, gid: 0, pid: 1 }, headers: { authorization: `Bearer ${key.key}` } })).toMatchObject({ provider: 'api-key' });
  });

  test('a replay cache shared across chains (config reloads) still refuses a replayed signature', async () => {
    const sig = generateKeyPairSync('ed25519');
    state.signingKeys.insert({ id: 'sk2', publicKey: sig.publicKey.export({ type: 'spki', format: 'pem' }).toString(), subject: 's', tenant: 't', roles: [] });
    const replayCache = new ReplayCache();
    const config = { providers: [{ type: 'signature' as const, window_s: 60 }] };
    const before = createAuthChain(config, { profile: 'server', state, replayCache });
    const headers = signRequest({ keyId: 'sk2', privateKey: sig.privateKey, method: 'GET', path: '/v1/sandboxes' });
    const req = httpRequest({ headers });
    expect((await before.authenticate(req)).subject).toBe('s');
    const afterReload = createAuthChain(config, { profile: 'server', state, replayCache });
    expect((await rejection(afterReload.authenticate(req))).message).toBe('replayed request signature');
  });

  test('peer-creds without uid_map trusts root and the daemon\'s own uid', async () => {
    const chain = createAuthChain({ providers: [{ type: 'peer-creds' }] }, { profile: 'workstation', selfUid: 777 });
    const unix = (uid: number) => ({ ...httpRequest(), transport: 'unix' as const, peer: { uid, gid: uid, pid: 1 } });
    expect(await chain.authenticate(unix(777))).toMatchObject({ subject: 'uid:777', roles: ['admin'] });
    expect(await chain.authenticate(unix(0))).toMatchObject({ subject: 'uid:0', roles: ['admin'] });
    expect((await rejection(chain.authenticate(unix(1000)))).code).toBe('UNAUTHENTICATED');
  });

  test('allow-all works under workstation, with a warning, and is refused under server and paranoid', async () => {
    const warnings: unknown[] = [];
    const logger = { debug() {}, info() {}, warn: (o: object | string) => warnings.push(o), error() {} };
    const chain = createAuthChain({ providers: [{ type: 'allow-all' }] }, { profile: 'workstation', logger });
    expect(await chain.authenticate({ ...httpRequest(), transport: 'unix', remoteAddress: undefined })).toEqual({ subject: 'local', tenant: 'default', roles: ['admin'], provider: 'allow-all' });
    expect(warnings).toHaveLength(1);
    for (const profile of ['server', 'paranoid'] as const) {
      let err: unknown;
      try {
        createAuthChain({ providers: [{ type: 'api-key' }, { type: 'allow-all' }] }, { profile, state });
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(AgentdError);
      expect((err as AgentdError).code).toBe('INVALID_CONFIG');
      expect((err as AgentdError).message).toMatch(new RegExp(`allow-all.*refused under the '${profile}' profile`));
    }
  });

  test('allow-all accepts only Unix socket callers: a TCP caller, loopback included, still needs credentials', async () => {
    const chain = createAuthChain({ providers: [{ type: 'allow-all' }, { type: 'api-key' }] }, { profile: 'workstation', state });
    expect((await chain.authenticate({ ...httpRequest(), transport: 'unix', remoteAddress: undefined })).provider).toBe('allow-all');
    for (const remoteAddress of ['127.0.0.1', '127.8.9.10', '::1', '::ffff:127.0.0.1', '10.0.0.7', '192.168.1.2', '::ffff:10.0.0.7', '2001:db8::1']) {
      expect((await rejection(chain.authenticate(httpRequest({ remoteAddress })))).code).toBe('UNAUTHENTICATED');
    }
    const key = new ApiKeyService(state.apiKeys).create({ subject: 'far', tenant: 't', roles: [] });
    expect(await chain.authenticate(bearer(key.key, { remoteAddress: '10.0.0.7' }))).toMatchObject({ subject: 'far', provider: 'api-key' });
  });

  test('an empty provider list is refused', () => {
    expect(() => createAuthChain({ providers: [] }, { profile: 'workstation' })).toThrow(/no caller could ever authenticate/);
  });
});

describe('tenancy', () => {
  const alice: Principal = { subject: 'alice', tenant: 'acme', roles: ['user'], provider: 'api-key' };
  const root: Principal = { subject: 'root', tenant: 'ops', roles: ['admin'], provider: 'api-key' };

  test('another tenant\'s resource is NOT_FOUND (404), the same as a missing one', () => {
    expect(() => assertSameTenant(alice, 'acme')).not.toThrow();
    let other: unknown;
    let missing: unknown;
    try { assertSameTenant(alice, 'initech', 'sandbox', 'sbx-1'); } catch (e) { other = e; }
    try { assertSameTenant(alice, undefined, 'sandbox', 'sbx-1'); } catch (e) { missing = e; }
    expect((other as AgentdError).code).toBe('NOT_FOUND');
    expect((other as AgentdError).httpStatus).toBe(404);
    expect((other as AgentdError).message).toBe((missing as AgentdError).message);
    // Admins are tenant-scoped for sandboxes too.
    expect(() => assertSameTenant(root, 'acme')).toThrow(AgentdError);
  });

  test('only admins manage keys and read every tenant\'s audit', () => {
    expect(() => requireRole(root, 'admin', 'managing API keys')).not.toThrow();
    expect(() => requireRole(alice, 'admin', 'managing API keys')).toThrow(expect.objectContaining({ code: 'PERMISSION_DENIED' }) as Error);
    expect(canSeeAllTenants(root)).toBe(true);
    expect(canSeeAllTenants(alice)).toBe(false);
  });
});
