/**
 * `agentd cp -r`: whole directory trees into and out of a sandbox. Neither side's symlinks
 * are followed or recreated (each is skipped with a note on stderr): a link in the sandbox
 * must never make the CLI write outside the target folder on the host, and a link on the
 * host must never copy a file the user did not name into the sandbox. Names that come from
 * the sandbox are checked to be plain names before they become host paths.
 */
import { constants } from 'node:fs';
import { lstat, mkdir, open, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { SandboxFiles } from '@agentd/sdk';
import { UsageError } from './errors.js';
import { writeAll, type CliIo } from './io.js';

export interface TreeCopy {
  /** Moves one file's bytes (the single-file copy's own piecewise transfer). */
  upload(files: SandboxFiles, path: string, data: Uint8Array, mode: number): Promise<number>;
  download(files: SandboxFiles, path: string, sink: (bytes: Uint8Array) => Promise<void>): Promise<number>;
}

export interface TreeTotals {
  bytes: number;
  files: number;
  dirs: number;
  skipped: number;
}

export function remoteJoin(dir: string, name: string): string {
  return dir.endsWith('/') ? `${dir}${name}` : `${dir}/${name}`;
}

/** A local file problem as a one-line usage error ("cannot read PATH: ENOENT"). */
export function localError(what: string, path: string, err: unknown): UsageError {
  const reason = (err as { code?: string; message?: string }).code ?? (err as Error).message;
  return new UsageError(`${what} ${path}: ${reason}`);
}

async function skip(io: CliIo, totals: TreeTotals, path: string, why: string): Promise<void> {
  totals.skipped++;
  await writeAll(io.stderr, `agentd cp: skipped ${path} (${why})\n`);
}

/** Copies the local directory `src` to the sandbox directory `dst` (created, with parents). */
export async function copyTreeIn(io: CliIo, files: SandboxFiles, ops: TreeCopy, src: string, dst: string): Promise<TreeTotals> {
  const totals: TreeTotals = { bytes: 0, files: 0, dirs: 0, skipped: 0 };
  const walk = async (local: string, remote: string, mode: number): Promise<void> => {
    await files.mkdir(remote, { parents: true, mode: mode | 0o700 });
    totals.dirs++;
    const entries = await readdir(local, { withFileTypes: true }).catch((err: unknown) => {
      throw localError('cannot read', local, err);
    });
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const entry of entries) {
      const from = join(local, entry.name);
      const to = remoteJoin(remote, entry.name);
      const info = await lstat(from).catch((err: unknown) => {
        throw localError('cannot read', from, err);
      });
      if (info.isDirectory()) {
        await walk(from, to, info.mode & 0o777);
      } else if (info.isFile()) {
        const data = await readFile(from).catch((err: unknown) => {
          throw localError('cannot read', from, err);
        });
        totals.bytes += await ops.upload(files, to, data, info.mode & 0o777);
        totals.files++;
      } else {
        await skip(io, totals, from, info.isSymbolicLink() ? 'a symlink: not followed' : 'not a regular file or directory');
      }
    }
  };
  const top = await lstat(src).catch((err: unknown) => {
    throw localError('cannot read', src, err);
  });
  await walk(src, dst, top.mode & 0o777);
  return totals;
}

/** A directory entry name from the sandbox, safe to use as one host path component. */
function plainName(name: string, dir: string): string {
  if (name === '' || name === '.' || name === '..' || name.includes('/') || name.includes('\0')) {
    throw new UsageError(`the sandbox listed an entry ${JSON.stringify(name)} in ${dir}, which is not a plain file name; nothing more is copied`);
  }
  return name;
}

/** Copies the sandbox directory `src` to the local directory `dst` (created; an existing file there is replaced). */
export async function copyTreeOut(io: CliIo, files: SandboxFiles, ops: TreeCopy, src: string, dst: string): Promise<TreeTotals> {
  const totals: TreeTotals = { bytes: 0, files: 0, dirs: 0, skipped: 0 };
  const walk = async (remote: string, local: string): Promise<void> => {
    await mkdir(local, { recursive: true, mode: 0o755 }).catch((err: unknown) => {
      throw localError('cannot create', local, err);
    });
    totals.dirs++;
    const entries = await files.list(remote);
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const entry of entries) {
      const name = plainName(entry.name, remote);
      const from = remoteJoin(remote, name);
      const to = join(local, name);
      if (entry.kind === 'directory') {
        await walk(from, to);
      } else if (entry.kind === 'file') {
        // O_NOFOLLOW: a symlink already at the target is refused, never written through.
        const flags = constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_NOFOLLOW;
        const handle = await open(to, flags, entry.mode & 0o777).catch((err: unknown) => {
          throw localError('cannot write', to, err);
        });
        try {
          totals.bytes += await ops.download(files, from, async (bytes) => {
            await handle.write(bytes);
          });
        } finally {
          await handle.close();
        }
        totals.files++;
      } else {
        await skip(io, totals, `${from} in the sandbox`, entry.kind === 'symlink' ? 'a symlink: not followed' : `a ${entry.kind}`);
      }
    }
  };
  await walk(src, dst);
  return totals;
}
