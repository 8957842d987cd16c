import { lstatSync, mkdirSync } from 'node:fs';
import { chmod, lchown, lstat, mkdir, readdir, rename, rm, rmdir, unlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { AgentdError } from '../core/errors.js';
import { removeVolume } from './disk/volume.js';
import { giveRootFilesToOwner, unmountImageRoot } from './image-layer.js';
import { releaseHostUid, type HostIds } from './host-ids.js';
import { unstageOwnerMounts } from './owner-mounts.js';
import { chownTree, clearTreeAs, copyTreeAs, ownDir, ownDirSync, ownerOfDir, realDir } from './tree-ops.js';
import type { SandboxDirs } from './types.js';

export interface SandboxDirsOptions {
  /** The sandbox has a disk limit: its folders live inside its own volume (`<root>/volume`, see disk/volume.ts). */
  volume?: boolean;
}

/** The sandbox's own writable folders, in a fixed order. */
export const PART_NAMES = ['workspace', 'home', 'tmp'] as const;

/** The folder holding every sandbox's folder: `$AGENTD_HOME/sandboxes`. */
export function sandboxesDir(home: string): string {
  return join(home, 'sandboxes');
}

/** The host folders of sandbox `id` under `$AGENTD_HOME/sandboxes/`. */
export function sandboxDirs(home: string, id: string, opts: SandboxDirsOptions = {}): SandboxDirs {
  const root = join(sandboxesDir(home), id);
  const base = opts.volume === true ? join(root, 'volume') : root;
  return { root, workspace: join(base, 'workspace'), home: join(base, 'home'), tmp: join(base, 'tmp') };
}

/** Where a fork's files wait (root-owned, 0700) until the sandbox's first start gives them its uid. */
export function seedDir(dirs: SandboxDirs): string {
  return join(dirs.root, '.seed');
}

function isRootDaemon(): boolean {
  return process.getuid?.() === 0;
}

/**
 * For a root daemon: makes the sandbox's root folder (and its volume root, when mounted) the
 * daemon's own, 0711 / 0755, so the sandbox's uid cannot create, rename or replace anything
 * next to its workspace, home and tmp (a folder left by an older version, owned by the
 * sandbox uid, is taken back). Then the path to each of those folders cannot be redirected.
 */
export async function secureSandboxRoot(dirs: SandboxDirs): Promise<void> {
  secureSandboxRootSync(dirs);
}

function secureSandboxRootSync(dirs: SandboxDirs): void {
  if (!isRootDaemon()) return;
  ownDirSync(dirs.root, 0o711);
  const base = dirname(dirs.workspace);
  if (base !== dirs.root && lstatSync(base, { throwIfNoEntry: false }) !== undefined) ownDirSync(base, 0o755);
}

export interface EnsureDirsOptions {
  /** Mode of workspace, home and tmp when made (default 0755; 0700 for a sandbox with its own uid). */
  mode?: number;
  /** The host ids the sandbox runs as (root daemon): they own workspace, home and tmp. */
  owner?: HostIds;
}

/**
 * Creates the sandbox's folders. Folders above it that do not exist yet are made 0711
 * (searchable, not listable). With a root daemon, the sandbox's root folder is the daemon's
 * (0711: the sandbox's uid may pass, not write) and only workspace, home and tmp belong to
 * `owner`. A fork's seed (forkFromSnapshot) becomes those folders here, given to `owner`.
 */
export async function ensureSandboxDirs(dirs: SandboxDirs, opts: EnsureDirsOptions = {}): Promise<void> {
  const mode = opts.mode ?? 0o755;
  // Synchronous metadata calls on the daemon's own folders (see tree-ops.ts realDirSync). The
  // three folders stay on the thread pool, made at once: they may live in a disk volume just
  // mounted, where a first mkdir waits for the journal (3.5 ms measured on the main thread).
  mkdirSync(dirname(dirs.root), { recursive: true, mode: 0o711 });
  mkdirSync(dirs.root, { recursive: true, mode: isRootDaemon() ? 0o711 : 0o700 });
  secureSandboxRootSync(dirs);
  await consumeSeed(dirs, opts.owner);
  await Promise.all([dirs.workspace, dirs.home, dirs.tmp].map(async (d) => {
    await mkdir(d, { mode }).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'EEXIST') throw err;
    });
    const st = await realDir(d);
    if (opts.owner === undefined || (st.uid === opts.owner.uid && st.gid === opts.owner.gid)) return;
    if (st.uid === process.getuid?.()) {
      // Made just now by the daemon (its parent is the daemon's: nothing can have been swapped in).
      await lchown(d, opts.owner.uid, opts.owner.gid);
      await chmod(d, mode);
    } else {
      // The tree of an older version's shared uid: only that uid's entries change hands.
      await chownTree(d, opts.owner, st.uid);
    }
  }));
}

