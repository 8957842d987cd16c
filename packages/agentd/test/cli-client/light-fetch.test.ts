/** The CLI's undici-free fetch against a real loopback HTTP server and a Unix socket. */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { lightFetch } from '../../src/cli/client/light-fetch.js';

describe('lightFetch', () => {
  let server: Server;
  let sockServer: Server;
  let base: string;
  let dir: string;
  let socketPath: string;
  const seen: Array<{ method: string; url: string; body: string; headers: Record<string, unknown> }> = [];
  const handler = (req: IncomingMessage, res: ServerResponse): void => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      seen.push({ method: req.method ?? '', url: req.url ?? '', body: Buffer.concat(chunks).toString(), headers: req.headers });
      if (req.url === '/empty') return void res.writeHead(204).end();
      if (req.url === '/slow') return void res.writeHead(200, { 'content-type': 'text/plain' }).write('part');
      res.writeHead(201, { 'content-type': 'application/json', 'x-two': ['a', 'b'] }).end(JSON.stringify({ ok: true, path: req.url }));
    });
  };
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'agentd-lightfetch-'));
    socketPath = join(dir, 's.sock');
    server = createServer(handler);
    sockServer = createServer(handler);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    await new Promise<void>((r) => sockServer.listen(socketPath, r));
    const addr = server.address() as { port: number };
    base = `http://127.0.0.1:${addr.port}`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    sockServer.closeAllConnections();
    await new Promise((r) => server.close(r));
    await new Promise((r) => sockServer.close(r));
    rmSync(dir, { recursive: true, force: true });
  });

  const unused = (): Promise<Response> => Promise.reject(new Error('the fallback was used'));

  test('sends method, headers and a string body over TCP; the answer has status, ok, headers and JSON', async () => {
    const res = await lightFetch({}, unused)(`${base}/a?x=1`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-k': 'v' }, body: '{"n":1}' });
    expect([res.status, res.ok, res.headers.get('content-type'), res.headers.get('X-Two'), res.headers.get('nope')]).toEqual([201, true, 'application/json', 'a, b', null]);
    expect(await res.json()).toEqual({ ok: true, path: '/a?x=1' });
    expect(seen.at(-1)).toMatchObject({ method: 'POST', url: '/a?x=1', body: '{"n":1}', headers: { 'x-k': 'v', 'content-length': '7' } });
  });

  test('the Unix socket: the same request goes to the socket whatever the URL host; body as a web stream', async () => {
    const res = await lightFetch({ socketPath }, unused)('http://localhost/b', { method: 'GET' });
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    let text = '';
    for (let r = await reader.read(); !r.done; r = await reader.read()) text += Buffer.from(r.value).toString();
    expect(JSON.parse(text)).toEqual({ ok: true, path: '/b' });
  });

  test('204 has a null body; bytes bodies are sent as is', async () => {
    const res = await lightFetch({}, unused)(`${base}/empty`, { method: 'DELETE', body: new Uint8Array([1, 2, 3]) });
    expect([res.status, res.body]).toEqual([204, null]);
    expect(seen.at(-1)?.headers['content-length']).toBe('3');
  });

  test('an unusual body or https goes to the fallback, untouched', async () => {
    const calls: string[] = [];
    const fallback = (url: string): Promise<Response> => {
      calls.push(url);
      return Promise.resolve(new Response('fb'));
    };
    const stream = new ReadableStream({ start: (c) => c.close() });
    await lightFetch({}, fallback)(`${base}/c`, { method: 'PUT', body: stream, duplex: 'half' } as RequestInit);
    await lightFetch({}, fallback)('https://example.invalid/d', { method: 'GET' });
    expect(calls).toEqual([`${base}/c`, 'https://example.invalid/d']);
  });

  test('no server: rejects with TypeError "fetch failed" (the SDK reports UNAVAILABLE); an abort rejects with its reason, also mid-body', async () => {
    const gone = join(dir, 'none.sock');
    await expect(lightFetch({ socketPath: gone }, unused)('http://localhost/x', {})).rejects.toMatchObject({ name: 'TypeError', message: 'fetch failed', cause: { code: 'ENOENT' } });
    const early = new AbortController();
    early.abort(new Error('stop now'));
    await expect(lightFetch({}, unused)(`${base}/a`, { signal: early.signal })).rejects.toThrow('stop now');
    const mid = new AbortController();
    const res = await lightFetch({}, unused)(`${base}/slow`, { signal: mid.signal });
    const reading = res.text();
    mid.abort(new Error('cut'));
    await expect(reading).rejects.toThrow('cut');
  });
});
