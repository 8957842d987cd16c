/**
 * Who may mount host paths, and which: a user-role key of tenant B aims bind_mounts and
 * allowed_paths_* at tenant A's workspace, the agentd home, /proc and /; an admin aims them at
 * the same places and through symlinks; an admin inside the operator's roots gets its mount.
 * The operator's root here is the whole system temp folder, which also holds the daemon's home
 * and every sandbox folder: only the validator's own rules keep those out.
 */
import { chmod, mkdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { sandboxDirs } from '../../src/isolation/dirs.js';
import type { SandboxSpec } from '../../src/isolation/types.js';
import { hostDir, pathsSkip, refusal, removeDirs, shIn, startPathsDaemon, type PathsDaemon } from './paths-helpers.js';

describe.skipIf(pathsSkip !== undefined)('host paths: only from an admin, only under the roots, never the daemon or another sandbox', () => {
  let p: PathsDaemon;
  let work: string;
  let aId: string;
  let aWorkspace: string;

  beforeAll(async () => {
    p = await startPathsDaemon({ sandbox: { host_path_roots: [tmpdir()] } });
    work = await hostDir('grant');
    const a = await p.d.call('POST', '/v1/sandboxes', { headers: p.userA, body: {} });
    expect(a.status).toBe(201);
    aId = a.body.id as string;
    // Its workspace's real host folder, as the daemon records it: inside the sandbox's disk volume
    // (sandboxes/<id>/volume/workspace) under the server's default disk limit.
    aWorkspace = (p.d.daemon.store.sandboxes.get(aId)?.spec as SandboxSpec).dirs.workspace;
    expect(aWorkspace).toBe(sandboxDirs(p.d.home, aId, { volume: true }).workspace);
    expect((await shIn(p, p.userA, aId, 'echo a-secret > /workspace/secret.txt')).code).toBe(0);
    // The attacks below aim at the folder that really holds tenant A's files.
    expect(await readFile(join(aWorkspace, 'secret.txt'), 'utf8')).toBe('a-secret\n');
  }, 60_000);
  afterAll(async () => {
    await p?.close();
    await removeDirs(work);
  });

  const create = (headers: Record<string, string>, body: Record<string, unknown>) => p.d.call('POST', '/v1/sandboxes', { headers, body });

  test("a user-role key of tenant B cannot give host paths at all: tenant A's workspace, the home, /proc, / -> 403 POLICY_DENIED (host_paths_admin_only)", async () => {
    const attempts: Array<Record<string, unknown>> = [
      { bind_mounts: [{ source: aWorkspace, target: '/workspace/a', readonly: false }] },
      { allowed_paths_rw: [aWorkspace] },
      { allowed_paths_ro: [p.d.home] },
      { bind_mounts: [{ source: '/proc', target: '/workspace/hostproc', readonly: true }] },
      { allowed_paths_ro: ['/'] },
      { allowed_paths_ro: [work] },
    ];
    for (const body of attempts) {
      const r = refusal(await create(p.userB, body));
      expect(r, JSON.stringify(body)).toMatchObject({ status: 403, code: 'POLICY_DENIED', rule: 'host_paths_admin_only' });
    }
    // Through a session too.
    const s = refusal(await p.d.call('POST', '/v1/sessions', { headers: p.userB, body: { sandbox: { bind_mounts: [{ source: aWorkspace, target: '/workspace/a', readonly: false }] } } }));
    expect(s).toMatchObject({ status: 403, code: 'POLICY_DENIED', rule: 'host_paths_admin_only' });
    // Tenant B got no sandbox from any of this.
    expect((await p.d.call('GET', '/v1/sandboxes', { headers: p.userB })).body.sandboxes).toEqual([]);
    expect(await readFile(join(aWorkspace, 'secret.txt'), 'utf8')).toBe('a-secret\n');
  });

  test('deny_paths only hides more: a user may send it', async () => {
    const r = await create(p.userB, { deny_paths: ['/etc/hostname'] });
    expect(r.status).toBe(201);
    const out = await shIn(p, p.userB, r.body.id as string, 'cat /etc/hostname; echo "rc=$?"');
    expect(out.out).toBe('rc=1');
    expect(out.err).toContain('Permission denied');
    await p.d.call('DELETE', `/v1/sandboxes/${r.body.id as string}`, { headers: p.userB });
  });

  test("an admin cannot mount another sandbox's folder, the agentd home, /, /proc, /sys or /dev, even under a root", async () => {
    const cases: Array<[string, string]> = [
      [aWorkspace, 'protected'],
      [dirname(aWorkspace), 'protected'],
      [sandboxDirs(p.d.home, aId).root, 'protected'],
      [p.d.home, 'protected'],
      [join(p.d.home, 'state.db'), 'protected'],
      // An ancestor of the home would show it too.
      [tmpdir(), 'protected'],
      ['/', 'root'],
      ['/proc', 'system'],
      ['/proc/1/root', 'system'],
      ['/sys/fs/cgroup', 'system'],
      ['/dev/shm', 'system'],
    ];
    for (const [source, rule] of cases) {
      const bind = refusal(await create(p.admin, { bind_mounts: [{ source, target: '/workspace/x', readonly: true }] }));
      expect(bind, `bind_mounts ${source} -> ${bind.message}`).toMatchObject({ status: 403, code: 'POLICY_DENIED', rule });
      expect(bind.message).toContain(source);
      // As an allowed path (same path inside) it is refused too; where that path is one of the
      // sandbox's own (/, /proc, /dev, /tmp) the target rule may answer first.
      const allowed = refusal(await create(p.admin, { allowed_paths_ro: [source] }));
      if (allowed.status === 400) expect(allowed.message).toMatch(/would replace or hide the sandbox's own/);
      else expect(allowed, `allowed_paths_ro ${source} -> ${allowed.message}`).toMatchObject({ status: 403, code: 'POLICY_DENIED', rule });
    }
  });

  test('symlinks are resolved before the check: a link under the root that points outside it, or at the home, is refused', async () => {
    const toEtc = join(work, 'to-etc');
    const toHome = join(work, 'to-home');
    const toA = join(work, 'to-a');
    await symlink('/etc', toEtc);
    await symlink(p.d.home, toHome);
    await symlink(aWorkspace, toA);
    const etc = refusal(await create(p.admin, { allowed_paths_ro: [toEtc] }));
    expect(etc).toMatchObject({ status: 403, code: 'POLICY_DENIED', rule: 'outside-roots' });
    expect(etc.message).toContain("resolves to '/etc'");
    expect(refusal(await create(p.admin, { bind_mounts: [{ source: toHome, target: '/workspace/h', readonly: true }] }))).toMatchObject({ status: 403, rule: 'protected' });
    expect(refusal(await create(p.admin, { allowed_paths_rw: [toA] }))).toMatchObject({ status: 403, rule: 'protected' });
  });

  test('an admin within the roots gets its mounts: read-only is EROFS, read-write reaches the host folder', async () => {
    const ro = join(work, 'ro');
    const rw = join(work, 'rw');
    await mkdir(ro, { mode: 0o755 });
    await mkdir(rw);
    await writeFile(join(ro, 'in.txt'), 'inside\n', { mode: 0o644 });
    // The sandbox's host uid must be able to write there.
    await chmod(rw, 0o777);
    const r = await create(p.admin, { bind_mounts: [{ source: ro, target: '/workspace/data', readonly: true }], allowed_paths_rw: [rw] });
    expect(r.status, r.text).toBe(201);
    const id = r.body.id as string;
    expect((await shIn(p, p.admin, id, 'cat /workspace/data/in.txt')).out).toBe('inside');
    const write = await shIn(p, p.admin, id, 'echo x > /workspace/data/in.txt');
    expect(write.err).toContain('Read-only file system');
    expect((await shIn(p, p.admin, id, `echo made > ${rw}/made`)).code).toBe(0);
    expect(await readFile(join(rw, 'made'), 'utf8')).toBe('made\n');
    await p.d.call('DELETE', `/v1/sandboxes/${id}`, { headers: p.admin });
  });
});
