/**
 * lightFetch's response body (what the SDK reads an exec stream through) without Node's web
 * streams: chunks in order through getReader().read(), then done; cancel closes the connection.
 */
import { createServer, type Server, type ServerResponse } from 'node:http';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { lightFetch } from '../../src/cli/client/light-fetch.js';

describe('lightFetch body', () => {
  let server: Server;
  let base: string;
  let slow: ServerResponse | undefined;
  const closed: string[] = [];
  beforeAll(async () => {
    server = createServer((req, res) => {
      res.on('close', () => closed.push(req.url ?? ''));
      if (req.url === '/chunks') {
        res.writeHead(200);
        res.write('one,');
        setTimeout(() => res.write('two,'), 10);
        setTimeout(() => res.end('three'), 20);
        return;
      }
      slow = res;
      res.writeHead(200).write('first');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });
  const unused = (): Promise<Response> => Promise.reject(new Error('the fallback was used'));

  test('read() yields the bytes in order, as Uint8Array, then done (and stays done)', async () => {
    const res = await lightFetch({}, unused)(`${base}/chunks`, { method: 'GET' });
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    let text = '';
    for (let r = await reader.read(); !r.done; r = await reader.read()) {
      expect(r.value).toBeInstanceOf(Uint8Array);
      text += Buffer.from(r.value).toString();
    }
    expect(text).toBe('one,two,three');
    expect((await reader.read()).done).toBe(true);
    reader.releaseLock();
  });

  test('cancel() after a first chunk closes the connection (the server sees its response closed)', async () => {
    const res = await lightFetch({}, unused)(`${base}/slow`, { method: 'GET' });
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    const first = await reader.read();
    expect(Buffer.from(first.value as Uint8Array).toString()).toBe('first');
    await reader.cancel();
    for (let i = 0; i < 100 && !closed.includes('/slow'); i++) await new Promise((r) => setTimeout(r, 10));
    expect(closed).toContain('/slow');
    expect(slow?.writableEnded).toBe(false);
  });
});
