import { readdir, rmdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { CgroupDriver, SandboxCgroup } from '../cgroup/index.js';

/** The parent of the podman sandboxes' cgroups in every hierarchy (the namespace backend's is `agentd`). */
export const CGROUP_PARENT = 'agentd-podman';

const ROOT = '/sys/fs/cgroup';

/**
 * runc makes the container's cgroup parent in every v1 hierarchy, not only in those the
 * driver manages, and conmon's group (`conmon`) inside it; podman removes neither. Removes,
 * from each hierarchy, the sandbox's folder and the (empty) groups inside; true when none is left.
 */
export async function removeCgroupDirs(parent: string, id: string): Promise<boolean> {
  let clean = true;
  const entries = await readdir(ROOT, { withFileTypes: true }).catch(() => []);
  for (const e of entries) {
    if (!e.isDirectory()) continue;
    const dir = join(ROOT, e.name, parent, id);
    const inner = await readdir(dir, { withFileTypes: true }).catch(() => undefined);
    if (inner === undefined) continue;
    for (const sub of inner) {
      if (sub.isDirectory()) await rmdir(join(dir, sub.name)).catch(() => (clean = false));
    }
    await rmdir(dir).catch(() => (clean = false));
  }
  return clean;
}

/**
 * The end of a sandbox's cgroup: its processes killed, then its folders in every hierarchy
 * removed (conmon may take a moment to leave its group after its container was removed).
 */
export async function dropSandboxCgroup(group: SandboxCgroup | undefined, id: string): Promise<void> {
  if (group !== undefined) await group.killAll();
  for (let i = 0; i < 100; i++) {
    if (await removeCgroupDirs(CGROUP_PARENT, id)) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  if (group !== undefined) await group.remove();
}

/** The groups of `ids` (this home's sandboxes whose containers were removed): dropped. */
export async function dropSandboxCgroups(driver: CgroupDriver, ids: readonly string[]): Promise<void> {
  for (const id of ids) await dropSandboxCgroup(await driver.attach(id), id);
}
