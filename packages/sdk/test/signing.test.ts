/**
 * Request signing in the SDK, checked against the daemon's own verifier (the `signature`
 * auth provider of packages/agentd) on the requests the transport actually sends.
 */
import { createHash, generateKeyPairSync, verify } from 'node:crypto';
import { describe, expect, test } from 'vitest';
import { signatureProvider } from '../../agentd/src/auth/signature.js';
import type { AuthRequest } from '../../agentd/src/auth/types.js';
import { AgentdClient, InvalidArgumentError, RequestSigner, SIGNATURE_HEADERS, canonicalRequest } from '../src/index.js';

const pair = generateKeyPairSync('ed25519');
const privatePem = pair.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
const publicPem = pair.publicKey.export({ type: 'spki', format: 'pem' }).toString();
const seed = Buffer.from(pair.privateKey.export({ format: 'jwk' }).d ?? '', 'base64url');

interface Sent {
  url: string;
  method: string;
  headers: Record<string, string>;
  body: Uint8Array | undefined;
}

/** A client whose fetch records each request and answers `{}` (or `answer(n)` for the n-th request). */
function recordingClient(signing: ConstructorParameters<typeof AgentdClient>[0], answer: (n: number) => Response = () => Response.json({ sandboxes: [] })) {
  const sent: Sent[] = [];
  const client = new AgentdClient({
    baseUrl: 'http://daemon.test:7070',
    retry: { baseDelayMs: 1, random: () => 0 },
    ...signing,
    fetch: async (url, init) => {
      const body = init.body === undefined || init.body === null ? undefined : typeof init.body === 'string' ? new TextEncoder().encode(init.body) : new Uint8Array(init.body as Uint8Array);
      sent.push({ url, method: init.method ?? 'GET', headers: init.headers as Record<string, string>, body });
      return answer(sent.length);
    },
  });
  return { client, sent };
}

/** What the daemon's auth step sees of a sent request. */
function asDaemonSees(s: Sent): AuthRequest {
  const u = new URL(s.url);
  return { headers: s.headers, method: s.method, path: `${u.pathname}${u.search}`, ...(s.body === undefined ? {} : { body: s.body }), transport: 'http' };
}

const verifier = () => signatureProvider({ keys: { 'ci-1': { publicKey: publicPem, subject: 'ci', tenant: 'acme', roles: ['user'] } }, windowSeconds: 60 });

