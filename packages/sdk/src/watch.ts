/**
 * `sandbox.files.watch(path, onEvent, {recursive, signal})`: a directory watch over the
 * daemon's NDJSON stream (`GET /v1/sandboxes/{id}/files/watch`, docs/api.md).
 */
import { createError } from './errors.js';
import { readLines } from './ndjson.js';
import type { HttpTransport } from './transport.js';
import { isRecord } from './wire.js';

export type FileWatchEventType = 'create' | 'write' | 'remove' | 'rename' | 'chmod' | 'overflow' | 'unwatched';

/** One change in a watched tree. Paths are as the watch named its directory, joined with the entry's path. */
export interface FileWatchEvent {
  type: FileWatchEventType;
  /** The entry (absent for overflow). */
  path?: string;
  /** rename: the new path. */
  to?: string;
  isDir?: boolean;
  /** overflow: how many events were lost (0 = unknown: the kernel's own queue overflowed). */
  lost?: number;
  /** unwatched: why a directory could not be watched (e.g. "ENOSPC" past the watch limit). */
  errno?: string;
}

export interface FileWatchEnd {
  /** stopped: stop(), the signal, or the daemon ended it; gone: the directory was removed or moved; closed: the sandbox ended. */
  reason: 'stopped' | 'gone' | 'closed';
  message: string;
}

export interface FileWatchOptions {
  /** Watch every directory below the path too (new ones as they appear). */
  recursive?: boolean;
  /** Aborting stops the watch (like stop()). */
  signal?: AbortSignal;
}

/** A running watch. `await using` (or stop()) ends it. */
export class FileWatch implements AsyncDisposable {
  /** Resolves once the watch is in place (events from then on are reported); rejects if it could not start. */
  readonly ready: Promise<void>;
  /** Resolves when the watch ends, after the last event was handed to onEvent. */
  readonly done: Promise<FileWatchEnd>;
  private readonly controller = new AbortController();
  private stopped = false;

  constructor(transport: HttpTransport, sandboxId: string, path: string, onEvent: (event: FileWatchEvent) => void, options: FileWatchOptions = {}) {
    const signal = options.signal;
    const onAbort = (): void => void this.stop();
    if (signal?.aborted === true) this.stopped = true;
    signal?.addEventListener('abort', onAbort, { once: true });
    let resolveReady!: () => void;
    let rejectReady!: (e: unknown) => void;
    this.ready = new Promise((resolve, reject) => {
      resolveReady = resolve;
      rejectReady = reject;
    });
    this.ready.catch(() => undefined);
    this.done = (async (): Promise<FileWatchEnd> => {
      try {
        if (this.stopped) return { reason: 'stopped', message: 'stopped before it started' };
        const res = await transport.request({
          method: 'GET',
          path: `/v1/sandboxes/${encodeURIComponent(sandboxId)}/files/watch`,
          query: { path, recursive: options.recursive === true ? 'true' : undefined },
          headers: { accept: 'application/x-ndjson' },
          signal: this.controller.signal,
        });
        if (res.body === null) throw createError('PROTOCOL_ERROR', 'the watch answer has no body');
        for await (const line of readLines(res.body)) {
          const v = parseLine(line);
          if (v.type === 'ready') resolveReady();
          else if (v.type === 'end') {
            resolveReady();
            return { reason: v.reason, message: v.message };
          } else onEvent(v.event);
        }
        if (this.stopped) return { reason: 'stopped', message: 'stopped' };
        throw createError('PROTOCOL_ERROR', 'the watch stream ended without its end line');
      } catch (err) {
        if (this.stopped) {
          resolveReady();
          return { reason: 'stopped', message: 'stopped' };
        }
        rejectReady(err);
        throw err;
      } finally {
        signal?.removeEventListener('abort', onAbort);
      }
    })();
    this.done.catch(() => undefined);
  }

  /** Ends the watch (closes the stream; the daemon removes the watch). Resolves once it ended. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.controller.abort();
    await this.done.catch(() => undefined);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }
}

type Line = { type: 'ready' } | { type: 'end'; reason: FileWatchEnd['reason']; message: string } | { type: 'event'; event: FileWatchEvent };

const EVENT_TYPES = new Set<string>(['create', 'write', 'remove', 'rename', 'chmod', 'overflow', 'unwatched']);

function parseLine(line: string): Line {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    throw createError('PROTOCOL_ERROR', 'malformed watch line (not JSON)', { details: { line: line.slice(0, 500) } });
  }
  if (!isRecord(v) || typeof v.type !== 'string') throw createError('PROTOCOL_ERROR', 'malformed watch line', { details: { line: line.slice(0, 500) } });
  if (v.type === 'ready') return { type: 'ready' };
  if (v.type === 'end') {
    const reason = v.reason === 'gone' || v.reason === 'closed' ? v.reason : 'stopped';
    return { type: 'end', reason, message: typeof v.message === 'string' ? v.message : '' };
  }
  if (!EVENT_TYPES.has(v.type)) throw createError('PROTOCOL_ERROR', `unknown watch line type ${JSON.stringify(v.type)}`);
  const event: FileWatchEvent = { type: v.type as FileWatchEventType };
  if (typeof v.path === 'string') event.path = v.path;
  if (typeof v.to === 'string') event.to = v.to;
  if (typeof v.is_dir === 'boolean') event.isDir = v.is_dir;
  if (typeof v.lost === 'number') event.lost = v.lost;
  if (typeof v.errno === 'string') event.errno = v.errno;
  return { type: 'event', event };
}
