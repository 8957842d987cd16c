import { describe, expect, test } from 'vitest';
import { base64ToBytes, execChunks, type ExecChunk } from '../src/index.js';
import { outputFrameOf } from '../src/ndjson.js';
import { Utf8Pieces, completePrefixLength } from '../src/utf8.js';

const enc = new TextEncoder();

describe('base64ToBytes', () => {
  test('decodes what Node encodes, for every length remainder, with and without padding', () => {
    const bytes = Uint8Array.from({ length: 300 }, (_, i) => (i * 37 + 11) & 0xff);
    for (let n = 0; n <= 40; n++) {
      const part = bytes.subarray(0, n);
      const b64 = Buffer.from(part).toString('base64');
      expect(base64ToBytes(b64)).toEqual(new Uint8Array(part));
      expect(base64ToBytes(b64.replace(/=+$/, ''))).toEqual(new Uint8Array(part));
    }
    expect(base64ToBytes(Buffer.from(bytes).toString('base64'))).toEqual(bytes);
  });

  test.each([
    ['a character outside the alphabet', 'QU@D'],
    ['a URL-safe character', 'QU-D'],
    ['a non-ASCII character', 'QUJé'],
    ['padding in the middle', 'QQ==QUJD'],
    ['three padding characters', 'Q==='],
    ['a length of 4n+1', 'QUJDR'],
    ['a newline', 'QUJD\n'],
  ])('refuses %s', (_what, text) => {
    expect(() => base64ToBytes(text)).toThrow(SyntaxError);
  });
});

describe('outputFrameOf (the fast path for output frames)', () => {
  const data = Uint8Array.from({ length: 1000 }, (_, i) => (i * 7) & 0xff);
  const b64 = Buffer.from(data).toString('base64');

  test("takes the daemon's exact form, for stdout and stderr", () => {
    for (const type of ['stdout', 'stderr'] as const) {
      expect(outputFrameOf(enc.encode(JSON.stringify({ type, data: b64 })))).toEqual({ type, bytes: data });
    }
    expect(outputFrameOf(enc.encode('{"type":"stdout","data":""}'))).toEqual({ type: 'stdout', bytes: new Uint8Array(0) });
  });

  test.each([
    ['another key order', JSON.stringify({ data: b64, type: 'stdout' })],
    ['spaces', `{"type": "stdout", "data": "${b64}"}`],
    ['an escaped slash', `{"type":"stdout","data":"${b64.replace(/\//g, '\\/')}x"}`],
    ['an extra key', `{"type":"stdout","data":"${b64}","x":1}`],
    ['another frame type', '{"type":"start","pid":3}'],
    ['not base64', '{"type":"stdout","data":"@@@@"}'],
  ])('leaves %s to the JSON path', (_what, line) => {
    expect(outputFrameOf(enc.encode(line))).toBeUndefined();
  });
});

describe('Utf8Pieces', () => {
  const sample = 'a€b😀c é ✓';

  test('completePrefixLength stops before a character cut at the end', () => {
    const bytes = enc.encode('a😀'); // 1 + 4 bytes
    for (let cut = 2; cut < 5; cut++) expect(completePrefixLength(bytes.subarray(0, cut))).toBe(1);
    expect(completePrefixLength(bytes)).toBe(5);
  });

  test('pieces cut at every byte offset decode to the whole text, in any order of reading', () => {
    const bytes = enc.encode(sample);
    for (let cut = 0; cut <= bytes.length; cut++) {
      const u = new Utf8Pieces();
      const first = u.next(bytes.subarray(0, cut));
      const second = u.next(bytes.subarray(cut));
      // Read the second piece's text first: pieces are independent once cut.
      const b = second();
      const a = first();
      expect(a + b + u.end()).toBe(sample);
    }
  });

  test('an incomplete character at the end of the stream becomes U+FFFD, as a streaming TextDecoder does', () => {
    const u = new Utf8Pieces();
    const piece = u.next(enc.encode('x€').subarray(0, 3));
    expect(piece() + u.end()).toBe(new TextDecoder().decode(enc.encode('x€').subarray(0, 3)));
    expect(piece()).toBe('x');
  });
});

describe('execChunks', () => {
  function body(text: string): { stream: ReadableStream<Uint8Array>; cancelled: () => boolean } {
    let cancelled = false;
    const bytes = enc.encode(text);
    let sent = false;
    const stream = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent) controller.close();
        else controller.enqueue(bytes);
        sent = true;
      },
      cancel() {
        cancelled = true;
      },
    });
    return { stream, cancelled: () => cancelled };
  }
  const exitLine = `${JSON.stringify({ type: 'exit', exit_code: 0, signal: null, duration_ms: 1, timed_out: false, canceled: false, output_truncated: false, resource_limited: false, resource_usage: {} })}\n`;

  test('reads the body to its end before the exit chunk, so a consumer that stops at exit does not cancel the response', async () => {
    const b = body(`${JSON.stringify({ type: 'stdout', data: Buffer.from('hi').toString('base64') })}\n${exitLine}`);
    for await (const chunk of execChunks(b.stream)) if (chunk.type === 'exit') break;
    expect(b.cancelled()).toBe(false);
  });

  test('output frames in another JSON form give the same chunks as the fast path', async () => {
    const data = Buffer.from('same bytes ✓');
    const texts = async (b: ReadableStream<Uint8Array>): Promise<string[]> => {
      const out: string[] = [];
      for await (const c of execChunks(b)) if (c.type === 'stdout') out.push(c.text);
      return out;
    };
    const exact = await texts(body(`${JSON.stringify({ type: 'stdout', data: data.toString('base64') })}\n${exitLine}`).stream);
    const other = await texts(body(`${JSON.stringify({ data: data.toString('base64'), type: 'stdout' })}\n${exitLine}`).stream);
    expect(exact).toEqual(['same bytes ✓']);
    expect(other).toEqual(exact);
  });

  test('a frame after the exit frame is a protocol error', async () => {
    const b = body(`${exitLine}${JSON.stringify({ type: 'stdout', data: '' })}\n`);
    const seen: ExecChunk[] = [];
    await expect(
      (async () => {
        for await (const c of execChunks(b.stream)) seen.push(c);
      })(),
    ).rejects.toMatchObject({ code: 'PROTOCOL_ERROR' });
    expect(seen.filter((c) => c.type === 'exit')).toEqual([]);
  });

  test("the result's output is joined from the chunks when read, and equals what was streamed", async () => {
    const all = enc.encode('héllo wörld ✓');
    // Cut the bytes in the middle of a character on purpose.
    const frames = [all.subarray(0, 2), all.subarray(2, 9), all.subarray(9)].map((p) => `${JSON.stringify({ type: 'stdout', data: Buffer.from(p).toString('base64') })}\n`);
    let text = '';
    let result;
    for await (const c of execChunks(body(`${frames.join('')}${exitLine}`).stream)) {
      if (c.type === 'stdout') text += c.text;
      if (c.type === 'exit') result = c.result;
    }
    expect(text).toBe('héllo wörld ✓');
    expect(result?.stdout).toBe('héllo wörld ✓');
    expect(result?.stdoutBytes).toEqual(all);
    expect(result?.stderr).toBe('');
  });
});
