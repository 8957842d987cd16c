/**
 * The stock `e2b` SDK (pinned devDependency) against a real daemon: the envd Connect-RPC
 * process and filesystem services (adapters/e2b/envd) through e2b-a's in-sandbox routing,
 * on the namespace backend. commands.run (foreground, background, envs, cwd, timeouts,
 * callbacks, exit codes), connect, list, kill, sendStdin; pty.create, sendInput, resize,
 * kill; files.list (depth), exists, getInfo, makeDir, rename, remove, watchDir, and the
 * watcher calls and StreamInput through a Connect client of our own (the SDK does not call them).
 */
import { createClient, type Client } from '@connectrpc/connect';
import { createConnectTransport } from '@connectrpc/connect-node';
import { CommandExitError, FileType, FilesystemEventType, InvalidArgumentError, NotFoundError, Sandbox, SandboxError, TimeoutError, type FilesystemEvent } from 'e2b';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { Filesystem } from '../../src/adapters/e2b/envd/gen/filesystem/filesystem_pb.js';
import { Process } from '../../src/adapters/e2b/envd/gen/process/process_pb.js';
import { startE2bDaemon, type E2bTestDaemon } from './harness.js';

async function waitFor<T>(what: string, fn: () => Promise<T | undefined> | T | undefined, ms = 15_000): Promise<T> {
  const until = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('envd process and filesystem services with the stock e2b SDK (real daemon, namespace backend)', () => {
  let d: E2bTestDaemon;
  let sbx: Sandbox;
  let other: Sandbox;

  /** A Connect client of our own for the calls the SDK does not make (watchers, StreamInput). */
  const rawClient = <S extends typeof Filesystem | typeof Process>(s: Sandbox, service: S, binary = false): Client<S> =>
    createClient(service, createConnectTransport({
      baseUrl: d.sandboxUrl, httpVersion: '1.1', useBinaryFormat: binary,
      interceptors: [(next) => (req) => {
        req.header.set('E2b-Sandbox-Id', s.sandboxId);
        req.header.set('E2b-Sandbox-Port', '49983');
        const token = (s as unknown as { envdAccessToken?: string }).envdAccessToken;
        if (token !== undefined) req.header.set('X-Access-Token', token);
        return next(req);
      }],
    }));

  beforeAll(async () => {
    d = await startE2bDaemon();
    sbx = await Sandbox.create({ ...d.opts });
    other = await Sandbox.create({ ...d.opts });
  }, 60_000);
  afterAll(async () => {
    await sbx?.kill().catch(() => undefined);
    await other?.kill().catch(() => undefined);
    await d?.close();
  });

  test('commands.run in the foreground: stdout and stderr callbacks, envs, cwd, exit code 0', async () => {
    const out: string[] = [];
    const err: string[] = [];
    const r = await sbx.commands.run('echo "$FOO"; pwd; echo oops >&2', { envs: { FOO: 'bar baz' }, cwd: '/tmp', onStdout: (s) => { out.push(s); }, onStderr: (s) => { err.push(s); } });
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toBe('bar baz\n/tmp\n');
    expect(r.stderr).toBe('oops\n');
    expect(out.join('')).toBe('bar baz\n/tmp\n');
    expect(err.join('')).toBe('oops\n');
  });

  test('a foreground run loses no output to a slow reader (8 MB, far past the 1 MiB ring): the command waits for its reader', async () => {
    let seen = 0;
    // The SDK awaits its callbacks: a slow callback is a slow reader.
    const slow = async (s: string): Promise<void> => {
      seen += s.length;
      await new Promise((r) => setTimeout(r, 20));
    };
    const r = await sbx.commands.run("head -c 8000000 /dev/zero | tr '\\0' a; echo; echo end", { onStdout: slow });
    expect(r.stdout.length).toBe(8_000_005);
    expect(r.stdout.endsWith('a\nend\n')).toBe(true);
    expect(seen).toBe(8_000_005);
  }, 60_000);

  test('a non-zero exit is CommandExitError with the exit code, stdout and stderr', async () => {
    const e = await sbx.commands.run('echo partial; echo bad >&2; exit 3').catch((x: unknown) => x);
    expect(e).toBeInstanceOf(CommandExitError);
    const ce = e as CommandExitError;
    expect(ce.exitCode).toBe(3);
    expect(ce.stdout).toBe('partial\n');
    expect(ce.stderr).toBe('bad\n');
    expect(ce.error).toBe('exit status 3');
  });

  test('timeoutMs: the SDK gets TimeoutError and the command is killed (not listed any more)', async () => {
    const e = await sbx.commands.run('echo started; sleep 30', { timeoutMs: 1000 }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(TimeoutError);
    await waitFor('the timed out command gone from the list', async () => {
      const list = await sbx.commands.list();
      return list.some((p) => p.args.includes('echo started; sleep 30')) ? undefined : true;
    });
  });

  test('background command with stdin: list shows it with its tagless config, sendStdin feeds it, wait returns its output', async () => {
    const h = await sbx.commands.run('read line; echo "got $line"', { background: true, stdin: true, envs: { K: 'v' }, cwd: '/tmp' });
    expect(h.pid).toBeGreaterThan(0);
    const listed = (await sbx.commands.list()).find((p) => p.pid === h.pid);
    expect(listed).toMatchObject({ cmd: '/bin/bash', args: ['-l', '-c', 'read line; echo "got $line"'], envs: { K: 'v' }, cwd: '/tmp' });
    await sbx.commands.sendStdin(h.pid, 'hello\n');
    const r = await h.wait();
    expect(r.stdout).toBe('got hello\n');
  });

  test('sendStdin to a command started without stdin is refused (stdin is /dev/null), the command unharmed', async () => {
    const h = await sbx.commands.run('sleep 0.3; echo done', { background: true });
    const e = await sbx.commands.sendStdin(h.pid, 'x').catch((x: unknown) => x);
    expect(e).toBeInstanceOf(SandboxError);
    expect((e as Error).message).toContain('CONFLICT');
    expect((await h.wait()).stdout).toBe('done\n');
  });

  test('a timeoutMs above the daemon\'s limits.max_exec_timeout_ms is refused, not silently shortened', async () => {
    await expect(sbx.commands.run('true', { timeoutMs: 86_400_000 })).rejects.toBeInstanceOf(InvalidArgumentError);
  });

  test('the Connect binary format works too (Process.Start and List with protobuf bodies)', async () => {
    const proc = rawClient(sbx, Process, true);
    const got: string[] = [];
    let end: { exitCode: number; status: string } | undefined;
    for await (const r of proc.start({ process: { cmd: '/bin/sh', args: ['-c', 'echo bin; exit 4'], envs: {} }, tag: 'bin-tag' })) {
      const ev = r.event?.event;
      if (ev?.case === 'data' && ev.value.output.case === 'stdout') got.push(Buffer.from(ev.value.output.value).toString('utf8'));
      if (ev?.case === 'end') end = { exitCode: ev.value.exitCode, status: ev.value.status };
    }
    expect(got.join('')).toBe('bin\n');
    expect(end).toEqual({ exitCode: 4, status: 'exit status 4' });
    const h = proc.start({ process: { cmd: '/bin/sleep', args: ['5'], envs: {} }, tag: 'sleeper' });
    const it = h[Symbol.asyncIterator]();
    const first = await it.next();
    expect(first.value?.event?.event.case).toBe('start');
    const { processes } = await proc.list({});
    expect(processes.find((p) => p.tag === 'sleeper')?.config?.cmd).toBe('/bin/sleep');
    await proc.sendSignal({ process: { selector: { case: 'tag', value: 'sleeper' } }, signal: 9 });
    for (;;) {
      const r = await it.next();
      if (r.done === true || r.value.event?.event.case === 'end') break;
    }
  });

  test('commands.connect to a running command: its output from now on, then its end', async () => {
    const h = await sbx.commands.run('sleep 0.5; for i in 1 2 3; do echo line$i; sleep 0.2; done', { background: true });
    await h.disconnect();
    const seen: string[] = [];
    const c = await sbx.commands.connect(h.pid, { onStdout: (s) => { seen.push(s); } });
    expect(c.pid).toBe(h.pid);
    const r = await c.wait();
    expect(r.exitCode).toBe(0);
    expect(seen.join('')).toContain('line3\n');
  });

  test('commands.kill: true and the command ends killed; a second kill (or an unknown pid) is false', async () => {
    const h = await sbx.commands.run('sleep 60', { background: true });
    expect(await sbx.commands.kill(h.pid)).toBe(true);
    const e = await h.wait().catch((x: unknown) => x);
    expect(e).toBeInstanceOf(CommandExitError);
    expect((e as CommandExitError).error).toMatch(/^signal: killed/);
    expect(await sbx.commands.kill(h.pid)).toBe(false);
    expect(await sbx.commands.kill(999_999)).toBe(false);
    await expect(sbx.commands.connect(999_999)).rejects.toBeInstanceOf(NotFoundError);
  });

  test('an unknown user is refused (InvalidArgumentError), never run as someone else', async () => {
    await expect(sbx.commands.run('id -u', { user: 'nobody' })).rejects.toBeInstanceOf(InvalidArgumentError);
    const r = await sbx.commands.run('id -u', { user: 'user' });
    expect(r.stdout.trim()).toBe('1000');
  });

  test('a pid of another sandbox is not reachable: kill is false there and the process lives on', async () => {
    const h = await other.commands.run('sleep 30', { background: true });
    // The sandboxes have their own pid namespaces: a pid may repeat, but never names the other's command.
    const mine = (await sbx.commands.list()).map((p) => p.pid);
    if (!mine.includes(h.pid)) expect(await sbx.commands.kill(h.pid)).toBe(false);
    expect((await other.commands.list()).some((p) => p.pid === h.pid)).toBe(true);
    expect(await other.commands.kill(h.pid)).toBe(true);
  });

  test('pty.create, sendInput, resize, kill', async () => {
    let data = '';
    const h = await sbx.pty.create({ cols: 80, rows: 24, onData: (b) => { data += Buffer.from(b).toString('utf8'); } });
    await sbx.pty.sendInput(h.pid, new TextEncoder().encode('echo $((6*7))\n'));
    await waitFor('42 on the terminal', () => (data.includes('42') ? true : undefined));
    await sbx.pty.resize(h.pid, { cols: 100, rows: 30 });
    await sbx.pty.sendInput(h.pid, new TextEncoder().encode('stty size\n'));
    await waitFor('the new size', () => (data.includes('30 100') ? true : undefined));
    expect(await sbx.pty.kill(h.pid)).toBe(true);
    await expect(h.wait()).rejects.toBeInstanceOf(CommandExitError);
  });

  test('files: makeDir (true, then false), list with depth, exists, getInfo, rename, remove', async () => {
    expect(await sbx.files.makeDir('/tmp/fx/a/b')).toBe(true);
    expect(await sbx.files.makeDir('/tmp/fx/a/b')).toBe(false);
    await sbx.commands.run('printf hello > /tmp/fx/a/f.txt && chmod 640 /tmp/fx/a/f.txt && ln -s f.txt /tmp/fx/a/link');
    const one = await sbx.files.list('/tmp/fx');
    expect(one.map((e) => e.path)).toEqual(['/tmp/fx/a']);
    const deep = await sbx.files.list('/tmp/fx', { depth: 3 });
    expect(deep.map((e) => e.path).sort()).toEqual(['/tmp/fx/a', '/tmp/fx/a/b', '/tmp/fx/a/f.txt', '/tmp/fx/a/link']);
    const f = deep.find((e) => e.name === 'f.txt');
    expect(f).toMatchObject({ type: FileType.FILE, size: 5, permissions: '-rw-r-----', mode: 0o640, owner: 'user', group: 'user' });
    expect(f?.modifiedTime).toBeInstanceOf(Date);
    expect(deep.find((e) => e.name === 'link')).toMatchObject({ type: FileType.SYMLINK, symlinkTarget: 'f.txt' });
    expect(await sbx.files.exists('/tmp/fx/a/f.txt')).toBe(true);
    expect(await sbx.files.exists('/tmp/fx/nope')).toBe(false);
    const info = await sbx.files.getInfo('/tmp/fx/a');
    expect(info).toMatchObject({ name: 'a', type: FileType.DIR, path: '/tmp/fx/a', permissions: expect.stringMatching(/^d/) });
    const moved = await sbx.files.rename('/tmp/fx/a/f.txt', '/tmp/fx/g.txt');
    expect(moved).toMatchObject({ name: 'g.txt', path: '/tmp/fx/g.txt', size: 5 });
    await sbx.files.remove('/tmp/fx/a');
    expect(await sbx.files.exists('/tmp/fx/a')).toBe(false);
    await expect(sbx.files.getInfo('/tmp/fx/a')).rejects.toBeInstanceOf(NotFoundError);
    await expect(sbx.files.list('/tmp/fx', { depth: 0 })).rejects.toBeInstanceOf(InvalidArgumentError);
    // The daemon's own bound: no walk of the whole tree in one call.
    await expect(sbx.files.list('/', { depth: 65 })).rejects.toBeInstanceOf(InvalidArgumentError);
  });

  test('a path is resolved inside the sandbox: a host file outside it is not found', async () => {
    // The daemon's own home (config, state database) exists on the host, never in the sandbox.
    expect(await sbx.files.exists(`${d.d.home}/agentd.token`)).toBe(false);
    expect(await sbx.files.exists(`/../../..${d.d.home}`)).toBe(false);
  });

  test('watchDir (recursive): create, write, rename and remove events', async () => {
    await sbx.files.makeDir('/tmp/w/sub');
    const events: FilesystemEvent[] = [];
    const h = await sbx.files.watchDir('/tmp/w', (e) => { events.push(e); }, { recursive: true });
    await sbx.commands.run('echo x > /tmp/w/sub/new.txt && mv /tmp/w/sub/new.txt /tmp/w/moved.txt && rm /tmp/w/moved.txt');
    await waitFor('the remove event', () => (events.some((e) => e.type === FilesystemEventType.REMOVE && e.name === 'moved.txt') ? true : undefined));
    await h.stop();
    const names = events.map((e) => `${e.type}:${e.name}`);
    expect(names).toContain('create:sub/new.txt');
    expect(names).toContain('write:sub/new.txt');
    expect(names).toContain('rename:sub/new.txt');
    expect(names).toContain('create:moved.txt');
    await expect(sbx.files.watchDir('/tmp/nowhere', () => undefined)).rejects.toBeInstanceOf(NotFoundError);
  });

  test('watchDir: removing the watched directory ends the watch, onExit gets NotFoundError', async () => {
    await sbx.files.makeDir('/tmp/gone');
    let exited: unknown = 'not yet';
    await sbx.files.watchDir('/tmp/gone', () => undefined, { onExit: (err) => { exited = err; } });
    await sbx.files.remove('/tmp/gone');
    await waitFor('the watch to end', () => (exited === 'not yet' ? undefined : true));
    expect(exited).toBeInstanceOf(NotFoundError);
  });

  test('files.write and files.read (text and bytes, over e2b-a\'s HTTP routes) meet the RPCs', async () => {
    await sbx.files.write('/tmp/rw/t.txt', 'hello text');
    const bytes = new Uint8Array([0, 1, 2, 255, 254]);
    await sbx.files.write('/tmp/rw/b.bin', bytes.buffer);
    expect(await sbx.files.read('/tmp/rw/t.txt')).toBe('hello text');
    expect(Array.from(await sbx.files.read('/tmp/rw/b.bin', { format: 'bytes' }))).toEqual([0, 1, 2, 255, 254]);
    const listed = await sbx.files.list('/tmp/rw');
    expect(listed.map((e) => [e.name, e.size]).sort()).toEqual([['b.bin', 5], ['t.txt', 10]]);
  });

  test('WatchDir include_entry (our own client: SDK 2.51 asks envd 0.6.3 for it): create events carry the entry', async () => {
    const fs = rawClient(sbx, Filesystem);
    await sbx.files.makeDir('/tmp/we');
    const ac = new AbortController();
    const stream = fs.watchDir({ path: '/tmp/we', recursive: false, includeEntry: true }, { signal: ac.signal });
    const it = stream[Symbol.asyncIterator]();
    expect((await it.next()).value?.event.case).toBe('start');
    await sbx.commands.run('printf 123 > /tmp/we/e.txt');
    let entry: { name: string; path: string; size: bigint } | undefined;
    while (entry === undefined) {
      const r = await it.next();
      if (r.done === true) break;
      const ev = r.value.event;
      if (ev.case === 'filesystem' && ev.value.name === 'e.txt' && ev.value.entry !== undefined) entry = ev.value.entry;
    }
    ac.abort();
    expect(entry).toMatchObject({ name: 'e.txt', path: '/tmp/we/e.txt' });
  });

  test('CreateWatcher, GetWatcherEvents, RemoveWatcher (Connect client of our own)', async () => {
    const fs = rawClient(sbx, Filesystem);
    await sbx.files.makeDir('/tmp/wat');
    const { watcherId } = await fs.createWatcher({ path: '/tmp/wat', recursive: false });
    await sbx.commands.run('touch /tmp/wat/a');
    const got = await waitFor('a watcher event', async () => {
      const { events } = await fs.getWatcherEvents({ watcherId });
      return events.length > 0 ? events : undefined;
    });
    expect(got[0]?.name).toBe('a');
    await fs.removeWatcher({ watcherId });
    await expect(fs.getWatcherEvents({ watcherId })).rejects.toMatchObject({ code: 5 /* not_found */ });
    // Another sandbox's caller cannot read it either.
    const { watcherId: w2 } = await fs.createWatcher({ path: '/tmp/wat', recursive: false });
    await expect(rawClient(other, Filesystem).getWatcherEvents({ watcherId: w2 })).rejects.toMatchObject({ code: 5 });
    await fs.removeWatcher({ watcherId: w2 });
  });

  test('an unknown method is unimplemented and a malformed body invalid_argument: Connect errors, no stack trace', async () => {
    const headers = {
      'content-type': 'application/json', 'e2b-sandbox-id': sbx.sandboxId, 'e2b-sandbox-port': '49983',
      'x-access-token': (sbx as unknown as { envdAccessToken: string }).envdAccessToken,
    };
    const nope = await fetch(`${d.sandboxUrl}/process.Process/Nope`, { method: 'POST', headers, body: '{}' });
    expect(nope.status).toBe(404);
    expect(await nope.json()).toMatchObject({ code: 'unimplemented' });
    const bad = await fetch(`${d.sandboxUrl}/filesystem.Filesystem/Stat`, { method: 'POST', headers, body: '{"path": 12, "nope": [' });
    expect(bad.status).toBe(400);
    const body = await bad.text();
    expect(JSON.parse(body)).toMatchObject({ code: 'invalid_argument' });
    expect(body).not.toMatch(/\bat .*\.(js|ts):\d+/);
  });

  test('StreamInput (client streaming over HTTP/1.1) feeds a command started with stdin', async () => {
    const proc = rawClient(sbx, Process);
    const h = await sbx.commands.run('head -c 6', { background: true, stdin: true });
    async function* msgs() {
      yield { event: { case: 'start' as const, value: { process: { selector: { case: 'pid' as const, value: h.pid } } } } };
      yield { event: { case: 'data' as const, value: { input: { input: { case: 'stdin' as const, value: new TextEncoder().encode('abc') } } } } };
      yield { event: { case: 'data' as const, value: { input: { input: { case: 'stdin' as const, value: new TextEncoder().encode('def') } } } } };
    }
    await proc.streamInput(msgs());
    const r = await h.wait();
    expect(r.stdout).toBe('abcdef');
  });
});
