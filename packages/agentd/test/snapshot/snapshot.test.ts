import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { chmod, link, lstat, mkdir, mkdtemp, readFile, readdir, readlink, rm, stat, symlink, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { AgentdError } from '../../src/core/errors.js';
import { ensureSandboxDirs } from '../../src/isolation/dirs.js';
import type { SandboxDirs } from '../../src/isolation/types.js';
import { cleanupSnapshotLeftovers, createSnapshot, deleteSnapshot, forkFromSnapshot, readManifest, restoreSnapshot, snapshotSize } from '../../src/isolation/snapshot/index.js';

type Entry = { type: string; mode: number; mtimeMs?: number; size?: number; sha256?: string; target?: string; ino?: number };

/** Everything observable about a tree, by relative path (lstat: symlinks are described, never followed). */
async function describeTree(root: string): Promise<Record<string, Entry>> {
  const out: Record<string, Entry> = {};
  const inodes = new Map<number, string>();
  const walk = async (dir: string): Promise<void> => {
    for (const name of (await readdir(dir)).sort()) {
      const path = join(dir, name);
      const st = await lstat(path);
      const rel = relative(root, path);
      const e: Entry = { type: st.isDirectory() ? 'dir' : st.isSymbolicLink() ? 'symlink' : st.isFile() ? 'file' : st.isFIFO() ? 'fifo' : 'other', mode: st.mode & 0o7777 };
      if (!st.isSymbolicLink()) e.mtimeMs = Math.floor(st.mtimeMs);
      if (st.isFile()) {
        e.size = st.size;
        e.sha256 = createHash('sha256').update(await readFile(path)).digest('hex');
        // Hard links: record which earlier path shares the inode (inode numbers differ between copies).
        if (st.nlink > 1) {
          const first = inodes.get(st.ino);
          if (first === undefined) inodes.set(st.ino, rel);
          else e.target = `hardlink:${first}`;
        }
      }
      if (st.isSymbolicLink()) e.target = await readlink(path);
      out[rel] = e;
      if (st.isDirectory()) await walk(path);
    }
  };
  await walk(root);
  return out;
}

async function describeSandbox(dirs: SandboxDirs): Promise<Record<string, unknown>> {
  const top = async (d: string): Promise<Entry> => {
    const st = await stat(d);
    return { type: 'dir', mode: st.mode & 0o7777, mtimeMs: Math.floor(st.mtimeMs) };
  };
  return {
    workspace: { self: await top(dirs.workspace), tree: await describeTree(dirs.workspace) },
    home: { self: await top(dirs.home), tree: await describeTree(dirs.home) },
    tmp: { self: await top(dirs.tmp), tree: await describeTree(dirs.tmp) },
  };
}

const OLD = new Date('2001-02-03T04:05:06Z');

async function populate(dirs: SandboxDirs, outside: string): Promise<void> {
  const w = dirs.workspace;
  await writeFile(join(w, 'notes.txt'), 'hello\n');
  await writeFile(join(w, 'blob.bin'), Buffer.concat([Buffer.from(Array.from({ length: 256 }, (_, i) => i)), randomBytes(96 * 1024)]));
  await writeFile(join(w, 'run.sh'), '#!/bin/sh\necho hi\n');
  await chmod(join(w, 'run.sh'), 0o755);
  await writeFile(join(w, 'secret'), 'key');
  await chmod(join(w, 'secret'), 0o600);
  await mkdir(join(w, 'src/deep/er'), { recursive: true });
  await writeFile(join(w, 'src/deep/er/main.c'), 'int main(void){return 0;}\n');
  await mkdir(join(w, 'empty-dir'));
  await mkdir(join(w, 'private'), { mode: 0o700 });
  await chmod(join(w, 'private'), 0o700);
  await symlink('src/deep/er/main.c', join(w, 'rel-link'));
  await symlink(outside, join(w, 'escape-dir'));
  await symlink(join(outside, 'host-file'), join(w, 'escape-file'));
  await symlink('/nonexistent/dangling', join(w, 'dangling'));
  await link(join(w, 'notes.txt'), join(w, 'notes-hardlink.txt'));
  execFileSync('mkfifo', [join(w, 'pipe')]);
  await utimes(join(w, 'notes.txt'), OLD, OLD);
  await utimes(join(w, 'src/deep'), OLD, OLD);
  await writeFile(join(dirs.home, '.profile'), 'export A=1\n');
  await utimes(dirs.workspace, OLD, OLD);
}

describe('snapshots of a sandbox’s writable folders', () => {
  let tmp: string;
  let dirs: SandboxDirs;
  let snapshots: string;
  let outside: string;

  const mkDirs = async (name: string): Promise<SandboxDirs> => {
    const root = join(tmp, 'sandboxes', name);
    const d = { root, workspace: join(root, 'workspace'), home: join(root, 'home'), tmp: join(root, 'tmp') };
    for (const p of [d.workspace, d.home, d.tmp]) await mkdir(p, { recursive: true });
    return d;
  };

  beforeEach(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'agentd-snap-'));
    snapshots = join(tmp, 'snapshots');
    outside = join(tmp, 'host-only');
    await mkdir(outside);
    await writeFile(join(outside, 'host-file'), 'host data, must never be copied or touched\n');
    dirs = await mkDirs('sbx-a');
    await populate(dirs, outside);
  });
  afterEach(async () => {
    await rm(tmp, { recursive: true, force: true });
  });

  test('create copies content, modes, mtimes, symlinks (as symlinks, even pointing outside), empty dirs, fifos and hard links', async () => {
    const before = await describeSandbox(dirs);
    const { dir, manifest } = await createSnapshot(dirs, snapshots, 'snap-1');
    expect(dir).toBe(join(snapshots, 'snap-1'));
    const copy: SandboxDirs = { root: dir, workspace: join(dir, 'workspace'), home: join(dir, 'home'), tmp: join(dir, 'tmp') };
    expect(await describeSandbox(copy)).toEqual(before);
    // Not followed: the link is a link, and nothing of the host folder was copied.
    expect((await lstat(join(copy.workspace, 'escape-dir'))).isSymbolicLink()).toBe(true);
    const tree = await describeTree(copy.workspace);
    expect(Object.keys(tree).some((p) => p.includes('host-file') && p !== 'escape-file')).toBe(false);

    const files = Object.values({ ...(await describeTree(dirs.workspace)), ...(await describeTree(dirs.home)) });
    expect(manifest).toMatchObject({
      format: 1, snapshot_id: 'snap-1', sandbox_id: 'sbx-a', parts: ['workspace', 'home', 'tmp'],
      file_count: files.filter((e) => e.type !== 'dir').length,
      dir_count: files.filter((e) => e.type === 'dir').length,
      size_bytes: files.reduce((n, e) => n + (e.size ?? 0), 0),
    });
    expect(Date.now() - Date.parse(manifest.created_at)).toBeLessThan(60_000);
    expect(await readManifest(dir)).toEqual(manifest);
    expect((await snapshotSize(dir)).bytes).toBe(manifest.size_bytes);
  });

  test('restore brings back exactly the snapshot: later files are gone, changes undone, folders keep their inode', async () => {
    const before = await describeSandbox(dirs);
    const { dir } = await createSnapshot(dirs, snapshots, 'snap-1');
    const inode = (await stat(dirs.workspace)).ino;

    await writeFile(join(dirs.workspace, 'added-later.txt'), 'new');
    await mkdir(join(dirs.workspace, 'src/new-dir'));
    await writeFile(join(dirs.home, '.history'), 'ls\n');
    await writeFile(join(dirs.tmp, 'scratch'), 'x');
    await writeFile(join(dirs.workspace, 'notes.txt'), 'changed\n');
    await chmod(join(dirs.workspace, 'run.sh'), 0o644);
    await rm(join(dirs.workspace, 'rel-link'));
    await writeFile(join(dirs.workspace, 'rel-link'), 'now a file');
    await rm(join(dirs.workspace, 'empty-dir'), { recursive: true });
    await chmod(dirs.workspace, 0o700);

    await restoreSnapshot(dir, dirs);
    expect(await describeSandbox(dirs)).toEqual(before);
    expect((await stat(dirs.workspace)).ino).toBe(inode);
  });

  test('restore removes a symlink planted in the sandbox without touching what it points to', async () => {
    const { dir } = await createSnapshot(dirs, snapshots, 'snap-1');
    await symlink(outside, join(dirs.workspace, 'planted'));
    await symlink(join(outside, 'host-file'), join(dirs.home, 'planted-file'));
    await restoreSnapshot(dir, dirs);
    await expect(lstat(join(dirs.workspace, 'planted'))).rejects.toMatchObject({ code: 'ENOENT' });
    expect(await readFile(join(outside, 'host-file'), 'utf8')).toBe('host data, must never be copied or touched\n');
    expect(await readdir(outside)).toEqual(['host-file']);
  });

  test('fork gives a new sandbox an identical, independent copy', async () => {
    const before = await describeSandbox(dirs);
    const { dir } = await createSnapshot(dirs, snapshots, 'snap-1');
    const forkDirs: SandboxDirs = { root: join(tmp, 'sandboxes', 'sbx-b'), workspace: join(tmp, 'sandboxes', 'sbx-b', 'workspace'), home: join(tmp, 'sandboxes', 'sbx-b', 'home'), tmp: join(tmp, 'sandboxes', 'sbx-b', 'tmp') };
    await forkFromSnapshot(dir, forkDirs);
    // The fork's files wait in its root folder until its first start makes them its folders.
    await ensureSandboxDirs(forkDirs);
    expect(await describeSandbox(forkDirs)).toEqual(before);

    await writeFile(join(forkDirs.workspace, 'notes.txt'), 'fork edit\n');
    await writeFile(join(forkDirs.workspace, 'only-in-fork'), '1');
    await writeFile(join(dirs.workspace, 'only-in-origin'), '2');
    expect(await readFile(join(dirs.workspace, 'notes.txt'), 'utf8')).toBe('hello\n');
    expect(await readFile(join(dir, 'workspace', 'notes.txt'), 'utf8')).toBe('hello\n');
    await expect(stat(join(dirs.workspace, 'only-in-fork'))).rejects.toMatchObject({ code: 'ENOENT' });
    await expect(stat(join(forkDirs.workspace, 'only-in-origin'))).rejects.toMatchObject({ code: 'ENOENT' });
    // The hard link pair is still a pair inside the fork, but not shared with the snapshot.
    expect((await stat(join(forkDirs.workspace, 'notes-hardlink.txt'))).ino).toBe((await stat(join(forkDirs.workspace, 'notes.txt'))).ino);
    expect((await stat(join(forkDirs.workspace, 'notes.txt'))).ino).not.toBe((await stat(join(dir, 'workspace', 'notes.txt'))).ino);
  });

  test('fork refuses folders that already hold files', async () => {
    const { dir } = await createSnapshot(dirs, snapshots, 'snap-1');
    const err = await forkFromSnapshot(dir, dirs).catch((e: unknown) => e);
    expect((err as AgentdError).code).toBe('ALREADY_EXISTS');
  });

  test('ids: an existing snapshot is ALREADY_EXISTS, an unsafe id is INVALID_ARGUMENT', async () => {
    await createSnapshot(dirs, snapshots, 'snap-1');
    expect(((await createSnapshot(dirs, snapshots, 'snap-1').catch((e: unknown) => e)) as AgentdError).code).toBe('ALREADY_EXISTS');
    expect(((await createSnapshot(dirs, snapshots, '../escape').catch((e: unknown) => e)) as AgentdError).code).toBe('INVALID_ARGUMENT');
  });

  test('an aborted create is CANCELLED and leaves nothing behind', async () => {
    const err = await createSnapshot(dirs, snapshots, 'snap-x', { signal: AbortSignal.abort() }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AgentdError);
    expect((err as AgentdError).code).toBe('CANCELLED');
    expect(await readdir(snapshots)).toEqual([]);
  });

  test('delete removes the snapshot, is idempotent, and refuses a folder that is not a snapshot', async () => {
    const { dir } = await createSnapshot(dirs, snapshots, 'snap-1');
    await deleteSnapshot(dir);
    expect(await readdir(snapshots)).toEqual([]);
    await deleteSnapshot(dir);
    const err = await deleteSnapshot(dirs.workspace).catch((e: unknown) => e);
    expect((err as AgentdError).code).toBe('NOT_FOUND');
    expect(await readFile(join(dirs.workspace, 'notes.txt'), 'utf8')).toBe('hello\n');
  });

  test('leftovers of an interrupted create or delete are cleaned up; complete snapshots stay', async () => {
    const { dir } = await createSnapshot(dirs, snapshots, 'snap-1');
    await mkdir(join(snapshots, '.snap-2.partial-0123abcd', 'workspace'), { recursive: true });
    await mkdir(join(snapshots, '.snap-3.deleting-89abcdef'));
    expect((await cleanupSnapshotLeftovers(snapshots)).sort()).toEqual(['.snap-2.partial-0123abcd', '.snap-3.deleting-89abcdef']);
    expect(await readdir(snapshots)).toEqual(['snap-1']);
    expect((await readManifest(dir)).snapshot_id).toBe('snap-1');
  });
});
