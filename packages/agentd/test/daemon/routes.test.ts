import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ERROR_CODES } from '../../src/core/codes.js';
import { binaryFrames, ndjson, startTestDaemon, type Answer, type TestDaemon } from './harness.js';

/** Every REST route against a real daemon (namespace backend, allow-all workstation profile). */
describe('REST routes (real daemon, namespace backend)', () => {
  let d: TestDaemon;
  let sbx: string;
  beforeAll(async () => {
    d = await startTestDaemon({}, process.env.AGENTD_TEST_LOG ? { logger: { debug() {}, info() {}, warn: (o, m) => console.log('WARN', m, o), error: (o, m) => console.log('ERROR', m, o) } } : {});
    const c = await d.call('POST', '/v1/sandboxes', { body: { labels: { team: 'a' } } });
    expect(c.status).toBe(201);
    sbx = c.body.id;
  });
  afterAll(async () => {
    await d?.close();
  });

  const expectError = (a: Answer, code: keyof typeof ERROR_CODES): void => {
    expect(a.body?.error?.code, JSON.stringify(a.body)).toBe(code);
    expect(a.status).toBe(ERROR_CODES[code].httpStatus);
    expect(typeof a.body.error.message).toBe('string');
    expect(a.body.error.retryable).toBe(ERROR_CODES[code].retryable);
  };

  describe('system', () => {
    it('GET /healthz, /readyz', async () => {
      expect((await d.call('GET', '/healthz')).body).toEqual({ status: 'ok' });
      const r = await d.call('GET', '/readyz');
      expect(r.status).toBe(200);
      expect(r.body.checks).toMatchObject({ state: 'ok', backend: 'ok' });
    });
    it('GET /metrics has the daemon metrics', async () => {
      await d.call('POST', `/v1/sandboxes/${sbx}/exec`, { body: { argv: ['true'] } });
      const m = await d.call('GET', '/metrics');
      expect(m.status).toBe(200);
      expect(m.text).toMatch(/agentd_intents_total\{capability="shell\.exec\.v1",status="ok",code="OK"\} [1-9]/);
      expect(m.text).toMatch(/agentd_exec_duration_seconds_count [1-9]/);
      expect(m.text).toMatch(/agentd_sandboxes\{state="running"\} [1-9]/);
      expect(m.text).toContain('agentd_pool_hits_total');
    });
    it('GET /openapi.json lists exactly the registered routes', async () => {
      const doc = (await d.call('GET', '/openapi.json')).body;
      expect(doc.openapi).toBe('3.1.0');
      const documented = Object.entries(doc.paths as Record<string, Record<string, unknown>>).flatMap(([p, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${p}`));
      // The drift check: what fastify registered == what the document says.
      const registered = [...d.daemon.routes];
      expect(registered.length).toBeGreaterThan(30);
      expect([...documented].sort()).toEqual([...registered].sort());
    });
    it('GET /v1/capabilities lists the capabilities with strict JSON Schemas', async () => {
      const r = await d.call('GET', '/v1/capabilities');
      const names = (r.body.capabilities as Array<{ name: string }>).map((c) => c.name).sort();
      expect(names).toEqual(['fs.edit.v1', 'fs.list.v1', 'fs.mkdir.v1', 'fs.read.v1', 'fs.remove.v1', 'fs.rename.v1', 'fs.stat.v1', 'fs.write.v1', 'shell.exec.v1']);
      for (const c of r.body.capabilities) expect(c.params_schema.additionalProperties).toBe(false);
    });
    it('unknown route -> 404 NOT_FOUND envelope', async () => {
      expectError(await d.call('GET', '/v1/nope'), 'NOT_FOUND');
    });
  });

  describe('sandboxes', () => {
    it('create {} gives the profile defaults; get/list with filters', async () => {
      const c = await d.call('POST', '/v1/sandboxes', { body: { labels: { team: 'b' }, ttl_ms: 600000 } });
      expect(c.status).toBe(201);
      expect(c.body).toMatchObject({ state: 'running', backend: 'namespace', profile: 'workstation', tenant: 'default', labels: { team: 'b' } });
      expect(c.body.expires_at_ms).toBeGreaterThan(Date.now());
      const g = await d.call('GET', `/v1/sandboxes/${c.body.id}`);
      expect(g.body.id).toBe(c.body.id);
      expect(g.body.usage.pids).toBeGreaterThanOrEqual(1);
      const byLabel = await d.call('GET', '/v1/sandboxes?label=team=b');
      expect(byLabel.body.sandboxes.map((s: { id: string }) => s.id)).toEqual([c.body.id]);
      const byState = await d.call('GET', '/v1/sandboxes?state=running&backend=namespace');
      expect(byState.body.sandboxes.length).toBeGreaterThanOrEqual(2);
      const none = await d.call('GET', '/v1/sandboxes?state=suspended');
      expect(none.body.sandboxes).toEqual([]);
      expect((await d.call('DELETE', `/v1/sandboxes/${c.body.id}`)).status).toBe(204);
      expectError(await d.call('GET', `/v1/sandboxes/${c.body.id}`), 'NOT_FOUND');
    });
    it('create errors: unknown field, wrong type, unknown backend', async () => {
      expectError(await d.call('POST', '/v1/sandboxes', { body: { colour: 'red' } }), 'INVALID_ARGUMENT');
      expectError(await d.call('POST', '/v1/sandboxes', { body: { ttl_ms: 'soon' } }), 'INVALID_ARGUMENT');
      expectError(await d.call('POST', '/v1/sandboxes', { body: { backend: 'nonesuch' } }), 'UNKNOWN_BACKEND');
      expectError(await d.call('GET', '/v1/sandboxes?state=bogus'), 'INVALID_ARGUMENT');
      expectError(await d.call('DELETE', '/v1/sandboxes/sbx_missing'), 'NOT_FOUND');
    });
    it('suspend stops a sandbox (exec refused), resume continues it; start of a running one is a no-op', async () => {
      const c = await d.call('POST', '/v1/sandboxes', { body: {} });
      const id = c.body.id;
      const s = await d.call('POST', `/v1/sandboxes/${id}/suspend`);
      expect(s.body.state).toBe('suspended');
      expectError(await d.call('POST', `/v1/sandboxes/${id}/exec`, { body: { argv: ['true'] } }), 'SANDBOX_SUSPENDED');
      const r = await d.call('POST', `/v1/sandboxes/${id}/resume`);
      expect(r.body.state).toBe('running');
      expect((await d.call('POST', `/v1/sandboxes/${id}/exec`, { body: { argv: ['true'] } })).body.exit_code).toBe(0);
      const again = await d.call('POST', `/v1/sandboxes/${id}/start`);
      expect(again.status).toBe(200);
      expect(again.body.state).toBe('running');
      await d.call('DELETE', `/v1/sandboxes/${id}`);
    });
    it('DELETE ?keep_files=true keeps the files; start on a destroyed sandbox is a CONFLICT', async () => {
      const c = await d.call('POST', '/v1/sandboxes', { body: {} });
      const id = c.body.id;
      await d.call('PUT', `/v1/sandboxes/${id}/files?path=kept.txt`, { raw: 'still here' });
      expect((await d.call('DELETE', `/v1/sandboxes/${id}?keep_files=true`)).status).toBe(204);
      const g = await d.call('GET', `/v1/sandboxes/${id}`);
      expect(g.body.state).toBe('destroyed');
      // The default disk limit keeps the files in the sandbox's own image (unmounted while it does not run).
      const { execFileSync } = await import('node:child_process');
      expect(execFileSync('debugfs', ['-R', 'cat /workspace/kept.txt', `${d.home}/sandboxes/${id}/disk.img`], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })).toBe('still here');
      expectError(await d.call('POST', `/v1/sandboxes/${id}/start`), 'CONFLICT');
    });
    it('snapshot, restore, fork, list and delete snapshots', async () => {
      const id = (await d.call('POST', '/v1/sandboxes', { body: {} })).body.id;
      await d.call('PUT', `/v1/sandboxes/${id}/files?path=a.txt`, { raw: 'v1' });
      const snap = await d.call('POST', `/v1/sandboxes/${id}/snapshot`, { body: { name: 'first' } });
      expect(snap.status).toBe(201);
      expect(snap.body).toMatchObject({ sandbox_id: id, name: 'first' });
      expect(snap.body.size_bytes).toBeGreaterThanOrEqual(2);
      await d.call('PUT', `/v1/sandboxes/${id}/files?path=a.txt`, { raw: 'v2' });
      await d.call('PUT', `/v1/sandboxes/${id}/files?path=b.txt`, { raw: 'new' });
      const r = await d.call('POST', `/v1/sandboxes/${id}/restore`, { body: { snapshot_id: snap.body.id } });
      expect(r.status).toBe(200);
      expect(r.body.state).toBe('running');
      expect((await d.call('GET', `/v1/sandboxes/${id}/files?path=a.txt`)).text).toBe('v1');
      expectError(await d.call('GET', `/v1/sandboxes/${id}/files/stat?path=b.txt`), 'FS_ERROR');
      const f = await d.call('POST', `/v1/sandboxes/${id}/fork`, { body: { snapshot_id: snap.body.id } });
      expect(f.status).toBe(201);
      expect(f.body.id).not.toBe(id);
      expect((await d.call('GET', `/v1/sandboxes/${f.body.id}/files?path=a.txt`)).text).toBe('v1');
      const fNow = await d.call('POST', `/v1/sandboxes/${id}/fork`, { body: {} });
      expect(fNow.status).toBe(201);
      const list = await d.call('GET', '/v1/snapshots');
      expect(list.body.snapshots.map((s: { id: string }) => s.id)).toContain(snap.body.id);
      expect((await d.call('DELETE', `/v1/snapshots/${snap.body.id}`)).status).toBe(204);
      expectError(await d.call('DELETE', `/v1/snapshots/${snap.body.id}`), 'NOT_FOUND');
      expectError(await d.call('POST', `/v1/sandboxes/${id}/restore`, { body: { snapshot_id: snap.body.id } }), 'NOT_FOUND');
      expectError(await d.call('POST', `/v1/sandboxes/${id}/restore`, { body: {} }), 'INVALID_ARGUMENT');
      for (const s of [id, f.body.id, fNow.body.id]) await d.call('DELETE', `/v1/sandboxes/${s}`);
    });
  });

  describe('exec', () => {
    it('JSON result: exit code, stdout/stderr, env, cwd, stdin, args', async () => {
      const r = await d.call('POST', `/v1/sandboxes/${sbx}/exec`, {
        body: { command: 'cat; echo "$FOO $1" >&2; pwd; exit 3', args: ['arg1'], env: { FOO: 'bar' }, cwd: '/tmp', stdin: 'from-stdin\n' },
      });
      expect(r.status).toBe(200);
      expect(r.body).toMatchObject({ exit_code: 3, signal: null, stdout: 'from-stdin\n/tmp\n', stderr: 'bar arg1\n', encoding: 'utf8', timed_out: false, resource_limited: false });
      expect(r.body.duration_ms).toBeGreaterThan(0);
    });
    it('timeout kills the command and says so', async () => {
      const r = await d.call('POST', `/v1/sandboxes/${sbx}/exec`, { body: { argv: ['sleep', '30'], timeout_ms: 300 } });
      expect(r.body.timed_out).toBe(true);
      expect(r.body.exit_code).toBeNull();
      expect(r.body.duration_ms).toBeLessThan(5000);
    });
    it('output cap truncates and base64 output encoding works', async () => {
      const r = await d.call('POST', `/v1/sandboxes/${sbx}/exec`, { body: { command: 'head -c 5000 /dev/zero', max_output_bytes: 100, output_encoding: 'base64' } });
      expect(r.body.output_truncated).toBe(true);
      expect(r.body.encoding).toBe('base64');
      expect(Buffer.from(r.body.stdout, 'base64')).toEqual(Buffer.alloc(100));
      expect(r.body.resource_usage.output_bytes).toBe(5000);
    });
    it('errors: both command and argv, unknown field, timeout out of range, missing program, unknown sandbox', async () => {
      expectError(await d.call('POST', `/v1/sandboxes/${sbx}/exec`, { body: { command: 'true', argv: ['true'] } }), 'INVALID_ARGUMENT');
      expectError(await d.call('POST', `/v1/sandboxes/${sbx}/exec`, { body: { argv: ['true'], shell: true } }), 'INVALID_ARGUMENT');
      expectError(await d.call('POST', `/v1/sandboxes/${sbx}/exec`, { body: { argv: ['true'], timeout_ms: 600001 } }), 'INVALID_ARGUMENT');
      const missing = await d.call('POST', `/v1/sandboxes/${sbx}/exec`, { body: { argv: ['/no/such/program'] } });
      expectError(missing, 'EXEC_FAILED');
      expect(missing.body.error.details.errno).toBe('ENOENT');
      expectError(await d.call('POST', '/v1/sandboxes/sbx_nope/exec', { body: { argv: ['true'] } }), 'NOT_FOUND');
    });
    it('NDJSON stream: start, stdout/stderr frames in order, exit without output fields', async () => {
      const r = await d.call('POST', `/v1/sandboxes/${sbx}/exec?stream=1`, { body: { command: 'echo one; echo two >&2; echo three; exit 7' } });
      expect(r.status).toBe(200);
      expect(r.headers['content-type']).toContain('application/x-ndjson');
      const frames = ndjson(r.text);
      expect(frames[0]).toMatchObject({ type: 'start' });
      expect(frames[0]!.pid).toBeGreaterThan(0);
      const last = frames.at(-1)!;
      expect(last).toMatchObject({ type: 'exit', exit_code: 7, timed_out: false });
      expect(last).not.toHaveProperty('stdout');
      const out = frames.filter((f) => f.type === 'stdout').map((f) => Buffer.from(f.data ?? '', 'base64').toString()).join('');
      const err = frames.filter((f) => f.type === 'stderr').map((f) => Buffer.from(f.data ?? '', 'base64').toString()).join('');
      expect(out).toBe('one\nthree\n');
      expect(err).toBe('two\n');
      for (const f of frames.slice(1, -1)) expect(['stdout', 'stderr']).toContain(f.type);
    });
    it('NDJSON via Accept header; a start failure is a plain error answer, not a stream', async () => {
      const ok = await d.call('POST', `/v1/sandboxes/${sbx}/exec`, { body: { argv: ['echo', 'x'] }, headers: { accept: 'application/x-ndjson' } });
      expect(ndjson(ok.text).map((f) => f.type)).toEqual(['start', 'stdout', 'exit']);
      const bad = await d.call('POST', `/v1/sandboxes/${sbx}/exec?stream=1`, { body: { argv: ['/no/such'] } });
      expectError(bad, 'EXEC_FAILED');
    });
    it('binary frames (Accept: application/vnd.agentd.exec-frames): exact bytes, start and exit as JSON frames', async () => {
      // Every byte value, and more than one pipe buffer, so output spans several frames.
      const script = 'i=0; while [ $i -lt 400 ]; do printf "\\000\\001\\377\\n"; i=$((i+1)); done; head -c 300000 /dev/zero; echo err >&2; exit 5';
      const r = await d.call('POST', `/v1/sandboxes/${sbx}/exec`, { body: { command: script }, headers: { accept: 'application/vnd.agentd.exec-frames' } });
      expect(r.status).toBe(200);
      expect(r.headers['content-type']).toBe('application/vnd.agentd.exec-frames');
      const frames = binaryFrames(r.bytes);
      expect(frames[0]).toMatchObject({ type: 'start' });
      expect(frames.at(-1)).toMatchObject({ type: 'exit', exit_code: 5 });
      expect(frames.at(-1)).not.toHaveProperty('stdout');
      const out = Buffer.concat(frames.filter((f) => f.type === 'stdout').map((f) => f.bytes ?? Buffer.alloc(0)));
      const err = Buffer.concat(frames.filter((f) => f.type === 'stderr').map((f) => f.bytes ?? Buffer.alloc(0)));
      expect(out).toEqual(Buffer.concat([Buffer.from('\x00\x01\xff\n'.repeat(400), 'latin1'), Buffer.alloc(300000)]));
      expect(err.toString()).toBe('err\n');
      expect(frames.filter((f) => f.type === 'stdout').length).toBeGreaterThan(1);
      // The frames format wins over ?stream=1 when both are asked for; a start failure is still a plain error.
      const both = await d.call('POST', `/v1/sandboxes/${sbx}/exec?stream=1`, { body: { argv: ['true'] }, headers: { accept: 'application/vnd.agentd.exec-frames, application/x-ndjson;q=0.5' } });
      expect(binaryFrames(both.bytes).map((f) => f.type)).toEqual(['start', 'exit']);
      const bad = await d.call('POST', `/v1/sandboxes/${sbx}/exec`, { body: { argv: ['/no/such'] }, headers: { accept: 'application/vnd.agentd.exec-frames' } });
      expectError(bad, 'EXEC_FAILED');
    });
    it('NDJSON: a sandbox destroyed mid-stream ends the stream with an error frame', async () => {
      const victim = (await d.call('POST', '/v1/sandboxes', { body: {} })).body.id as string;
      const { request } = await import('node:http');
      const u = new URL(d.url);
      const text = await new Promise<string>((resolve, reject) => {
        let buf = '';
        let killed = false;
        const req = request({ host: u.hostname, port: u.port, method: 'POST', path: `/v1/sandboxes/${victim}/exec?stream=1`, headers: { 'content-type': 'application/json', ...d.authHeaders() } }, (res) => {
          res.on('data', (c: Buffer) => {
            buf += c.toString();
            if (!killed && buf.includes('"type":"stdout"')) {
              killed = true;
              void d.call('DELETE', `/v1/sandboxes/${victim}`);
            }
          });
          res.on('end', () => resolve(buf));
        });
        req.on('error', reject);
        req.end(JSON.stringify({ command: 'echo started; sleep 60' }));
      });
      const frames = ndjson(text);
      expect(frames[0]!.type).toBe('start');
      const last = frames.at(-1)!;
      expect(last.type, text).toBe('error');
      expect(last.error?.code).toBe('SANDBOX_DEAD');
    });
    it('a client that goes away cancels its command (whole tree killed)', async () => {
      const { request } = await import('node:http');
      const u = new URL(d.url);
      await new Promise<void>((resolve, reject) => {
        const req = request({ host: u.hostname, port: u.port, method: 'POST', path: `/v1/sandboxes/${sbx}/exec?stream=1`, headers: { 'content-type': 'application/json', ...d.authHeaders() } }, (res) => {
          res.once('data', () => {
            req.destroy();
            resolve();
          });
        });
        req.on('error', () => undefined);
        req.end(JSON.stringify({ command: 'sleep 77 & sleep 78; echo never' }));
        setTimeout(() => reject(new Error('no start frame')), 10_000);
      });
      let left = '';
      for (let i = 0; i < 100; i++) {
        left = (await d.call('POST', `/v1/sandboxes/${sbx}/exec`, { body: { command: 'pgrep -f "sleep 7[78]" || true' } })).body.stdout as string;
        if (left === '') break;
        await new Promise((r) => setTimeout(r, 100));
      }
      expect(left).toBe('');
      const audit = await d.call('GET', '/v1/audit?limit=20');
      expect(audit.body.events.some((e: { code: string; details: { command?: string } }) => e.code === 'CANCELLED' && e.details.command?.includes('sleep 77'))).toBe(true);
    });
    it('OOM kill is reported as resource_limited, code RESOURCE_LIMITED in intents', async () => {
      const c = await d.call('POST', '/v1/sandboxes', { body: { limits: { memory_bytes: 32 * 1024 * 1024 } } });
      expect(c.status).toBe(201);
      const hog = 'head -c 200000000 /dev/zero | tail -c 1 >/dev/null; x=$(head -c 100000000 /dev/zero | tr "\\0" a); echo done';
      const r = await d.call('POST', `/v1/sandboxes/${c.body.id}/exec`, { body: { command: hog, timeout_ms: 60000 } });
      expect(r.body.resource_limited, JSON.stringify(r.body)).toBe(true);
      const i = await d.call('POST', '/v1/intents', { body: { capability: 'shell.exec.v1', params: { command: hog, timeout_ms: 60000 }, sandbox_prefs: { sandbox_id: c.body.id } } });
      expect(i.body.code).toBe('RESOURCE_LIMITED');
      expect(i.body.result.output.resource_limited).toBe(true);
      await d.call('DELETE', `/v1/sandboxes/${c.body.id}`);
    });
  });

  describe('idempotency', () => {
    it('a retried exec with the same key returns the first result without running again', async () => {
      const body = { command: 'echo run >> /workspace/count.txt; wc -l < /workspace/count.txt' };
      const key = { 'idempotency-key': `k-${Date.now()}` };
      const first = await d.call('POST', `/v1/sandboxes/${sbx}/exec`, { body, headers: key });
      const second = await d.call('POST', `/v1/sandboxes/${sbx}/exec`, { body, headers: key });
      expect(first.body.stdout.trim()).toBe('1');
      expect(second.body).toEqual(first.body);
      const file = await d.call('GET', `/v1/sandboxes/${sbx}/files?path=/workspace/count.txt`);
      expect(file.text).toBe('run\n');
      const other = await d.call('POST', `/v1/sandboxes/${sbx}/exec`, { body: { command: 'echo different' }, headers: key });
      expectError(other, 'CONFLICT');
      const third = await d.call('POST', `/v1/sandboxes/${sbx}/exec`, { body, headers: { 'idempotency-key': 'another' } });
      expect(third.body.stdout.trim()).toBe('2');
    });
    it('intents honour metadata.idempotency_key', async () => {
      const intent = { capability: 'shell.exec', params: { command: 'echo x >> /workspace/i.txt; wc -l < /workspace/i.txt' }, sandbox_prefs: { sandbox_id: sbx }, metadata: { idempotency_key: 'intent-key' } };
      const a = await d.call('POST', '/v1/intents', { body: intent });
      const b = await d.call('POST', '/v1/intents', { body: intent });
      expect(a.body.result.stdout.trim()).toBe('1');
      expect(b.body).toEqual(a.body);
    });
  });

  describe('files', () => {
    it('write (binary-safe), read with offset/limit, stat, list, mkdir, edit, remove', async () => {
      const bin = Buffer.from([0, 1, 2, 255, 254, 10, 13, 0]);
      const w = await d.call('PUT', `/v1/sandboxes/${sbx}/files?path=dir/sub/bin.dat&create_dirs=true&mode=0600`, { raw: bin });
      expect(w.body).toEqual({ bytes_written: 8, file_size: 8 });
      const r = await d.call('GET', `/v1/sandboxes/${sbx}/files?path=dir/sub/bin.dat`);
      expect(r.headers['content-type']).toBe('application/octet-stream');
      expect(r.bytes).toEqual(bin);
      expect(r.headers['x-file-size']).toBe('8');
      expect(r.headers['x-eof']).toBe('true');
      const part = await d.call('GET', `/v1/sandboxes/${sbx}/files?path=dir/sub/bin.dat&offset=2&limit=3`);
      expect(part.bytes).toEqual(bin.subarray(2, 5));
      expect(part.headers['x-eof']).toBe('false');
      const ap = await d.call('PUT', `/v1/sandboxes/${sbx}/files?path=dir/sub/bin.dat&append=true`, { raw: 'xy' });
      expect(ap.body.file_size).toBe(10);
      const st = await d.call('GET', `/v1/sandboxes/${sbx}/files/stat?path=dir/sub/bin.dat`);
      expect(st.body).toMatchObject({ kind: 'file', size: 10, mode: 0o600 });
      expect((await d.call('POST', `/v1/sandboxes/${sbx}/files/mkdir`, { body: { path: 'dir/made', mode: 0o700 } })).status).toBe(204);
      const ls = await d.call('GET', `/v1/sandboxes/${sbx}/files/list?path=dir`);
      expect(ls.body.entries.map((e: { name: string; kind: string }) => `${e.name}:${e.kind}`).sort()).toEqual(['made:directory', 'sub:directory']);
      await d.call('PUT', `/v1/sandboxes/${sbx}/files?path=edit.txt`, { raw: 'a b a c' });
      const e1 = await d.call('POST', `/v1/sandboxes/${sbx}/files/edit`, { body: { path: 'edit.txt', old_string: 'b', new_string: 'B' } });
      expect(e1.body).toEqual({ replacements: 1 });
      const notUnique = await d.call('POST', `/v1/sandboxes/${sbx}/files/edit`, { body: { path: 'edit.txt', old_string: 'a', new_string: 'A' } });
      expectError(notUnique, 'INVALID_ARGUMENT');
      expect(notUnique.body.error.details).toMatchObject({ reason: 'old_string_not_unique', occurrences: 2 });
      const absent = await d.call('POST', `/v1/sandboxes/${sbx}/files/edit`, { body: { path: 'edit.txt', old_string: 'zzz', new_string: 'A' } });
      expect(absent.body.error.details.reason).toBe('old_string_not_found');
      const all = await d.call('POST', `/v1/sandboxes/${sbx}/files/edit`, { body: { path: 'edit.txt', old_string: 'a', new_string: 'A', replace_all: true } });
      expect(all.body).toEqual({ replacements: 2 });
      expect((await d.call('GET', `/v1/sandboxes/${sbx}/files?path=edit.txt`)).text).toBe('A B A c');
      expectError(await d.call('DELETE', `/v1/sandboxes/${sbx}/files?path=dir`), 'FS_ERROR');
      expect((await d.call('DELETE', `/v1/sandboxes/${sbx}/files?path=dir&recursive=true`)).status).toBe(204);
      const gone = await d.call('GET', `/v1/sandboxes/${sbx}/files/stat?path=dir`);
      expectError(gone, 'FS_ERROR');
      expect(gone.body.error.details.errno).toBe('ENOENT');
    });
    it('rename: atomic move, EEXIST without overwrite, a symlink moved not followed, bad body, denied with allow_writes: false', async () => {
      await d.call('PUT', `/v1/sandboxes/${sbx}/files?path=ren/a&create_dirs=true`, { raw: 'A' });
      await d.call('PUT', `/v1/sandboxes/${sbx}/files?path=ren/b`, { raw: 'B' });
      const clash = await d.call('POST', `/v1/sandboxes/${sbx}/files/rename`, { body: { from: 'ren/a', to: 'ren/b' } });
      expectError(clash, 'FS_ERROR');
      expect(clash.body.error.details.errno).toBe('EEXIST');
      expect((await d.call('POST', `/v1/sandboxes/${sbx}/files/rename`, { body: { from: 'ren/a', to: 'ren/b', overwrite: true } })).status).toBe(204);
      expect((await d.call('GET', `/v1/sandboxes/${sbx}/files?path=ren/b`)).text).toBe('A');
      expect((await d.call('GET', `/v1/sandboxes/${sbx}/files/stat?path=ren/a`)).body.error.details.errno).toBe('ENOENT');
      // A link is moved itself: its target stays where it is.
      await d.call('POST', `/v1/sandboxes/${sbx}/exec`, { body: { command: 'ln -s /workspace/ren/b /workspace/ren/link' } });
      expect((await d.call('POST', `/v1/sandboxes/${sbx}/files/rename`, { body: { from: 'ren/link', to: 'ren/link2' } })).status).toBe(204);
      expect((await d.call('GET', `/v1/sandboxes/${sbx}/files/stat?path=ren/link2&follow=false`)).body).toMatchObject({ kind: 'symlink', link_target: '/workspace/ren/b' });
      expect((await d.call('GET', `/v1/sandboxes/${sbx}/files?path=ren/b`)).text).toBe('A');
      expectError(await d.call('POST', `/v1/sandboxes/${sbx}/files/rename`, { body: { from: 'ren/b' } }), 'INVALID_ARGUMENT');
      expectError(await d.call('POST', `/v1/sandboxes/${sbx}/files/rename`, { body: { from: 'ren/b', to: 'x', extra: 1 } }), 'INVALID_ARGUMENT');
      const denied = await d.call('POST', '/v1/intents', { body: { capability: 'fs.rename.v1', params: { from: 'ren/b', to: 'ren/c' }, constraints: { allow_writes: false }, sandbox_prefs: { sandbox_id: sbx } } });
      expect(denied.body).toMatchObject({ status: 'denied', code: 'POLICY_DENIED' });
      expect((await d.call('GET', `/v1/sandboxes/${sbx}/files?path=ren/b`)).text).toBe('A');
    });
    it('errors: missing path, unknown query key, bad mode, read-only system path', async () => {
      expectError(await d.call('GET', `/v1/sandboxes/${sbx}/files`), 'INVALID_ARGUMENT');
      expectError(await d.call('GET', `/v1/sandboxes/${sbx}/files/list?path=.&extra=1`), 'INVALID_ARGUMENT');
      expectError(await d.call('PUT', `/v1/sandboxes/${sbx}/files?path=x&mode=999`, { raw: 'x' }), 'INVALID_ARGUMENT');
      const ro = await d.call('PUT', `/v1/sandboxes/${sbx}/files?path=/usr/evil`, { raw: 'x' });
      expectError(ro, 'FS_ERROR');
      expect(['EROFS', 'EACCES', 'EPERM']).toContain(ro.body.error.details.errno);
    });
  });

  describe('intents', () => {
    it('runs any capability; unknown capability, bad params, policy denial', async () => {
      const w = await d.call('POST', '/v1/intents', { body: { capability: 'fs.write.v1', params: { path: 'i.json', content: '{}' }, sandbox_prefs: { sandbox_id: sbx } } });
      expect(w.status).toBe(200);
      expect(w.body).toMatchObject({ status: 'ok', code: 'OK', result: { output: { bytes_written: 2 } }, sandbox_info: { id: sbx, reused: true } });
      expect(w.body.timing.total_time_ms).toBeGreaterThanOrEqual(0);
      expect(w.body.timing.exec_time_ms).toBeGreaterThanOrEqual(0);
      const unk = await d.call('POST', '/v1/intents', { body: { capability: 'net.fetch.v1', params: {} } });
      expect(unk.status).toBe(404);
      expect(unk.body.code).toBe('UNKNOWN_CAPABILITY');
      const bad = await d.call('POST', '/v1/intents', { body: { capability: 'fs.read.v1', params: { path: 'x', nope: 1 }, sandbox_prefs: { sandbox_id: sbx } } });
      expect(bad.status).toBe(400);
      expect(bad.body.code).toBe('INVALID_ARGUMENT');
      const denied = await d.call('POST', '/v1/intents', { body: { capability: 'fs.write.v1', params: { path: 'x', content: '' }, constraints: { allow_writes: false }, sandbox_prefs: { sandbox_id: sbx } } });
      expect(denied.status).toBe(403);
      expect(denied.body).toMatchObject({ status: 'denied', code: 'POLICY_DENIED' });
      expectError(await d.call('POST', '/v1/intents', { body: { params: {} } }), 'INVALID_ARGUMENT');
      const contradiction = await d.call('POST', '/v1/intents', { body: { capability: 'shell.exec.v1', params: { argv: ['true'] }, sandbox_prefs: { sandbox_id: sbx, require_fresh: true } } });
      expect(contradiction.body.code).toBe('INVALID_ARGUMENT');
    });
    it('without a sandbox id: a fresh sandbox (pool or new) destroyed after, unless persist', async () => {
      const before = (await d.call('GET', '/v1/sandboxes')).body.sandboxes.length;
      const r = await d.call('POST', '/v1/intents', { body: { capability: 'shell.exec.v1', params: { argv: ['hostname'] } } });
      expect(r.body.status).toBe('ok');
      expect(r.body.sandbox_info.reused).toBe(false);
      expect((await d.call('GET', '/v1/sandboxes')).body.sandboxes.length).toBe(before);
      const p = await d.call('POST', '/v1/intents', { body: { capability: 'shell.exec.v1', params: { argv: ['true'] }, sandbox_prefs: { persist: true, labels: { kept: 'yes' } } } });
      const kept = await d.call('GET', `/v1/sandboxes/${p.body.sandbox_info.id}`);
      expect(kept.body.labels).toEqual({ kept: 'yes' });
      await d.call('DELETE', `/v1/sandboxes/${p.body.sandbox_info.id}`);
    });
  });

  describe('sessions', () => {
    it('create (owning a new sandbox), get, list, detach, attach, close destroys the owned sandbox', async () => {
      const s = await d.call('POST', '/v1/sessions', { body: { sandbox: { labels: { s: '1' } }, idle_timeout_ms: 60000 } });
      expect(s.status).toBe(201);
      expect(s.body).toMatchObject({ state: 'attached', idle_timeout_ms: 60000 });
      const sid = s.body.id;
      expect((await d.call('GET', `/v1/sessions/${sid}`)).body.sandbox_id).toBe(s.body.sandbox_id);
      expect((await d.call('GET', '/v1/sessions')).body.sessions.map((x: { id: string }) => x.id)).toContain(sid);
      expect((await d.call('POST', `/v1/sessions/${sid}/detach`)).body.state).toBe('detached');
      expect((await d.call('POST', `/v1/sessions/${sid}/attach`)).body.state).toBe('attached');
      expect((await d.call('DELETE', `/v1/sessions/${sid}`)).status).toBe(204);
      expectError(await d.call('GET', `/v1/sandboxes/${s.body.sandbox_id}`), 'NOT_FOUND');
      expectError(await d.call('GET', `/v1/sessions/${sid}`), 'NOT_FOUND');
    });
    it('a session on an existing sandbox keeps it when closed; errors', async () => {
      const s = await d.call('POST', '/v1/sessions', { body: { sandbox_id: sbx } });
      expect(s.body.sandbox_id).toBe(sbx);
      await d.call('DELETE', `/v1/sessions/${s.body.id}`);
      expect((await d.call('GET', `/v1/sandboxes/${sbx}`)).body.state).toBe('running');
      expectError(await d.call('POST', '/v1/sessions', { body: { sandbox_id: 'sbx_nope' } }), 'NOT_FOUND');
      expectError(await d.call('POST', '/v1/sessions', { body: { sandbox_id: sbx, sandbox: {} } }), 'INVALID_ARGUMENT');
      expectError(await d.call('POST', '/v1/sessions/ses_nope/attach'), 'NOT_FOUND');
    });
  });

  describe('audit and keys', () => {
    it('audit records who, what, where and the result, never secrets', async () => {
      await d.call('POST', `/v1/sandboxes/${sbx}/exec`, { body: { argv: ['true'], env: { API_TOKEN: 'sekrit-value-123' }, stdin: 'stdin-secret-456' } });
      await d.call('PUT', `/v1/sandboxes/${sbx}/files?path=secret.txt`, { raw: 'file-content-secret-789' });
      // The whole log (the file's sandbox was created many audited operations ago): newest first, at most 1000.
      const a = await d.call('GET', '/v1/audit?limit=1000');
      const exec = a.body.events.find((e: { capability: string; details: { env_keys?: string[] } }) => e.capability === 'shell.exec.v1' && e.details.env_keys);
      expect(exec).toMatchObject({ subject: 'local', tenant: 'default', action: 'intent', sandbox_id: sbx, status: 'ok', code: 'OK' });
      expect(exec.details.env_keys).toEqual(['API_TOKEN']);
      expect(exec.details.exit_code).toBe(0);
      expect(a.text).not.toContain('sekrit-value-123');
      expect(a.text).not.toContain('stdin-secret-456');
      expect(a.text).not.toContain('file-content-secret');
      expect(a.body.events.some((e: { action: string }) => e.action === 'sandbox.create')).toBe(true);
      const since = await d.call('GET', `/v1/audit?since_ms=${Date.now() + 60000}`);
      expect(since.body.events).toEqual([]);
      expectError(await d.call('GET', '/v1/audit?limit=abc'), 'INVALID_ARGUMENT');
    });
    it('keys: create shows the secret once, list hides it, revoke, errors', async () => {
      const k = await d.call('POST', '/v1/keys', { body: { subject: 'bob', tenant: 't1', roles: ['user'] } });
      expect(k.status).toBe(201);
      expect(k.body.key).toMatch(/^agd_/);
      const ls = await d.call('GET', '/v1/keys');
      expect(ls.text).not.toContain(k.body.key);
      expect(ls.body.keys.map((x: { id: string }) => x.id)).toContain(k.body.id);
      expect((await d.call('DELETE', `/v1/keys/${k.body.id}`)).status).toBe(204);
      expectError(await d.call('DELETE', `/v1/keys/${k.body.id}`), 'NOT_FOUND');
      expectError(await d.call('POST', '/v1/keys', { body: { subject: 'bob' } }), 'INVALID_ARGUMENT');
    });
  });

  describe('Unix socket', () => {
    it('serves the same API on the socket, with its mode', async () => {
      const { stat } = await import('node:fs/promises');
      expect((await stat(d.socket)).mode & 0o777).toBe(0o660);
      expect((await d.call('GET', '/healthz', { unix: true })).body).toEqual({ status: 'ok' });
      const e = await d.call('POST', `/v1/sandboxes/${sbx}/exec`, { body: { argv: ['echo', 'via-unix'] }, unix: true });
      expect(e.body.stdout).toBe('via-unix\n');
      const s = await d.call('POST', `/v1/sandboxes/${sbx}/exec?stream=1`, { body: { argv: ['echo', 'x'] }, unix: true });
      expect(ndjson(s.text).map((f) => f.type)).toEqual(['start', 'stdout', 'exit']);
    });
  });
});
