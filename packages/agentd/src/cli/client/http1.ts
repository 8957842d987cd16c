/**
 * One HTTP/1.1 request and its response over a node:net socket (TCP or a Unix socket), for the
 * CLI's lightFetch: a short-lived `agentd exec` then loads neither undici nor node:http (agent,
 * client, server, incoming, outgoing, ~5 ms of CPU at each start). One request per connection
 * (`connection: close`), so no pool and no pipelining; the response body is a Readable fed by
 * a small parser (status line, headers, then a body framed by content-length, chunked
 * transfer coding, or the end of the connection; 1xx answers skipped). Request header names and
 * values are checked as node:http checks them (no CR, LF or other control characters).
 */
import { connect, type Socket } from 'node:net';
import { Readable } from 'node:stream';

export interface RequestHead {
  /** TCP host and port, or a Unix socket path. */
  host?: string;
  port?: number;
  socketPath?: string;
  method: string;
  /** Path and query, already URL-encoded. */
  path: string;
  headers: Record<string, string>;
  body?: Uint8Array;
}

export interface ResponseHead {
  status: number;
  statusText: string;
  /** Lower-case names; a name sent more than once has its values in an array. */
  headers: Record<string, string | string[]>;
}

export interface ExchangeEvents {
  /** The response's status and headers are in: `body` streams the rest. */
  onHead(head: ResponseHead, body: Readable): void;
  /** The exchange failed before a response head came (no connection, reset, a malformed answer). */
  onError(err: Error): void;
}

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const BAD_VALUE = /[^\t\x20-\x7e\x80-\xff]/;
const MAX_HEAD_BYTES = 64 * 1024;
const CRLFCRLF = Buffer.from('\r\n\r\n');
const CRLF = Buffer.from('\r\n');

/** The request's bytes up to the body; throws a TypeError for what node:http would refuse. */
export function requestHead(req: RequestHead): string {
  if (!TOKEN.test(req.method)) throw new TypeError(`Invalid HTTP method: ${JSON.stringify(req.method)}`);
  if (!/^\/[\x21-\x7e]*$/.test(req.path)) throw new TypeError('Request path contains unescaped characters');
  let text = `${req.method} ${req.path} HTTP/1.1\r\n`;
  const names = new Set<string>();
  for (const [name, value] of Object.entries(req.headers)) {
    if (!TOKEN.test(name)) throw new TypeError(`Header name must be a valid HTTP token ["${name}"]`);
    if (BAD_VALUE.test(value)) throw new TypeError(`Invalid character in header content ["${name}"]`);
    names.add(name.toLowerCase());
    text += `${name}: ${value}\r\n`;
  }
  if (!names.has('connection')) text += 'connection: close\r\n';
  return `${text}\r\n`;
}

/** Parses a response head (the bytes before the blank line). */
export function parseHead(text: string): ResponseHead {
  const lines = text.split('\r\n');
  const m = /^HTTP\/1\.[01] (\d{3})(?: (.*))?$/.exec(lines[0] ?? '');
  if (m === null) throw new Error(`malformed HTTP status line: ${JSON.stringify((lines[0] ?? '').slice(0, 100))}`);
  const headers: Record<string, string | string[]> = {};
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':');
    if (colon <= 0) throw new Error(`malformed HTTP header line: ${JSON.stringify(line.slice(0, 100))}`);
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    const prev = headers[name];
    headers[name] = prev === undefined ? value : Array.isArray(prev) ? [...prev, value] : [prev, value];
  }
  return { status: Number(m[1]), statusText: m[2] ?? '', headers };
}

function headerValue(h: ResponseHead['headers'], name: string): string | undefined {
  const v = h[name];
  return v === undefined ? undefined : Array.isArray(v) ? v.join(', ') : v;
}

/** Decodes a chunked body: feed it bytes, it hands out data and says when the last chunk and trailers are through. */
export class ChunkedDecoder {
  private buf: Buffer = Buffer.alloc(0);
  /** Bytes of the current chunk still to come, or -1 while reading a size line, -2 when its CRLF is due, -3 in the trailers. */
  private left = -1;
  done = false;

  /** Returns the data bytes found in `input` (in order); throws on a malformed body. */
  push(input: Buffer): Buffer[] {
    const out: Buffer[] = [];
    this.buf = this.buf.length === 0 ? input : Buffer.concat([this.buf, input]);
    while (!this.done) {
      if (this.left > 0) {
        if (this.buf.length === 0) break;
        const take = Math.min(this.left, this.buf.length);
        out.push(this.buf.subarray(0, take));
        this.buf = this.buf.subarray(take);
        this.left -= take;
        if (this.left === 0) this.left = -2;
        continue;
      }
      const eol = this.buf.indexOf(CRLF);
      if (eol === -1) {
        if (this.buf.length > MAX_HEAD_BYTES) throw new Error('malformed chunked body: line too long');
        break;
      }
      const line = this.buf.subarray(0, eol).toString('latin1');
      this.buf = this.buf.subarray(eol + 2);
      if (this.left === -2) {
        if (line !== '') throw new Error('malformed chunked body: no CRLF after a chunk');
        this.left = -1;
      } else if (this.left === -3) {
        // Trailers end with an empty line; their fields are not used.
        if (line === '') this.done = true;
      } else {
        const size = /^([0-9a-fA-F]{1,15})[ \t]*(?:;.*)?$/.exec(line);
        if (size === null) throw new Error(`malformed chunk size line: ${JSON.stringify(line.slice(0, 100))}`);
        const n = parseInt(size[1] as string, 16);
        this.left = n === 0 ? -3 : n;
      }
    }
    return out;
  }
}

