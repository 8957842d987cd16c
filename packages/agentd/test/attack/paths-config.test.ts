/**
 * Config rules that work or refuse: `sandbox.allowed_paths_ro/rw` and `sandbox.deny_paths`
 * from the config reach every namespace sandbox (checked from inside a real one); a backend
 * that cannot enforce a path rule or a limit refuses it, the profile's default limits included,
 * naming the key that set it.
 */
import { chmod, mkdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createNamespaceBackend } from '../../src/isolation/namespace/backend.js';
import { NamespaceOptionsSchema } from '../../src/isolation/namespace/options.js';
import { BackendRegistry } from '../../src/isolation/registry.js';
import type { BackendProbe, IsolationBackend, SandboxHandle, SandboxSpec, StartOptions } from '../../src/isolation/types.js';
import { startTestDaemon, type TestDaemon } from '../daemon/harness.js';
import { hostDir, pathsSkip, refusal, removeDirs, shIn, startPathsDaemon, type PathsDaemon } from './paths-helpers.js';

describe.skipIf(pathsSkip !== undefined)('config path rules are applied to every namespace sandbox', () => {
  let p: PathsDaemon;
  let root: string;
  let ro: string;
  let rw: string;

  beforeAll(async () => {
    root = await hostDir('cfg');
    ro = join(root, 'ro');
    rw = join(root, 'rw');
    await mkdir(join(ro, 'private'), { recursive: true, mode: 0o755 });
    await mkdir(rw);
    await chmod(rw, 0o777);
    await writeFile(join(ro, 'tool.txt'), 'tool\n', { mode: 0o644 });
    await writeFile(join(ro, 'secret.txt'), 'CONFIG-DENIED\n', { mode: 0o644 });
    await writeFile(join(ro, 'private', 'key'), 'CONFIG-DENIED\n', { mode: 0o644 });
    p = await startPathsDaemon({
      sandbox: { host_path_roots: [root], allowed_paths_ro: [ro], allowed_paths_rw: [rw], deny_paths: [join(ro, 'secret.txt'), join(ro, 'private')] },
    });
  }, 60_000);
  afterAll(async () => {
    await p?.close();
    await removeDirs(root);
  });

  test('a plain sandbox of a user: the ro path reads and is EROFS, the rw path writes through to the host, the deny paths are masked', async () => {
    const r = await p.d.call('POST', '/v1/sandboxes', { headers: p.userB, body: {} });
    expect(r.status, r.text).toBe(201);
    const id = r.body.id as string;
    expect((await shIn(p, p.userB, id, `cat ${ro}/tool.txt`)).out).toBe('tool');
    expect((await shIn(p, p.userB, id, `echo x > ${ro}/new.txt`)).err).toContain('Read-only file system');
    expect((await shIn(p, p.userB, id, `echo from-sandbox > ${rw}/made.txt`)).code).toBe(0);
    expect(await readFile(join(rw, 'made.txt'), 'utf8')).toBe('from-sandbox\n');
    const secret = await shIn(p, p.userB, id, `cat ${ro}/secret.txt; ls ${ro}/private; cat ${ro}/private/key`);
    expect(secret.out).not.toContain('CONFIG-DENIED');
    expect(secret.err).toMatch(/Permission denied|No such file/);
    expect(secret.code).not.toBe(0);
  });

  test("the request's deny paths add to the config's", async () => {
    const r = await p.d.call('POST', '/v1/sandboxes', { headers: p.userB, body: { deny_paths: [join(ro, 'tool.txt')] } });
    expect(r.status, r.text).toBe(201);
    const id = r.body.id as string;
    // The config's ro folder is there, with both files masked: the request's and the config's.
    expect((await shIn(p, p.userB, id, `ls ${ro}`)).out.split('\n').sort()).toEqual(['private', 'secret.txt', 'tool.txt']);
    for (const f of ['tool.txt', 'secret.txt']) {
      const out = await shIn(p, p.userB, id, `cat ${ro}/${f}`);
      expect(out.out).toBe('');
      expect(out.err).toContain('Permission denied');
    }
  });
});

describe.skipIf(pathsSkip !== undefined)("the config's own host paths are checked with symlinks resolved when the daemon starts", () => {
  test('a config path under the root that is a symlink to /etc: the daemon does not start (INVALID_CONFIG naming the key)', async () => {
    const root = await hostDir('cfg-link');
    try {
      await symlink('/etc', join(root, 'tools'));
      await expect(startPathsDaemon({ sandbox: { host_path_roots: [root], allowed_paths_ro: [join(root, 'tools')] } })).rejects.toMatchObject({
        code: 'INVALID_CONFIG',
        details: { key: 'sandbox.allowed_paths_ro[0]', rule: 'outside-roots', resolved: '/etc' },
      });
    } finally {
      await removeDirs(root);
    }
  });
});

