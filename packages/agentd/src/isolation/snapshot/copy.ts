/** Snapshot helpers: folder times, sizing (copies and clearing live in ../tree-ops.ts). */
import { execFile } from 'node:child_process';
import { lstat, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { AgentdError } from '../../core/errors.js';

/** Gives `dst` the access and modification times of `ref`, to the nanosecond (Node's utimes rounds). */
export function copyTimes(ref: string, dst: string): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile('touch', ['--no-dereference', `--reference=${ref}`, '--', dst], (err, _stdout, stderr) => {
      if (err === null) resolve();
      else reject(new AgentdError('INTERNAL', `touch ${dst} failed: ${stderr.trim() || err.message}`, { cause: err }));
    });
  });
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
