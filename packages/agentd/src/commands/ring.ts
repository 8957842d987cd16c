/**
 * A command's output as one byte sequence with absolute offsets: stdout, stderr and the PTY
 * stream share the count (offset N is the N-th byte the command wrote, whichever stream).
 * Bounded: past its capacity the oldest bytes are dropped, and a reader that asks for them
 * is told how many it lost.
 */

export type OutputStream = 'stdout' | 'stderr' | 'pty';

export interface RingChunk {
  /** Offset of the chunk's first byte. */
  offset: number;
  stream: OutputStream;
  data: Buffer;
}

export interface RingRead {
  /** Bytes between the asked offset and the oldest byte still held (0: nothing lost). */
  lost: number;
  chunks: RingChunk[];
  /** The offset to ask next. */
  next: number;
}

export class OutputRing {
  private chunks: RingChunk[] = [];
  private head = 0;
  private held = 0;
  private total = 0;

  constructor(readonly capacity: number) {}

  /** Offset of the oldest byte held. */
  get start(): number {
    return this.total - this.held;
  }

  /** Offset after the newest byte (= bytes the command ever wrote). */
  get end(): number {
    return this.total;
  }

  append(stream: OutputStream, data: Buffer): void {
    if (data.length === 0) return;
    let piece = data;
    let offset = this.total;
    if (piece.length > this.capacity) {
      offset += piece.length - this.capacity;
      piece = piece.subarray(piece.length - this.capacity);
    }
    this.total += data.length;
    this.evict(this.held + piece.length - this.capacity);
    this.chunks.push({ offset, stream, data: piece });
    this.held += piece.length;
    // Compact the array once half of it is evicted slots.
    if (this.head > 0 && this.head * 2 >= this.chunks.length) {
      this.chunks = this.chunks.slice(this.head);
      this.head = 0;
    }
  }

  /** Everything from `offset` on, at most `maxBytes` (at least one chunk's part when there is data). */
  readFrom(offset: number, maxBytes = Number.POSITIVE_INFINITY): RingRead {
    const from = Math.min(Math.max(offset, 0), this.total);
    const lost = Math.max(0, this.start - from);
    let at = Math.max(from, this.start);
    const out: RingChunk[] = [];
    let budget = maxBytes;
    for (let i = this.findChunk(at); i < this.chunks.length && budget > 0; i++) {
      const c = this.chunks[i] as RingChunk;
      const skip = at - c.offset;
      let data = skip > 0 ? c.data.subarray(skip) : c.data;
      if (data.length > budget) data = data.subarray(0, budget);
      if (data.length === 0) continue;
      out.push({ offset: at, stream: c.stream, data });
      at += data.length;
      budget -= data.length;
    }
    return { lost, chunks: out, next: at };
  }

  /** The newest `bytes` bytes held, as chunks (for persistence). */
  tail(bytes: number): RingChunk[] {
    return this.readFrom(Math.max(this.start, this.total - bytes)).chunks;
  }

  /** Restores a ring from a persisted tail (after a restart): `end` is the total the command had written. */
  static restore(capacity: number, chunks: RingChunk[], end: number): OutputRing {
    const ring = new OutputRing(capacity);
    const held = chunks.reduce((n, c) => n + c.data.length, 0);
    ring.total = end - held;
    for (const c of chunks) ring.append(c.stream, c.data);
    return ring;
  }

  private evict(excess: number): void {
    let left = excess;
    while (left > 0 && this.head < this.chunks.length) {
      const c = this.chunks[this.head] as RingChunk;
      if (c.data.length <= left) {
        left -= c.data.length;
        this.held -= c.data.length;
        this.chunks[this.head++] = undefined as unknown as RingChunk;
      } else {
        this.chunks[this.head] = { offset: c.offset + left, stream: c.stream, data: c.data.subarray(left) };
        this.held -= left;
        left = 0;
      }
    }
  }

  /** Index of the chunk holding `offset` (binary search over the live chunks). */
  private findChunk(offset: number): number {
    let lo = this.head;
    let hi = this.chunks.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if ((this.chunks[mid] as RingChunk).offset <= offset) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }
}

/** Encodes chunks for the state database: per chunk stream (u8: 0 stdout, 1 stderr, 2 pty), length (u32 BE), bytes. */
export function encodeChunks(chunks: RingChunk[]): Buffer {
  const parts: Buffer[] = [];
  for (const c of chunks) {
    const h = Buffer.allocUnsafe(5);
    h.writeUInt8(c.stream === 'stdout' ? 0 : c.stream === 'stderr' ? 1 : 2, 0);
    h.writeUInt32BE(c.data.length, 1);
    parts.push(h, c.data);
  }
  return Buffer.concat(parts);
}

export function decodeChunks(buf: Buffer, startOffset: number): RingChunk[] {
  const out: RingChunk[] = [];
  let at = 0;
  let offset = startOffset;
  while (at + 5 <= buf.length) {
    const kind = buf.readUInt8(at);
    const len = buf.readUInt32BE(at + 1);
    const data = buf.subarray(at + 5, Math.min(buf.length, at + 5 + len));
    out.push({ offset, stream: kind === 0 ? 'stdout' : kind === 1 ? 'stderr' : 'pty', data });
    offset += data.length;
    at += 5 + len;
  }
  return out;
}
