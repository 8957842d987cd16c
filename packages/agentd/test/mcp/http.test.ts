import { existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiKeyService } from '../../src/auth/api-key.js';
import type { PolicyHook } from '../../src/pipeline/policy.js';
import { defaultPolicy } from '../../src/pipeline/policy.js';
import { rawCall, startTestDaemon, type TestDaemon } from '../daemon/harness.js';

/** A policy that refuses every capability that can change files to callers with the `viewer` role (the built-in viewer role refuses them first, in the gate; this hook stays as a second layer). */
const viewerPolicy: PolicyHook = {
  decide(input) {
    if (input.principal.roles.includes('viewer') && input.writes) return { allow: false, rule: 'viewer', reason: `the viewer role may not run ${input.capability}` };
    return defaultPolicy.decide(input);
  },
};

/** The JSON a tool answered (its one text block), or the error text. */
function body(r: CallToolResult): Record<string, unknown> {
  const first = r.content[0];
  if (first?.type !== 'text') throw new Error('no text block');
  return r.isError === true ? { error: first.text } : JSON.parse(first.text) as Record<string, unknown>;
}

async function connect(url: string, token: string): Promise<{ client: Client; transport: StreamableHTTPClientTransport }> {
  const transport = new StreamableHTTPClientTransport(new URL(`${url}/mcp`), { requestInit: { headers: { authorization: `Bearer ${token}` } } });
  const client = new Client({ name: 'agentd-test', version: '0' });
  await client.connect(transport);
  return { client, transport };
}

