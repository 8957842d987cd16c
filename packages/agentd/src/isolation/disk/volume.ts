import { execFile } from 'node:child_process';
import { lstatSync, mkdirSync, statSync } from 'node:fs';
import { lstat, mkdir, open, rename, rm, unlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { AgentdError } from '../../core/errors.js';
import { findExecutable } from '../which.js';
import { ownDir, ownDirSync, realDir } from '../tree-ops.js';

/**
 * A per-sandbox disk limit: a sparse image file `<root>/disk.img` holding an ext4 file
 * system, loop-mounted (nosuid, nodev) on `<root>/volume`. The sandbox's workspace, home and
 * tmp are folders inside that volume, so a full volume fails writes with ENOSPC while the
 * file system under AGENTD_HOME keeps its space. Root only (mount and loop devices).
 *
 * The root folder, the image and the mount point are the daemon's (the root folder is made
 * root-owned 0711 before anything else, see tree-ops.ts), the image is created with O_EXCL
 * and never through a link, the mount point must be a real directory, and the volume's own
 * root is root-owned 0755: the sandbox's uid owns only workspace, home and tmp inside it.
 */
export interface VolumePaths {
  image: string;
  mountPoint: string;
}

export interface VolumeTools {
  mkfs: string;
  mount: string;
  umount: string;
  cp: string;
}

const EXEC_TIMEOUT_MS = 30_000;

export function volumePaths(root: string): VolumePaths {
  return { image: join(root, 'disk.img'), mountPoint: join(root, 'volume') };
}

/** The tools a disk limit needs, or the reason it cannot be enforced by this process. */
export async function findVolumeTools(): Promise<{ tools?: VolumeTools; problem?: string }> {
  if (process.getuid?.() !== 0) return { problem: 'a disk limit needs a loop-mounted image, which needs a daemon running as root' };
  const path = `${process.env.PATH ?? ''}:/usr/sbin:/sbin:/usr/bin:/bin`;
  const [mkfs, mount, umount, cp] = await Promise.all(['mkfs.ext4', 'mount', 'umount', 'cp'].map((n) => findExecutable(n, path)));
  const missing = [mkfs === undefined ? 'mkfs.ext4 (Debian package e2fsprogs)' : '', mount === undefined ? 'mount' : '', umount === undefined ? 'umount' : '', cp === undefined ? 'cp' : ''].filter((m) => m !== '');
  if (mkfs === undefined || mount === undefined || umount === undefined || cp === undefined) return { problem: `a disk limit needs ${missing.join(', ')}, not found` };
  return { tools: { mkfs, mount, umount, cp } };
}

function run(file: string, args: string[], signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(file, args, { env: { PATH: '/usr/sbin:/sbin:/usr/bin:/bin' }, timeout: EXEC_TIMEOUT_MS, ...(signal ? { signal } : {}) }, (err, _stdout, stderr) => {
      if (err) reject(new Error(`${file} ${args.join(' ')}: ${String(stderr).trim() || err.message}`, { cause: err }));
      else resolve();
    });
  });
}

/** True when `dir` is a mount point: its device differs from its parent's (both exist). A symlink is never one. */
export async function isMountPoint(dir: string): Promise<boolean> {
  // Synchronous: two stats (see ../tree-ops.ts realDirSync).
  const own = lstatSync(dir, { throwIfNoEntry: false });
  let parent;
  try {
    parent = statSync(join(dir, '..'));
  } catch {
    parent = undefined;
  }
  return own !== undefined && own.isDirectory() && parent !== undefined && own.dev !== parent.dev;
}

/** A root daemon takes the sandbox's root folder as its own (0711) before touching the image or mount point in it. */
async function secureRoot(root: string): Promise<void> {
  // Synchronous metadata calls in the daemon's own home (see ../tree-ops.ts realDirSync).
  mkdirSync(dirname(root), { recursive: true, mode: 0o711 });
  mkdirSync(root, { recursive: true, mode: 0o711 });
  if (process.getuid?.() === 0) ownDirSync(root, 0o711);
}

/** Mounts the image on the (real, not symlinked) mount point, then makes the volume's root the daemon's 0755. */
async function mountImage(tools: VolumeTools, image: string, mountPoint: string, signal?: AbortSignal): Promise<void> {
  const st = await lstat(image);
  if (!st.isFile()) throw new AgentdError('CONFLICT', `${image} is not a regular file: refusing to mount it`, { details: { path: image } });
  await realDir(mountPoint);
  await run(tools.mount, ['-o', 'loop,nosuid,nodev,noatime', '-t', 'ext4', image, mountPoint], signal);
  // An image made by an older version has its root owned by the sandbox uid: take it back.
  await ownDir(mountPoint, 0o755);
}

