/**
 * Snapshots of a sandbox's writable state (its workspace, home and tmp folders) as plain
 * folder copies under `<snapshotsRoot>/<snapshotId>/`, with a manifest. The caller freezes
 * the sandbox around create and restore; these functions only copy.
 */
import { randomBytes } from 'node:crypto';
import { chmod, chown, mkdir, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { AgentdError } from '../../core/errors.js';
import type { SandboxDirs } from '../types.js';
import { clearDir, copyContents, copyTimes, moveContents, treeStats, type TreeStats } from './copy.js';
import { MANIFEST_FILE, SNAPSHOT_PARTS, type SnapshotManifest, readManifest } from './manifest.js';

const SNAPSHOT_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;

export interface SnapshotOptions {
  signal?: AbortSignal;
}

export interface CreateSnapshotOptions extends SnapshotOptions {
  /** Recorded in the manifest (default: the name of `dirs.root`). */
  sandboxId?: string;
}

export interface SnapshotInfo {
  /** `<snapshotsRoot>/<snapshotId>` */
  dir: string;
  manifest: SnapshotManifest;
}

function checkId(id: string): void {
  if (!SNAPSHOT_ID.test(id)) {
    throw new AgentdError('INVALID_ARGUMENT', `snapshot id '${id}' is not a safe folder name (letters, digits, '_', '.', '-'; at most 128)`);
  }
}

async function isDir(path: string): Promise<boolean> {
  return (await stat(path).catch(() => undefined))?.isDirectory() ?? false;
}

/**
 * Copies `dirs.workspace`, `dirs.home` and `dirs.tmp` into `<snapshotsRoot>/<id>/` with a
 * manifest. The folder appears only once complete (built under a hidden name, then renamed);
 * an existing snapshot of that id is ALREADY_EXISTS.
 */
export async function createSnapshot(dirs: SandboxDirs, snapshotsRoot: string, id: string, opts: CreateSnapshotOptions = {}): Promise<SnapshotInfo> {
  checkId(id);
  const finalDir = join(snapshotsRoot, id);
  await mkdir(snapshotsRoot, { recursive: true, mode: 0o700 });
  if (await isDir(finalDir)) throw new AgentdError('ALREADY_EXISTS', `snapshot ${id} already exists`, { details: { snapshotId: id } });
  const partial = join(snapshotsRoot, `.${id}.partial-${randomBytes(4).toString('hex')}`);
  await mkdir(partial, { mode: 0o700 });
  try {
    const total: TreeStats = { bytes: 0, diskBytes: 0, files: 0, dirs: 0 };
    for (const part of SNAPSHOT_PARTS) {
      if (!(await isDir(dirs[part]))) throw new AgentdError('NOT_FOUND', `sandbox folder ${dirs[part]} does not exist`);
      await mkdir(join(partial, part));
      await copyContents(dirs[part], join(partial, part), opts.signal);
      const s = await treeStats(join(partial, part), opts.signal);
      total.bytes += s.bytes;
      total.files += s.files;
      total.dirs += s.dirs;
    }
    const manifest: SnapshotManifest = {
      format: 1,
      snapshot_id: id,
      sandbox_id: opts.sandboxId ?? basename(dirs.root),
      created_at: new Date().toISOString(),
      parts: [...SNAPSHOT_PARTS],
      size_bytes: total.bytes,
      file_count: total.files,
      dir_count: total.dirs,
    };
    await writeFile(join(partial, MANIFEST_FILE), `${JSON.stringify(manifest, null, 2)}\n`, { mode: 0o600 });
    await rename(partial, finalDir);
    return { dir: finalDir, manifest };
  } catch (err) {
    await rm(partial, { recursive: true, force: true });
    if (err instanceof AgentdError) throw err;
    throw new AgentdError('INTERNAL', `snapshot ${id} failed: ${(err as Error).message}`, { cause: err });
  }
}

/**
 * Makes each of `dirs`' folders hold exactly what the snapshot holds: files created since
 * are gone. The folders themselves stay (same inode), so a running sandbox's bind mounts
 * keep pointing at them. The copy is staged next to them first, so a failed copy (disk
 * full, abort) leaves the current state untouched.
 */
export async function restoreSnapshot(snapshotDir: string, dirs: SandboxDirs, opts: SnapshotOptions = {}): Promise<SnapshotManifest> {
  const manifest = await readManifest(snapshotDir);
  const staging = join(dirs.root, `.restore-${randomBytes(4).toString('hex')}`);
  await mkdir(staging, { recursive: true, mode: 0o700 });
  try {
    for (const part of manifest.parts) {
      await mkdir(join(staging, part));
      await copyContents(join(snapshotDir, part), join(staging, part), opts.signal);
    }
    for (const part of manifest.parts) {
      await mkdir(dirs[part], { recursive: true });
      await clearDir(dirs[part]);
      await moveContents(join(staging, part), dirs[part]);
      // Owner, mode and times of the folder itself, as in the snapshot (set last: the moves changed its mtime).
      const st = await stat(join(snapshotDir, part));
      await chown(dirs[part], st.uid, st.gid);
      await chmod(dirs[part], st.mode & 0o7777);
      await copyTimes(join(snapshotDir, part), dirs[part]);
    }
    return manifest;
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
}

/**
 * Fills the folders of a new sandbox from a snapshot. The folders must not exist yet or be
 * empty (ALREADY_EXISTS otherwise), so a fork never mixes with another sandbox's files.
 */
export async function forkFromSnapshot(snapshotDir: string, newDirs: SandboxDirs, opts: SnapshotOptions = {}): Promise<SnapshotManifest> {
  const manifest = await readManifest(snapshotDir);
  for (const part of manifest.parts) {
    const entries = await readdir(newDirs[part]).catch(() => []);
    if (entries.length > 0) throw new AgentdError('ALREADY_EXISTS', `cannot fork into ${newDirs[part]}: it is not empty`);
  }
  await mkdir(newDirs.root, { recursive: true, mode: 0o700 });
  for (const part of manifest.parts) {
    await mkdir(newDirs[part], { recursive: true });
    await copyContents(join(snapshotDir, part), newDirs[part], opts.signal);
  }
  return manifest;
}

/**
 * Removes a snapshot folder. Already gone is fine; a folder without a manifest is refused
 * (NOT_FOUND), so a wrong path can never delete something that is not a snapshot.
 */
export async function deleteSnapshot(snapshotDir: string): Promise<void> {
  if (!(await isDir(snapshotDir))) return;
  await readManifest(snapshotDir);
  // Rename first so a half-deleted snapshot is never seen as a valid one.
  const doomed = join(dirname(snapshotDir), `.${basename(snapshotDir)}.deleting-${randomBytes(4).toString('hex')}`);
  await rename(snapshotDir, doomed);
  await rm(doomed, { recursive: true, force: true });
}

/** The snapshot's size measured now (apparent bytes, allocated bytes, entry counts). */
export async function snapshotSize(snapshotDir: string, opts: SnapshotOptions = {}): Promise<TreeStats> {
  const manifest = await readManifest(snapshotDir);
  const total: TreeStats = { bytes: 0, diskBytes: 0, files: 0, dirs: 0 };
  for (const part of manifest.parts) {
    const s = await treeStats(join(snapshotDir, part), opts.signal);
    total.bytes += s.bytes;
    total.diskBytes += s.diskBytes;
    total.files += s.files;
    total.dirs += s.dirs;
  }
  return total;
}

/**
 * Removes what an interrupted create or delete left in `snapshotsRoot` (hidden `.<id>.partial-*`
 * and `.<id>.deleting-*` folders, never a complete snapshot). Call it at daemon start.
 * Returns the names removed.
 */
export async function cleanupSnapshotLeftovers(snapshotsRoot: string): Promise<string[]> {
  const names = await readdir(snapshotsRoot).catch(() => [] as string[]);
  const leftovers = names.filter((n) => /^\..+\.(partial|deleting)-[0-9a-f]{8}$/.test(n));
  for (const name of leftovers) await rm(join(snapshotsRoot, name), { recursive: true, force: true });
  return leftovers;
}
