/** Tree copies for snapshots: `cp -a --reflink=auto` (never follows symlinks), clearing, sizing. */
import { execFile } from 'node:child_process';
import { lstat, readdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { AgentdError } from '../../core/errors.js';

/**
 * Copies the contents of directory `src` into directory `dst` (which must exist), and gives
 * `dst` the mode and times of `src`. Reflinks where the filesystem allows, else a full copy;
 * keeps modes, owners, times, hard links and symlinks as symlinks.
 */
export function copyContents(src: string, dst: string, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile('cp', ['--reflink=auto', '-a', '--no-target-directory', '--', `${src}/.`, dst], { signal, maxBuffer: 1024 * 1024 }, (err, _stdout, stderr) => {
      if (err === null) return resolve();
      if (signal?.aborted) return reject(new AgentdError('CANCELLED', `copy of ${src} cancelled`, { cause: signal.reason }));
      reject(new AgentdError('INTERNAL', `cp ${src} -> ${dst} failed: ${stderr.trim() || err.message}`, { cause: err }));
    });
  });
}

/** Gives `dst` the access and modification times of `ref`, to the nanosecond (Node's utimes rounds). */
export function copyTimes(ref: string, dst: string): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile('touch', ['--no-dereference', `--reference=${ref}`, '--', dst], (err, _stdout, stderr) => {
      if (err === null) resolve();
      else reject(new AgentdError('INTERNAL', `touch ${dst} failed: ${stderr.trim() || err.message}`, { cause: err }));
    });
  });
}

/** Removes every entry inside `dir` (not `dir` itself). Symlinks are removed, never followed. */
export async function clearDir(dir: string): Promise<void> {
  for (const name of await readdir(dir)) await rm(join(dir, name), { recursive: true, force: true });
}

/**
 * Moves every entry of `from` into `to`: renames, so nothing can run out of space midway;
 * a copy only when the two are on different filesystems (EXDEV).
 */
export async function moveContents(from: string, to: string, signal?: AbortSignal): Promise<void> {
  for (const name of await readdir(from)) {
    try {
      await rename(join(from, name), join(to, name));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EXDEV') throw err;
      await copyContents(from, to, signal);
      await clearDir(from);
      return;
    }
  }
}

export interface TreeStats {
  /** Apparent bytes of regular files. */
  bytes: number;
  /** Bytes of disk blocks allocated (shared reflinked blocks count in each copy). */
  diskBytes: number;
  /** Entries that are not directories. */
  files: number;
  /** Directories below `dir`. */
  dirs: number;
}

/** Walks `dir` with lstat (symlinks are counted, never followed). */
export async function treeStats(dir: string, signal?: AbortSignal): Promise<TreeStats> {
  const stats: TreeStats = { bytes: 0, diskBytes: 0, files: 0, dirs: 0 };
  const pending = [dir];
  for (let current = pending.pop(); current !== undefined; current = pending.pop()) {
    if (signal?.aborted) throw new AgentdError('CANCELLED', 'cancelled', { cause: signal.reason });
    for (const entry of await readdir(current, { withFileTypes: true })) {
      const path = join(current, entry.name);
      const st = await lstat(path);
      stats.diskBytes += st.blocks * 512;
      if (st.isDirectory()) {
        stats.dirs += 1;
        pending.push(path);
      } else {
        stats.files += 1;
        if (st.isFile()) stats.bytes += st.size;
      }
    }
  }
  return stats;
}
