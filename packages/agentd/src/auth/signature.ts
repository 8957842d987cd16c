import { createHash, createPrivateKey, createPublicKey, sign, verify, type KeyObject } from 'node:crypto';
import { AgentdError } from '../core/errors.js';
import { unauthenticated } from './chain.js';
import { header } from './headers.js';
import { ReplayCache } from './replay-cache.js';
import type { AuthProvider, AuthRequest, Principal } from './types.js';

/**
 * Ed25519-signed requests. Headers:
 *   X-Agentd-Key-Id     a registered key id
 *   X-Agentd-Timestamp  epoch milliseconds when the request was signed
 *   X-Agentd-Signature  base64 Ed25519 signature of
 *                       `${METHOD}\n${path with query}\n${timestamp}\n${sha256hex(body)}`
 * A request is accepted when the signature verifies with the key's public key, the
 * timestamp is within ±window of the daemon's clock, and the same signature was not seen
 * within the window (replay cache).
 */
export const SIGNATURE_HEADERS = {
  keyId: 'x-agentd-key-id',
  timestamp: 'x-agentd-timestamp',
  signature: 'x-agentd-signature',
} as const;

export interface SigningKey {
  /** Ed25519 public key: PEM (SPKI), or the raw 32 bytes in base64/base64url. */
  publicKey: string;
  subject: string;
  tenant: string;
  roles: string[];
}

export interface SignatureProviderOptions {
  /** Keys by key id, checked first. `{}` = none here (then only `lookup` can know a key). */
  keys: Record<string, SigningKey>;
  /** Finds keys registered elsewhere (state.db); undefined = only `keys`. */
  lookup?: (keyId: string) => SigningKey | undefined;
  /** Allowed clock difference in seconds, each way (default 300). */
  windowSeconds?: number;
  /** Bound of the replay cache (default 100000 signatures); ignored when `replayCache` is given. */
  maxReplayEntries?: number;
  /** A replay cache that outlives this provider (keep one across config reloads, or a replay slips through at reload). */
  replayCache?: ReplayCache;
  now?: () => number;
}

export const DEFAULT_SIGNATURE_WINDOW_S = 300;

const ED25519_SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

/** The exact bytes that are signed. `method` is upper-cased; body absent = empty. */
export function signaturePayload(method: string, path: string, timestampMs: number, body?: Uint8Array): Buffer {
  const bodyHash = createHash('sha256').update(body ?? new Uint8Array()).digest('hex');
  return Buffer.from(`${method.toUpperCase()}\n${path}\n${timestampMs}\n${bodyHash}`, 'utf8');
}

/**
 * Parses an Ed25519 public key from PEM (`-----BEGIN PUBLIC KEY-----`, SPKI) or raw 32 bytes
 * (base64/base64url). Any other PEM is refused, a private key above all: createPublicKey
 * would derive the public half from it, and the private key would then be stored and listed.
 */
export function parseEd25519PublicKey(text: string): KeyObject {
  const trimmed = text.trim();
  let key: KeyObject;
  if (trimmed.startsWith('-----BEGIN')) {
    if (!trimmed.startsWith('-----BEGIN PUBLIC KEY-----')) {
      throw new AgentdError('INVALID_CONFIG', 'a signing key must be a public key (-----BEGIN PUBLIC KEY-----) or 32 raw bytes in base64; the private key stays with the client');
    }
    key = createPublicKey(trimmed);
  }
  else {
    const raw = Buffer.from(trimmed, 'base64');
    if (raw.length !== 32) throw new AgentdError('INVALID_CONFIG', 'an Ed25519 public key must be PEM or 32 raw bytes in base64');
    key = createPublicKey({ key: Buffer.concat([ED25519_SPKI_PREFIX, raw]), format: 'der', type: 'spki' });
  }
  if (key.asymmetricKeyType !== 'ed25519') {
    throw new AgentdError('INVALID_CONFIG', `signing keys must be Ed25519, got ${key.asymmetricKeyType ?? 'unknown'}`);
  }
  return key;
}

export interface SignRequestInput {
  keyId: string;
  /** Ed25519 private key (PEM PKCS#8 or a KeyObject). */
  privateKey: string | KeyObject;
  method: string;
  path: string;
  body?: Uint8Array;
  timestampMs?: number;
}