/**
 * Turns the seed a fork left in the root folder into workspace, home and tmp: its files (a
 * copy only the daemon could reach so far) are given to `owner`, then renamed into place,
 * or copied when the folders live in another file system (a disk-limit volume, freshly
 * mounted, which no process of `owner` can have touched yet).
 */
async function consumeSeed(dirs: SandboxDirs, owner: HostIds | undefined): Promise<void> {
  const seed = seedDir(dirs);
  if (lstatSync(seed, { throwIfNoEntry: false }) === undefined) return;
  await realDir(seed);
  for (const name of PART_NAMES) {
    const from = join(seed, name);
    if ((await lstat(from).catch(() => undefined)) === undefined) continue;
    await realDir(from);
    if (owner !== undefined) await chownTree(from, owner);
    const to = dirs[name];
    const existing = await lstat(to).catch(() => undefined);
    if (existing !== undefined) {
      await realDir(to);
      // Only an empty folder (made by an earlier, failed start) may be replaced by the seed.
      await rmdir(to).catch(() => {
        throw new AgentdError('ALREADY_EXISTS', `cannot fork into ${to}: it is not empty`, { details: { path: to } });
      });
    }
    try {
      await rename(from, to);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EXDEV') throw err;
      await mkdir(to, { mode: 0o700 });
      await copyTreeAs(undefined, from, to);
    }
  }
  await rm(seed, { recursive: true, force: true });
}

/**
 * Removes the sandbox's folder and frees its host uid. A disk-limit volume in it is
 * unmounted first (never recursed into while mounted) and its image removed. Workspace,
 * home and tmp are emptied by their owner (a child dropped to the sandbox's uid, see
 * tree-ops.ts): the daemon never walks, as root, a tree the sandbox can write. What is left
 * is the daemon's own: root-made files, empty folders, staging copies only it could reach.
 */
export async function removeSandboxDirs(dirs: SandboxDirs): Promise<void> {
  const id = dirs.root.split('/').at(-1) ?? '';
  const top = await lstat(dirs.root).catch(() => undefined);
  if (top === undefined) return releaseHostUid(dirs.root, id);
  if (!top.isDirectory()) {
    await unlink(dirs.root);
    return releaseHostUid(dirs.root, id);
  }
  if (isRootDaemon()) await ownDir(dirs.root, 0o711);
  // A sandbox with an image: its overlay and image mounts first, then root-inside's files to the folders' owner.
  await unmountImageRoot(dirs);
  await removeVolume(dirs.root);
  // Staging mounts of owner-preserving bind mounts (a start cut short): detached, never walked.
  await unstageOwnerMounts(dirs.root);
  await giveRootFilesToOwner(dirs);
  for (const d of [dirs.workspace, dirs.home, dirs.tmp]) await removeOwnedTree(d);
  for (const name of await readdir(dirs.root)) {
    const path = join(dirs.root, name);
    const st = await lstat(path);
    if (!st.isDirectory()) await unlink(path);
    else if (st.uid === process.getuid?.()) await rm(path, { recursive: true, force: true, maxRetries: 3 });
    // A folder of another uid (an older version let the sandbox write here): emptied as that uid.
    else await removeOwnedTree(path);
  }
  await rmdir(dirs.root);
  await releaseHostUid(dirs.root, id);
}

/** Empties `dir` as its owner, then removes it; a symlink or file there is unlinked, never followed. */
async function removeOwnedTree(dir: string): Promise<void> {
  const st = await lstat(dir).catch(() => undefined);
  if (st === undefined) return;
  if (!st.isDirectory()) return unlink(dir);
  const owner = await ownerOfDir(dir);
  for (let attempt = 0; ; attempt++) {
    await clearTreeAs(owner, dir);
    try {
      await rmdir(dir);
      return;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOTEMPTY' || attempt >= 2) {
        throw new AgentdError('CONFLICT', `cannot remove ${dir}: ${(err as Error).message} (a process of its owner, uid ${owner.uid}, still writes there?)`, { cause: err, details: { path: dir } });
      }
    }
  }
}
