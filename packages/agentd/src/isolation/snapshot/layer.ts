/**
 * The writable layer of a sandbox with an image (../namespace/image-root.ts) in snapshots:
 * `<snapshot>/layer` holds a copy of its upper folder, with owners kept (root inside's files
 * belong to the sandbox's root-inside uid, the agent's to its agent uid; the manifest records
 * both, so a fork can give them to the fork's own two uids).
 *
 * The upper folder is reachable only by the daemon (`<base>/layer` is root's 0700), and the
 * sandbox changes it only through its overlay, which is unmounted while it is stopped and
 * frozen while a snapshot is taken (the manager refuses a snapshot of a running sandbox with
 * an image it cannot freeze): the copies run as root with `cp -a` (never following a link of
 * the tree) while no process of the sandbox runs.
 */
import { lstat, mkdir, readdir, rename, rm, writeFile, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { AgentdError } from '../../core/errors.js';
import { imageLayerPaths, recordedRootUid } from '../image-layer.js';
import { copyTreeAs, realDir, runAs } from '../tree-ops.js';
import type { SandboxDirs } from '../types.js';

export const LAYER_PART = 'layer';

/** True when the sandbox has an image layer (it ran with an image at least once). */
export async function hasLayer(dirs: SandboxDirs): Promise<boolean> {
  return (await lstat(imageLayerPaths(dirs).upper).catch(() => undefined))?.isDirectory() ?? false;
}

/** Copies the layer into `<partial>/layer`; returns the ids to record (undefined: no layer). */
export async function snapshotLayer(dirs: SandboxDirs, partial: string, signal?: AbortSignal): Promise<{ agent_uid: number; root_uid: number } | undefined> {
  if (!(await hasLayer(dirs))) return undefined;
  const { upper } = imageLayerPaths(dirs);
  const agent = await realDir(dirs.workspace);
  const rootUid = await recordedRootUid(dirs);
  const dst = join(partial, LAYER_PART);
  await mkdir(dst, { mode: 0o755 });
  await copyTreeAs(undefined, upper, dst, signal);
  const st = await lstat(upper);
  await runAs(undefined, ['chown', `${st.uid}:${st.gid}`, dst]);
  return { agent_uid: agent.uid, root_uid: rootUid ?? st.uid };
}

/** Empties `dir` as root (the daemon's own tree, or one no process of the sandbox can reach now). */
async function clearAsRoot(dir: string): Promise<void> {
  for (const name of await readdir(dir)) await rm(join(dir, name), { recursive: true, force: true });
}

/** Puts the snapshot's layer back as the sandbox's upper folder (stopped sandbox). */
export async function restoreLayer(snapshotDir: string, dirs: SandboxDirs, signal?: AbortSignal): Promise<void> {
  const src = join(snapshotDir, LAYER_PART);
  if ((await lstat(src).catch(() => undefined)) === undefined) return;
  const p = imageLayerPaths(dirs);
  await mkdir(p.layer, { recursive: true, mode: 0o700 });
  const staging = join(p.layer, `.restore-${Date.now()}`);
  await mkdir(staging, { mode: 0o700 });
  try {
    await copyTreeAs(undefined, src, join(staging, 'upper'), signal);
    await rm(p.upper, { recursive: true, force: true });
    await rename(join(staging, 'upper'), p.upper);
    // The overlay's work folder belongs to the old upper.
    if ((await lstat(p.work).catch(() => undefined)) !== undefined) await clearAsRoot(p.work);
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
}

/** Where a fork's layer waits until its first start has leased the fork's uids. */
export function layerSeedDir(dirs: SandboxDirs): string {
  return join(dirs.root, '.seed-layer');
}

/** Copies the snapshot's layer next to a fork's other seed (root-only), with the ids it was made with. */
export async function seedLayer(snapshotDir: string, newDirs: SandboxDirs, ids: { agent_uid: number; root_uid: number } | undefined, signal?: AbortSignal): Promise<void> {
  const src = join(snapshotDir, LAYER_PART);
  if (ids === undefined || (await lstat(src).catch(() => undefined)) === undefined) return;
  const seed = layerSeedDir(newDirs);
  await mkdir(seed, { mode: 0o700 });
  await copyTreeAs(undefined, src, join(seed, 'upper'), signal);
  await writeFile(join(seed, 'ids.json'), `${JSON.stringify(ids)}\n`, { mode: 0o600 });
}

/**
 * At a fork's first start (its two uids leased): its seeded layer's files change hands from
 * the source sandbox's uids to its own, then the layer becomes its upper folder.
 */
export async function consumeLayerSeed(dirs: SandboxDirs, agent: { uid: number; gid: number }, root: { uid: number; gid: number }): Promise<void> {
  const seed = layerSeedDir(dirs);
  if ((await lstat(seed).catch(() => undefined)) === undefined) return;
  const p = imageLayerPaths(dirs);
  if (await hasLayer(dirs)) throw new AgentdError('ALREADY_EXISTS', `cannot fork into ${p.upper}: it exists`);
  const ids = JSON.parse(await readFile(join(seed, 'ids.json'), 'utf8')) as { agent_uid: number; root_uid: number };
  const tree = join(seed, 'upper');
  // Two steps through a uid no file has, so the two moves cannot mix (old agent uid = new root uid...).
  const moves: Array<[number, number]> = [[ids.agent_uid, agent.uid], [ids.root_uid, root.uid]];
  for (const [from, to] of moves) {
    if (from === to) continue;
    await runAs(undefined, ['chown', '-R', '-P', `--from=${from}`, String(to + 0x40000000), tree]);
    await runAs(undefined, ['chown', '-R', '-P', `--from=:${from}`, `:${to + 0x40000000}`, tree]);
  }
  for (const [from, to] of moves) {
    if (from === to) continue;
    await runAs(undefined, ['chown', '-R', '-P', `--from=${to + 0x40000000}`, String(to), tree]);
    await runAs(undefined, ['chown', '-R', '-P', `--from=:${to + 0x40000000}`, `:${to}`, tree]);
  }
  await mkdir(p.layer, { recursive: true, mode: 0o700 });
  try {
    await rename(tree, p.upper);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EXDEV') throw err;
    await copyTreeAs(undefined, tree, p.upper);
  }
  await rm(seed, { recursive: true, force: true });
}
