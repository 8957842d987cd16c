/**
 * `agentd signing-keys` and `--sign-key` against a real daemon whose only auth provider is
 * `signature`: keygen writes a key pair (private key 0600, never overwritten), the admin
 * key named in the config registers a client key, and client commands signed with it work
 * until it is revoked. The commands run in-process (harness.ts) with captured streams.
 */
import { readFileSync, statSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { e2eSkipReason } from '../../../sdk/test/helpers/daemon.js';
import { startTestDaemon, type TestDaemon } from '../daemon/harness.js';
import { runCli } from './harness.js';

const skipReason = e2eSkipReason();
if (skipReason !== undefined) console.log(`skipping signing-key CLI tests: ${skipReason}`);

describe.skipIf(skipReason !== undefined)('signing keys from the CLI (signature-only daemon)', () => {
  let dir: string;
  let d: TestDaemon;
  const paths = (name: string) => ({ key: join(dir, 'keys', `${name}.key`), pub: join(dir, 'keys', `${name}.pub`) });
  const asAdmin = () => ['--url', d.url, '--sign-key', paths('admin').key, '--key-id', 'ops'];
  const signedEnv = () => ({ AGENTD_URL: d.url, AGENTD_SIGN_KEY: paths('user').key, AGENTD_SIGN_KEY_ID: 'ci-cli' });

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'agentd-cli-sign-'));
    const made = await runCli(['signing-keys', 'keygen', '--out', join(dir, 'keys'), '--name', 'admin']);
    expect(made.exitCode, made.stderr).toBe(0);
    d = await startTestDaemon({
      pool: { enabled: false, min_warm: 0 },
      auth: { providers: [{ type: 'signature', window_s: 60, keys: { ops: { public_key: readFileSync(paths('admin').pub, 'utf8'), subject: 'ops', roles: ['admin'] } } }] },
    });
  }, 60_000);

  afterAll(async () => {
    await d?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('keygen: a PKCS#8 private key readable by its owner only, an SPKI public key; an existing key is never overwritten', async () => {
    const run = await runCli(['signing-keys', 'keygen', '--out', join(dir, 'keys'), '--name', 'user']);
    expect(run.exitCode, run.stderr).toBe(0);
    const { key, pub } = paths('user');
    expect(run.stdout.toString()).toBe(`${pub}\n`);
    expect(statSync(key).mode & 0o777).toBe(0o600);
    expect(statSync(join(dir, 'keys')).mode & 0o777).toBe(0o700);
    expect(readFileSync(key, 'utf8')).toMatch(/^-----BEGIN PRIVATE KEY-----\n/);
    expect(readFileSync(pub, 'utf8')).toMatch(/^-----BEGIN PUBLIC KEY-----\n/);
    const before = readFileSync(key, 'utf8');
    const again = await runCli(['signing-keys', 'keygen', '--out', join(dir, 'keys'), '--name', 'user']);
    expect(again.exitCode).toBe(1);
    expect(again.stderr).toMatch(/^error: INVALID_ARGUMENT: .*user\.key exists/);
    expect(readFileSync(key, 'utf8')).toBe(before);
  });

  test('register with the admin key, then a signed `sandbox ls` works; unsigned and half-configured calls are refused', async () => {
    const unsigned = await runCli(['sandbox', 'ls', '--url', d.url]);
    expect(unsigned.exitCode).toBe(1);
    expect(unsigned.stderr).toMatch(/^error: UNAUTHENTICATED: /);

    const privateAsPublic = await runCli(['signing-keys', 'register', '--public-key', paths('user').key, '--id', 'x', '--subject', 'ci', '--tenant', 'default', ...asAdmin()]);
    expect(privateAsPublic.exitCode).toBe(1);
    expect(privateAsPublic.stderr).toMatch(/holds a private key/);

    const reg = await runCli(['signing-keys', 'register', '--public-key', paths('user').pub, '--id', 'ci-cli', '--subject', 'ci', '--tenant', 'default', '--role', 'user', ...asAdmin()]);
    expect(reg.exitCode, reg.stderr).toBe(0);
    expect(reg.stdout.toString()).toBe('ci-cli\n');

    const created = await runCli(['sandbox', 'create', '--label', 'by=cli-signed'], { env: signedEnv() });
    expect(created.exitCode, created.stderr).toBe(0);
    const id = created.stdout.toString().trim();
    try {
      const ls = await runCli(['sandbox', 'ls', '--json'], { env: signedEnv() });
      expect(ls.exitCode, ls.stderr).toBe(0);
      expect((JSON.parse(ls.stdout.toString()) as { sandboxes: Array<{ id: string }> }).sandboxes.map((s) => s.id)).toEqual([id]);
      // The flags do the same as the environment.
      const viaFlags = await runCli(['sandbox', 'ls', '--url', d.url, '--sign-key', paths('user').key, '--key-id', 'ci-cli']);
      expect(viaFlags.exitCode, viaFlags.stderr).toBe(0);
      expect(viaFlags.stdout.toString()).toContain(id);
    } finally {
      await runCli(['sandbox', 'rm', id], { env: signedEnv() });
    }

    const noKeyId = await runCli(['sandbox', 'ls', '--url', d.url, '--sign-key', paths('user').key]);
    expect(noKeyId.stderr).toMatch(/^error: INVALID_ARGUMENT: signing needs the key id/);
    const both = await runCli(['sandbox', 'ls'], { env: { ...signedEnv(), AGENTD_API_KEY: 'agd_x' } });
    expect(both.stderr).toMatch(/^error: INVALID_ARGUMENT: AGENTD_API_KEY and AGENTD_SIGN_KEY are both set/);
    const wrongId = await runCli(['sandbox', 'ls'], { env: { ...signedEnv(), AGENTD_SIGN_KEY_ID: 'ops' } });
    expect(wrongId.exitCode).toBe(1);
    expect(wrongId.stderr).toBe('error: UNAUTHENTICATED: invalid request signature\n');
  });

  test('ls shows the key to admins only; after revoke, requests it signs are refused', async () => {
    const userLs = await runCli(['signing-keys', 'ls'], { env: signedEnv() });
    expect(userLs.stderr).toMatch(/^error: PERMISSION_DENIED: /);
    const ls = await runCli(['signing-keys', 'ls', ...asAdmin()]);
    expect(ls.exitCode, ls.stderr).toBe(0);
    expect(ls.stdout.toString()).toMatch(/^ID\s+SUBJECT\s+TENANT\s+ROLES\s+CREATED\s+REVOKED\n/);
    expect(ls.stdout.toString()).toMatch(/\nci-cli\s+ci\s+default\s+user\s+\S+.*\s-\n/);

    const revoked = await runCli(['signing-keys', 'revoke', 'ci-cli', ...asAdmin()]);
    expect(revoked.exitCode, revoked.stderr).toBe(0);
    const after = await runCli(['sandbox', 'ls'], { env: signedEnv() });
    expect(after.exitCode).toBe(1);
    expect(after.stderr).toBe('error: UNAUTHENTICATED: invalid request signature\n');
    const listed = JSON.parse((await runCli(['signing-keys', 'ls', '--json', ...asAdmin()])).stdout.toString()) as { keys: Array<{ id: string; revoked_at_ms: number | null }> };
    expect(listed.keys.find((k) => k.id === 'ci-cli')?.revoked_at_ms).toEqual(expect.any(Number));
  });
});
