/**
 * Snapshots of a sandbox's writable state (its workspace, home and tmp folders) as plain
 * folder copies under `<snapshotsRoot>/<snapshotId>/`, with a manifest. The caller freezes
 * the sandbox around create and restore; these functions only copy.
 *
 * None of them follows a link the sandbox planted (see ../tree-ops.ts): the sandbox's
 * folders are read, emptied and filled by a child running as their owner (the sandbox's host
 * uid); as root the daemon only copies from snapshots (which no sandbox can reach: the
 * snapshot folder is root-owned 0700 once complete) into staging folders only it can reach,
 * and renames entries from there into the sandbox's folders.
 */
import { randomBytes } from 'node:crypto';
import { chmod, lchown, lstat, mkdir, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { AgentdError } from '../../core/errors.js';
import { secureSandboxRoot, seedDir } from '../dirs.js';
import { chownTree, clearTreeAs, copyTreeAs, ownDir, ownerOfDir, realDir } from '../tree-ops.js';
import type { SandboxDirs } from '../types.js';
import { copyTimes, treeStats, type TreeStats } from './copy.js';
import { MANIFEST_FILE, SNAPSHOT_PARTS, type SnapshotManifest, readManifest } from './manifest.js';
import { giveRootFilesToOwner } from '../image-layer.js';
import { hasLayer, LAYER_PART, layerSeedDir, restoreLayer, seedLayer, snapshotLayer } from './layer.js';

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
  return (await lstat(path).catch(() => undefined))?.isDirectory() ?? false;
}

const isRootDaemon = (): boolean => process.getuid?.() === 0;

/** The snapshots folder: the daemon's, 0711 (a sandbox's uid passes through it only to fill its own staging copy). */
async function ensureSnapshotsRoot(root: string): Promise<void> {
  await mkdir(root, { recursive: true, mode: 0o711 });
  if (isRootDaemon()) await ownDir(root, 0o711);
}

/**
 * Copies `dirs.workspace`, `dirs.home` and `dirs.tmp` into `<snapshotsRoot>/<id>/` with a
 * manifest. The folder appears only once complete (built under a hidden name, then renamed);
 * an existing snapshot of that id is ALREADY_EXISTS.
 */
export async function createSnapshot(dirs: SandboxDirs, snapshotsRoot: string, id: string, opts: CreateSnapshotOptions = {}): Promise<SnapshotInfo> {
  checkId(id);
  const finalDir = join(snapshotsRoot, id);
  await ensureSnapshotsRoot(snapshotsRoot);
  if ((await lstat(finalDir).catch(() => undefined)) !== undefined) throw new AgentdError('ALREADY_EXISTS', `snapshot ${id} already exists`, { details: { snapshotId: id } });
  const partial = join(snapshotsRoot, `.${id}.partial-${randomBytes(4).toString('hex')}`);
  // 0711 while each part is copied by its owner into its own 0700 folder; 0700 (only the daemon) after.
  await mkdir(partial, { mode: 0o711 });
  try {
    await secureSandboxRoot(dirs);
    const total: TreeStats = { bytes: 0, diskBytes: 0, files: 0, dirs: 0 };
    // A sandbox with an image has files of two uids (agent, root inside): copied as root, its processes frozen or stopped (layer.ts).
    const twoUids = await hasLayer(dirs);
    for (const part of SNAPSHOT_PARTS) {
      if (!(await isDir(dirs[part]))) {
        await realDir(dirs[part]);
        throw new AgentdError('NOT_FOUND', `sandbox folder ${dirs[part]} does not exist`);
      }
      const owner = await ownerOfDir(dirs[part]);
      const dst = join(partial, part);
      await mkdir(dst, { mode: 0o700 });
      await lchown(dst, owner.uid, owner.gid);
      await copyTreeAs(twoUids ? undefined : owner, dirs[part], dst, opts.signal).catch((err: AgentdError) => {
        if (err.code !== 'INTERNAL') throw err;
        throw new AgentdError('FS_ERROR', `snapshot ${id}: the sandbox's ${part} could not be copied as its own uid ${owner.uid} (a file or folder it made unreadable to itself?): ${err.message}`, { cause: err, details: { part } });
      });
    }
    const layer = await snapshotLayer(dirs, partial, opts.signal);
    await chmod(partial, 0o700);
    for (const part of [...SNAPSHOT_PARTS, ...(layer === undefined ? [] : [LAYER_PART])]) {
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
      ...(layer === undefined ? {} : { layer }),
    };
    await writeFile(join(partial, MANIFEST_FILE), `${JSON.stringify(manifest, null, 2)}\n`, { mode: 0o600, flag: 'wx' });
    await rename(partial, finalDir);
    return { dir: finalDir, manifest };
  } catch (err) {
    await chmod(partial, 0o700).catch(() => undefined);
    await rm(partial, { recursive: true, force: true });
    if (err instanceof AgentdError) throw err;
    throw new AgentdError('INTERNAL', `snapshot ${id} failed: ${(err as Error).message}`, { cause: err });
  }
}

