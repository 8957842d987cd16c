/* eslint-disable @typescript-eslint/no-explicit-any -- REST answers are free-form JSON, checked by expect() */
/**
 * Attacks on commands (issue 11): another tenant cannot list, get, attach to, write to,
 * signal, kill or resize your commands, over REST or the WebSocket (NOT_FOUND, the same as
 * an id that never existed: nothing to probe); a viewer may read and follow but never write
 * stdin, signal, kill or start one (PERMISSION_DENIED).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { ApiKeyService } from '../../src/auth/api-key.js';
import { startTestDaemon, type TestDaemon } from '../daemon/harness.js';

function wsFirstAnswer(url: string, key: string, sbx: string, first: unknown): Promise<{ controls: Array<Record<string, any>>; code: number }> {
  const ws = new WebSocket(`${url.replace('http', 'ws')}/v1/sandboxes/${sbx}/commands/connect`, { headers: { authorization: `Bearer ${key}` } });
  const controls: Array<Record<string, any>> = [];
  ws.on('message', (d: Buffer, bin) => {
    if (!bin) controls.push(JSON.parse(d.toString()) as Record<string, any>);
  });
  ws.on('open', () => ws.send(JSON.stringify(first)));
  return new Promise((resolve, reject) => {
    ws.on('close', (code) => resolve({ controls, code }));
    ws.on('error', reject);
  });
}

describe('attack: commands across tenants and roles', () => {
  let d: TestDaemon;
  let keyA = '';
  let keyB = '';
  let viewerA = '';
  let sbxA = '';
  let sbxB = '';
  let cmdA = '';
  const as = (key: string) => ({ authorization: `Bearer ${key}` });
  beforeAll(async () => {
    d = await startTestDaemon({ profile: 'server', pool: { enabled: false, min_warm: 0 }, auth: { providers: [{ type: 'api-key' }] } });
    const keys = new ApiKeyService(d.daemon.store.apiKeys);
    keyA = keys.create({ subject: 'alice', tenant: 'tenant-a', roles: ['user'] }).key;
    viewerA = keys.create({ subject: 'vera', tenant: 'tenant-a', roles: ['viewer'] }).key;
    keyB = keys.create({ subject: 'bob', tenant: 'tenant-b', roles: ['user'] }).key;
    sbxA = (await d.call('POST', '/v1/sandboxes', { body: {}, headers: as(keyA) })).body.id;
    sbxB = (await d.call('POST', '/v1/sandboxes', { body: {}, headers: as(keyB) })).body.id;
    const c = await d.call('POST', `/v1/sandboxes/${sbxA}/commands`, { body: { command: 'cat > /workspace/got.txt', keep_stdin_open: true }, headers: as(keyA) });
    expect(c.status, c.text).toBe(201);
    cmdA = c.body.id;
  });
  afterAll(async () => d?.close());

  it("tenant B gets 404 NOT_FOUND on every command route for A's sandbox or command, also through its own sandbox id", async () => {
    const attempts: Array<[string, string, { body?: unknown; raw?: string }?]> = [
      ['GET', `/v1/sandboxes/${sbxA}/commands`],
      ['GET', `/v1/sandboxes/${sbxA}/commands/${cmdA}`],
      ['GET', `/v1/sandboxes/${sbxA}/commands/${cmdA}/stream`],
      ['POST', `/v1/sandboxes/${sbxA}/commands/${cmdA}/stdin`, { raw: 'from-bob\n' }],
      ['POST', `/v1/sandboxes/${sbxA}/commands/${cmdA}/signal`, { body: { signal: 'SIGKILL' } }],
      ['POST', `/v1/sandboxes/${sbxA}/commands/${cmdA}/kill`],
      ['POST', `/v1/sandboxes/${sbxA}/commands/${cmdA}/resize`, { body: { rows: 1, cols: 1 } }],
      ['POST', `/v1/sandboxes/${sbxA}/commands`, { body: { argv: ['true'] } }],
      // A's command id under B's own sandbox id: still not B's.
      ['GET', `/v1/sandboxes/${sbxB}/commands/${cmdA}`],
      ['POST', `/v1/sandboxes/${sbxB}/commands/${cmdA}/stdin`, { raw: 'from-bob\n' }],
      ['POST', `/v1/sandboxes/${sbxB}/commands/${cmdA}/kill`],
    ];
    for (const [method, path, opts] of attempts) {
      const r = await d.call(method, path, { headers: as(keyB), ...(opts ?? {}) });
      expect(r.status, `${method} ${path}: ${r.text}`).toBe(404);
      expect(r.body.error.code).toBe('NOT_FOUND');
    }
    // The same answer as for an id that never existed: nothing tells B the id is real.
    const never = await d.call('GET', `/v1/sandboxes/${sbxB}/commands/cmd_aaaaaaaaaaaaaaaa`, { headers: as(keyB) });
    expect(never.body.error.message.replace('cmd_aaaaaaaaaaaaaaaa', 'X')).toBe((await d.call('GET', `/v1/sandboxes/${sbxB}/commands/${cmdA}`, { headers: as(keyB) })).body.error.message.replace(cmdA, 'X'));
    // B's own list never shows A's command.
    const own = await d.call('GET', `/v1/sandboxes/${sbxB}/commands`, { headers: as(keyB) });
    expect(own.body.commands).toEqual([]);
  });

  it("tenant B cannot attach to A's command over the WebSocket, nor start one in A's sandbox (NOT_FOUND)", async () => {
    const a = await wsFirstAnswer(d.url, keyB, sbxA, { type: 'attach', command_id: cmdA });
    expect(a.controls[0]).toMatchObject({ type: 'error', error: { code: 'NOT_FOUND' } });
    expect(a.code).toBe(1008);
    const b = await wsFirstAnswer(d.url, keyB, sbxB, { type: 'attach', command_id: cmdA });
    expect(b.controls[0]).toMatchObject({ type: 'error', error: { code: 'NOT_FOUND' } });
    const s = await wsFirstAnswer(d.url, keyB, sbxA, { type: 'start', argv: ['true'] });
    expect(s.controls[0]).toMatchObject({ type: 'error', error: { code: 'NOT_FOUND' } });
  });

  it("a viewer of tenant A may list, get and follow A's command but not write its stdin, signal, kill or start one (PERMISSION_DENIED)", async () => {
    expect((await d.call('GET', `/v1/sandboxes/${sbxA}/commands`, { headers: as(viewerA) })).body.commands.map((c: { id: string }) => c.id)).toContain(cmdA);
    expect((await d.call('GET', `/v1/sandboxes/${sbxA}/commands/${cmdA}`, { headers: as(viewerA) })).status).toBe(200);
    const denied: Array<[string, string, { body?: unknown; raw?: string }?]> = [
      ['POST', `/v1/sandboxes/${sbxA}/commands/${cmdA}/stdin`, { raw: 'from-viewer\n' }],
      ['POST', `/v1/sandboxes/${sbxA}/commands/${cmdA}/signal`, { body: { signal: 'SIGTERM' } }],
      ['POST', `/v1/sandboxes/${sbxA}/commands/${cmdA}/kill`],
      ['POST', `/v1/sandboxes/${sbxA}/commands`, { body: { argv: ['true'] } }],
      ['POST', `/v1/sandboxes/${sbxA}/exec`, { body: { argv: ['true'] } }],
    ];
    for (const [method, path, opts] of denied) {
      const r = await d.call(method, path, { headers: as(viewerA), ...(opts ?? {}) });
      expect(r.status, `${method} ${path}: ${r.text}`).toBe(403);
      expect(r.body.error.code).toBe('PERMISSION_DENIED');
    }
    // Over the WebSocket: attach is allowed, the first stdin byte is refused and ends the connection.
    const ws = new WebSocket(`${d.url.replace('http', 'ws')}/v1/sandboxes/${sbxA}/commands/connect`, { headers: as(viewerA) });
    const controls: Array<Record<string, any>> = [];
    ws.on('message', (m: Buffer, bin) => {
      if (!bin) {
        controls.push(JSON.parse(m.toString()) as Record<string, any>);
        if (controls.length === 1) ws.send(Buffer.from('from-viewer-ws\n'));
      }
    });
    ws.on('open', () => ws.send(JSON.stringify({ type: 'attach', command_id: cmdA })));
    const code = await new Promise<number>((resolve) => ws.on('close', (c) => resolve(c)));
    expect(controls[0]).toMatchObject({ type: 'attached', command_id: cmdA });
    expect(controls[1]).toMatchObject({ type: 'error', error: { code: 'PERMISSION_DENIED' } });
    expect(code).toBe(1008);
    // The refused attempts are audited as denied.
    const audit = (await d.call('GET', '/v1/audit?limit=1000', { headers: as(keyA) })).body.events as Array<{ action: string; status: string; subject: string }>;
    expect(audit.some((e) => e.action === 'command.stdin' && e.status === 'denied' && e.subject === 'vera')).toBe(true);
    // Nothing of theirs reached the command: A closes stdin and reads what cat got.
    expect((await d.call('POST', `/v1/sandboxes/${sbxA}/commands/${cmdA}/stdin?close=1`, { raw: 'from-alice\n', headers: as(keyA) })).status).toBe(200);
    await new Promise((r) => setTimeout(r, 300));
    const got = await d.call('GET', `/v1/sandboxes/${sbxA}/files?path=/workspace/got.txt`, { headers: as(keyA) });
    expect(got.text).toBe('from-alice\n');
  });
});
