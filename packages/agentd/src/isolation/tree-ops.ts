/**
 * Host-side work on a sandbox's writable trees that a root daemon does without following a
 * link the sandbox planted (see docs/architecture.md, "Host-side file work").
 *
 * Two rules:
 * - Inside a tree the sandbox can write (its workspace, home and tmp), every copy, clear and
 *   mode change runs in a child process dropped to the owner of that tree (the sandbox's own
 *   host uid, with no supplementary groups and no_new_privs): whatever link or rename race
 *   the sandbox plants, the work reaches only what the sandbox itself could reach.
 * - As root, the daemon works by path only on entries whose every ancestor it owns and no
 *   sandbox can write (`<home>/sandboxes/<id>/`, the volume root, staging folders 0700), and
 *   never follows the last component (lstat, lchown, rename, O_EXCL|O_CREAT).
 */
import { execFile } from 'node:child_process';
import { chmodSync, lchownSync, lstatSync, type Stats } from 'node:fs';
import { lstat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { AgentdError } from '../core/errors.js';
import type { HostIds } from './host-ids.js';

const TOOL_PATH = '/usr/sbin:/usr/bin:/sbin:/bin';

function selfUid(): number | undefined {
  return process.getuid?.();
}

/**
 * Runs a host tool (argv, no shell) as `owner` when that is not this process's uid, through
 * setpriv (util-linux); as this process otherwise. Rejects with the tool's stderr.
 */
export function runAs(owner: HostIds | undefined, argv: string[], signal?: AbortSignal): Promise<string> {
  const self = selfUid();
  const drop = owner !== undefined && self !== undefined && owner.uid !== self;
  const full = drop ? ['setpriv', `--reuid=${owner.uid}`, `--regid=${owner.gid}`, '--clear-groups', '--no-new-privs', '--', ...argv] : argv;
  const [file, ...args] = full as [string, ...string[]];
  return new Promise((resolve, reject) => {
    execFile(file, args, { env: { PATH: TOOL_PATH, LC_ALL: 'C' }, maxBuffer: 4 * 1024 * 1024, ...(signal ? { signal } : {}) }, (err, stdout, stderr) => {
      if (err === null) return resolve(stdout);
      if (signal?.aborted) return reject(new AgentdError('CANCELLED', `${argv[0] ?? 'tool'} cancelled`, { cause: signal.reason }));
      const who = drop ? ` (as host uid ${owner.uid})` : '';
      reject(new AgentdError('INTERNAL', `${argv.join(' ')} failed${who}: ${String(stderr).trim() || err.message}`, { cause: err }));
    });
  });
}

/** lstat that requires a real directory (never a symlink to one); CONFLICT otherwise. */
export async function realDir(path: string): Promise<Stats> {
  return realDirSync(path);
}

/** realDir without the promise. */
export function realDirSync(path: string): Stats {
  let st: Stats;
  try {
    // Synchronous, as the other metadata calls here: see cgroup/fsio.ts.
    st = lstatSync(path);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    throw new AgentdError('NOT_FOUND', `sandbox folder ${path} does not exist (${err.code ?? err.message})`, { details: { path } });
  }
  if (!st.isDirectory()) {
    const what = st.isSymbolicLink() ? 'a symlink' : 'not a directory';
    throw new AgentdError('CONFLICT', `sandbox folder ${path} is ${what}: refusing to follow or replace it (a sandbox may not redirect the daemon's file work)`, { details: { path, reason: 'not_a_directory' } });
  }
  return st;
}

/** The host ids owning the real directory `path`. */
export async function ownerOfDir(path: string): Promise<HostIds> {
  const st = await realDir(path);
  return { uid: st.uid, gid: st.gid };
}

/**
 * Makes `dir` (whose parent the daemon owns) a real directory owned by the daemon, mode
 * `mode`, not writable by anyone else: a folder left by an older version (owned by the
 * sandbox uid) is taken back. lchown never follows; realDir refuses a symlink.
 */
export async function ownDir(dir: string, mode: number): Promise<void> {
  ownDirSync(dir, mode);
}

/** ownDir without the promise (metadata calls on the daemon's own folders: see realDirSync). */
export function ownDirSync(dir: string, mode: number): void {
  const st = realDirSync(dir);
  const self = selfUid() ?? st.uid;
  // Already the daemon's with this mode: nothing changes hands, so nothing can have been swapped meanwhile.
  if (st.uid === self && (st.mode & 0o7777) === mode) return;
  if (st.uid !== self) lchownSync(dir, self, process.getgid?.() ?? st.gid);
  chmodSync(dir, mode);
  const after = realDirSync(dir);
  if (after.ino !== st.ino || after.dev !== st.dev) throw new AgentdError('CONFLICT', `sandbox folder ${dir} changed while the daemon took it back`, { details: { path: dir } });
}

/** True when the daemon owns `dir`'s parent and nobody else can write it (so `dir` cannot be swapped). */
export async function parentIsOurs(dir: string): Promise<boolean> {
  const st = await lstat(dirname(dir)).catch(() => undefined);
  return st !== undefined && st.isDirectory() && st.uid === (selfUid() ?? st.uid) && (st.mode & 0o022) === 0;
}

/**
 * Copies the contents of `src` into the existing directory `dst` with `cp -a` (symlinks
 * stay symlinks, hard links within the copy stay linked, modes and times kept), run as
 * `owner`. As the sandbox's uid, a link or race in `src` can make cp read only what that uid
 * may read, and write only where it may write.
 */
export async function copyTreeAs(owner: HostIds | undefined, src: string, dst: string, signal?: AbortSignal): Promise<void> {
  await runAs(owner, ['cp', '--reflink=auto', '-a', '--no-target-directory', '--', `${src}/.`, dst], signal);
}

/**
 * Empties the directory `dir` (keeps `dir` itself), as `owner`: first gives the owner rwx on
 * its own sub-folders (a folder it made read-only would stop the removal), then deletes
 * depth-first without following symlinks (find -P ... -delete).
 */
export async function clearTreeAs(owner: HostIds | undefined, dir: string, signal?: AbortSignal): Promise<void> {
  await runAs(owner, ['find', '-P', dir, '-mindepth', '1', '-type', 'd', '!', '-perm', '-u=rwx', '-exec', 'chmod', 'u+rwx', '--', '{}', '+'], signal).catch(() => undefined);
  await runAs(owner, ['find', '-P', dir, '-mindepth', '1', '-delete'], signal);
}

/**
 * Gives every entry of a tree only the daemon can reach (a staging copy under a root-owned
 * 0700 folder) to `to`. `chown -R -P` never follows a symlink (fts, fchownat with
 * AT_SYMLINK_NOFOLLOW). With `from`, only entries owned by that uid change: a hard link to
 * another user's file keeps its owner.
 */
export async function chownTree(dir: string, to: HostIds, from?: number, signal?: AbortSignal): Promise<void> {
  const argv = ['chown', '-R', '-P'];
  if (from !== undefined) argv.push(`--from=${from}`);
  argv.push(`${to.uid}:${to.gid}`, '--', dir);
  await runAs(undefined, argv, signal);
}
