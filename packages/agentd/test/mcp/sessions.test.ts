import { describe, expect, it } from 'vitest';
import type { Principal } from '../../src/auth/types.js';
import type { McpOperations } from '../../src/adapters/mcp/operations.js';
import { clip, clipPair } from '../../src/adapters/mcp/results.js';
import { toolList } from '../../src/adapters/mcp/server.js';
import { McpSessions } from '../../src/adapters/mcp/sessions.js';
import { TOOLS } from '../../src/adapters/mcp/tools.js';
import type { SandboxRecord } from '../../src/state/types.js';
import { silentLogger } from '../../src/util/logger.js';

const alice: Principal = { subject: 'alice', tenant: 't', roles: [], provider: 'api-key' };

/** Operations that record what the sessions asked of the daemon (the real ones are driven in http.test.ts). */
function fakeOps(): { ops: McpOperations; created: string[]; destroyed: string[] } {
  const created: string[] = [];
  const destroyed: string[] = [];
  let n = 0;
  const ops = {
    create: async () => {
      const id = `sbx_${++n}`;
      created.push(id);
      return { id, state: 'running', backend: 'fake', profile: 'workstation', labels: {}, createdAtMs: 0, expiresAtMs: null } as unknown as SandboxRecord;
    },
    destroy: async (_p: Principal, id: string) => {
      destroyed.push(id);
    },
    fs: async () => ({ entries: [] }),
  } as unknown as McpOperations;
  return { ops, created, destroyed };
}

async function rpc(sessions: McpSessions, sid: string | undefined, message: Record<string, unknown>): Promise<{ status: number; sid: string | undefined; body: unknown }> {
  const session = sid === undefined ? await sessions.open(alice) : sessions.get(sid, alice);
  const headers: Record<string, string> = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };
  if (sid !== undefined) Object.assign(headers, { 'mcp-session-id': sid, 'mcp-protocol-version': '2025-06-18' });
  const res = await session.transport.handleRequest(new Request('http://localhost/mcp', { method: 'POST', headers }), {
    parsedBody: message, authInfo: { token: '', clientId: 'alice', scopes: [], extra: { principal: alice } },
  });
  const text = await res.text();
  return { status: res.status, sid: res.headers.get('mcp-session-id') ?? sid, body: text === '' ? undefined : JSON.parse(text) as unknown };
}

const INIT = { jsonrpc: '2.0', id: 0, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 't', version: '0' } } };

describe('MCP sessions', () => {
  it('an idle session ends: its default sandbox is destroyed and its id is no longer found', async () => {
    const { ops, created, destroyed } = fakeOps();
    const sessions = new McpSessions({ ops, tools: TOOLS, listed: toolList(TOOLS), version: '0', stopping: new AbortController().signal, logger: silentLogger, limits: { idleMs: 60_000, perPrincipal: 4, total: 10 } });
    const init = await rpc(sessions, undefined, INIT);
    expect(init.status).toBe(200);
    const sid = init.sid ?? '';
    const call = await rpc(sessions, sid, { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'sandbox_file_list', arguments: {} } });
    expect(call.body).toMatchObject({ id: 1, result: { content: [{ type: 'text' }] } });
    expect(created).toEqual(['sbx_1']);
    await sessions.sweep(Date.now() + 30_000);
    expect(destroyed).toEqual([]);
    await sessions.sweep(Date.now() + 61_000);
    expect(destroyed).toEqual(['sbx_1']);
    expect(() => sessions.get(sid, alice)).toThrow(expect.objectContaining({ code: 'NOT_FOUND' }));
    await sessions.close();
  });

  it('at most perPrincipal sessions per caller (RESOURCE_EXHAUSTED), and closing the registry ends them all', async () => {
    const { ops, created, destroyed } = fakeOps();
    const sessions = new McpSessions({ ops, tools: TOOLS, listed: toolList(TOOLS), version: '0', stopping: new AbortController().signal, logger: silentLogger, limits: { idleMs: 60_000, perPrincipal: 2, total: 10 } });
    const sids: string[] = [];
    for (let i = 0; i < 2; i++) {
      const r = await rpc(sessions, undefined, INIT);
      sids.push(r.sid ?? '');
      await rpc(sessions, r.sid, { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'sandbox_file_list', arguments: {} } });
    }
    await expect(sessions.open(alice)).rejects.toMatchObject({ code: 'RESOURCE_EXHAUSTED' });
    await expect(sessions.open({ ...alice, subject: 'bob' })).resolves.toBeDefined();
    await sessions.close();
    expect(destroyed.sort()).toEqual([...created].sort());
    expect(created).toHaveLength(2);
  });
});

describe('output clipping for a model', () => {
  it('keeps head and tail and says how much went', () => {
    const { text, clipped } = clip('a'.repeat(50) + 'b'.repeat(50), 20);
    expect(clipped).toBe(true);
    expect(text.startsWith('a'.repeat(10))).toBe(true);
    expect(text.endsWith('b'.repeat(10))).toBe(true);
    expect(text).toMatch(/\[\.\.\. 80 characters omitted/);
    expect(clip('short', 20)).toEqual({ text: 'short', clipped: false });
  });

  it('a short stream leaves its share to the other; together they stay within the budget', () => {
    const r = clipPair('o'.repeat(500), 'e'.repeat(10), 100);
    expect(r.stderr).toEqual({ text: 'e'.repeat(10), clipped: false });
    expect(r.stdout.clipped).toBe(true);
    expect(r.stdout.text.replace(/\n\[\.\.\..*\.\.\.\]\n/, '')).toHaveLength(90);
    const both = clipPair('o'.repeat(500), 'e'.repeat(500), 100);
    expect(both.stdout.text.replace(/\n\[\.\.\..*\.\.\.\]\n/, '').length + both.stderr.text.replace(/\n\[\.\.\..*\.\.\.\]\n/, '').length).toBe(100);
  });
});
