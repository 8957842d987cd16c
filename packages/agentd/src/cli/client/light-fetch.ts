/**
 * The CLI's fetch to a local daemon (Unix socket or plain http): HTTP/1.1 over a node:net
 * socket (http1.ts), and an answer object with just what the SDK reads (ok, status,
 * headers.get, body, text, json, arrayBuffer). Node's own fetch, Response and Headers load
 * undici, which alone costs tens of ms at each start of a short-lived `agentd exec`, and
 * node:http loads a dozen more modules (agent, client, server, incoming, outgoing...), ~5 ms of
 * CPU at each start. A request body that is not a string or bytes (a stream, a Blob, FormData),
 * or headers that are not a plain object, go to `fallback` (the SDK's fetch) unchanged.
 */
import type { Readable } from 'node:stream';
import type { FetchLike } from '@agentd/sdk';
import { exchange, type ResponseHead } from './http1.js';

type RawHeaders = ResponseHead['headers'];

class LightHeaders {
  constructor(private readonly raw: RawHeaders) {}
  get(name: string): string | null {
    const v = this.raw[name.toLowerCase()];
    return v === undefined ? null : Array.isArray(v) ? v.join(', ') : v;
  }
  has(name: string): boolean {
    return this.get(name) !== null;
  }
  forEach(visit: (value: string, name: string) => void): void {
    for (const name of Object.keys(this.raw)) {
      const v = this.get(name);
      if (v !== null) visit(v, name);
    }
  }
}

/**
 * The part of a web ReadableStream the SDK reads a response body through (`getReader()`:
 * `read`, `cancel`, `releaseLock`; see sdk/src/ndjson.ts bodyChunks), over the Node stream:
 * `Readable.toWeb` loads Node's web streams, 5-12 ms of CPU at each `agentd exec`. Cancel
 * destroys the response (its connection closes), as cancelling a fetch body does.
 */
function lightBody(res: Readable): Pick<ReadableStream<Uint8Array>, 'getReader'> {
  return {
    getReader() {
      const it = res[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
      const reader = {
        async read(): Promise<{ done: true; value: undefined } | { done: false; value: Uint8Array }> {
          const r = await it.next();
          return r.done === true ? { done: true, value: undefined } : { done: false, value: r.value };
        },
        async cancel(): Promise<void> {
          await it.return?.();
          res.destroy();
        },
        releaseLock(): void {},
      };
      return reader as unknown as ReadableStreamDefaultReader<Uint8Array>;
    },
  } as Pick<ReadableStream<Uint8Array>, 'getReader'>;
}

class LightResponse {
  readonly ok: boolean;
  readonly status: number;
  readonly statusText: string;
  readonly headers: LightHeaders;
  #body: ReadableStream<Uint8Array> | null | undefined;

  constructor(head: ResponseHead, private readonly res: Readable) {
    this.status = head.status;
    this.ok = this.status >= 200 && this.status < 300;
    this.statusText = head.statusText;
    this.headers = new LightHeaders(head.headers);
  }

  get body(): ReadableStream<Uint8Array> | null {
    if (this.#body === undefined) this.#body = this.status === 204 || this.status === 304 ? null : (lightBody(this.res) as unknown as ReadableStream<Uint8Array>);
    return this.#body;
  }

  async arrayBuffer(): Promise<ArrayBuffer> {
    const chunks: Buffer[] = [];
    for await (const chunk of this.res) chunks.push(chunk as Buffer);
    const all = Buffer.concat(chunks);
    return all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength);
  }

  async text(): Promise<string> {
    return Buffer.from(await this.arrayBuffer()).toString('utf8');
  }

  async json(): Promise<unknown> {
    return JSON.parse(await this.text()) as unknown;
  }
}

function reasonOf(signal: AbortSignal): Error {
  return signal.reason instanceof Error ? signal.reason : new DOMException('This operation was aborted', 'AbortError');
}

/** `target.socketPath` set: every request goes to that Unix socket (the URL gives the path); otherwise to the URL's host and port. */
export function lightFetch(target: { socketPath?: string }, fallback: FetchLike): FetchLike {
  return (url, init = {}) => {
    const body = init.body;
    const plainBody = body === undefined || body === null || typeof body === 'string' || body instanceof Uint8Array;
    const plainHeaders = init.headers === undefined || (typeof init.headers === 'object' && Object.getPrototypeOf(init.headers) === Object.prototype);
    const u = new URL(url);
    if (!plainBody || !plainHeaders || u.protocol !== 'http:') return fallback(url, init);
    const signal = init.signal ?? undefined;
    if (signal?.aborted === true) return Promise.reject(reasonOf(signal));
    const headers: Record<string, string> = { ...((init.headers as Record<string, string> | undefined) ?? {}) };
    const bytes = body === undefined || body === null ? undefined : typeof body === 'string' ? Buffer.from(body) : body;
    if (bytes !== undefined) headers['content-length'] = String(bytes.byteLength);
    return new Promise<Response>((resolve, reject) => {
      let response: Readable | undefined;
      // Its events come later (socket I/O), after the abort listener below is in place; a request it refuses throws here, before any listener.
      const call = exchange(
        {
          ...(target.socketPath === undefined ? { host: u.hostname, port: u.port === '' ? 80 : Number(u.port) } : { socketPath: target.socketPath }),
          method: init.method ?? 'GET',
          path: `${u.pathname}${u.search}`,
          headers: { host: target.socketPath === undefined ? u.host : 'localhost', ...headers },
          ...(bytes === undefined ? {} : { body: bytes }),
        },
        {
          onHead: (head, body) => {
            response = body;
            body.on('close', () => signal?.removeEventListener('abort', onAbort));
            resolve(new LightResponse(head, body) as unknown as Response);
          },
          onError: (err) => {
            signal?.removeEventListener('abort', onAbort);
            reject(signal?.aborted === true ? reasonOf(signal) : new TypeError('fetch failed', { cause: err }));
          },
        },
      );
      const onAbort = (): void => {
        const reason = reasonOf(signal as AbortSignal);
        // Once the answer is there, its body fails with the reason (as with fetch).
        response?.destroy(reason);
        call.destroy(reason);
        if (response === undefined) reject(reason);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  };
}
