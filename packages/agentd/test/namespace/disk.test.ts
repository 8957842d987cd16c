/**
 * Disk filling against a namespace sandbox with a disk limit (`limits.diskBytes`): its
 * workspace, home and tmp live in its own loop-mounted ext4 image, so filling them fails with
 * ENOSPC inside the sandbox while the host file system under AGENTD_HOME keeps its space.
 * Root only (mount, loop devices).
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, mkdtemp, readFile, rm, statfs } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { AgentdError } from '../../src/core/errors.js';
import { findVolumeTools, isMountPoint, volumePaths } from '../../src/isolation/disk/volume.js';
import { sandboxDirs } from '../../src/isolation/dirs.js';
import { HostDirectBackend } from '../../src/isolation/host-direct/backend.js';
import { createSnapshot, forkFromSnapshot } from '../../src/isolation/snapshot/snapshot.js';
import { silentLogger } from '../../src/util/logger.js';
import { startTestDaemon, type TestDaemon } from '../daemon/harness.js';
import { buildDaemonSources } from './child-build.js';
import { harness, native, noteSkip, sh, skipReason, specFor, type Harness } from './fixture.js';

const MiB = 1024 * 1024;
const LIMIT = 16 * MiB;

const diskReason = await (async () => {
  if (skipReason !== undefined) return skipReason;
  const { problem } = await findVolumeTools();
  return problem;
})();

/** Mount points in this process's mount namespace (field 5 of /proc/self/mountinfo, octal escapes decoded). */
async function mountPoints(): Promise<string[]> {
  const text = await readFile('/proc/self/mountinfo', 'utf8');
  return text
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => (l.split(' ')[4] ?? '').replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(parseInt(o, 8))));
}

async function freeBytes(path: string): Promise<number> {
  const s = await statfs(path);
  return s.bavail * s.bsize;
}

function newId(): string {
  return `d-${randomBytes(5).toString('hex')}`;
}

