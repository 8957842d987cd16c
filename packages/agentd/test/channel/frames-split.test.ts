/**
 * The decoder's `splitOutput` mode (the daemon's channel to agentd-init): a STDOUT/STDERR
 * frame spanning socket reads is handed on as views of the reads instead of a joined copy.
 * The bytes, their order, the type and id are what the unsplit decoder gives; every other
 * frame decodes as before.
 */
import { describe, expect, it } from 'vitest';
import { encodeMessage, FrameDecoder, MAX_CHUNK, type InitMessage, type Message } from '../../src/channel/frames.js';

function pattern(n: number, seed: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + seed) & 0xff;
  return b;
}

/** Feeds `bytes` in pieces of the given sizes (cycled) and collects the messages. */
function feed(dec: FrameDecoder, bytes: Buffer, sizes: number[]): InitMessage[] {
  const got: InitMessage[] = [];
  for (let off = 0, k = 0; off < bytes.length; k++) {
    const n = sizes[k % sizes.length] as number;
    for (const m of dec.push(bytes.subarray(off, off + n))) got.push(m as InitMessage);
    off += n;
  }
  return got;
}

/** Joins consecutive output messages of the same type and id (what a consumer of the byte stream sees). */
function joined(msgs: InitMessage[]): unknown[] {
  const out: Array<Record<string, unknown>> = [];
  for (const m of msgs) {
    const last = out.at(-1);
    if ((m.type === 'STDOUT' || m.type === 'STDERR') && last && last.type === m.type && last.id === m.id) {
      last.data = Buffer.concat([last.data as Buffer, m.data]);
    } else out.push({ ...m });
  }
  return out;
}

/** Data as base64: a deep compare of megabyte buffers byte by byte takes seconds. */
function b64(m: unknown): unknown {
  const r = m as Record<string, unknown>;
  return Buffer.isBuffer(r.data) ? { ...r, data: r.data.toString('base64') } : r;
}

describe('FrameDecoder splitOutput', () => {
  const sample: InitMessage[] = [
    { type: 'STDOUT', id: 7, data: pattern(MAX_CHUNK, 1) },
    { type: 'STARTED', id: 8, pid: 42, shepherd: 41 },
    { type: 'STDERR', id: 7, data: pattern(100_000 > MAX_CHUNK ? MAX_CHUNK : 100_000, 2) },
    { type: 'EXIT', id: 7, exitCode: 3, signal: 0, maxRssKib: 10, userUsec: 1, sysUsec: 2 },
    { type: 'STDOUT', id: 9, data: pattern(5, 3) },
  ];
  const bytes = Buffer.concat(sample.map((m) => encodeMessage(m)));

  for (const sizes of [[65536], [1], [7, 13, 12, 14, 4096], [65536, 100, 3], [bytes.length]]) {
    it(`gives the same messages, output bytes in order, fed in pieces of ${sizes.join(',').slice(0, 40)}`, () => {
      const dec = new FrameDecoder('init', { splitOutput: true });
      const got = feed(dec, bytes, sizes);
      expect(joined(got).map(b64)).toEqual(sample.map(b64));
      expect(dec.buffered).toBe(0);
      expect(dec.midFrame).toBe(false);
      for (const m of got) if (m.type === 'STDOUT' || m.type === 'STDERR') expect(m.data.length).toBeGreaterThan(0);
      // Fed a byte at a time, a frame spans far more than 4 chunks: copied once, never a message per byte.
      if (sizes[0] === 1) expect(got).toHaveLength(sample.length);
    });
  }

  it('hands a spanning output frame on as views of the pushed chunks (no copy)', () => {
    const frame = encodeMessage({ type: 'STDOUT', id: 3, data: pattern(100_000 > MAX_CHUNK ? MAX_CHUNK : 100_000, 4) });
    const a = Buffer.from(frame.subarray(0, 40_000));
    const b = Buffer.from(frame.subarray(40_000));
    const dec = new FrameDecoder('init', { splitOutput: true });
    expect(dec.push(a)).toEqual([]);
    const got = dec.push(b) as Array<Message<'STDOUT'>>;
    expect(got.map((m) => m.data.buffer)).toEqual([a.buffer, b.buffer]);
    expect(got.map((m) => m.data.length)).toEqual([40_000 - 13, b.length]);
  });

  it('still refuses an output frame whose data length disagrees with its frame length, and output from the daemon side', () => {
    const frame = encodeMessage({ type: 'STDOUT', id: 3, data: pattern(70_000 > MAX_CHUNK ? MAX_CHUNK : 70_000, 5) });
    frame.writeUInt32LE(frame.readUInt32LE(9) - 1, 9); // one byte less than the frame carries
    const got = feed(new FrameDecoder('init', { splitOutput: true }), frame, [65536]);
    expect(got).toHaveLength(1);
    expect(got[0]).toMatchObject({ type: 'PROTOCOL_ERROR', fatal: false });
    const fromInitDouble = feed(new FrameDecoder('daemon', { splitOutput: true }), encodeMessage({ type: 'STDOUT', id: 3, data: pattern(70_000, 6) }), [65536]);
    expect(fromInitDouble).toHaveLength(1);
    expect(fromInitDouble[0]).toMatchObject({ type: 'PROTOCOL_ERROR', fatal: false });
  });
});
