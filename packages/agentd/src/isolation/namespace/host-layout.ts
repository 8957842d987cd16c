import { lstat, readlink } from 'node:fs/promises';
import type { SystemEntry } from './mounts.js';

/** Top-level host entries a sandbox gets read-only (or as the same symlink), when they exist. */
export const SYSTEM_PATHS = ['/usr', '/bin', '/sbin', '/lib', '/lib32', '/lib64', '/libx32'] as const;

/**
 * Which system entries exist on this host and whether each is a directory or a symlink
 * (merged-/usr hosts have `/bin -> usr/bin`). Measured once per backend.
 */
export async function measureSystemEntries(paths: readonly string[] = SYSTEM_PATHS): Promise<SystemEntry[]> {
  const entries: SystemEntry[] = [];
  for (const path of paths) {
    const st = await lstat(path).catch(() => undefined);
    if (st === undefined) continue;
    if (st.isSymbolicLink()) entries.push({ path, kind: 'symlink', target: await readlink(path) });
    else if (st.isDirectory()) entries.push({ path, kind: 'dir' });
  }
  return entries;
}
