/**
 * The SDK against a real daemon (port 0 and its Unix socket, real agentd-init, the best
 * backend of this host): every SDK call, the NDJSON stream, errors mapped to classes.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import {
  AgentdClient,
  AuthenticationError,
  CancelledError,
  CommandExitError,
  ConflictError,
  InvalidArgumentError,
  NotFoundError,
  Sandbox,
  SandboxOperationError,
  type ExecChunk,
} from '../src/index.js';
import { unixSocketFetch } from '../src/node.js';
import { e2eSkipReason, startTestDaemon, type TestDaemon } from './helpers/daemon.js';

const skipReason = e2eSkipReason();
if (skipReason !== undefined) console.log(`skipping SDK e2e tests: ${skipReason}`);

describe.skipIf(skipReason !== undefined)('SDK against a real daemon', () => {
  let d: TestDaemon;
  let client: AgentdClient;

  beforeAll(async () => {
    d = await startTestDaemon();
    client = new AgentdClient({ baseUrl: d.url, apiKey: d.adminKey });
  }, 60_000);

  afterAll(async () => {
    await d?.close();
  }, 60_000);

  /** A sandbox for one test, destroyed at its end even when it fails. */
  async function withSandbox(body: (sbx: Sandbox) => Promise<void>, labels: Record<string, string> = {}): Promise<void> {
    const sbx = await Sandbox.create({ client, labels });
    try {
      await body(sbx);
    } finally {
      await sbx.destroy().catch(() => undefined);
    }
  }

  test('exec: exit code, stdout/stderr, env, cwd, stdin bytes; execOrThrow throws CommandExitError', async () => {
    await withSandbox(async (sbx) => {
      const r = await sbx.exec('echo "$GREETING"; pwd; cat; echo oops >&2; exit 3', { env: { GREETING: 'hi there' }, cwd: '/tmp', stdin: new Uint8Array([0x61, 0x62, 0x0a]) });
      expect(r).toMatchObject({ exitCode: 3, signal: null, stdout: 'hi there\n/tmp\nab\n', stderr: 'oops\n', timedOut: false });
      const argv = await sbx.exec(['printf', '%s|', 'a b', '$HOME']);
      expect(argv.stdout).toBe('a b|$HOME|');
      const err = await sbx.execOrThrow('exit 5').catch((e: unknown) => e);
      expect(err).toBeInstanceOf(CommandExitError);
      expect((err as CommandExitError).exitCode).toBe(5);
    });
  });

  test('exec is binary-safe and reports signals and timeouts', async () => {
    await withSandbox(async (sbx) => {
      const r = await sbx.exec(String.raw`printf '\000\377\376A\n\342\202'`);
      expect([...r.stdoutBytes]).toEqual([0, 0xff, 0xfe, 0x41, 0x0a, 0xe2, 0x82]);
      const killed = await sbx.exec('kill -9 $$');
      expect(killed).toMatchObject({ exitCode: null, signal: 'SIGKILL', timedOut: false });
      const started = performance.now();
      const slow = await sbx.exec('sleep 30', { timeoutMs: 300 });
      expect(slow.timedOut).toBe(true);
      expect(performance.now() - started).toBeLessThan(10_000);
    });
  });

  test('stream: typed chunks arrive while the command runs, UTF-8 split across writes stays intact', async () => {
    await withSandbox(async (sbx) => {
      const chunks: ExecChunk[] = [];
      const stamps: number[] = [];
      // '€' is e2 82 ac: the first two bytes, a pause, then the last one.
      for await (const c of sbx.exec.stream(String.raw`printf 'a\342\202'; sleep 0.4; printf '\254b'; printf err >&2`)) {
        chunks.push(c);
        stamps.push(performance.now());
      }
      expect(chunks[0]).toMatchObject({ type: 'start' });
      const exit = chunks.at(-1);
      if (exit?.type !== 'exit') throw new Error('no exit chunk last');
      expect(exit.result.exitCode).toBe(0);
      const stdout = chunks.flatMap((c) => (c.type === 'stdout' ? [c.text] : [])).join('');
      expect(stdout).toBe('a€b');
      expect(exit.result.stdout).toBe('a€b');
      expect(chunks.filter((c) => c.type === 'stderr').map((c) => (c.type === 'stderr' ? c.text : ''))).toEqual(['err']);
      const firstOut = chunks.findIndex((c) => c.type === 'stdout');
      expect((stamps.at(-1) ?? 0) - (stamps[firstOut] ?? 0)).toBeGreaterThan(300);
    });
  });

  test('exec with callbacks streams too; an abort mid-stream ends the call with CancelledError', async () => {
    await withSandbox(async (sbx) => {
      const seen: string[] = [];
      const r = await sbx.exec('echo one; echo two >&2', { onStdout: (t) => seen.push(`out:${t}`), onStderr: (t) => seen.push(`err:${t}`) });
      expect(r.exitCode).toBe(0);
      expect(seen.sort()).toEqual(['err:two\n', 'out:one\n']);

      const controller = new AbortController();
      const started = performance.now();
      const err = await sbx
        .exec('echo started; sleep 30', { signal: controller.signal, onStdout: () => controller.abort() })
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(CancelledError);
      expect(performance.now() - started).toBeLessThan(10_000);
      // Closing the stream cancels the command inside the sandbox: no `sleep 30` survives.
      const count = (what: string): string => String.raw`for p in /proc/[0-9]*; do tr '\0' ' ' < $p/cmdline 2>/dev/null; echo; done | grep -c '^${what}' || true`;
      const countSleepers = count('sleep 30');
      // The counter sees a running sleep (so a 0 below means something).
      expect((await sbx.exec(`sleep 29 & sleep 0.2; ${count('sleep 29')}; kill $!`)).stdout.trim()).toBe('1');
      let survivors = '';
      for (let i = 0; i < 30; i++) {
        survivors = (await sbx.exec(countSleepers)).stdout.trim();
        if (survivors === '0') break;
        await new Promise((r) => setTimeout(r, 100));
      }
      expect(survivors).toBe('0');
    });
  });

  test('breaking out of a stream closes it and the daemon cancels the command', async () => {
    await withSandbox(async (sbx) => {
      const count = String.raw`for p in /proc/[0-9]*; do tr '\0' ' ' < $p/cmdline 2>/dev/null; echo; done | grep -c '^sleep 31' || true`;
      for await (const c of sbx.stream('echo go; sleep 31')) {
        if (c.type === 'stdout') break;
      }
      let survivors = '';
      for (let i = 0; i < 30; i++) {
        survivors = (await sbx.exec(count)).stdout.trim();
        if (survivors === '0') break;
        await new Promise((r) => setTimeout(r, 100));
      }
      expect(survivors).toBe('0');
    });
  });

  test('priority below 5 runs the command at a higher nice value, plain and streamed; keepOutput: false keeps none', async () => {
    await withSandbox(async (sbx) => {
      // Field 19 of /proc/self/stat is the nice value (awk's own: it is the process reading it).
      const nice = "awk '{print $19}' /proc/self/stat";
      const base = Number((await sbx.exec(nice)).stdout.trim());
      expect((await sbx.exec(nice, { priority: 5 })).stdout.trim()).toBe(String(base));
      expect((await sbx.exec(nice, { priority: 3 })).stdout.trim()).toBe(String(Math.min(19, base + 8)));
      let streamed = '';
      let result;
      for await (const c of sbx.exec.stream(nice, { priority: 0, keepOutput: false })) {
        if (c.type === 'stdout') streamed += c.text;
        if (c.type === 'exit') result = c.result;
      }
      expect(streamed.trim()).toBe('19');
      expect([result?.exitCode, result?.stdout]).toEqual([0, '']);
      await expect(sbx.exec(nice, { priority: 11 })).rejects.toBeInstanceOf(InvalidArgumentError);
    });
  });

  test('an idempotency key makes a retried exec run once', async () => {
    await withSandbox(async (sbx) => {
      const key = `k-${Date.now()}`;
      const first = await sbx.exec('echo x >> /tmp/count; wc -l < /tmp/count', { idempotencyKey: key });
      const second = await sbx.exec('echo x >> /tmp/count; wc -l < /tmp/count', { idempotencyKey: key });
      expect(first.stdout.trim()).toBe('1');
      expect(second.stdout).toBe(first.stdout);
      expect((await sbx.files.read('/tmp/count')).split('\n').filter(Boolean)).toHaveLength(1);
    });
  });

  test('files: binary round trip, ranges, edit, list, stat, mkdir, remove, errors with errno', async () => {
    await withSandbox(async (sbx) => {
      const bytes = new Uint8Array(70_000);
      for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 31 + 7) & 0xff;
      expect(await sbx.files.write('/workspace/deep/dir/blob.bin', bytes, { createDirs: true, mode: 0o600 })).toEqual({ bytesWritten: bytes.length, fileSize: bytes.length });
      expect(await sbx.files.readBytes('/workspace/deep/dir/blob.bin')).toEqual(bytes);
      const range = await sbx.files.readRange('/workspace/deep/dir/blob.bin', { offset: 100, limit: 10 });
      expect(range).toEqual({ bytes: bytes.slice(100, 110), fileSize: bytes.length, eof: false });
      const stat = await sbx.files.stat('/workspace/deep/dir/blob.bin');
      expect(stat).toMatchObject({ kind: 'file', size: bytes.length, mode: 0o600 });

      await sbx.files.write('/workspace/t.txt', 'alpha beta alpha');
      await sbx.files.write('/workspace/t.txt', '\ngamma', { append: true });
      expect(await sbx.files.edit('/workspace/t.txt', 'alpha', 'ALPHA', { replaceAll: true })).toBe(2);
      expect(await sbx.files.read('/workspace/t.txt')).toBe('ALPHA beta ALPHA\ngamma');
      const notUnique = await sbx.files.edit('/workspace/t.txt', 'ALPHA', 'x').catch((e: unknown) => e);
      expect(notUnique).toBeInstanceOf(InvalidArgumentError);
      expect((notUnique as InvalidArgumentError).details.reason).toBe('old_string_not_unique');

      await sbx.files.mkdir('/workspace/a/b/c', { parents: true });
      const names = (await sbx.files.list('/workspace')).map((e) => `${e.name}:${e.kind}`).sort();
      expect(names).toEqual(['a:directory', 'deep:directory', 't.txt:file']);
      await sbx.files.remove('/workspace/deep', { recursive: true });
      expect(await sbx.files.exists('/workspace/deep')).toBe(false);
      expect(await sbx.files.exists('/workspace/t.txt')).toBe(true);

      const missing = await sbx.files.read('/workspace/nope').catch((e: unknown) => e);
      expect(missing).toBeInstanceOf(SandboxOperationError);
      expect((missing as SandboxOperationError).errno).toBe('ENOENT');
      const noProgram = await sbx.exec(['/no/such/program']).catch((e: unknown) => e);
      expect(noProgram).toMatchObject({ code: 'EXEC_FAILED', errno: 'ENOENT' });
    });
  });

  test('lifecycle: suspend blocks exec, resume, snapshot, fork, restore, destroy', async () => {
    await withSandbox(async (sbx) => {
      await sbx.files.write('/workspace/state.txt', 'v1');
      expect((await sbx.suspend()).state).toBe('suspended');
      const blocked = await sbx.exec('true').catch((e: unknown) => e);
      expect(blocked).toBeInstanceOf(ConflictError);
      expect((blocked as ConflictError).code).toBe('SANDBOX_SUSPENDED');
      expect((await sbx.resume()).state).toBe('running');

      const snap = await sbx.snapshot({ name: 'v1' });
      expect(snap).toMatchObject({ sandboxId: sbx.id, name: 'v1' });
      await sbx.files.write('/workspace/state.txt', 'v2');
      const child = await sbx.fork({ snapshotId: snap.id });
      try {
        expect(child.id).not.toBe(sbx.id);
        expect(await child.files.read('/workspace/state.txt')).toBe('v1');
      } finally {
        await child.destroy();
      }
      await sbx.restore(snap.id);
      expect(await sbx.files.read('/workspace/state.txt')).toBe('v1');
      expect((await client.listSnapshots()).map((s) => s.id)).toContain(snap.id);
    });
  });

  test('await using destroys the sandbox at the end of the scope', async () => {
    let id = '';
    {
      await using sbx = await Sandbox.create({ client });
      id = sbx.id;
      expect((await Sandbox.connect(id, { client })).info.state).toBe('running');
    }
    await expect(Sandbox.connect(id, { client })).rejects.toBeInstanceOf(NotFoundError);
  });

  test('list filters by label; connect to a missing sandbox is NotFoundError', async () => {
    const tag = `t${Date.now()}`;
    await withSandbox(async (sbx) => {
      const listed = await Sandbox.list({ client, labels: { run: tag } });
      expect(listed.map((s) => s.id)).toEqual([sbx.id]);
      expect(listed[0]?.labels).toEqual({ run: tag });
    }, { run: tag });
    await expect(Sandbox.connect('sbx_doesnotexist0000', { client })).rejects.toBeInstanceOf(NotFoundError);
  });

  test('auth: no key and a wrong key are AuthenticationError; another tenant sees NOT_FOUND', async () => {
    await expect(Sandbox.list({ baseUrl: d.url, retry: false })).rejects.toBeInstanceOf(AuthenticationError);
    await expect(Sandbox.list({ baseUrl: d.url, apiKey: 'agd_nope_nope' })).rejects.toBeInstanceOf(AuthenticationError);
    const other = await client.createKey({ subject: 'mallory', tenant: 'other', roles: ['user'] });
    const otherClient = new AgentdClient({ baseUrl: d.url, apiKey: other.secret ?? '' });
    await withSandbox(async (sbx) => {
      await expect(Sandbox.connect(sbx.id, { client: otherClient })).rejects.toBeInstanceOf(NotFoundError);
      await expect(otherClient.exec(sbx.id, 'true')).rejects.toBeInstanceOf(NotFoundError);
      expect((await otherClient.listSandboxes()).map((s) => s.id)).not.toContain(sbx.id);
    });
    await client.revokeKey(other.id);
    await expect(otherClient.listSandboxes()).rejects.toBeInstanceOf(AuthenticationError);
  });

  test('bad parameters are InvalidArgumentError', async () => {
    await withSandbox(async (sbx) => {
      const err = await sbx.exec('true', { timeoutMs: 0 }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(InvalidArgumentError);
      expect((err as InvalidArgumentError).message).toContain('timeout_ms');
    });
  });

  test('over the Unix socket (peer credentials): create, stream, files, sessions, destroy', async () => {
    const socketClient = new AgentdClient({ baseUrl: 'http://localhost', fetch: unixSocketFetch(d.socketPath) });
    await using sbx = await Sandbox.create({ client: socketClient });
    const chunks: string[] = [];
    for await (const c of sbx.stream(['sh', '-c', 'echo a; sleep 0.1; echo b'])) if (c.type === 'stdout') chunks.push(c.text);
    expect(chunks.join('')).toBe('a\nb\n');
    await sbx.files.write('/workspace/s.txt', new Uint8Array([1, 2, 3]));
    expect(await sbx.files.readBytes('/workspace/s.txt')).toEqual(new Uint8Array([1, 2, 3]));

    const session = await socketClient.createSession({ sandboxId: sbx.id });
    expect(session).toMatchObject({ sandboxId: sbx.id, state: 'attached' });
    expect((await socketClient.detachSession(session.id)).state).toBe('detached');
    expect((await socketClient.attachSession(session.id)).state).toBe('attached');
    expect((await socketClient.listSessions()).map((s) => s.id)).toContain(session.id);
    await socketClient.closeSession(session.id);
  });

  test('audit records what the SDK did, and capabilities are listed', async () => {
    await withSandbox(async (sbx) => {
      await sbx.exec('true');
      const events = await client.audit({ limit: 50 });
      expect(events.some((e) => e.sandboxId === sbx.id && e.capability === 'shell.exec.v1' && e.status === 'ok')).toBe(true);
    });
    const caps = (await client.capabilities()).map((c) => c.name);
    expect(caps).toEqual(expect.arrayContaining(['shell.exec.v1', 'fs.read.v1', 'fs.write.v1', 'fs.edit.v1']));
  });
});
