import { createPublicKey, createSecretKey, type JsonWebKey, type KeyObject } from 'node:crypto';
import { createRemoteJWKSet, decodeProtectedHeader, errors as joseErrors, jwtVerify, type JWTPayload, type JWTVerifyGetKey } from 'jose';
import { AgentdError } from '../core/errors.js';
import { unauthenticated } from './chain.js';
import { bearerToken } from './headers.js';
import type { AuthProvider, Principal } from './types.js';

/** Signature algorithms the jwt provider can be configured with. `none` is never one of them. */
export const JWT_ALGORITHMS = [
  'HS256', 'HS384', 'HS512', 'RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519',
] as const;

export interface JwtProviderOptions {
  /** Required `iss`. */
  issuer: string;
  /** Accepted `aud` value(s); the token must name one of them. */
  audience: string | string[];
  /** Allowed `alg` values (non-empty; `none` is refused). HS* need a shared secret, the others a public key or a JWKS. */
  algorithms: string[];
  /** Clock skew tolerated on exp/nbf/iat, in seconds (default 30). */
  leewaySeconds?: number;
  /** A static verification key: a PEM public key/certificate, a JWK (JSON text), or for HS* a shared secret. */
  key?: string;
  /** A JWKS URL (keys fetched and cached; picked by `kid`). Exactly one of key / jwksUrl. */
  jwksUrl?: string;
  /** Claim holding the subject (default "sub"). */
  subjectClaim?: string;
  /** Claim holding the tenant (default "tenant"). */
  tenantClaim?: string;
  /** Claim holding the roles: an array of strings or a space-separated string (default "roles"). */
  rolesClaim?: string;
  /** Tenant for tokens without the tenant claim; undefined = such tokens are rejected. */
  defaultTenant?: string;
  /** Roles for tokens without the roles claim (default []). */
  defaultRoles?: string[];
  /** Clock in epoch ms (tests). */
  now?: () => number;
  /** JWKS fetch timeout in ms (default 5000). */
  jwksTimeoutMs?: number;
}

const JWT_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*$/;

function isHmac(alg: string): boolean {
  return alg.startsWith('HS');
}

function invalidConfig(message: string): AgentdError {
  return new AgentdError('INVALID_CONFIG', `auth.providers jwt: ${message}`, { details: { path: 'auth.providers' } });
}

/** Turns the configured key text into a KeyObject: PEM, JWK JSON, or a shared secret for HS*. */
function staticKey(text: string, hmac: boolean): KeyObject {
  const trimmed = text.trim();
  if (trimmed.startsWith('{')) {
    const jwk = JSON.parse(trimmed) as { kty?: string; k?: string };
    if (jwk.kty === 'oct') {
      if (!hmac) throw invalidConfig('a symmetric (oct) JWK needs HS* algorithms');
      return createSecretKey(Buffer.from(jwk.k ?? '', 'base64url'));
    }
    if (hmac) throw invalidConfig('HS* algorithms need a shared secret, not a public key');
    return createPublicKey({ key: jwk as JsonWebKey, format: 'jwk' });
  }
  if (trimmed.startsWith('-----BEGIN')) {
    if (hmac) throw invalidConfig('HS* algorithms need a shared secret, not a PEM key');
    if (trimmed.includes('PRIVATE KEY')) throw invalidConfig('configure the public key, not the private key');
    return createPublicKey(trimmed);
  }
  if (!hmac) throw invalidConfig('asymmetric algorithms need a PEM or JWK public key');
  if (Buffer.byteLength(text) < 32) throw invalidConfig('an HS* shared secret must be at least 32 bytes');
  return createSecretKey(Buffer.from(text));
}

function describeJoseError(err: unknown): { code: 'UNAUTHENTICATED' | 'UNAVAILABLE'; message: string } {
  if (err instanceof joseErrors.JWTExpired) return { code: 'UNAUTHENTICATED', message: 'token expired' };
  if (err instanceof joseErrors.JWTClaimValidationFailed) return { code: 'UNAUTHENTICATED', message: `token claim '${err.claim}' rejected: ${err.reason}` };
  if (err instanceof joseErrors.JOSEAlgNotAllowed) return { code: 'UNAUTHENTICATED', message: 'token algorithm not allowed' };
  if (err instanceof joseErrors.JWSSignatureVerificationFailed) return { code: 'UNAUTHENTICATED', message: 'token signature invalid' };
  if (err instanceof joseErrors.JWKSNoMatchingKey) return { code: 'UNAUTHENTICATED', message: 'no key matches the token' };
  if (err instanceof joseErrors.JWKSTimeout) return { code: 'UNAVAILABLE', message: 'JWKS fetch timed out' };
  if (err instanceof joseErrors.JWKSInvalid) return { code: 'UNAVAILABLE', message: 'JWKS document is invalid' };
  if (err instanceof joseErrors.JOSEError) return { code: 'UNAUTHENTICATED', message: 'invalid token' };
  // fetch failures of the JWKS endpoint: the server's problem, not the caller's.
  if (err instanceof TypeError) return { code: 'UNAVAILABLE', message: 'JWKS endpoint unreachable' };
  return { code: 'UNAUTHENTICATED', message: 'invalid token' };
}

