/**
 * Your project in a sandbox (issue 10, item 2): `-v` / `--mount-cwd` for `agentd run` and
 * `sandbox create` (REST `bind_mounts`, SDK `bindMounts`), owner-preserving writes through an
 * idmapped mount under a root daemon, the owner guard, the local-caller roots, and the staging
 * mounts' cleanup. Real bwrap, real daemons on port 0, root only (the owner mapping needs it).
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { chmod, chown, lstat, mkdir, mkdtemp, readdir, readFile, readlink, rename, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { AgentdClient } from '@agentd/sdk';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { ApiKeyService } from '../../src/auth/api-key.js';
import { parseConfig } from '../../src/config/parse.js';
import { openHostPath, closeHostPaths } from '../../src/isolation/host-paths.js';
import { stageOwnerMounts, stagingDir, unstageOwnerMounts } from '../../src/isolation/namespace/owner-mounts.js';
import { nativePaths } from '../../src/native-paths.js';
import { startDaemon } from '../../src/runtime/daemon.js';
import { CLI, cliBuilt } from '../cli/cli.js';
import { configToml, ensureBuilt, startDaemonChild, type DaemonChild } from '../daemon/child.js';
import { localCall, rawCall, startTestDaemon, type TestDaemon } from '../daemon/harness.js';

const ROOT = process.getuid?.() === 0;
const OWNER = 4321;
if (!ROOT) console.warn('mounts tests skipped: owner-preserving mounts need a root daemon (idmapped mounts)');

/** The CLI as a user runs it, from `cwd`. */
function cli(args: string[], cwd: string, env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { cwd, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => err.push(d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 90_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() });
    });
  });
}

/** Mount points of this host whose path contains `part`. */
function mountsContaining(part: string): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8').split('\n').map((l) => l.split(' ')[4] ?? '').filter((p) => p.includes(part));
}

/** The host pid of sandbox `id`'s agentd-init: pid 1 of its namespace, with /tmp/marker-ID in its root. */
async function initHostPid(id: string): Promise<number> {
  for (const p of await readdir('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    try {
      const status = await readFile(`/proc/${p}/status`, 'utf8');
      const nspid = /^NSpid:\s+(.*)$/m.exec(status)?.[1]?.trim().split(/\s+/) ?? [];
      if (nspid.length < 2 || nspid.at(-1) !== '1' || !(await readFile(`/proc/${p}/cmdline`, 'utf8')).startsWith('/.agentd/init')) continue;
      // The marker the test made in this sandbox's /tmp tells it from other sandboxes' inits.
      if (await lstat(`/proc/${p}/root/tmp/marker-${id}`).then(() => true, () => false)) return Number(p);
    } catch {
      // gone while we looked
    }
  }
  throw new Error(`no agentd-init found for ${id}`);
}

let base: string;
let proj: string;
let home: string;
let env: Record<string, string>;

beforeAll(async () => {
  if (!ROOT) return;
  if (!cliBuilt()) throw new Error('the CLI is not built: run `npm run build`');
  // Under /home: a default local mount root, as a user's checkout would be.
  base = await mkdtemp('/home/agentd-mounts-test-');
  await chmod(base, 0o755);
  proj = join(base, 'proj');
  await mkdir(proj);
  await writeFile(join(proj, 'Makefile'), 'test:\n\techo built > out.txt\n\t@echo tests passed\n');
  await writeFile(join(proj, 'secret.txt'), 'only the owner reads this\n', { mode: 0o600 });
  for (const p of [proj, join(proj, 'Makefile'), join(proj, 'secret.txt')]) await chown(p, OWNER, OWNER);
  home = await mkdtemp('/var/tmp/agentd-mounts-home-');
  await chmod(home, 0o711);
  env = { AGENTD_HOME: home, AGENTD_CONFIG: '' };
});

afterAll(async () => {
  if (!ROOT) return;
  await rm(base, { recursive: true, force: true });
  await rm(home, { recursive: true, force: true });
});