/**
 * Makes sure the sandbox's volume is mounted: creates and formats the image if there is
 * none (the root folder of the new file system owned by root), then mounts it unless it
 * already is (a daemon that starts again after a crash or a reboot). The sandbox's folders
 * are made inside it afterwards (ensureSandboxDirs), a fork's seed copied in there.
 */
export async function ensureVolume(root: string, bytes: number, tools: VolumeTools, signal?: AbortSignal): Promise<void> {
  const { image, mountPoint } = volumePaths(root);
  try {
    await secureRoot(root);
    await createImage(image, bytes, (staged) =>
      run(tools.mkfs, ['-q', '-F', '-m', '0', '-E', 'root_owner=0:0,lazy_itable_init=1,lazy_journal_init=1,nodiscard', staged], signal));
    if (await isMountPoint(mountPoint)) return;
    await mkdir(mountPoint, { mode: 0o755 }).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'EEXIST') throw err;
    });
    await mountImage(tools, image, mountPoint, signal);
  } catch (err) {
    if (err instanceof AgentdError && err.code === 'CONFLICT') throw err;
    throw new AgentdError('LIMIT_UNSUPPORTED', `cannot set up the disk limit of ${root}: ${(err as Error).message}`, { cause: err, details: { limits: ['diskBytes'] } });
  }
}

/**
 * Creates a sparse image of `bytes` and formats it with `format` under a staging name, then
 * renames it: a crash or a failed mkfs never leaves an unformatted image behind. false if
 * the image already exists. The staging file is created with O_EXCL (never through a link).
 */
async function createImage(image: string, bytes: number, format: (staged: string) => Promise<void>): Promise<boolean> {
  const existing = lstatSync(image, { throwIfNoEntry: false });
  if (existing !== undefined) {
    if (!existing.isFile()) throw new AgentdError('CONFLICT', `${image} is not a regular file: refusing to use it as a disk image`, { details: { path: image } });
    return false;
  }
  const staging = `${image}.new`;
  await unlink(staging).catch(() => undefined);
  const fh = await open(staging, 'wx', 0o600);
  try {
    await fh.truncate(bytes);
  } finally {
    await fh.close();
  }
  await format(staging);
  await rename(staging, image);
  return true;
}

/**
 * Runs `fn` with the sandbox's volume mounted: a stopped sandbox's volume is not (the files
 * of a sandbox with a disk limit are reachable only while it is). Mounts it for the call and
 * unmounts it after when it has an image and is not mounted; otherwise just runs `fn`.
 */
export async function withVolume<T>(root: string, fn: () => Promise<T>, signal?: AbortSignal): Promise<T> {
  const { image, mountPoint } = volumePaths(root);
  if (process.getuid?.() === 0 && (await lstat(root).catch(() => undefined)) !== undefined) await ownDir(root, 0o711);
  if ((await lstat(image).catch(() => undefined)) === undefined || (await isMountPoint(mountPoint))) return fn();
  const { tools, problem } = await findVolumeTools();
  if (tools === undefined) throw new AgentdError('LIMIT_UNSUPPORTED', `cannot mount the volume of ${root}: ${problem ?? 'unavailable'}`, { details: { limits: ['diskBytes'] } });
  await mountImage(tools, image, mountPoint, signal);
  try {
    return await fn();
  } finally {
    await unmountVolume(mountPoint, tools.umount);
  }
}

/** Unmounts the volume if mounted (lazily when busy), then removes the image. */
export async function removeVolume(root: string, umountPath?: string): Promise<void> {
  const { image, mountPoint } = volumePaths(root);
  await unmountVolume(mountPoint, umountPath);
  await rm(image, { force: true });
  await rm(`${image}.new`, { force: true });
}

/** Unmounts `mountPoint` if it is one; falls back to a lazy unmount when it is busy. */
export async function unmountVolume(mountPoint: string, umountPath?: string): Promise<void> {
  if (!(await isMountPoint(mountPoint))) return;
  const umount = umountPath ?? (await findExecutable('umount', '/usr/bin:/bin:/usr/sbin:/sbin')) ?? 'umount';
  try {
    await run(umount, [mountPoint]);
  } catch {
    await run(umount, ['-l', mountPoint]);
  }
}
