import { connect } from 'node:net';
import { describe, expect, test } from 'vitest';
import { startTestDaemon } from './harness.js';

describe('daemon stop', () => {
  test('a client holding a request open does not keep the daemon from stopping after the grace period', async () => {
    const d = await startTestDaemon({}, { stopGraceMs: 300 });
    const url = new URL(d.url);
    const socket = connect(Number(url.port), url.hostname);
    await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
    // A request whose body never completes: the connection is busy, never idle.
    const auth = Object.entries(d.authHeaders()).map(([k, v]) => `${k}: ${v}\r\n`).join('');
    socket.write(`POST /v1/sandboxes HTTP/1.1\r\nHost: x\r\n${auth}Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{`);
    await new Promise((resolve) => setTimeout(resolve, 100));
    const closedByServer = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    const outcome = await Promise.race([d.close().then(() => 'stopped'), new Promise((resolve) => setTimeout(() => resolve('still running'), 5000))]);
    socket.destroy();
    expect(outcome).toBe('stopped');
    await closedByServer;
  });
});
