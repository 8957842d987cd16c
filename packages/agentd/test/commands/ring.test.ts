/** The output ring (commands/ring.ts): offsets, eviction, gaps, persistence round trip. */
import { describe, expect, test } from 'vitest';
import { decodeChunks, encodeChunks, OutputRing } from '../../src/commands/ring.js';

const text = (r: ReturnType<OutputRing['readFrom']>): string => r.chunks.map((c) => c.data.toString()).join('');

describe('OutputRing', () => {
  test('one offset sequence over the streams; reads from any offset held, in order', () => {
    const r = new OutputRing(100);
    r.append('stdout', Buffer.from('abc'));
    r.append('stderr', Buffer.from('DEF'));
    r.append('stdout', Buffer.from('ghi'));
    expect([r.start, r.end]).toEqual([0, 9]);
    const all = r.readFrom(0);
    expect(all.chunks.map((c) => [c.offset, c.stream, c.data.toString()])).toEqual([[0, 'stdout', 'abc'], [3, 'stderr', 'DEF'], [6, 'stdout', 'ghi']]);
    expect(all).toMatchObject({ lost: 0, next: 9 });
    expect(text(r.readFrom(4))).toBe('EFghi');
    expect(r.readFrom(4).chunks[0]).toMatchObject({ offset: 4, stream: 'stderr' });
    // At or past the end: nothing yet, the next read starts at the end.
    expect(r.readFrom(9)).toEqual({ lost: 0, chunks: [], next: 9 });
    expect(r.readFrom(1e12)).toEqual({ lost: 0, chunks: [], next: 9 });
  });

  test('past its capacity the oldest bytes go (a chunk trimmed in part), and a reader is told how many it lost', () => {
    const r = new OutputRing(8);
    r.append('stdout', Buffer.from('0123456'));
    r.append('stdout', Buffer.from('789ab'));
    expect([r.start, r.end]).toEqual([4, 12]);
    const from0 = r.readFrom(0);
    expect(from0.lost).toBe(4);
    expect(text(from0)).toBe('456789ab');
    expect(from0.chunks[0]?.offset).toBe(4);
    expect(r.readFrom(5)).toMatchObject({ lost: 0, next: 12 });
  });

  test('a chunk larger than the ring keeps its last bytes at their true offsets', () => {
    const r = new OutputRing(4);
    r.append('pty', Buffer.from('xy'));
    r.append('pty', Buffer.from('0123456789'));
    expect([r.start, r.end]).toEqual([8, 12]);
    expect(r.readFrom(0)).toMatchObject({ lost: 8, next: 12 });
    expect(text(r.readFrom(0))).toBe('6789');
  });

  test('readFrom honours maxBytes; many small chunks stay consistent after compaction', () => {
    const r = new OutputRing(1000);
    for (let i = 0; i < 5000; i++) r.append('stdout', Buffer.from(String(i % 10)));
    expect([r.start, r.end]).toEqual([4000, 5000]);
    const part = r.readFrom(4000, 10);
    expect(text(part)).toBe('0123456789');
    expect(part.next).toBe(4010);
    expect(text(r.readFrom(4995))).toBe('56789');
  });

  test('a persisted tail restores at its offsets', () => {
    const r = new OutputRing(64);
    r.append('stdout', Buffer.from('hello '));
    r.append('stderr', Buffer.from('world'));
    const tail = r.tail(7);
    const back = OutputRing.restore(64, decodeChunks(encodeChunks(tail), 0), r.end);
    expect([back.start, back.end]).toEqual([4, 11]);
    expect(back.readFrom(0).chunks.map((c) => [c.offset, c.stream, c.data.toString()])).toEqual([[4, 'stdout', 'o '], [6, 'stderr', 'world']]);
  });
});
