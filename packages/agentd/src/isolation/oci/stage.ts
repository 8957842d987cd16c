/**
 * Every host path an OCI sandbox mounts (allowed paths, bind mounts) is first mounted by the
 * daemon onto a staging point it owns (`<sandbox>/.mounts/<i>`, the same folder the namespace
 * backend uses, so removal and recovery detach it the same way), from the descriptor
 * isolation/host-paths.ts pinned: the runtime then binds the staging point, a path nobody
 * else can change, never the user's path. A rename or symlink swap after the check changes
 * nothing. Bind mounts keep their owner (idmapped onto the sandbox's uid, as in
 * namespace/owner-mounts.ts); allowed paths are mapped owner-to-itself (an identity mapping:
 * what the sandbox may do there is what its own uid may). Detached from the host once the
 * sandbox is up (it keeps its copies: the bundle's root propagation is private).
 */
import { mkdir } from 'node:fs/promises';
import type { HostIds } from '../host-ids.js';
import type { PinnedHostPath } from '../host-paths.js';
import { mountStaged, stagingDir, unstageOwnerMounts } from '../owner-mounts.js';

/** Stages each pinned host path (`mapTo`: the sandbox's ids for an owner-preserving bind mount; absent: identity). All or none. */
export async function stageHostMounts(root: string, mounts: ReadonlyArray<{ pinned: PinnedHostPath; readonly: boolean; mapTo?: HostIds }>): Promise<string[]> {
  if (mounts.length === 0) return [];
  const dir = stagingDir(root);
  await unstageOwnerMounts(root);
  await mkdir(dir, { mode: 0o711 });
  const paths: string[] = [];
  try {
    for (const [i, m] of mounts.entries()) paths.push(await mountStaged(dir, i, m, m.mapTo));
    return paths;
  } catch (err) {
    await unstageOwnerMounts(root).catch(() => undefined);
    throw err;
  }
}
