/**
 * Attacks on a podman sandbox, each asserted to fail for the right reason: host secrets, the
 * host's loopback from network none, mounting as root inside, host paths, deny paths.
 */
import { spawnSync } from 'node:child_process';
import { statSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { createServer, type Server } from 'node:net';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { AgentdError } from '../../src/core/errors.js';
import { harness, noteSkip, sh, type Harness } from './fixture.js';

describe.skipIf(noteSkip('security'))('podman sandbox attacks', () => {
  let h: Harness;
  let server: Server;
  let port = 0;
  beforeAll(async () => {
    h = await harness();
    server = createServer((c) => c.end('host-loopback\n'));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as { port: number }).port;
  }, 120_000);
  afterAll(async () => {
    server?.close();
    await h?.close();
  }, 120_000);

  test("the agent user cannot read the host's /etc/shadow (EACCES: it is not host root, nor in group shadow)", async () => {
    const s = await h.start();
    const r = await sh(s, 'cat /etc/shadow 2>&1; echo rc=$?');
    expect(r.stdout.toString()).toMatch(/Permission denied\s+rc=1/);
    await s.destroy();
  }, 60_000);

  test("network none: the host's loopback server is unreachable (ECONNREFUSED on the sandbox's own lo)", async () => {
    const s = await h.start();
    const r = await sh(s, `python3 -c "import socket; s = socket.socket(); s.settimeout(3); s.connect(('127.0.0.1', ${port})); print(s.recv(100))" 2>&1 | tail -1`);
    expect(r.stdout.toString()).toMatch(/ConnectionRefusedError/);
    await s.destroy();
  }, 60_000);

  test('the agent user cannot mount, nor make a user namespace to get mount rights (EPERM)', async () => {
    const s = await h.start();
    const r = await sh(s, 'mkdir -p /tmp/m; mount -t tmpfs x /tmp/m 2>&1; echo rc=$?; unshare -Urm true 2>&1; echo rc2=$?');
    const out = r.stdout.toString();
    expect(out).toMatch(/rc=(1|32)/);
    expect(out).toMatch(/Operation not permitted[\s\S]*rc2=1/);
    await s.destroy();
  }, 60_000);

  test("the backend's podman service (root's API) is not reachable by another uid: its socket is 0600 (EACCES)", async () => {
    const api = await h.backend.apiFor(h.home);
    const st = statSync(api.socketPath);
    expect(st.mode & 0o777).toBe(0o600);
    expect(st.uid).toBe(0);
    const script = `const s = require('net').connect(${JSON.stringify(api.socketPath)}); s.on('connect', () => { console.log('connected'); process.exit(0); }); s.on('error', (e) => { console.log(e.code); process.exit(0); });`;
    const r = spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', '--', process.execPath, '-e', script], { encoding: 'utf8', timeout: 20_000 });
    expect(r.stdout.trim()).toBe('EACCES');
  }, 60_000);

  test('host paths are refused (INVALID_ARGUMENT), never mounted unchecked', async () => {
    const err = await h.start({ allowedPathsRo: ['/var/tmp'] }).then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(AgentdError);
    expect((err as AgentdError).code).toBe('INVALID_ARGUMENT');
    const err2 = await h.start({ bindMounts: [{ source: '/var/tmp', target: '/mnt', readonly: false }] }).then(() => undefined, (e: unknown) => e);
    expect((err2 as AgentdError).code).toBe('INVALID_ARGUMENT');
    const err3 = await h.start({ limits: { diskBytes: 1 << 30 } }).then(() => undefined, (e: unknown) => e);
    expect((err3 as AgentdError).code).toBe('LIMIT_UNSUPPORTED');
  }, 60_000);

  test('deny paths: a host file reads as empty, a folder (even one made later) cannot be listed (EACCES)', async () => {
    const s = await h.start({ denyPaths: ['/etc/os-release', '/workspace/secret'] });
    const r = await sh(s, 'wc -c < /etc/os-release; ls /workspace/secret 2>&1; echo rc=$?; touch /workspace/secret/x 2>&1; echo rc2=$?');
    const out = r.stdout.toString();
    expect(out).toMatch(/^0\n/);
    expect(out).toMatch(/Permission denied\s+rc=2/);
    expect(out).toMatch(/(Permission denied|Read-only file system)\s+rc2=1/);
    await s.destroy();
  }, 60_000);
});

describe.skipIf(noteSkip('home reachability'))('podman: a home others cannot search', () => {
  test('is refused with BACKEND_UNAVAILABLE naming the folder, before any container is made', async () => {
    const outer = await mkdtemp(join('/var/tmp', 'agentd-podman-closed-'));
    const home = join(outer, 'home');
    await mkdir(home, { mode: 0o711 });
    await chmod(outer, 0o700);
    const h = await harness(home);
    try {
      const err = await h.start().then(() => undefined, (e: unknown) => e);
      expect(err).toBeInstanceOf(AgentdError);
      expect((err as AgentdError).code).toBe('BACKEND_UNAVAILABLE');
      expect((err as AgentdError).message).toContain(outer);
    } finally {
      await h.close();
      await rm(outer, { recursive: true, force: true });
    }
  }, 120_000);
});
