import { chmod, chown, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { AgentdError } from '../../core/errors.js';
import { ensureSandboxDirs } from '../dirs.js';
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

/** 'dir', 'file' or 'missing' for a host path (following symlinks, as a mount would). */
export async function kindOf(path: string | undefined): Promise<PathKind> {
  if (path === undefined) return 'missing';
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
async function ensureSearchable(root: string, uid: number): Promise<void> {
  const parent = dirname(root);
  const st = await stat(parent);
  if ((st.mode & 0o001) === 0) await chmod(parent, (st.mode & 0o7777) | 0o011);
  for (let dir = dirname(parent); ; dir = dirname(dir)) {
    const d = await stat(dir);
    const searchable = (d.mode & 0o001) !== 0 || (d.uid === uid && (d.mode & 0o100) !== 0);
    if (!searchable) {
      throw new AgentdError('BACKEND_UNAVAILABLE', `sandboxes run as host uid ${uid}, which cannot reach ${root}: ${dir} is not searchable by others (chmod o+x it, or move AGENTD_HOME)`, { details: { dir } });
    }
    if (dir === dirname(dir)) return;
  }
}

/**
 * Creates the sandbox's folders and the files bound into it. When the daemon is root
 * (`dropTo` set) the folders belong to the sandbox's host uid, since bwrap runs as that uid
 * and must reach them. `checked` remembers the parents already found reachable.
 */
export async function prepareSandboxFiles(dirs: SandboxDirs, dropTo: HostIds | undefined, checked: Set<string>): Promise<SandboxFiles> {
  const files = sandboxFiles(dirs);
  await ensureSandboxDirs(dirs);
  const work: Promise<unknown>[] = [
    writeFile(files.passwdFile, passwdText(), { mode: 0o644 }),
    writeFile(files.groupFile, groupText(), { mode: 0o644 }),
    // Mode 000: a non-root daemon could not reopen it for writing, so create it only once.
    writeFile(files.maskFile, '', { mode: 0o000, flag: 'wx' }).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'EEXIST') throw err;
    }),
  ];
  if (dropTo !== undefined) {
    const { uid, gid } = dropTo;
    work.push(...[dirs.root, dirs.workspace, dirs.home, dirs.tmp].map((d) => chown(d, uid, gid)));
    const parent = dirname(dirs.root);
    if (!checked.has(parent)) work.push(ensureSearchable(dirs.root, uid).then(() => checked.add(parent)));
  }
  await Promise.all(work);
  return files;
}
