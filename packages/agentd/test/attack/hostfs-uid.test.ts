/**
 * One host uid per sandbox: two sandboxes of a root daemon run as different host uids, so a
 * per-user kernel limit one of them exhausts (inotify instances, counted per host uid across
 * user namespaces) stays available to the other; a fork runs as a new uid and its copied
 * files belong to it.
 */
import { readFile, rm, mkdtemp } from 'node:fs/promises';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { runCommand } from '../../src/channel/lifecycle.js';
import { sandboxDirs } from '../../src/isolation/dirs.js';
import { createSnapshot, forkFromSnapshot, restoreSnapshot } from '../../src/isolation/snapshot/index.js';
import { harness, noteSkip, run, sh, type Harness } from '../namespace/fixture.js';
import { hostfsSkip, ownerOf, ownersIn } from './hostfs-fixture.js';

const skip = noteSkip('one host uid per sandbox', hostfsSkip);

/** Opens inotify instances until the kernel refuses; prints "held N ERRNO", then holds them. */
const HOG = `
import ctypes, os, time
libc = ctypes.CDLL(None, use_errno=True)
fds = []
while True:
    fd = libc.inotify_init1(0)
    if fd < 0: break
    fds.append(fd)
err = os.strerror(ctypes.get_errno())
with open('/tmp/hog', 'w') as f: f.write('held %d %s\\n' % (len(fds), err))
time.sleep(60)
`;

const ONE = `
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
fd = libc.inotify_init1(0)
print('ok' if fd >= 0 else 'errno ' + os.strerror(ctypes.get_errno()))
`;

/** The host uid a sandbox's processes run as: the owner, seen from the host, of a file it creates. */
async function hostUidOf(sbx: Parameters<typeof sh>[0]): Promise<number> {
  const name = `me-${Math.random().toString(36).slice(2)}`;
  expect((await sh(sbx, `touch /tmp/${name} && echo ok`)).out).toBe('ok');
  return (await ownerOf(join(sbx.spec.dirs.tmp, name))).uid;
}

describe.skipIf(skip)('one host uid per sandbox', () => {
  let h: Harness;
  let snaps: string;
  beforeEach(async () => {
    h = await harness();
    snaps = await mkdtemp(join(tmpdir(), 'agentd-hostfs-uid-'));
  });
  afterEach(async () => {
    await h.close().catch(() => undefined);
    await rm(snaps, { recursive: true, force: true });
  });

  test('two sandboxes run as different host uids, each owning its own folders', async () => {
    const a = await h.start();
    const b = await h.start();
    const [ua, ub] = [await hostUidOf(a), await hostUidOf(b)];
    expect(ua).not.toBe(0);
    expect(ub).not.toBe(0);
    expect(ua).not.toBe(ub);
    expect((await ownerOf(a.spec.dirs.workspace)).uid).toBe(ua);
    expect((await ownerOf(b.spec.dirs.workspace)).uid).toBe(ub);
  });

  test('one sandbox exhausting its inotify instances leaves another sandbox able to create one', async () => {
    const limit = Number((await readFile('/proc/sys/fs/inotify/max_user_instances', 'utf8')).trim());
    const a = await h.start();
    const b = await h.start();
    const stop = new AbortController();
    const hog = runCommand(a.channel, { argv: ['python3', '-c', HOG], env: { PATH: '/usr/bin:/bin' } }, { timeoutMs: 90_000, signal: stop.signal }).catch(() => undefined);
    const flag = join(a.spec.dirs.tmp, 'hog');
    for (let i = 0; i < 200 && !existsSync(flag); i++) await new Promise((r) => setTimeout(r, 50));
    const held = (await readFile(flag, 'utf8')).trim();
    // A really exhausted its per-user count (the kernel said EMFILE after at most the limit).
    expect(held).toMatch(/^held \d+ Too many open files$/);
    expect(Number(held.split(' ')[1])).toBeLessThanOrEqual(limit);
    const other = await run(b, ['python3', '-c', ONE]);
    expect(other.stdout.toString().trim()).toBe('ok');
    stop.abort();
    await hog;
  }, 120_000);

  test('a fork runs as a new host uid and owns every file copied from the snapshot; a restore and a restart keep the sandbox’s own uid', async () => {
    const src = await h.start({ id: 'uid-src' });
    expect((await sh(src, 'mkdir -p /workspace/a/b && echo x > /workspace/a/b/f && echo y > /home/agent/.rc && echo ok')).out).toBe('ok');
    const snap = await createSnapshot(src.spec.dirs, snaps, 's1');
    const forkDirs = sandboxDirs(h.home, 'uid-fork');
    await forkFromSnapshot(snap.dir, forkDirs);
    const fork = await h.start({ id: 'uid-fork' });
    try {
      const [us, uf] = [await hostUidOf(src), await hostUidOf(fork)];
      expect(uf).not.toBe(us);
      const owners = [...(await ownersIn(forkDirs.workspace)), ...(await ownersIn(forkDirs.home))];
      expect(owners.length).toBeGreaterThanOrEqual(4);
      expect(owners.filter((e) => e.uid !== uf)).toEqual([]);
      expect((await sh(fork, 'cat /workspace/a/b/f && echo more >> /workspace/a/b/f && echo ok')).out).toBe('x\nok');
    } finally {
      await fork.destroy();
    }
    // Restore keeps the sandbox's own uid on every restored file.
    const us = await hostUidOf(src);
    await src.destroy({ keepFiles: true });
    await restoreSnapshot(snap.dir, src.spec.dirs);
    const restored = [...(await ownersIn(src.spec.dirs.workspace)), ...(await ownersIn(src.spec.dirs.home))];
    expect(restored.length).toBeGreaterThanOrEqual(4);
    expect(restored.filter((e) => e.uid !== us)).toEqual([]);
    const again = await h.backend.start(src.spec);
    try {
      expect(await hostUidOf(again)).toBe(us);
    } finally {
      await again.destroy();
    }
  });

  test('two sandboxes left by an older version on one shared uid get distinct uids at their next start, each tree re-owned', async () => {
    const a = await h.start({ id: 'legacy-a' });
    const b = await h.start({ id: 'legacy-b' });
    expect((await sh(b, 'mkdir -p /workspace/x && echo b > /workspace/x/f && echo ok')).out).toBe('ok');
    await a.destroy({ keepFiles: true });
    await b.destroy({ keepFiles: true });
    // What the older version left: no leases, every tree and root folder owned by the one shared uid.
    const shared = 1_000_000;
    await rm(join(h.home, 'host-uids'), { recursive: true, force: true });
    for (const s of [a, b]) {
      const r = spawnSync('chown', ['-R', '-P', `${shared}:${shared}`, '--', s.spec.dirs.root]);
      expect(r.status).toBe(0);
    }
    const a2 = await h.backend.start(a.spec);
    const b2 = await h.backend.start(b.spec);
    try {
      const [ua, ub] = [await hostUidOf(a2), await hostUidOf(b2)];
      expect(ua).toBe(shared);
      expect(ub).not.toBe(shared);
      expect((await ownerOf(b.spec.dirs.root)).uid).toBe(0);
      const owners = await ownersIn(b.spec.dirs.workspace);
      expect(owners.length).toBeGreaterThanOrEqual(2);
      expect(owners.filter((e) => e.uid !== ub)).toEqual([]);
      expect((await sh(b2, 'cat /workspace/x/f && echo more >> /workspace/x/f && echo ok')).out).toBe('b\nok');
    } finally {
      await a2.destroy();
      await b2.destroy();
    }
  });
});
