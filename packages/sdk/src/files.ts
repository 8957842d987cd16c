/** File operations inside a sandbox; every path is resolved in the sandbox's own view. */
import type { HttpTransport } from './transport.js';
import type { FileEntry, FileStat, WriteResult } from './types.js';
import { fileEntryFromWire, fileStatFromWire, isRecord, listFromWire, writeResultFromWire } from './wire.js';

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
  /** Permission bits for a new file, e.g. 0o644. */
  mode?: number;
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

  constructor(transport: HttpTransport, sandboxId: string) {
    this.transport = transport;
    this.base = `/v1/sandboxes/${encodeURIComponent(sandboxId)}/files`;
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

  async readBytes(path: string, options: ReadOptions = {}): Promise<Uint8Array> {
    return (await this.readRange(path, options)).bytes;
  }

  /** Reads a file as UTF-8 text (invalid sequences become U+FFFD; use readBytes for binary). */
  async read(path: string, options: ReadOptions = {}): Promise<string> {
    return new TextDecoder('utf-8').decode(await this.readBytes(path, options));
  }

  /** Writes text (as UTF-8) or bytes to a file, replacing it unless `append`. */
  async write(path: string, content: string | Uint8Array, options: WriteOptions = {}): Promise<WriteResult> {
    const body = typeof content === 'string' ? new TextEncoder().encode(content) : content;
    const answer = await this.transport.json({
      method: 'PUT',
      path: this.base,
      query: {
        path,
        append: options.append,
        create_dirs: options.createDirs,
        mode: options.mode === undefined ? undefined : options.mode.toString(8).padStart(4, '0'),
      },
      body,
      signal: options.signal,
    });
    return writeResultFromWire(answer);
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
