/**
 * A streamed exec (frames written straight to the HTTP response) honours the client: a
 * client that stops reading blocks the command instead of making the daemon buffer its
 * output, and a client that goes away ends the command. Real daemon, real sandbox, a raw
 * node:http client whose reading the test controls.
 */
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startTestDaemon, type TestDaemon } from './harness.js';

const MiB = 1024 * 1024;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('streamed exec backpressure', () => {
  let d: TestDaemon;
  let sbx: string;
  beforeAll(async () => {
    d = await startTestDaemon({ limits: { max_output_bytes: 512 * MiB, max_buffered_output_bytes: 8 * MiB } });
    sbx = (await d.call('POST', '/v1/sandboxes', { body: {} })).body.id as string;
  });
  afterAll(async () => d.close());

  /** Starts a streamed exec and answers its (not yet read) response. */
  function openStream(command: string, accept: string): Promise<{ res: IncomingMessage; destroy: () => void }> {
    const u = new URL(d.url);
    const body = Buffer.from(JSON.stringify({ command, max_output_bytes: 256 * MiB, timeout_ms: 120_000 }));
    return new Promise((resolve, reject) => {
      const req = httpRequest({
        method: 'POST', host: u.hostname, port: u.port, path: `/v1/sandboxes/${sbx}/exec?stream=1`,
        headers: { ...d.authHeaders(), 'content-type': 'application/json', 'content-length': String(body.length), accept },
      }, (res) => resolve({ res, destroy: () => req.destroy() }));
      req.on('error', reject);
      req.end(body);
    });
  }

  async function shell(command: string): Promise<string> {
    const r = await d.call('POST', `/v1/sandboxes/${sbx}/exec`, { body: { command } });
    expect(r.status).toBe(200);
    return r.body.stdout as string;
  }

  for (const accept of ['application/vnd.agentd.exec-frames', 'application/x-ndjson']) {
    test(`a client that stops reading blocks the command; reading on delivers everything (${accept})`, async () => {
      const marker = `/workspace/wrote-${accept.length}`;
      // 64 MiB: far more than the init's window, the daemon's unsent limit and both kernel socket buffers together.
      const { res } = await openStream(`head -c ${64 * MiB} /dev/zero; touch ${marker}`, accept);
      expect(res.statusCode).toBe(200);
      expect(res.headers['content-type']).toBe(accept);
      res.pause();
      await sleep(2000);
      // Nobody read: the command is still blocked writing its output.
      expect(await shell(`test -e ${marker}; echo $?`)).toBe('1\n');
      let wire = 0;
      let tail = '';
      for await (const chunk of res as AsyncIterable<Buffer>) {
        wire += chunk.length;
        tail = (tail + chunk.subarray(Math.max(0, chunk.length - 1000)).toString('latin1')).slice(-1000);
      }
      expect(tail).toContain('"type":"exit"');
      expect(tail).toContain('"exit_code":0');
      // Binary frames: 64 MiB plus headers; NDJSON: base64 (4/3) plus line framing.
      expect(wire).toBeGreaterThan(64 * MiB);
      expect(await shell(`test -e ${marker}; echo $?`)).toBe('0\n');
    }, 120_000);
  }

  test('a client that goes away mid-stream ends the command', async () => {
    const { res, destroy } = await openStream('exec head -c 100000000000 /dev/zero', 'application/vnd.agentd.exec-frames');
    expect(res.statusCode).toBe(200);
    let got = 0;
    await new Promise<void>((resolve) => {
      res.on('data', (c: Buffer) => {
        got += c.length;
        if (got > 4 * MiB) resolve();
      });
    });
    res.on('error', () => undefined);
    destroy();
    // The command is killed: no head left in the sandbox (checked until it is gone, up to 20 s).
    let left = 'head';
    for (let i = 0; i < 40 && left.includes('head'); i++) {
      await sleep(500);
      left = await shell('cat /proc/[0-9]*/comm 2>/dev/null');
    }
    expect(left).not.toContain('head');
  }, 60_000);
});
