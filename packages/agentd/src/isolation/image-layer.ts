/**
 * The writable layer of a sandbox that runs on an image (docs/images.md), as every backend
 * and the core see it: where its folders are (`<base>/layer/{upper,work}`, `<root>/.image-lower`,
 * `<root>/.image-root`), the uids it has inside, the root-inside uid recorded for it, and the
 * steps any removal, snapshot or recovery needs (unmount the overlay, give root-inside's files
 * to the folders' owner). How the overlay is mounted is the backend's (namespace/image-root.ts).
 */
import { lstat, readFile, rmdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { AgentdError } from '../core/errors.js';
import { runAs } from './tree-ops.js';
import type { SandboxDirs } from './types.js';

/** The uids a sandbox with an image has inside. */
export const ROOT_UID = 0;
export const AGENT_UID = 1000;

export interface ImageLayerPaths {
  layer: string;
  upper: string;
  work: string;
  lower: string;
  merged: string;
}

export function imageLayerPaths(dirs: SandboxDirs): ImageLayerPaths {
  const base = dirname(dirs.workspace);
  const layer = join(base, 'layer');
  return { layer, upper: join(layer, 'upper'), work: join(layer, 'work'), lower: join(dirs.root, '.image-lower'), merged: join(dirs.root, '.image-root') };
}

async function mountedAt(dir: string): Promise<boolean> {
  const text = await readFile('/proc/self/mountinfo', 'utf8').catch(() => '');
  const esc = dir.replace(/[ \t\n\\]/g, (c) => `\\${c.charCodeAt(0).toString(8).padStart(3, '0')}`);
  return text.split('\n').some((l) => l.split(' ')[4] === esc);
}

/** Unmounts the overlay and the idmapped lower of a sandbox (nothing mounted: nothing to do). */
export async function unmountImageRoot(dirs: SandboxDirs): Promise<void> {
  const p = imageLayerPaths(dirs);
  for (const dir of [p.merged, p.lower]) {
    while (await mountedAt(dir)) await runAs(undefined, ['umount', dir]).catch((err: AgentdError) => {
      throw new AgentdError('INTERNAL', `cannot unmount ${dir}: ${err.message}`, { cause: err });
    });
    await rmdir(dir).catch(() => undefined);
  }
}

/** `<root>/.root-uid`: the daemon's file naming the sandbox's root-inside host uid (its lease's owner path). */
export function rootUidFile(dirs: SandboxDirs): string {
  return join(dirs.root, '.root-uid');
}

/** The root-inside uid recorded for the sandbox, if it ever ran with an image. */
export async function recordedRootUid(dirs: SandboxDirs): Promise<number | undefined> {
  const text = await readFile(rootUidFile(dirs), 'utf8').catch(() => undefined);
  const n = Number(text?.trim());
  return text !== undefined && Number.isInteger(n) && n > 0 ? n : undefined;
}

/**
 * Gives root-inside's files in the sandbox's workspace, home and tmp to its agent uid (the
 * folder's owner), so the owner-dropped tree work (tree-ops.ts) can copy and remove them.
 * Only for a sandbox with no process left (destroy, removal): chown -R -P never follows a link.
 */
export async function giveRootFilesToOwner(dirs: SandboxDirs): Promise<void> {
  const rootUid = await recordedRootUid(dirs);
  if (rootUid === undefined) return;
  for (const d of [dirs.workspace, dirs.home, dirs.tmp]) {
    const st = await lstat(d).catch(() => undefined);
    if (st === undefined || !st.isDirectory() || st.uid === rootUid) continue;
    await runAs(undefined, ['chown', '-R', '-P', `--from=${rootUid}`, String(st.uid), d]);
    await runAs(undefined, ['chown', '-R', '-P', `--from=:${rootUid}`, `:${st.gid}`, d]);
  }
}
