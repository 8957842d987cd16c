import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { AgentdError } from '../../../core/errors.js';
import type { StateStore } from '../../../state/store.js';
import type { SandboxManager } from '../../../sandbox/manager.js';
import type { E2bSandboxRecord } from '../../../state/e2b-sandboxes.js';
import type { E2bKeys } from '../keys.js';
import type { EnvdCaller } from './types.js';

/** What the in-sandbox plane answers when the sandbox is gone or not running: 502, as the SDK expects. */
export class SandboxGone extends Error {
  constructor(readonly sandboxId: string, readonly why: string) {
    super(`sandbox '${sandboxId}' ${why}`);
  }
}

function header(h: IncomingHttpHeaders, name: string): string | undefined {
  const v = h[name];
  return Array.isArray(v) ? v[0] : v;
}

function sameToken(given: string | undefined, expected: string): boolean {
  if (given === undefined) return false;
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** The user named by `Authorization: Basic base64("<user>:")`, undefined without one. */
export function basicUser(h: IncomingHttpHeaders): string | undefined {
  const auth = header(h, 'authorization');
  if (auth === undefined) return undefined;
  const m = /^Basic\s+([A-Za-z0-9+/=]+)$/i.exec(auth.trim());
  if (!m) throw new AgentdError('INVALID_ARGUMENT', 'Authorization must be "Basic base64(user:)" on in-sandbox calls', { details: { reason: 'authorization' } });
  const text = Buffer.from(m[1] ?? '', 'base64').toString('utf8');
  const user = text.split(':')[0] ?? '';
  return user === '' ? undefined : user;
}

/**
 * The signature of a presigned file URL (the SDK's uploadUrl/downloadUrl): `v1_` and the
 * unpadded base64 SHA-256 of `path:operation:user:token[:expiration]`.
 */
export function fileSignature(path: string, operation: 'read' | 'write', user: string, token: string, expiration: number | undefined): string {
  const raw = expiration === undefined ? `${path}:${operation}:${user}:${token}` : `${path}:${operation}:${user}:${token}:${expiration}`;
  return `v1_${createHash('sha256').update(raw).digest('base64').replace(/=+$/, '')}`;
}

/** What a presigned file request carries instead of X-Access-Token. */
export interface FileSignatureQuery {
  operation: 'read' | 'write';
  path: string;
  username: string | undefined;
  signature: string;
  expiration: string | undefined;
}

export interface EnvdAuthDeps {
  store: StateStore;
  sandboxes: SandboxManager;
  keys: E2bKeys;
}

/**
 * The caller of an in-sandbox request: the sandbox must be one the E2B plane created and
 * still running; `X-Access-Token` (or, for the port relay, `e2b-traffic-access-token`) must
 * be its token; the key that created it must still be valid. The principal is that key's.
 * Unknown or not running: SandboxGone (502). Wrong token or revoked key: UNAUTHENTICATED (401).
 */
export function authenticateEnvd(deps: EnvdAuthDeps, sandboxId: string, headers: IncomingHttpHeaders, opts: { traffic?: boolean; signed?: FileSignatureQuery } = {}): EnvdCaller & { row: E2bSandboxRecord } {
  const row = deps.store.e2b.get(sandboxId);
  const rec = row === undefined ? undefined : deps.store.sandboxes.getForTenant(sandboxId, row.tenant);
  if (row === undefined || rec === undefined) throw new SandboxGone(sandboxId, 'was not found');
  const access = header(headers, 'x-access-token');
  const traffic = opts.traffic === true ? header(headers, 'e2b-traffic-access-token') : undefined;
  const sig = opts.signed;
  const signedOk = access === undefined && sig !== undefined && signatureValid(sig, row.accessToken, Date.now());
  if (!signedOk && !sameToken(access, row.accessToken) && !(opts.traffic === true && sameToken(traffic, row.trafficToken))) {
    throw new AgentdError('UNAUTHENTICATED', access === undefined && traffic === undefined ? 'missing X-Access-Token (the envdAccessToken of the sandbox)' : 'invalid access token for this sandbox');
  }
  if (!deps.keys.isLive(row.keyId)) throw new AgentdError('UNAUTHENTICATED', 'the E2B key that created this sandbox was revoked');
  if (rec.state !== 'running') throw new SandboxGone(sandboxId, rec.state === 'suspended' ? 'is paused (connect to resume it)' : `is ${rec.state}`);
  return { principal: { subject: row.subject, tenant: row.tenant, roles: [...row.roles], provider: 'e2b-access-token' }, sandboxId, user: opts.traffic === true ? undefined : basicUser(headers), row };
}

function signatureValid(sig: FileSignatureQuery, token: string, nowMs: number): boolean {
  let exp: number | undefined;
  if (sig.expiration !== undefined) {
    if (!/^\d{1,12}$/.test(sig.expiration)) return false;
    exp = Number(sig.expiration);
    if (exp * 1000 < nowMs) return false;
  }
  return sameToken(sig.signature, fileSignature(sig.path, sig.operation, sig.username ?? '', token, exp));
}
