/** `agentd cp [-r] SRC DST` with `ID:/path` on one side: copies a file (or, with -r, a tree) into or out of a sandbox, byte-exact. */
// fs.promises, not node:fs/promises: loaded on first use, not at every start of the CLI (it brings readline and more).
import { promises as fsp } from 'node:fs';
import { basename, join } from 'node:path';
import type { ReadBytesResult, SandboxFiles } from '@agentd/sdk';
import { Command } from 'commander';
import { connect, withClientFlags, type ClientFlags } from './connection.js';
import { copyTreeIn, copyTreeOut, localError, remoteJoin, type TreeCopy } from './cp-tree.js';
import { UsageError, guarded } from './errors.js';
import { writeAll, readAll, type CliIo } from './io.js';
import { formatBytes, printJson } from './output.js';
import { parseInteger, parseRemote, type RemotePath } from './parse.js';
import { withProgress } from './spinner.js';

/** Files move in pieces of this size (each one request), so no body limit is hit. */
export const DEFAULT_CHUNK_BYTES = 4 * 1024 * 1024;

interface CpFlags extends ClientFlags {
  chunkSize?: number;
  mode?: string;
  recursive?: boolean;
}

interface CopyDone {
  bytes: number;
  path: string;
  files?: number;
  skipped?: number;
}


/** Uploads bytes: the first piece replaces the file, the rest append. Returns the bytes sent. */
async function upload(files: SandboxFiles, path: string, data: Uint8Array, chunk: number, mode: number | undefined): Promise<number> {
  let offset = 0;
  do {
    const piece = data.subarray(offset, offset + chunk);
    await files.write(path, piece, { append: offset > 0, ...(offset === 0 && mode !== undefined ? { mode } : {}) });
    offset += piece.length;
  } while (offset < data.length);
  return data.length;
}

/** Whether a read answer was the last piece of the file. */
function isLast(piece: ReadBytesResult, offsetAfter: number, chunk: number): boolean {
  if (piece.eof !== undefined) return piece.eof || piece.bytes.length === 0;
  if (piece.fileSize !== undefined) return offsetAfter >= piece.fileSize;
  return piece.bytes.length < chunk;
}

/** Downloads a file piece by piece into `sink`, from `offset` until EOF; returns the offset reached. */
async function download(files: SandboxFiles, path: string, chunk: number, sink: (bytes: Uint8Array) => Promise<void>, offset = 0): Promise<number> {
  for (;;) {
    const piece = await files.readRange(path, { offset, limit: chunk });
    if (piece.bytes.length > 0) await sink(piece.bytes);
    offset += piece.bytes.length;
    if (isLast(piece, offset, chunk)) return offset;
  }
}

/** The tree copies' settings. */
function treeOps(chunk: number): TreeCopy {
  return { chunkSize: chunk };
}

/** Where SRC lands under DST: inside it when DST names a directory (or ends with /), else DST itself. */
async function remoteTarget(files: SandboxFiles, dst: RemotePath, name: string): Promise<string> {
  if (dst.path.endsWith('/')) return remoteJoin(dst.path, name);
  const existing = await files.stat(dst.path).catch(() => undefined);
  return existing?.kind === 'directory' ? remoteJoin(dst.path, name) : dst.path;
}

