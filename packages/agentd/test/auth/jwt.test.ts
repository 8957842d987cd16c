import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, exportSPKI, generateKeyPair, SignJWT, type CryptoKey, type JWTPayload } from 'jose';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { jwtProvider, type JwtProviderOptions } from '../../src/auth/index.js';
import { bearer, rejection } from './helpers.js';

const ISSUER = 'https://idp.example';
const AUDIENCE = 'agentd';
const HS_SECRET = 'a-shared-secret-of-at-least-32-bytes!!';
const NOW_S = 1_800_000_000;
const now = (): number => NOW_S * 1000;

let es: { publicKey: CryptoKey; privateKey: CryptoKey };
let esPem: string;
let rs: { publicKey: CryptoKey; privateKey: CryptoKey };

beforeAll(async () => {
  es = await generateKeyPair('ES256', { extractable: true });
  esPem = await exportSPKI(es.publicKey);
  rs = await generateKeyPair('RS256', { extractable: true });
});

interface TokenOptions {
  alg?: string;
  key?: CryptoKey | Uint8Array;
  claims?: JWTPayload;
  iss?: string;
  aud?: string;
  expS?: number;
  kid?: string;
}

async function token(o: TokenOptions = {}): Promise<string> {
  const alg = o.alg ?? 'ES256';
  const jwt = new SignJWT({ tenant: 'acme', roles: ['user'], ...(o.claims ?? {}) })
    .setProtectedHeader({ alg, ...(o.kid === undefined ? {} : { kid: o.kid }) })
    .setSubject('alice')
    .setIssuer(o.iss ?? ISSUER)
    .setAudience(o.aud ?? AUDIENCE)
    .setIssuedAt(NOW_S - 10)
    .setExpirationTime(o.expS ?? NOW_S + 300);
  return jwt.sign(o.key ?? es.privateKey);
}

function esProvider(over: Partial<JwtProviderOptions> = {}) {
  return jwtProvider({ issuer: ISSUER, audience: AUDIENCE, algorithms: ['ES256'], key: esPem, leewaySeconds: 30, now, ...over });
}

function unsecured(payload: object): string {
  const enc = (v: object): string => Buffer.from(JSON.stringify(v)).toString('base64url');
  return `${enc({ alg: 'none', typ: 'JWT' })}.${enc(payload)}.`;
}