describe.skipIf(!ROOT)('agentd run --mount-cwd / -v (root, namespace backend)', { timeout: 180_000 }, () => {
  test('make test passes in a checkout owned by uid 4321; the file it writes is 4321\'s on the host; inside, the files are the sandbox user\'s', async () => {
    const r = await cli(['run', '--mount-cwd', '--', 'sh', '-c', 'make test && pwd && stat -c "%U %u %G" Makefile out.txt && cat secret.txt'], proj, env);
    expect([r.code, r.stdout]).toEqual([0, 'echo built > out.txt\ntests passed\n/workspace\nagent 1000 agent\nagent 1000 agent\nonly the owner reads this\n']);
    const st = await stat(join(proj, 'out.txt'));
    expect([st.uid, st.gid]).toEqual([OWNER, OWNER]);
    // Nothing stays mounted on the host once the run is over.
    expect(mountsContaining(home)).toEqual([]);
  });

  test('through the mount: chown to root, a setuid or setgid bit, a setuid file created with open(), are refused; files of other owners are nobody\'s', async () => {
    await writeFile(join(proj, 'roots.txt'), 'root\'s\n');
    const script = [
      'touch f',
      'chown 0 f 2>/dev/null && echo chown-root-ok || echo chown-root-refused',
      'chown 0:0 f 2>/dev/null && echo chgrp-root-ok || echo chgrp-root-refused',
      'chmod u+s f 2>/dev/null && echo setuid-ok || echo setuid-refused',
      'chmod g+s f 2>/dev/null && echo setgid-ok || echo setgid-refused',
      'python3 -c "import os,errno\ntry:\n os.open(\'s\', os.O_CREAT|os.O_WRONLY, 0o4755); print(\'open-setuid-ok\')\nexcept OSError as e: print(\'open-setuid\', errno.errorcode[e.errno])"',
      'stat -c "%U %u" roots.txt',
      'echo x >> roots.txt 2>/dev/null && echo write-root-file-ok || echo write-root-file-refused',
    ].join('\n');
    const r = await cli(['run', '--mount-cwd', '--', 'sh', '-c', script], proj, env);
    expect([r.code, r.stdout]).toEqual([0, 'chown-root-refused\nchgrp-root-refused\nsetuid-refused\nsetgid-refused\nopen-setuid EPERM\nnobody 65534\nwrite-root-file-refused\n']);
    const f = await stat(join(proj, 'f'));
    expect([f.uid, f.gid, f.mode & 0o7000]).toEqual([OWNER, OWNER, 0]);
    await expect(lstat(join(proj, 's'))).rejects.toMatchObject({ code: 'ENOENT' });
    expect(readFileSync(join(proj, 'roots.txt'), 'utf8')).toBe('root\'s\n');
    await rm(join(proj, 'f'));
    await rm(join(proj, 'roots.txt'));
  });

  test('-v HOST:SANDBOX:ro is read-only (EROFS); -v HOST:SANDBOX is writable; the command keeps its own cwd', async () => {
    const r = await cli(['run', '-v', `${proj}:/src:ro`, '-v', '.:/rw', '--', 'sh', '-c', 'pwd; touch /src/x 2>&1 | grep -o "Read-only file system"; touch /rw/y && echo rw-ok'], proj, env);
    expect([r.code, r.stdout]).toEqual([0, '/workspace\nRead-only file system\nrw-ok\n']);
    await expect(lstat(join(proj, 'x'))).rejects.toMatchObject({ code: 'ENOENT' });
    expect((await stat(join(proj, 'y'))).uid).toBe(OWNER);
    await rm(join(proj, 'y'));
  });

  test('the README line works as shown: agentd run --mount-cwd -- make test', async () => {
    const readme = readFileSync(new URL('../../../../README.md', import.meta.url), 'utf8');
    const line = readme.split('\n').find((l) => l.includes('agentd run --mount-cwd -- make test'));
    expect(line).toMatch(/^cd ~\/proj && ~\/agentd\/agentd run --mount-cwd -- make test /);
    const r = await cli(['run', '--mount-cwd', '--', 'make', 'test'], proj, env);
    expect([r.code, r.stdout]).toEqual([0, 'echo built > out.txt\ntests passed\n']);
    expect((await stat(join(proj, 'out.txt'))).uid).toBe(OWNER);
  });

  test('host-direct: --mount-cwd runs in the current folder; -v is refused with ISOLATION_REQUIRED', async () => {
    const hd = { ...env, AGENTD_NETWORK: 'host' };
    const ok = await cli(['run', '--backend', 'host-direct', '--mount-cwd', '--', 'pwd'], proj, hd);
    expect([ok.code, ok.stdout]).toEqual([0, `${proj}\n`]);
    const refused = await cli(['run', '--backend', 'host-direct', '-v', `${proj}:/x`, '--', 'true'], proj, hd);
    expect(refused.code).toBe(125);
    expect(refused.stderr).toMatch(/ISOLATION_REQUIRED: backend 'host-direct' cannot enforce path rules .*bind_mounts/);
  });

  test('a host path outside the allowed roots is refused with POLICY_DENIED (exit 125), naming the roots', async () => {
    const outside = await mkdtemp('/var/tmp/agentd-mounts-outside-');
    try {
      const r = await cli(['run', '-v', `${outside}:/data`, '--', 'true'], proj, env);
      expect(r.code).toBe(125);
      expect(r.stderr).toMatch(/POLICY_DENIED: bind_mounts\[0\]\.source: host path '.*' is not allowed: it is under none of sandbox\.host_path_roots \(with sandbox\.local_mount_roots for a local caller's bind mounts\): \/home, \/root/);
      expect(r.stderr).not.toMatch(/probing again/);
      // The refused start leaves no folder (nor a mounted disk volume) behind.
      expect(await readdir(join(home, 'run', 'sandboxes')).catch(() => [])).toEqual([]);
      expect(mountsContaining(home)).toEqual([]);
    } finally {
      await rm(outside, { recursive: true, force: true });
    }
  });
});

describe.skipIf(!ROOT)('owner-preserving staging (unit, real mounts)', { timeout: 60_000 }, () => {
  test('a symlink swap of the host path after the check does not mount the symlink\'s target: the pinned folder is mounted', async () => {
    const dir = await mkdtemp('/home/agentd-mounts-race-');
    const sandboxRoot = await mkdtemp('/var/tmp/agentd-mounts-root-');
    try {
      await mkdir(join(dir, 'checked'));
      await writeFile(join(dir, 'checked', 'which'), 'checked\n');
      await mkdir(join(dir, 'elsewhere'));
      await writeFile(join(dir, 'elsewhere', 'which'), 'elsewhere\n');
      const rules = { roots: ['/home'], protectedPaths: [], config: { allowedPathsRo: [], allowedPathsRw: [], denyPaths: [] } };
      const pinned = await openHostPath(join(dir, 'checked'), rules, 'bind_mounts[0].source');
      // The attack: between the check and the mount, the path becomes a symlink to another folder.
      await rename(join(dir, 'checked'), join(dir, 'moved'));
      await symlink(join(dir, 'elsewhere'), join(dir, 'checked'));
      const staged = await stageOwnerMounts(sandboxRoot, [{ pinned, readonly: true }], { uid: 1_999_000, gid: 1_999_000 });
      try {
        expect(readFileSync(join(stagingDir(sandboxRoot), '0', 'which'), 'utf8')).toBe('checked\n');
        expect(mountsContaining(stagingDir(sandboxRoot))).toEqual([join(stagingDir(sandboxRoot), '0')]);
      } finally {
        await Promise.all(staged.map((s) => s.handle.close()));
        await closeHostPaths([pinned]);
        await unstageOwnerMounts(sandboxRoot);
      }
      expect(mountsContaining(sandboxRoot)).toEqual([]);
      await expect(lstat(stagingDir(sandboxRoot))).rejects.toMatchObject({ code: 'ENOENT' });
      // The user's folder was detached, never emptied.
      expect(readFileSync(join(dir, 'moved', 'which'), 'utf8')).toBe('checked\n');
    } finally {
      await rm(dir, { recursive: true, force: true });
      await rm(sandboxRoot, { recursive: true, force: true });
    }
  });
});

describe.skipIf(!ROOT)('sandbox create -v over REST, the SDK and the CLI (a real daemon)', { timeout: 180_000 }, () => {
  let d: TestDaemon;
  let userKey: string;
  let adminKey: string;
  beforeAll(async () => {
    if (!ROOT) return;
    d = await startTestDaemon({ sandbox: { limits: { disk_bytes: 0 } }, auth: { providers: [{ type: 'local-token' }, { type: 'api-key' }] } });
    const keys = new ApiKeyService(d.daemon.store.apiKeys);
    userKey = keys.create({ subject: 'u', tenant: 'default', roles: ['user'] }).key;
    adminKey = keys.create({ subject: 'a', tenant: 'default', roles: ['admin'] }).key;
  });
  afterAll(async () => {
    await d?.close();
  });

  test('REST with the local token: bind_mounts under /home (a local mount root) is mounted owner-preserving; no staging mount stays on the host while it runs or after it is destroyed', async () => {
    const c = await d.call('POST', '/v1/sandboxes', { body: { bind_mounts: [{ source: proj, target: '/workspace', readonly: false }] } });
    expect(c.status, c.text).toBe(201);
    const id = c.body.id as string;
    const e = await d.call('POST', `/v1/sandboxes/${id}/exec`, { body: { command: 'echo rest > rest.txt && stat -c %U Makefile' } });
    expect([e.status, e.body.exit_code, e.body.stdout]).toEqual([200, 0, 'agent\n']);
    expect((await stat(join(proj, 'rest.txt'))).uid).toBe(OWNER);
    expect(mountsContaining(d.home)).toEqual([]);
    expect((await d.call('DELETE', `/v1/sandboxes/${id}`)).status).toBeLessThan(300);
    expect(mountsContaining(d.home)).toEqual([]);
    await rm(join(proj, 'rest.txt'));
  });

  test('under the owner guard (openat2 refused, the init falls back to openat) file API paths through magic links to the init\'s own pipes and sockets are refused (ELOOP, ENXIO), never opened, and the sandbox lives on', async () => {
    const c = await d.call('POST', '/v1/sandboxes', { body: { bind_mounts: [{ source: proj, target: '/workspace', readonly: true }] } });
    expect(c.status, c.text).toBe(201);
    const id = c.body.id as string;
    try {
      const ln = await d.call('POST', `/v1/sandboxes/${id}/exec`, { body: { command: `touch /tmp/marker-${id}; for n in $(seq 0 40); do ln -s /proc/self/fd/$n /tmp/fd$n; done` } });
      expect(ln.body.exit_code, ln.text).toBe(0);
      // A running command with stdin piped: the init holds pipes to it while it runs.
      const running = d.call('POST', `/v1/sandboxes/${id}/exec`, { body: { command: 'sleep 8', stdin: 'x' } });
      await new Promise((r) => setTimeout(r, 500));
      // What each of the init's descriptors is, seen from the host.
      const init = await initHostPid(id);
      const kinds = new Map<number, string>();
      for (const fd of await readdir(`/proc/${init}/fd`)) kinds.set(Number(fd), await readlink(`/proc/${init}/fd/${fd}`).catch(() => 'gone'));
      expect([...kinds.values()].some((k) => k.startsWith('pipe:'))).toBe(true);
      for (let n = 0; n <= 40; n++) {
        const kind = kinds.get(n) ?? 'none';
        for (const method of ['GET', 'PUT'] as const) {
          const r = await d.call(method, `/v1/sandboxes/${id}/files?path=/tmp/fd${n}`, method === 'PUT' ? { raw: Buffer.from('forged') } : {});
          // A path-less object is never opened: a pipe (the only kind a reopen would reach) gets ELOOP,
          // as openat2's RESOLVE_NO_MAGICLINKS says; sockets and anonymous inodes cannot be reopened at all.
          if (kind.startsWith('pipe:')) expect([n, kind, method, r.status, r.body.error?.details?.errno], r.text).toEqual([n, kind, method, 422, 'ELOOP']);
          else if (!kind.startsWith('/')) expect([n, kind, method, r.status >= 400], r.text).toEqual([n, kind, method, true]);
        }
      }
      await running;
      const e = await d.call('POST', `/v1/sandboxes/${id}/exec`, { body: { command: 'echo alive' } });
      expect([e.status, e.body.stdout]).toEqual([200, 'alive\n']);
    } finally {
      await d.call('DELETE', `/v1/sandboxes/${id}`);
    }
  });

  test('an API caller without the grant is refused: a user-role key (host_paths_admin_only), an admin key outside host_path_roots (local roots are not its)', async () => {
    const body = { bind_mounts: [{ source: proj, target: '/p', readonly: true }] };
    const user = await rawCall({ url: d.url }, 'POST', '/v1/sandboxes', { body, headers: { authorization: `Bearer ${userKey}` } });
    expect([user.status, user.body.error?.code, user.body.error?.details?.rule]).toEqual([403, 'POLICY_DENIED', 'host_paths_admin_only']);
    const admin = await rawCall({ url: d.url }, 'POST', '/v1/sandboxes', { body, headers: { authorization: `Bearer ${adminKey}` } });
    expect([admin.status, admin.body.error?.code, admin.body.error?.details?.rule]).toEqual([403, 'POLICY_DENIED', 'outside-roots']);
  });

  test('a fork keeps the local grant only for a local forker: a remote admin forking a local sandbox\'s /home mount is refused (outside-roots)', async () => {
    const c = await d.call('POST', '/v1/sandboxes', { body: { bind_mounts: [{ source: proj, target: '/p', readonly: true }] } });
    expect(c.status, c.text).toBe(201);
    const id = c.body.id as string;
    try {
      const remote = await rawCall({ url: d.url }, 'POST', `/v1/sandboxes/${id}/fork`, { body: {}, headers: { authorization: `Bearer ${adminKey}` } });
      expect([remote.status, remote.body.error?.code, remote.body.error?.details?.rule]).toEqual([403, 'POLICY_DENIED', 'outside-roots']);
      const local = await d.call('POST', `/v1/sandboxes/${id}/fork`, { body: {} });
      expect(local.status, local.text).toBe(201);
      const e = await d.call('POST', `/v1/sandboxes/${local.body.id as string}/exec`, { body: { command: 'ls /p/Makefile' } });
      expect(e.body.stdout).toBe('/p/Makefile\n');
      await d.call('DELETE', `/v1/sandboxes/${local.body.id as string}`);
    } finally {
      await d.call('DELETE', `/v1/sandboxes/${id}`);
    }
  });

  test('the SDK: bindMounts, read-only enforced', async () => {
    const token = readFileSync(join(d.home, 'agentd.token'), 'utf8').trim();
    const client = new AgentdClient({ baseUrl: d.url, apiKey: token });
    const s = await client.createSandbox({ bindMounts: [{ source: proj, target: '/src', readonly: true }] });
    try {
      const r = await client.exec(s.id, ['sh', '-c', 'cat /src/secret.txt; touch /src/z 2>&1 | grep -o "Read-only file system"']);
      expect([r.exitCode, r.stdout]).toEqual([0, 'only the owner reads this\nRead-only file system\n']);
    } finally {
      await client.destroySandbox(s.id);
    }
  });

  test('the CLI: agentd sandbox create --mount-cwd sends bind_mounts and the workdir', async () => {
    const r = await cli(['sandbox', 'create', '--json', '--mount-cwd', '--url', d.url], proj, { AGENTD_HOME: d.home, AGENTD_CONFIG: '' });
    expect(r.code, r.stderr).toBe(0);
    const id = JSON.parse(r.stdout).id as string;
    const e = await d.call('POST', `/v1/sandboxes/${id}/exec`, { body: { command: 'pwd; ls Makefile' } });
    expect(e.body.stdout).toBe('/workspace\nMakefile\n');
    await d.call('DELETE', `/v1/sandboxes/${id}`);
  });
});

describe.skipIf(!ROOT)('recovery: a staging mount left by a daemon killed mid-start is detached at the next start', { timeout: 120_000 }, () => {
  test('the next daemon on the home detaches it and leaves the user\'s folder intact', async () => {
    const d = await startTestDaemon({ sandbox: { limits: { disk_bytes: 0 } } });
    const dhome = d.home;
    const c = await d.call('POST', '/v1/sandboxes', { body: {} });
    const id = c.body.id as string;
    expect(c.status).toBe(201);
    // A daemon that stops stops its sandboxes: nothing of theirs stays mounted.
    await d.daemon.close();
    expect(mountsContaining(dhome)).toEqual([]);
    // What a daemon SIGKILLed between staging and detaching leaves: a live idmapped mount in the sandbox's folder.
    const root = join(dhome, 'sandboxes', id);
    const pinned = await openHostPath(proj, { roots: ['/home'], protectedPaths: [], config: { allowedPathsRo: [], allowedPathsRw: [], denyPaths: [] } }, 'x');
    const staged = await stageOwnerMounts(root, [{ pinned, readonly: false }], { uid: 1_999_001, gid: 1_999_001 });
    await Promise.all(staged.map((s) => s.handle.close()));
    await closeHostPaths([pinned]);
    expect(mountsContaining(root)).toHaveLength(1);
    const config = parseConfig({
      home: dhome,
      sandbox: { limits: { disk_bytes: 0 } },
      isolation: { backend: 'namespace' },
      adapters: { http: { listen: '127.0.0.1:0' }, unix: { path: join(dhome, 'agentd.sock'), mode: '0660' } },
    }, {}, {});
    const again = await startDaemon(config, { sweepIntervalMs: 100, stopGraceMs: 1000 });
    try {
      expect(mountsContaining(root)).toEqual([]);
      expect(await readdir(proj)).toContain('Makefile');
      await expect(lstat(stagingDir(root))).rejects.toMatchObject({ code: 'ENOENT' });
    } finally {
      await again.close();
      await rm(dhome, { recursive: true, force: true });
    }
  });
});

describe.skipIf(!ROOT)('a SIGKILLed daemon (a child process)', { timeout: 180_000 }, () => {
  test('its sandbox\'s mount left nothing mounted; the next daemon starts the sandbox again with its owner-preserving mount, and nothing stays staged', async () => {
    ensureBuilt();
    const dhome = await mkdtemp('/var/tmp/agentd-mounts-kill-');
    await chmod(dhome, 0o711);
    const file = join(dhome, 'agentd.toml');
    await writeFile(file, configToml(dhome, `agentd-test-mounts-${process.pid}`, '\n[sandbox.limits]\ndisk_bytes = 0\n'));
    let first: DaemonChild | undefined;
    let second: DaemonChild | undefined;
    try {
      first = await startDaemonChild(file);
      const call = localCall(dhome, first.address);
      const c = await call('POST', '/v1/sandboxes', { body: { bind_mounts: [{ source: proj, target: '/workspace', readonly: false }] } });
      expect(c.status, c.text).toBe(201);
      const id = c.body.id as string;
      first.child.kill('SIGKILL');
      await first.exited;
      expect(mountsContaining(dhome)).toEqual([]);
      second = await startDaemonChild(file);
      const call2 = localCall(dhome, second.address);
      expect((await call2('GET', `/v1/sandboxes/${id}`)).body.state).toBe('stopped');
      expect((await call2('POST', `/v1/sandboxes/${id}/start`)).status).toBe(200);
      const e = await call2('POST', `/v1/sandboxes/${id}/exec`, { body: { command: 'echo again > again.txt && stat -c %U Makefile' } });
      expect([e.body.exit_code, e.body.stdout]).toEqual([0, 'agent\n']);
      expect((await stat(join(proj, 'again.txt'))).uid).toBe(OWNER);
      expect(mountsContaining(dhome)).toEqual([]);
      await call2('DELETE', `/v1/sandboxes/${id}`);
    } finally {
      first?.child.kill('SIGKILL');
      second?.child.kill('SIGTERM');
      if (second !== undefined) await second.exited;
      await rm(join(proj, 'again.txt'), { force: true });
      await rm(dhome, { recursive: true, force: true });
    }
  });
});

test('the native helper is built', () => {
  expect(readFileSync(nativePaths().idmap).length).toBeGreaterThan(0);
});
