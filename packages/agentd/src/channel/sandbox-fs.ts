/**
 * File operations through agentd-init (FS_* frames): chunking of large reads and writes
 * and paging of directory listings live here.
 */
import { AgentdError } from '../core/errors.js';
import { HEADER_BYTES, MAX_CHUNK, MAX_FRAME, WRITE_FLAGS, type DaemonMessage, type InitMessage, type Message, type MessageName } from './frames.js';
import type { DirEntry, FileKind, FileStat, ReadResult, SandboxFs, WriteOptions } from './types.js';

type DistributiveOmit<T, K extends keyof T> = T extends unknown ? Omit<T, K> : never;
export type RequestBody = DistributiveOmit<DaemonMessage, 'id'>;
type InitName = InitMessage['type'];

/** What the file operations need from the channel: one request, one typed answer. */
export interface RequestFn {
  <N extends InitName & MessageName>(body: RequestBody, expect: N, what: string, signal?: AbortSignal): Promise<Message<N>>;
}

const KINDS: Record<number, FileKind> = { 1: 'file', 2: 'directory', 3: 'symlink', 4: 'other' };

function kindName(kind: number): FileKind {
  return KINDS[kind] ?? 'other';
}

/**
 * A listing is gathered page by page in daemon memory: it stops with PAYLOAD_TOO_LARGE
 * beyond this many entries or bytes of names (a directory that large, or an init that
 * keeps saying "more", cannot make the daemon accumulate without bound).
 */
export const MAX_LIST_ENTRIES = 100_000;
export const MAX_LIST_NAME_BYTES = 16 * 1024 * 1024;

/** FS_WRITE overhead besides the data: type + id + path length + flags + mode + data length. */
const WRITE_OVERHEAD = HEADER_BYTES - 4 + 4 + 4 + 4 + 4;

export class InitFs implements SandboxFs {
  constructor(private readonly request: RequestFn) {}

  async read(path: string, opts: { offset?: number; limit?: number; signal?: AbortSignal } = {}): Promise<ReadResult> {
    const start = opts.offset ?? 0;
    const limit = opts.limit ?? Number.MAX_SAFE_INTEGER;
    if (!Number.isSafeInteger(start) || start < 0) throw new AgentdError('INVALID_ARGUMENT', `read offset must be a non-negative integer, got ${start}`);
    if (!Number.isSafeInteger(limit) || limit < 0) throw new AgentdError('INVALID_ARGUMENT', `read limit must be a non-negative integer, got ${limit}`);
    const parts: Buffer[] = [];
    let got = 0;
    for (;;) {
      const want = Math.min(MAX_CHUNK, limit - got);
      const res = await this.request({ type: 'FS_READ', path, offset: start + got, limit: want }, 'FS_DATA', `read ${path}`, opts.signal);
      parts.push(res.data);
      got += res.data.length;
      const eof = res.eof === 1;
      // A short chunk that is not at eof (file changing under us) still ends the read: no busy loop.
      if (eof || got >= limit || res.data.length === 0) {
        return { data: parts.length === 1 ? (parts[0] as Buffer) : Buffer.concat(parts, got), fileSize: res.fileSize, eof };
      }
    }
  }

  async write(path: string, data: Buffer | string, opts: WriteOptions & { signal?: AbortSignal } = {}): Promise<{ bytesWritten: number; fileSize: number }> {
    const buf = typeof data === 'string' ? Buffer.from(data) : data;
    const chunk = MAX_FRAME - WRITE_OVERHEAD - Buffer.byteLength(path);
    const size = Math.min(MAX_CHUNK, chunk);
    if (size <= 0) throw new AgentdError('INVALID_ARGUMENT', 'path too long for a file write');
    const firstFlags = (opts.append ? WRITE_FLAGS.APPEND : 0) | (opts.createDirs ? WRITE_FLAGS.CREATE_DIRS : 0) | (opts.exclusive ? WRITE_FLAGS.EXCLUSIVE : 0);
    const mode = opts.mode ?? 0o644;
    let written = 0;
    let fileSize = 0;
    let off = 0;
    do {
      const piece = buf.subarray(off, off + size);
      const flags = off === 0 ? firstFlags : WRITE_FLAGS.APPEND;
      const res = await this.request({ type: 'FS_WRITE', path, flags, mode, data: piece }, 'FS_WRITTEN', `write ${path}`, opts.signal);
      written += res.bytesWritten;
      fileSize = res.fileSize;
      off += piece.length;
    } while (off < buf.length);
    return { bytesWritten: written, fileSize };
  }

  async stat(path: string, opts: { follow?: boolean; signal?: AbortSignal } = {}): Promise<FileStat> {
    const res = await this.request({ type: 'FS_STAT', path, follow: opts.follow === false ? 0 : 1 }, 'FS_STAT_RESULT', `stat ${path}`, opts.signal);
    const stat: FileStat = { kind: kindName(res.kind), mode: res.mode, size: res.size, mtimeMs: res.mtimeMs, uid: res.uid, gid: res.gid };
    if (res.kind === 3) stat.linkTarget = res.linkTarget;
    return stat;
  }

  async list(path: string, opts: { signal?: AbortSignal } = {}): Promise<DirEntry[]> {
    const out: DirEntry[] = [];
    let nameBytes = 0;
    for (;;) {
      const res = await this.request({ type: 'FS_LIST', path, start: out.length }, 'FS_LIST_RESULT', `list ${path}`, opts.signal);
      for (const e of res.entries) {
        nameBytes += Buffer.byteLength(e.name);
        if (out.length >= MAX_LIST_ENTRIES || nameBytes > MAX_LIST_NAME_BYTES) {
          throw new AgentdError('PAYLOAD_TOO_LARGE', `list ${path}: more than ${MAX_LIST_ENTRIES} entries or ${MAX_LIST_NAME_BYTES} bytes of names; list a smaller directory`, { details: { path, maxEntries: MAX_LIST_ENTRIES, maxNameBytes: MAX_LIST_NAME_BYTES } });
        }
        out.push({ name: e.name, kind: kindName(e.kind), mode: e.mode, size: e.size, mtimeMs: e.mtimeMs });
      }
      if (res.more === 0) return out;
      if (res.entries.length === 0) throw new AgentdError('PROTOCOL_ERROR', `agentd-init: FS_LIST_RESULT for ${path} says more entries follow but returned none`);
    }
  }

  async mkdir(path: string, opts: { mode?: number; parents?: boolean; signal?: AbortSignal } = {}): Promise<void> {
    await this.request({ type: 'FS_MKDIR', path, mode: opts.mode ?? 0o755, parents: opts.parents ? 1 : 0 }, 'OK', `mkdir ${path}`, opts.signal);
  }

  async remove(path: string, opts: { recursive?: boolean; signal?: AbortSignal } = {}): Promise<void> {
    await this.request({ type: 'FS_REMOVE', path, recursive: opts.recursive ? 1 : 0 }, 'OK', `remove ${path}`, opts.signal);
  }

  async rename(from: string, to: string, opts: { overwrite?: boolean; signal?: AbortSignal } = {}): Promise<void> {
    await this.request({ type: 'FS_RENAME', from, to, overwrite: opts.overwrite ? 1 : 0 }, 'OK', `rename ${from} -> ${to}`, opts.signal);
  }
}
