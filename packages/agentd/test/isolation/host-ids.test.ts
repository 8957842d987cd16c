import { mkdirSync } from 'node:fs';
import { lstat, mkdir, mkdtemp, readlink, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { HostUidAllocator, leasedUid, leaseDirOf, rangeProblem, releaseHostUid } from '../../src/isolation/host-ids.js';
import { parseNamespaceOptions } from '../../src/isolation/namespace/options.js';

describe('host uid leases: one uid per sandbox', () => {
  let home: string;
  /** A sandbox root folder that exists (a lease whose folder is gone is stale). */
  const root = (id: string): string => {
    mkdirSync(join(home, 'sandboxes', id), { recursive: true });
    return join(home, 'sandboxes', id);
  };
  beforeEach(async () => {
    home = await mkdtemp(join(tmpdir(), 'agentd-uids-'));
  });
  afterEach(async () => {
    await rm(home, { recursive: true, force: true });
  });

  test('concurrent sandboxes get distinct uids; a sandbox keeps its uid; a released uid is handed out again', async () => {
    const alloc = new HostUidAllocator({ start: 2_000_000, count: 8 });
    const ids = await Promise.all(['a', 'b', 'c', 'd'].map((id) => alloc.acquire(root(id), id)));
    expect(new Set(ids.map((i) => i.uid)).size).toBe(4);
    for (const i of ids) expect(i.gid).toBe(i.uid);
    expect(await alloc.acquire(root('b'), 'b')).toEqual(ids[1]);
    expect(await leasedUid(root('c'), 'c')).toBe(ids[2]?.uid);
    const lease = join(leaseDirOf(root('a')), String(ids[0]?.uid));
    expect((await lstat(lease)).isSymbolicLink()).toBe(true);
    expect(await readlink(lease)).toBe('a');
    await releaseHostUid(root('a'), 'a');
    expect(await leasedUid(root('a'), 'a')).toBeUndefined();
    expect((await alloc.acquire(root('e'), 'e')).uid).toBe(ids[0]?.uid);
  });

  test('a second allocator on the same home (another process) never hands out a taken uid', async () => {
    const one = new HostUidAllocator({ start: 2_000_000, count: 4 });
    const two = new HostUidAllocator({ start: 2_000_000, count: 4 });
    const got = await Promise.all([one.acquire(root('a'), 'a'), two.acquire(root('b'), 'b'), one.acquire(root('c'), 'c'), two.acquire(root('d'), 'd')]);
    expect(new Set(got.map((g) => g.uid)).size).toBe(4);
  });

  test('a lease whose sandbox folder is gone (crash before the release) is taken back', async () => {
    const alloc = new HostUidAllocator({ start: 2_000_000, count: 1 });
    await alloc.acquire(root('gone'), 'gone');
    await rm(root('gone'), { recursive: true });
    expect((await alloc.acquire(root('next'), 'next')).uid).toBe(2_000_000);
    expect(await leasedUid(root('gone'), 'gone')).toBeUndefined();
  });

  test('a new sandbox whose folder does not exist yet keeps its lease against a concurrent acquire', async () => {
    const alloc = new HostUidAllocator({ start: 2_000_000, count: 4 });
    const fresh = (id: string): string => join(home, 'sandboxes', id);
    const [a, b] = await Promise.all([alloc.acquire(fresh('n1'), 'n1'), alloc.acquire(fresh('n2'), 'n2')]);
    expect(a.uid).not.toBe(b.uid);
    expect((await lstat(fresh('n1'))).isDirectory()).toBe(true);
  });

  test('a full range is RESOURCE_EXHAUSTED, never a shared uid', async () => {
    const alloc = new HostUidAllocator({ start: 2_000_000, count: 2 });
    await alloc.acquire(root('a'), 'a');
    await alloc.acquire(root('b'), 'b');
    await expect(alloc.acquire(root('c'), 'c')).rejects.toMatchObject({ code: 'RESOURCE_EXHAUSTED' });
  });

  test('a preferred uid (an older sandbox whose files have it) is kept when free', async () => {
    const alloc = new HostUidAllocator({ start: 2_000_000, count: 8 });
    expect((await alloc.acquire(root('old'), 'old', 2_000_005)).uid).toBe(2_000_005);
    expect((await alloc.acquire(root('old2'), 'old2', 2_000_005)).uid).toBe(2_000_000);
  });
});

describe('host_uid_range checks', () => {
  let etc: string;
  beforeEach(async () => {
    etc = await mkdtemp(join(tmpdir(), 'agentd-etc-'));
    await mkdir(etc, { recursive: true });
    await writeFile(join(etc, 'subuid'), 'alice:100000:65536\n');
    await writeFile(join(etc, 'subgid'), 'alice:100000:65536\n');
    await writeFile(join(etc, 'passwd'), 'root:x:0:0::/root:/bin/sh\nbob:x:1500000:1500000::/home/bob:/bin/sh\n');
    await writeFile(join(etc, 'group'), 'root:x:0:\n');
  });
  afterEach(async () => {
    await rm(etc, { recursive: true, force: true });
  });

  test('a range overlapping /etc/subuid or an account id is refused with the reason; the default range is free', async () => {
    expect(await rangeProblem({ start: 150_000, count: 10 }, etc)).toMatch(/overlaps .*subuid range 100000\.\.165535 of 'alice'/);
    expect(await rangeProblem({ start: 1_499_999, count: 10 }, etc)).toMatch(/holds id 1500000 of user 'bob'/);
    expect(await rangeProblem({ start: 1_000_000, count: 65_536 }, etc)).toBeUndefined();
  });

  test('the removed host_uid / host_gid options are refused with INVALID_CONFIG naming host_uid_range', () => {
    for (const opts of [{ host_uid: 1_000_000 }, { host_gid: 1_000_000 }]) {
      let err: unknown;
      try {
        parseNamespaceOptions(opts);
      } catch (e) {
        err = e;
      }
      expect(err).toMatchObject({ code: 'INVALID_CONFIG', message: expect.stringContaining('host_uid_range') });
    }
    expect(parseNamespaceOptions({ host_uid_range: { start: 3_000_000, count: 100 } }).host_uid_range).toEqual({ start: 3_000_000, count: 100 });
    expect(() => parseNamespaceOptions({ host_uid_range: { start: 0, count: 100 } })).toThrow(/start/);
  });
});
