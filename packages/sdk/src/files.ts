/** File operations inside a sandbox; every path is resolved in the sandbox's own view. */
import { createError } from './errors.js';
import type { HttpTransport } from './transport.js';
import type { FileEntry, FileStat, WriteResult } from './types.js';
import { fileEntryFromWire, fileStatFromWire, isRecord, listFromWire, writeResultFromWire } from './wire.js';
import { isLastPiece, pieces, tempNameFor } from './file-pieces.js';
import { downloadTree, uploadTree, type TransferOptions, type TransferReport } from './tree.js';
import { FileWatch, type FileWatchEvent, type FileWatchOptions } from './watch.js';

/** Bytes per request of a large read or write: well under the daemon's default body limit (32 MiB). */
export const DEFAULT_CHUNK_BYTES = 8 * 1024 * 1024;

/** A piece is never split below this when the daemon refuses it as too large. */
const MIN_CHUNK_BYTES = 64 * 1024;

export interface CallOptions {
  signal?: AbortSignal;
}

export interface ReadOptions extends CallOptions {
  /** Byte offset to start at. */
  offset?: number;
  /** Most bytes to return. */
  limit?: number;
}

export interface WriteOptions extends CallOptions {
  append?: boolean;
  /** Create missing parent directories. */
  createDirs?: boolean;
  /** Permission bits for a new file, e.g. 0o644 (a large replacing write keeps the old file's bits when not given). */
  mode?: number;
  /** Bytes per request (default 8 MiB); content larger than one piece is uploaded piece by piece. */
  chunkSize?: number;
}

/**
 * What `write` accepts: text (sent as UTF-8), bytes, a Blob, a web ReadableStream, or any
 * async iterable of bytes or text (a Node `Readable`, an async generator...).
 */
export type WriteContent = string | Uint8Array | ArrayBuffer | Blob | ReadableStream<Uint8Array> | AsyncIterable<Uint8Array | string>;

export interface ReadStreamOptions extends ReadOptions {
  /** Bytes per request (default 8 MiB). */
  chunkSize?: number;
}

export interface ReadBytesResult {
  bytes: Uint8Array;
  /** Size of the whole file, when the daemon reported it. */
  fileSize: number | undefined;
  /** Whether the read reached the end of the file, when the daemon reported it. */
  eof: boolean | undefined;
}

export class SandboxFiles {
  private readonly transport: HttpTransport;
  private readonly base: string;
  private readonly sandboxId: string;

  constructor(transport: HttpTransport, sandboxId: string) {
    this.transport = transport;
    this.sandboxId = sandboxId;
    this.base = `/v1/sandboxes/${encodeURIComponent(sandboxId)}/files`;
  }

  /**
   * Watches a directory (`recursive`: its whole tree): `onEvent` gets each create, write
   * (a file closed after writing), remove, rename, chmod, and `overflow` when events were
   * lost. Returns at once; `await w.ready` for the watch to be in place; `w.stop()`, the
   * signal or `await using` end it.
   */
  watch(path: string, onEvent: (event: FileWatchEvent) => void, options: FileWatchOptions = {}): FileWatch {
    return new FileWatch(this.transport, this.sandboxId, path, onEvent, options);
  }

  /** Reads a file (or a range of it) as exact bytes, with the size and EOF headers. */
  async readRange(path: string, options: ReadOptions = {}): Promise<ReadBytesResult> {
    const { bytes, headers } = await this.transport.bytes({
      method: 'GET',
      path: this.base,
      query: { path, offset: options.offset, limit: options.limit },
      headers: { accept: 'application/octet-stream' },
      signal: options.signal,
    });
    const size = headers.get('x-file-size');
    const eof = headers.get('x-eof');
    return {
      bytes,
      fileSize: size === null ? undefined : Number(size),
      eof: eof === null ? undefined : eof === 'true' || eof === '1',
    };
  }

  /**
   * Reads a whole file (or `limit` bytes from `offset`) as exact bytes, piece by piece, so
   * any size works (memory permitting: use readStream for files that should not be held).
   */
  async readBytes(path: string, options: ReadStreamOptions = {}): Promise<Uint8Array> {
    const parts: Uint8Array[] = [];
    let total = 0;
    for await (const piece of this.readPieces(path, options)) {
      parts.push(piece);
      total += piece.length;
    }
    if (parts.length === 1) return parts[0] as Uint8Array;
    const out = new Uint8Array(total);
    let at = 0;
    for (const p of parts) {
      out.set(p, at);
      at += p.length;
    }
    return out;
  }

