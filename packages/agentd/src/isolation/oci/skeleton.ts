/**
 * The read-only root of an OCI sandbox without an image: a daemon-owned folder holding only
 * mount points and the plan's symlinks (bundle.ts skeletonEntries), on which the runtime
 * mounts everything the sandbox sees. Its contents follow from the mount plan alone, which is
 * the same for every sandbox of one layout, so one copy per distinct entry list is kept under
 * `<home>/oci-rootfs/<sha256 of the entries>` and shared: made once (in a staging folder,
 * renamed into place whole, so a crash never leaves half a skeleton under its final name),
 * then only looked at. A sandbox cannot change it: the bundle mounts it read-only
 * (`root.readonly`), it belongs to the host's root (unmapped in every sandbox's user
 * namespace), and what a runtime mounts on it stays in that sandbox's mount namespace.
 */
import { createHash, randomBytes } from 'node:crypto';
import { chmod, lstat, mkdir, open, rename, rm, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { AgentdError } from '../../core/errors.js';
import type { Mount } from '../namespace/mounts.js';
import { ownDir } from '../tree-ops.js';
import { skeletonEntries, type OciConfig, type SkeletonEntry } from './bundle.js';

/** `<home>/oci-rootfs` for a home. */
export function skeletonsDir(home: string): string {
  return join(home, 'oci-rootfs');
}

/** Skeletons this process made or checked: path -> the folder's identity when it was checked. */
const known = new Map<string, { dev: number; ino: number }>();

/**
 * The skeleton root for `config` (its mounts) and the plan's symlinks, made when this entry
 * list has none yet; returns its path (the bundle's `root.path`).
 */
export async function skeletonRoot(home: string, config: OciConfig, plan: readonly Mount[]): Promise<string> {
  // A bind mount onto a file needs a file as its mount point: which sources are not folders.
  const binds = config.mounts.filter((m) => m.type === 'bind');
  const kinds = await Promise.all(binds.map((m) => lstat(m.source).then((st) => !st.isDirectory(), () => false)));
  const fileTargets = new Set(binds.filter((_, i) => kinds[i] === true).map((m) => m.destination));
  const entries = skeletonEntries(config.mounts, plan, fileTargets);
  const key = createHash('sha256').update(JSON.stringify(entries)).digest('hex').slice(0, 32);
  const base = skeletonsDir(home);
  const path = join(base, key);
  const seen = known.get(path);
  const st = await lstat(path).catch(() => undefined);
  if (st !== undefined && seen !== undefined && st.dev === seen.dev && st.ino === seen.ino) return path;
  await mkdir(base, { mode: 0o711 }).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== 'EEXIST') throw err;
  });
  // The daemon's own folder, searchable (the runtime reaches the root as the sandbox's uid), writable by nobody else.
  await ownDir(base, 0o711);
  if (st !== undefined) {
    // Made by an earlier daemon of this home (or an earlier start of this one): used when it is the daemon's own folder.
    if (!st.isDirectory() || st.uid !== process.getuid?.() || (st.mode & 0o022) !== 0) {
      throw new AgentdError('CONFLICT', `${path} is not a skeleton root made by the daemon`, { details: { path } });
    }
    known.set(path, { dev: st.dev, ino: st.ino });
    return path;
  }
  const staging = join(base, `.${key}.${randomBytes(4).toString('hex')}.new`);
  try {
    await build(staging, entries);
    await rename(staging, path);
  } catch (err) {
    await rm(staging, { recursive: true, force: true }).catch(() => undefined);
    // Another start made the same skeleton at the same time: theirs is as good.
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw err;
  }
  const made = await lstat(path);
  if (!made.isDirectory() || made.uid !== process.getuid?.() || (made.mode & 0o022) !== 0) throw new AgentdError('CONFLICT', `${path} is not a skeleton root made by the daemon`, { details: { path } });
  known.set(path, { dev: made.dev, ino: made.ino });
  return path;
}

/** Makes the skeleton's entries in a fresh folder, parents before children, each level at once. */
async function build(dir: string, entries: readonly SkeletonEntry[]): Promise<void> {
  await mkdir(dir, { mode: 0o755 });
  await chmod(dir, 0o755);
  const depth = (p: string): number => p.split('/').filter(Boolean).length;
  const levels = new Map<number, SkeletonEntry[]>();
  for (const e of entries) levels.set(depth(e.path), [...(levels.get(depth(e.path)) ?? []), e]);
  for (const d of [...levels.keys()].sort((a, b) => a - b)) {
    await Promise.all((levels.get(d) ?? []).map(async (e) => {
      const path = join(dir, e.path);
      if (e.kind === 'symlink') await symlink(e.target, path);
      else if (e.kind === 'file') await (await open(path, 'wx', 0o644)).close();
      else await mkdir(path, { mode: 0o755 }).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== 'EEXIST') throw err;
      });
    }));
  }
}
