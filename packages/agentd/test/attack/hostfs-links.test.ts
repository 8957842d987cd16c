/**
 * Links planted by a sandbox against the root daemon's host-side file operations: start
 * (passwd files, chown of the folders), restore (a folder replaced by a symlink between
 * snapshot and restore), the disk volume (mount point and image as symlinks), hard links
 * to root-owned files through snapshot, restore and fork. The sandbox acts with its own
 * host uid (what its code could do with any view of its folders); after each daemon
 * operation the root-owned decoy must be exactly as before, and the operation must either
 * work on the sandbox's own files or fail with a clear error.
 */
import { existsSync } from 'node:fs';
import { chmod, chown, lstat, mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { findVolumeTools, isMountPoint, volumePaths } from '../../src/isolation/disk/volume.js';
import { sandboxDirs } from '../../src/isolation/dirs.js';
import { kindOf } from '../../src/isolation/namespace/sandbox-files.js';
import { createSnapshot, forkFromSnapshot, restoreSnapshot } from '../../src/isolation/snapshot/index.js';
import { harness, noteSkip, sh, specFor, type Harness } from '../namespace/fixture.js';
import { asUid, expectUntouched, hostfsSkip, makeDecoy, ownerOf, ownersIn, type Decoy } from './hostfs-fixture.js';

const skip = noteSkip('hostfs link attacks', hostfsSkip);

/**
 * 'current': the folders as this version makes them. 'older layout': the sandbox's root
 * folder owned by its uid, as earlier versions left it, so the plants succeed and the
 * daemon must take the folder back without following them.
 */
const LEGACY = 'older layout: root folder owned by the sandbox uid';
const LAYOUTS = ['current layout', LEGACY];

describe.skipIf(skip)('the root daemon never follows a link a sandbox planted', () => {
  let h: Harness;
  let decoy: Decoy;
  let before: Record<string, unknown>;
  let snaps: string;

  beforeEach(async () => {
    h = await harness();
    decoy = await makeDecoy();
    before = await decoy.snapshot();
    snaps = await mkdtemp(join(tmpdir(), 'agentd-hostfs-snaps-'));
  });
  afterEach(async () => {
    await h.close().catch(() => undefined);
    await decoy.close();
    await rm(snaps, { recursive: true, force: true });
  });

  test.each(LAYOUTS)('start (%s): .ns-passwd, .ns-group and a folder replaced by symlinks to a root-owned dir are not written or chowned', async (layout) => {
    const sbx = await h.start({ id: 'plant-start' });
    const { uid, gid } = await ownerOf(sbx.spec.dirs.workspace);
    expect(uid).not.toBe(0);
    await sbx.destroy({ keepFiles: true });
    const root = sbx.spec.dirs.root;
    if (layout === LEGACY) await chown(root, uid, gid);
    // The sandbox's host uid tries to plant links where the daemon writes at start.
    asUid(uid, gid, ['ln', '-sfn', join(decoy.dir, 'passwd'), join(root, '.ns-passwd')]);
    asUid(uid, gid, ['ln', '-sfn', join(decoy.dir, 'shared'), join(root, '.ns-group')]);
    asUid(uid, gid, ['mv', sbx.spec.dirs.home, join(root, 'home.old')]);
    asUid(uid, gid, ['ln', '-sfn', decoy.dir, sbx.spec.dirs.home]);
    const again = await h.backend.start(sbx.spec).catch((err: Error) => err);
    if (!(again instanceof Error)) {
      // It started on its own files: its home is a real folder of its own.
      const st = await lstat(sbx.spec.dirs.home);
      expect(st.isDirectory()).toBe(true);
      expect(st.uid).toBe(uid);
      await again.destroy();
    } else {
      expect(again.message).toMatch(/symlink|not a directory|refus/i);
    }
    await expectUntouched(decoy, before);
  });

  test.each(LAYOUTS)('restore (%s): a folder replaced by a symlink to a root-owned dir between snapshot and restore is neither emptied nor chowned', async (layout) => {
    const sbx = await h.start({ id: 'plant-restore' });
    expect((await sh(sbx, 'echo mine > /workspace/keep.txt && echo ok')).out).toBe('ok');
    const snap = await createSnapshot(sbx.spec.dirs, snaps, 's1');
    const { uid, gid } = await ownerOf(sbx.spec.dirs.workspace);
    await sbx.destroy({ keepFiles: true });
    const dirs = sbx.spec.dirs;
    if (layout === LEGACY) await chown(dirs.root, uid, gid);
    asUid(uid, gid, ['mv', dirs.workspace, join(dirs.root, 'ws.old')]);
    asUid(uid, gid, ['ln', '-sfn', decoy.dir, dirs.workspace]);
    const result = await restoreSnapshot(snap.dir, dirs).then(() => undefined, (err: Error) => err);
    await expectUntouched(decoy, before);
    if (result === undefined) {
      expect((await lstat(dirs.workspace)).isDirectory()).toBe(true);
      expect(await readFile(join(dirs.workspace, 'keep.txt'), 'utf8')).toBe('mine\n');
    } else {
      expect(result.message).toMatch(/symlink|not a directory|refus/i);
    }
  });

  test('snapshot, restore and fork never carry a hard link to a root-owned file as a root-owned file, and never change that file', async () => {
    const sbx = await h.start({ id: 'plant-hardlink' });
    const { uid, gid } = await ownerOf(sbx.spec.dirs.workspace);
    // protected_hardlinks lets a user link a file it may read and write: the 0666 root file.
    const ln = asUid(uid, gid, ['ln', join(decoy.dir, 'shared'), join(sbx.spec.dirs.workspace, 'h')]);
    expect(ln.code, ln.err).toBe(0);
    expect((await lstat(join(sbx.spec.dirs.workspace, 'h'))).uid).toBe(0);
    const snap = await createSnapshot(sbx.spec.dirs, snaps, 's1');
    await sbx.destroy({ keepFiles: true });
    await restoreSnapshot(snap.dir, sbx.spec.dirs);
    await expectUntouched(decoy, before);
    const restored = await ownersIn(sbx.spec.dirs.workspace);
    expect(restored.map((e) => e.path)).toContain(join(sbx.spec.dirs.workspace, 'h'));
    expect(restored.filter((e) => e.uid === 0)).toEqual([]);

    const forkDirs = sandboxDirs(h.home, 'plant-hardlink-fork');
    await forkFromSnapshot(snap.dir, forkDirs);
    const fork = await h.backend.start(specFor(h.home, 'plant-hardlink-fork'));
    try {
      expect(await ownersIn(forkDirs.workspace).then((all) => all.filter((e) => e.uid === 0))).toEqual([]);
    } finally {
      await fork.destroy();
    }
    await expectUntouched(decoy, before);
  });

  test('deny paths: the kind of a deny path inside the sandbox’s folders is looked up as the sandbox’s uid, never by root through its link', async () => {
    const sbx = await h.start({ id: 'plant-deny' });
    const { uid, gid } = await ownerOf(sbx.spec.dirs.workspace);
    // A root-only folder: its existence and kind are none of the sandbox's business.
    const hidden = join(decoy.dir, '..', 'private');
    await mkdir(join(hidden, 'inner'), { recursive: true, mode: 0o700 });
    await chmod(hidden, 0o700);
    expect((await sh(sbx, `ln -s ${join(hidden, 'inner')} /workspace/probe && echo ok`)).out).toBe('ok');
    expect(await kindOf(join(sbx.spec.dirs.workspace, 'probe'), { uid, gid }, sbx.spec.dirs)).toBe('missing');
    // A folder of its own is seen as such.
    expect((await sh(sbx, 'mkdir /workspace/mine && echo ok')).out).toBe('ok');
    expect(await kindOf(join(sbx.spec.dirs.workspace, 'mine'), { uid, gid }, sbx.spec.dirs)).toBe('dir');
    await expectUntouched(decoy, before);
  });
});

const diskSkip = noteSkip('hostfs disk-volume link attacks', hostfsSkip ?? (await findVolumeTools()).problem);

describe.skipIf(diskSkip)('the disk volume is never mounted or created through a planted link', () => {
  let h: Harness;
  let decoy: Decoy;
  let before: Record<string, unknown>;

  beforeEach(async () => {
    h = await harness();
    decoy = await makeDecoy();
    before = await decoy.snapshot();
  });
  afterEach(async () => {
    await h.close().catch(() => undefined);
    await decoy.close();
  });

  test.each(LAYOUTS)('%s: a mount point replaced by a symlink to a root-owned dir is not mounted over, an image staging name linked to a root file is not truncated', async (layout) => {
    const id = 'plant-volume';
    const spec = specFor(h.home, id, { limits: { diskBytes: 16 * 1024 * 1024 }, dirs: sandboxDirs(h.home, id, { volume: true }) });
    const sbx = await h.backend.start(spec);
    const { uid, gid } = await ownerOf(spec.dirs.workspace);
    await sbx.destroy({ keepFiles: true });
    const { image, mountPoint } = volumePaths(spec.dirs.root);
    if (layout === LEGACY) await chown(spec.dirs.root, uid, gid);
    asUid(uid, gid, ['rm', '-f', image]);
    asUid(uid, gid, ['ln', '-sfn', join(decoy.dir, 'passwd'), `${image}.new`]);
    asUid(uid, gid, ['mv', mountPoint, join(spec.dirs.root, 'volume.old')]);
    asUid(uid, gid, ['ln', '-sfn', decoy.dir, mountPoint]);
    const again = await h.backend.start(spec).catch((err: Error) => err);
    try {
      expect(await isMountPoint(decoy.dir)).toBe(false);
      await expectUntouched(decoy, before);
    } finally {
      if (!(again instanceof Error)) await again.destroy();
    }
    expect(existsSync(join(decoy.dir, 'passwd'))).toBe(true);
    await expectUntouched(decoy, before);
  });
});