describe.skipIf(noteSkip('disk limit', diskReason))('namespace sandbox: disk limit (root)', () => {
  let h: Harness;

  beforeAll(async () => {
    h = await harness();
  });

  afterAll(async () => {
    await h?.close();
  });

  const startLimited = (id = newId()) => h.start({ id, dirs: sandboxDirs(h.home, id, { volume: true }), limits: { diskBytes: LIMIT } });

  test('disk filling stops at the limit with ENOSPC; the host keeps its space; earlier files are intact; destroy leaves no mount and no image', async () => {
    const sbx = await startLimited();
    const { image, mountPoint } = volumePaths(sbx.spec.dirs.root);
    expect(await mountPoints()).toContain(mountPoint);
    expect(await isMountPoint(mountPoint)).toBe(true);

    const kept = await sh(sbx, 'head -c 262144 /dev/urandom > /workspace/keep && sha256sum /workspace/keep | cut -d" " -f1');
    expect(kept.code).toBe(0);
    expect(kept.out).toMatch(/^[0-9a-f]{64}$/);

    const attemptedBytes = 256 * MiB;
    const before = await freeBytes(h.home);
    const fill = await sh(sbx, `dd if=/dev/zero of=/workspace/fill bs=1M count=${attemptedBytes / MiB}; echo "exit=$?"`);
    const after = await freeBytes(h.home);
    expect(fill.err).toContain('No space left on device');
    expect(fill.out).not.toBe('exit=0');
    const written = Number((await sh(sbx, 'stat -c %s /workspace/fill')).out);
    expect(written).toBeGreaterThan(0);
    expect(written).toBeLessThan(LIMIT);
    // The image can take at most its own size from the host; other tests may write meanwhile.
    expect(before - after).toBeLessThan(attemptedBytes / 4);

    // Earlier files are intact, and the sandbox is still usable once it frees space.
    expect((await sh(sbx, 'sha256sum /workspace/keep | cut -d" " -f1')).out).toBe(kept.out);
    expect((await sh(sbx, 'rm /workspace/fill && echo again > /tmp/t && cat /tmp/t')).out).toBe('again');

    await sbx.destroy();
    expect(sbx.isAlive()).toBe(false);
    expect((await mountPoints()).filter((m) => m.startsWith(sbx.spec.dirs.root))).toEqual([]);
    expect(existsSync(image)).toBe(false);
    expect(existsSync(sbx.spec.dirs.root)).toBe(false);
  });

  test('home and tmp share the limit; the volume is mounted nosuid,nodev', async () => {
    const sbx = await startLimited();
    const home = await sh(sbx, 'dd if=/dev/zero of=/home/agent/big bs=1M count=64');
    expect(home.err).toContain('No space left on device');
    const tmp = await sh(sbx, 'dd if=/dev/zero of=/tmp/more bs=1M count=1');
    expect(tmp.err).toContain('No space left on device');
    expect(tmp.code).not.toBe(0);
    const line = (await readFile('/proc/self/mountinfo', 'utf8')).split('\n').find((l) => l.split(' ')[4] === volumePaths(sbx.spec.dirs.root).mountPoint);
    expect(line?.split(' ')[5]?.split(',')).toEqual(expect.arrayContaining(['nosuid', 'nodev']));
  });

  test('a stop keeping the files unmounts the volume; start mounts the existing image again with the files kept', async () => {
    const id = newId();
    const first = await startLimited(id);
    expect((await sh(first, 'echo persisted > /workspace/p && echo ok')).out).toBe('ok');
    await first.destroy({ keepFiles: true });
    const { image, mountPoint } = volumePaths(first.spec.dirs.root);
    // Stopped with its files kept: the volume is unmounted, the image stays (as after a reboot).
    expect(await isMountPoint(mountPoint)).toBe(false);
    expect(existsSync(image)).toBe(true);
    const again = await startLimited(id);
    expect(await isMountPoint(mountPoint)).toBe(true);
    expect((await sh(again, 'cat /workspace/p')).out).toBe('persisted');
  });

  test('a fork from a snapshot gets its own volume holding the snapshot files', async () => {
    const src = await startLimited();
    expect((await sh(src, 'echo forked > /workspace/f && mkdir -p /home/agent/d && echo h > /home/agent/d/x && echo ok')).out).toBe('ok');
    const snap = await createSnapshot(src.spec.dirs, join(h.home, 'snapshots'), `snap-${newId()}`, { sandboxId: src.id });
    const id = newId();
    const dirs = sandboxDirs(h.home, id, { volume: true });
    await forkFromSnapshot(snap.dir, dirs);
    const fork = await h.start({ id, dirs, limits: { diskBytes: LIMIT } });
    expect(await isMountPoint(volumePaths(dirs.root).mountPoint)).toBe(true);
    expect((await sh(fork, 'cat /workspace/f /home/agent/d/x')).out).toBe('forked\nh');
    expect(existsSync(join(dirs.root, '.seed'))).toBe(false);
  });

  test('folders outside the volume with a disk limit are refused, not silently unlimited', async () => {
    const id = newId();
    await expect(h.backend.start(specFor(h.home, id, { limits: { diskBytes: LIMIT } }))).rejects.toMatchObject({ code: 'INTERNAL' });
  });
});

describe.skipIf(noteSkip('disk limit through the daemon', diskReason))('daemon: limits.disk_bytes (root)', () => {
  let d: TestDaemon;

  beforeAll(async () => {
    d = await startTestDaemon();
  });

  afterAll(async () => {
    await d?.close();
  });

  const exec = async (id: string, command: string) => (await d.call('POST', `/v1/sandboxes/${id}/exec`, { body: { command } })).body as { exit_code: number; stdout: string; stderr: string };
  const rootOf = (id: string): string => join(d.home, 'sandboxes', id);

  test('create with disk_bytes: ENOSPC inside; snapshot, restore (through a stop that unmounts) and fork keep working on the volume; delete leaves nothing', async () => {
    const c = await d.call('POST', '/v1/sandboxes', { body: { limits: { disk_bytes: LIMIT } } });
    expect(c.status).toBe(201);
    const id = c.body.id as string;
    expect(await isMountPoint(volumePaths(rootOf(id)).mountPoint)).toBe(true);
    const fill = await exec(id, 'echo v1 > /workspace/a; dd if=/dev/zero of=/workspace/fill bs=1M count=64');
    expect(fill.exit_code).not.toBe(0);
    expect(fill.stderr).toContain('No space left on device');
    expect((await exec(id, 'rm /workspace/fill; cat /workspace/a')).stdout).toBe('v1\n');

    const snap = await d.call('POST', `/v1/sandboxes/${id}/snapshot`, { body: {} });
    expect(snap.status).toBe(201);
    await exec(id, 'echo v2 > /workspace/a');
    const restored = await d.call('POST', `/v1/sandboxes/${id}/restore`, { body: { snapshot_id: snap.body.id } });
    expect(restored.status).toBe(200);
    expect((await exec(id, 'cat /workspace/a')).stdout).toBe('v1\n');

    const fork = await d.call('POST', `/v1/sandboxes/${id}/fork`, { body: { snapshot_id: snap.body.id } });
    expect(fork.status).toBe(201);
    const forkId = fork.body.id as string;
    expect(await isMountPoint(volumePaths(rootOf(forkId)).mountPoint)).toBe(true);
    expect((await exec(forkId, 'cat /workspace/a; dd if=/dev/zero of=/workspace/fill bs=1M count=64 2>&1 | grep -c "No space left"')).stdout).toBe('v1\n1\n');

    for (const s of [id, forkId]) expect((await d.call('DELETE', `/v1/sandboxes/${s}`)).status).toBe(204);
    expect((await mountPoints()).filter((m) => m.startsWith(join(d.home, 'sandboxes')))).toEqual([]);
    for (const s of [id, forkId]) expect(existsSync(rootOf(s))).toBe(false);
  });
});

