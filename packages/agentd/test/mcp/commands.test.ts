/**
 * The MCP tools for background commands, ports and images/templates, driven with the SDK's own
 * client over streamable HTTP against a real daemon: a background command's output polled from
 * offsets to its exit (every byte once), input written and closed, a ring overflow reported as
 * lost bytes, kill; a viewer cannot start or kill (PERMISSION_DENIED) and another tenant cannot
 * read, list or kill (NOT_FOUND); a port exposed from a `none` sandbox reaches python3's
 * http.server inside from the host loopback; a template's image, env and start command.
 */
import { request } from 'node:http';
import { connect as tcpConnect } from 'node:net';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiKeyService } from '../../src/auth/api-key.js';
import { startTestDaemon, type TestDaemon } from '../daemon/harness.js';
import { linkCachedImages, TEST_IMAGE } from '../images/helpers.js';

type Out = Record<string, unknown>;

/** The JSON a tool answered (its one text block), or `{ error }` with the tool error's text. */
function body(r: CallToolResult): Out {
  const first = r.content[0];
  if (first?.type !== 'text') throw new Error('no text block');
  return r.isError === true ? { error: first.text } : JSON.parse(first.text) as Out;
}

async function connect(url: string, token: string): Promise<{ client: Client; call: (name: string, args: Out) => Promise<Out>; close: () => Promise<void> }> {
  const transport = new StreamableHTTPClientTransport(new URL(`${url}/mcp`), { requestInit: { headers: { authorization: `Bearer ${token}` } } });
  const client = new Client({ name: 'agentd-test', version: '0' });
  await client.connect(transport);
  return {
    client,
    call: async (name, args) => body(await client.callTool({ name, arguments: args }) as CallToolResult),
    close: async () => {
      await transport.terminateSession().catch(() => undefined);
      await client.close();
    },
  };
}

