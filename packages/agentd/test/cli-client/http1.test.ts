/**
 * The CLI's HTTP/1.1 exchange over node:net (cli/client/http1.ts), against raw loopback
 * servers that write exact bytes: every body framing (content-length, chunked split anywhere,
 * end of connection, none), 1xx answers skipped, a body cut short fails, malformed answers fail,
 * and request headers node:http would refuse (CR/LF injection) are refused before anything is sent.
 */
import { createServer, type Server, type Socket } from 'node:net';
import type { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { ChunkedDecoder, exchange, type ResponseHead } from '../../src/cli/client/http1.js';

/** What the server answers, by request path: raw byte pieces written with a pause between them (then the connection ends unless `keepOpen`). */
const answers: Record<string, { pieces: string[]; keepOpen?: boolean }> = {
  '/length': { pieces: ['HTTP/1.1 200 OK\r\ncontent-length: 5\r\nx-a: 1\r\nX-A: 2\r\n\r\nhel', 'lo'], keepOpen: true },
  '/chunked': { pieces: ['HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3\r\non', 'e\r\n4;ext=1\r\n,two\r\n', '6\r\n,three\r\n0\r\nx-trailer: t\r\n\r\n'], keepOpen: true },
  '/close': { pieces: ['HTTP/1.1 200 OK\r\n\r\nuntil ', 'the end'] },
  '/continue': { pieces: ['HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\ncontent-length: 2\r\n\r\nok'], keepOpen: true },
  '/nobody': { pieces: ['HTTP/1.1 204 No Content\r\n\r\n'], keepOpen: true },
  '/cut': { pieces: ['HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nonly this'] },
  '/garbage': { pieces: ['SMTP ready\r\n\r\n'] },
};

describe('http1 exchange', () => {
  let server: Server;
  let port: number;
  const requests: string[] = [];
  const open = new Set<Socket>();
  beforeAll(async () => {
    server = createServer((sock) => {
      open.add(sock);
      sock.on('close', () => open.delete(sock));
      let got = '';
      sock.on('data', (d: Buffer) => {
        got += d.toString('latin1');
        const end = got.indexOf('\r\n\r\n');
        if (end === -1) return;
        const length = /content-length: (\d+)/i.exec(got.slice(0, end));
        if (length !== null && got.length < end + 4 + Number(length[1])) return;
        requests.push(got);
        const path = got.split(' ')[1] ?? '';
        const a = answers[path] ?? { pieces: ['HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n'] };
        let i = 0;
        const next = (): void => {
          if (i < a.pieces.length) {
            sock.write(a.pieces[i++] as string);
            setTimeout(next, 5);
          } else if (a.keepOpen !== true) sock.end();
        };
        next();
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as { port: number }).port;
  });
  afterAll(async () => {
    for (const s of open) s.destroy();
    await new Promise((r) => server.close(r));
  });

  function call(path: string, extra: { method?: string; headers?: Record<string, string>; body?: Uint8Array } = {}): Promise<{ head: ResponseHead; body: Readable }> {
    return new Promise((resolve, reject) => {
      exchange({ host: '127.0.0.1', port, method: extra.method ?? 'GET', path, headers: { host: 'x', ...(extra.headers ?? {}) }, ...(extra.body === undefined ? {} : { body: extra.body }) }, {
        onHead: (head, body) => resolve({ head, body }),
        onError: reject,
      });
    });
  }
  async function text(body: Readable): Promise<string> {
    let s = '';
    for await (const c of body) s += (c as Buffer).toString();
    return s;
  }

  test('content-length: the body ends after its length even with the connection left open; repeated headers are kept', async () => {
    const { head, body } = await call('/length');
    expect([head.status, head.statusText, head.headers['x-a'], await text(body)]).toEqual([200, 'OK', ['1', '2'], 'hello']);
  });

  test('chunked, split across writes, with an extension and trailers; the body ends at the last chunk', async () => {
    const { body } = await call('/chunked');
    expect(await text(body)).toBe('one,two,three');
  });

  test('no length: the body runs to the end of the connection', async () => {
    expect(await text((await call('/close')).body)).toBe('until the end');
  });

  test('a 100 Continue before the answer is skipped; 204 has an empty body', async () => {
    const c = await call('/continue');
    expect([c.head.status, await text(c.body)]).toEqual([201, 'ok']);
    const n = await call('/nobody');
    expect([n.head.status, await text(n.body)]).toEqual([204, '']);
  });

  test('the request: method, path, headers, content and connection: close', async () => {
    await text((await call('/length', { method: 'POST', headers: { 'content-type': 'application/json', 'content-length': '7' }, body: Buffer.from('{"n":1}') })).body);
    expect(requests.at(-1)).toBe('POST /length HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 7\r\nconnection: close\r\n\r\n{"n":1}');
  });

  test('a body cut short by the connection fails; a malformed answer fails before any head', async () => {
    const { body } = await call('/cut');
    await expect(text(body)).rejects.toThrow(/closed in the middle of the response body/);
    await expect(call('/garbage')).rejects.toThrow(/malformed HTTP status line/);
  });

  test('a body that fails while nobody reads it does not end the process; its reader gets the error later', async () => {
    const { body } = await call('/cut');
    await new Promise((r) => body.once('close', r));
    expect(body.errored?.message).toMatch(/closed in the middle of the response body/);
    await expect(text(body)).rejects.toThrow(/closed in the middle/);
  });

  test('a header value with CR/LF (request smuggling) or a bad name is refused before connecting', () => {
    const before = requests.length;
    const events = { onHead: () => undefined, onError: () => undefined };
    expect(() => exchange({ host: '127.0.0.1', port, method: 'GET', path: '/length', headers: { 'x-k': 'v\r\nx-evil: 1' } }, events)).toThrow(/Invalid character in header content/);
    expect(() => exchange({ host: '127.0.0.1', port, method: 'GET', path: '/length', headers: { 'x k': 'v' } }, events)).toThrow(/valid HTTP token/);
    expect(() => exchange({ host: '127.0.0.1', port, method: 'GET', path: '/a b', headers: {} }, events)).toThrow(/unescaped characters/);
    expect(requests.length).toBe(before);
  });

  test('ChunkedDecoder fed one byte at a time gives the same data', () => {
    const wire = Buffer.from('5\r\nhello\r\na\r\n0123456789\r\n0\r\n\r\n');
    const d = new ChunkedDecoder();
    const out: Buffer[] = [];
    for (const b of wire) out.push(...d.push(Buffer.from([b])));
    expect([Buffer.concat(out).toString(), d.done]).toEqual(['hello0123456789', true]);
    expect(() => new ChunkedDecoder().push(Buffer.from('zz\r\n'))).toThrow(/malformed chunk size/);
  });
});