/** The three headers of a signed request (for clients and tests). */
export function signRequest(input: SignRequestInput): Record<string, string> {
  const ts = input.timestampMs ?? Date.now();
  const key = typeof input.privateKey === 'string' ? createPrivateKey(input.privateKey) : input.privateKey;
  const sig = sign(null, signaturePayload(input.method, input.path, ts, input.body), key);
  return {
    [SIGNATURE_HEADERS.keyId]: input.keyId,
    [SIGNATURE_HEADERS.timestamp]: String(ts),
    [SIGNATURE_HEADERS.signature]: sig.toString('base64'),
  };
}

/** Recognizes requests carrying X-Agentd-Signature (or a key id); see the header comment. */
export function signatureProvider(opts: SignatureProviderOptions): AuthProvider {
  const keys = new Map<string, { key: KeyObject; principal: Omit<Principal, 'provider'> }>();
  for (const [id, k] of Object.entries(opts.keys)) {
    keys.set(id, { key: parseEd25519PublicKey(k.publicKey), principal: { subject: k.subject, tenant: k.tenant, roles: [...k.roles] } });
  }
  const fromLookup = (keyId: string): { key: KeyObject; principal: Omit<Principal, 'provider'> } | undefined => {
    const found = opts.lookup?.(keyId);
    if (found === undefined) return undefined;
    return { key: parseEd25519PublicKey(found.publicKey), principal: { subject: found.subject, tenant: found.tenant, roles: [...found.roles] } };
  };
  const windowMs = (opts.windowSeconds ?? DEFAULT_SIGNATURE_WINDOW_S) * 1000;
  const now = opts.now ?? Date.now;
  const replay = opts.replayCache ?? new ReplayCache(opts.maxReplayEntries);

  /** What the headers alone can tell: the three headers, a timestamp in the window, a known key. */
  const fromHeaders = (req: AuthRequest): { keyId: string; sigText: string; ts: number; nowMs: number; entry: NonNullable<ReturnType<typeof fromLookup>> } | null => {
    const sigText = header(req, SIGNATURE_HEADERS.signature);
    const keyId = header(req, SIGNATURE_HEADERS.keyId);
    const tsText = header(req, SIGNATURE_HEADERS.timestamp);
    if (sigText === undefined && keyId === undefined) return null;
    if (sigText === undefined || keyId === undefined || tsText === undefined) {
      throw unauthenticated('signed requests need X-Agentd-Key-Id, X-Agentd-Timestamp and X-Agentd-Signature', 'signature');
    }
    if (!/^\d{1,16}$/.test(tsText)) throw unauthenticated('invalid X-Agentd-Timestamp', 'signature');
    const ts = Number(tsText);
    const nowMs = now();
    if (Math.abs(nowMs - ts) > windowMs) throw unauthenticated('request timestamp outside the accepted window', 'signature');
    const entry = keys.get(keyId) ?? fromLookup(keyId);
    // The same message as a bad signature: a caller cannot probe which key ids exist.
    if (entry === undefined) throw unauthenticated('invalid request signature', 'signature');
    return { keyId, sigText, ts, nowMs, entry };
  };

  return {
    name: 'signature',
    async checkHeaders(req): Promise<true | null> {
      return fromHeaders(req) === null ? null : true;
    },
    async authenticate(req): Promise<Principal | null> {
      const h = fromHeaders(req);
      if (h === null) return null;
      const { keyId, sigText, ts, nowMs, entry } = h;
      const sig = Buffer.from(sigText, 'base64');
      const ok = sig.length === 64 && verify(null, signaturePayload(req.method, req.path, ts, req.body), entry.key, sig);
      if (!ok) throw unauthenticated('invalid request signature', 'signature');
      // Remember only verified signatures: unsigned junk cannot fill the cache.
      if (!replay.checkAndRemember(`${keyId}:${sig.toString('base64')}`, ts + windowMs, nowMs)) {
        throw unauthenticated('replayed request signature', 'signature');
      }
      return { ...entry.principal, roles: [...entry.principal.roles], provider: 'signature' };
    },
  };
}
