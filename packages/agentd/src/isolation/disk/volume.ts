import { execFile } from 'node:child_process';
import { mkdir, open, readdir, rename, rm, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { AgentdError } from '../../core/errors.js';
import { findExecutable } from '../namespace/which.js';

/**
 * A per-sandbox disk limit: a sparse image file `<root>/disk.img` holding an ext4 file
 * system, loop-mounted (nosuid, nodev) on `<root>/volume`. The sandbox's workspace, home and
 * tmp are folders inside that volume, so a full volume fails writes with ENOSPC while the
 * file system under AGENTD_HOME keeps its space. Root only (mount and loop devices).
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

/** True when `dir` is a mount point: its device differs from its parent's (both exist). */
export async function isMountPoint(dir: string): Promise<boolean> {
  const [own, parent] = await Promise.all([stat(dir).catch(() => undefined), stat(join(dir, '..')).catch(() => undefined)]);
  return own !== undefined && parent !== undefined && own.dev !== parent.dev;
}

/**
 * Makes sure the sandbox's volume is mounted: creates and formats the image if there is
 * none (the root folder of the new file system owned by `owner`), then mounts it unless it
 * already is (a daemon that starts again after a crash or a reboot).
 */
export async function ensureVolume(root: string, bytes: number, tools: VolumeTools, owner: { uid: number; gid: number }, signal?: AbortSignal): Promise<void> {
  const { image, mountPoint } = volumePaths(root);
  try {
    await mkdir(dirname(root), { recursive: true, mode: 0o711 });
    await mkdir(root, { recursive: true, mode: 0o700 });
    const fresh = await createImage(image, bytes, (staged) =>
      run(tools.mkfs, ['-q', '-F', '-m', '0', '-E', `root_owner=${owner.uid}:${owner.gid},lazy_itable_init=1,lazy_journal_init=1,nodiscard`, staged], signal));
    if (await isMountPoint(mountPoint)) return;
    // Files put there before the first mount (a fork from a snapshot) move into the new
    // volume; a seed set aside by an earlier start that failed to mount is still copied in.
    if (fresh) await setAsideSeed(mountPoint);
    await mkdir(mountPoint, { recursive: true, mode: 0o700 });
    await run(tools.mount, ['-o', 'loop,nosuid,nodev,noatime', '-t', 'ext4', image, mountPoint], signal);
    const seed = seedPath(root);
    if (await stat(seed).then(() => true, () => false)) {
      await run(tools.cp, ['-a', '--reflink=auto', '--', `${seed}/.`, `${mountPoint}/`], signal);
      await rm(seed, { recursive: true, force: true });
    }
  } catch (err) {
    throw new AgentdError('LIMIT_UNSUPPORTED', `cannot set up the disk limit of ${root}: ${(err as Error).message}`, { cause: err, details: { limits: ['diskBytes'] } });
  }
}

function seedPath(root: string): string {
  return join(root, '.volume-seed');
}

/** Renames a non-empty (not mounted) `mountPoint` to the seed folder next to it. */
async function setAsideSeed(mountPoint: string): Promise<void> {
  const entries = await readdir(mountPoint).catch(() => []);
  if (entries.length === 0) return;
  const seed = seedPath(dirname(mountPoint));
  await rm(seed, { recursive: true, force: true });
  await rename(mountPoint, seed);
}

/**
 * Creates a sparse image of `bytes` and formats it with `format` under a staging name, then
 * renames it: a crash or a failed mkfs never leaves an unformatted image behind. false if
 * the image already exists.
 */
async function createImage(image: string, bytes: number, format: (staged: string) => Promise<void>): Promise<boolean> {
  if (await stat(image).then(() => true, () => false)) return false;
  const staging = `${image}.new`;
  const fh = await open(staging, 'w', 0o600);
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
  if (!(await stat(image).then(() => true, () => false)) || (await isMountPoint(mountPoint))) return fn();
  const { tools, problem } = await findVolumeTools();
  if (tools === undefined) throw new AgentdError('LIMIT_UNSUPPORTED', `cannot mount the volume of ${root}: ${problem ?? 'unavailable'}`, { details: { limits: ['diskBytes'] } });
  await run(tools.mount, ['-o', 'loop,nosuid,nodev,noatime', '-t', 'ext4', image, mountPoint], signal);
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
