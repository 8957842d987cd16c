/// <reference types="node" />
/**
 * @agentd/sdk/node: Node-only helpers, kept out of the browser entry.
 * `unixSocketFetch(path)` speaks HTTP over the daemon's Unix socket with node:http.
 */
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { Readable } from 'node:stream';
import { abortReason, flattenHeaders, NULL_BODY_STATUSES, toHeaders } from './node-stream-fetch.js';
import type { FetchLike } from './options.js';

async function bodyBytes(body: RequestInit['body']): Promise<Uint8Array | undefined> {
  if (body === undefined || body === null) return undefined;
  if (typeof body === 'string') return new TextEncoder().encode(body);
  if (body instanceof Uint8Array) return body;
  if (body instanceof ArrayBuffer) return new Uint8Array(body);
  // Blob, URLSearchParams, FormData, streams: let Response do the encoding.
  return new Uint8Array(await new Response(body).arrayBuffer());
}

/**
 * A fetch over a Unix socket: the URL's path and query are sent, its host is ignored.
 * Supports method, headers, a body (string, bytes, Blob...), an AbortSignal (which also
 * breaks an ongoing response body), and streams the response body.
 */
export function unixSocketFetch(socketPath: string): FetchLike {
  return async (url, init = {}) => {
    const target = new URL(url, 'http://localhost');
    const body = await bodyBytes(init.body);
    const signal = init.signal ?? undefined;
    if (signal?.aborted === true) throw abortReason(signal);
    const headers = flattenHeaders(init.headers);
    if (body !== undefined) headers['content-length'] = String(body.length);
    headers.host ??= 'localhost';
    return new Promise<Response>((resolve, reject) => {
      const req = httpRequest({
        socketPath,
        path: `${target.pathname}${target.search}`,
        method: init.method ?? 'GET',
        headers,
      });
      let response: IncomingMessage | undefined;
      const onAbort = (): void => {
        const reason = abortReason(signal as AbortSignal);
        // Once the answer arrived, the body stream must fail with the abort reason (like fetch).
        if (response !== undefined) response.destroy(reason);
        req.destroy(reason);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      req.on('error', (err) => {
        signal?.removeEventListener('abort', onAbort);
        reject(signal?.aborted === true ? abortReason(signal) : new TypeError('fetch failed', { cause: err }));
      });
      req.on('response', (res) => {
        response = res;
        const status = res.statusCode ?? 0;
        res.on('close', () => signal?.removeEventListener('abort', onAbort));
        const responseBody = NULL_BODY_STATUSES.has(status)
          ? null
          : (Readable.toWeb(res) as unknown as ReadableStream<Uint8Array>);
        if (responseBody === null) res.resume();
        resolve(new Response(responseBody, { status, statusText: res.statusMessage ?? '', headers: toHeaders(res.headers) }));
      });
      req.end(body === undefined ? undefined : Buffer.from(body.buffer, body.byteOffset, body.byteLength));
    });
  };
}