describe.skipIf(pathsSkip !== undefined)('host-direct refuses path rules it cannot enforce (never a silent 201)', () => {
  let d: TestDaemon;
  let plain: TestDaemon;

  beforeAll(async () => {
    // workstation with host-direct enabled (isolation.allow_host_direct) and host network granted; the config masks a path.
    // The CPU and disk defaults are 0 on purpose (host-direct cannot enforce them: LIMIT_UNSUPPORTED otherwise), so the path rules are the one reason left to refuse.
    const hostDirect = { network: 'host', limits: { cpus: 0, disk_bytes: 0 } };
    d = await startTestDaemon({ isolation: { allow_host_direct: true }, sandbox: { ...hostDirect, deny_paths: ['/etc/hostname'] } });
    plain = await startTestDaemon({ isolation: { allow_host_direct: true }, sandbox: hostDirect });
  }, 60_000);
  afterAll(async () => {
    await d?.close();
    await plain?.close();
  });

  test('config sandbox.deny_paths + host-direct -> 400 ISOLATION_REQUIRED naming the key', async () => {
    const r = refusal(await d.call('POST', '/v1/sandboxes', { body: { backend: 'host-direct', network: 'host' } }));
    expect(r).toMatchObject({ status: 400, code: 'ISOLATION_REQUIRED', rule: 'path_rules' });
    expect(r.message).toContain('sandbox.deny_paths (config)');
  });

  test('request deny_paths, allowed_paths or bind_mounts + host-direct -> 400 ISOLATION_REQUIRED', async () => {
    for (const body of [{ deny_paths: ['/etc/hostname'] }, { allowed_paths_ro: ['/usr/share'] }, { bind_mounts: [{ source: '/usr/share', target: '/data', readonly: true }] }]) {
      const r = refusal(await plain.call('POST', '/v1/sandboxes', { body: { backend: 'host-direct', network: 'host', ...body } }));
      expect(r, JSON.stringify(body)).toMatchObject({ status: 400, code: 'ISOLATION_REQUIRED', rule: 'path_rules' });
    }
    expect((await plain.call('GET', '/v1/sandboxes')).body.sandboxes).toEqual([]);
  });
});

/** The real namespace backend on a host whose memory controller is missing (the probe says so; everything else is real). */
class NoMemoryController implements IsolationBackend {
  readonly name = 'namespace';
  readonly isolation = 'kernel' as const;
  constructor(private readonly inner: IsolationBackend) {}
  async probe(): Promise<BackendProbe> {
    const probe = await this.inner.probe();
    return { ...probe, features: { ...probe.features, memoryLimit: { ok: false, detail: 'no memory controller on this host' } } };
  }
  start(spec: SandboxSpec, opts?: StartOptions): Promise<SandboxHandle> {
    return this.inner.start(spec, opts);
  }
}

describe.skipIf(pathsSkip !== undefined)('a limit the backend cannot enforce is refused, a default of the profile too', () => {
  let d: TestDaemon;
  const registry = new BackendRegistry().register('namespace', (ctx) => new NoMemoryController(createNamespaceBackend(ctx)), { optionsSchema: NamespaceOptionsSchema });
  // server's default limits include memory_bytes (2 GiB); allow-all is not allowed there, so use peer-creds over the socket.
  const server = { profile: 'server', pool: { enabled: false, min_warm: 0 }, auth: { providers: [{ type: 'peer-creds' }] } };

  beforeAll(async () => {
    // The daemon's own default at 0 (no limit, on purpose): it starts, and what a create brings is checked.
    d = await startTestDaemon({ ...server, sandbox: { limits: { memory_bytes: 0 } } }, { registry });
  }, 60_000);
  afterAll(async () => {
    await d?.close();
  });

  test("the config's default sandbox.limits.memory_bytes is not dropped: the daemon does not start (LIMIT_UNSUPPORTED naming the key)", async () => {
    await expect(startTestDaemon(server, { registry })).rejects.toMatchObject({
      code: 'LIMIT_UNSUPPORTED',
      message: expect.stringContaining('sandbox.limits.memory_bytes (no memory controller on this host)'),
      details: { limits: ['sandbox.limits.memory_bytes'] },
    });
  });

  test("another profile's default (the paranoid preset's 512 MiB) is not dropped either: create -> 400 LIMIT_UNSUPPORTED naming the preset", async () => {
    const r = refusal(await d.call('POST', '/v1/sandboxes', { unix: true, body: { profile: 'paranoid' } }));
    expect(r).toMatchObject({ status: 400, code: 'LIMIT_UNSUPPORTED' });
    expect(r.message).toContain("sandbox.limits.memory_bytes (profile 'paranoid' preset)");
    expect((await d.call('GET', '/v1/sandboxes', { unix: true })).body.sandboxes).toEqual([]);
  });

  test("the request's limits.memory_bytes -> 400 LIMIT_UNSUPPORTED naming the request field", async () => {
    const r = refusal(await d.call('POST', '/v1/sandboxes', { unix: true, body: { limits: { memory_bytes: 256 << 20 } } }));
    expect(r).toMatchObject({ status: 400, code: 'LIMIT_UNSUPPORTED' });
    expect(r.message).toContain('limits.memory_bytes (request)');
    expect((await d.call('GET', '/v1/sandboxes', { unix: true })).body.sandboxes).toEqual([]);
  });

  test('without a memory limit a sandbox is made and runs (everything else is enforced here)', async () => {
    const r = await d.call('POST', '/v1/sandboxes', { unix: true, body: {} });
    expect(r.status, r.text).toBe(201);
    expect((await d.call('DELETE', `/v1/sandboxes/${r.body.id}`, { unix: true })).status).toBe(204);
  });
});
