/**
 * A sandbox without an image (docs/backends.md, "podman"): its root is a small skeleton the
 * backend makes once under `<home>/podman/host-root` (empty mount points and the host's
 * merged-/usr symlinks), mounted read-only, with the host's system folders (`/usr`, `/etc`,
 * and any real `/bin`, `/lib`... folders) bound read-only over it, as the namespace backend
 * does. Nothing in it is writable: only /workspace, /home/agent and /tmp are.
 */
import { mkdir, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { measureSystemEntries, SYSTEM_PATHS } from '../namespace/host-layout.js';
import type { SystemEntry } from '../namespace/mounts.js';

/** Bumped when the skeleton's layout changes (an older one is made again). */
const LAYOUT = 'v1';

const DIRS = ['proc', 'dev', 'sys', 'run', 'tmp', 'etc', 'workspace', 'home/agent', '.agentd/net', 'root', 'var/tmp'];
const FILES = ['.agentd/init', 'run/.containerenv'];

export interface HostRoot {
  dir: string;
  system: SystemEntry[];
}

/** Makes (or finds) the skeleton; `/usr`-like entries are measured on this host. */
export async function ensureHostRoot(base: string): Promise<HostRoot> {
  const system = await measureSystemEntries(SYSTEM_PATHS);
  const dir = join(base, `${LAYOUT}-${system.map((e) => (e.kind === 'dir' ? e.path : `${e.path}=${e.target}`)).join(',').replace(/[^A-Za-z0-9=,._-]/g, '_')}`);
  const ok = await import('node:fs/promises').then((fs) => fs.stat(join(dir, '.complete')).then(() => true, () => false));
  if (ok) return { dir, system };
  const staging = `${dir}.${process.pid}.${Date.now()}.new`;
  await mkdir(staging, { recursive: true, mode: 0o755 });
  for (const d of DIRS) await mkdir(join(staging, d), { recursive: true, mode: 0o755 });
  for (const f of FILES) await writeFile(join(staging, f), '', { mode: 0o644 });
  for (const e of system) {
    if (e.kind === 'dir') await mkdir(join(staging, e.path), { recursive: true, mode: 0o755 });
    else await symlink(e.target, join(staging, e.path));
  }
  await writeFile(join(staging, '.complete'), '');
  try {
    await rename(staging, dir);
  } catch {
    // Made meanwhile by another start: use that one.
    await rm(staging, { recursive: true, force: true });
  }
  return { dir, system };
}