describe('jwt provider', () => {
  test('a valid token maps sub, tenant and roles to the principal', async () => {
    const p = esProvider();
    expect(await p.authenticate(bearer(await token({ claims: { roles: ['user', 'admin'] } })))).toEqual({
      subject: 'alice', tenant: 'acme', roles: ['user', 'admin'], provider: 'jwt',
    });
  });

  test('claim names are configurable; a space-separated roles string is split; missing claims take the defaults', async () => {
    const p = esProvider({ tenantClaim: 'org', rolesClaim: 'scope', defaultTenant: 'default', defaultRoles: ['user'] });
    expect(await p.authenticate(bearer(await token({ claims: { org: 'initech', scope: 'read write' } })))).toMatchObject({ tenant: 'initech', roles: ['read', 'write'] });
    expect(await p.authenticate(bearer(await token({ claims: { tenant: undefined, roles: undefined } })))).toMatchObject({ tenant: 'default', roles: ['user'] });
    const strict = esProvider();
    const err = await rejection(strict.authenticate(bearer(await token({ claims: { tenant: undefined } }))));
    expect(err.message).toBe("token has no 'tenant' claim");
    const badRoles = await rejection(strict.authenticate(bearer(await token({ claims: { roles: [1, 2] } }))));
    expect(badRoles.message).toMatch(/must be a string array/);
  });

  test('an expired token is refused; within the leeway it is accepted', async () => {
    const p = esProvider();
    const expired = await rejection(p.authenticate(bearer(await token({ expS: NOW_S - 31 }))));
    expect(expired.code).toBe('UNAUTHENTICATED');
    expect(expired.message).toBe('token expired');
    expect(await p.authenticate(bearer(await token({ expS: NOW_S - 29 })))).not.toBeNull();
  });

  test('wrong audience and wrong issuer are refused, naming the claim', async () => {
    const p = esProvider();
    const aud = await rejection(p.authenticate(bearer(await token({ aud: 'someone-else' }))));
    expect(aud.code).toBe('UNAUTHENTICATED');
    expect(aud.message).toMatch(/claim 'aud'/);
    const iss = await rejection(p.authenticate(bearer(await token({ iss: 'https://evil.example' }))));
    expect(iss.code).toBe('UNAUTHENTICATED');
    expect(iss.message).toMatch(/claim 'iss'/);
  });

  test("alg 'none' is refused, by the allowlist check, even with valid claims", async () => {
    const forged = unsecured({ sub: 'root', tenant: 'acme', roles: ['admin'], iss: ISSUER, aud: AUDIENCE, exp: NOW_S + 60 });
    for (const p of [esProvider(), jwtProvider({ issuer: ISSUER, audience: AUDIENCE, algorithms: ['HS256'], key: HS_SECRET, now })]) {
      const err = await rejection(p.authenticate(bearer(forged)));
      expect(err.code).toBe('UNAUTHENTICATED');
      expect(err.message).toBe('token algorithm not allowed');
    }
    expect(() => jwtProvider({ issuer: ISSUER, audience: AUDIENCE, algorithms: ['none'], key: HS_SECRET })).toThrow(/'none' is never accepted/);
  });

  test('an algorithm outside the allowlist is refused, including HS256 signed with the public key (key confusion)', async () => {
    const p = esProvider();
    const rsErr = await rejection(p.authenticate(bearer(await token({ alg: 'RS256', key: rs.privateKey }))));
    expect(rsErr.message).toBe('token algorithm not allowed');
    const confused = await token({ alg: 'HS256', key: new TextEncoder().encode(esPem) });
    const hsErr = await rejection(p.authenticate(bearer(confused)));
    expect(hsErr.message).toBe('token algorithm not allowed');
  });

  test('HS256 with the right shared secret passes; with a wrong secret the signature fails', async () => {
    const p = jwtProvider({ issuer: ISSUER, audience: AUDIENCE, algorithms: ['HS256'], key: HS_SECRET, now });
    const good = await token({ alg: 'HS256', key: new TextEncoder().encode(HS_SECRET) });
    expect((await p.authenticate(bearer(good)))?.subject).toBe('alice');
    const bad = await token({ alg: 'HS256', key: new TextEncoder().encode(`${HS_SECRET}-not`) });
    const err = await rejection(p.authenticate(bearer(bad)));
    expect(err.code).toBe('UNAUTHENTICATED');
    expect(err.message).toBe('token signature invalid');
  });

  test('a static JWK (JSON text) works as the key', async () => {
    const jwk = await exportJWK(es.publicKey);
    const p = esProvider({ key: JSON.stringify(jwk) });
    expect((await p.authenticate(bearer(await token())))?.subject).toBe('alice');
  });

  test('tokens that are not JWT-shaped, and requests without a bearer token, are not this provider\'s', async () => {
    const p = esProvider();
    expect(await p.authenticate(bearer('agd_0123456789abcdef_xxx'))).toBeNull();
    expect(await p.authenticate(bearer('opaque-token'))).toBeNull();
    expect(await p.authenticate({ headers: {}, method: 'GET', path: '/', transport: 'http' })).toBeNull();
  });

  test('misconfigurations are refused at construction', () => {
    const base = { issuer: ISSUER, audience: AUDIENCE };
    expect(() => jwtProvider({ ...base, algorithms: [], key: esPem })).toThrow(/at least one algorithm/);
    expect(() => jwtProvider({ ...base, algorithms: ['HS256', 'ES256'], key: HS_SECRET })).toThrow(/do not mix/);
    expect(() => jwtProvider({ ...base, algorithms: ['HS256'], key: esPem })).toThrow(/shared secret/);
    expect(() => jwtProvider({ ...base, algorithms: ['ES256'], key: HS_SECRET })).toThrow(/PEM or JWK public key/);
    expect(() => jwtProvider({ ...base, algorithms: ['HS256'], key: 'short' })).toThrow(/at least 32 bytes/);
    expect(() => jwtProvider({ ...base, algorithms: ['ES256'] })).toThrow(/exactly one of key or jwks_url/);
    expect(() => jwtProvider({ ...base, algorithms: ['HS256'], jwksUrl: 'http://127.0.0.1:1/jwks' })).toThrow(/JWKS carries public keys/);
  });
});

describe('jwt provider with a JWKS URL', () => {
  let server: Server;
  let url: string;
  let fetches = 0;

  beforeAll(async () => {
    const jwk = { ...(await exportJWK(es.publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' };
    server = createServer((req, res) => {
      fetches += 1;
      if (req.url !== '/.well-known/jwks.json') {
        res.writeHead(404).end();
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: [jwk] }));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/.well-known/jwks.json`;
  });

  afterAll(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  test('keys are fetched from the JWKS by kid, and cached', async () => {
    const p = esProvider({ key: undefined, jwksUrl: url });
    fetches = 0;
    expect((await p.authenticate(bearer(await token({ kid: 'k1' }))))?.subject).toBe('alice');
    expect((await p.authenticate(bearer(await token({ kid: 'k1', claims: { tenant: 'b' } }))))?.tenant).toBe('b');
    expect(fetches).toBe(1);
  });

  test('a token whose key is not in the JWKS is refused', async () => {
    const other = await generateKeyPair('ES256');
    const p = esProvider({ key: undefined, jwksUrl: url });
    const err = await rejection(p.authenticate(bearer(await token({ kid: 'k2', key: other.privateKey }))));
    expect(err.code).toBe('UNAUTHENTICATED');
    expect(err.message).toBe('no key matches the token');
    const forged = await rejection(p.authenticate(bearer(await token({ kid: 'k1', key: other.privateKey }))));
    expect(forged.message).toBe('token signature invalid');
  });

  test('an unreachable JWKS endpoint is UNAVAILABLE (the server\'s problem), not a bad credential', async () => {
    const dead = createServer();
    await new Promise<void>((resolve) => dead.listen(0, '127.0.0.1', resolve));
    const port = (dead.address() as AddressInfo).port;
    await new Promise<void>((resolve) => dead.close(() => resolve()));
    const p = esProvider({ key: undefined, jwksUrl: `http://127.0.0.1:${port}/jwks.json`, jwksTimeoutMs: 2000 });
    const err = await rejection(p.authenticate(bearer(await token({ kid: 'k1' }))));
    expect(err.code).toBe('UNAVAILABLE');
    expect(err.retryable).toBe(true);
  });
});