  /** Reads a file as UTF-8 text (invalid sequences become U+FFFD; use readBytes for binary). */
  async read(path: string, options: ReadStreamOptions = {}): Promise<string> {
    return new TextDecoder('utf-8').decode(await this.readBytes(path, options));
  }

  /**
   * A file's bytes as a web ReadableStream, one request per piece as the reader pulls: the
   * client holds one piece at a time whatever the file's size. In Node,
   * `Readable.fromWeb(stream)` gives a Node stream (e.g. to pipe into a file).
   */
  readStream(path: string, options: ReadStreamOptions = {}): ReadableStream<Uint8Array> {
    const it = this.readPieces(path, options);
    return new ReadableStream<Uint8Array>({
      pull: async (controller) => {
        const next = await it.next();
        if (next.done === true) controller.close();
        else controller.enqueue(next.value);
      },
      cancel: async () => {
        await it.return(undefined);
      },
    });
  }

  private async *readPieces(path: string, options: ReadStreamOptions): AsyncGenerator<Uint8Array, void, undefined> {
    const chunk = chunkSizeOf(options.chunkSize);
    let offset = options.offset ?? 0;
    let left = options.limit ?? Number.POSITIVE_INFINITY;
    for (;;) {
      const want = Math.min(chunk, left);
      const piece = await this.readRange(path, { offset, limit: want, signal: options.signal });
      offset += piece.bytes.length;
      left -= piece.bytes.length;
      if (piece.bytes.length > 0) yield piece.bytes;
      if (left <= 0 || isLastPiece(piece, offset, want)) return;
    }
  }

  /**
   * Writes text (as UTF-8), bytes, a Blob or a stream to a file, replacing it unless
   * `append`. Content that fits one piece (`chunkSize`, 8 MiB) is one request, as before.
   * Larger content is sent piece by piece to a temporary name in the same directory
   * (`.NAME.agentd-upload-RANDOM`), then renamed over `path` in one step: a failed or
   * aborted upload never leaves half a file under `path` (the temporary file is removed).
   * With `append`, the pieces are appended to `path` itself, in order.
   */
  async write(path: string, content: WriteContent, options: WriteOptions = {}): Promise<WriteResult> {
    const chunk = chunkSizeOf(options.chunkSize);
    const source = pieces(content, chunk)[Symbol.asyncIterator]();
    try {
      const first = await source.next();
      const firstPiece = first.done === true ? new Uint8Array(0) : first.value;
      const second = await source.next();
      const flags = { createDirs: options.createDirs, mode: options.mode, signal: options.signal };
      if (second.done === true) return await this.put(path, firstPiece, { ...flags, append: options.append });
      const rest = async (target: string, done: WriteResult): Promise<WriteResult> => {
        let total = done.bytesWritten;
        let last = done;
        for (let next: IteratorResult<Uint8Array, void> = second; next.done !== true; next = await source.next()) {
          last = await this.put(target, next.value, { append: true, signal: options.signal });
          total += last.bytesWritten;
        }
        return { bytesWritten: total, fileSize: last.fileSize };
      };
      if (options.append === true) return await rest(path, await this.put(path, firstPiece, { ...flags, append: true }));
      const mode = options.mode ?? (await this.keptMode(path, options.signal));
      const temp = tempNameFor(path);
      try {
        const result = await rest(temp, await this.put(temp, firstPiece, { ...flags, mode }));
        await this.rename(temp, path, { overwrite: true, signal: options.signal });
        return result;
      } catch (err) {
        // Best effort, and not under the caller's (maybe aborted) signal.
        await this.remove(temp).catch(() => undefined);
        throw err;
      }
    } finally {
      await source.return?.(undefined);
    }
  }

  /** The permission bits of an existing regular file at `path` (kept by a replacing write), else undefined. */
  private async keptMode(path: string, signal: AbortSignal | undefined): Promise<number | undefined> {
    const stat = await this.stat(path, { follow: false, ...(signal === undefined ? {} : { signal }) }).catch(() => undefined);
    return stat?.kind === 'file' ? stat.mode & 0o7777 : undefined;
  }

  /** One PUT; a piece the daemon refuses as too large (its body limit) is split in halves. */
  private async put(path: string, bytes: Uint8Array, o: { append?: boolean | undefined; createDirs?: boolean | undefined; mode?: number | undefined; signal?: AbortSignal | undefined }): Promise<WriteResult> {
    try {
      const answer = await this.transport.json({
        method: 'PUT',
        path: this.base,
        query: {
          path,
          append: o.append,
          create_dirs: o.createDirs,
          mode: o.mode === undefined ? undefined : o.mode.toString(8).padStart(4, '0'),
        },
        body: bytes,
        signal: o.signal,
      });
      return writeResultFromWire(answer);
    } catch (err) {
      if ((err as { code?: unknown }).code !== 'PAYLOAD_TOO_LARGE' || bytes.length <= MIN_CHUNK_BYTES) throw err;
      const half = Math.ceil(bytes.length / 2);
      const a = await this.put(path, bytes.subarray(0, half), o);
      const b = await this.put(path, bytes.subarray(half), { append: true, signal: o.signal });
      return { bytesWritten: a.bytesWritten + b.bytesWritten, fileSize: b.fileSize };
    }
  }

