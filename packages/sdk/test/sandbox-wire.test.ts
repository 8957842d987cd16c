/**
 * The SDK's requests against the REST contract (docs/api.md), checked on a recording
 * node:http server that answers like the daemon. The same calls run against the real
 * daemon in e2e tests.
 */
import { afterEach, describe, expect, test } from 'vitest';
import { CommandExitError, Sandbox, SandboxOperationError, type ExecChunk } from '../src/index.js';
import { sendError, sendJson, startServer, type TestServer } from './helpers/server.js';

const servers: TestServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

const sandboxJson = { id: 'sbx_1', state: 'running', backend: 'host-direct', profile: 'workstation', tenant: 'default', labels: { a: 'b' }, created_at_ms: 1 };
const b64 = (s: string): string => Buffer.from(s).toString('base64');
const execJson = (code: number) => ({ exit_code: code, signal: null, stdout: b64('out\n'), stderr: b64('err\n'), encoding: 'base64', duration_ms: 2, timed_out: false, canceled: false, output_truncated: false, resource_limited: false, resource_usage: {} });

async function fakeDaemon(): Promise<TestServer> {
  const s = await startServer((req, res, body) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const route = `${req.method} ${url.pathname}`;
    switch (route) {
      case 'POST /v1/sandboxes':
        return sendJson(res, 201, sandboxJson);
      case 'POST /v1/sandboxes/sbx_1/exec': {
        const params = JSON.parse(body.toString()) as { command?: string };
        if (url.searchParams.get('stream') === '1') {
          res.writeHead(200, { 'content-type': 'application/x-ndjson' });
          res.write(`${JSON.stringify({ type: 'start', pid: 9 })}\n`);
          res.write(`${JSON.stringify({ type: 'stdout', data: b64('a') })}\n${JSON.stringify({ type: 'stderr', data: b64('b') })}\n`);
          res.end(`${JSON.stringify({ type: 'exit', ...execJson(0), stdout: undefined, stderr: undefined })}\n`);
          return;
        }
        return sendJson(res, 200, execJson(params.command === 'false' ? 1 : 0));
      }
      case 'GET /v1/sandboxes/sbx_1/files':
        res.writeHead(200, { 'content-type': 'application/octet-stream', 'x-file-size': '4', 'x-eof': 'true' });
        return res.end(Buffer.from([0xde, 0xad, 0xbe, 0xef]));
      case 'PUT /v1/sandboxes/sbx_1/files':
        return sendJson(res, 200, { bytes_written: body.length, file_size: body.length });
      case 'POST /v1/sandboxes/sbx_1/files/edit':
        return sendJson(res, 200, { replacements: 2 });
      case 'GET /v1/sandboxes/sbx_1/files/list':
        return sendJson(res, 200, { entries: [{ name: 'x', kind: 'file', mode: 420, size: 3, mtime_ms: 4 }] });
      case 'GET /v1/sandboxes/sbx_1/files/stat':
        return sendError(res, 422, 'FS_ERROR', 'no such file', { details: { errno: 'ENOENT' } });
      case 'DELETE /v1/sandboxes/sbx_1/files':
      case 'POST /v1/sandboxes/sbx_1/files/mkdir':
        return res.writeHead(204).end();
      case 'POST /v1/sandboxes/sbx_1/suspend':
        return sendJson(res, 200, { ...sandboxJson, state: 'suspended' });
      case 'POST /v1/sandboxes/sbx_1/snapshot':
        return sendJson(res, 201, { id: 'snap_1', sandbox_id: 'sbx_1', name: 'n', created_at_ms: 3, size_bytes: 10 });
      case 'POST /v1/sandboxes/sbx_1/fork':
        return sendJson(res, 201, { ...sandboxJson, id: 'sbx_2' });
      case 'DELETE /v1/sandboxes/sbx_1':
        return res.writeHead(204).end();
      default:
        return sendError(res, 404, 'NOT_FOUND', `no route ${route}`);
    }
  });
  servers.push(s);
  return s;
}

