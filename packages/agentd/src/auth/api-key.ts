import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { AgentdError } from '../core/errors.js';
import type { ApiKeyRecord } from '../state/types.js';
import type { ApiKeyRepo } from '../state/api-keys.js';
import { unauthenticated } from './chain.js';
import { bearerToken } from './headers.js';
import type { AuthProvider, Principal } from './types.js';

/**
 * API keys look like `agd_<keyId>_<secret>`: keyId is 16 hex characters (the row id, not
 * secret), secret is 32 random bytes in base64url (43 characters, may contain `_` and `-`).
 *
 * Stored verifier: HMAC-SHA256 keyed with a random 16-byte per-key salt over
 * `<keyId>.<secret>`, written `hmac-sha256$<salt>$<digest>` (base64url). Why not scrypt:
 * slow password hashes exist to make guessing low-entropy passwords expensive; these
 * secrets are 256 random bits, so guessing is hopeless at any hash speed, while scrypt
 * would add tens of milliseconds of CPU to every request. The salt keeps equal secrets
 * (never expected) from having equal verifiers and binds each verifier to its row.
 * Digests are compared with crypto.timingSafeEqual.
 */
const KEY_PREFIX = 'agd_';
const KEY_PATTERN = /^agd_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$/;
const SCHEME = 'hmac-sha256';
const INVALID_KEY = 'invalid API key';
/** last_used is written at most this often per key, so that reads do not turn into a write per request. */
const LAST_USED_RESOLUTION_MS = 1000;

export interface ApiKeyCreateInput {
  subject: string;
  tenant: string;
  roles: string[];
}

/** An API key as listed: everything but the verifier. */
export interface ApiKeyInfo {
  id: string;
  prefix: string;
  subject: string;
  tenant: string;
  roles: string[];
  createdAtMs: number;
  revokedAtMs: number | null;
  lastUsedMs: number | null;
}

export interface CreatedApiKey {
  id: string;
  /** The full key. Shown once: only its verifier is stored. */
  key: string;
  info: ApiKeyInfo;
}

function digest(salt: Buffer, keyId: string, secret: string): Buffer {
  return createHmac('sha256', salt).update(`${keyId}.${secret}`).digest();
}

function toInfo(r: ApiKeyRecord): ApiKeyInfo {
  return {
    id: r.id,
    prefix: r.prefix,
    subject: r.subject,
    tenant: r.tenant,
    roles: [...r.roles],
    createdAtMs: r.createdAtMs,
    revokedAtMs: r.revokedAtMs,
    lastUsedMs: r.lastUsedMs,
  };
}

/** Whether a bearer token is shaped like an agentd API key (so the api-key provider owns it). */
export function looksLikeApiKey(token: string): boolean {
  return token.startsWith(KEY_PREFIX);
}

/** Creates, lists, revokes and verifies API keys over the state store's `api_keys` table. */
export class ApiKeyService {
  readonly #repo: ApiKeyRepo;
  readonly #now: () => number;

  constructor(repo: ApiKeyRepo, now: () => number = Date.now) {
    this.#repo = repo;
    this.#now = now;
  }

  create(input: ApiKeyCreateInput): CreatedApiKey {
    if (input.subject.length === 0 || input.tenant.length === 0) {
      throw new AgentdError('INVALID_ARGUMENT', 'an API key needs a non-empty subject and tenant');
    }
    const id = randomBytes(8).toString('hex');
    const secret = randomBytes(32).toString('base64url');
    const salt = randomBytes(16);
    const hash = `${SCHEME}$${salt.toString('base64url')}$${digest(salt, id, secret).toString('base64url')}`;
    const record = this.#repo.insert({
      id,
      prefix: `${KEY_PREFIX}${id}`,
      hash,
      subject: input.subject,
      tenant: input.tenant,
      roles: [...new Set(input.roles)],
      createdAtMs: this.#now(),
    });
    return { id, key: `${KEY_PREFIX}${id}_${secret}`, info: toInfo(record) };
  }

  /** Keys without their verifiers; `tenant` undefined = every tenant. */
  list(filter: { tenant?: string; includeRevoked?: boolean } = {}): ApiKeyInfo[] {
    return this.#repo.list(filter).map(toInfo);
  }

  get(id: string): ApiKeyInfo | undefined {
    const r = this.#repo.get(id);
    return r === undefined ? undefined : toInfo(r);
  }

  /** Revokes the key; false when it does not exist or is already revoked. */
  revoke(id: string): boolean {
    return this.#repo.revoke(id, this.#now());
  }

  /**
   * The principal of a valid key. Unknown, revoked and wrong keys all throw the same
   * UNAUTHENTICATED message (a caller cannot tell which), and all compute one HMAC.
   */
  verify(key: string): Principal {
    const match = KEY_PATTERN.exec(key);
    if (match === null) throw unauthenticated(INVALID_KEY, 'api-key');
    const [, keyId = '', secret = ''] = match;
    const record = this.#repo.get(keyId);
    const parts = record?.hash.split('$') ?? [];
    const scheme = parts[0];
    const salt = Buffer.from(parts[1] ?? '', 'base64url');
    const expected = Buffer.from(parts[2] ?? '', 'base64url');
    // Always compute a digest, so unknown ids cost the same as known ones.
    const actual = digest(salt.length > 0 ? salt : Buffer.alloc(16), keyId, secret);
    const matches = scheme === SCHEME && expected.length === actual.length && timingSafeEqual(expected, actual);
    if (record === undefined || !matches || record.revokedAtMs !== null) throw unauthenticated(INVALID_KEY, 'api-key');
    const now = this.#now();
    if (record.lastUsedMs === null || now - record.lastUsedMs >= LAST_USED_RESOLUTION_MS) this.#repo.touch(record.id, now);
    return { subject: record.subject, tenant: record.tenant, roles: [...record.roles], provider: 'api-key' };
  }
}

/** `Authorization: Bearer agd_...`: recognized by its prefix; anything else is not this provider's. */
export function apiKeyProvider(keys: ApiKeyService): AuthProvider {
  return {
    name: 'api-key',
    async authenticate(req) {
      const token = bearerToken(req);
      if (token === undefined || !looksLikeApiKey(token)) return null;
      return keys.verify(token);
    },
  };
}
