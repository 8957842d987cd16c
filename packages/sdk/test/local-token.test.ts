/**
 * The daemon's local token (<home>/agentd.token): the SDK sends it by itself when given no
 * other credential, only to a daemon on this host, read anew at each request.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { AgentdClient, Sandbox } from '../src/index.js';
import { startTestDaemon, type TestDaemon } from '../../agentd/test/daemon/harness.js';

const token = (c: string): string => `agdt_${c.repeat(43)}`;

describe('local token discovery', () => {
  let dir: string;
  let file: string;
  const seen: Array<string | null> = [];
  const fetchSpy = async (_url: string, init: RequestInit): Promise<Response> => {
    seen.push(new Headers(init.headers).get('authorization'));
    return new Response('{"sandboxes":[]}', { status: 200, headers: { 'content-type': 'application/json' } });
  };
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'agentd-sdk-token-'));
    file = join(dir, 'agentd.token');
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  afterEach(() => {
    seen.length = 0;
  });

  test('sent to a loopback daemon when no other credential is given, and re-read at each request', async () => {
    writeFileSync(file, `${token('a')}\n`, { mode: 0o600 });
    const c = new AgentdClient({ baseUrl: 'http://127.0.0.1:7070', fetch: fetchSpy, localTokenFile: file });
    await c.listSandboxes();
    writeFileSync(file, `${token('b')}\n`, { mode: 0o600 });
    await c.listSandboxes();
    expect(seen).toEqual([`Bearer ${token('a')}`, `Bearer ${token('b')}`]);
  });

  test('never sent to a remote daemon', async () => {
    writeFileSync(file, `${token('a')}\n`, { mode: 0o600 });
    for (const baseUrl of ['https://agentd.example:7070', 'http://10.0.0.5:7070', 'http://127.0.0.1.evil.example:7070']) {
      await new AgentdClient({ baseUrl, fetch: fetchSpy, localTokenFile: file }).listSandboxes();
    }
    expect(seen).toEqual([null, null, null]);
  });

  test('an explicit credential wins; false turns discovery off; a missing or malformed file sends nothing', async () => {
    writeFileSync(file, `${token('a')}\n`, { mode: 0o600 });
    await new AgentdClient({ baseUrl: 'http://127.0.0.1:1', fetch: fetchSpy, localTokenFile: file, apiKey: 'agd_x' }).listSandboxes();
    await new AgentdClient({ baseUrl: 'http://127.0.0.1:1', fetch: fetchSpy, localTokenFile: false }).listSandboxes();
    await new AgentdClient({ baseUrl: 'http://127.0.0.1:1', fetch: fetchSpy, localTokenFile: join(dir, 'missing') }).listSandboxes();
    writeFileSync(file, 'not a token\n');
    await new AgentdClient({ baseUrl: 'http://127.0.0.1:1', fetch: fetchSpy, localTokenFile: file }).listSandboxes();
    expect(seen).toEqual(['Bearer agd_x', null, null, null]);
  });

  test('the default file is <AGENTD_HOME>/agentd.token', async () => {
    writeFileSync(file, `${token('c')}\n`, { mode: 0o600 });
    const saved = process.env.AGENTD_HOME;
    process.env.AGENTD_HOME = dir;
    try {
      await new AgentdClient({ baseUrl: 'http://localhost:7070', fetch: fetchSpy }).listSandboxes();
    } finally {
      if (saved === undefined) delete process.env.AGENTD_HOME;
      else process.env.AGENTD_HOME = saved;
    }
    expect(seen).toEqual([`Bearer ${token('c')}`]);
  });
});

describe("the README's SDK example against a daemon with the default auth", () => {
  let d: TestDaemon;
  beforeAll(async () => {
    d = await startTestDaemon();
  });
  afterAll(async () => d.close());

  test('Sandbox.create({ baseUrl }) finds the local token through AGENTD_HOME and runs a command', async () => {
    const saved = process.env.AGENTD_HOME;
    process.env.AGENTD_HOME = d.home;
    try {
      await using sbx = await Sandbox.create({ baseUrl: d.url });
      const r = await sbx.exec(['sh', '-c', 'echo $((6*7))']);
      expect([r.exitCode, r.stdout]).toEqual([0, '42\n']);
    } finally {
      if (saved === undefined) delete process.env.AGENTD_HOME;
      else process.env.AGENTD_HOME = saved;
    }
  });

  test('without the token file the same call is refused (401)', async () => {
    await expect(Sandbox.create({ baseUrl: d.url, localTokenFile: false })).rejects.toMatchObject({ code: 'UNAUTHENTICATED' });
  });
});
