import { mkdir, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { removeVolume } from './disk/volume.js';
import type { SandboxDirs } from './types.js';

export interface SandboxDirsOptions {
  /** The sandbox has a disk limit: its folders live inside its own volume (`<root>/volume`, see disk/volume.ts). */
  volume?: boolean;
}

/** The host folders of sandbox `id` under `$AGENTD_HOME/sandboxes/`. */
export function sandboxDirs(home: string, id: string, opts: SandboxDirsOptions = {}): SandboxDirs {
  const root = join(home, 'sandboxes', id);
  const base = opts.volume === true ? join(root, 'volume') : root;
  return { root, workspace: join(base, 'workspace'), home: join(base, 'home'), tmp: join(base, 'tmp') };
}

/**
 * Creates the sandbox's folders. Folders above it that do not exist yet are made 0711
 * (searchable, not listable): a namespace sandbox runs as an unprivileged host uid that must
 * reach its own folder through them. The sandbox's root folder itself is 0700.
 */
export async function ensureSandboxDirs(dirs: SandboxDirs, mode = 0o755): Promise<void> {
  await mkdir(dirname(dirs.root), { recursive: true, mode: 0o711 });
  await mkdir(dirs.root, { recursive: true, mode: 0o700 });
  for (const d of [dirs.workspace, dirs.home, dirs.tmp]) await mkdir(d, { recursive: true, mode });
}

/** Removes the sandbox's folder; a disk-limit volume in it is unmounted first (never recursed into while mounted). */
export async function removeSandboxDirs(dirs: SandboxDirs): Promise<void> {
  await removeVolume(dirs.root);
  await rm(dirs.root, { recursive: true, force: true, maxRetries: 3 });
}