const SCRIPT_NOBODY = `
const [built, home] = process.argv.slice(1);
const { NamespaceBackend } = await import(built + '/src/isolation/namespace/backend.js');
const { sandboxDirs } = await import(built + '/src/isolation/dirs.js');
const { silentLogger } = await import(built + '/src/util/logger.js');
const backend = new NamespaceBackend(process.env.AGENTD_INIT_PATH, silentLogger, {});
const probe = await backend.probe();
const id = 'nobody-disk';
const spec = { id, profile: 'server', dirs: sandboxDirs(home, id, { volume: true }), env: {}, network: 'none', limits: { diskBytes: ${LIMIT} },
  allowedPathsRo: [], allowedPathsRw: [], bindMounts: [], denyPaths: [], labels: {} };
const err = await backend.start(spec).then(async (s) => { await s.destroy(); return {}; }, (e) => e);
console.log(JSON.stringify({ uid: process.getuid(), diskLimit: probe.features.diskLimit, code: err.code, message: err.message }));
`;

const nobodyReason = skipReason ?? (process.getuid?.() !== 0 ? 'needs root to switch to an unprivileged user' : spawnSync('setpriv', ['--version']).status !== 0 ? 'setpriv (util-linux) missing' : undefined);

describe.skipIf(noteSkip('unprivileged disk refusal', nobodyReason))('namespace: disk limit as an unprivileged user', () => {
  test('is refused with LIMIT_UNSUPPORTED and a reason, in probe() and at start; nothing is created', async () => {
    const built = await buildDaemonSources();
    const home = await mkdtemp(join(tmpdir(), 'agentd-ns-nobody-disk-'));
    try {
      await chmod(home, 0o777);
      await chmod(built, 0o755);
      const r = spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', '--', process.execPath, '--input-type=module', '-e', SCRIPT_NOBODY, built, home], {
        env: { PATH: process.env.PATH ?? '/usr/bin:/bin', AGENTD_INIT_PATH: native.init, AGENTD_SECCOMP_BPF: native.seccompBpf },
        encoding: 'utf8',
        timeout: 20_000,
      });
      expect(r.stderr).toBe('');
      const res = JSON.parse(r.stdout) as { uid: number; diskLimit: { ok: boolean; detail: string }; code: string; message: string };
      expect(res.uid).toBe(65534);
      expect(res.diskLimit.ok).toBe(false);
      expect(res.diskLimit.detail).toContain('root');
      expect(res.code).toBe('LIMIT_UNSUPPORTED');
      expect(res.message).toContain('disk limit');
      expect(existsSync(join(home, 'sandboxes', 'nobody-disk', 'disk.img'))).toBe(false);
    } finally {
      await rm(home, { recursive: true, force: true });
      await rm(built, { recursive: true, force: true });
    }
  }, 90_000);
});

describe.skipIf(noteSkip('host-direct disk refusal', skipReason))('host-direct: disk limit', () => {
  test('is refused with LIMIT_UNSUPPORTED (its commands write anywhere the daemon can)', async () => {
    const backend = new HostDirectBackend(native.init, silentLogger, {});
    const err = await backend.start(specFor('/nonexistent-agentd-home', newId(), { network: 'host', limits: { diskBytes: LIMIT } })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AgentdError);
    expect((err as AgentdError).code).toBe('LIMIT_UNSUPPORTED');
    expect((err as AgentdError).message).toContain('disk limit');
  });
});
