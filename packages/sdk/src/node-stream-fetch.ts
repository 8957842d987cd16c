/**
 * The fetch of streamed execs in Node when the client was given no `fetch`: `node:http` (or
 * `node:https`) reached through `process.getBuiltinModule`, so the browser entry imports no
 * Node module and a browser never gets here.
 *
 * Why not the global fetch: Node's fetch (undici) copies every received chunk into a fresh
 * Uint8Array, first joins the socket reads buffered since the last pull (a second copy),
 * then passes each through a web byte stream. For a 256 MiB exec stream that was about half
 * of the client's CPU (bench/README.md, `ns_stream_256m`). Here the socket's own buffers are
 * handed on as they are, through a small reader with the `getReader()` shape the SDK reads.
 *
 * The answer has the part of a Response the SDK uses: `ok`, `status`, `statusText`,
 * `headers`, `body.getReader()`, and `text()`/`json()`/`arrayBuffer()` (error answers).
 */
import type { FetchLike } from './options.js';
import { nodeBuiltin } from './options.js';

/** The subset of node:http's types used here (the browser build has no Node types). */
interface NodeIncoming {
  statusCode?: number;
  statusMessage?: string;
  headers: Record<string, string | string[] | undefined>;
  on(event: 'data', fn: (chunk: Uint8Array) => void): NodeIncoming;
  on(event: 'end' | 'close', fn: () => void): NodeIncoming;
  on(event: 'error', fn: (err: Error) => void): NodeIncoming;
  pause(): void;
  resume(): void;
  destroy(err?: Error): void;
}
interface NodeRequest {
  on(event: 'response', fn: (res: NodeIncoming) => void): NodeRequest;
  on(event: 'error', fn: (err: Error) => void): NodeRequest;
  end(body?: Uint8Array | string): void;
  destroy(err?: Error): void;
}
interface NodeHttp {
  Agent: new (opts: { keepAlive: boolean; timeout: number }) => unknown;
  request(url: URL, opts: { method: string; headers: Record<string, string>; agent: unknown }): NodeRequest;
}

/** Statuses whose answers carry no body. */
export const NULL_BODY_STATUSES = new Set([101, 103, 204, 205, 304]);
/** Received bytes held before the socket is paused (the SDK reads as fast as its consumer). */
const HIGH_WATER_BYTES = 1024 * 1024;
/**
 * An idle kept-alive connection is closed after this: well under the daemon's keep-alive
 * timeout (adapters.http.keep_alive_timeout_ms), so a request never goes out on a connection
 * the daemon is closing. undici's default is the same 4 s.
 */
const FREE_SOCKET_MS = 4000;

export function abortReason(signal: AbortSignal): Error {
  const reason: unknown = signal.reason;
  return reason instanceof Error ? reason : new DOMException('This operation was aborted', 'AbortError');
}

export function flattenHeaders(init: HeadersInit | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  new Headers(init).forEach((value, name) => {
    out[name] = value;
  });
  return out;
}

export function toHeaders(raw: NodeIncoming['headers']): Headers {
  const headers = new Headers();
  for (const [name, value] of Object.entries(raw)) {
    if (value === undefined) continue;
    if (Array.isArray(value)) for (const v of value) headers.append(name, v);
    else headers.append(name, value);
  }
  return headers;
}

