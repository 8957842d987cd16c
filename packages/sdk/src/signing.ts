/**
 * Ed25519 request signatures for the daemon's `signature` auth provider, with WebCrypto
 * (`globalThis.crypto.subtle`: Node 20+, and browsers with Ed25519 in WebCrypto, in a
 * secure context). Each request carries
 *   X-Agentd-Key-Id     the registered key id
 *   X-Agentd-Timestamp  epoch milliseconds when it was signed
 *   X-Agentd-Signature  base64 Ed25519 signature of
 *                       `${METHOD}\n${path with query}\n${timestamp}\n${hex sha256(body)}`
 * (the canonical string of docs/configuration.md, "signed requests"). The daemon refuses a timestamp outside its
 * window and a signature it has seen before, so every request (and every retry) is signed
 * anew, and this signer never hands out the same timestamp twice.
 */
import { base64ToBytes, bytesToBase64 } from './base64.js';
import { AgentdError, createError } from './errors.js';

export const SIGNATURE_HEADERS = {
  keyId: 'x-agentd-key-id',
  timestamp: 'x-agentd-timestamp',
  signature: 'x-agentd-signature',
} as const;

export interface SigningOptions {
  /** The key id the public key was registered under (`agentd signing-keys register --id`). */
  keyId: string;
  /**
   * The Ed25519 private key: a WebCrypto CryptoKey (usage "sign"), PKCS#8 PEM text
   * (`-----BEGIN PRIVATE KEY-----`, what `agentd signing-keys keygen` writes), or bytes:
   * PKCS#8 DER, or the raw 32-byte seed.
   */
  privateKey: CryptoKey | string | Uint8Array;
  /** Clock in epoch milliseconds (tests). Default Date.now. */
  now?: () => number;
}

/** PKCS#8 DER of an Ed25519 private key, up to its 32-byte seed (RFC 8410). */
const PKCS8_ED25519_PREFIX = [0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20];
const ED25519 = { name: 'Ed25519' } as const;

/** The exact text that is signed (before UTF-8 encoding). `target` is the path plus query, as sent. */
export function canonicalRequest(method: string, target: string, timestampMs: number, bodySha256Hex: string): string {
  return `${method.toUpperCase()}\n${target}\n${timestampMs}\n${bodySha256Hex}`;
}

/** The request target the daemon sees for `url`: its path and query, as fetch serializes them. */
export function requestTarget(url: string): string {
  const u = new URL(url);
  return `${u.pathname}${u.search}`;
}

function subtle(): SubtleCrypto {
  const s = (globalThis as { crypto?: { subtle?: SubtleCrypto } }).crypto?.subtle;
  if (s === undefined) {
    throw createError('INVALID_ARGUMENT', 'signing requests needs WebCrypto (globalThis.crypto.subtle); browsers offer it only in secure contexts (https)');
  }
  return s;
}

function hex(bytes: ArrayBuffer): string {
  return Array.from(new Uint8Array(bytes), (b) => b.toString(16).padStart(2, '0')).join('');
}

function pkcs8Der(key: string | Uint8Array): Uint8Array {
  if (typeof key !== 'string') {
    if (key.length !== 32) return key;
    const der = new Uint8Array(PKCS8_ED25519_PREFIX.length + 32);
    der.set(PKCS8_ED25519_PREFIX);
    der.set(key, PKCS8_ED25519_PREFIX.length);
    return der;
  }
  const pem = /-----BEGIN PRIVATE KEY-----([A-Za-z0-9+/=\s]+)-----END PRIVATE KEY-----/.exec(key);
  if (pem === null) throw createError('INVALID_ARGUMENT', 'the signing key must be an Ed25519 private key in PKCS#8 PEM (-----BEGIN PRIVATE KEY-----)');
  return base64ToBytes((pem[1] ?? '').replace(/\s+/g, ''));
}

async function importSigningKey(key: SigningOptions['privateKey']): Promise<CryptoKey> {
  if (typeof key !== 'string' && !(key instanceof Uint8Array)) return key;
  try {
    return await subtle().importKey('pkcs8', pkcs8Der(key) as Uint8Array<ArrayBuffer>, ED25519, false, ['sign']);
  } catch (err) {
    if (err instanceof AgentdError) throw err;
    throw createError('INVALID_ARGUMENT', `cannot use the signing key: ${(err as Error).message}`, { cause: err });
  }
}

/** Signs requests with one key; the key is imported on first use. */
export class RequestSigner {
  readonly keyId: string;
  readonly #privateKey: SigningOptions['privateKey'];
  readonly #now: () => number;
  #key: Promise<CryptoKey> | undefined;
  #lastTimestamp = 0;

  constructor(options: SigningOptions) {
    if (options.keyId === '') throw createError('INVALID_ARGUMENT', 'signing needs the key id the public key was registered under');
    this.keyId = options.keyId;
    this.#privateKey = options.privateKey;
    this.#now = options.now ?? Date.now;
  }

  /** The three signature headers for one request to `url` (absolute) with `body` (absent = empty). */
  async headers(method: string, url: string, body?: Uint8Array): Promise<Record<string, string>> {
    // Two identical requests in the same millisecond would otherwise carry the same
    // signature, and the daemon would refuse the second one as a replay. Taken before any
    // await, so timestamps follow the order of the calls.
    const timestamp = Math.max(this.#now(), this.#lastTimestamp + 1);
    this.#lastTimestamp = timestamp;
    this.#key ??= importSigningKey(this.#privateKey);
    const key = await this.#key;
    const bodyHash = hex(await subtle().digest('SHA-256', (body ?? new Uint8Array()) as Uint8Array<ArrayBuffer>));
    const payload = new TextEncoder().encode(canonicalRequest(method, requestTarget(url), timestamp, bodyHash));
    const signature = await subtle().sign(ED25519, key, payload);
    return {
      [SIGNATURE_HEADERS.keyId]: this.keyId,
      [SIGNATURE_HEADERS.timestamp]: String(timestamp),
      [SIGNATURE_HEADERS.signature]: bytesToBase64(new Uint8Array(signature)),
    };
  }
}
