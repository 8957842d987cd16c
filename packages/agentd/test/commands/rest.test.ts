/* eslint-disable @typescript-eslint/no-unsafe-return -- REST answers are free-form JSON, checked by expect() */
/**
 * Durable commands through REST against a real daemon and the namespace backend (issue 11,
 * items 2 and 4): ids on every exec, background start, interactive stdin, reattach from an
 * offset after the client went away, ring overflow reported with the bytes lost, signals and
 * kill by id, retention.
 */
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { ndjson, startTestDaemon, type TestDaemon } from '../daemon/harness.js';

interface Line { type: string; offset?: number; data?: string; [k: string]: unknown }

/** Opens the stream route and hands each NDJSON line to `onLine` as it arrives; resolves when the answer ends. */
function follow(d: TestDaemon, path: string, onLine: (l: Line, res: IncomingMessage) => void): { done: Promise<void>; abort: () => void } {
  const u = new URL(d.url);
  let req: ReturnType<typeof httpRequest> | undefined;
  const done = new Promise<void>((resolve, reject) => {
    req = httpRequest({ host: u.hostname, port: u.port, path, headers: d.authHeaders() }, (res) => {
      let buf = '';
      res.on('data', (c: Buffer) => {
        buf += c.toString('utf8');
        let nl = buf.indexOf('\n');
        while (nl >= 0) {
          onLine(JSON.parse(buf.slice(0, nl)) as Line, res);
          buf = buf.slice(nl + 1);
          nl = buf.indexOf('\n');
        }
      });
      res.on('end', () => resolve());
      res.on('error', () => resolve());
    });
    req.on('error', (e) => (req?.destroyed ? resolve() : reject(e)));
    req.end();
  });
  return { done, abort: () => req?.destroy() };
}

const output = (lines: Line[]): string => lines.filter((l) => l.type === 'stdout' || l.type === 'stderr' || l.type === 'pty').map((l) => Buffer.from(l.data ?? '', 'base64').toString('utf8')).join('');

