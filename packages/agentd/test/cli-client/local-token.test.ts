/** The CLI finds the daemon's local token by itself (AGENTD_HOME or the default home), as the README's commands need. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startTestDaemon, type TestDaemon } from '../daemon/harness.js';
import { clientOptions } from '../../src/cli/client/connection.js';
import { runCli } from './harness.js';

describe('CLI credential discovery', () => {
  let d: TestDaemon;
  let elsewhere: string;
  beforeAll(async () => {
    d = await startTestDaemon();
    elsewhere = mkdtempSync(join(tmpdir(), 'agentd-cli-nohome-'));
  });
  afterAll(async () => {
    await d.close();
    rmSync(elsewhere, { recursive: true, force: true });
  });

  test('with AGENTD_HOME set, no flag and no key: the local token is sent (TCP and socket)', async () => {
    const tcp = await runCli(['sandbox', 'ls', '--json'], { env: { AGENTD_URL: d.url, AGENTD_HOME: d.home } });
    expect(tcp.stderr).toBe('');
    expect(tcp.exitCode).toBe(0);
    const sock = await runCli(['sandbox', 'ls', '--json'], { env: { AGENTD_SOCKET: d.socket, AGENTD_HOME: d.home } });
    expect(sock.exitCode).toBe(0);
  });

  test('the token file: <AGENTD_HOME>/agentd.token, else the default home of this user', () => {
    expect(clientOptions({}, { AGENTD_HOME: '/srv/agentd' }).localTokenFile).toBe('/srv/agentd/agentd.token');
    const expected = process.getuid?.() === 0 ? '/var/lib/agentd/agentd.token' : join(elsewhere, 'agentd', 'agentd.token');
    expect(clientOptions({ url: 'http://127.0.0.1:1' }, { HOME: elsewhere, XDG_DATA_HOME: elsewhere }).localTokenFile).toBe(expected);
  });

  test('with only AGENTD_HOME set, the CLI finds the daemon by the socket in that home (no AGENTD_URL, no AGENTD_SOCKET)', async () => {
    const r = await runCli(['sandbox', 'ls', '--json'], { env: { AGENTD_HOME: d.home } });
    expect(r.stderr).toBe('');
    expect(r.exitCode).toBe(0);
    expect(JSON.parse(r.stdout.toString())).toEqual({ sandboxes: [] });
    expect(clientOptions({}, { AGENTD_HOME: d.home }).baseUrl).toBe('http://localhost');
    // An explicit URL still wins over the home's socket, and a home without a socket falls back to the default URL.
    expect(clientOptions({}, { AGENTD_HOME: d.home, AGENTD_URL: 'http://127.0.0.1:9' }).baseUrl).toBe('http://127.0.0.1:9');
    expect(clientOptions({}, { AGENTD_HOME: elsewhere }).baseUrl).toBe('http://127.0.0.1:7070');
  });

  test('without the token (another home) the call is refused: the daemon demands a credential', async () => {
    const r = await runCli(['sandbox', 'ls'], { env: { AGENTD_URL: d.url, AGENTD_HOME: elsewhere } });
    expect(r.exitCode).not.toBe(0);
    expect(r.stderr).toMatch(/UNAUTHENTICATED|no valid credentials/);
  });
});
