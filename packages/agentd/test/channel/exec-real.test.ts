/**
 * Commands through the real agentd-init: runCommand / streamCommand / ExecHandle end to end.
 */
import { createHash, randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect } from 'vitest';
import { PROTOCOL_VERSION } from '../../src/channel/frames.js';
import { runCommand, streamCommand, type CommandEvent } from '../../src/channel/lifecycle.js';
import { HAVE_INIT, initTest as it, PATH_ENV, processesWith, sleep, survivors, token } from './real-init.js';

const sh = (script: string, ...args: string[]) => ({ argv: ['sh', '-c', script, 'sh', ...args], env: PATH_ENV });

describe.skipIf(!HAVE_INIT)('commands through the real agentd-init', () => {
  it('answers READY with protocol 1 and its pid, and pings', async ({ live }) => {
    expect(live.ready.protocolVersion).toBe(PROTOCOL_VERSION);
    expect(live.ready.pid).toBe(live.child.pid);
    await live.channel.ping();
  });

  it('runs 50 concurrent commands with exact stdout, stderr and exit codes', async ({ live }) => {
    const results = await Promise.all(
      Array.from({ length: 50 }, (_, i) => runCommand(live.channel, sh('printf "out-%s" "$1"; printf "err-%s\\n" "$1" >&2; exit "$2"', String(i), String(i % 7)))),
    );
    results.forEach((r, i) => {
      expect(r.stdout.toString()).toBe(`out-${i}`);
      expect(r.stderr.toString()).toBe(`err-${i}\n`);
      expect(r.exitCode).toBe(i % 7);
      expect(r.signal).toBeNull();
      expect(r.timedOut || r.canceled || r.outputTruncated).toBe(false);
      expect(r.resourceUsage.outputBytes).toBe(`out-${i}err-${i}\n`.length);
    });
  });

  it('is binary safe: all 256 byte values through stdin and stdout', async ({ live }) => {
    const all = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    const input = Buffer.concat([all, all.reverse(), Buffer.from([0, 0, 0])]);
    const r = await runCommand(live.channel, { argv: ['cat'], env: PATH_ENV }, { stdin: input });
    expect(r.exitCode).toBe(0);
    expect(r.stdout.equals(input)).toBe(true);
    await live.channel.fs.write('bytes.bin', input);
    const viaFile = await runCommand(live.channel, { argv: ['cat', 'bytes.bin'], env: PATH_ENV });
    expect(viaFile.stdout.equals(input)).toBe(true);
  });

  it('streams 50 MiB of output intact', async ({ live }) => {
    const block = randomBytes(1024 * 1024);
    await live.channel.fs.write('block', block);
    const r = await runCommand(live.channel, sh('i=0; while [ $i -lt 50 ]; do cat block; i=$((i+1)); done'));
    expect(r.exitCode).toBe(0);
    expect(r.stdout.length).toBe(50 * block.length);
    const want = createHash('sha256');
    for (let i = 0; i < 50; i++) want.update(block);
    expect(createHash('sha256').update(r.stdout).digest('hex')).toBe(want.digest('hex'));
  }, 60_000);

  it('feeds several MiB of stdin and closes it', async ({ live }) => {
    const input = randomBytes(3 * 1024 * 1024 + 17);
    const r = await runCommand(live.channel, sh('wc -c; cat >/dev/null'), { stdin: input });
    expect(r.stdout.toString().trim()).toBe(String(input.length));
    // A command that never reads its stdin still gives a plain result.
    const ignoring = await runCommand(live.channel, sh('exit 7'), { stdin: input, timeoutMs: 10_000 });
    expect(ignoring).toMatchObject({ exitCode: 7, timedOut: false });
    // Without `stdin` the command reads /dev/null and ends at once.
    const none = await runCommand(live.channel, { argv: ['cat'], env: PATH_ENV }, { timeoutMs: 5000 });
    expect(none).toMatchObject({ exitCode: 0, timedOut: false });
    expect(none.stdout.length).toBe(0);
  });

  it('applies backpressure end to end: an unread command blocks instead of being buffered', async ({ live }) => {
    const total = 24 * 1024 * 1024;
    const h = live.channel.exec({ argv: ['head', '-c', String(total), '/dev/zero'], env: PATH_ENV, window: 256 * 1024 });
    const { pid } = await h.started;
    const written = async () => Number(/wchar: (\d+)/.exec(await readFile(`/proc/${pid}/io`, 'utf8'))?.[1]);
    await sleep(300);
    const first = await written();
    await sleep(300);
    // Nobody reads: the process has written the window plus what a pipe holds, and is stuck.
    expect(await written()).toBe(first);
    expect(first).toBeLessThan(256 * 1024 + 1024 * 1024);
    let got = 0;
    for await (const chunk of h.output()) got += chunk.data.length;
    expect(got).toBe(total);
    expect(await h.exited).toMatchObject({ exitCode: 0 });
  });

  it('drives stdin interactively through an ExecHandle', async ({ live }) => {
    const h = live.channel.exec({ argv: ['cat'], env: PATH_ENV, stdinPipe: true });
    await h.started;
    const it = h.output()[Symbol.asyncIterator]();
    await h.writeStdin('ping\n');
    const first = await it.next();
    expect(first.value?.data.toString()).toBe('ping\n');
    await h.closeStdin();
    expect((await it.next()).done).toBe(true);
    expect(await h.exited).toMatchObject({ exitCode: 0, signal: null });
  });

  it('reports stdin and signal misuse with the errno the init gives', async ({ live }) => {
    const h = live.channel.exec({ argv: ['sleep', '5'], env: PATH_ENV });
    await h.started;
    await expect(h.writeStdin('x')).rejects.toMatchObject({ code: 'EXEC_FAILED', syscallCode: 'EBADF' });
    await h.signal('SIGKILL', 'leader');
    for await (const _ of h.output()) void _;
    expect(await h.exited).toMatchObject({ signal: 'SIGKILL' });
    await expect(h.signal('SIGTERM', 'leader')).rejects.toMatchObject({ syscallCode: 'ESRCH' });
    await expect(h.signal('SIGTERM', 'tree')).rejects.toMatchObject({ syscallCode: 'ESRCH' });
  });

  it('merges stderr into stdout when asked', async ({ live }) => {
    const r = await runCommand(live.channel, { ...sh('echo a; echo b >&2; echo c'), mergeStderr: true });
    expect(r.stdout.toString()).toBe('a\nb\nc\n');
    expect(r.stderr.length).toBe(0);
  });

  it('reports resource usage and a signal exit', async ({ live }) => {
    const r = await runCommand(live.channel, sh('kill -9 $$'));
    expect(r).toMatchObject({ exitCode: null, signal: 'SIGKILL' });
    const busy = await runCommand(live.channel, sh('i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done'));
    expect(busy.resourceUsage.maxRssKib).toBeGreaterThan(0);
    expect(busy.resourceUsage.userUsec + busy.resourceUsage.sysUsec).toBeGreaterThan(0);
    expect(busy.durationMs).toBeGreaterThan(0);
  });

  it('fails a missing program or a bad cwd with EXEC_FAILED and the errno', async ({ live }) => {
    await expect(runCommand(live.channel, { argv: ['no-such-program-xyz'], env: PATH_ENV })).rejects.toMatchObject({ code: 'EXEC_FAILED', syscallCode: 'ENOENT' });
    await live.channel.fs.write('plain', 'x');
    await expect(runCommand(live.channel, { argv: ['true'], env: PATH_ENV, cwd: join(live.root, 'plain') })).rejects.toMatchObject({ code: 'EXEC_FAILED', syscallCode: 'ENOTDIR' });
  });

  it('kills the whole tree on timeout, including setsid and double-forked grandchildren', async ({ live }) => {
    const mark = token();
    const script = [
      'setsid sh -c "sleep $1 & sleep $1" &', // own session, with a child of its own
      '( ( sleep $1 & ) & )', // double fork: reparented away from the leader
      'sh -c "sleep $1" &',
      'trap "" TERM', // the leader ignores the polite signal
      'sleep $1',
    ].join('\n');
    const started = Date.now();
    const r = await runCommand(live.channel, sh(script, mark), { timeoutMs: 500, graceMs: 300 });
    expect(r.timedOut).toBe(true);
    expect(r.canceled).toBe(false);
    expect(r.exitCode).toBeNull();
    expect(r.signal).toBe('SIGKILL');
    expect(Date.now() - started).toBeLessThan(5000);
    expect(await survivors(mark)).toEqual([]);
  });

  it('kills a setsid descendant that ignores SIGTERM even when its parents die of the SIGTERM', async ({ live }) => {
    const mark = token();
    const r = await runCommand(live.channel, sh('setsid sh -c "trap \\"\\" TERM; sleep $1; :" & sleep $1; :', mark), { timeoutMs: 300, graceMs: 300 });
    expect(r.timedOut).toBe(true);
    expect(r.signal).toBe('SIGTERM');
    expect(await survivors(mark)).toEqual([]);
  });

  it('kills a tree on abort, with SIGTERM first when the leader honours it', async ({ live }) => {
    const mark = token();
    const ac = new AbortController();
    const running = runCommand(live.channel, sh('setsid sh -c "sleep $1" & sleep $1 & wait', mark), { signal: ac.signal, graceMs: 5000 });
    const sleeping = async () => (await Promise.all((await processesWith(mark)).map((pid) => readFile(`/proc/${pid}/comm`, 'utf8').catch(() => '')))).filter((c) => c.trim() === 'sleep').length;
    for (let i = 0; i < 100 && (await sleeping()) < 2; i++) await sleep(20);
    expect(await sleeping()).toBe(2);
    ac.abort();
    const r = await running;
    expect(r.canceled).toBe(true);
    expect(r.timedOut).toBe(false);
    expect(r.signal).toBe('SIGTERM');
    expect(await survivors(mark)).toEqual([]);
  });

  it('keeps the first termination reason', async ({ live }) => {
    const ac = new AbortController();
    const running = runCommand(live.channel, sh('trap "" TERM; sleep 5 & wait; sleep 5'), { timeoutMs: 100, signal: ac.signal, graceMs: 400 });
    await sleep(250);
    ac.abort();
    const r = await running;
    expect(r.timedOut).toBe(true);
    expect(r.canceled).toBe(false);
  });

  it('refuses to start when the signal is already aborted', async ({ live }) => {
    const ac = new AbortController();
    ac.abort();
    await expect(runCommand(live.channel, { argv: ['true'], env: PATH_ENV }, { signal: ac.signal })).rejects.toMatchObject({ code: 'CANCELLED' });
  });

  it('caps kept output but keeps reading, so the command finishes', async ({ live }) => {
    const r = await runCommand(live.channel, sh('head -c 3000000 /dev/zero; echo tail >&2'), { maxOutputBytes: 1000 });
    expect(r.exitCode).toBe(0);
    expect(r.stdout.length).toBe(1000);
    expect(r.stderr.toString()).toBe('tail\n');
    expect(r.outputTruncated).toBe(true);
    expect(r.resourceUsage.outputBytes).toBe(3000000 + 5);
  });

  it('lets a background process outlive its exec', async ({ live }) => {
    const mark = token();
    const r = await runCommand(live.channel, sh('sleep "$1" >/dev/null 2>&1 & echo $!', mark), { timeoutMs: 5000 });
    expect(r.exitCode).toBe(0);
    const pid = Number(r.stdout.toString().trim());
    await sleep(200);
    expect(() => process.kill(pid, 0)).not.toThrow();
    expect(await readFile(`/proc/${pid}/cmdline`, 'utf8')).toContain(mark);
    // ...until the sandbox ends: shutdown kills everything the init started.
    await live.channel.shutdown();
    expect(await live.channel.closed).toBeUndefined();
    expect(await survivors(mark)).toEqual([]);
  });

  it('streams start, output and exit in order', async ({ live }) => {
    const events: CommandEvent[] = [];
    const stream = streamCommand(live.channel, sh('echo one; sleep 0.1; echo two >&2; sleep 0.1; echo three; exit 4'));
    for await (const ev of stream) events.push(ev);
    expect(events.map((e) => e.type)).toEqual(['start', 'stdout', 'stderr', 'stdout', 'exit']);
    const text = events.map((e) => ('data' in e ? e.data.toString() : '')).join('');
    expect(text).toBe('one\ntwo\nthree\n');
    const start = events[0];
    expect(start?.type === 'start' && start.pid).toBeGreaterThan(1);
    const exit = events[4];
    expect(exit?.type === 'exit' && exit.result.exitCode).toBe(4);
    expect(await stream.result).toEqual(exit?.type === 'exit' ? exit.result : undefined);
  });

  it('kills the tree when the stream consumer breaks out early', async ({ live }) => {
    const mark = token();
    const stream = streamCommand(live.channel, sh('setsid sh -c "sleep $1" & echo ready; sleep $1', mark));
    for await (const ev of stream) {
      if (ev.type === 'stdout') break;
    }
    const result = await stream.result;
    expect(result.canceled).toBe(true);
    expect(result.signal).toBe('SIGKILL');
    expect(await survivors(mark)).toEqual([]);
  });

  it('finishes a noisy command whose consumer leaves before reading any output', async ({ live }) => {
    const stream = streamCommand(live.channel, sh('head -c 20000000 /dev/zero; sleep 30'), { graceMs: 100 });
    for await (const ev of stream) {
      expect(ev.type).toBe('start');
      await sleep(300); // long enough for the window to fill and the command to block
      break;
    }
    const result = await stream.result;
    expect(result).toMatchObject({ canceled: true, signal: 'SIGKILL' });
  });

  it('fails pending commands and requests with SANDBOX_DEAD when the init dies', async ({ live }) => {
    const mark = token();
    const running = runCommand(live.channel, { argv: ['sleep', mark], env: PATH_ENV });
    const h = live.channel.exec({ argv: ['sleep', mark], env: PATH_ENV });
    await h.started;
    process.kill(live.child.pid as number, 'SIGKILL');
    await expect(running).rejects.toMatchObject({ code: 'SANDBOX_DEAD' });
    await expect(h.exited).rejects.toMatchObject({ code: 'SANDBOX_DEAD' });
    await expect(live.channel.ping()).rejects.toMatchObject({ code: 'SANDBOX_DEAD' });
    await expect(live.channel.fs.stat('.')).rejects.toMatchObject({ code: 'SANDBOX_DEAD' });
    expect(await live.channel.closed).toMatchObject({ code: 'SANDBOX_DEAD' });
    // A SIGKILLed init cannot clean up: its commands are orphans now (the namespace backend's
    // pid namespace takes them down with it); remove them so the test leaves nothing behind.
    for (const pid of await processesWith(mark)) process.kill(pid, 'SIGKILL');
  });
});