async function waitFor<T>(what: string, fn: () => Promise<T | undefined>, ms = 15_000): Promise<T> {
  const until = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('commands over REST (real daemon, namespace backend)', () => {
  let d: TestDaemon;
  let sbx = '';
  beforeAll(async () => {
    d = await startTestDaemon({ commands: { ring_buffer_bytes: 4096, keep_exited_ms: 60_000 } });
    const r = await d.call('POST', '/v1/sandboxes', { body: {} });
    expect(r.status, r.text).toBe(201);
    sbx = r.body.id;
  });
  afterAll(async () => d?.close());

  test('every exec answer carries a command id, and the command is listed with its exit afterwards', async () => {
    const r = await d.call('POST', `/v1/sandboxes/${sbx}/exec`, { body: { command: 'echo hi; exit 4' } });
    expect(r.status, r.text).toBe(200);
    expect(r.body.command_id).toMatch(/^cmd_[a-z2-7]{16}$/);
    const one = await d.call('GET', `/v1/sandboxes/${sbx}/commands/${r.body.command_id}`);
    expect(one.body).toMatchObject({ id: r.body.command_id, state: 'exited', argv: ['/bin/sh', '-c', 'echo hi; exit 4', 'sh'], exit: { exit_code: 4 } });
    expect(typeof one.body.pid).toBe('number');
    const streamed = await d.call('POST', `/v1/sandboxes/${sbx}/exec?stream=1`, { body: { command: 'echo there' } });
    const frames = ndjson(streamed.text);
    expect(frames[0]).toMatchObject({ type: 'start', command_id: expect.stringMatching(/^cmd_/) });
    expect(frames.at(-1)).toMatchObject({ type: 'exit', command_id: frames[0]?.command_id });
    const list = await d.call('GET', `/v1/sandboxes/${sbx}/commands`);
    expect(list.body.commands.map((c: { id: string }) => c.id)).toEqual(expect.arrayContaining([r.body.command_id, frames[0]?.command_id]));
  });

  test('stdin streams interactively: a read loop answers each line as it is sent, close gives EOF', async () => {
    const start = await d.call('POST', `/v1/sandboxes/${sbx}/commands`, {
      body: { command: 'while read -r l; do echo "got:$l"; done; echo eof', keep_stdin_open: true },
    });
    expect(start.status, start.text).toBe(201);
    const id = start.body.id as string;
    expect(start.body).toMatchObject({ state: 'running', stdin_open: true });
    const lines: Line[] = [];
    const f = follow(d, `/v1/sandboxes/${sbx}/commands/${id}/stream`, (l) => lines.push(l));
    for (const word of ['one', 'two', 'three']) {
      const w = await d.call('POST', `/v1/sandboxes/${sbx}/commands/${id}/stdin`, { raw: `${word}\n` });
      expect(w.status, w.text).toBe(200);
      // The answer to this line arrives before the next line is sent: nothing was read whole first.
      await waitFor(`answer to ${word}`, async () => (output(lines).includes(`got:${word}\n`) ? true : undefined));
      expect(output(lines)).not.toContain('eof');
    }
    const c = await d.call('POST', `/v1/sandboxes/${sbx}/commands/${id}/stdin?close=1`);
    expect(c.body).toEqual({ written: 0, stdin_open: false });
    await f.done;
    expect(output(lines)).toBe('got:one\ngot:two\ngot:three\neof\n');
    expect(lines[0]).toMatchObject({ type: 'attached', command_id: id });
    expect(lines.at(-1)).toMatchObject({ type: 'exit', state: 'exited', exit_code: 0 });
  });

  test('a client that goes away mid-stream reattaches from its last offset and gets every byte once, in order', async () => {
    const script = 'i=0; while [ $i -lt 300 ]; do echo "line $i"; i=$((i+1)); sleep 0.01; done';
    const start = await d.call('POST', `/v1/sandboxes/${sbx}/commands`, { body: { command: script } });
    const id = start.body.id as string;
    let got = '';
    let next = 0;
    const first = follow(d, `/v1/sandboxes/${sbx}/commands/${id}/stream`, (l) => {
      if (l.type !== 'stdout') return;
      expect(l.offset).toBe(next);
      const data = Buffer.from(l.data ?? '', 'base64');
      got += data.toString('utf8');
      next += data.length;
      if (got.includes('line 50\n')) first.abort();
    });
    await first.done;
    expect(got).toContain('line 50');
    const second: Line[] = [];
    await follow(d, `/v1/sandboxes/${sbx}/commands/${id}/stream?from_offset=${next}`, (l) => second.push(l)).done;
    expect(second.find((l) => l.type === 'overflow')).toBeUndefined();
    expect((second.find((l) => l.type === 'stdout')?.offset)).toBe(next);
    const all = got + output(second);
    expect(all).toBe(Array.from({ length: 300 }, (_, i) => `line ${i}\n`).join(''));
    expect(second.at(-1)).toMatchObject({ type: 'exit', exit_code: 0, end_offset: Buffer.byteLength(all) });
  }, 30_000);

  test('ring overflow: a reader asking for bytes no longer held is told how many it lost, then gets the rest', async () => {
    // 20000 bytes into a 4096-byte ring, read only after the exit.
    const r = await d.call('POST', `/v1/sandboxes/${sbx}/exec`, { body: { command: "head -c 20000 /dev/zero | tr '\\0' x; printf END" } });
    const id = r.body.command_id as string;
    const lines: Line[] = [];
    await follow(d, `/v1/sandboxes/${sbx}/commands/${id}/stream?from_offset=0`, (l) => lines.push(l)).done;
    const overflow = lines.find((l) => l.type === 'overflow');
    expect(overflow).toEqual({ type: 'overflow', lost_bytes: 20003 - 4096, next_offset: 20003 - 4096 });
    const rest = output(lines);
    expect(rest.length).toBe(4096);
    expect(rest.endsWith('xEND')).toBe(true);
    expect(lines.find((l) => l.type === 'stdout')?.offset).toBe(20003 - 4096);
    // From an offset still held: no overflow.
    const late: Line[] = [];
    await follow(d, `/v1/sandboxes/${sbx}/commands/${id}/stream?from_offset=19000`, (l) => late.push(l)).done;
    expect(late.some((l) => l.type === 'overflow')).toBe(false);
    expect(output(late)).toBe(`${'x'.repeat(1000)}END`);
  });

  test('signal and kill by id; a finished command refuses stdin and signals with CONFLICT', async () => {
    const a = await d.call('POST', `/v1/sandboxes/${sbx}/commands`, { body: { command: 'trap "echo term; exit 7" TERM; while :; do sleep 0.05; done' } });
    const ida = a.body.id as string;
    await new Promise((r) => setTimeout(r, 300));
    const s = await d.call('POST', `/v1/sandboxes/${sbx}/commands/${ida}/signal`, { body: { signal: 'SIGTERM' } });
    expect(s.status, s.text).toBe(204);
    const endA = await waitFor('exit after SIGTERM', async () => {
      const g = await d.call('GET', `/v1/sandboxes/${sbx}/commands/${ida}`);
      return g.body.state === 'running' ? undefined : g.body;
    });
    expect(endA.exit).toMatchObject({ exit_code: 7 });
    const b = await d.call('POST', `/v1/sandboxes/${sbx}/commands`, { body: { argv: ['sleep', '300'] } });
    const idb = b.body.id as string;
    const k = await d.call('POST', `/v1/sandboxes/${sbx}/commands/${idb}/kill`);
    expect(k.status, k.text).toBe(204);
    const endB = await waitFor('exit after kill', async () => {
      const g = await d.call('GET', `/v1/sandboxes/${sbx}/commands/${idb}`);
      return g.body.state === 'running' ? undefined : g.body;
    });
    expect(endB.exit).toMatchObject({ signal: 'SIGKILL', canceled: true });
    const again = await d.call('POST', `/v1/sandboxes/${sbx}/commands/${idb}/stdin`, { raw: 'x' });
    expect(again.status).toBe(409);
    expect(again.body.error.code).toBe('CONFLICT');
    expect((await d.call('POST', `/v1/sandboxes/${sbx}/commands/${idb}/kill`)).status).toBe(409);
  }, 30_000);

  test('a background command outlives the request that started it; bad starts are refused before anything runs', async () => {
    const b = await d.call('POST', `/v1/sandboxes/${sbx}/commands`, { body: { command: 'sleep 1; echo later' } });
    expect(b.status).toBe(201);
    const lines: Line[] = [];
    await follow(d, `/v1/sandboxes/${sbx}/commands/${b.body.id}/stream`, (l) => lines.push(l)).done;
    expect(output(lines)).toBe('later\n');
    const bad = await d.call('POST', `/v1/sandboxes/${sbx}/commands`, { body: { command: 'true', argv: ['true'] } });
    expect(bad.status).toBe(400);
    const noSuch = await d.call('POST', `/v1/sandboxes/${sbx}/commands`, { body: { argv: ['/no/such/program'] } });
    expect(noSuch.status).toBe(422);
    expect(noSuch.body.error.code).toBe('EXEC_FAILED');
    const missing = await d.call('GET', `/v1/sandboxes/${sbx}/commands/cmd_aaaaaaaaaaaaaaaa`);
    expect(missing.status).toBe(404);
    expect((await d.call('GET', '/v1/sandboxes/sbx_aaaaaaaaaaaaaaaa/commands')).status).toBe(404);
  }, 20_000);
});
