import { mkdir, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { SandboxDirs } from './types.js';

/** The host folders of sandbox `id` under `$AGENTD_HOME/sandboxes/`. */
export function sandboxDirs(home: string, id: string): SandboxDirs {
  const root = join(home, 'sandboxes', id);
  return { root, workspace: join(root, 'workspace'), home: join(root, 'home'), tmp: join(root, 'tmp') };
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

export async function removeSandboxDirs(dirs: SandboxDirs): Promise<void> {
  await rm(dirs.root, { recursive: true, force: true, maxRetries: 3 });
}
