/**
 * Commands on the host-direct backend (issue 11: "and host-direct where it applies"): the same
 * ids, background start, interactive stdin, reattach from an offset and a terminal, with no
 * kernel isolation (workstation profile only).
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import WebSocket from 'ws';
import { ndjson, startTestDaemon, type TestDaemon } from '../daemon/harness.js';

describe('commands on the host-direct backend', () => {
  let d: TestDaemon;
  let sbx = '';
  beforeAll(async () => {
    d = await startTestDaemon({ isolation: { backend: 'host-direct' }, sandbox: { network: 'host', limits: { cpus: 0, disk_bytes: 0 } } });
    const c = await d.call('POST', '/v1/sandboxes', { body: {} });
    expect(c.status, c.text).toBe(201);
    expect(c.body.backend).toBe('host-direct');
    sbx = c.body.id;
  });
  afterAll(async () => d?.close());

  test('background command with interactive stdin, then reattach from an offset after it ended', async () => {
    const s = await d.call('POST', `/v1/sandboxes/${sbx}/commands`, { body: { command: 'while read -r l; do echo "hd:$l"; done', keep_stdin_open: true } });
    expect(s.status, s.text).toBe(201);
    const id = s.body.id as string;
    await d.call('POST', `/v1/sandboxes/${sbx}/commands/${id}/stdin`, { raw: 'one\n' });
    await d.call('POST', `/v1/sandboxes/${sbx}/commands/${id}/stdin?close=1`, { raw: 'two\n' });
    const all = ndjson((await d.call('GET', `/v1/sandboxes/${sbx}/commands/${id}/stream`)).text);
    const text = (frames: typeof all): string => frames.filter((f) => f.type === 'stdout').map((f) => Buffer.from(f.data ?? '', 'base64').toString()).join('');
    expect(text(all)).toBe('hd:one\nhd:two\n');
    const tail = ndjson((await d.call('GET', `/v1/sandboxes/${sbx}/commands/${id}/stream?from_offset=7`)).text);
    expect(text(tail)).toBe('hd:two\n');
    expect(tail.at(-1)).toMatchObject({ type: 'exit', exit_code: 0, end_offset: 14 });
  });

  test('a terminal over the WebSocket: stty size and the exit status', async () => {
    const ws = new WebSocket(`${d.url.replace('http', 'ws')}/v1/sandboxes/${sbx}/commands/connect`, { headers: d.authHeaders() });
    let out = '';
    const controls: Array<Record<string, unknown>> = [];
    ws.on('message', (m: Buffer, bin) => {
      if (bin) out += m.subarray(9).toString();
      else controls.push(JSON.parse(m.toString()) as Record<string, unknown>);
    });
    await new Promise((r) => ws.once('open', r));
    ws.send(JSON.stringify({ type: 'start', argv: ['/bin/sh', '-c', 'stty size; exit 4'], pty: { rows: 33, cols: 77 } }));
    await new Promise((r) => ws.once('close', r));
    expect(out).toContain('33 77');
    expect(controls.at(-1)).toMatchObject({ type: 'exit', exit_code: 4 });
  });
});
