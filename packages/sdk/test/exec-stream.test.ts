import { describe, expect, test } from 'vitest';
import {
  ConflictError,
  ProtocolError,
  StreamEndedError,
  execChunks,
  parseFrame,
  type AgentdError,
  type ExecChunk,
} from '../src/index.js';

const enc = new TextEncoder();
const b64 = (bytes: Uint8Array | string): string => Buffer.from(typeof bytes === 'string' ? enc.encode(bytes) : bytes).toString('base64');

/** A body that delivers `text` cut at the given byte offsets (so lines and characters split anywhere). */
function bodyOf(text: string, cuts: number[] = []): ReadableStream<Uint8Array> {
  const bytes = enc.encode(text);
  const points = [0, ...cuts.filter((c) => c > 0 && c < bytes.length).sort((a, b) => a - b), bytes.length];
  return new ReadableStream({
    start(controller) {
      for (let i = 0; i + 1 < points.length; i++) controller.enqueue(bytes.slice(points[i], points[i + 1]));
      controller.close();
    },
  });
}

const lines = (...frames: unknown[]): string => frames.map((f) => `${JSON.stringify(f)}\n`).join('');
const exitFrame = { type: 'exit', exit_code: 3, signal: null, duration_ms: 7, timed_out: false, canceled: false, output_truncated: false, resource_limited: false, resource_usage: { cpu_user_ms: 1 } };

async function collect(body: ReadableStream<Uint8Array>): Promise<{ chunks: ExecChunk[]; error?: unknown }> {
  const chunks: ExecChunk[] = [];
  try {
    for await (const c of execChunks(body)) chunks.push(c);
    return { chunks };
  } catch (error) {
    return { chunks, error };
  }
}

describe('parseFrame', () => {
  test('accepts the five frame types', () => {
    expect(parseFrame('{"type":"start","pid":12}')).toEqual({ type: 'start', pid: 12 });
    expect(parseFrame('{"type":"stdout","data":"aGk="}')).toEqual({ type: 'stdout', data: 'aGk=' });
    expect(parseFrame('{"type":"stderr","data":""}')).toEqual({ type: 'stderr', data: '' });
    expect(parseFrame('{"type":"exit","exit_code":0}').type).toBe('exit');
    expect(parseFrame('{"type":"error","error":{"code":"TIMEOUT","message":"x"}}').type).toBe('error');
  });

  test.each([
    ['not json', 'not JSON'],
    ['[1,2]', 'not an object'],
    ['{"type":"start"}', 'start without pid'],
    ['{"type":"stdout","data":5}', 'stdout without data'],
    ['{"type":"error","error":"x"}', 'error without error object'],
    ['{"type":"progress"}', 'unknown type'],
  ])('rejects %s as a ProtocolError (%s)', (line, why) => {
    expect(() => parseFrame(line)).toThrowError(ProtocolError);
    expect(() => parseFrame(line)).toThrowError(why);
  });
});

describe('execChunks', () => {
  test('yields typed chunks in order and a result with the exact bytes', async () => {
    const binary = new Uint8Array([0, 255, 10, 13, 128, 1]);
    const text = lines({ type: 'start', pid: 42 }, { type: 'stdout', data: b64('hello ') }, { type: 'stderr', data: b64('warn') }, { type: 'stdout', data: b64(binary) }, exitFrame);
    for (const cuts of [[], [1, 5, 17, 40, 41, 90, 120], Array.from({ length: text.length }, (_, i) => i)]) {
      const { chunks, error } = await collect(bodyOf(text, cuts));
      expect(error).toBeUndefined();
      expect(chunks.map((c) => c.type)).toEqual(['start', 'stdout', 'stderr', 'stdout', 'exit']);
      expect(chunks[0]).toEqual({ type: 'start', pid: 42 });
      const exit = chunks.at(-1);
      if (exit?.type !== 'exit') throw new Error('no exit chunk');
      expect(exit.result.exitCode).toBe(3);
      expect(exit.result.durationMs).toBe(7);
      expect(exit.result.resourceUsage).toEqual({ cpuUserMs: 1 });
      expect([...exit.result.stdoutBytes]).toEqual([...enc.encode('hello '), ...binary]);
      expect(exit.result.stderr).toBe('warn');
    }
  });

  test('keeps a UTF-8 character split across two frames intact (one decoder per fd)', async () => {
    const euro = enc.encode('€'); // 3 bytes
    const text = lines(
      { type: 'stdout', data: b64(euro.slice(0, 2)) },
      { type: 'stderr', data: b64('é') },
      { type: 'stdout', data: b64(euro.slice(2)) },
      exitFrame,
    );
    const { chunks } = await collect(bodyOf(text));
    const stdoutText = chunks.flatMap((c) => (c.type === 'stdout' ? [c.text] : [])).join('');
    expect(stdoutText).toBe('€');
    expect(chunks.find((c) => c.type === 'stderr')).toMatchObject({ text: 'é' });
  });

  test('flushes an incomplete character at the end, before the exit chunk', async () => {
    const text = lines({ type: 'stdout', data: b64(new Uint8Array([0x61, 0xe2, 0x82])) }, exitFrame);
    const { chunks } = await collect(bodyOf(text));
    expect(chunks.map((c) => (c.type === 'stdout' ? c.text : c.type))).toEqual(['a', '\ufffd', 'exit']);
  });

  test('an error frame is thrown as its error class', async () => {
    const text = lines({ type: 'start', pid: 1 }, { type: 'error', error: { code: 'SANDBOX_DEAD', message: 'init died', details: { pid: 1 }, retryable: false } });
    const { chunks, error } = await collect(bodyOf(text));
    expect(chunks).toHaveLength(1);
    expect(error).toBeInstanceOf(ConflictError);
    expect(error).toMatchObject({ code: 'SANDBOX_DEAD', message: 'init died', details: { pid: 1 } });
  });

  test('a stream that ends before exit is a StreamEndedError', async () => {
    const { chunks, error } = await collect(bodyOf(lines({ type: 'start', pid: 1 }, { type: 'stdout', data: b64('partial') })));
    expect(chunks.map((c) => c.type)).toEqual(['start', 'stdout']);
    expect(error).toBeInstanceOf(StreamEndedError);
    expect((error as AgentdError).code).toBe('PROTOCOL_ERROR');
  });

  test('a stream that breaks mid-way is a StreamEndedError carrying the cause', async () => {
    const broken = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(enc.encode(lines({ type: 'start', pid: 1 })));
        controller.error(new TypeError('terminated'));
      },
    });
    const { error } = await collect(broken);
    expect(error).toBeInstanceOf(StreamEndedError);
    expect((error as Error).cause).toBeInstanceOf(TypeError);
  });

  test('a malformed line is a ProtocolError', async () => {
    const { error } = await collect(bodyOf('{"type":"start","pid":1}\n{oops\n'));
    expect(error).toBeInstanceOf(ProtocolError);
    expect(error).not.toBeInstanceOf(StreamEndedError);
  });
});