  /** Renames (moves) a path inside the sandbox, atomically; `overwrite` replaces an existing `to`. */
  async rename(from: string, to: string, options: CallOptions & { overwrite?: boolean } = {}): Promise<void> {
    await this.transport.json({
      method: 'POST',
      path: `${this.base}/rename`,
      json: { from, to, ...(options.overwrite === undefined ? {} : { overwrite: options.overwrite }) },
      signal: options.signal,
    });
  }

  /**
   * Node only: copies a local directory (or one file) to `remotePath` in the sandbox,
   * file by file. Symlinks are never followed (each is skipped and reported), local files
   * are opened with O_NOFOLLOW, permission bits are kept. See the README, "Directories".
   */
  async upload(localPath: string, remotePath: string, options: TransferOptions = {}): Promise<TransferReport> {
    return uploadTree(this, localPath, remotePath, options);
  }

  /**
   * Node only: copies a sandbox directory (or one file) to `localPath`, file by file.
   * Symlinks in the sandbox are never followed nor recreated (skipped and reported); each
   * local file is written under a temporary name (O_EXCL | O_NOFOLLOW) and renamed into
   * place; a local symlink at a target name is refused (code ELOOP), never written through.
   */
  async download(remotePath: string, localPath: string, options: TransferOptions = {}): Promise<TransferReport> {
    return downloadTree(this, remotePath, localPath, options);
  }

  /**
   * Replaces `oldString` by `newString`; fails when `oldString` is absent, or appears more
   * than once without `replaceAll`. Returns how many replacements were made.
   */
  async edit(path: string, oldString: string, newString: string, options: CallOptions & { replaceAll?: boolean } = {}): Promise<number> {
    const answer = await this.transport.json({
      method: 'POST',
      path: `${this.base}/edit`,
      json: { path, old_string: oldString, new_string: newString, ...(options.replaceAll === undefined ? {} : { replace_all: options.replaceAll }) },
      signal: options.signal,
    });
    return isRecord(answer) && typeof answer.replacements === 'number' ? answer.replacements : 0;
  }

  async list(path: string, options: CallOptions = {}): Promise<FileEntry[]> {
    const answer = await this.transport.json({ method: 'GET', path: `${this.base}/list`, query: { path }, signal: options.signal });
    return listFromWire(answer, 'entries', fileEntryFromWire);
  }

  /** Stats a path; `follow: false` describes a symlink itself. */
  async stat(path: string, options: CallOptions & { follow?: boolean } = {}): Promise<FileStat> {
    const answer = await this.transport.json({
      method: 'GET',
      path: `${this.base}/stat`,
      query: { path, follow: options.follow },
      signal: options.signal,
    });
    return fileStatFromWire(answer);
  }

  /** Whether a path exists (an ENOENT from inside the sandbox means false; other errors throw). */
  async exists(path: string, options: CallOptions = {}): Promise<boolean> {
    try {
      await this.stat(path, options);
      return true;
    } catch (err) {
      const e = err as { code?: string; details?: Record<string, unknown> };
      if (e.details?.errno === 'ENOENT') return false;
      throw err;
    }
  }

  async remove(path: string, options: CallOptions & { recursive?: boolean } = {}): Promise<void> {
    await this.transport.json({
      method: 'DELETE',
      path: this.base,
      query: { path, recursive: options.recursive },
      signal: options.signal,
    });
  }

  async mkdir(path: string, options: CallOptions & { parents?: boolean; mode?: number } = {}): Promise<void> {
    await this.transport.json({
      method: 'POST',
      path: `${this.base}/mkdir`,
      json: { path, ...(options.parents === undefined ? {} : { parents: options.parents }), ...(options.mode === undefined ? {} : { mode: options.mode }) },
      signal: options.signal,
    });
  }
}

function chunkSizeOf(size: number | undefined): number {
  if (size === undefined) return DEFAULT_CHUNK_BYTES;
  if (!Number.isSafeInteger(size) || size <= 0) throw createError('INVALID_ARGUMENT', `chunkSize must be a positive integer, got ${String(size)}`);
  return size;
}
