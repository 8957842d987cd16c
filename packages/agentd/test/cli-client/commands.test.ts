/**
 * The client commands in-process against a recording node:http server that answers like the
 * daemon (the same commands run as a child process against the real daemon in e2e.test.ts).
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, test } from 'vitest';
import { sendError, sendJson, startServer, type TestServer } from '../../../sdk/test/helpers/server.js';
import { runCli } from './harness.js';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'agentd-cli-test-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const binary = Buffer.from([0, 1, 2, 0xff, 0xfe, 0x0a, 0x0d, 0xe2, 0x82]);
const frame = (f: unknown): string => `${JSON.stringify(f)}\n`;

/** A fake daemon: exec streams `binary` on stdout then exits with the code in the first argv word. */
async function fakeDaemon(): Promise<TestServer & { file: Buffer }> {
  const state: { file: Buffer } = { file: Buffer.alloc(0) };
  const s = await startServer((req, res, body) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const route = `${req.method} ${url.pathname}`;
    if (route === 'POST /v1/sandboxes/sbx_1/exec') {
      const params = JSON.parse(body.toString()) as { argv: string[] };
      const code = Number(params.argv[0]);
      res.writeHead(200, { 'content-type': 'application/x-ndjson' });
      res.write(frame({ type: 'start', pid: 3 }));
      res.write(frame({ type: 'stdout', data: binary.subarray(0, 4).toString('base64') }));
      res.write(frame({ type: 'stderr', data: Buffer.from('to stderr').toString('base64') }));
      res.write(frame({ type: 'stdout', data: binary.subarray(4).toString('base64') }));
      const signal = code === 137 ? 'SIGKILL' : null;
      res.end(frame({ type: 'exit', exit_code: signal === null ? code : null, signal, duration_ms: 1, timed_out: false, canceled: false, output_truncated: false, resource_limited: false, resource_usage: {} }));
      return;
    }
    if (route === 'PUT /v1/sandboxes/sbx_1/files') {
      state.file = url.searchParams.get('append') === 'true' ? Buffer.concat([state.file, body]) : body;
      sendJson(res, 200, { bytes_written: body.length, file_size: state.file.length });
      return;
    }
    if (route === 'GET /v1/sandboxes/sbx_1/files/stat') {
      sendError(res, 422, 'FS_ERROR', 'no such file', { details: { errno: 'ENOENT' } });
      return;
    }
    if (route === 'GET /v1/sandboxes/sbx_1/files') {
      const offset = Number(url.searchParams.get('offset') ?? 0);
      const limit = Number(url.searchParams.get('limit') ?? state.file.length);
      const piece = state.file.subarray(offset, offset + limit);
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'x-file-size': String(state.file.length), 'x-eof': String(offset + piece.length >= state.file.length) });
      res.end(piece);
      return;
    }
    sendError(res, 404, 'NOT_FOUND', `sandbox not found`);
  });
  cleanups.push(() => s.close());
  return Object.defineProperty(s, 'file', { get: () => state.file }) as TestServer & { file: Buffer };
}

describe('agentd exec (in-process)', () => {
  test('writes stdout and stderr byte-exact and passes the exit code through', async () => {
    const s = await fakeDaemon();
    const run = await runCli(['exec', '--url', s.url, 'sbx_1', '--', '7', '-x']);
    expect(run.stdout.equals(binary)).toBe(true);
    expect(run.stderr).toBe('to stderr');
    expect(run.exitCode).toBe(7);
    expect(JSON.parse(s.requests[0]!.body.toString())).toMatchObject({ argv: ['7', '-x'] });
  });

  test('a command killed by SIGKILL exits 137', async () => {
    const s = await fakeDaemon();
    expect((await runCli(['exec', '--url', s.url, 'sbx_1', '--', '137'])).exitCode).toBe(137);
  });

  test('errors print one line `error: CODE: message`; exec exits 125 (agentd failed), other commands 1', async () => {
    const s = await fakeDaemon();
    const run = await runCli(['exec', '--url', s.url, 'sbx_nope', '--', 'true']);
    expect(run.stderr).toBe('error: NOT_FOUND: sandbox not found\n');
    expect(run.exitCode).toBe(125);
    const closed = await startServer(() => undefined);
    await closed.close();
    const down = await runCli(['sandbox', 'ls'], { env: { AGENTD_URL: closed.url } });
    expect(down.stderr).toBe(`error: UNAVAILABLE: cannot reach agentd at ${closed.url}: ECONNREFUSED (connect ECONNREFUSED ${closed.url.slice(7)})\n`);
    expect(down.stderr).not.toContain('    at ');
    expect(down.exitCode).toBe(1);
  });
});

describe('agentd cp (in-process)', () => {
  test('copies a file in and out in chunks, byte-exact', async () => {
    const s = await fakeDaemon();
    const dir = tempDir();
    const data = Buffer.alloc(10_000);
    for (let i = 0; i < data.length; i++) data[i] = (i * 7919) & 0xff;
    writeFileSync(join(dir, 'in.bin'), data);
    const up = await runCli(['cp', '--url', s.url, '--chunk-size', '4096', join(dir, 'in.bin'), 'sbx_1:/workspace/in.bin']);
    expect(up.stderr).toBe('');
    expect(up.exitCode).toBe(0);
    expect(s.file.equals(data)).toBe(true);
    expect(s.requests.filter((r) => r.method === 'PUT')).toHaveLength(3);
    const down = await runCli(['cp', '--url', s.url, '--chunk-size', '4096', 'sbx_1:/workspace/in.bin', join(dir, 'out.bin')]);
    expect(down.exitCode).toBe(0);
    expect(readFileSync(join(dir, 'out.bin')).equals(data)).toBe(true);
  });

  test('refuses two local or two remote paths, and a missing local file', async () => {
    const dir = tempDir();
    expect((await runCli(['cp', 'a', 'b'])).stderr).toBe('error: INVALID_ARGUMENT: exactly one of SRC and DST must be ID:/path\n');
    const missing = await runCli(['cp', join(dir, 'nope'), 'sbx_1:/x']);
    expect(missing.stderr).toBe(`error: INVALID_ARGUMENT: cannot read ${join(dir, 'nope')}: ENOENT\n`);
    expect(missing.exitCode).toBe(1);
  });
});

describe('usage errors (in-process)', () => {
  test('a bad option value or a missing argument is `error: INVALID_ARGUMENT: ...` and a non-zero exit', async () => {
    const badSize = await runCli(['sandbox', 'create', '--memory', 'lots']);
    expect(badSize.stderr).toMatch(/^error: INVALID_ARGUMENT: option '--memory <size>' argument 'lots' is invalid\. expected a size like 64k, 512m, 2g or a number of bytes, got 'lots'\n/);
    expect(badSize.exitCode).not.toBe(0);
    const missing = await runCli(['exec']);
    expect(missing.stderr).toMatch(/^error: INVALID_ARGUMENT: missing required argument 'id'\n/);
    expect(missing.exitCode).not.toBe(0);
  });
});