describe('Sandbox against the REST contract', () => {
  test('create sends the spec in snake_case; exec sends shell.exec.v1 params and decodes exact bytes', async () => {
    const s = await fakeDaemon();
    const sbx = await Sandbox.create({ baseUrl: s.url, labels: { a: 'b' }, ttlMs: 1000, limits: { memoryBytes: 1 << 26 } });
    expect(JSON.parse(s.requests[0]!.body.toString())).toEqual({ labels: { a: 'b' }, ttl_ms: 1000, limits: { memory_bytes: 1 << 26 } });
    const result = await sbx.exec(['ls', '-l'], { env: { A: '1' }, cwd: '/tmp', timeoutMs: 500, stdin: new Uint8Array([1, 2]), idempotencyKey: 'k' });
    const sent = s.requests[1]!;
    expect(sent.headers['idempotency-key']).toBe('k');
    expect(JSON.parse(sent.body.toString())).toEqual({ argv: ['ls', '-l'], env: { A: '1' }, cwd: '/tmp', timeout_ms: 500, stdin: 'AQI=', stdin_encoding: 'base64', output_encoding: 'base64' });
    expect(result).toMatchObject({ exitCode: 0, stdout: 'out\n', stderr: 'err\n', durationMs: 2, timedOut: false });
    await expect(sbx.execOrThrow('false')).rejects.toBeInstanceOf(CommandExitError);
    await expect(sbx.execOrThrow('true')).resolves.toMatchObject({ exitCode: 0 });
  });

  test('stream and exec.stream iterate typed chunks; callbacks receive output', async () => {
    const s = await fakeDaemon();
    const sbx = await Sandbox.create({ baseUrl: s.url });
    const chunks: ExecChunk[] = [];
    for await (const c of sbx.exec.stream('echo a')) chunks.push(c);
    expect(chunks.map((c) => c.type)).toEqual(['start', 'stdout', 'stderr', 'exit']);
    // The SDK asks for binary frames first; this fake daemon knows only NDJSON and the SDK reads that.
    expect(s.requests[1]!.headers.accept).toBe('application/vnd.agentd.exec-frames, application/x-ndjson;q=0.5');
    const seen: string[] = [];
    const result = await sbx.exec('echo a', { onStdout: (t) => seen.push(`o:${t}`), onStderr: (t) => seen.push(`e:${t}`) });
    expect(seen).toEqual(['o:a', 'e:b']);
    expect(result).toMatchObject({ exitCode: 0, stdout: 'a', stderr: 'b' });
  });

  test('files: binary read, write, edit, list, stat error, remove, mkdir', async () => {
    const s = await fakeDaemon();
    const sbx = await Sandbox.create({ baseUrl: s.url });
    expect(await sbx.files.readRange('/w/bin', { offset: 1, limit: 4 })).toEqual({ bytes: new Uint8Array([0xde, 0xad, 0xbe, 0xef]), fileSize: 4, eof: true });
    expect(await sbx.files.write('/w/x', new Uint8Array([0, 255]), { createDirs: true, mode: 0o600 })).toEqual({ bytesWritten: 2, fileSize: 2 });
    expect(await sbx.files.edit('/w/x', 'a', 'b', { replaceAll: true })).toBe(2);
    expect(await sbx.files.list('/w')).toEqual([{ name: 'x', kind: 'file', mode: 420, size: 3, mtimeMs: 4 }]);
    const statErr = await sbx.files.stat('/nope').catch((e: unknown) => e);
    expect(statErr).toBeInstanceOf(SandboxOperationError);
    expect((statErr as SandboxOperationError).errno).toBe('ENOENT');
    expect(await sbx.files.exists('/nope')).toBe(false);
    await sbx.files.remove('/w/x', { recursive: true });
    await sbx.files.mkdir('/w/d', { parents: true });
    const urls = s.requests.slice(1).map((r) => `${r.method} ${r.url}`);
    expect(urls).toEqual([
      'GET /v1/sandboxes/sbx_1/files?path=%2Fw%2Fbin&offset=1&limit=4',
      'PUT /v1/sandboxes/sbx_1/files?path=%2Fw%2Fx&create_dirs=true&mode=0600',
      'POST /v1/sandboxes/sbx_1/files/edit',
      'GET /v1/sandboxes/sbx_1/files/list?path=%2Fw',
      'GET /v1/sandboxes/sbx_1/files/stat?path=%2Fnope',
      'GET /v1/sandboxes/sbx_1/files/stat?path=%2Fnope',
      'DELETE /v1/sandboxes/sbx_1/files?path=%2Fw%2Fx&recursive=true',
      'POST /v1/sandboxes/sbx_1/files/mkdir',
    ]);
    expect([...s.requests[2]!.body]).toEqual([0, 255]);
    expect(JSON.parse(s.requests[3]!.body.toString())).toEqual({ path: '/w/x', old_string: 'a', new_string: 'b', replace_all: true });
  });

  test('lifecycle calls, and await using destroys the sandbox', async () => {
    const s = await fakeDaemon();
    {
      await using sbx = await Sandbox.create({ baseUrl: s.url });
      expect((await sbx.suspend()).state).toBe('suspended');
      expect(sbx.info.state).toBe('suspended');
      expect(await sbx.snapshot({ name: 'n' })).toEqual({ id: 'snap_1', sandboxId: 'sbx_1', name: 'n', createdAtMs: 3, sizeBytes: 10 });
      const child = await sbx.fork({ snapshotId: 'snap_1' });
      expect(child.id).toBe('sbx_2');
    }
    expect(s.requests.at(-1)).toMatchObject({ method: 'DELETE', url: '/v1/sandboxes/sbx_1' });
    expect(JSON.parse(s.requests.find((r) => r.url.endsWith('/fork'))!.body.toString())).toEqual({ snapshot_id: 'snap_1' });
  });
});
