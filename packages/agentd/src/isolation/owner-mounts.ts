import { spawn } from 'node:child_process';
import { constants } from 'node:fs';
import { lstat, mkdir, open, readdir, rmdir, unlink, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { AgentdError } from '../core/errors.js';
import { nativePaths } from '../native-paths.js';
import type { PinnedHostPath } from './host-paths.js';
import type { HostIds } from './host-ids.js';

/*
 * Owner-preserving bind mounts (root daemon). A root daemon runs each sandbox as its own host
 * uid, so a plain bind of a user's checkout is read-only to it, and what it could write would
 * belong to that uid. Instead, each bind mount is first mounted idmapped on a staging point
 * the daemon owns (`<sandbox>/.mounts/<i>`), by the native helper `agentd-idmap` from the
 * pinned descriptor (no path is looked up again): the owner of the mounted folder (uid and
 * gid) is seen as the sandbox's host uid and gid, and files the sandbox creates are written as
 * that owner. No other id exists in the mapping: files of other owners are seen as the
 * overflow id (nobody), and no other owner can be written (chown to root: EOVERFLOW/EPERM).
 * The staged mount is nosuid, nodev, private, and read-only for a read-only mount. bwrap binds
 * it by descriptor like any pinned host path; once the sandbox's init is up the staging mount
 * is detached from the host (the sandbox keeps its own copy), so nothing stays mounted on the
 * host while the sandbox runs. Leftovers (a daemon killed mid-start) are detached by
 * unstageOwnerMounts, called before any removal of a sandbox's folder and by recovery.
 */

/** The staging folder in a sandbox's root folder (root's, 0711: bwrap, run as the sandbox's uid, passes through it). */
export function stagingDir(root: string): string {
  return join(root, '.mounts');
}

/** A bind mount staged idmapped: the descriptor of its mount root (bound by bwrap in place of the host path's). */
export interface StagedMount {
  path: string;
  handle: FileHandle;
}

function helperPath(): string {
  return nativePaths().idmap;
}

/** Runs the helper (with `fd` as its fd 3 when given); a failure is BACKEND_UNAVAILABLE with its one-line reason. */
async function runHelper(args: string[], fd?: number): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const child = spawn(helperPath(), args, { env: {}, stdio: ['ignore', 'ignore', 'pipe', ...(fd === undefined ? [] : [fd])] });
    let stderr = '';
    child.stderr?.setEncoding('utf8').on('data', (d: string) => {
      if (stderr.length < 4096) stderr += d;
    });
    child.on('error', (err: NodeJS.ErrnoException) => {
      reject(new AgentdError('BACKEND_UNAVAILABLE', err.code === 'ENOENT'
        ? `agentd-idmap not found at ${helperPath()}; build it with 'npm run build:native' (or set AGENTD_IDMAP_PATH)`
        : `owner-preserving mount failed: ${err.message}`, { cause: err }));
    });
    child.on('close', (code) => {
      if (code === 0) resolve();
      else reject(new AgentdError('BACKEND_UNAVAILABLE', `owner-preserving mount failed: ${stderr.trim() || `agentd-idmap exited ${String(code)}`}`));
    });
  });
}

/**
 * Mounts one pinned host path on the staging point `<dir>/<i>` (made here: a folder or an empty
 * file, as the pinned object is), idmapped from its owner (as the descriptor sees it: the object
 * that was checked, not a path) onto `mapTo`, or onto itself when absent; read-only if asked.
 * Returns the staging point's path. Shared by every backend that stages host paths.
 */
export async function mountStaged(dir: string, i: number, m: { pinned: PinnedHostPath; readonly: boolean }, mapTo?: HostIds): Promise<string> {
  const path = join(dir, String(i));
  if (m.pinned.kind === 'dir') await mkdir(path, { mode: 0o700 });
  else await (await open(path, constants.O_CREAT | constants.O_EXCL | constants.O_WRONLY | constants.O_NOFOLLOW, 0o600)).close();
  const st = await m.pinned.handle.stat();
  const uid = mapTo?.uid ?? st.uid;
  const gid = mapTo?.gid ?? st.gid;
  await runHelper(['mount', '--fd', '3', '--target', path, '--uid', `${st.uid}:${uid}`, '--gid', `${st.gid}:${gid}`, ...(m.readonly ? ['--ro'] : [])], m.pinned.handle.fd);
  return path;
}

/**
 * Stages each pinned bind mount idmapped onto its owner (`pinned[i]` -> `<root>/.mounts/<i>`).
 * Returns the staged mounts in the same order (their descriptors replace the pinned ones for
 * bwrap). All or none: on a failure, what was staged is detached again.
 */
export async function stageOwnerMounts(root: string, mounts: ReadonlyArray<{ pinned: PinnedHostPath; readonly: boolean }>, ids: HostIds): Promise<StagedMount[]> {
  if (mounts.length === 0) return [];
  const dir = stagingDir(root);
  await unstageOwnerMounts(root);
  await mkdir(dir, { mode: 0o711 });
  const staged: StagedMount[] = [];
  try {
    for (const [i, m] of mounts.entries()) {
      const path = await mountStaged(dir, i, m, ids);
      const O_PATH = 0o10000000;
      staged.push({ path, handle: await open(path, O_PATH | constants.O_NOFOLLOW) });
    }
    return staged;
  } catch (err) {
    await Promise.all(staged.map((s) => s.handle.close().catch(() => undefined)));
    await unstageOwnerMounts(root).catch(() => undefined);
    throw err;
  }
}

/**
 * Detaches every staging mount of the sandbox at `root` and removes the staging folder.
 * Never recursive: an entry is removed with rmdir/unlink only once it is no longer a mount
 * (a mounted one fails with EBUSY), so a user's mounted folder is never walked or emptied.
 */
export async function unstageOwnerMounts(root: string): Promise<void> {
  const dir = stagingDir(root);
  const st = await lstat(dir).catch(() => undefined);
  if (st === undefined) return;
  if (!st.isDirectory()) return unlink(dir);
  for (const name of await readdir(dir)) {
    const path = join(dir, name);
    await runHelper(['umount', path]);
    const e = await lstat(path);
    if (e.isDirectory()) await rmdir(path);
    else await unlink(path);
  }
  await rmdir(dir);
}

/** The staged mounts' descriptors closed (the staging mounts themselves stay until unstaged). */
export async function closeStaged(staged: readonly StagedMount[]): Promise<void> {
  await Promise.all(staged.map((s) => s.handle.close().catch(() => undefined)));
}
