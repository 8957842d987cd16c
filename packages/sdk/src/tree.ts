/**
 * Whole directories into and out of a sandbox, file by file over the files routes (Node
 * only: the local side goes through `process.getBuiltinModule`, so the browser entry stays
 * free of Node imports). Neither side's symlinks are followed or recreated: each is skipped
 * and reported, so a link planted in the sandbox can never make the client write outside
 * the target folder on the host, and a link on the host never sends a file the caller did
 * not name into the sandbox. Local files are opened with O_NOFOLLOW; names that come from
 * the sandbox must be plain names before they become host paths.
 */
import { createError } from './errors.js';
import { randomHex } from './file-pieces.js';
import type { SandboxFiles } from './files.js';
import { nodeBuiltin } from './options.js';

export interface SkippedEntry {
  /** The path skipped: local for an upload, in the sandbox for a download. */
  path: string;
  reason: 'symlink' | 'not a regular file or directory';
}

export interface TransferOptions {
  signal?: AbortSignal;
  /** Bytes per request for large files (default 8 MiB). */
  chunkSize?: number;
  /** Called for each entry skipped (symlinks, devices, sockets...), as it happens. */
  onSkip?: (entry: SkippedEntry) => void;
}

export interface TransferReport {
  files: number;
  directories: number;
  bytes: number;
  skipped: SkippedEntry[];
}

interface LocalStats {
  mode: number;
  size: number;
  isFile(): boolean;
  isDirectory(): boolean;
  isSymbolicLink(): boolean;
}

interface LocalHandle {
  read(buffer: Uint8Array, offset: number, length: number, position: number | null): Promise<{ bytesRead: number }>;
  write(buffer: Uint8Array, offset: number, length: number, position: number | null): Promise<{ bytesWritten: number }>;
  stat(): Promise<LocalStats>;
  chmod(mode: number): Promise<void>;
  close(): Promise<void>;
}

interface LocalFs {
  open(path: string, flags: number, mode?: number): Promise<LocalHandle>;
  lstat(path: string): Promise<LocalStats>;
  readdir(path: string): Promise<string[]>;
  mkdir(path: string, options?: { recursive?: boolean; mode?: number }): Promise<string | undefined>;
  chmod(path: string, mode: number): Promise<void>;
  rename(from: string, to: string): Promise<void>;
  unlink(path: string): Promise<void>;
}

interface OpenFlags {
  O_RDONLY: number;
  O_WRONLY: number;
  O_CREAT: number;
  O_EXCL: number;
  O_NOFOLLOW: number;
  O_NONBLOCK: number;
}

function local(what: string): { fs: LocalFs; flags: OpenFlags } {
  const fs = nodeBuiltin('node:fs/promises') as LocalFs | undefined;
  const sync = nodeBuiltin('node:fs') as { constants: OpenFlags } | undefined;
  if (fs === undefined || sync === undefined) throw createError('INVALID_ARGUMENT', `files.${what} needs Node (>= 20.16, for its getBuiltinModule): it reads and writes local files`);
  return { fs, flags: sync.constants };
}

function joinLocal(dir: string, name: string): string {
  return dir.endsWith('/') ? `${dir}${name}` : `${dir}/${name}`;
}

function joinRemote(dir: string, name: string): string {
  return dir.endsWith('/') ? `${dir}${name}` : `${dir}/${name}`;
}

