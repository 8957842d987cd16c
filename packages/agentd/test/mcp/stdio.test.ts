import { spawn } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer, type AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiKeyService } from '../../src/auth/api-key.js';
import { startTestDaemon, type TestDaemon } from '../daemon/harness.js';

/** The bundled CLI `npm run build` makes: what `agentd mcp` runs as in a host's configuration. */
const CLI = fileURLToPath(new URL('../../dist-cli/main.js', import.meta.url));

function body(r: CallToolResult): Record<string, unknown> {
  const first = r.content[0];
  if (first?.type !== 'text') throw new Error('no text block');
  return r.isError === true ? { error: first.text } : JSON.parse(first.text) as Record<string, unknown>;
}

async function stdioClient(env: Record<string, string>): Promise<{ client: Client; transport: StdioClientTransport; stderr: () => string }> {
  const transport = new StdioClientTransport({ command: process.execPath, args: [CLI, 'mcp'], env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env }, stderr: 'pipe' });
  let err = '';
  transport.stderr?.on('data', (c: Buffer) => {
    err += c.toString();
  });
  const client = new Client({ name: 'agentd-stdio-test', version: '0' });
  await client.connect(transport);
  return { client, transport, stderr: () => err };
}

describe.skipIf(!existsSync(CLI))('agentd mcp over stdio against a real daemon (needs npm run build)', () => {
  let d: TestDaemon;
  let key: string;
  beforeAll(async () => {
    d = await startTestDaemon({ auth: { providers: [{ type: 'local-token' }, { type: 'api-key' }] } });
    key = new ApiKeyService(d.daemon.store.apiKeys).create({ subject: 'alice', tenant: 'tenant-a', roles: ['user'] }).key;
  }, 60_000);
  afterAll(async () => d?.close());

  it("with only AGENTD_HOME (socket and local token found as the CLI finds them): tools list, exec runs, and the session's default sandbox goes when the host disconnects", async () => {
    const { client } = await stdioClient({ AGENTD_HOME: d.home });
    const { tools } = await client.listTools();
    expect(tools.map((t) => t.name)).toContain('sandbox_exec');
    const r = body(await client.callTool({ name: 'sandbox_exec', arguments: { command: 'echo "$((6*7))"; pwd' } }) as CallToolResult);
    expect(r).toMatchObject({ exit_code: 0, stdout: '42\n/workspace\n' });
    const id = r.sandbox_id as string;
    expect((await d.call('GET', `/v1/sandboxes/${id}`)).status).toBe(200);
    await client.close();
    // The relay ends the daemon's session on stdin's end; the default sandbox is destroyed with it.
    let status = 200;
    for (let i = 0; i < 100 && status === 200; i++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      status = (await d.call('GET', `/v1/sandboxes/${id}`)).status;
    }
    expect(status).toBe(404);
  }, 60_000);

  it('over TCP with an API key (AGENTD_URL + AGENTD_API_KEY): the calls are the key\'s, in its tenant', async () => {
    const { client } = await stdioClient({ AGENTD_URL: d.url, AGENTD_API_KEY: key, AGENTD_HOME: '/nonexistent' });
    const r = body(await client.callTool({ name: 'sandbox_exec', arguments: { argv: ['id', '-un'] } }) as CallToolResult);
    expect(r.exit_code).toBe(0);
    const mine = await d.call('GET', `/v1/sandboxes/${r.sandbox_id as string}`, { headers: { authorization: `Bearer ${key}` } });
    expect(mine.body.tenant).toBe('tenant-a');
    // The local token's tenant (default) does not see it.
    expect((await d.call('GET', `/v1/sandboxes/${r.sandbox_id as string}`)).status).toBe(404);
    const err = await client.callTool({ name: 'sandbox_file_read', arguments: { path: '/nope' } }) as CallToolResult;
    expect(err.isError).toBe(true);
    await client.close();
  }, 60_000);

  it('garbage on stdin is logged and skipped: the relay still answers the next message, then ends at EOF', async () => {
    const init = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'raw', version: '0' } } });
    const r = await runCliProcess(['mcp'], { AGENTD_HOME: d.home }, `this is not json\n{"jsonrpc":"2.0","id":\n[1,2,3]\n${init}\n`, 'initialize');
    expect(r.code).toBe(0);
    const answers = r.stdout.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as { id?: number; result?: { serverInfo?: { name: string } } });
    expect(answers.find((a) => a.id === 1)?.result?.serverInfo?.name).toBe('agentd');
    expect(r.stderr).toMatch(/agentd mcp: bad input from the host/);
  }, 30_000);

  it('a wrong API key: the command starts nothing and says the daemon refused it (exit 1, stdout untouched)', async () => {
    const r = await runCliProcess(['mcp'], { AGENTD_URL: d.url, AGENTD_API_KEY: 'agentd_wrong', AGENTD_HOME: '/nonexistent' });
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/UNAUTHENTICATED: the daemon at .* refused this client/);
  }, 30_000);
});

