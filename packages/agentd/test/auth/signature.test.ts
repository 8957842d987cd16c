import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { AuthChain, ReplayCache, SigningKeyService, signatureProvider, signRequest, SIGNATURE_HEADERS } from '../../src/auth/index.js';
import { openStateStore } from '../../src/state/index.js';
import { httpRequest, rejection } from './helpers.js';
import type { AuthRequest } from '../../src/auth/index.js';

const { publicKey, privateKey } = generateKeyPairSync('ed25519');
const publicPem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
const rawPublic = (publicKey.export({ format: 'jwk' }).x ?? '');
const other = generateKeyPairSync('ed25519');

function setup(windowSeconds = 300) {
  let clock = 1_800_000_000_000;
  const provider = signatureProvider({
    keys: { 'ci-1': { publicKey: publicPem, subject: 'ci', tenant: 'acme', roles: ['user'] } },
    lookup: (id) => (id === 'raw-1' ? { publicKey: Buffer.from(rawPublic, 'base64url').toString('base64'), subject: 'raw', tenant: 't2', roles: [] } : undefined),
    windowSeconds,
    now: () => clock,
  });
  return { provider, advance: (ms: number) => { clock += ms; }, now: () => clock };
}

function signed(over: { keyId?: string; method?: string; path?: string; body?: Uint8Array; ts: number; key?: typeof privateKey }): AuthRequest {
  const method = over.method ?? 'POST';
  const path = over.path ?? '/v1/sandboxes/sbx-1/exec';
  const body = over.body ?? Buffer.from('{"command":"echo hi"}');
  const headers = signRequest({ keyId: over.keyId ?? 'ci-1', privateKey: over.key ?? privateKey, method, path, body, timestampMs: over.ts });
  return httpRequest({ method, path, body, headers });
}

describe('signature provider', () => {
  test('a correctly signed request authenticates as the key\'s principal (config keys and looked-up keys)', async () => {
    const { provider, now } = setup();
    expect(await provider.authenticate(signed({ ts: now() }))).toEqual({ subject: 'ci', tenant: 'acme', roles: ['user'], provider: 'signature' });
    expect(await provider.authenticate(signed({ ts: now() - 1, keyId: 'raw-1' }))).toMatchObject({ subject: 'raw', tenant: 't2' });
  });

  test('a timestamp outside the window is refused, both stale and from the future', async () => {
    const { provider, now } = setup(300);
    for (const ts of [now() - 300_001, now() + 300_001]) {
      const err = await rejection(provider.authenticate(signed({ ts })));
      expect(err.code).toBe('UNAUTHENTICATED');
      expect(err.message).toBe('request timestamp outside the accepted window');
    }
    expect(await provider.authenticate(signed({ ts: now() - 299_000 }))).not.toBeNull();
  });

  test('a replayed signature is refused within the window', async () => {
    const { provider, now, advance } = setup();
    const req = signed({ ts: now() });
    expect(await provider.authenticate(req)).not.toBeNull();
    advance(1000);
    const err = await rejection(provider.authenticate(req));
    expect(err.code).toBe('UNAUTHENTICATED');
    expect(err.message).toBe('replayed request signature');
    // After the window the timestamp check refuses it, whatever the cache holds.
    advance(300_000);
    expect((await rejection(provider.authenticate(req))).message).toBe('request timestamp outside the accepted window');
  });

  test('a tampered body, path, method or timestamp breaks the signature', async () => {
    const { provider, now } = setup();
    const base = signed({ ts: now() });
    const variants: AuthRequest[] = [
      { ...base, body: Buffer.from('{"command":"rm -rf /"}') },
      { ...base, path: '/v1/sandboxes/sbx-2/exec' },
      { ...base, path: `${base.path}?stream=1` },
      { ...base, method: 'PUT' },
      { ...base, headers: { ...base.headers, [SIGNATURE_HEADERS.timestamp]: String(now() - 1) } },
    ];
    for (const req of variants) {
      const err = await rejection(provider.authenticate(req));
      expect(err.message).toBe('invalid request signature');
    }
  });

  test('a signature by another key, an unknown key id, or a malformed header is refused', async () => {
    const { provider, now } = setup();
    const wrongKey = await rejection(provider.authenticate(signed({ ts: now(), key: other.privateKey })));
    expect(wrongKey.message).toBe('invalid request signature');
    const unknown = await rejection(provider.authenticate(signed({ ts: now(), keyId: 'nobody' })));
    expect(unknown.message).toBe('invalid request signature');
    const partial = await rejection(provider.authenticate(httpRequest({ headers: { [SIGNATURE_HEADERS.signature]: 'AAAA' } })));
    expect(partial.message).toMatch(/need X-Agentd-Key-Id/);
    const badTs = signed({ ts: now() });
    badTs.headers[SIGNATURE_HEADERS.timestamp] = '1e12';
    expect((await rejection(provider.authenticate(badTs))).message).toBe('invalid X-Agentd-Timestamp');
  });

  test('requests without signature headers are not this provider\'s', async () => {
    const { provider } = setup();
    expect(await provider.authenticate(httpRequest({ headers: { authorization: 'Bearer agd_x' } }))).toBeNull();
  });

  test('non-Ed25519 keys are refused at construction', () => {
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'pem' }).toString();
    expect(() => signatureProvider({ keys: { k: { publicKey: ec, subject: 's', tenant: 't', roles: [] } } })).toThrow(/must be Ed25519/);
    expect(() => signatureProvider({ keys: { k: { publicKey: 'AAAA', subject: 's', tenant: 't', roles: [] } } })).toThrow(/32 raw bytes/);
  });
});