function httpGet(url: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, (res) => {
      let text = '';
      res.on('data', (d: Buffer) => (text += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** The error code of a TCP connect to the host loopback port (undefined when it connected). */
function connectError(port: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    const s = tcpConnect(port, '127.0.0.1');
    s.on('connect', () => {
      s.destroy();
      resolve(undefined);
    });
    s.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
  });
}

function seq(n: number): string {
  let s = '';
  for (let i = 1; i <= n; i++) s += `${i}\n`;
  return s;
}

const RING = 64 * 1024;
const isRoot = process.getuid?.() === 0;
// Images need a root daemon; the test image is built once (cached, one builder at a time) by linkCachedImages.
const withTemplate = isRoot;

describe('MCP background commands and ports on a real daemon', () => {
  let d: TestDaemon;
  let keyA: string;
  let keyB: string;
  let viewer: string;

  beforeAll(async () => {
    d = await startTestDaemon({
      auth: { providers: [{ type: 'local-token' }, { type: 'api-key' }] },
      commands: { ring_buffer_bytes: RING },
      // allowlist: the sandboxes' default and the widest a request may ask; no traffic leaves in these tests.
      sandbox: { network: 'allowlist' },
      network: { allow: ['*.up.test'], hosts: { 'www.up.test': ['127.0.0.1'] }, dns: 'hosts-only' },
      ...(withTemplate ? { templates: { py: { image: TEST_IMAGE, env: { GREETING: 'from-template' }, start_command: 'echo started > /workspace/started' } } } : {}),
    });
    if (withTemplate) await linkCachedImages(d.home);
    const keys = new ApiKeyService(d.daemon.store.apiKeys);
    keyA = keys.create({ subject: 'alice', tenant: 'tenant-a', roles: ['user'] }).key;
    keyB = keys.create({ subject: 'bob', tenant: 'tenant-b', roles: ['user'] }).key;
    viewer = keys.create({ subject: 'vic', tenant: 'tenant-a', roles: ['viewer'] }).key;
  }, 900_000); // the first run on a machine builds the test image (minutes; the Debian mirror)
  afterAll(async () => d?.close());

  it('a background command: output polled from offsets to its exit, every byte once; stdin written and closed; listed', async () => {
    const a = await connect(d.url, keyA);
    const names = (await a.client.listTools()).tools.map((t) => t.name);
    for (const n of ['sandbox_exec_background', 'sandbox_command_output', 'sandbox_command_list', 'sandbox_command_kill', 'sandbox_command_stdin', 'sandbox_expose_port', 'sandbox_list_ports', 'sandbox_unexpose_port']) expect(names).toContain(n);
    const started = await a.call('sandbox_exec_background', { command: 'echo ready; cat; seq 1 8000; echo done >&2; exit 3', keep_stdin_open: true });
    expect(started, JSON.stringify(started)).toMatchObject({ state: 'running', stdin_open: true });
    const cmd = started.command_id as string;
    const sid = started.sandbox_id as string;
    expect(cmd).toMatch(/\S/);

    // It waits on stdin: the first poll sees its first line and that it still runs.
    let first = await a.call('sandbox_command_output', { command_id: cmd, wait_ms: 10_000 });
    for (let i = 0; i < 10 && (first.stdout as string) === '' && first.state === 'running'; i++) first = await a.call('sandbox_command_output', { command_id: cmd, wait_ms: 10_000 });
    expect(first).toMatchObject({ state: 'running', finished: false, stdout: 'ready\n', stderr: '', next_offset: 6 });
    expect(first).not.toHaveProperty('exit_code');
    const listed = await a.call('sandbox_command_list', {});
    expect((listed.commands as Out[]).map((c) => c.command_id)).toContain(cmd);

    expect(await a.call('sandbox_command_stdin', { command_id: cmd, data: 'hello\n', close: true })).toMatchObject({ written: 6, stdin_open: false });

    // Polled in small pieces from each next_offset until finished.
    let offset = first.next_offset as number;
    let stdout = first.stdout as string;
    let stderr = '';
    let last: Out = first;
    for (let i = 0; i < 1000 && last.finished !== true; i++) {
      last = await a.call('sandbox_command_output', { sandbox_id: sid, command_id: cmd, offset, max_bytes: 5000, wait_ms: 5000 });
      expect(last).not.toHaveProperty('lost_bytes');
      expect((last.stdout as string).length + (last.stderr as string).length).toBeLessThanOrEqual(5000);
      stdout += last.stdout as string;
      stderr += last.stderr as string;
      offset = last.next_offset as number;
    }
    expect(stdout).toBe(`ready\nhello\n${seq(8000)}`);
    expect(stderr).toBe('done\n');
    expect(last).toMatchObject({ state: 'exited', finished: true, more: false, exit_code: 3 });
    expect(offset).toBe(Buffer.byteLength(stdout) + Buffer.byteLength(stderr));

    // At the end: nothing more; past it: a clear error.
    expect(await a.call('sandbox_command_output', { command_id: cmd, offset })).toMatchObject({ stdout: '', stderr: '', finished: true, exit_code: 3 });
    expect((await a.call('sandbox_command_output', { command_id: cmd, offset: offset + 1 })).error).toMatch(/^INVALID_ARGUMENT: offset/);
    // A tool's input is validated: no command and argv at once.
    expect((await a.call('sandbox_exec_background', { command: 'true', argv: ['true'] })).error).toMatch(/^INVALID_ARGUMENT/);
    await a.close();
  }, 120_000);

  it('output past the ring is reported as lost bytes; the rest is the output\'s tail', async () => {
    const a = await connect(d.url, keyA);
    const total = seq(40_000);
    const started = await a.call('sandbox_exec_background', { command: 'seq 1 40000' });
    const cmd = started.command_id as string;
    // Wait for its end without reading (the ring moves on meanwhile).
    for (let i = 0; i < 600; i++) {
      const me = ((await a.call('sandbox_command_list', {})).commands as Out[]).find((c) => c.command_id === cmd);
      if (me?.state !== 'running') break;
      await new Promise((r) => setTimeout(r, 100));
    }
    let read = await a.call('sandbox_command_output', { command_id: cmd, offset: 0, max_bytes: 400_000 });
    const lost = read.lost_bytes as number;
    expect(lost).toBeGreaterThanOrEqual(total.length - RING);
    let got = read.stdout as string;
    while (read.more === true) {
      read = await a.call('sandbox_command_output', { command_id: cmd, offset: read.next_offset, max_bytes: 400_000 });
      got += read.stdout as string;
    }
    expect(read).toMatchObject({ finished: true, exit_code: 0 });
    expect(lost + got.length).toBe(total.length);
    expect(total.endsWith(got)).toBe(true);
    await a.close();
  }, 120_000);

  it('a UTF-8 character cut by max_bytes is left for the next call: the text comes whole, each byte once', async () => {
    const a = await connect(d.url, keyA);
    const text = 'é'.repeat(150); // 300 bytes
    const started = await a.call('sandbox_exec_background', { argv: ['printf', '%s', text] });
    const cmd = started.command_id as string;
    let got = '';
    let offset = 0;
    let r: Out = {};
    for (let i = 0; i < 100 && r.finished !== true; i++) {
      r = await a.call('sandbox_command_output', { command_id: cmd, offset, max_bytes: 101, wait_ms: 5000 });
      expect(r.stdout as string).not.toContain('\uFFFD');
      // Whole 2-byte characters only, never past max_bytes.
      expect((r.next_offset as number - offset) % 2).toBe(0);
      expect(r.next_offset as number - offset).toBeLessThanOrEqual(101);
      got += r.stdout as string;
      offset = r.next_offset as number;
    }
    expect(got).toBe(text);
    expect(offset).toBe(300);
    await a.close();
  }, 60_000);

  it('kill ends a running command; a viewer cannot start or kill; another tenant cannot read, list or kill', async () => {
    const a = await connect(d.url, keyA);
    const v = await connect(d.url, viewer);
    const b = await connect(d.url, keyB);
    const made = await a.call('sandbox_create', { network: 'none' });
    const sid = made.sandbox_id as string;
    const started = await a.call('sandbox_exec_background', { sandbox_id: sid, command: 'echo up; sleep 300' });
    const cmd = started.command_id as string;

    expect((await v.call('sandbox_exec_background', { sandbox_id: sid, command: 'true' })).error).toMatch(/^PERMISSION_DENIED/);
    expect((await v.call('sandbox_command_kill', { sandbox_id: sid, command_id: cmd })).error).toMatch(/^PERMISSION_DENIED/);
    expect((await v.call('sandbox_command_stdin', { sandbox_id: sid, command_id: cmd, close: true })).error).toMatch(/^PERMISSION_DENIED/);
    // Reading is a read: the viewer of the same tenant may.
    expect(await v.call('sandbox_command_output', { sandbox_id: sid, command_id: cmd, wait_ms: 10_000 })).toMatchObject({ command_id: cmd, state: 'running' });

    expect((await b.call('sandbox_command_output', { sandbox_id: sid, command_id: cmd })).error).toMatch(/^NOT_FOUND/);
    expect((await b.call('sandbox_command_list', { sandbox_id: sid })).error).toMatch(/^NOT_FOUND/);
    expect((await b.call('sandbox_command_kill', { sandbox_id: sid, command_id: cmd })).error).toMatch(/^NOT_FOUND/);
    expect((await b.call('sandbox_exec_background', { sandbox_id: sid, command: 'true' })).error).toMatch(/^NOT_FOUND/);

    // Still running after all that.
    expect((await a.call('sandbox_command_list', { sandbox_id: sid })).commands).toEqual([expect.objectContaining({ command_id: cmd, state: 'running' })]);
    const killed = await a.call('sandbox_command_kill', { sandbox_id: sid, command_id: cmd });
    expect(killed.state).not.toBe('running');
    expect(killed.killed === true || killed.signal === 'SIGKILL').toBe(true);
    const after = await a.call('sandbox_command_output', { sandbox_id: sid, command_id: cmd });
    expect(after).toMatchObject({ stdout: 'up\n', finished: true });
    expect((await a.call('sandbox_command_kill', { sandbox_id: sid, command_id: cmd })).error).toMatch(/^CONFLICT/);
    // An id that was never issued.
    expect((await a.call('sandbox_command_output', { sandbox_id: sid, command_id: 'cmd_nope' })).error).toMatch(/^NOT_FOUND/);

    await a.call('sandbox_destroy', { sandbox_id: sid });
    await Promise.all([a.close(), v.close(), b.close()]);
  }, 120_000);

  it('sandbox_expose_port reaches python3 -m http.server in a network none sandbox from the host loopback; listed, then removed', async () => {
    const a = await connect(d.url, keyA);
    const v = await connect(d.url, viewer);
    const b = await connect(d.url, keyB);
    const made = await a.call('sandbox_create', { network: 'none' });
    const sid = made.sandbox_id as string;
    await a.call('sandbox_file_write', { sandbox_id: sid, path: 'site/hello.txt', content: 'hello from the sandbox\n' });
    const server = await a.call('sandbox_exec_background', { sandbox_id: sid, argv: ['python3', '-m', 'http.server', '8080', '--bind', '127.0.0.1'], cwd: '/workspace/site' });
    expect(server).toMatchObject({ state: 'running' });
    // Wait (inside the sandbox) until it listens.
    const ready = await a.call('sandbox_exec', {
      sandbox_id: sid, timeout_ms: 30_000,
      argv: ['python3', '-c', "import socket, time\nfor i in range(300):\n    try:\n        socket.create_connection(('127.0.0.1', 8080)).close(); break\n    except OSError: time.sleep(0.1)\nelse: raise SystemExit(1)"],
    });
    expect(ready.exit_code, JSON.stringify(ready)).toBe(0);

    expect((await v.call('sandbox_expose_port', { sandbox_id: sid, port: 8080 })).error).toMatch(/^PERMISSION_DENIED/);
    expect((await b.call('sandbox_expose_port', { sandbox_id: sid, port: 8080 })).error).toMatch(/^NOT_FOUND/);
    expect((await b.call('sandbox_list_ports', { sandbox_id: sid })).error).toMatch(/^NOT_FOUND/);

    const p = await a.call('sandbox_expose_port', { sandbox_id: sid, port: 8080 });
    expect(p).toMatchObject({ sandbox_id: sid, port: 8080, host: '127.0.0.1' });
    const hostPort = p.host_port as number;
    expect(p.url).toBe(`http://127.0.0.1:${hostPort}/`);
    expect(await httpGet(`${p.url as string}hello.txt`)).toEqual({ status: 200, text: 'hello from the sandbox\n' });
    expect((await a.call('sandbox_list_ports', { sandbox_id: sid })).ports).toEqual([{ port: 8080, host: '127.0.0.1', host_port: hostPort, url: p.url }]);

    expect((await v.call('sandbox_unexpose_port', { sandbox_id: sid, port: 8080 })).error).toMatch(/^PERMISSION_DENIED/);
    expect(await a.call('sandbox_unexpose_port', { sandbox_id: sid, port: 8080 })).toMatchObject({ exposed: false });
    expect((await a.call('sandbox_list_ports', { sandbox_id: sid })).ports).toEqual([]);
    expect(await connectError(hostPort)).toBe('ECONNREFUSED');

    await a.call('sandbox_destroy', { sandbox_id: sid });
    await Promise.all([a.close(), v.close(), b.close()]);
  }, 120_000);

  it("sandbox_create with network allowlist takes the sandbox's own egress rules; rules wider than the config are refused (POLICY_DENIED)", async () => {
    const a = await connect(d.url, keyA);
    const made = await a.call('sandbox_create', { network: 'allowlist', egress: { allow: ['www.up.test'], deny: ['bad.up.test'] } });
    expect(made, JSON.stringify(made)).toMatchObject({ state: 'running' });
    const sid = made.sandbox_id as string;
    const net = await d.call('GET', `/v1/sandboxes/${sid}/network`, { headers: { authorization: `Bearer ${keyA}` } });
    expect(net.body, net.text).toMatchObject({ network: 'allowlist', rules: { allow: ['www.up.test'], deny: ['bad.up.test'] } });
    expect((await a.call('sandbox_create', { network: 'allowlist', egress: { allow: ['other.test'] } })).error).toMatch(/^POLICY_DENIED: .*other\.test/);
    await a.call('sandbox_destroy', { sandbox_id: sid });
    await a.close();
  }, 60_000);

  it.skipIf(!withTemplate)('sandbox_create with a template gets its image, env and start command; an unknown template is NOT_FOUND', async () => {
    const a = await connect(d.url, keyA);
    const made = await a.call('sandbox_create', { template: 'py', env: { EXTRA: '1' } });
    expect(made, JSON.stringify(made)).toMatchObject({ state: 'running', image: { name: TEST_IMAGE } });
    const sid = made.sandbox_id as string;
    const r = await a.call('sandbox_exec', { sandbox_id: sid, command: 'cat /workspace/started; echo $GREETING $EXTRA; python3 -c "import pytest; print(1)"' });
    expect(r).toMatchObject({ exit_code: 0, stdout: 'started\nfrom-template 1\n1\n' });
    expect((await a.call('sandbox_create', { template: 'nope' })).error).toMatch(/^NOT_FOUND: no template 'nope'/);
    expect((await a.call('sandbox_create', { image: 'no-such-image' })).error).toMatch(/^NOT_FOUND/);
    await a.call('sandbox_destroy', { sandbox_id: sid });
    await a.close();
  }, 120_000);
});

if (!withTemplate) {
  process.stderr.write('test/mcp/commands.test.ts: the template test is skipped: images need a root daemon\n');
}