describe.skipIf(!existsSync(CLI))('agentd mcp without a daemon (needs npm run build)', () => {
  it('--json (a flag every client command takes) is refused: stdout is the protocol', async () => {
    const r = await runCliProcess(['mcp', '--json'], { AGENTD_URL: 'http://127.0.0.1:1', AGENTD_HOME: '/nonexistent' });
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^error: INVALID_ARGUMENT: --json does not apply to agentd mcp/);
  }, 30_000);

  it('starts nothing and says how to start a daemon (exit 1, nothing on stdout)', async () => {
    // A loopback port that was just free: a server bound it, then closed.
    const port = await new Promise<number>((resolve) => {
      const srv = createServer().listen(0, '127.0.0.1', () => {
        const p = (srv.address() as AddressInfo).port;
        srv.close(() => resolve(p));
      });
    });
    const r = await runCliProcess(['mcp'], { AGENTD_URL: `http://127.0.0.1:${port}`, AGENTD_HOME: '/nonexistent' });
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(new RegExp(`UNAVAILABLE: no agentd daemon answers at http://127\\.0\\.0\\.1:${port} \\(ECONNREFUSED\\).*agentd serve`));
  }, 30_000);
});

function runCliProcess(args: string[], env: Record<string, string>, stdin?: string, endAfter?: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => {
      stdout += c.toString();
      // Close stdin (the host going away) once the answer we wait for came.
      if (endAfter !== undefined && stdout.includes('"result"')) child.stdin.end();
    });
    child.stderr.on('data', (c: Buffer) => {
      stderr += c.toString();
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    if (stdin !== undefined) child.stdin.write(stdin);
    if (endAfter === undefined) child.stdin.end();
  });
}

describe.skipIf(!existsSync(CLI))('agentd mcp with a signing key, against a signature-only daemon (needs npm run build)', () => {
  let d: TestDaemon;
  let dir: string;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'agentd-mcp-sign-'));
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    writeFileSync(join(dir, 'user.key'), privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
    d = await startTestDaemon({
      auth: { providers: [{ type: 'signature', window_s: 60, keys: { mcpkey: { public_key: publicKey.export({ type: 'spki', format: 'pem' }).toString(), subject: 'signer', tenant: 'tenant-s', roles: ['user'] } } }] },
    });
  }, 60_000);
  afterAll(async () => {
    await d?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('every relayed request is signed over its body: tools list and exec work as the key\'s principal', async () => {
    const { client } = await stdioClient({ AGENTD_URL: d.url, AGENTD_SIGN_KEY: join(dir, 'user.key'), AGENTD_SIGN_KEY_ID: 'mcpkey', AGENTD_HOME: '/nonexistent' });
    expect((await client.listTools()).tools.length).toBeGreaterThan(10);
    const r = body(await client.callTool({ name: 'sandbox_exec', arguments: { command: 'echo signed' } }) as CallToolResult);
    expect(r).toMatchObject({ exit_code: 0, stdout: 'signed\n' });
    const rec = d.daemon.store.sandboxes.get(r.sandbox_id as string);
    expect(rec?.tenant).toBe('tenant-s');
    await client.close();
  }, 60_000);

  it('without the signing key the same daemon refuses the relay at start (UNAUTHENTICATED)', async () => {
    const r = await runCliProcess(['mcp'], { AGENTD_URL: d.url, AGENTD_HOME: '/nonexistent' });
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/UNAUTHENTICATED/);
  }, 30_000);
});