describe('MCP over streamable HTTP on a real daemon', () => {
  let d: TestDaemon;
  let keyA: string;
  let keyA2: string;
  let keyB: string;
  let viewer: string;

  beforeAll(async () => {
    d = await startTestDaemon({ auth: { providers: [{ type: 'local-token' }, { type: 'api-key' }] } }, { policy: viewerPolicy });
    const keys = new ApiKeyService(d.daemon.store.apiKeys);
    keyA = keys.create({ subject: 'alice', tenant: 'tenant-a', roles: ['user'] }).key;
    keyA2 = keys.create({ subject: 'carol', tenant: 'tenant-a', roles: ['user'] }).key;
    keyB = keys.create({ subject: 'bob', tenant: 'tenant-b', roles: ['user'] }).key;
    viewer = keys.create({ subject: 'vic', tenant: 'tenant-a', roles: ['viewer'] }).key;
  }, 60_000);
  afterAll(async () => d?.close());

  it('lists the tools with their schemas, and exec runs in a default sandbox made on first use and destroyed with the session', async () => {
    const { client, transport } = await connect(d.url, keyA);
    const { tools } = await client.listTools();
    const names = tools.map((t) => t.name);
    for (const n of ['sandbox_create', 'sandbox_list', 'sandbox_destroy', 'sandbox_exec', 'sandbox_file_read', 'sandbox_file_write', 'sandbox_file_edit', 'sandbox_file_list', 'sandbox_file_stat', 'sandbox_snapshot', 'sandbox_fork', 'sandbox_restore']) {
      expect(names).toContain(n);
    }
    const exec = tools.find((t) => t.name === 'sandbox_exec');
    expect(exec?.inputSchema.properties).toHaveProperty('command');
    expect(exec?.inputSchema.properties).toHaveProperty('argv');

    // No sandbox yet: the first call makes it.
    expect((await d.call('GET', '/v1/sandboxes', { headers: { authorization: `Bearer ${keyA}` } })).body.sandboxes).toHaveLength(0);
    const r = body(await client.callTool({ name: 'sandbox_exec', arguments: { command: 'echo hi; echo oops >&2; exit 3' } }) as CallToolResult);
    expect(r).toMatchObject({ exit_code: 3, stdout: 'hi\n', stderr: 'oops\n', timed_out: false, stdout_truncated: false, stderr_truncated: false });
    const sid = r.sandbox_id as string;
    const listed = (await d.call('GET', '/v1/sandboxes', { headers: { authorization: `Bearer ${keyA}` } })).body.sandboxes as Array<{ id: string; labels: Record<string, string> }>;
    expect(listed.map((s) => s.id)).toEqual([sid]);
    expect(listed[0]?.labels.mcp_session).toBe(transport.sessionId);

    // The same default sandbox again: files persist between calls.
    body(await client.callTool({ name: 'sandbox_file_write', arguments: { path: 'notes/a.txt', content: 'one two one\n' } }) as CallToolResult);
    const again = body(await client.callTool({ name: 'sandbox_exec', arguments: { argv: ['cat', 'notes/a.txt'], stdin: 'ignored' } }) as CallToolResult);
    expect(again).toMatchObject({ sandbox_id: sid, exit_code: 0, stdout: 'one two one\n' });

    // The exec was audited like a REST exec, under the caller.
    const audit = await d.call('GET', '/v1/audit?limit=50', { headers: { authorization: `Bearer ${keyA}` } });
    expect((audit.body.events as Array<{ capability: string | null; subject: string; sandbox_id: string | null }>).some((e) => e.capability === 'shell.exec.v1' && e.subject === 'alice' && e.sandbox_id === sid)).toBe(true);

    await transport.terminateSession();
    await client.close();
    const gone = await d.call('GET', `/v1/sandboxes/${sid}`, { headers: { authorization: `Bearer ${keyA}` } });
    expect(gone.status).toBe(404);
  }, 60_000);

  it('files: write, edit, read, list, stat; snapshot, restore and fork', async () => {
    const { client, transport } = await connect(d.url, keyA);
    const call = async (name: string, args: Record<string, unknown>): Promise<Record<string, unknown>> => body(await client.callTool({ name, arguments: args }) as CallToolResult);
    expect(await call('sandbox_file_write', { path: '/workspace/src/app.py', content: 'print("hello")\nprint("hello")\n' })).toMatchObject({ bytes_written: 30 });
    expect((await call('sandbox_file_edit', { path: 'src/app.py', old_string: 'hello', new_string: 'bye' })).error).toMatch(/^INVALID_ARGUMENT|^CONFLICT|^FS_ERROR/);
    expect(await call('sandbox_file_edit', { path: 'src/app.py', old_string: 'hello', new_string: 'bye', replace_all: true })).toMatchObject({ replacements: 2 });
    expect(await call('sandbox_file_read', { path: 'src/app.py' })).toMatchObject({ content: 'print("bye")\nprint("bye")\n', encoding: 'utf8', eof: true, bytes: 26 });
    const part = await call('sandbox_file_read', { path: 'src/app.py', offset: 6, limit: 5 });
    expect(part).toMatchObject({ content: '"bye"', eof: false, next_offset: 11 });
    const list = await call('sandbox_file_list', { path: 'src' });
    expect(list.entries).toEqual([expect.objectContaining({ name: 'app.py', kind: 'file', size: 26, mode: '0644' })]);
    expect(await call('sandbox_file_stat', { path: 'src' })).toMatchObject({ kind: 'directory' });

    const snap = await call('sandbox_snapshot', { name: 'before' });
    await call('sandbox_file_write', { path: 'src/app.py', content: 'broken' });
    const fork = await call('sandbox_fork', { snapshot_id: snap.snapshot_id });
    const forkId = fork.sandbox_id as string;
    expect(forkId).not.toBe(snap.sandbox_id);
    await call('sandbox_restore', { snapshot_id: snap.snapshot_id });
    expect((await call('sandbox_file_read', { path: 'src/app.py' })).content).toBe('print("bye")\nprint("bye")\n');
    expect((await call('sandbox_exec', { sandbox_id: forkId, command: 'cat src/app.py' })).stdout).toBe('print("bye")\nprint("bye")\n');
    const listed = await call('sandbox_list', {});
    expect((listed.sandboxes as Array<{ sandbox_id: string; session_default?: boolean }>).find((s) => s.sandbox_id === snap.sandbox_id)?.session_default).toBe(true);
    expect(await call('sandbox_destroy', { sandbox_id: forkId })).toMatchObject({ destroyed: true });
    await transport.terminateSession();
    await client.close();
  }, 90_000);

  it('sandbox_create takes limits and network; the sandbox it makes outlives the session until destroyed', async () => {
    const { client, transport } = await connect(d.url, keyA);
    const made = body(await client.callTool({ name: 'sandbox_create', arguments: { network: 'none', limits: { pids: 64 }, labels: { job: 'x' } } }) as CallToolResult);
    const id = made.sandbox_id as string;
    expect(made).toMatchObject({ state: 'running', labels: { job: 'x' } });
    const view = await d.call('GET', `/v1/sandboxes/${id}`, { headers: { authorization: `Bearer ${keyA}` } });
    expect(view.body.limits.pids).toBe(64);
    await transport.terminateSession();
    await client.close();
    const still = await d.call('GET', `/v1/sandboxes/${id}`, { headers: { authorization: `Bearer ${keyA}` } });
    expect(still.status).toBe(200);
    await d.call('DELETE', `/v1/sandboxes/${id}`, { headers: { authorization: `Bearer ${keyA}` } });
  }, 60_000);

  it('long output is cut to the asked size, head and tail kept, and flagged', async () => {
    const { client } = await connect(d.url, keyA);
    const r = body(await client.callTool({ name: 'sandbox_exec', arguments: { command: 'seq 1 100000', max_output_chars: 1000 } }) as CallToolResult);
    expect(r.stdout_truncated).toBe(true);
    expect(r.stderr_truncated).toBe(false);
    const out = r.stdout as string;
    expect(out.startsWith('1\n2\n3\n')).toBe(true);
    expect(out.endsWith('99999\n100000\n')).toBe(true);
    expect(out).toMatch(/characters omitted/);
    expect(out.length).toBeLessThan(1300);
    await client.close();
  }, 60_000);

  it('tool errors carry the agentd code: bad arguments, a missing file, an unknown sandbox, an unknown tool', async () => {
    const { client } = await connect(d.url, keyA);
    const both = await client.callTool({ name: 'sandbox_exec', arguments: { command: 'true', argv: ['true'] } }) as CallToolResult;
    expect(both.isError).toBe(true);
    expect(body(both).error).toMatch(/^INVALID_ARGUMENT: .*exactly one of `command` or `argv`/);
    const wrongType = await client.callTool({ name: 'sandbox_exec', arguments: { command: 42 } }) as CallToolResult;
    expect(body(wrongType).error).toMatch(/^INVALID_ARGUMENT: arguments.command/);
    const missing = await client.callTool({ name: 'sandbox_file_read', arguments: { path: 'no/such/file' } }) as CallToolResult;
    expect(body(missing).error).toMatch(/^(FS_ERROR|NOT_FOUND): .*\n.*ENOENT|^(FS_ERROR|NOT_FOUND)/);
    const unknown = await client.callTool({ name: 'sandbox_exec', arguments: { sandbox_id: 'sbx_nope', command: 'true' } }) as CallToolResult;
    expect(body(unknown).error).toMatch(/^NOT_FOUND: /);
    const noTool = await client.callTool({ name: 'rm_rf', arguments: {} }) as CallToolResult;
    expect(body(noTool).error).toMatch(/^NOT_FOUND: no tool named 'rm_rf'/);
    // The server still answers after all of them.
    expect(body(await client.callTool({ name: 'sandbox_exec', arguments: { argv: ['true'] } }) as CallToolResult)).toMatchObject({ exit_code: 0 });
    await client.close();
  }, 60_000);

  it('malformed protocol input is refused with an error and the server keeps serving', async () => {
    const { client, transport } = await connect(d.url, keyA);
    const auth = { authorization: `Bearer ${keyA}` };
    const mcpHeaders = { ...auth, accept: 'application/json, text/event-stream', 'mcp-session-id': transport.sessionId ?? '', 'mcp-protocol-version': '2025-06-18' };
    const badJson = await rawCall({ url: d.url }, 'POST', '/mcp', { raw: '{"jsonrpc":', contentType: 'application/json', headers: mcpHeaders });
    expect(badJson.status).toBe(400);
    const notRpc = await rawCall({ url: d.url }, 'POST', '/mcp', { body: { hello: 'world' }, headers: mcpHeaders });
    expect(notRpc.status).toBe(400);
    const badParams = await rawCall({ url: d.url }, 'POST', '/mcp', { body: { jsonrpc: '2.0', id: 7, method: 'tools/call', params: { name: 5 } }, headers: mcpHeaders });
    expect(badParams.status).toBe(200);
    expect(badParams.body).toMatchObject({ id: 7, error: { code: expect.any(Number) } });
    const noMethod = await rawCall({ url: d.url }, 'POST', '/mcp', { body: { jsonrpc: '2.0', id: 8, method: 'no/such' }, headers: mcpHeaders });
    expect(noMethod.body).toMatchObject({ id: 8, error: { code: -32601 } });
    const noSession = await rawCall({ url: d.url }, 'POST', '/mcp', { body: { jsonrpc: '2.0', id: 9, method: 'tools/list' }, headers: { ...auth, accept: 'application/json, text/event-stream' } });
    expect(noSession.status).toBe(400);
    expect(noSession.body.error.code).toBe('INVALID_ARGUMENT');
    const get = await rawCall({ url: d.url }, 'GET', '/mcp', { headers: mcpHeaders });
    expect(get.status).toBe(405);
    expect((await client.listTools()).tools.length).toBeGreaterThan(10);
    await client.close();
  }, 60_000);

  it('/mcp without a credential is refused with 401 as REST is, and a wrong key too', async () => {
    const init = { jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'x', version: '0' } } };
    const none = await rawCall({ url: d.url }, 'POST', '/mcp', { body: init, headers: { accept: 'application/json, text/event-stream' } });
    expect(none.status).toBe(401);
    expect(none.body.error.code).toBe('UNAUTHENTICATED');
    const rest = await rawCall({ url: d.url }, 'GET', '/v1/sandboxes');
    expect(rest.status).toBe(401);
    const wrong = await rawCall({ url: d.url }, 'POST', '/mcp', { body: init, headers: { accept: 'application/json, text/event-stream', authorization: 'Bearer agentd_nope' } });
    expect(wrong.status).toBe(401);
    await expect(connect(d.url, 'agentd_wrong')).rejects.toThrow(/401|UNAUTHENTICATED/);
  }, 30_000);

  it('every request is authenticated again: a key revoked mid-session gets 401 on its next call', async () => {
    const keys = new ApiKeyService(d.daemon.store.apiKeys);
    const tmp = keys.create({ subject: 'tmp', tenant: 'tenant-a', roles: ['user'] });
    const { client, transport } = await connect(d.url, tmp.key);
    expect((await client.listTools()).tools.length).toBeGreaterThan(0);
    keys.revoke(tmp.id);
    const r = await rawCall({ url: d.url }, 'POST', '/mcp', {
      body: { jsonrpc: '2.0', id: 5, method: 'tools/list' },
      headers: { authorization: `Bearer ${tmp.key}`, accept: 'application/json, text/event-stream', 'mcp-session-id': transport.sessionId ?? '', 'mcp-protocol-version': '2025-06-18' },
    });
    expect(r.status).toBe(401);
    expect(r.body.error.code).toBe('UNAUTHENTICATED');
    await expect(client.listTools()).rejects.toThrow(/401|UNAUTHENTICATED/);
  }, 30_000);

  it('a viewer-role key cannot exec through MCP: the built-in viewer role refuses it as on REST (PERMISSION_DENIED), and nothing runs', async () => {
    // A sandbox of the tenant, made by a user key, that the viewer names.
    const made = await d.call('POST', '/v1/sandboxes', { body: {}, headers: { authorization: `Bearer ${keyA}` } });
    const id = made.body.id as string;
    const rest = await d.call('POST', `/v1/sandboxes/${id}/exec`, { body: { command: 'touch /workspace/pwned' }, headers: { authorization: `Bearer ${viewer}` } });
    expect(rest.status).toBe(403);
    expect(rest.body.error.code).toBe('PERMISSION_DENIED');
    const { client } = await connect(d.url, viewer);
    const r = await client.callTool({ name: 'sandbox_exec', arguments: { sandbox_id: id, command: 'touch /workspace/pwned' } }) as CallToolResult;
    expect(r.isError).toBe(true);
    expect(body(r).error).toMatch(/^PERMISSION_DENIED: /);
    const w = await client.callTool({ name: 'sandbox_file_write', arguments: { sandbox_id: id, path: 'pwned', content: 'x' } }) as CallToolResult;
    expect(body(w).error).toMatch(/^PERMISSION_DENIED/);
    // Reading is not a write: the viewer may.
    expect(body(await client.callTool({ name: 'sandbox_file_list', arguments: { sandbox_id: id, path: '.' } }) as CallToolResult).entries).toEqual([]);
    const check = await d.call('GET', `/v1/sandboxes/${id}/files/stat?path=pwned`, { headers: { authorization: `Bearer ${keyA}` } });
    expect(check.status).not.toBe(200);
    await client.close();
    await d.call('DELETE', `/v1/sandboxes/${id}`, { headers: { authorization: `Bearer ${keyA}` } });
  }, 60_000);

  it("tenant A's MCP session cannot see or touch tenant B's sandboxes, nor use B's session", async () => {
    const made = await d.call('POST', '/v1/sandboxes', { body: { labels: { owner: 'b' } }, headers: { authorization: `Bearer ${keyB}` } });
    const bId = made.body.id as string;
    const a = await connect(d.url, keyA);
    const listed = body(await a.client.callTool({ name: 'sandbox_list', arguments: {} }) as CallToolResult);
    expect((listed.sandboxes as Array<{ sandbox_id: string }>).map((s) => s.sandbox_id)).not.toContain(bId);
    for (const [name, args] of [
      ['sandbox_exec', { sandbox_id: bId, command: 'true' }], ['sandbox_file_read', { sandbox_id: bId, path: 'x' }], ['sandbox_destroy', { sandbox_id: bId }],
      ['sandbox_snapshot', { sandbox_id: bId }], ['sandbox_fork', { sandbox_id: bId }],
    ] as const) {
      const r = await a.client.callTool({ name, arguments: args }) as CallToolResult;
      expect(body(r).error, name).toMatch(/^NOT_FOUND: /);
    }
    // B's session id, presented with A's (or another tenant-a user's) key, is not found: a session id is no credential.
    const b = await connect(d.url, keyB);
    for (const key of [keyA, keyA2]) {
      const steal = await rawCall({ url: d.url }, 'POST', '/mcp', {
        body: { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'sandbox_exec', arguments: { command: 'id' } } },
        headers: { authorization: `Bearer ${key}`, accept: 'application/json, text/event-stream', 'mcp-session-id': b.transport.sessionId ?? '', 'mcp-protocol-version': '2025-06-18' },
      });
      expect(steal.status).toBe(404);
      expect(steal.body.error.code).toBe('NOT_FOUND');
    }
    expect((await d.call('GET', `/v1/sandboxes/${bId}`, { headers: { authorization: `Bearer ${keyB}` } })).status).toBe(200);
    await a.client.close();
    await b.client.close();
    await d.call('DELETE', `/v1/sandboxes/${bId}`, { headers: { authorization: `Bearer ${keyB}` } });
  }, 60_000);
});

describe('MCP sessions when the daemon stops', () => {
  it("a stopping daemon ends its MCP sessions: the default sandbox is destroyed (its folder gone), not kept as a stopped sandbox", async () => {
    const d = await startTestDaemon();
    const token = d.authHeaders().authorization?.replace(/^Bearer /, '') ?? '';
    const { client } = await connect(d.url, token);
    const r = body(await client.callTool({ name: 'sandbox_exec', arguments: { argv: ['true'] } }) as CallToolResult);
    const dir = join(d.home, 'sandboxes', r.sandbox_id as string);
    expect(existsSync(dir)).toBe(true);
    await d.daemon.close();
    expect(existsSync(dir)).toBe(false);
    await rm(d.home, { recursive: true, force: true });
  }, 60_000);
});