/**
 * Makes each of `dirs`' folders hold exactly what the snapshot holds: files created since
 * are gone. The folders themselves stay (same inode, same owner: the sandbox's uid), so a
 * running sandbox's bind mounts keep pointing at them. The copy is staged next to them
 * first (in a root-owned 0700 folder, given to the folder's owner there), so a failed copy
 * (disk full, abort) leaves the current state untouched; then each folder is emptied by its
 * owner and the staged entries are renamed in. With a disk-limit volume the staging copy is
 * inside the volume: a restore needs the snapshot's size free there.
 */
export async function restoreSnapshot(snapshotDir: string, dirs: SandboxDirs, opts: SnapshotOptions = {}): Promise<SnapshotManifest> {
  const manifest = await readManifest(snapshotDir);
  await secureSandboxRoot(dirs);
  // Root inside's files (a sandbox with an image, stopped now) go to the folders' owner so it can clear them.
  if (manifest.layer !== undefined) await giveRootFilesToOwner(dirs);
  const owners = new Map<string, Awaited<ReturnType<typeof ownerOfDir>>>();
  for (const part of manifest.parts) owners.set(part, await ownerOfDir(dirs[part]));
  const staging = join(dirname(dirs.workspace), `.restore-${randomBytes(4).toString('hex')}`);
  await mkdir(staging, { mode: 0o700 });
  try {
    for (const part of manifest.parts) {
      const owner = owners.get(part);
      const dst = join(staging, part);
      await mkdir(dst, { mode: 0o700 });
      await copyTreeAs(undefined, join(snapshotDir, part), dst, opts.signal);
      // With a layer, the copy keeps the sandbox's own two uids (the snapshot is its own).
      if (owner !== undefined && owner.uid !== process.getuid?.() && manifest.layer === undefined) await chownTree(dst, owner, undefined, opts.signal);
    }
    for (const part of manifest.parts) {
      const target = dirs[part];
      await clearTreeAs(owners.get(part), target, opts.signal);
      for (const name of await readdir(join(staging, part))) {
        await rename(join(staging, part, name), join(target, name)).catch((err: NodeJS.ErrnoException) => {
          throw new AgentdError('CONFLICT', `cannot restore ${join(target, name)}: ${err.code ?? err.message} (a process of the sandbox still writes there?)`, { cause: err, details: { path: join(target, name) } });
        });
      }
      // Mode and times of the folder itself, as in the snapshot (set last: the moves changed its mtime).
      await realDir(target);
      const st = await stat(join(snapshotDir, part));
      await chmod(target, st.mode & 0o7777);
      await copyTimes(join(snapshotDir, part), target);
    }
    await restoreLayer(snapshotDir, dirs, opts.signal);
    return manifest;
  } finally {
    // Only the daemon could ever reach the staging folder: removing it as root follows nothing of the sandbox's.
    await rm(staging, { recursive: true, force: true });
  }
}

/**
 * Fills the folders of a new sandbox from a snapshot. The folders must not exist yet or be
 * empty (ALREADY_EXISTS otherwise), so a fork never mixes with another sandbox's files. The
 * files wait in the sandbox's root folder (`.seed`, root-owned 0700) until its first start,
 * which gives them the new sandbox's own host uid (ensureSandboxDirs).
 */
export async function forkFromSnapshot(snapshotDir: string, newDirs: SandboxDirs, opts: SnapshotOptions = {}): Promise<SnapshotManifest> {
  const manifest = await readManifest(snapshotDir);
  for (const part of manifest.parts) {
    const entries = await readdir(newDirs[part]).catch(() => []);
    if (entries.length > 0) throw new AgentdError('ALREADY_EXISTS', `cannot fork into ${newDirs[part]}: it is not empty`);
  }
  const seed = seedDir(newDirs);
  await mkdir(dirname(newDirs.root), { recursive: true, mode: 0o711 });
  await mkdir(newDirs.root, { recursive: true, mode: isRootDaemon() ? 0o711 : 0o700 });
  if (isRootDaemon()) await ownDir(newDirs.root, 0o711);
  await mkdir(seed, { mode: 0o700 }).catch((err: NodeJS.ErrnoException) => {
    throw new AgentdError('ALREADY_EXISTS', `cannot fork into ${newDirs.root}: ${err.code === 'EEXIST' ? 'a fork is already waiting there' : err.message}`, { cause: err });
  });
  try {
    for (const part of manifest.parts) {
      await mkdir(join(seed, part), { mode: 0o700 });
      await copyTreeAs(undefined, join(snapshotDir, part), join(seed, part), opts.signal);
    }
    await seedLayer(snapshotDir, newDirs, manifest.layer, opts.signal);
  } catch (err) {
    await rm(seed, { recursive: true, force: true });
    await rm(layerSeedDir(newDirs), { recursive: true, force: true });
    throw err;
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
  // Snapshots are the daemon's alone (0700 once complete): removing one as root follows nothing of a sandbox's.
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
  for (const name of leftovers) {
    // A copy cut short may still be 0711 (its part folders reachable by their owner): close it first.
    await chmod(join(snapshotsRoot, name), 0o700).catch(() => undefined);
    await rm(join(snapshotsRoot, name), { recursive: true, force: true });
  }
  return leftovers;
}
