/**
 * Streamed execs in Node without a `fetch` option go through node:http (src/node-stream-fetch.ts),
 * not the global fetch: the same bytes, headers and errors as before, backpressure on a
 * consumer that does not read, aborts and cut connections typed as with fetch.
 */
import type { ServerResponse } from 'node:http';
import { afterEach, describe, expect, test, vi } from 'vitest';
import { CancelledError, ConflictError, StreamEndedError, type ExecChunk } from '../src/index.js';
import { startExecStream } from '../src/exec.js';
import { HttpTransport } from '../src/transport.js';
import { startServer, type Handler, type TestServer } from './helpers/server.js';

const FRAMES = 'application/vnd.agentd.exec-frames';

function frame(kind: number, payload: Uint8Array): Buffer {
  const head = Buffer.alloc(5);
  head.writeUInt8(kind, 0);
  head.writeUInt32BE(payload.length, 1);
  return Buffer.concat([head, payload]);
}
const json = (v: unknown): Buffer => frame(0, Buffer.from(JSON.stringify(v)));
const exitFrame = json({ type: 'exit', exit_code: 0, signal: null, duration_ms: 1, timed_out: false, canceled: false, output_truncated: false });

let server: TestServer | undefined;
afterEach(async () => {
  vi.restoreAllMocks();
  await server?.close();
  server = undefined;
});

async function serve(handler: Handler): Promise<HttpTransport> {
  server = await startServer(handler);
  return new HttpTransport({ baseUrl: server.url, retry: false, localTokenFile: false, apiKey: 'k-1' });
}

function framesAnswer(res: ServerResponse): void {
  res.writeHead(200, { 'content-type': FRAMES });
}

