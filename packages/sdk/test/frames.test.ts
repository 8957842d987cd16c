import { describe, expect, test } from 'vitest';
import { execChunks, NotFoundError, StreamEndedError, type ExecChunk } from '../src/index.js';

/** One frame of the binary exec stream: kind, payload length (u32 big-endian), payload. */
function frame(kind: number, payload: Uint8Array | string): Uint8Array {
  const bytes = typeof payload === 'string' ? new TextEncoder().encode(payload) : payload;
  const out = new Uint8Array(5 + bytes.length);
  out[0] = kind;
  new DataView(out.buffer).setUint32(1, bytes.length, false);
  out.set(bytes, 5);
  return out;
}
const json = (value: unknown): Uint8Array => frame(0, JSON.stringify(value));
const stdout = (bytes: Uint8Array | string): Uint8Array => frame(1, bytes);
const stderr = (bytes: Uint8Array | string): Uint8Array => frame(2, bytes);
const exitFrame = json({ type: 'exit', exit_code: 3, signal: null, duration_ms: 1, timed_out: false, canceled: false, output_truncated: false, resource_limited: false, resource_usage: {} });

function join(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** A body that delivers `bytes` cut at the given offsets. */
function body(bytes: Uint8Array, cuts: number[] = []): { stream: ReadableStream<Uint8Array>; cancelled: () => boolean } {
  const edges = [0, ...cuts.filter((c) => c > 0 && c < bytes.length).sort((a, b) => a - b), bytes.length];
  let i = 0;
  let cancelled = false;
  const stream = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (i + 1 >= edges.length) {
        controller.close();
        return;
      }
      controller.enqueue(bytes.slice(edges[i], edges[i + 1]));
      i++;
    },
    cancel() {
      cancelled = true;
    },
  });
  return { stream, cancelled: () => cancelled };
}

async function collect(stream: ReadableStream<Uint8Array>): Promise<ExecChunk[]> {
  const out: ExecChunk[] = [];
  for await (const c of execChunks(stream, undefined, { format: 'frames' })) out.push(c);
  return out;
}

const outputOf = (chunks: ExecChunk[], type: 'stdout' | 'stderr'): Uint8Array => join(chunks.flatMap((c) => (c.type === type ? [c.bytes] : [])));

describe('binary exec frames', () => {
  const binary = Uint8Array.from({ length: 700 }, (_, i) => (i * 131 + 7) & 0xff);
  const text = 'héllo ✓ wörld';
  const whole = join([json({ type: 'start', pid: 42 }), stdout(binary.subarray(0, 300)), stderr(text), stdout(binary.subarray(300)), stdout(''), exitFrame]);

  test('give the exact bytes, the start pid and the exit result, however the body is cut', async () => {
    const cuttings: number[][] = [[]];
    for (let at = 1; at < whole.length; at += 7) cuttings.push([at]);
    cuttings.push(Array.from({ length: whole.length }, (_, i) => i)); // one byte at a time
    for (const cuts of cuttings) {
      const chunks = await collect(body(whole, cuts).stream);
      expect(chunks[0]).toEqual({ type: 'start', pid: 42 });
      expect(outputOf(chunks, 'stdout')).toEqual(binary);
      expect(new TextDecoder().decode(outputOf(chunks, 'stderr'))).toBe(text);
      const last = chunks.at(-1);
      expect(last?.type).toBe('exit');
      if (last?.type !== 'exit') continue;
      expect(last.result.exitCode).toBe(3);
      expect(last.result.stdoutBytes).toEqual(binary);
      expect(last.result.stderr).toBe(text);
    }
  });

  test('keepOutput: false streams the same chunks and leaves the result without output', async () => {
    const chunks: ExecChunk[] = [];
    for await (const c of execChunks(body(whole, [9, 400]).stream, undefined, { format: 'frames', keepOutput: false })) chunks.push(c);
    expect(outputOf(chunks, 'stdout')).toEqual(binary);
    const last = chunks.at(-1);
    expect(last?.type === 'exit' ? [last.result.exitCode, last.result.stdoutBytes.length, last.result.stderr] : undefined).toEqual([3, 0, '']);
  });

  test('text is decoded across pieces that split a character', async () => {
    const all = new TextEncoder().encode(text);
    const chunks = await collect(body(join([stdout(all.subarray(0, 2)), stdout(all.subarray(2, 8)), stdout(all.subarray(8)), exitFrame])).stream);
    expect(chunks.filter((c) => c.type === 'stdout').map((c) => (c.type === 'stdout' ? c.text : '')).join('')).toBe(text);
  });

  test('an error frame becomes the error class of its code', async () => {
    const err = json({ type: 'error', error: { code: 'NOT_FOUND', message: 'gone', details: {}, retryable: false } });
    await expect(collect(body(join([json({ type: 'start', pid: 1 }), err])).stream)).rejects.toBeInstanceOf(NotFoundError);
  });

  test.each([
    ['ends inside a header', join([stdout('abc'), exitFrame]).subarray(0, 8 + 3)],
    ['ends inside a payload', join([stdout('abcdef')]).subarray(0, 7)],
    ['ends without an exit frame', join([json({ type: 'start', pid: 1 }), stdout('x')])],
  ])('a stream that %s is StreamEndedError', async (_what, bytes) => {
    await expect(collect(body(bytes).stream)).rejects.toBeInstanceOf(StreamEndedError);
  });

  test.each([
    ['an unknown frame kind', join([frame(7, 'x'), exitFrame])],
    ['an empty control frame', join([frame(0, ''), exitFrame])],
    ['a control frame that is not JSON', join([frame(0, '{nope'), exitFrame])],
    ['a control frame that is not UTF-8', join([frame(0, new Uint8Array([0x7b, 0xff, 0x7d])), exitFrame])],
    ['output sent as a JSON frame', join([json({ type: 'stdout', data: 'eA==' }), exitFrame])],
    ['a frame after the exit frame', join([exitFrame, stdout('late')])],
  ])('%s is a protocol error', async (_what, bytes) => {
    await expect(collect(body(bytes).stream)).rejects.toMatchObject({ code: 'PROTOCOL_ERROR' });
  });

  test('a control frame announced larger than 1 MiB is refused before it is buffered', async () => {
    const header = new Uint8Array(5);
    new DataView(header.buffer).setUint32(1, 2 * 1024 * 1024, false);
    // More body after the header, so the stream is still open when the reader gives up on it.
    const b = body(join([header, new Uint8Array(100)]), [5, 50]);
    await expect(collect(b.stream)).rejects.toMatchObject({ code: 'PROTOCOL_ERROR', message: expect.stringContaining('control frame') });
    expect(b.cancelled()).toBe(true);
  });

  test('the body is read to its end before the exit chunk, so stopping at exit does not cancel the response', async () => {
    const b = body(join([stdout('hi'), exitFrame]));
    for await (const c of execChunks(b.stream, undefined, { format: 'frames' })) if (c.type === 'exit') break;
    expect(b.cancelled()).toBe(false);
  });
});
