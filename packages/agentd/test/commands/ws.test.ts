/**
 * The commands WebSocket (issue 11, item 4) against a real daemon and the namespace backend:
 * auth on the upgrade request like HTTP, a PTY with resize and Ctrl-C, line-by-line Python
 * under a terminal, bidirectional exec without a terminal, keep_alive_on_disconnect, attach.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import WebSocket from 'ws';
import { startTestDaemon, type TestDaemon } from '../daemon/harness.js';

interface Client {
  ws: WebSocket;
  /** Control messages (text), in order. */
  controls: Array<Record<string, unknown>>;
  /** Output bytes, in order, with their offsets checked to follow each other. */
  text(): string;
  lastOffset(): number;
  waitFor(pred: () => boolean, what: string, ms?: number): Promise<void>;
  closed: Promise<{ code: number; reason: string }>;
}

function connect(url: string, headers: Record<string, string>, sbx: string, socketPath?: string): Promise<Client> {
  const target = socketPath ? `ws+unix://${socketPath}:/v1/sandboxes/${sbx}/commands/connect` : `${url.replace('http', 'ws')}/v1/sandboxes/${sbx}/commands/connect`;
  const ws = new WebSocket(target, { headers });
  const controls: Array<Record<string, unknown>> = [];
  const out: Buffer[] = [];
  let next = -1;
  let failure: Error | undefined;
  ws.on('message', (data: Buffer, isBinary) => {
    if (!isBinary) {
      controls.push(JSON.parse(data.toString('utf8')) as Record<string, unknown>);
      const c = controls.at(-1) as { type: string; next_offset?: number };
      if (c.type === 'overflow') next = c.next_offset ?? next;
      return;
    }
    const offset = Number(data.readBigUInt64BE(1));
    if (next >= 0 && offset !== next) failure = new Error(`offset ${offset} after ${next}: a gap or a repeat`);
    const payload = data.subarray(9);
    next = offset + payload.length;
    out.push(payload);
  });
  const closed = new Promise<{ code: number; reason: string }>((resolve) => ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })));
  const client: Client = {
    ws, controls, closed,
    text: () => Buffer.concat(out).toString('utf8'),
    lastOffset: () => next,
    async waitFor(pred, what, ms = 15_000) {
      const until = Date.now() + ms;
      while (!pred()) {
        if (failure) throw failure;
        if (Date.now() > until) throw new Error(`timed out waiting for ${what}; output so far: ${JSON.stringify(client.text().slice(-500))}, controls: ${JSON.stringify(controls)}`);
        await new Promise((r) => setTimeout(r, 20));
      }
      if (failure) throw failure;
    },
  };
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve(client));
    ws.once('unexpected-response', (_req, res) => reject(Object.assign(new Error(`upgrade refused: ${res.statusCode}`), { status: res.statusCode })));
    ws.once('error', reject);
  });
}

const send = (c: Client, v: unknown): void => c.ws.send(JSON.stringify(v));