describe('replay cache', () => {
  test('is bounded: expired entries are swept when full; a full cache of live entries fails closed', () => {
    const cache = new ReplayCache(3);
    expect(cache.checkAndRemember('a', 100, 0)).toBe(true);
    expect(cache.checkAndRemember('b', 200, 0)).toBe(true);
    expect(cache.checkAndRemember('c', 300, 0)).toBe(true);
    expect(cache.checkAndRemember('a', 100, 50)).toBe(false);
    let err: unknown;
    try {
      cache.checkAndRemember('d', 400, 50);
    } catch (e) {
      err = e;
    }
    expect((err as { code?: string }).code).toBe('RESOURCE_EXHAUSTED');
    expect(cache.checkAndRemember('d', 400, 150)).toBe(true); // 'a' expired and was swept
    expect(cache.size).toBe(3);
  });
});

describe('signing key registry', () => {
  test('registers Ed25519 keys only, refuses duplicates, and revoked keys stop verifying', async () => {
    const home = mkdtempSync(join(tmpdir(), 'agentd-sk-'));
    const state = openStateStore({ home });
    try {
      const svc = new SigningKeyService(state.signingKeys);
      const rec = svc.register({ publicKey: publicPem, subject: 'ci', tenant: 'acme', roles: ['user'] });
      expect(rec.id).toMatch(/^sk_[0-9a-f]{16}$/);
      expect(() => svc.register({ id: rec.id, publicKey: publicPem, subject: 'x', tenant: 'y', roles: [] })).toThrow(/already exists/);
      const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'pem' }).toString();
      expect(() => svc.register({ publicKey: ec, subject: 'x', tenant: 'y', roles: [] })).toThrow(/not an Ed25519 public key/);
      const lookup = (id: string) => {
        const r = svc.get(id);
        return r === undefined || r.revokedAtMs !== null ? undefined : { publicKey: r.publicKey, subject: r.subject, tenant: r.tenant, roles: r.roles };
      };
      const provider = signatureProvider({ keys: {}, lookup });
      expect((await provider.authenticate(signed({ ts: Date.now(), keyId: rec.id })))?.subject).toBe('ci');
      expect(svc.revoke(rec.id)).toBe(true);
      expect((await rejection(provider.authenticate(signed({ ts: Date.now() - 5, keyId: rec.id })))).message).toBe('invalid request signature');
      expect(svc.list().map((k) => k.id)).toEqual([]);
      expect(svc.list({ includeRevoked: true }).map((k) => k.id)).toEqual([rec.id]);
    } finally {
      state.close();
      rmSync(home, { recursive: true, force: true });
    }
  });
});

describe('signed requests checked in two steps: headers first, the body-covering signature after', () => {
  test('the headers alone: a known key with a fresh timestamp passes to the body step; an unknown key, a stale timestamp or a missing header fail at once', async () => {
    const { provider, now } = setup();
    const chain = new AuthChain([provider]);
    const ok = signed({ ts: now() });
    expect(await chain.authenticateHeaders({ ...ok, body: undefined })).toBe('body');
    // The same request with its body then authenticates; with another body it does not.
    expect(await chain.authenticate(ok)).toMatchObject({ subject: 'ci', provider: 'signature' });
    expect((await rejection(chain.authenticate({ ...signed({ ts: now() + 1 }), body: Buffer.from('{"command":"rm -rf /"}') }))).code).toBe('UNAUTHENTICATED');
    for (const bad of [signed({ ts: now(), keyId: 'nobody' }), signed({ ts: now() - 301_000 })]) {
      expect((await rejection(chain.authenticateHeaders(bad))).code).toBe('UNAUTHENTICATED');
    }
    const noSignature = { ...ok, headers: { ...ok.headers, [SIGNATURE_HEADERS.signature]: undefined } };
    expect((await rejection(chain.authenticateHeaders(noSignature))).message).toContain('signed requests need');
  });

  test('a request that is not signed is decided on its headers by the other providers', async () => {
    const { provider } = setup();
    const chain = new AuthChain([provider, { name: 'fixed', authenticate: async (r) => (r.headers.authorization === 'Bearer ok' ? { subject: 's', tenant: 't', roles: [], provider: 'fixed' } : null) }]);
    expect(await chain.authenticateHeaders(httpRequest({ headers: { authorization: 'Bearer ok' } }))).toMatchObject({ subject: 's' });
    expect((await rejection(chain.authenticateHeaders(httpRequest()))).code).toBe('UNAUTHENTICATED');
  });
});