/**
 * Sends `req` and reads its response: `events.onHead` once the head is in (the body then
 * streams through the Readable given), or `events.onError` if it never comes. The returned
 * `destroy` ends the exchange (the connection closes; the body, if any, fails with `reason`).
 */
export function exchange(req: RequestHead, events: ExchangeEvents): { destroy(reason: Error): void } {
  const head = requestHead(req);
  const socket: Socket = req.socketPath !== undefined
    ? connect({ path: req.socketPath })
    : connect({ host: (req.host ?? 'localhost').replace(/^\[(.*)\]$/, '$1'), port: req.port ?? 80 });
  let body: Readable | undefined;
  let pending: Buffer = Buffer.alloc(0);
  /** How the body ends: 'length' with `left` bytes to come, 'chunked', 'close' (end of connection), 'none'. */
  let framing: 'length' | 'chunked' | 'close' | 'none' = 'none';
  let left = 0;
  let chunked: ChunkedDecoder | undefined;
  let settled = false;

  const fail = (err: Error): void => {
    if (body !== undefined) body.destroy(err);
    else if (!settled) {
      settled = true;
      events.onError(err);
    }
    socket.destroy();
  };
  const finishBody = (): void => {
    body?.push(null);
    socket.removeAllListeners('data');
    socket.destroy();
  };
  const feedBody = (chunk: Buffer): void => {
    if (body === undefined || chunk.length === 0) return;
    if (framing === 'length') {
      const take = chunk.subarray(0, left);
      left -= take.length;
      if (take.length > 0) body.push(take);
      if (left === 0) finishBody();
    } else if (framing === 'chunked') {
      for (const piece of (chunked as ChunkedDecoder).push(chunk)) body.push(piece);
      if ((chunked as ChunkedDecoder).done) finishBody();
    } else if (framing === 'close') {
      body.push(chunk);
    }
  };
  const onHeadBytes = (chunk: Buffer): void => {
    pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
    for (;;) {
      const end = pending.indexOf(CRLFCRLF);
      if (end === -1) {
        if (pending.length > MAX_HEAD_BYTES) fail(new Error('HTTP response head too large'));
        return;
      }
      let parsed: ResponseHead;
      try {
        parsed = parseHead(pending.subarray(0, end).toString('latin1'));
      } catch (err) {
        fail(err as Error);
        return;
      }
      const rest = pending.subarray(end + 4);
      pending = Buffer.alloc(0);
      // 1xx (100 Continue, 103 Early Hints): informational, the real answer follows.
      if (parsed.status >= 100 && parsed.status < 200 && parsed.status !== 101) {
        pending = rest;
        continue;
      }
      const te = headerValue(parsed.headers, 'transfer-encoding');
      const length = headerValue(parsed.headers, 'content-length');
      if (req.method === 'HEAD' || parsed.status === 204 || parsed.status === 304) framing = 'none';
      else if (te !== undefined && /(?:^|,)\s*chunked\s*$/i.test(te)) {
        framing = 'chunked';
        chunked = new ChunkedDecoder();
      } else if (length !== undefined) {
        if (!/^\d+$/.test(length)) {
          fail(new Error(`malformed content-length: ${JSON.stringify(length)}`));
          return;
        }
        framing = 'length';
        left = Number(length);
      } else framing = 'close';
      body = new Readable({
        read: () => socket.resume(),
        destroy: (err, cb) => {
          socket.destroy();
          cb(err);
        },
      });
      // A failure reaches whoever reads the body (its iterator sees the error); a body nobody reads
      // (an abandoned event stream, a cancelled answer) must not end the process with an unhandled 'error'.
      body.on('error', () => undefined);
      settled = true;
      events.onHead(parsed, body);
      if (framing === 'none' || (framing === 'length' && left === 0)) finishBody();
      else {
        try {
          feedBody(rest);
        } catch (err) {
          fail(err as Error);
        }
      }
      return;
    }
  };

  socket.on('connect', () => {
    socket.write(head);
    if (req.body !== undefined && req.body.byteLength > 0) socket.write(req.body);
  });
  socket.on('data', (chunk: Buffer) => {
    if (body === undefined) {
      onHeadBytes(chunk);
      return;
    }
    try {
      feedBody(chunk);
    } catch (err) {
      fail(err as Error);
      return;
    }
    // Backpressure: the reader's read() resumes the socket.
    if (body.readableLength >= body.readableHighWaterMark) socket.pause();
  });
  socket.on('error', (err) => fail(err));
  socket.on('close', () => {
    if (body === undefined) {
      if (!settled) fail(Object.assign(new Error('the connection closed before a response came'), { code: 'ECONNRESET' }));
      return;
    }
    if (body.readableEnded || body.destroyed) return;
    if (framing === 'close') body.push(null);
    else if (!(framing === 'length' && left === 0) && !(framing === 'chunked' && chunked?.done === true) && framing !== 'none') {
      body.destroy(Object.assign(new Error('terminated: the connection closed in the middle of the response body'), { code: 'ECONNRESET' }));
    }
  });
  return {
    destroy(reason: Error): void {
      if (body !== undefined) body.destroy(reason);
      settled = true;
      socket.destroy();
    },
  };
}
