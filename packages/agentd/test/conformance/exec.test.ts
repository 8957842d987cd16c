/**
 * Conformance, exec: every available backend runs commands the same way through the REST API
 * (exit codes, signals, every byte value on both streams, stdin, env, cwd, timeouts that kill
 * the whole tree, large output). One daemon and one sandbox per backend.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { binaryFrames, type TestDaemon } from '../daemon/harness.js';
import { allBytes, countInside, createSandbox, exec, forEachSubject, hostPidsRunning, markerNumber, sh, startSubjectDaemon, until } from './harness.js';

forEachSubject('exec', (s) => {
  let d: TestDaemon;
  let id: string;
  beforeAll(async () => {
    d = await startSubjectDaemon(s);
    id = await createSandbox(d);
  }, 120_000);
  afterAll(async () => {
    await d?.close();
  });

  it('reports exit codes and the signal that ended a command', async () => {
    for (const code of [0, 1, 3, 255]) expect((await exec(d, id, { command: `exit ${code}` })).exit_code).toBe(code);
    for (const sig of ['TERM', 'KILL', 'INT']) {
      const r = await exec(d, id, { command: `kill -${sig} $$` });
      expect(r.exit_code, r.stderr).toBeNull();
      expect(r.signal).toBe(`SIG${sig}`);
    }
    const argv = await exec(d, id, { argv: ['sh', '-c', 'echo "$0 $1"', 'a b', 'c'] });
    expect(argv.stdout).toBe('a b c\n');
  });

  it('a program that cannot start is EXEC_FAILED with its errno', async () => {
    const r = await d.call('POST', `/v1/sandboxes/${id}/exec`, { body: { argv: ['/no/such/program'] } });
    expect(r.status, r.text).toBe(422);
    expect(r.body.error.code).toBe('EXEC_FAILED');
    expect(r.body.error.details.errno).toBe('ENOENT');
  });

  it('carries all 256 byte values on stdout and stderr, and on stdin', async () => {
    const bytes = allBytes(64);
    const put = await d.call('PUT', `/v1/sandboxes/${id}/files?path=bytes.bin`, { raw: bytes });
    expect(put.status, put.text).toBe(200);
    const both = await exec(d, id, { command: 'cat bytes.bin; cat bytes.bin >&2', output_encoding: 'base64' });
    expect(both.encoding).toBe('base64');
    expect(Buffer.from(both.stdout, 'base64').equals(bytes)).toBe(true);
    expect(Buffer.from(both.stderr, 'base64').equals(bytes)).toBe(true);
    const echoed = await exec(d, id, { argv: ['cat'], stdin: bytes.toString('base64'), stdin_encoding: 'base64', output_encoding: 'base64' });
    expect(Buffer.from(echoed.stdout, 'base64').equals(bytes)).toBe(true);
    expect((await exec(d, id, { command: 'wc -c', stdin: 'hello\n' })).stdout.trim()).toBe('6');
  });

  it("sets the request's env over the sandbox's, and passes nothing of the daemon's own environment", async () => {
    const r = await exec(d, id, { command: 'printf "%s|%s" "$CONFORM_X" "$HOME"; env', env: { CONFORM_X: 'a b=c' } });
    expect(r.stdout.startsWith('a b=c|')).toBe(true);
    expect(r.stdout.split('|')[1]?.split('\n')[0]).not.toBe('');
    // The test process (and so the daemon) runs with VITEST set: no command may see it.
    expect(process.env.VITEST).toBeDefined();
    expect(r.stdout).not.toMatch(/^VITEST=/m);
    const own = await createSandbox(d, { env: { CONFORM_S: 'sandbox', CONFORM_O: 'sandbox' } });
    const o = await exec(d, own, { command: 'printf "%s %s" "$CONFORM_S" "$CONFORM_O"', env: { CONFORM_O: 'request' } });
    expect(o.stdout).toBe('sandbox request');
    expect((await d.call('DELETE', `/v1/sandboxes/${own}`)).status).toBe(204);
  });

  it('runs in the cwd asked for, relative to the default one', async () => {
    const home = (await sh(d, id, 'pwd')).trim();
    await sh(d, id, 'mkdir -p sub/dir');
    expect((await sh(d, id, 'pwd', { cwd: 'sub/dir' })).trim()).toBe(`${home}/sub/dir`);
    expect((await sh(d, id, 'pwd', { cwd: `${home}/sub` })).trim()).toBe(`${home}/sub`);
    const bad = await d.call('POST', `/v1/sandboxes/${id}/exec`, { body: { command: 'pwd', cwd: 'no-such-dir' } });
    expect(bad.status, bad.text).toBe(422);
    expect(bad.body.error.code).toBe('EXEC_FAILED');
  });

  it('a timeout kills the whole tree: a setsid grandchild that ignores SIGTERM is gone', async () => {
    const n = markerNumber();
    // Two grandchildren, both ignoring SIGTERM, one in its own session; the leader waits for ever.
    const command = `setsid sh -c 'trap "" TERM; exec sleep ${n}' & sh -c 'trap "" TERM; sleep ${n}; true' & trap "" TERM; wait`;
    const started = await d.call('POST', `/v1/sandboxes/${id}/commands`, { body: { command, timeout_ms: 6000 } });
    expect(started.status, started.text).toBe(201);
    const cmd = started.body.id as string;
    // The count sees them while they run (so the final zero means gone, not unseen).
    expect(await until(async () => (await sh(d, id, countInside(n))).trim() === '2', 5000)).toBe(true);
    let state: { state: string; exit?: { timed_out?: boolean } } = { state: 'running' };
    expect(await until(async () => {
      state = (await d.call('GET', `/v1/sandboxes/${id}/commands/${cmd}`)).body;
      return state.state !== 'running';
    }, 30_000)).toBe(true);
    expect(state.exit?.timed_out).toBe(true);
    expect((await sh(d, id, countInside(n))).trim()).toBe('0');
    expect(await hostPidsRunning(`sleep ${n}`)).toEqual([]);
  }, 60_000);

  it('a non-streamed exec brings 8 MiB back whole; a streamed one 12 MiB in binary frames', async () => {
    const size = 8 * 1024 * 1024;
    const r = await exec(d, id, { command: `head -c ${size} /dev/zero | tr '\\0' a`, max_output_bytes: size });
    expect(r.output_truncated).toBe(false);
    expect(r.stdout.length).toBe(size);
    expect(/^a+$/.test(r.stdout)).toBe(true);
    const big = 12 * 1024 * 1024;
    const st = await d.call('POST', `/v1/sandboxes/${id}/exec`, {
      body: { command: `head -c ${big} /dev/zero; echo done >&2` },
      headers: { accept: 'application/vnd.agentd.exec-frames' },
    });
    expect(st.status).toBe(200);
    const frames = binaryFrames(st.bytes);
    const out = frames.filter((f) => f.type === 'stdout').reduce((n, f) => n + (f.bytes?.length ?? 0), 0);
    const err = Buffer.concat(frames.filter((f) => f.type === 'stderr').map((f) => f.bytes ?? Buffer.alloc(0))).toString();
    expect(out).toBe(big);
    expect(err).toBe('done\n');
    expect(frames.at(-1)).toMatchObject({ type: 'exit', exit_code: 0, output_truncated: false });
  }, 60_000);
});
