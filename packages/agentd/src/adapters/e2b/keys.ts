import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { AgentdError } from '../../core/errors.js';
import type { Principal } from '../../auth/types.js';
import type { ApiKeyRepo } from '../../state/api-keys.js';
import type { ApiKeyRecord } from '../../state/types.js';

/**
 * E2B API keys: `e2b_<id><secret>`, all lower-case hex as the SDK's keys are: `id` 16 hex
 * characters (the `api_keys` row id, not secret), `secret` 48 (24 random bytes). They live in
 * agentd's `api_keys` table with the prefix `e2b_<id>` (so `agentd keys list` and `keys revoke`
 * see them) and a verifier of their own scheme: HMAC-SHA256 with a random per-key salt over
 * `<id>.<secret>` (the same reasoning as auth/api-key.ts: 192 random bits need no slow hash).
 * They are accepted only by the E2B control plane (`X-API-KEY`), never by agentd's own routes.
 */
const PREFIX = 'e2b_';
const PATTERN = /^e2b_([0-9a-f]{16})([0-9a-f]{48})$/;
const SCHEME = 'e2b-hmac-sha256';
const INVALID = 'invalid E2B API key';

function digest(salt: Buffer, id: string, secret: string): Buffer {
  return createHmac('sha256', salt).update(`${id}.${secret}`).digest();
}

export interface CreatedE2bKey {
  id: string;
  /** The full key, shown once. */
  key: string;
  record: ApiKeyRecord;
}

/** Whether an api_keys row is an E2B key. */
export function isE2bKeyRecord(r: Pick<ApiKeyRecord, 'prefix'>): boolean {
  return r.prefix.startsWith(PREFIX);
}

export class E2bKeys {
  readonly #repo: ApiKeyRepo;
  readonly #now: () => number;

  constructor(repo: ApiKeyRepo, now: () => number = Date.now) {
    this.#repo = repo;
    this.#now = now;
  }

  create(input: { subject: string; tenant: string; roles: string[] }): CreatedE2bKey {
    if (input.subject.length === 0 || input.tenant.length === 0) throw new AgentdError('INVALID_ARGUMENT', 'an E2B key needs a non-empty subject and tenant');
    const id = randomBytes(8).toString('hex');
    const secret = randomBytes(24).toString('hex');
    const salt = randomBytes(16);
    const hash = `${SCHEME}$${salt.toString('base64url')}$${digest(salt, id, secret).toString('base64url')}`;
    const record = this.#repo.insert({ id, prefix: `${PREFIX}${id}`, hash, subject: input.subject, tenant: input.tenant, roles: [...new Set(input.roles)], createdAtMs: this.#now() });
    return { id, key: `${PREFIX}${id}${secret}`, record };
  }

  /**
   * The principal and key id of a valid key. Malformed, unknown, revoked and wrong keys all
   * throw the same UNAUTHENTICATED (one HMAC computed each time, so they cost the same).
   */
  verify(key: string): { principal: Principal; keyId: string } {
    const m = PATTERN.exec(key);
    if (m === null) throw new AgentdError('UNAUTHENTICATED', INVALID, { details: { provider: 'e2b-key' } });
    const [, id = '', secret = ''] = m;
    const rec = this.#repo.get(id);
    const parts = rec?.hash.split('$') ?? [];
    const salt = Buffer.from(parts[1] ?? '', 'base64url');
    const expected = Buffer.from(parts[2] ?? '', 'base64url');
    const actual = digest(salt.length > 0 ? salt : Buffer.alloc(16), id, secret);
    const ok = parts[0] === SCHEME && expected.length === actual.length && timingSafeEqual(expected, actual);
    if (rec === undefined || !ok || rec.revokedAtMs !== null || !isE2bKeyRecord(rec)) throw new AgentdError('UNAUTHENTICATED', INVALID, { details: { provider: 'e2b-key' } });
    const now = this.#now();
    if (rec.lastUsedMs === null || now - rec.lastUsedMs >= 1000) this.#repo.touch(rec.id, now);
    return { principal: { subject: rec.subject, tenant: rec.tenant, roles: [...rec.roles], provider: 'e2b-key' }, keyId: rec.id };
  }

  /** Whether the key `id` is still valid (not revoked, still there): in-sandbox calls of its sandboxes stop with it. */
  isLive(id: string): boolean {
    const rec = this.#repo.get(id);
    return rec !== undefined && rec.revokedAtMs === null && isE2bKeyRecord(rec);
  }
}
