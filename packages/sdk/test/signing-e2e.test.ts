/**
 * Signed requests end to end: a real daemon (port 0, real agentd-init, the best backend of
 * this host) whose only auth provider is `signature`. An admin key from the config
 * registers a client's public key over REST; the SDK signing with the client's private key
 * creates a sandbox, execs (plain and streamed) and writes files; forged, tampered,
 * replayed, stale and revoked requests are refused for their own reason.
 */
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { parseConfig } from '../../agentd/src/config/index.js';
import { CgroupDriver } from '../../agentd/src/isolation/cgroup/index.js';
import { startDaemon, type Daemon } from '../../agentd/src/runtime/daemon.js';
import { AgentdClient, AuthenticationError, ConflictError, InvalidArgumentError, PermissionDeniedError, Sandbox, type ClientOptions, type FetchLike } from '../src/index.js';
import { e2eSkipReason } from './helpers/daemon.js';

const skipReason = e2eSkipReason();
if (skipReason !== undefined) console.log(`skipping signed-request e2e tests: ${skipReason}`);

const newPair = () => generateKeyPairSync('ed25519', { publicKeyEncoding: { type: 'spki', format: 'pem' }, privateKeyEncoding: { type: 'pkcs8', format: 'pem' } });
const admin = newPair();
const user = newPair();
const stranger = newPair();

/** The error a call failed with (the test fails if it did not fail). */
async function failure(p: Promise<unknown>): Promise<AuthenticationError> {
  const err = await p.then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(Error);
  return err as AuthenticationError;
}