describe('a streamed exec in Node without a fetch option', () => {
  test('goes over node:http, not the global fetch: same request, the exact bytes back, in pieces', async () => {
    const spy = vi.spyOn(globalThis, 'fetch');
    const payload = Buffer.alloc(3 * 1024 * 1024 + 7);
    for (let i = 0; i < payload.length; i++) payload[i] = (i * 31) & 0xff;
    const transport = await serve(async (_req, res) => {
      framesAnswer(res);
      res.write(json({ type: 'start', pid: 9 }));
      for (let at = 0; at < payload.length; at += 100_000) {
        res.write(frame(1, payload.subarray(at, at + 100_000)));
        await new Promise((r) => setImmediate(r));
      }
      res.end(exitFrame);
    });
    const got: Buffer[] = [];
    const types: string[] = [];
    for await (const c of startExecStream(transport, 'sbx-1', ['cat'], { keepOutput: false })) {
      types.push(c.type);
      if (c.type === 'stdout') got.push(Buffer.from(c.bytes));
    }
    expect(spy).not.toHaveBeenCalled();
    expect(Buffer.concat(got).equals(payload)).toBe(true);
    expect(types[0]).toBe('start');
    expect(types.at(-1)).toBe('exit');
    const req = server?.requests[0];
    expect(req?.method).toBe('POST');
    expect(req?.url).toBe('/v1/sandboxes/sbx-1/exec?stream=1');
    expect(req?.headers.authorization).toBe('Bearer k-1');
    expect(req?.headers['content-type']).toBe('application/json');
    expect(req?.headers.accept).toContain(FRAMES);
    expect(JSON.parse(req?.body.toString() ?? '')).toMatchObject({ argv: ['cat'] });
  });

  test('a client given its own fetch streams through it', async () => {
    const transportServer = await serve((_req, res) => {
      framesAnswer(res);
      res.end(Buffer.concat([json({ type: 'start', pid: 1 }), exitFrame]));
    });
    const own = vi.fn((url: string, init: RequestInit) => fetch(url, init));
    const transport = new HttpTransport({ baseUrl: transportServer.baseUrl, retry: false, localTokenFile: false, fetch: own });
    const result = await startExecStream(transport, 'sbx-1', ['true'], {}).wait();
    expect(result.exitCode).toBe(0);
    expect(own).toHaveBeenCalledTimes(1);
  });

  test('an error answer becomes its typed error, with the envelope read from the body', async () => {
    const transport = await serve((_req, res) => {
      res.writeHead(409, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { code: 'CONFLICT', message: 'sandbox is suspended' } }));
    });
    const err = await startExecStream(transport, 'sbx-1', ['true'], {}).wait().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConflictError);
    expect((err as ConflictError).message).toContain('sandbox is suspended');
  });

  test('a consumer that stops reading holds the sender back (the socket is paused), then gets every byte', async () => {
    const total = 64 * 1024 * 1024;
    let stuck = false;
    let sent = 0;
    const transport = await serve(async (_req, res) => {
      framesAnswer(res);
      res.write(json({ type: 'start', pid: 2 }));
      const piece = Buffer.alloc(1024 * 1024, 7);
      while (sent < total) {
        sent += piece.length;
        if (!res.write(frame(1, piece))) {
          const drained = await Promise.race([new Promise((r) => res.once('drain', () => r(true))), new Promise((r) => setTimeout(() => r(false), 500))]);
          if (drained === false) {
            stuck = true;
            await new Promise((r) => res.once('drain', r));
          }
        }
      }
      res.end(exitFrame);
    });
    const it = startExecStream(transport, 'sbx-1', ['yes'], { keepOutput: false })[Symbol.asyncIterator]();
    expect((await it.next()).value).toEqual({ type: 'start', pid: 2 });
    await new Promise((r) => setTimeout(r, 1500));
    // The sender could not write everything to a client that read nothing.
    expect(stuck).toBe(true);
    expect(sent).toBeLessThan(total);
    let n = 0;
    let last: ExecChunk | undefined;
    for (let r = await it.next(); r.done !== true; r = await it.next()) {
      last = r.value;
      if (r.value.type === 'stdout') n += r.value.bytes.length;
    }
    expect(n).toBe(total);
    expect(last?.type).toBe('exit');
  });

  test('an abort during the body ends the stream with CancelledError', async () => {
    const transport = await serve((_req, res) => {
      framesAnswer(res);
      res.write(json({ type: 'start', pid: 3 }));
      res.write(frame(1, Buffer.from('partial')));
    });
    const ac = new AbortController();
    const got: string[] = [];
    const err = await (async () => {
      for await (const c of startExecStream(transport, 'sbx-1', ['sleep', '9'], { signal: ac.signal })) {
        if (c.type === 'stdout') {
          got.push(c.text);
          ac.abort();
        }
      }
    })().catch((e: unknown) => e);
    expect(got).toEqual(['partial']);
    expect(err).toBeInstanceOf(CancelledError);
  });

  test('a connection cut inside the body is a StreamEndedError, not a clean end', async () => {
    const transport = await serve((_req, res) => {
      framesAnswer(res);
      res.write(json({ type: 'start', pid: 4 }));
      res.write(frame(1, Buffer.from('half')), () => setTimeout(() => res.socket?.destroy(), 20));
    });
    const err = await startExecStream(transport, 'sbx-1', ['x'], {}).wait().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StreamEndedError);
  });

  test('a stream quiet for longer than the idle-connection timeout (4 s) is not cut', async () => {
    const transport = await serve(async (_req, res) => {
      framesAnswer(res);
      res.write(json({ type: 'start', pid: 5 }));
      await new Promise((r) => setTimeout(r, 4600));
      res.end(Buffer.concat([frame(1, Buffer.from('late')), exitFrame]));
    });
    const result = await startExecStream(transport, 'sbx-1', ['sleep', '5'], {}).wait();
    expect(result.stdout).toBe('late');
  }, 15_000);

  test('a redirect is not followed: the credentials never reach the other server', async () => {
    const other = await startServer((_req, res) => {
      framesAnswer(res);
      res.end(Buffer.concat([json({ type: 'start', pid: 6 }), exitFrame]));
    });
    try {
      const transport = await serve((_req, res) => {
        res.writeHead(307, { location: `${other.url}/v1/sandboxes/sbx-1/exec?stream=1` });
        res.end();
      });
      const err = await startExecStream(transport, 'sbx-1', ['true'], {}).wait().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(Error);
      expect(other.requests).toEqual([]);
    } finally {
      await other.close();
    }
  });
});
