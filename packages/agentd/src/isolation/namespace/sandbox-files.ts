import { randomBytes } from 'node:crypto';
import { chmodSync, lstatSync, renameSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { AgentdError } from '../../core/errors.js';
import { ensureSandboxDirs } from '../dirs.js';
import { runAs } from '../tree-ops.js';
import type { SandboxDirs } from '../types.js';
import { groupText, passwdText } from './etc-files.js';
import type { HostIds } from './launch.js';
import type { PathKind } from './mounts.js';

/** Host files the backend keeps in a sandbox's root folder (outside what the sandbox sees), bound into it. */
export interface SandboxFiles {
  passwdFile: string;
  groupFile: string;
  /** Empty, mode 000: bound over denied files. */
  maskFile: string;
}

export function sandboxFiles(dirs: SandboxDirs): SandboxFiles {
  return { passwdFile: join(dirs.root, '.ns-passwd'), groupFile: join(dirs.root, '.ns-group'), maskFile: join(dirs.root, '.ns-mask') };
}

/**
 * 'dir', 'file' or 'missing' for a host path (following symlinks, as a mount would). A path
 * inside the sandbox's own folders (`own`) is looked at as the sandbox's uid (`as`): a link
 * the sandbox planted there must not make root stat a path the sandbox may not see.
 */
export async function kindOf(path: string | undefined, as?: HostIds, own?: SandboxDirs): Promise<PathKind> {
  if (path === undefined) return 'missing';
  const inside = own !== undefined && [own.workspace, own.home, own.tmp].some((d) => path === d || path.startsWith(`${d}/`));
  if (as !== undefined && inside) {
    const out = await runAs(as, ['stat', '-L', '--format=%F', '--', path]).catch(() => undefined);
    if (out === undefined) return 'missing';
    return out.trim() === 'directory' ? 'dir' : 'file';
  }
  const st = await stat(path).catch(() => undefined);
  if (st === undefined) return 'missing';
  return st.isDirectory() ? 'dir' : 'file';
}

/**
 * bwrap runs as the sandbox's host uid and opens the sandbox's folders by path, so every
 * ancestor must be searchable by it. The folder holding the sandboxes (`sandboxes/`) only
 * lists sandbox folders (each mode 0700, owned by its sandbox): it is made 0711 here;
 * any other ancestor that is not searchable is a configuration error, reported as such.
 */
export async function ensureSearchable(root: string, uid: number): Promise<void> {
  // Synchronous metadata calls on the daemon's own folders (see tree-ops.ts realDirSync).
  const parent = dirname(root);
  const st = statSync(parent);
  if ((st.mode & 0o001) === 0) chmodSync(parent, (st.mode & 0o7777) | 0o011);
  for (let dir = dirname(parent); ; dir = dirname(dir)) {
    const d = statSync(dir);
    const searchable = (d.mode & 0o001) !== 0 || (d.uid === uid && (d.mode & 0o100) !== 0);
    if (!searchable) {
      throw new AgentdError('BACKEND_UNAVAILABLE', `sandboxes run as host uid ${uid}, which cannot reach ${root}: ${dir} is not searchable by others (chmod o+x it, or move AGENTD_HOME)`, { details: { dir } });
    }
    if (dir === dirname(dir)) return;
  }
}

/**
 * Writes a file the daemon owns in the sandbox's root folder (root-owned 0711 for a root
 * daemon): created under a fresh name with O_CREAT|O_EXCL (never through a link), then
 * renamed over the old one (rename replaces a planted link, never follows it).
 */
async function writeOwnFile(path: string, text: string, mode: number): Promise<void> {
  // Synchronous: a few hundred bytes into the daemon's own folder (see tree-ops.ts realDirSync).
  const staged = `${path}.${randomBytes(4).toString('hex')}.new`;
  writeFileSync(staged, text, { mode, flag: 'wx' });
  chmodSync(staged, mode);
  try {
    renameSync(staged, path);
  } catch (err) {
    try {
      unlinkSync(staged);
    } catch {
      // Nothing to clean.
    }
    throw err;
  }
}

/** The empty mode-000 mask file: kept when it is the daemon's own empty regular file with one link, else made again. */
async function ensureMaskFile(path: string): Promise<void> {
  const st = lstatSync(path, { throwIfNoEntry: false });
  if (st !== undefined && st.isFile() && st.size === 0 && st.nlink === 1 && (st.mode & 0o7777) === 0 && st.uid === process.getuid?.()) return;
  await writeOwnFile(path, '', 0o000);
}

/**
 * Creates the sandbox's folders and the files bound into it. When the daemon is root
 * (`dropTo` set: the sandbox's own host ids) workspace, home and tmp belong to that uid,
 * since bwrap runs as it and must reach them, and everything else in the root folder stays
 * the daemon's (see dirs.ts). `checked` remembers the parents already found reachable.
 */
export async function prepareSandboxFiles(dirs: SandboxDirs, dropTo: HostIds | undefined, checked: Set<string>): Promise<SandboxFiles> {
  const files = sandboxFiles(dirs);
  await ensureSandboxDirs(dirs, dropTo === undefined ? {} : { owner: dropTo, mode: 0o700 });
  const work: Promise<unknown>[] = [
    writeOwnFile(files.passwdFile, passwdText(), 0o644),
    writeOwnFile(files.groupFile, groupText(), 0o644),
    ensureMaskFile(files.maskFile),
  ];
  if (dropTo !== undefined) {
    const parent = dirname(dirs.root);
    if (!checked.has(parent)) work.push(ensureSearchable(dirs.root, dropTo.uid).then(() => checked.add(parent)));
  }
  await Promise.all(work);
  return files;
}