describe.skipIf(skipReason !== undefined)('signed requests against a daemon with only the signature provider', () => {
  let daemon: Daemon;
  let home: string;
  let cgroupParent: string;
  let url: string;
  const sandboxes: string[] = [];
  const client = (extra: ClientOptions = {}) => new AgentdClient({ baseUrl: url, retry: false, ...extra });
  const adminClient = () => client({ signing: { keyId: 'ops-admin', privateKey: admin.privateKey } });
  const userClient = (extra: ClientOptions = {}) => client({ signing: { keyId: 'ci-1', privateKey: user.privateKey }, ...extra });

  beforeAll(async () => {
    home = mkdtempSync(join(tmpdir(), 'agentd-signed-'));
    chmodSync(home, 0o711);
    cgroupParent = `agentd-test-${randomBytes(6).toString('hex')}`;
    const config = parseConfig(
      {
        home,
        profile: 'workstation',
        isolation: { backend: 'auto', backends: { namespace: { cgroup_parent: cgroupParent } } },
        adapters: { http: { enabled: true, listen: '127.0.0.1:0' }, unix: { enabled: false } },
        auth: { providers: [{ type: 'signature', window_s: 60, keys: { 'ops-admin': { public_key: admin.publicKey, subject: 'ops', roles: ['admin'] } } }] },
      },
      {},
    );
    daemon = await startDaemon(config, { sweepIntervalMs: 200 });
    url = daemon.address ?? '';
  }, 60_000);

  afterAll(async () => {
    try {
      for (const id of sandboxes) await adminClient().destroySandbox(id).catch(() => undefined);
      await daemon?.close();
    } finally {
      await new CgroupDriver({ parent: cgroupParent }).removeParent().catch(() => undefined);
      rmSync(home, { recursive: true, force: true });
    }
  }, 60_000);

  test('an unsigned request is refused; the admin key from the config registers a client key over REST', async () => {
    const unsigned = await failure(client().listSandboxes());
    expect(unsigned).toBeInstanceOf(AuthenticationError);
    expect(unsigned.code).toBe('UNAUTHENTICATED');
    const key = await adminClient().registerSigningKey({ id: 'ci-1', publicKey: user.publicKey, subject: 'ci', tenant: 'acme', roles: ['user'] });
    expect(key).toMatchObject({ id: 'ci-1', subject: 'ci', tenant: 'acme', roles: ['user'], revokedAtMs: null });
    expect(key.publicKey).toBe(user.publicKey.trim());
    expect((await adminClient().listSigningKeys()).map((k) => k.id)).toContain('ci-1');
  });

  test('the signing client creates a sandbox, execs (plain and streamed) and writes a file in its tenant', async () => {
    const c = userClient();
    const sbx = await Sandbox.create({ client: c, labels: { via: 'signed' } });
    sandboxes.push(sbx.id);
    expect(sbx.info.tenant).toBe('acme');
    const r = await sbx.exec(['sh', '-c', 'echo signed-$((6*7)); cat'], { stdin: new TextEncoder().encode('from stdin') });
    expect(r).toMatchObject({ exitCode: 0, stdout: 'signed-42\nfrom stdin' });
    const chunks: string[] = [];
    for await (const chunk of sbx.stream(['sh', '-c', 'printf a; printf b >&2; exit 3'])) chunks.push(`${chunk.type}:${'text' in chunk ? chunk.text : ''}`);
    expect(chunks.filter((s) => !s.startsWith('start') && !s.startsWith('exit')).sort()).toEqual(['stderr:b', 'stdout:a']);
    await sbx.files.write('/tmp/signed.bin', new Uint8Array([0, 1, 2, 0xff]));
    expect([...(await sbx.files.readBytes('/tmp/signed.bin'))]).toEqual([0, 1, 2, 0xff]);
    // Five identical requests at once: each carries its own timestamp, none is taken for a replay.
    const lists = await Promise.all([1, 2, 3, 4, 5].map(() => c.listSandboxes()));
    for (const l of lists) expect(l.map((s) => s.id)).toEqual([sbx.id]);
  });

  test('a signature by another key under the registered id is refused', async () => {
    const err = await failure(client({ signing: { keyId: 'ci-1', privateKey: stranger.privateKey } }).listSandboxes());
    expect(err.code).toBe('UNAUTHENTICATED');
    expect(err.message).toBe('invalid request signature');
  });

  test('a body changed after signing is refused, and nothing runs', async () => {
    const tamper: FetchLike = (u, init) => fetch(u, { ...init, body: JSON.stringify({ labels: { via: 'tampered' } }) });
    const err = await failure(userClient({ fetch: tamper }).createSandbox({ labels: { via: 'signed-2' } }));
    expect(err.code).toBe('UNAUTHENTICATED');
    expect(err.message).toBe('invalid request signature');
    expect((await userClient().listSandboxes({ labels: { via: 'tampered' } }))).toEqual([]);
  });

  test('a captured request sent again is refused as a replay', async () => {
    const captured: Array<[string, RequestInit]> = [];
    const capture: FetchLike = (u, init) => {
      captured.push([u, init]);
      return fetch(u, init);
    };
    await userClient({ fetch: capture }).listSandboxes();
    const [u, init] = captured[0] ?? ['', {}];
    const again = await fetch(u, init);
    expect(again.status).toBe(401);
    const body = (await again.json()) as { error: { code: string; message: string } };
    expect(body.error).toMatchObject({ code: 'UNAUTHENTICATED', message: 'replayed request signature' });
  });

  test('a config reload (SIGHUP) keeps the replay cache: a request captured before it is still refused after it', async () => {
    const captured: Array<[string, RequestInit]> = [];
    await userClient({ fetch: (u, init) => (captured.push([u, init]), fetch(u, init)) }).listSandboxes();
    await daemon.reload(daemon.config);
    const [u, init] = captured[0] ?? ['', {}];
    const again = await fetch(u, init);
    expect(again.status).toBe(401);
    expect(((await again.json()) as { error: { message: string } }).error.message).toBe('replayed request signature');
  });

  test('a timestamp outside the window (60 s here) is refused, past or future', async () => {
    for (const skew of [-61_000, 61_000]) {
      const err = await failure(userClient({ signing: { keyId: 'ci-1', privateKey: user.privateKey, now: () => Date.now() + skew } }).listSandboxes());
      expect(err.code).toBe('UNAUTHENTICATED');
      expect(err.message).toBe('request timestamp outside the accepted window');
    }
  });

  test('registration: admin role only; bad keys, private keys and taken ids are refused', async () => {
    const byUser = await failure(userClient().registerSigningKey({ publicKey: stranger.publicKey, subject: 'x', tenant: 'acme', roles: ['admin'] }));
    expect(byUser).toBeInstanceOf(PermissionDeniedError);
    expect(byUser.code).toBe('PERMISSION_DENIED');
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256', publicKeyEncoding: { type: 'spki', format: 'pem' }, privateKeyEncoding: { type: 'pkcs8', format: 'pem' } });
    for (const publicKey of [ec.publicKey, stranger.privateKey, 'AAAA']) {
      const bad = await failure(adminClient().registerSigningKey({ publicKey, subject: 'x', tenant: 'acme', roles: [] }));
      expect(bad).toBeInstanceOf(InvalidArgumentError);
      expect(bad.message).toMatch(/not an Ed25519 public key/);
    }
    const taken = await failure(adminClient().registerSigningKey({ id: 'ci-1', publicKey: stranger.publicKey, subject: 'x', tenant: 'acme', roles: [] }));
    expect(taken).toBeInstanceOf(ConflictError);
    expect(taken.code).toBe('ALREADY_EXISTS');
    // The raw 32-byte form is accepted too; the daemon picks an id when none is given.
    const raw = Buffer.from(generateKeyPairSync('ed25519').publicKey.export({ format: 'der', type: 'spki' })).subarray(-32).toString('base64');
    const picked = await adminClient().registerSigningKey({ publicKey: raw, subject: 'raw', tenant: 'acme', roles: [] });
    expect(picked.id).toMatch(/^sk_[0-9a-f]{16}$/);
    // Unknown fields are refused (strict schema); every registration attempt is audited under the admin.
    const extra = await failure(adminClient().transport.json({ method: 'POST', path: '/v1/signing-keys', json: { public_key: raw, subject: 'x', tenant: 'acme', private_key: 'x' } }));
    expect(extra).toBeInstanceOf(InvalidArgumentError);
    const audit = (await adminClient().audit({ limit: 50 })).filter((e) => e.action === 'signing-keys.register');
    expect(audit.find((e) => e.status === 'ok' && e.details.id === picked.id)?.subject).toBe('ops');
    expect(audit.filter((e) => e.status === 'error').map((e) => e.code)).toEqual(expect.arrayContaining(['INVALID_ARGUMENT', 'ALREADY_EXISTS']));
  });

  test('a revoked key is refused from the next request on; revoking it again is NOT_FOUND', async () => {
    await adminClient().registerSigningKey({ id: 'ci-2', publicKey: stranger.publicKey, subject: 'ci2', tenant: 'acme', roles: ['user'] });
    const c = client({ signing: { keyId: 'ci-2', privateKey: stranger.privateKey } });
    expect(await c.listSandboxes()).toBeInstanceOf(Array);
    await adminClient().revokeSigningKey('ci-2');
    const err = await failure(c.listSandboxes());
    expect(err.code).toBe('UNAUTHENTICATED');
    expect(err.message).toBe('invalid request signature');
    expect((await failure(adminClient().revokeSigningKey('ci-2'))).code).toBe('NOT_FOUND');
    const listed = (await adminClient().listSigningKeys()).find((k) => k.id === 'ci-2');
    expect(listed?.revokedAtMs).toEqual(expect.any(Number));
  });
});