async function copyIn(io: CliIo, flags: CpFlags, src: string, dst: RemotePath): Promise<CopyDone> {
  const files = connect(flags, io.env).files(dst.sandboxId);
  let data: Uint8Array;
  let name = basename(src);
  if (src === '-') {
    data = await readAll(io.stdin);
    name = 'stdin';
  } else {
    const info = await fsp.stat(src).catch((err: unknown) => {
      throw localError('cannot read', src, err);
    });
    if (info.isDirectory()) {
      if (flags.recursive !== true) throw new UsageError(`${src} is a directory; use cp -r to copy a directory tree`);
      if (flags.mode !== undefined) throw new UsageError('--mode applies to a single file; a tree keeps each file\'s own permission bits');
      const target = await remoteTarget(files, dst, basename(src));
      const t = await withProgress(io, `copying ${src} to ${dst.sandboxId}:${target}`, () =>
        copyTreeIn(io, files, treeOps(flags.chunkSize ?? DEFAULT_CHUNK_BYTES), src, target),
      );
      return { bytes: t.bytes, path: `${dst.sandboxId}:${target}`, files: t.files, skipped: t.skipped };
    }
    data = await fsp.readFile(src).catch((err: unknown) => {
      throw localError('cannot read', src, err);
    });
  }
  const target = await remoteTarget(files, dst, name);
  const mode = flags.mode === undefined ? undefined : Number.parseInt(flags.mode, 8);
  if (mode !== undefined && (!Number.isInteger(mode) || mode < 0 || mode > 0o7777)) throw new UsageError(`--mode expects octal permission bits like 644, got '${flags.mode}'`);
  const bytes = await withProgress(io, `copying ${formatBytes(data.length)} to ${dst.sandboxId}:${target}`, () =>
    upload(files, target, data, flags.chunkSize ?? DEFAULT_CHUNK_BYTES, mode),
  );
  return { bytes, path: `${dst.sandboxId}:${target}` };
}

async function copyOut(io: CliIo, flags: CpFlags, src: RemotePath, dst: string): Promise<CopyDone> {
  const files = connect(flags, io.env).files(src.sandboxId);
  const chunk = flags.chunkSize ?? DEFAULT_CHUNK_BYTES;
  if (flags.recursive === true && dst !== '-' && (await files.stat(src.path)).kind === 'directory') {
    const local = await fsp.stat(dst).catch(() => undefined);
    const target = local?.isDirectory() === true || dst.endsWith('/') ? join(dst, basename(src.path)) : dst;
    const t = await withProgress(io, `copying ${src.sandboxId}:${src.path} to ${target}`, () => copyTreeOut(io, files, treeOps(chunk), src.path, target));
    return { bytes: t.bytes, path: target, files: t.files, skipped: t.skipped };
  }
  if (dst === '-') {
    const bytes = await download(files, src.path, chunk, (b) => writeAll(io.stdout, b));
    return { bytes, path: '-' };
  }
  let target = dst;
  const local = await fsp.stat(dst).catch(() => undefined);
  if (local?.isDirectory() === true || dst.endsWith('/')) target = join(dst, basename(src.path));
  // Read the first piece before touching the local file, so a missing remote file leaves nothing behind.
  const first = await files.readRange(src.path, { offset: 0, limit: chunk });
  const handle = await fsp.open(target, 'w').catch((err: unknown) => {
    throw localError('cannot write', target, err);
  });
  try {
    const sink = async (bytes: Uint8Array): Promise<void> => {
      await handle.write(bytes);
    };
    await sink(first.bytes);
    const offset = first.bytes.length;
    const bytes = isLast(first, offset, chunk)
      ? offset
      : await withProgress(io, `copying ${src.sandboxId}:${src.path}`, () => download(files, src.path, chunk, sink, offset));
    return { bytes, path: target };
  } finally {
    await handle.close();
  }
}

export function cpCommand(io: CliIo): Command {
  return withClientFlags(
    new Command('cp')
      .description('copy a file into or out of a sandbox: agentd cp ./local ID:/path, agentd cp ID:/path ./local (- for stdin/stdout); -r copies a directory tree (symlinks are skipped, never followed)')
      .argument('<src>')
      .argument('<dst>')
      .option('-r, --recursive', 'copy a directory and everything under it')
      .option('--mode <octal>', 'permission bits of a file copied in, e.g. 755')
      .option('--chunk-size <bytes>', 'bytes per request', parseInteger),
  ).action(
    guarded(io, async (src: string, dst: string, flags: CpFlags) => {
      const from = parseRemote(src);
      const to = parseRemote(dst);
      if ((from === undefined) === (to === undefined)) throw new UsageError('exactly one of SRC and DST must be ID:/path');
      if (flags.chunkSize === 0) throw new UsageError('--chunk-size must be positive');
      const done = to !== undefined ? await copyIn(io, flags, src, to) : await copyOut(io, flags, from as RemotePath, dst);
      if (flags.json === true) {
        printJson(io, { bytes: done.bytes, destination: done.path, ...(done.files === undefined ? {} : { files: done.files, skipped: done.skipped ?? 0 }) });
      }
    }),
  );
}