function joinBytes(chunks: Uint8Array[]): Uint8Array {
  let n = 0;
  for (const c of chunks) n += c.length;
  const out = new Uint8Array(n);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

/**
 * A response body as a queue of the socket's chunks, read through `getReader()`. The socket
 * is paused while more than HIGH_WATER_BYTES wait, so a slow consumer holds the daemon back
 * (TCP backpressure) instead of filling memory.
 */
class BodyQueue {
  private readonly chunks: Uint8Array[] = [];
  private head = 0;
  private queued = 0;
  private ended = false;
  private failure: Error | undefined;
  private paused = false;
  private waiter: { resolve: (r: ReadableStreamReadResult<Uint8Array>) => void; reject: (e: Error) => void } | undefined;
  private used = false;

  constructor(private readonly res: NodeIncoming) {
    res.on('data', (chunk) => this.push(chunk));
    res.on('end', () => {
      this.ended = true;
      this.wake();
    });
    res.on('error', (err) => this.fail(err));
    res.on('close', () => {
      if (!this.ended) this.fail(new TypeError('terminated: the connection closed before the end of the answer'));
    });
  }

  fail(err: Error): void {
    if (this.ended || this.failure !== undefined) return;
    this.failure = err;
    this.wake();
  }

  /** The `ReadableStream` subset the SDK reads (bodyChunks). */
  stream(): ReadableStream<Uint8Array> {
    const reader = {
      read: (): Promise<ReadableStreamReadResult<Uint8Array>> => this.read(),
      cancel: (): Promise<void> => {
        this.res.destroy();
        this.ended = true;
        this.chunks.length = 0;
        return Promise.resolve();
      },
      releaseLock: (): void => {},
    };
    return {
      getReader: () => {
        if (this.used) throw new TypeError('the body was already read');
        this.used = true;
        return reader;
      },
    } as unknown as ReadableStream<Uint8Array>;
  }

  async all(): Promise<Uint8Array> {
    const reader = this.stream().getReader();
    const parts: Uint8Array[] = [];
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      parts.push(value);
    }
    return joinBytes(parts);
  }

  private push(chunk: Uint8Array): void {
    const waiter = this.waiter;
    if (waiter !== undefined) {
      this.waiter = undefined;
      waiter.resolve({ done: false, value: chunk });
      return;
    }
    this.chunks.push(chunk);
    this.queued += chunk.length;
    if (this.queued > HIGH_WATER_BYTES && !this.paused) {
      this.paused = true;
      this.res.pause();
    }
  }

  private read(): Promise<ReadableStreamReadResult<Uint8Array>> {
    if (this.head < this.chunks.length) {
      const value = this.chunks[this.head] as Uint8Array;
      this.chunks[this.head++] = undefined as unknown as Uint8Array;
      if (this.head === this.chunks.length) {
        this.chunks.length = 0;
        this.head = 0;
      }
      this.queued -= value.length;
      if (this.paused && this.queued <= HIGH_WATER_BYTES / 2) {
        this.paused = false;
        this.res.resume();
      }
      return Promise.resolve({ done: false, value });
    }
    if (this.failure !== undefined) return Promise.reject(this.failure);
    if (this.ended) return Promise.resolve({ done: true, value: undefined });
    return new Promise((resolve, reject) => {
      this.waiter = { resolve, reject };
    });
  }

  private wake(): void {
    const waiter = this.waiter;
    if (waiter === undefined) return;
    this.waiter = undefined;
    if (this.failure !== undefined) waiter.reject(this.failure);
    else waiter.resolve({ done: true, value: undefined });
  }
}

/** The fetch-like over node:http/https for this runtime, or undefined where there is none (browsers). */
export function nodeStreamFetch(): FetchLike | undefined {
  const http = nodeBuiltin('node:http') as NodeHttp | undefined;
  const https = nodeBuiltin('node:https') as NodeHttp | undefined;
  if (http === undefined || https === undefined) return undefined;
  let agents: { http: unknown; https: unknown } | undefined;
  return (url, init) => {
    const target = new URL(url);
    const module = target.protocol === 'https:' ? https : target.protocol === 'http:' ? http : undefined;
    // Anything else (a relative or unusual URL) goes to the global fetch, as before.
    if (module === undefined) return fetch(url, init);
    agents ??= { http: new http.Agent({ keepAlive: true, timeout: FREE_SOCKET_MS }), https: new https.Agent({ keepAlive: true, timeout: FREE_SOCKET_MS }) };
    const body = init.body;
    if (body !== undefined && body !== null && typeof body !== 'string' && !(body instanceof Uint8Array)) return fetch(url, init);
    const signal = init.signal ?? undefined;
    if (signal?.aborted === true) return Promise.reject(abortReason(signal));
    const headers = flattenHeaders(init.headers);
    const bytes = typeof body === 'string' ? new TextEncoder().encode(body) : (body ?? undefined);
    if (bytes !== undefined) headers['content-length'] = String(bytes.length);
    return new Promise<Response>((resolve, reject) => {
      const req = module.request(target, { method: init.method ?? 'GET', headers, agent: module === https ? agents?.https : agents?.http });
      let queue: BodyQueue | undefined;
      let response: NodeIncoming | undefined;
      const onAbort = (): void => {
        const reason = abortReason(signal as AbortSignal);
        // Once the answer arrived, its body fails with the abort reason (as with fetch).
        queue?.fail(reason);
        response?.destroy(reason);
        req.destroy(reason);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      req.on('error', (err) => {
        signal?.removeEventListener('abort', onAbort);
        reject(signal?.aborted === true ? abortReason(signal) : new TypeError('fetch failed', { cause: err }));
      });
      req.on('response', (res) => {
        response = res;
        res.on('close', () => signal?.removeEventListener('abort', onAbort));
        const status = res.statusCode ?? 0;
        const headersOut = toHeaders(res.headers);
        const hasBody = !NULL_BODY_STATUSES.has(status);
        queue = new BodyQueue(res);
        if (!hasBody) res.resume();
        const q = queue;
        const answer = {
          ok: status >= 200 && status < 300,
          status,
          statusText: res.statusMessage ?? '',
          headers: headersOut,
          url,
          body: hasBody ? q.stream() : null,
          arrayBuffer: async (): Promise<ArrayBuffer> => {
            const all = await q.all();
            return all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength) as ArrayBuffer;
          },
          text: async (): Promise<string> => new TextDecoder().decode(await q.all()),
          json: async (): Promise<unknown> => JSON.parse(new TextDecoder().decode(await q.all())) as unknown,
        };
        resolve(answer as unknown as Response);
      });
      req.end(bytes);
    });
  };
}
