/**
 * InitChannel against a scripted fake init: the protocol-level behaviour that the real init
 * cannot be made to show on demand (answers out of order, malformed frames, paging, credit).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { AgentdError, SandboxOsError } from '../../src/core/errors.js';
import { encodeMessage, MAX_CHUNK, MAX_FRAME, PROTOCOL_VERSION } from '../../src/channel/frames.js';
import { InitChannel } from '../../src/channel/init-channel.js';
import type { OutputChunk } from '../../src/channel/types.js';
import { PassThrough, Writable } from 'node:stream';
import { FakeInit } from './fake-init.js';

function setup(): { init: FakeInit; ch: InitChannel } {
  const init = new FakeInit();
  const ch = new InitChannel(init.stdin, init.stdout);
  return { init, ch };
}

const cleanups: Array<() => void> = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});
function open(): { init: FakeInit; ch: InitChannel } {
  const s = setup();
  cleanups.push(() => s.init.die());
  return s;
}

describe('InitChannel (fake init)', () => {
  it('resolves ready from READY and correlates answers that arrive out of order', async () => {
    const { init, ch } = open();
    init.ready();
    await expect(ch.ready).resolves.toEqual({ protocolVersion: PROTOCOL_VERSION, pid: 1, version: 'fake' });
    const a = ch.fs.stat('a');
    const b = ch.fs.stat('b');
    const ra = await init.take('FS_STAT');
    const rb = await init.take('FS_STAT');
    expect([ra.path, rb.path]).toEqual(['a', 'b']);
    expect(ra.id).not.toBe(rb.id);
    init.send({ type: 'FS_STAT_RESULT', id: rb.id, kind: 2, mode: 0o755, size: 1, mtimeMs: 5, uid: 1, gid: 2, linkTarget: '' });
    init.send({ type: 'ERROR', id: ra.id, errno: 2, message: 'nope' });
    await expect(b).resolves.toEqual({ kind: 'directory', mode: 0o755, size: 1, mtimeMs: 5, uid: 1, gid: 2 });
    const err = await a.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SandboxOsError);
    expect(err).toMatchObject({ code: 'FS_ERROR', errno: 2, syscallCode: 'ENOENT' });
  });

  it('closes with PROTOCOL_ERROR on a READY of another protocol version', async () => {
    const { init, ch } = open();
    init.ready(PROTOCOL_VERSION + 1);
    const reason = await ch.closed;
    expect(reason).toMatchObject({ code: 'PROTOCOL_ERROR' });
    await expect(ch.ready).rejects.toMatchObject({ code: 'SANDBOX_DEAD' });
  });

  it('returns output credit only as the consumer pulls chunks', async () => {
    const { init, ch } = open();
    init.ready();
    const h = ch.exec({ argv: ['x'], env: { A: '1' }, window: 100 });
    const req = await init.take('EXEC');
    expect(req).toMatchObject({ argv: ['x'], env: ['A=1'], cwd: '', window: 100, flags: 0 });
    init.send({ type: 'STARTED', id: req.id, pid: 42, shepherd: 3 });
    await expect(h.started).resolves.toEqual({ pid: 42 });
    init.send({ type: 'STDOUT', id: req.id, data: Buffer.alloc(60, 1) });
    init.send({ type: 'STDERR', id: req.id, data: Buffer.alloc(30, 2) });
    await new Promise((r) => setTimeout(r, 50));
    expect(init.drain('CREDIT')).toEqual([]);
    const it = h.output()[Symbol.asyncIterator]();
    const first = (await it.next()).value as OutputChunk;
    expect(first.stream).toBe('stdout');
    const c1 = await init.take('CREDIT');
    expect(c1).toMatchObject({ id: 0, execId: req.id, stream: 1, bytes: 60 });
    await new Promise((r) => setTimeout(r, 30));
    expect(init.drain('CREDIT')).toEqual([]);
    const second = (await it.next()).value as OutputChunk;
    expect(second).toMatchObject({ stream: 'stderr' });
    expect(await init.take('CREDIT')).toMatchObject({ stream: 2, bytes: 30 });
    init.send({ type: 'EXIT', id: req.id, exitCode: 3, signal: 0, maxRssKib: 7, userUsec: 8, sysUsec: 9 });
    expect(await it.next()).toEqual({ done: true, value: undefined });
    await expect(h.exited).resolves.toEqual({ exitCode: 3, signal: null, maxRssKib: 7, userUsec: 8, sysUsec: 9 });
  });

  it('batches credit by quarter windows, so a caught-up consumer always leaves the init three quarters of its window', async () => {
    const { init, ch } = open();
    init.ready();
    const window = 100;
    const h = ch.exec({ argv: ['x'], env: {}, window });
    const req = await init.take('EXEC');
    init.send({ type: 'STARTED', id: req.id, pid: 7, shepherd: 3 });
    await h.started;
    const it = h.output()[Symbol.asyncIterator]();
    let sent = 0;
    let credited = 0;
    const credits: number[] = [];
    for (let i = 0; i < 12; i++) {
      init.send({ type: 'STDOUT', id: req.id, data: Buffer.alloc(10, i) });
      sent += 10;
      await it.next();
      await new Promise((r) => setTimeout(r, 5));
      for (const c of init.drain('CREDIT')) {
        credits.push(c.bytes);
        credited += c.bytes;
      }
      // What the init may still send: its window minus what it sent and got no credit back for.
      expect(window - sent + credited).toBeGreaterThanOrEqual(window * 0.75);
    }
    // 120 bytes in 10-byte chunks: credit goes back 30 at a time (the first sum >= 25), not 12 times.
    expect(credits).toEqual([30, 30, 30, 30]);
    init.send({ type: 'EXIT', id: req.id, exitCode: 0, signal: 0, maxRssKib: 0, userUsec: 0, sysUsec: 0 });
    expect(await it.next()).toEqual({ done: true, value: undefined });
  });

  it('maps an EXEC answered by ERROR to SandboxOsError(EXEC_FAILED) and a signal exit to its name', async () => {
    const { init, ch } = open();
    init.ready();
    const bad = ch.exec({ argv: ['missing'], env: {} });
    const r1 = await init.take('EXEC');
    init.send({ type: 'ERROR', id: r1.id, errno: 2, message: 'execve missing' });
    await expect(bad.started).rejects.toMatchObject({ code: 'EXEC_FAILED', syscallCode: 'ENOENT' });
    await expect(bad.exited).rejects.toBeInstanceOf(SandboxOsError);

    const killed = ch.exec({ argv: ['x'], env: {} });
    const r2 = await init.take('EXEC');
    init.send({ type: 'STARTED', id: r2.id, pid: 9, shepherd: 3 });
    init.send({ type: 'EXIT', id: r2.id, exitCode: -1, signal: 9, maxRssKib: 0, userUsec: 0, sysUsec: 0 });
    await expect(killed.exited).resolves.toMatchObject({ exitCode: null, signal: 'SIGKILL' });
  });

  it('chunks large reads and writes and pages directory listings', async () => {
    const { init, ch } = open();
    init.ready();
    const size = MAX_CHUNK * 2 + 10;
    const reading = ch.fs.read('big', { offset: 5 });
    for (let off = 5, n = 0; n < 3; n++) {
      const r = await init.take('FS_READ');
      expect(r).toMatchObject({ path: 'big', offset: off });
      const len = Math.min(r.limit, size - off);
      init.send({ type: 'FS_DATA', id: r.id, fileSize: size, eof: off + len >= size ? 1 : 0, data: Buffer.alloc(len, n) });
      off += len;
    }
    const read = await reading;
    expect(read.data.length).toBe(size - 5);
    expect(read).toMatchObject({ fileSize: size, eof: true });

    const data = Buffer.alloc(MAX_CHUNK + 100, 7);
    const writing = ch.fs.write('out', data, { createDirs: true, exclusive: true, mode: 0o600 });
    const w1 = await init.take('FS_WRITE');
    expect(w1).toMatchObject({ flags: 2 | 4, mode: 0o600 });
    expect(w1.data.length + 4 + 5 + 16 + 3).toBeLessThanOrEqual(MAX_FRAME + 4);
    init.send({ type: 'FS_WRITTEN', id: w1.id, bytesWritten: w1.data.length, fileSize: w1.data.length });
    const w2 = await init.take('FS_WRITE');
    expect(w2.flags).toBe(1);
    expect(w1.data.length + w2.data.length).toBe(data.length);
    init.send({ type: 'FS_WRITTEN', id: w2.id, bytesWritten: w2.data.length, fileSize: data.length });
    await expect(writing).resolves.toEqual({ bytesWritten: data.length, fileSize: data.length });

    const listing = ch.fs.list('d');
    const l1 = await init.take('FS_LIST');
    expect(l1.start).toBe(0);
    init.send({ type: 'FS_LIST_RESULT', id: l1.id, more: 1, entries: [{ name: 'a', kind: 1, mode: 0o644, size: 1, mtimeMs: 0 }] });
    const l2 = await init.take('FS_LIST');
    expect(l2.start).toBe(1);
    init.send({ type: 'FS_LIST_RESULT', id: l2.id, more: 0, entries: [{ name: 'b', kind: 3, mode: 0o777, size: 2, mtimeMs: 0 }] });
    expect((await listing).map((e) => [e.name, e.kind])).toEqual([['a', 'file'], ['b', 'symlink']]);
  });

  it('fails every pending request and exec with SANDBOX_DEAD when the init goes away', async () => {
    const { init, ch } = open();
    init.ready();
    const ping = ch.ping();
    const h = ch.exec({ argv: ['x'], env: {} });
    const req = await init.take('EXEC');
    init.send({ type: 'STARTED', id: req.id, pid: 1, shepherd: 3 });
    await h.started;
    const out = (async () => {
      for await (const _ of h.output()) void _;
    })();
    init.die();
    await expect(ping).rejects.toMatchObject({ code: 'SANDBOX_DEAD' });
    await expect(h.exited).rejects.toMatchObject({ code: 'SANDBOX_DEAD' });
    await expect(out).rejects.toMatchObject({ code: 'SANDBOX_DEAD' });
    expect(await ch.closed).toMatchObject({ code: 'SANDBOX_DEAD' });
    expect(ch.isClosed).toBe(true);
    await expect(ch.fs.stat('x')).rejects.toMatchObject({ code: 'SANDBOX_DEAD' });
    await expect(ch.exec({ argv: ['x'], env: {} }).started).rejects.toMatchObject({ code: 'SANDBOX_DEAD' });
  });

  it('treats a malformed answer as a protocol violation: the channel closes, every pending operation fails with PROTOCOL_ERROR', async () => {
    let violations = 0;
    const init = new FakeInit();
    const ch = new InitChannel(init.stdin, init.stdout, { onViolation: () => violations++ });
    init.ready();
    const p1 = ch.ping();
    const p2 = ch.ping();
    const r1 = await init.take('PING');
    await init.take('PING');
    const bad = Buffer.alloc(10);
    bad.writeUInt32LE(6, 0);
    bad.writeUInt8(0x81, 4);
    bad.writeUInt32LE(r1.id, 5);
    init.sendRaw(bad); // PONG with a trailing byte
    await expect(p1).rejects.toMatchObject({ code: 'PROTOCOL_ERROR', message: expect.stringMatching(/violated the protocol: PONG: 1 trailing bytes/) });
    await expect(p2).rejects.toMatchObject({ code: 'PROTOCOL_ERROR' });
    expect(ch.isClosed).toBe(true);
    expect(violations).toBe(1);
    expect(await ch.closed).toMatchObject({ code: 'PROTOCOL_ERROR' });
    await expect(ch.ping()).rejects.toMatchObject({ code: 'PROTOCOL_ERROR' });
  });

  it('treats the wrong kind of reply as a violation, and drops a late answer to an aborted request without harm', async () => {
    const { init, ch } = open();
    init.ready();
    const ac = new AbortController();
    const s = ch.fs.stat('slow', { signal: ac.signal });
    const sr = await init.take('FS_STAT');
    ac.abort();
    await expect(s).rejects.toMatchObject({ code: 'CANCELLED' });
    // The id is not reused before the late answer arrives, and that answer is no violation.
    const next = ch.ping();
    const nr = await init.take('PING');
    expect(nr.id).not.toBe(sr.id);
    init.send({ type: 'ERROR', id: sr.id, errno: 2, message: 'late' });
    init.send({ type: 'PONG', id: nr.id });
    await expect(next).resolves.toBeUndefined();
    expect(ch.isClosed).toBe(false);

    const p = ch.ping();
    const r = await init.take('PING');
    init.send({ type: 'OK', id: r.id });
    await expect(p).rejects.toMatchObject({ code: 'PROTOCOL_ERROR', message: expect.stringMatching(/ping answered with OK, expected PONG/) });
    expect(ch.isClosed).toBe(true);
  });

  it('rejects invalid exec requests synchronously', () => {
    const { init, ch } = open();
    init.ready();
    expect(() => ch.exec({ argv: [], env: {} })).toThrow(AgentdError);
    expect(() => ch.exec({ argv: ['x'], env: { 'A=B': '1' } })).toThrow(/environment variable/);
    expect(() => ch.exec({ argv: ['x\0y'], env: {} })).toThrow(/NUL/);
    expect(encodeMessage({ type: 'PING', id: 1 }).length).toBe(9);
  });
});

describe('InitChannel writes', () => {
  it('holds request frames while the init stdin wants a drain', async () => {
    const written: Buffer[] = [];
    let release: (() => void) | undefined;
    const slow = new Writable({
      highWaterMark: 64,
      write(chunk: Buffer, _enc, cb) {
        written.push(chunk);
        release = () => cb();
      },
    });
    const out = new PassThrough();
    const ch = new InitChannel(slow, out);
    const write = ch.fs.write('f', Buffer.alloc(1000));
    write.catch(() => undefined);
    await new Promise((r) => setImmediate(r));
    expect(slow.writableNeedDrain).toBe(true);
    const before = slow.writableLength;
    const ping = ch.ping();
    ping.catch(() => undefined);
    await new Promise((r) => setTimeout(r, 20));
    // The PING waits in the channel, not in the Writable's own buffer.
    expect(slow.writableLength).toBe(before);
    expect(written).toHaveLength(1);
    release?.();
    for (let i = 0; i < 50 && written.length < 2; i++) await new Promise((r) => setTimeout(r, 5));
    expect(written).toHaveLength(2);
    expect(written[1]?.readUInt8(4)).toBe(0x01);
    out.end();
    await expect(ping).rejects.toMatchObject({ code: 'SANDBOX_DEAD' });
  });

  it('sends stdin chunks of concurrent writeStdin calls in call order', async () => {
    const { init, ch } = open();
    init.ready();
    const h = ch.exec({ argv: ['cat'], env: {}, stdinPipe: true });
    const req = await init.take('EXEC');
    init.send({ type: 'STARTED', id: req.id, pid: 2, shepherd: 3 });
    const a = h.writeStdin(Buffer.alloc(MAX_CHUNK + 10, 1));
    const b = h.writeStdin('b');
    const c = h.closeStdin();
    const seen: number[] = [];
    for (let i = 0; i < 4; i++) {
      const s = await init.take('STDIN');
      seen.push(s.data.length);
      init.send({ type: 'OK', id: s.id });
    }
    await Promise.all([a, b, c]);
    expect(seen).toEqual([MAX_CHUNK, 10, 1, 0]);
  });
});