function byName(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** A directory entry name from the sandbox, safe to use as one host path component. */
function plainName(name: string, dir: string): string {
  if (name === '' || name === '.' || name === '..' || name.includes('/') || name.includes('\0')) {
    throw createError('PROTOCOL_ERROR', `the sandbox listed an entry ${JSON.stringify(name)} in ${dir}, which is not a plain file name; nothing more is copied`);
  }
  return name;
}

function skip(report: TransferReport, options: TransferOptions, entry: SkippedEntry): void {
  report.skipped.push(entry);
  options.onSkip?.(entry);
}

/** A local refusal shaped like Node's own file errors (`code`, `path`), so callers handle both alike. */
function localRefusal(code: string, path: string, why: string): Error {
  return Object.assign(new Error(`${code}: ${why}, '${path}'`), { code, path });
}

/** A local file's bytes, read through an already open (O_NOFOLLOW) handle, piece by piece. */
async function* handleBytes(handle: LocalHandle, piece: number): AsyncGenerator<Uint8Array, void, undefined> {
  for (;;) {
    const buf = new Uint8Array(piece);
    const { bytesRead } = await handle.read(buf, 0, piece, null);
    if (bytesRead === 0) return;
    yield buf.subarray(0, bytesRead);
  }
}

export async function uploadTree(files: SandboxFiles, localPath: string, remotePath: string, options: TransferOptions): Promise<TransferReport> {
  const { fs, flags } = local('upload');
  const report: TransferReport = { files: 0, directories: 0, bytes: 0, skipped: [] };
  const call = { ...(options.signal === undefined ? {} : { signal: options.signal }) };
  const sendFile = async (from: string, to: string): Promise<boolean> => {
    // O_NOFOLLOW: a file swapped for a link after the lstat is refused (ELOOP), never read through;
    // O_NONBLOCK: a FIFO swapped in cannot hang the open.
    const handle = await fs.open(from, flags.O_RDONLY | flags.O_NOFOLLOW | flags.O_NONBLOCK);
    try {
      const info = await handle.stat();
      if (!info.isFile()) return false;
      const r = await files.write(to, handleBytes(handle, 1024 * 1024), { ...call, mode: info.mode & 0o777, ...(options.chunkSize === undefined ? {} : { chunkSize: options.chunkSize }) });
      report.bytes += r.bytesWritten;
      report.files++;
      return true;
    } finally {
      await handle.close();
    }
  };
  const walk = async (from: string, to: string, mode: number): Promise<void> => {
    await files.mkdir(to, { ...call, parents: true, mode: mode | 0o700 });
    report.directories++;
    const names = (await fs.readdir(from)).sort(byName);
    for (const name of names) {
      const path = joinLocal(from, name);
      const info = await fs.lstat(path);
      if (info.isDirectory()) await walk(path, joinRemote(to, name), info.mode & 0o777);
      else if (info.isSymbolicLink()) skip(report, options, { path, reason: 'symlink' });
      else if (!info.isFile() || !(await sendFile(path, joinRemote(to, name)))) skip(report, options, { path, reason: 'not a regular file or directory' });
    }
  };
  const top = await fs.lstat(localPath);
  if (top.isSymbolicLink()) throw createError('INVALID_ARGUMENT', `${localPath} is a symlink: symlinks are not followed; name its target`);
  if (top.isDirectory()) await walk(localPath, remotePath, top.mode & 0o777);
  else if (!top.isFile() || !(await sendFile(localPath, remotePath))) throw createError('INVALID_ARGUMENT', `${localPath} is not a regular file or directory`);
  return report;
}

export async function downloadTree(files: SandboxFiles, remotePath: string, localPath: string, options: TransferOptions): Promise<TransferReport> {
  const { fs, flags } = local('download');
  const report: TransferReport = { files: 0, directories: 0, bytes: 0, skipped: [] };
  const call = { ...(options.signal === undefined ? {} : { signal: options.signal }) };
  /** The file lands under a fresh name (O_EXCL | O_NOFOLLOW), then is renamed over `to`: never written through a link. */
  const fetchFile = async (from: string, to: string, mode: number): Promise<void> => {
    // A symlink already at the target name (someone else's on this host) is refused, left as it is.
    const existing = await fs.lstat(to).catch(() => undefined);
    if (existing?.isSymbolicLink() === true) throw localRefusal('ELOOP', to, 'a symlink is at the target: not followed, not replaced');
    const slash = to.lastIndexOf('/');
    const temp = `${to.slice(0, slash + 1)}.${to.slice(slash + 1).slice(0, 25)}.agentd-download-${randomHex(8)}`;
    const handle = await fs.open(temp, flags.O_WRONLY | flags.O_CREAT | flags.O_EXCL | flags.O_NOFOLLOW, 0o600);
    let done = false;
    try {
      const reader = files.readStream(from, { ...call, ...(options.chunkSize === undefined ? {} : { chunkSize: options.chunkSize }) }).getReader();
      for (;;) {
        const { done: end, value } = await reader.read();
        if (end) break;
        for (let off = 0; off < value.length; ) off += (await handle.write(value, off, value.length - off, null)).bytesWritten;
        report.bytes += value.length;
      }
      await handle.chmod(mode & 0o777);
      await handle.close();
      done = true;
      await fs.rename(temp, to);
      report.files++;
    } catch (err) {
      if (!done) await handle.close().catch(() => undefined);
      await fs.unlink(temp).catch(() => undefined);
      throw err;
    }
  };
  /** Creates `dir` (or accepts an existing real directory there; a symlink there is refused). */
  const ensureDir = async (dir: string, recursive: boolean): Promise<void> => {
    await fs.mkdir(dir, { recursive, mode: 0o700 }).catch((err: unknown) => {
      if ((err as { code?: string }).code !== 'EEXIST') throw err;
    });
    const info = await fs.lstat(dir);
    if (!info.isDirectory()) throw createError('INVALID_ARGUMENT', `${dir} exists and is not a directory${info.isSymbolicLink() ? ' (a symlink: not followed)' : ''}`);
  };
  const walk = async (from: string, to: string, mode: number, recursive: boolean): Promise<void> => {
    await ensureDir(to, recursive);
    report.directories++;
    const entries = (await files.list(from, call)).sort((a, b) => byName(a.name, b.name));
    for (const entry of entries) {
      const name = plainName(entry.name, from);
      const path = joinRemote(from, name);
      if (entry.kind === 'directory') await walk(path, joinLocal(to, name), entry.mode, false);
      else if (entry.kind === 'file') await fetchFile(path, joinLocal(to, name), entry.mode);
      else skip(report, options, { path, reason: entry.kind === 'symlink' ? 'symlink' : 'not a regular file or directory' });
    }
    await fs.chmod(to, (mode & 0o777) | 0o700);
  };
  const top = await files.stat(remotePath, { ...call, follow: false });
  if (top.kind === 'symlink') throw createError('INVALID_ARGUMENT', `${remotePath} is a symlink in the sandbox: symlinks are not followed; name its target`);
  if (top.kind === 'directory') await walk(remotePath, localPath, top.mode, true);
  else if (top.kind === 'file') await fetchFile(remotePath, localPath, top.mode);
  else throw createError('INVALID_ARGUMENT', `${remotePath} is not a regular file or directory`);
  return report;
}
