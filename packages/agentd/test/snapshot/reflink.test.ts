/**
 * On a filesystem with reflinks (XFS on a loop device here; btrfs elsewhere), a snapshot
 * shares the data blocks of the sandbox's files instead of copying them.
 */
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, statfs, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createSnapshot, forkFromSnapshot } from '../../src/isolation/snapshot/index.js';
import { ensureSandboxDirs } from '../../src/isolation/dirs.js';
import type { SandboxDirs } from '../../src/isolation/types.js';

const MiB = 1024 * 1024;
const MKFS = '/usr/sbin/mkfs.xfs';
const reasons = [
  process.getuid?.() !== 0 ? 'needs root to mount a loop device' : '',
  existsSync(MKFS) ? '' : `${MKFS} missing (apt-get install xfsprogs)`,
  existsSync('/dev/loop-control') ? '' : 'no /dev/loop-control',
].filter(Boolean);
if (reasons.length > 0) console.warn(`skipping reflink snapshot test: ${reasons.join('; ')}`);

async function usedBytes(path: string): Promise<number> {
  execFileSync('sync', ['-f', path]);
  const s = await statfs(path);
  return (s.blocks - s.bfree) * s.bsize;
}

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

describe.skipIf(reasons.length > 0)('snapshots on a reflink-capable filesystem', () => {
  let tmp: string;
  let mnt: string;
  let mounted = false;

  beforeAll(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'agentd-reflink-'));
    mnt = join(tmp, 'mnt');
    await mkdir(mnt);
    const img = join(tmp, 'xfs.img');
    execFileSync('truncate', ['-s', '320M', img]);
    execFileSync(MKFS, ['-q', img]);
    execFileSync('mount', ['-o', 'loop', img, mnt]);
    mounted = true;
  });
  afterAll(async () => {
    if (mounted) execFileSync('umount', [mnt]);
    await rm(tmp, { recursive: true, force: true });
  });

  test('a snapshot and a fork of 32 MiB of data cost almost no new blocks and read back identical', async () => {
    const root = join(mnt, 'sandboxes', 'sbx-r');
    const dirs: SandboxDirs = { root, workspace: join(root, 'workspace'), home: join(root, 'home'), tmp: join(root, 'tmp') };
    for (const d of [dirs.workspace, dirs.home, dirs.tmp]) await mkdir(d, { recursive: true });
    const data = randomBytes(32 * MiB);
    await writeFile(join(dirs.workspace, 'data.bin'), data);

    const before = await usedBytes(mnt);
    const { dir } = await createSnapshot(dirs, join(mnt, 'snapshots'), 'snap-r');
    const afterSnapshot = await usedBytes(mnt);
    const forkRoot = join(mnt, 'sandboxes', 'sbx-f');
    const forkDirs = { root: forkRoot, workspace: join(forkRoot, 'workspace'), home: join(forkRoot, 'home'), tmp: join(forkRoot, 'tmp') };
    await forkFromSnapshot(dir, forkDirs);
    await ensureSandboxDirs(forkDirs);
    const afterFork = await usedBytes(mnt);

    expect(afterSnapshot - before).toBeLessThan(4 * MiB);
    expect(afterFork - afterSnapshot).toBeLessThan(4 * MiB);
    expect(sha(await readFile(join(dir, 'workspace', 'data.bin')))).toBe(sha(data));
    expect(sha(await readFile(join(forkRoot, 'workspace', 'data.bin')))).toBe(sha(data));
  });
});