describe('SDK request signing', () => {
  test('the headers the transport sends verify with the daemon provider: JSON bodies, raw bodies, queries, no body', async () => {
    const { client, sent } = recordingClient({ signing: { keyId: 'ci-1', privateKey: privatePem } }, () => Response.json({ id: 'sbx_1', bytes_written: 3, file_size: 3, sandboxes: [] }));
    await client.listSandboxes({ labels: { team: 'a b', 'x/y': 'ü' } });
    await client.files('sbx_1').write('/tmp/a b.txt', new Uint8Array([0, 0xff, 0x0a]));
    await client.intent({ capability: 'shell.exec.v1', params: { argv: ['echo', 'héllo ✓'] } });
    await client.revokeKey('k 1');
    expect(sent.map((s) => s.method)).toEqual(['GET', 'PUT', 'POST', 'DELETE']);
    const provider = verifier();
    for (const s of sent) {
      expect(s.headers.authorization).toBeUndefined();
      expect(await provider.authenticate(asDaemonSees(s))).toEqual({ subject: 'ci', tenant: 'acme', roles: ['user'], provider: 'signature' });
    }
    // The canonical string is exactly METHOD, target, timestamp and the body's SHA-256, one per line.
    const put = sent[1] as Sent;
    const target = asDaemonSees(put).path;
    expect(target).toMatch(/^\/v1\/sandboxes\/sbx_1\/files\?path=%2Ftmp%2Fa\+b\.txt/);
    const text = `PUT\n${target}\n${put.headers[SIGNATURE_HEADERS.timestamp]}\n${createHash('sha256').update(put.body ?? new Uint8Array()).digest('hex')}`;
    expect(canonicalRequest('put', target, Number(put.headers[SIGNATURE_HEADERS.timestamp]), createHash('sha256').update(put.body ?? new Uint8Array()).digest('hex'))).toBe(text);
    expect(verify(null, Buffer.from(text), pair.publicKey, Buffer.from(put.headers[SIGNATURE_HEADERS.signature] ?? '', 'base64'))).toBe(true);
  });

  test('the same key as PEM, as the raw seed and as a CryptoKey gives the same signature (Ed25519 is deterministic)', async () => {
    const cryptoKey = await globalThis.crypto.subtle.importKey('pkcs8', pair.privateKey.export({ type: 'pkcs8', format: 'der' }), { name: 'Ed25519' }, false, ['sign']);
    const now = () => 1_800_000_000_000;
    const signatures = await Promise.all(
      [privatePem, new Uint8Array(seed), cryptoKey].map(async (privateKey) => {
        const h = await new RequestSigner({ keyId: 'k', privateKey, now }).headers('POST', 'http://h/v1/sandboxes?a=1', new TextEncoder().encode('{}'));
        return h[SIGNATURE_HEADERS.signature];
      }),
    );
    expect(new Set(signatures).size).toBe(1);
    expect(signatures[0]).toMatch(/^[A-Za-z0-9+/]{86}==$/);
  });

  test('identical requests at the same instant get distinct timestamps, so the daemon does not take the second for a replay', async () => {
    const signer = new RequestSigner({ keyId: 'ci-1', privateKey: privatePem, now: () => 1_800_000_000_000 });
    const all = await Promise.all([1, 2, 3].map(() => signer.headers('GET', 'http://h/v1/sandboxes')));
    expect(all.map((h) => h[SIGNATURE_HEADERS.timestamp])).toEqual(['1800000000000', '1800000000001', '1800000000002']);
    expect(new Set(all.map((h) => h[SIGNATURE_HEADERS.signature])).size).toBe(3);
  });

  test('each retry is signed anew (a resent signature would be refused as a replay)', async () => {
    const { client, sent } = recordingClient({ signing: { keyId: 'ci-1', privateKey: privatePem } }, (n) =>
      n === 1 ? Response.json({ error: { code: 'UNAVAILABLE', message: 'busy', details: {}, retryable: true } }, { status: 503 }) : Response.json({ sandboxes: [] }),
    );
    await client.listSandboxes();
    expect(sent).toHaveLength(2);
    expect(sent[0]?.headers[SIGNATURE_HEADERS.signature]).not.toBe(sent[1]?.headers[SIGNATURE_HEADERS.signature]);
    const provider = verifier();
    for (const s of sent) expect((await provider.authenticate(asDaemonSees(s)))?.subject).toBe('ci');
  });

  test('a headers hook cannot replace the signature; signing and a bearer secret together are refused; env AGENTD_API_KEY is not sent', async () => {
    const { client, sent } = recordingClient({
      signing: { keyId: 'ci-1', privateKey: privatePem },
      headers: { [SIGNATURE_HEADERS.signature]: 'forged', [SIGNATURE_HEADERS.keyId]: 'admin' },
    });
    const saved = process.env.AGENTD_API_KEY;
    process.env.AGENTD_API_KEY = 'agd_from_env';
    try {
      const { client: envClient, sent: envSent } = recordingClient({ signing: { keyId: 'ci-1', privateKey: privatePem } });
      await envClient.listSandboxes();
      expect(envSent[0]?.headers.authorization).toBeUndefined();
    } finally {
      if (saved === undefined) delete process.env.AGENTD_API_KEY;
      else process.env.AGENTD_API_KEY = saved;
    }
    await client.listSandboxes();
    expect(await verifier().authenticate(asDaemonSees(sent[0] as Sent))).toMatchObject({ subject: 'ci' });
    expect(() => new AgentdClient({ apiKey: 'agd_x', signing: { keyId: 'k', privateKey: privatePem } })).toThrow(InvalidArgumentError);
  });

  test('an unusable key fails the request with INVALID_ARGUMENT before anything is sent', async () => {
    const publicAsPrivate = recordingClient({ signing: { keyId: 'k', privateKey: publicPem } });
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    const notEd25519 = recordingClient({ signing: { keyId: 'k', privateKey: ec } });
    for (const { client, sent } of [publicAsPrivate, notEd25519]) {
      const err = await client.listSandboxes().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(InvalidArgumentError);
      expect((err as InvalidArgumentError).code).toBe('INVALID_ARGUMENT');
      expect(sent).toEqual([]);
    }
    expect(() => new RequestSigner({ keyId: '', privateKey: privatePem })).toThrow(InvalidArgumentError);
  });
});
