/**
 * The lifecycle's signal sequence and result bookkeeping, observed frame by frame on a
 * scripted fake init (the real-init tests check the processes really die).
 */
import { describe, expect, it } from 'vitest';
import { InitChannel } from '../../src/channel/init-channel.js';
import { runCommand, streamCommand } from '../../src/channel/lifecycle.js';
import { FakeInit } from './fake-init.js';

function open(): { init: FakeInit; ch: InitChannel } {
  const init = new FakeInit();
  const ch = new InitChannel(init.stdin, init.stdout);
  init.ready();
  return { init, ch };
}

const exit = (id: number, signal = 0) => ({ type: 'EXIT' as const, id, exitCode: signal ? -1 : 0, signal, maxRssKib: 1, userUsec: 2, sysUsec: 3 });

describe('lifecycle (fake init)', () => {
  it('on timeout sends SIGTERM to the tree, then SIGKILL to the tree after the grace', async () => {
    const { init, ch } = open();
    const t0 = performance.now();
    const running = runCommand(ch, { argv: ['x'], env: {} }, { timeoutMs: 50, graceMs: 100 });
    const req = await init.take('EXEC');
    init.send({ type: 'STARTED', id: req.id, pid: 5, shepherd: 3 });
    const term = await init.take('SIGNAL');
    expect(term).toMatchObject({ execId: req.id, signo: 15, scope: 2 });
    expect(performance.now() - t0).toBeGreaterThanOrEqual(45);
    init.send({ type: 'OK', id: term.id });
    const kill = await init.take('SIGNAL');
    // timeout (50) + grace (100), give or take a timer tick
    expect(performance.now() - t0).toBeGreaterThanOrEqual(145);
    expect(kill).toMatchObject({ execId: req.id, signo: 9, scope: 2 });
    init.send({ type: 'OK', id: kill.id });
    init.send(exit(req.id, 9));
    const r = await running;
    expect(r).toMatchObject({ timedOut: true, canceled: false, exitCode: null, signal: 'SIGKILL' });
    expect(r.resourceUsage).toEqual({ maxRssKib: 1, userUsec: 2, sysUsec: 3, outputBytes: 0 });
    init.die();
  });

  it('kills the tree at once when the leader exits during the grace', async () => {
    const { init, ch } = open();
    const ac = new AbortController();
    const running = runCommand(ch, { argv: ['x'], env: {} }, { signal: ac.signal, graceMs: 10_000 });
    const req = await init.take('EXEC');
    init.send({ type: 'STARTED', id: req.id, pid: 5, shepherd: 3 });
    ac.abort();
    const term = await init.take('SIGNAL');
    expect(term.signo).toBe(15);
    init.send({ type: 'OK', id: term.id });
    init.send(exit(req.id, 15));
    const kill = await init.take('SIGNAL', 1000);
    expect(kill).toMatchObject({ signo: 9, scope: 2 });
    init.send({ type: 'ERROR', id: kill.id, errno: 3, message: 'no such process' });
    expect(await running).toMatchObject({ canceled: true, timedOut: false, signal: 'SIGTERM' });
    init.die();
  });

  it('does not count a consumer that stops after the exit as a cancel', async () => {
    const { init, ch } = open();
    const stream = streamCommand(ch, { argv: ['x'], env: {} });
    const events: string[] = [];
    const consuming = (async () => {
      for await (const ev of stream) {
        events.push(ev.type);
        if (ev.type === 'stdout') break;
      }
    })();
    const req = await init.take('EXEC');
    init.send({ type: 'STARTED', id: req.id, pid: 5, shepherd: 3 });
    init.sendRaw(Buffer.alloc(0));
    init.send({ type: 'STDOUT', id: req.id, data: Buffer.from('last') });
    init.send(exit(req.id));
    await consuming;
    expect(events).toEqual(['start', 'stdout']);
    expect(await stream.result).toMatchObject({ canceled: false, exitCode: 0 });
    expect(init.drain('SIGNAL')).toEqual([]);
    init.die();
  });

  it('truncates at the exact byte of the cap per stream and counts everything', async () => {
    const { init, ch } = open();
    const seen: string[] = [];
    // An 8-byte window: credit goes back in batches of 2 bytes, so each chunk below is credited at once.
    const running = runCommand(ch, { argv: ['x'], env: {}, window: 8 }, { maxOutputBytes: 5, onChunk: (s, d) => seen.push(`${s}:${d.toString()}`) });
    const req = await init.take('EXEC');
    init.send({ type: 'STARTED', id: req.id, pid: 5, shepherd: 3 });
    // Dropped output is still credited, so the process is never stuck on a full pipe.
    const credits = [];
    for (const [type, text] of [['STDOUT', 'abc'], ['STDOUT', 'defg'], ['STDOUT', 'hij'], ['STDERR', '12345']] as const) {
      init.send({ type, id: req.id, data: Buffer.from(text) });
      credits.push(await init.take('CREDIT'));
    }
    expect(credits.filter((c) => c.stream === 1).reduce((n, c) => n + c.bytes, 0)).toBe(10);
    init.send(exit(req.id));
    const r = await running;
    expect(r.stdout.toString()).toBe('abcde');
    expect(r.stderr.toString()).toBe('12345');
    expect(r.outputTruncated).toBe(true);
    expect(r.resourceUsage.outputBytes).toBe(15);
    expect(seen).toEqual(['stdout:abc', 'stdout:de', 'stderr:12345']);
    init.die();
  });

  it('an init that never reports the exit cannot hold a timeout: forceKill from the host, then the run ends timed out; late frames are no violation', async () => {
    const init = new FakeInit();
    const kills: Array<{ leader: number; shepherd: number }> = [];
    const ch = new InitChannel(init.stdin, init.stdout, { forceKill: async (pids) => void kills.push(pids) });
    init.ready();
    const running = runCommand(ch, { argv: ['x'], env: {} }, { timeoutMs: 30, graceMs: 30, killWaitMs: 50 });
    const req = await init.take('EXEC');
    init.send({ type: 'STARTED', id: req.id, pid: 5, shepherd: 4 });
    // The init takes the SIGNALs but never acts on them.
    const term = await init.take('SIGNAL');
    const kill = await init.take('SIGNAL');
    expect([term.signo, kill.signo]).toEqual([15, 9]);
    const r = await running;
    expect(r).toMatchObject({ timedOut: true, exitCode: null, signal: 'SIGKILL' });
    expect(kills).toEqual([{ leader: 5, shepherd: 4 }]);
    // The init wakes up later: its output and EXIT for that exec are accepted and dropped.
    init.send({ type: 'STDOUT', id: req.id, data: Buffer.from('late') });
    init.send(exit(req.id, 9));
    init.send({ type: 'OK', id: term.id });
    init.send({ type: 'OK', id: kill.id });
    const ping = ch.ping();
    init.send({ type: 'PONG', id: (await init.take('PING')).id });
    await expect(ping).resolves.toBeUndefined();
    expect(ch.isClosed).toBe(false);
  });

  it('an init that never even reports the start cannot hold a timeout: TIMEOUT, and a late start is killed at once', async () => {
    const { init, ch } = open();
    const running = runCommand(ch, { argv: ['x'], env: {} }, { timeoutMs: 30, graceMs: 30, killWaitMs: 30 });
    const req = await init.take('EXEC');
    await expect(running).rejects.toMatchObject({ code: 'TIMEOUT' });
    init.send({ type: 'STARTED', id: req.id, pid: 5, shepherd: 4 });
    const kill = await init.take('SIGNAL');
    expect(kill).toMatchObject({ execId: req.id, signo: 9, scope: 2 });
    init.send({ type: 'OK', id: kill.id });
    init.send(exit(req.id, 9));
    const ping = ch.ping();
    init.send({ type: 'PONG', id: (await init.take('PING')).id });
    await expect(ping).resolves.toBeUndefined();
  });
});