describe('commands over a WebSocket (real daemon, namespace backend)', () => {
  let d: TestDaemon;
  let sbx = '';
  beforeAll(async () => {
    d = await startTestDaemon({});
    const r = await d.call('POST', '/v1/sandboxes', { body: {} });
    expect(r.status, r.text).toBe(201);
    sbx = r.body.id;
  });
  afterAll(async () => d?.close());

  test('the upgrade is authenticated like any request: no credential is 401 before any WebSocket exists, a bad one too', async () => {
    await expect(connect(d.url, {}, sbx)).rejects.toMatchObject({ status: 401 });
    await expect(connect(d.url, { authorization: 'Bearer nope' }, sbx)).rejects.toMatchObject({ status: 401 });
  });

  test('a terminal: typed input echoes, stty size follows resize, Ctrl-C interrupts sleep and the shell survives, exit status passes through', async () => {
    const c = await connect(d.url, d.authHeaders(), sbx);
    send(c, { type: 'start', argv: ['/bin/sh'], pty: { rows: 24, cols: 80 } });
    await c.waitFor(() => c.controls.some((m) => m.type === 'started'), 'started');
    expect(c.controls[0]).toMatchObject({ type: 'started', pty: true, command_id: expect.stringMatching(/^cmd_/) });
    c.ws.send(Buffer.from('stty size\n'));
    await c.waitFor(() => /\r\n24 80\r\n/.test(c.text()), 'stty size 24 80');
    expect(c.text()).toContain('stty size');
    send(c, { type: 'resize', rows: 40, cols: 100 });
    c.ws.send(Buffer.from('stty size\n'));
    await c.waitFor(() => /\r\n40 100\r\n/.test(c.text()), 'stty size 40 100');
    c.ws.send(Buffer.from('sleep 30; echo A$((1+1))B\n'));
    await new Promise((r) => setTimeout(r, 400));
    c.ws.send(Buffer.from([3]));
    c.ws.send(Buffer.from('echo still-$((40+2))\n'));
    await c.waitFor(() => c.text().includes('still-42'), 'shell alive after Ctrl-C', 10_000);
    expect(c.text()).not.toContain('A2B');
    c.ws.send(Buffer.from('exit 3\n'));
    const closed = await c.closed;
    expect(closed.code).toBe(1000);
    expect(c.controls.at(-1)).toMatchObject({ type: 'exit', state: 'exited', exit_code: 3 });
  }, 30_000);

  test('Python under a terminal prints line by line (no block buffering until exit)', async () => {
    const c = await connect(d.url, d.authHeaders(), sbx);
    send(c, { type: 'start', argv: ['python3', '-c', 'import time\nfor i in range(3):\n    print("tick", i)\n    time.sleep(1)\n'], pty: { rows: 24, cols: 80 } });
    await c.waitFor(() => c.text().includes('tick 0'), 'first line', 10_000);
    // The first line arrived while Python still runs (it sleeps 2 s more before exiting).
    expect(c.controls.some((m) => m.type === 'exit')).toBe(false);
    expect(c.text()).not.toContain('tick 2');
    await c.closed;
    expect(c.text()).toBe('tick 0\r\ntick 1\r\ntick 2\r\n');
  }, 20_000);

  test('full-screen programs: top -b -n 1 prints its process table; vi opens a file, takes an edit and quits', async () => {
    const t = await connect(d.url, d.authHeaders(), sbx);
    send(t, { type: 'start', argv: ['top', '-b', '-n', '1', '-w', '120'], pty: { rows: 40, cols: 120 } });
    await t.closed;
    expect(t.text()).toMatch(/PID\s+USER/);
    expect(t.controls.at(-1)).toMatchObject({ type: 'exit', exit_code: 0 });
    const v = await connect(d.url, d.authHeaders(), sbx);
    send(v, { type: 'start', argv: ['vi', '/tmp/vi-test.txt'], pty: { rows: 24, cols: 80 } });
    await v.waitFor(() => v.text().includes('vi-test.txt'), 'vi drew its screen', 10_000);
    v.ws.send(Buffer.from('ihello from vi\x1b'));
    await new Promise((r) => setTimeout(r, 300));
    v.ws.send(Buffer.from(':wq\r'));
    await v.closed;
    expect(v.controls.at(-1)).toMatchObject({ type: 'exit', exit_code: 0 });
    const f = await d.call('GET', `/v1/sandboxes/${sbx}/files?path=/tmp/vi-test.txt`);
    expect(f.text).toBe('hello from vi\n');
  }, 30_000);

  test('bidirectional exec without a terminal: stdin in, stdout out, stdin_close is EOF', async () => {
    const c = await connect(d.url, d.authHeaders(), sbx);
    send(c, { type: 'start', command: 'while read -r l; do echo "re:$l"; done; echo bye >&2', keep_stdin_open: true });
    await c.waitFor(() => c.controls.some((m) => m.type === 'started'), 'started');
    c.ws.send(Buffer.from('a\n'));
    await c.waitFor(() => c.text() === 're:a\n', 'first answer');
    c.ws.send(Buffer.from('b\n'));
    await c.waitFor(() => c.text() === 're:a\nre:b\n', 'second answer');
    send(c, { type: 'stdin_close' });
    await c.closed;
    expect(c.text()).toBe('re:a\nre:b\nbye\n');
    expect(c.controls.at(-1)).toMatchObject({ type: 'exit', exit_code: 0 });
  });

  test('default: the command survives its connection and a new one attaches from the last offset; keep_alive_on_disconnect false kills it', async () => {
    const c = await connect(d.url, d.authHeaders(), sbx);
    send(c, { type: 'start', command: 'i=0; while [ $i -lt 40 ]; do echo "n$i"; i=$((i+1)); sleep 0.05; done' });
    await c.waitFor(() => c.text().includes('n5\n'), 'n5');
    const id = c.controls[0]?.command_id as string;
    c.ws.terminate();
    const before = c.text();
    const from = c.lastOffset();
    const again = await connect(d.url, d.authHeaders(), sbx);
    send(again, { type: 'attach', command_id: id, from_offset: from });
    await again.closed;
    expect(again.controls[0]).toMatchObject({ type: 'attached', command_id: id, from_offset: from });
    expect(before + again.text()).toBe(Array.from({ length: 40 }, (_, i) => `n${i}\n`).join(''));
    expect(again.controls.at(-1)).toMatchObject({ type: 'exit', exit_code: 0 });

    const k = await connect(d.url, d.authHeaders(), sbx);
    send(k, { type: 'start', argv: ['sleep', '300'], keep_alive_on_disconnect: false });
    await k.waitFor(() => k.controls.some((m) => m.type === 'started'), 'started');
    const kid = k.controls[0]?.command_id as string;
    k.ws.terminate();
    const until = Date.now() + 10_000;
    let state = 'running';
    while (state === 'running' && Date.now() < until) {
      await new Promise((r) => setTimeout(r, 100));
      state = (await d.call('GET', `/v1/sandboxes/${sbx}/commands/${kid}`)).body.state;
    }
    const rec = (await d.call('GET', `/v1/sandboxes/${sbx}/commands/${kid}`)).body;
    expect(rec).toMatchObject({ state: 'exited', exit: { signal: 'SIGKILL', canceled: true } });
  }, 30_000);

  test('the Unix socket serves the WebSocket too (peer credentials authenticate the upgrade)', async () => {
    const c = await connect(d.url, {}, sbx, d.socket);
    send(c, { type: 'start', argv: ['echo', 'over-unix'] });
    await c.closed;
    expect(c.text()).toBe('over-unix\n');
  });

  test('bad first messages are refused with a clear code and the connection closes', async () => {
    const c = await connect(d.url, d.authHeaders(), sbx);
    send(c, { type: 'start', command: 'true', argv: ['true'] });
    const closed = await c.closed;
    expect(closed.code).toBe(4000);
    expect(c.controls[0]).toMatchObject({ type: 'error', error: { code: 'INVALID_ARGUMENT' } });
    const n = await connect(d.url, d.authHeaders(), sbx);
    send(n, { type: 'attach', command_id: 'cmd_aaaaaaaaaaaaaaaa' });
    expect((await n.closed).code).toBe(1008);
    expect(n.controls[0]).toMatchObject({ type: 'error', error: { code: 'NOT_FOUND' } });
  });
});
