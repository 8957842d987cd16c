/**
 * agentd-init at the wire level (docs/protocol.md): the real binary, raw frames in,
 * decoded frames out.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm, stat, symlink, writeFile, chmod } from 'node:fs/promises';
import { constants } from 'node:os';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect } from 'vitest';
import { EXEC_FLAGS, PROTOCOL_VERSION, SCOPE, STREAM, WRITE_FLAGS } from '../../src/channel/frames.js';
import { exec, groupMembers, HAVE_INIT, INIT_PATH, killAll, processesWith, rawTest as test, sleepers, startRawInit, token, waitUntil } from './raw-init.js';

const E = constants.errno;

describe.skipIf(!HAVE_INIT)('agentd-init protocol', () => {
  test('sends READY with the daemon protocol version, its pid and its version, then answers PING with PONG', async ({ init }) => {
    const ready = await init.answer('READY', 0);
    expect(ready.protocolVersion).toBe(PROTOCOL_VERSION);
    expect(ready.pid).toBe(init.pid);
    expect(ready.version).toMatch(/^agentd-init \d+\.\d+\.\d+$/);
    init.send({ type: 'PING', id: 41 });
    const pong = await init.answer('PONG', 41);
    expect(pong.id).toBe(41);
  });

  test('runs a command: STARTED, exact stdout and stderr, EXIT with its code and rusage', async ({ init }) => {
    init.send(exec(5, ['sh', '-c', 'printf "hello\\0world"; printf oops >&2; exit 7']));
    const started = await init.answer('STARTED', 5);
    expect(started.pid).toBeGreaterThan(1);
    const { stdout, stderr, exit } = await init.collect(5);
    expect(stdout).toEqual(Buffer.from('hello\0world'));
    expect(stderr.toString()).toBe('oops');
    expect(exit.exitCode).toBe(7);
    expect(exit.signal).toBe(0);
    expect(exit.maxRssKib).toBeGreaterThan(0);
  });

  test('MERGE_STDERR sends both streams as STDOUT; STDIN_PIPE feeds stdin until an empty STDIN closes it', async ({ init }) => {
    init.send(exec(6, ['sh', '-c', 'cat; echo to-err >&2'], { flags: EXEC_FLAGS.STDIN_PIPE | EXEC_FLAGS.MERGE_STDERR }));
    await init.answer('STARTED', 6);
    init.send({ type: 'STDIN', id: 100, execId: 6, data: Buffer.from('piped ') });
    await init.answer('OK', 100);
    init.send({ type: 'STDIN', id: 101, execId: 6, data: Buffer.alloc(0) });
    await init.answer('OK', 101);
    const { stdout, stderr, exit } = await init.collect(6);
    expect(stdout.toString()).toBe('piped to-err\n');
    expect(stderr.length).toBe(0);
    expect(exit.exitCode).toBe(0);
    init.send({ type: 'STDIN', id: 102, execId: 6, data: Buffer.from('late') });
    expect((await init.answer('ERROR', 102)).errno).toBe(E.ESRCH);
  });

  test('a process gets only fds 0-2: descriptors the init inherited are not passed on', async () => {
    const init = await startRawInit({ extraFd: true });
    try {
      // The shell's fd 3 would be the inherited pipe; readlink (another process) looks at it.
      init.send(exec(4, ['sh', '-c', 'readlink /proc/$$/fd/3 || echo none']));
      const { stdout } = await init.collect(4);
      expect(stdout.toString()).toBe('none\n');
    } finally {
      await init.close();
    }
  });

  test('exec failures are ERROR frames with the real errno', async ({ init }) => {
    init.send(exec(7, ['agentd-no-such-program-xyz']));
    const enoent = await init.answer('ERROR', 7);
    expect(enoent.errno).toBe(E.ENOENT);
    expect(enoent.message).toContain('agentd-no-such-program-xyz');

    const script = join(init.root, 'not-executable.sh');
    await writeFile(script, '#!/bin/sh\necho no\n');
    await chmod(script, 0o644);
    init.send(exec(8, [script]));
    expect((await init.answer('ERROR', 8)).errno).toBe(E.EACCES);

    init.send(exec(9, ['true'], { cwd: script }));
    const notdir = await init.answer('ERROR', 9);
    expect(notdir.errno).toBe(E.ENOTDIR);
    expect(notdir.message).toContain('cwd');

    init.send(exec(10, ['true'], { cwd: join(init.root, 'missing-dir') }));
    expect((await init.answer('ERROR', 10)).errno).toBe(E.ENOENT);

    // PATH comes from the exec's env, not from the init's.
    init.send(exec(11, ['sh', '-c', 'true'], { env: ['PATH=/nonexistent'] }));
    expect((await init.answer('ERROR', 11)).errno).toBe(E.ENOENT);
  });

  test('a busy request id is EBUSY; bad payloads are EINVAL; unknown types ENOSYS', async ({ init }) => {
    const marker = token();
    init.send(exec(12, ['sleep', marker]));
    await init.answer('STARTED', 12);
    init.send({ type: 'PING', id: 12 });
    expect((await init.answer('ERROR', 12)).errno).toBe(E.EBUSY);
    init.send(exec(13, [], {}));
    expect((await init.answer('ERROR', 13)).errno).toBe(E.EINVAL);
    init.send(exec(0, ['true']));
    expect((await init.answer('ERROR', 0)).errno).toBe(E.EINVAL);
    init.send({ type: 'SIGNAL', id: 14, execId: 12, signo: 9, scope: 7 } as never);
    expect((await init.answer('ERROR', 14)).errno).toBe(E.EINVAL);
    const unknown = Buffer.from([5, 0, 0, 0, 0x7f, 15, 0, 0, 0]);
    init.sendRaw(unknown);
    expect((await init.answer('ERROR', 15)).errno).toBe(E.ENOSYS);
    init.send({ type: 'SIGNAL', id: 16, execId: 12, signo: 9, scope: SCOPE.group });
    await init.answer('OK', 16);
    const { exit } = await init.collect(12);
    expect(exit.signal).toBe(9);
    expect(exit.exitCode).toBe(-1);
  });

  test('backpressure: without CREDIT a writer blocks at the window; CREDIT lets it finish', async ({ init }) => {
    const total = 2_000_000;
    const window = 8192;
    init.send(exec(20, ['sh', '-c', `head -c ${total} /dev/zero; echo done >&2`], { window }));
    const { pid } = await init.answer('STARTED', 20);
    await new Promise((r) => setTimeout(r, 400));
    const early = init.frames.filter((f) => f.id === 20 && f.type === 'STDOUT');
    const sent = early.reduce((n, f) => n + (f.type === 'STDOUT' ? f.data.length : 0), 0);
    expect(sent).toBeLessThanOrEqual(window);
    expect(init.frames.some((f) => f.id === 20 && f.type === 'EXIT')).toBe(false);
    // The writer (head, a child of the leader sh) is alive and blocked writing into the full pipe.
    const children = (await readFile(`/proc/${pid}/task/${pid}/children`, 'utf8')).trim().split(/\s+/).map(Number);
    const writer = children[0] as number;
    expect(writer).toBeGreaterThan(0);
    expect(await readFile(`/proc/${writer}/wchan`, 'utf8')).toMatch(/pipe_write|pipe_wait/);

    // Grant credit as the data arrives, as the daemon's consumer would.
    let got = 0;
    let exitSeen = false;
    let stderr = '';
    while (!exitSeen) {
      const m = await init.take((f) => f.id === 20, 10_000);
      if (m.type === 'STDOUT') {
        got += m.data.length;
        expect(m.data.length).toBeLessThanOrEqual(window);
        init.send({ type: 'CREDIT', id: 0, execId: 20, stream: STREAM.stdout, bytes: m.data.length });
      } else if (m.type === 'STDERR') {
        stderr += m.data.toString();
        init.send({ type: 'CREDIT', id: 0, execId: 20, stream: STREAM.stderr, bytes: m.data.length });
      } else if (m.type === 'EXIT') {
        exitSeen = true;
        expect(m.exitCode).toBe(0);
      }
    }
    expect(got).toBe(total);
    expect(stderr).toBe('done\n');
  });

  test('EXIT waits until the bytes left in the pipe at exit are let out by CREDIT', async ({ init }) => {
    init.send(exec(25, ['head', '-c', '5000', '/dev/zero'], { window: 4096 }));
    await init.answer('STARTED', 25);
    const first = await init.answer('STDOUT', 25);
    expect(first.data.length).toBe(4096);
    await new Promise((r) => setTimeout(r, 300));
    expect(init.frames.some((f) => f.id === 25)).toBe(false);
    init.send({ type: 'CREDIT', id: 0, execId: 25, stream: STREAM.stdout, bytes: 4096 });
    const { stdout, exit } = await init.collect(25);
    expect(stdout.length).toBe(904);
    expect(exit.exitCode).toBe(0);
  });

  test('SIGNAL tree kills the group, setsid descendants and background children: no survivor', async ({ init }) => {
    const marker = token();
    const script = `sleep ${marker} & setsid sh -c 'sleep ${marker} & sleep ${marker}; :' & sh -c 'sleep ${marker}; :' ; wait`;
    init.send(exec(30, ['sh', '-c', script]));
    await init.answer('STARTED', 30);
    try {
      const found = await waitUntil(() => sleepers(marker), (p) => p.length >= 4);
      expect(found.length).toBe(4);
      init.send({ type: 'SIGNAL', id: 31, execId: 30, signo: 15, scope: SCOPE.tree });
      await init.answer('OK', 31);
      const { exit } = await init.collect(30);
      expect(exit.signal).toBe(15);
      expect(await waitUntil(() => processesWith(marker), (p) => p.length === 0)).toEqual([]);
    } finally {
      await killAll(marker);
    }
  });

  test('a tree SIGKILL after EXIT still reaches a setsid descendant that ignored SIGTERM', async ({ init }) => {
    const marker = token();
    const script = `setsid sh -c 'trap "" TERM; sleep ${marker}; :' & sleep ${marker}; :`;
    init.send(exec(32, ['sh', '-c', script]));
    await init.answer('STARTED', 32);
    try {
      await waitUntil(() => sleepers(marker), (p) => p.length >= 2);
      init.send({ type: 'SIGNAL', id: 33, execId: 32, signo: 15, scope: SCOPE.tree });
      await init.answer('OK', 33);
      await init.collect(32);
      // The setsid'd sh ignored SIGTERM (so does its sleep, which inherited the ignored
      // disposition) and lost its parent: both survive the first signal.
      const left = await waitUntil(() => processesWith(marker), (p) => p.length <= 2);
      expect(left.length).toBe(2);
      expect((await sleepers(marker)).length).toBe(1);
      init.send({ type: 'SIGNAL', id: 34, execId: 32, signo: 9, scope: SCOPE.tree });
      await init.answer('OK', 34);
      expect(await waitUntil(() => processesWith(marker), (p) => p.length === 0)).toEqual([]);
    } finally {
      await killAll(marker);
    }
  });

  test('a background process outlives its exec; EXIT comes at once; a later group SIGNAL ends it', async ({ init }) => {
    const marker = token();
    init.send(exec(40, ['sh', '-c', `sleep ${marker} >/dev/null 2>&1 & echo started`]));
    const { pid } = await init.answer('STARTED', 40);
    try {
      const t0 = Date.now();
      const { stdout, exit } = await init.collect(40);
      expect(Date.now() - t0).toBeLessThan(2000);
      expect(stdout.toString()).toBe('started\n');
      expect(exit.exitCode).toBe(0);
      // (The background sh may not have exec'd sleep yet when EXIT arrives.)
      expect((await waitUntil(() => sleepers(marker), (p) => p.length >= 1)).length).toBe(1);
      expect(await groupMembers(pid)).toEqual(await sleepers(marker));
      init.send({ type: 'SIGNAL', id: 41, execId: 40, signo: 9, scope: SCOPE.group });
      await init.answer('OK', 41);
      expect(await waitUntil(() => processesWith(marker), (p) => p.length === 0)).toEqual([]);
      // Once the group's last zombie is reaped, the group is gone.
      expect(await waitUntil(() => groupMembers(pid), (p) => p.length === 0)).toEqual([]);
      init.send({ type: 'SIGNAL', id: 42, execId: 40, signo: 9, scope: SCOPE.group });
      expect((await init.answer('ERROR', 42)).errno).toBe(E.ESRCH);
    } finally {
      await killAll(marker);
    }
  });

  test('stdin end of file kills everything the init started and the init exits 0', async () => {
    const init = await startRawInit();
    const marker = token();
    try {
      init.send(exec(50, ['sh', '-c', `sleep ${marker} & setsid sleep ${marker} & sleep ${marker}`]));
      await init.answer('STARTED', 50);
      init.send(exec(51, ['sleep', marker]));
      await init.answer('STARTED', 51);
      expect((await waitUntil(() => sleepers(marker), (p) => p.length >= 4)).length).toBe(4);
      init.child.stdin?.end();
      const { code } = await init.exited;
      expect(code).toBe(0);
      expect(await waitUntil(() => processesWith(marker), (p) => p.length === 0)).toEqual([]);
    } finally {
      await killAll(marker);
      await init.close();
    }
  });

  test('SHUTDOWN kills everything, answers OK and exits 0', async () => {
    const init = await startRawInit();
    const marker = token();
    try {
      init.send(exec(60, ['sh', '-c', `sleep ${marker} & sleep ${marker}`]));
      await init.answer('STARTED', 60);
      await waitUntil(() => sleepers(marker), (p) => p.length >= 2);
      init.send({ type: 'SHUTDOWN', id: 61 });
      await init.answer('OK', 61);
      expect((await init.exited).code).toBe(0);
      expect(await waitUntil(() => processesWith(marker), (p) => p.length === 0)).toEqual([]);
    } finally {
      await killAll(marker);
      await init.close();
    }
  });

  test('file operations stay beneath --fs-root, through .. and symlinks alike', async ({ init }) => {
    init.send({ type: 'FS_WRITE', id: 70, path: 'a/b/c.txt', flags: WRITE_FLAGS.CREATE_DIRS, mode: 0o600, data: Buffer.from('hello') });
    expect(await init.answer('FS_WRITTEN', 70)).toMatchObject({ bytesWritten: 5, fileSize: 5 });
    init.send({ type: 'FS_WRITE', id: 71, path: '/a/b/c.txt', flags: WRITE_FLAGS.APPEND, mode: 0o600, data: Buffer.from(' world') });
    expect(await init.answer('FS_WRITTEN', 71)).toMatchObject({ bytesWritten: 6, fileSize: 11 });
    expect(await readFile(join(init.root, 'a/b/c.txt'), 'utf8')).toBe('hello world');
    expect((await stat(join(init.root, 'a/b/c.txt'))).mode & 0o777).toBe(0o600);

    init.send({ type: 'FS_READ', id: 72, path: '../../../a/b/c.txt', offset: 6, limit: 100 });
    expect(await init.answer('FS_DATA', 72)).toMatchObject({ fileSize: 11, eof: 1, data: Buffer.from('world') });

    // A symlink pointing out of the root resolves inside it.
    await symlink('/etc/passwd', join(init.root, 'escape'));
    init.send({ type: 'FS_READ', id: 73, path: 'escape', offset: 0, limit: 100 });
    expect((await init.answer('ERROR', 73)).errno).toBe(E.ENOENT);
    init.send({ type: 'FS_STAT', id: 74, path: 'escape', follow: 0 });
    expect(await init.answer('FS_STAT_RESULT', 74)).toMatchObject({ kind: 3, linkTarget: '/etc/passwd' });
    // Removing the link removes the link, not its target.
    init.send({ type: 'FS_REMOVE', id: 75, path: 'escape', recursive: 0 });
    await init.answer('OK', 75);
    expect((await stat('/etc/passwd')).isFile()).toBe(true);

    init.send({ type: 'FS_MKDIR', id: 76, path: 'x/y', mode: 0o755, parents: 1 });
    await init.answer('OK', 76);
    init.send({ type: 'FS_LIST', id: 85, path: 'x/y', start: 0 });
    expect(await init.answer('FS_LIST_RESULT', 85)).toMatchObject({ more: 0, entries: [] });
    init.send({ type: 'FS_MKDIR', id: 77, path: 'x', mode: 0o755, parents: 0 });
    expect((await init.answer('ERROR', 77)).errno).toBe(E.EEXIST);
    init.send({ type: 'FS_RENAME', id: 78, from: 'a/b/c.txt', to: 'x/y/c.txt', overwrite: 0 });
    await init.answer('OK', 78);
    init.send({ type: 'FS_LIST', id: 79, path: 'x/y', start: 0 });
    const list = await init.answer('FS_LIST_RESULT', 79);
    expect(list.more).toBe(0);
    expect(list.entries.map((e) => [e.name, e.kind, e.size])).toEqual([['c.txt', 1, 11]]);
    init.send({ type: 'FS_READ', id: 80, path: 'x', offset: 0, limit: 10 });
    expect((await init.answer('ERROR', 80)).errno).toBe(E.EISDIR);
    init.send({ type: 'FS_REMOVE', id: 81, path: 'x', recursive: 0 });
    expect((await init.answer('ERROR', 81)).errno).toBe(E.ENOTEMPTY);
    init.send({ type: 'FS_REMOVE', id: 82, path: 'x', recursive: 1 });
    await init.answer('OK', 82);
    init.send({ type: 'FS_STAT', id: 83, path: 'x', follow: 1 });
    expect((await init.answer('ERROR', 83)).errno).toBe(E.ENOENT);
    init.send({ type: 'FS_REMOVE', id: 84, path: '/', recursive: 1 });
    expect((await init.answer('ERROR', 84)).errno).toBe(E.EINVAL);
  });

  test('a FIFO can never hang the init: FS_READ is EINVAL, FS_WRITE without a reader ENXIO; EXCLUSIVE is EEXIST', async ({ init }) => {
    expect(spawnSync('mkfifo', [join(init.root, 'fifo')]).status).toBe(0);
    init.send({ type: 'FS_READ', id: 1, path: 'fifo', offset: 0, limit: 10 });
    expect((await init.answer('ERROR', 1, 2000)).errno).toBe(E.EINVAL);
    init.send({ type: 'FS_WRITE', id: 2, path: 'fifo', flags: 0, mode: 0o644, data: Buffer.from('x') });
    expect((await init.answer('ERROR', 2, 2000)).errno).toBe(E.ENXIO);
    await writeFile(join(init.root, 'exists'), 'keep');
    init.send({ type: 'FS_WRITE', id: 3, path: 'exists', flags: WRITE_FLAGS.EXCLUSIVE, mode: 0o644, data: Buffer.from('x') });
    expect((await init.answer('ERROR', 3)).errno).toBe(E.EEXIST);
    expect(await readFile(join(init.root, 'exists'), 'utf8')).toBe('keep');
    init.send({ type: 'PING', id: 4 });
    await init.answer('PONG', 4);
  });

  test('FS_LIST pages a large directory with start + count, each answer under MAX_FRAME', async ({ init }) => {
    const names: string[] = [];
    for (let i = 0; i < 4200; i++) names.push(`f${String(i).padStart(5, '0')}`);
    const made = spawnSync('xargs', ['touch'], { cwd: init.root, input: names.join('\n') });
    expect(made.status).toBe(0);
    const seen: string[] = [];
    let start = 0;
    for (let page = 0; page < 10; page++) {
      init.send({ type: 'FS_LIST', id: 90 + page, path: '/', start });
      const res = await init.answer('FS_LIST_RESULT', 90 + page);
      seen.push(...res.entries.map((e) => e.name));
      start += res.entries.length;
      if (!res.more) break;
    }
    expect(seen).toEqual(names);
  });
});

describe.skipIf(!HAVE_INIT)('agentd-init --launch', () => {
  async function launch(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
    const child = spawn(INIT_PATH, ['--launch', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
    return { code, stdout, stderr };
  }

  test('writes its pid to each --cgroup-procs file, sets rlimits, then execs the program in place', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'agentd-launch-'));
    try {
      const procs1 = join(dir, 'procs1');
      const procs2 = join(dir, 'procs2');
      await writeFile(procs1, '');
      await writeFile(procs2, '');
      const res = await launch(['--cgroup-procs', procs1, '--cgroup-procs', procs2, '--rlimit', 'nofile=123:456', '--rlimit', 'core=0', '--nice', '5', '--', 'sh', '-c', 'echo $$; ulimit -n; ulimit -Hn; ulimit -c; cut -d" " -f19 /proc/$$/stat']);
      expect(res.stderr).toBe('');
      expect(res.code).toBe(0);
      const [pid, soft, hard, core, nice] = res.stdout.trim().split('\n');
      expect(await readFile(procs1, 'utf8')).toBe(`${pid}\n`);
      expect(await readFile(procs2, 'utf8')).toBe(`${pid}\n`);
      expect([soft, hard, core, nice]).toEqual(['123', '456', '0', '5']);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test.skipIf(process.getuid?.() !== 0)('--uid/--gid drop every privilege before exec (root only: dropping needs root)', async () => {
    const res = await launch(['--uid', '1000000', '--gid', '1000001', '--', 'sh', '-c', 'grep -E "^(Uid|Gid|Groups|CapEff):" /proc/$$/status']);
    expect(res.stderr).toBe('');
    expect(res.stdout).toMatch(/^Uid:\t1000000\t1000000\t1000000\t1000000$/m);
    expect(res.stdout).toMatch(/^Gid:\t1000001\t1000001\t1000001\t1000001$/m);
    expect(res.stdout).toMatch(/^Groups:\s*$/m);
    expect(res.stdout).toMatch(/^CapEff:\t0000000000000000$/m);
  });

  test('a single rlimit value sets soft and hard', async () => {
    const res = await launch(['--rlimit', 'nofile=77', '--', 'sh', '-c', 'ulimit -n; ulimit -Hn']);
    expect(res.stdout).toBe('77\n77\n');
  });

  test('failures print one line to stderr and exit 127', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['--', 'agentd-no-such-program-xyz'], /cannot execute agentd-no-such-program-xyz: No such file/],
      [['--cgroup-procs', '/nonexistent/cgroup.procs', '--', 'true'], /--cgroup-procs \/nonexistent\/cgroup.procs: No such file/],
      [['--rlimit', 'bogus=1', '--', 'true'], /unknown limit/],
      [['--rlimit', 'nofile=10:5', '--', 'true'], /soft limit above hard limit/],
      [['--nice', 'x', '--', 'true'], /--nice x/],
      [['--uid', '5', '--', 'true'], /--uid and --gid go together/],
      [['--uid', '-1', '--gid', '5', '--', 'true'], /--uid -1: expected a numeric uid/],
      [['--', ], /no program given/],
    ];
    for (const [args, msg] of cases) {
      const res = await launch(args);
      expect(res.code, args.join(' ')).toBe(127);
      expect(res.stdout).toBe('');
      expect(res.stderr).toMatch(msg);
      expect(res.stderr.trim().split('\n')).toHaveLength(1);
    }
  });
});