function rolesFrom(value: unknown, fallback: string[]): string[] | undefined {
  if (value === undefined) return [...fallback];
  if (typeof value === 'string') return value.split(/\s+/).filter((r) => r.length > 0);
  if (Array.isArray(value) && value.every((r): r is string => typeof r === 'string')) return value;
  return undefined;
}

/**
 * `Authorization: Bearer <JWT>`: recognized by the three-part compact shape (API keys
 * start with `agd_` and never match). Verified with jose against issuer, audience, the
 * algorithm allowlist (checked before any key is used), exp/nbf with leeway.
 */
export function jwtProvider(opts: JwtProviderOptions): AuthProvider {
  const algorithms = [...new Set(opts.algorithms)];
  if (algorithms.length === 0) throw invalidConfig('algorithms must list at least one algorithm');
  for (const alg of algorithms) {
    if (alg.toLowerCase() === 'none') throw invalidConfig("algorithm 'none' is never accepted");
    if (!(JWT_ALGORITHMS as readonly string[]).includes(alg)) throw invalidConfig(`unknown algorithm '${alg}'`);
  }
  const hmac = algorithms.every(isHmac);
  if (!hmac && algorithms.some(isHmac)) throw invalidConfig('do not mix HS* with asymmetric algorithms (algorithm confusion)');
  if ((opts.key === undefined) === (opts.jwksUrl === undefined)) throw invalidConfig('set exactly one of key or jwks_url');
  if (opts.jwksUrl !== undefined && hmac) throw invalidConfig('a JWKS carries public keys: HS* algorithms need a static shared secret');

  let resolver: KeyObject | JWTVerifyGetKey;
  if (opts.key !== undefined) resolver = staticKey(opts.key, hmac);
  else {
    let url: URL;
    try {
      url = new URL(opts.jwksUrl ?? '');
    } catch (err) {
      throw invalidConfig(`jwks_url is not a URL: ${(err as Error).message}`);
    }
    resolver = createRemoteJWKSet(url, { timeoutDuration: opts.jwksTimeoutMs ?? 5000 });
  }
  const now = opts.now ?? Date.now;
  const subjectClaim = opts.subjectClaim ?? 'sub';
  const tenantClaim = opts.tenantClaim ?? 'tenant';
  const rolesClaim = opts.rolesClaim ?? 'roles';

  return {
    name: 'jwt',
    async authenticate(req): Promise<Principal | null> {
      const token = bearerToken(req);
      if (token === undefined || !JWT_SHAPE.test(token)) return null;
      let alg: unknown;
      try {
        alg = decodeProtectedHeader(token).alg;
      } catch (err) {
        throw unauthenticated('invalid token', 'jwt', err);
      }
      if (typeof alg !== 'string' || !algorithms.includes(alg)) throw unauthenticated('token algorithm not allowed', 'jwt');
      let payload: JWTPayload;
      try {
        const verifyOpts = {
          issuer: opts.issuer,
          audience: opts.audience,
          algorithms,
          clockTolerance: opts.leewaySeconds ?? 30,
          currentDate: new Date(now()),
        };
        payload = (typeof resolver === 'function' ? await jwtVerify(token, resolver, verifyOpts) : await jwtVerify(token, resolver, verifyOpts)).payload;
      } catch (err) {
        const { code, message } = describeJoseError(err);
        throw new AgentdError(code, message, { cause: err, details: { provider: 'jwt' } });
      }
      const subject = payload[subjectClaim];
      if (typeof subject !== 'string' || subject.length === 0) throw unauthenticated(`token has no '${subjectClaim}' claim`, 'jwt');
      const tenantValue = payload[tenantClaim];
      const tenant = typeof tenantValue === 'string' && tenantValue.length > 0 ? tenantValue : opts.defaultTenant;
      if (tenant === undefined) throw unauthenticated(`token has no '${tenantClaim}' claim`, 'jwt');
      const roles = rolesFrom(payload[rolesClaim], opts.defaultRoles ?? []);
      if (roles === undefined) throw unauthenticated(`token claim '${rolesClaim}' must be a string array`, 'jwt');
      return { subject, tenant, roles, provider: 'jwt' };
    },
  };
}
