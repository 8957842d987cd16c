import { describe, expect, it } from 'vitest';
import { AgentdError } from '../../src/core/errors.js';
import {
  DAEMON_MESSAGES,
  encodeMessage,
  FrameDecoder,
  INIT_MESSAGES,
  MAX_CHUNK,
  MAX_FRAME,
  MSG,
  type DaemonMessage,
  type InitMessage,
  type Message,
} from '../../src/channel/frames.js';

/** Builds a raw frame by hand, independent of the encoder under test. */
function rawFrame(type: number, id: number, payload: Buffer): Buffer {
  const head = Buffer.alloc(9);
  head.writeUInt32LE(5 + payload.length, 0);
  head.writeUInt8(type, 4);
  head.writeUInt32LE(id, 5);
  return Buffer.concat([head, payload]);
}
const u32 = (v: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(v);
  return b;
};
const i32 = (v: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeInt32LE(v);
  return b;
};
const u64 = (v: bigint): Buffer => {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(v);
  return b;
};
const str = (s: string | Buffer): Buffer => {
  const raw = Buffer.isBuffer(s) ? s : Buffer.from(s);
  return Buffer.concat([u32(raw.length), raw]);
};

const sampleDaemon: DaemonMessage[] = [
  { type: 'PING', id: 1 },
  { type: 'EXEC', id: 2, flags: 3, argv: ['sh', '-c', 'echo ü'], env: ['A=1', 'PATH=/bin'], cwd: '/tmp', window: 0, nice: 7, rows: 0, cols: 0 },
  { type: 'STDIN', id: 3, execId: 2, data: Buffer.from([0, 1, 255]) },
  { type: 'CREDIT', id: 0, execId: 2, stream: 2, bytes: 65536 },
  { type: 'SIGNAL', id: 4, execId: 2, signo: 15, scope: 2 },
  { type: 'SHUTDOWN', id: 5 },
  { type: 'EXEC', id: 13, flags: 16, argv: ['bash'], env: ['TERM=xterm'], cwd: '', window: 0, nice: 0, rows: 24, cols: 80 },
  { type: 'RESIZE', id: 14, execId: 13, rows: 50, cols: 200 },
  { type: 'FS_READ', id: 6, path: 'a/b', offset: 2 ** 40, limit: MAX_CHUNK },
  { type: 'FS_WRITE', id: 7, path: 'f', flags: 7, mode: 0o644, data: Buffer.alloc(10, 7) },
  { type: 'FS_STAT', id: 8, path: '/x', follow: 1 },
  { type: 'FS_LIST', id: 9, path: '.', start: 4096 },
  { type: 'FS_MKDIR', id: 10, path: 'd', mode: 0o755, parents: 1 },
  { type: 'FS_REMOVE', id: 11, path: 'd', recursive: 0 },
  { type: 'FS_RENAME', id: 12, from: 'a', to: 'b', overwrite: 1 },
];

const sampleInit: InitMessage[] = [
  { type: 'READY', id: 0, protocolVersion: 1, pid: 1, version: '0.1.0' },
  { type: 'PONG', id: 1 },
  { type: 'OK', id: 2 },
  { type: 'ERROR', id: 3, errno: 2, message: 'no such file' },
  { type: 'STARTED', id: 4, pid: 4242, shepherd: 3 },
  { type: 'STDOUT', id: 4, data: Buffer.from('out') },
  { type: 'STDERR', id: 4, data: Buffer.alloc(0) },
  { type: 'EXIT', id: 4, exitCode: -1, signal: 9, maxRssKib: 1234, userUsec: 5, sysUsec: 6 },
  { type: 'FS_DATA', id: 5, fileSize: 3, eof: 1, data: Buffer.from('abc') },
  { type: 'FS_WRITTEN', id: 6, bytesWritten: 10, fileSize: 20 },
  { type: 'FS_STAT_RESULT', id: 7, kind: 3, mode: 0o777, size: 4, mtimeMs: -1000, uid: 0, gid: 0, linkTarget: '../../etc' },
  {
    type: 'FS_LIST_RESULT',
    id: 8,
    more: 1,
    entries: [
      { name: 'a', kind: 1, mode: 0o644, size: 1, mtimeMs: 1_700_000_000_000 },
      { name: 'dir', kind: 2, mode: 0o755, size: 4096, mtimeMs: 0 },
    ],
  },
];

