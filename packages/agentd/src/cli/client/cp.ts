/** `agentd cp SRC DST` with `ID:/path` on one side: copies a file into or out of a sandbox, byte-exact. */
import { open, readFile, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import type { ReadBytesResult, SandboxFiles } from '@agentd/sdk';
import { Command } from 'commander';
import { connect, withClientFlags, type ClientFlags } from './connection.js';
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
}

function localError(what: string, path: string, err: unknown): UsageError {
  const reason = (err as { code?: string; message?: string }).code ?? (err as Error).message;
  return new UsageError(`${what} ${path}: ${reason}`);
}

function remoteJoin(dir: string, name: string): string {
  return dir.endsWith('/') ? `${dir}${name}` : `${dir}/${name}`;
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

async function copyIn(io: CliIo, flags: CpFlags, src: string, dst: RemotePath): Promise<{ bytes: number; path: string }> {
  const files = connect(flags, io.env).files(dst.sandboxId);
  let data: Uint8Array;
  let name = basename(src);
  if (src === '-') {
    data = await readAll(io.stdin);
    name = 'stdin';
  } else {
    const info = await stat(src).catch((err: unknown) => {
      throw localError('cannot read', src, err);
    });
    if (info.isDirectory()) throw new UsageError(`${src} is a directory; cp copies single files`);
    data = await readFile(src).catch((err: unknown) => {
      throw localError('cannot read', src, err);
    });
  }
  let target = dst.path;
  if (target.endsWith('/')) target = remoteJoin(target, name);
  else {
    const existing = await files.stat(target).catch(() => undefined);
    if (existing?.kind === 'directory') target = remoteJoin(target, name);
  }
  const mode = flags.mode === undefined ? undefined : Number.parseInt(flags.mode, 8);
  if (mode !== undefined && (!Number.isInteger(mode) || mode < 0 || mode > 0o7777)) throw new UsageError(`--mode expects octal permission bits like 644, got '${flags.mode}'`);
  const bytes = await withProgress(io, `copying ${formatBytes(data.length)} to ${dst.sandboxId}:${target}`, () =>
    upload(files, target, data, flags.chunkSize ?? DEFAULT_CHUNK_BYTES, mode),
  );
  return { bytes, path: `${dst.sandboxId}:${target}` };
}

async function copyOut(io: CliIo, flags: CpFlags, src: RemotePath, dst: string): Promise<{ bytes: number; path: string }> {
  const files = connect(flags, io.env).files(src.sandboxId);
  const chunk = flags.chunkSize ?? DEFAULT_CHUNK_BYTES;
  if (dst === '-') {
    const bytes = await download(files, src.path, chunk, (b) => writeAll(io.stdout, b));
    return { bytes, path: '-' };
  }
  let target = dst;
  const local = await stat(dst).catch(() => undefined);
  if (local?.isDirectory() === true || dst.endsWith('/')) target = join(dst, basename(src.path));
  // Read the first piece before touching the local file, so a missing remote file leaves nothing behind.
  const first = await files.readRange(src.path, { offset: 0, limit: chunk });
  const handle = await open(target, 'w').catch((err: unknown) => {
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
      .description('copy a file into or out of a sandbox: agentd cp ./local ID:/path, agentd cp ID:/path ./local (- for stdin/stdout)')
      .argument('<src>')
      .argument('<dst>')
      .option('--mode <octal>', 'permission bits of a file copied in, e.g. 755')
      .option('--chunk-size <bytes>', 'bytes per request', parseInteger),
  ).action(
    guarded(io, async (src: string, dst: string, flags: CpFlags) => {
      const from = parseRemote(src);
      const to = parseRemote(dst);
      if ((from === undefined) === (to === undefined)) throw new UsageError('exactly one of SRC and DST must be ID:/path');
      if (flags.chunkSize === 0) throw new UsageError('--chunk-size must be positive');
      const done = to !== undefined ? await copyIn(io, flags, src, to) : await copyOut(io, flags, from as RemotePath, dst);
      if (flags.json === true) printJson(io, { bytes: done.bytes, destination: done.path });
    }),
  );
}