describe('frames codec', () => {
  it('exports one type constant per protocol message, matching docs/protocol.md', () => {
    expect(MSG).toMatchObject({ PING: 0x01, EXEC: 0x02, STDIN: 0x03, CREDIT: 0x04, SIGNAL: 0x05, SHUTDOWN: 0x06, RESIZE: 0x07 });
    expect(MSG).toMatchObject({ FS_READ: 0x10, FS_WRITE: 0x11, FS_STAT: 0x12, FS_LIST: 0x13, FS_MKDIR: 0x14, FS_REMOVE: 0x15, FS_RENAME: 0x16 });
    expect(MSG).toMatchObject({ READY: 0x80, PONG: 0x81, OK: 0x82, ERROR: 0x83, STARTED: 0x84, STDOUT: 0x85, STDERR: 0x86, EXIT: 0x87 });
    expect(MSG).toMatchObject({ FS_DATA: 0x90, FS_WRITTEN: 0x91, FS_STAT_RESULT: 0x92, FS_LIST_RESULT: 0x93 });
    expect(DAEMON_MESSAGES.length + INIT_MESSAGES.length).toBe(Object.keys(MSG).length);
  });

  it('encodes EXEC byte for byte as the spec lays it out', () => {
    const frame = encodeMessage({ type: 'EXEC', id: 7, flags: 1, argv: ['ls', '-l'], env: ['A=b'], cwd: '', window: 4096, nice: 19, rows: 0, cols: 0 });
    const payload = Buffer.concat([u32(1), u32(2), str('ls'), str('-l'), u32(1), str('A=b'), str(''), u32(4096), u32(19), u32(0), u32(0)]);
    expect(frame).toEqual(rawFrame(0x02, 7, payload));
  });

  it('encodes SIGNAL and FS_READ with signed and 64-bit fields little-endian', () => {
    expect(encodeMessage({ type: 'SIGNAL', id: 1, execId: 9, signo: 9, scope: 1 })).toEqual(
      rawFrame(0x05, 1, Buffer.concat([u32(9), i32(9), Buffer.from([1])])),
    );
    expect(encodeMessage({ type: 'FS_READ', id: 2, path: 'x', offset: 2 ** 33 + 1, limit: 10 })).toEqual(
      rawFrame(0x10, 2, Buffer.concat([str('x'), u64(2n ** 33n + 1n), u32(10)])),
    );
  });

  it('round-trips every message of both directions, even when fed one byte at a time', () => {
    const fromInit = new FrameDecoder<InitMessage>('init');
    const fromDaemon = new FrameDecoder<DaemonMessage>('daemon');
    const initBytes = Buffer.concat(sampleInit.map((m) => encodeMessage(m)));
    const daemonBytes = Buffer.concat(sampleDaemon.map((m) => encodeMessage(m)));
    const gotInit: unknown[] = [];
    for (let i = 0; i < initBytes.length; i++) gotInit.push(...fromInit.push(initBytes.subarray(i, i + 1)));
    expect(gotInit).toEqual(sampleInit);
    expect(fromDaemon.push(daemonBytes)).toEqual(sampleDaemon);
    expect(fromInit.buffered).toBe(0);
    expect(fromInit.midFrame).toBe(false);
  });

  it('carries all 256 byte values and a full MAX_CHUNK of data intact', () => {
    const all = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    const big = Buffer.alloc(MAX_CHUNK);
    for (let i = 0; i < big.length; i++) big[i] = (i * 31) & 0xff;
    const dec = new FrameDecoder();
    const bytes = Buffer.concat([encodeMessage({ type: 'STDOUT', id: 1, data: all }), encodeMessage({ type: 'STDOUT', id: 1, data: big })]);
    const got: InitMessage[] = [];
    for (let off = 0; off < bytes.length; off += 65536) {
      for (const m of dec.push(bytes.subarray(off, off + 65536))) got.push(m as InitMessage);
    }
    expect(got.map((m) => m.type)).toEqual(['STDOUT', 'STDOUT']);
    expect((got[0] as Message<'STDOUT'>).data.equals(all)).toBe(true);
    expect((got[1] as Message<'STDOUT'>).data.equals(big)).toBe(true);
  });

  it('refuses to encode values the protocol cannot carry', () => {
    expect(() => encodeMessage({ type: 'FS_STAT', id: 1, path: 'a\0b', follow: 0 })).toThrow(/NUL/);
    expect(() => encodeMessage({ type: 'CREDIT', id: -1, execId: 1, stream: 1, bytes: 1 })).toThrow(AgentdError);
    expect(() => encodeMessage({ type: 'CREDIT', id: 1, execId: 1, stream: 1, bytes: 2 ** 32 })).toThrow(/out of range/);
    expect(() => encodeMessage({ type: 'EXEC', id: 1, flags: 0, argv: Array.from({ length: 4097 }, () => 'x'), env: [], cwd: '', window: 0, nice: 0, rows: 0, cols: 0 })).toThrow(/4096/);
    expect(() => encodeMessage({ type: 'STDIN', id: 1, execId: 1, data: Buffer.alloc(MAX_FRAME) })).toThrow(
      expect.objectContaining({ code: 'PAYLOAD_TOO_LARGE' }),
    );
  });

  describe('malformed frames from the init become typed PROTOCOL_ERRORs', () => {
    const decodeOne = (frame: Buffer) => {
      const out = new FrameDecoder().push(frame);
      expect(out).toHaveLength(1);
      return out[0];
    };

    it.each([
      ['payload too short', rawFrame(0x84, 3, Buffer.from([1, 2]))],
      ['trailing bytes', rawFrame(0x81, 3, Buffer.from([0]))],
      ['NUL inside a string', rawFrame(0x83, 3, Buffer.concat([i32(2), str(Buffer.from([0x61, 0, 0x62]))]))],
      ['a bytes length beyond the frame', rawFrame(0x85, 3, u32(100))],
      ['file kind out of range', rawFrame(0x92, 3, Buffer.concat([Buffer.from([9]), u32(0), u64(0n), u64(0n), u32(0), u32(0), str('')]))],
      ['eof flag out of range', rawFrame(0x90, 3, Buffer.concat([u64(0n), Buffer.from([2]), str('')]))],
      ['u64 above 2^53', rawFrame(0x91, 3, Buffer.concat([u64(2n ** 60n), u64(0n)]))],
      ['unknown type', rawFrame(0x7f, 3, Buffer.alloc(0))],
      ['a daemon->init type sent by the init', rawFrame(0x02, 3, Buffer.alloc(0))],
    ])('%s', (_label, frame) => {
      const ev = decodeOne(frame);
      expect(ev).toMatchObject({ type: 'PROTOCOL_ERROR', id: 3, fatal: false });
      expect(ev?.type === 'PROTOCOL_ERROR' && ev.error.code).toBe('PROTOCOL_ERROR');
    });

    it('keeps decoding after a bad frame body', () => {
      const dec = new FrameDecoder();
      const out = dec.push(Buffer.concat([rawFrame(0x81, 1, Buffer.from([0])), encodeMessage({ type: 'PONG', id: 2 })]));
      expect(out.map((m) => m.type)).toEqual(['PROTOCOL_ERROR', 'PONG']);
    });

    it.each([
      ['len < 5', u32(4)],
      ['len > MAX_FRAME', u32(MAX_FRAME + 1)],
    ])('a broken length (%s) is fatal and stops the decoder', (_label, head) => {
      const dec = new FrameDecoder();
      const out = dec.push(Buffer.concat([head, encodeMessage({ type: 'PONG', id: 2 })]));
      expect(out).toEqual([expect.objectContaining({ type: 'PROTOCOL_ERROR', fatal: true })]);
      expect(dec.broken).toBe(true);
      expect(dec.push(encodeMessage({ type: 'PONG', id: 3 }))).toEqual([]);
    });

    it('reports a stream that ends inside a frame', () => {
      const dec = new FrameDecoder();
      expect(dec.push(encodeMessage({ type: 'PONG', id: 2 }).subarray(0, 6))).toEqual([]);
      expect(dec.midFrame).toBe(true);
    });
  });
});
