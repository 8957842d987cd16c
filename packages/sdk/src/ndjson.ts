/** Reads the daemon's NDJSON exec stream and validates each line as a frame. */
import { base64BytesToBytes, base64ToBytes, concatBytes } from './base64.js';
import { ProtocolError } from './errors.js';
import { isRecord, type Json } from './wire.js';

const NEWLINE = 0x0a;

/** The frames of `POST /v1/sandboxes/{id}/exec?stream=1`, a discriminated union on `type`. */
export type ExecFrame =
  | { type: 'start'; pid: number }
  | { type: 'stdout'; data: string }
  | { type: 'stderr'; data: string }
  | { type: 'exit'; result: Json }
  | { type: 'error'; error: Json };

/**
 * What either stream format yields: output bytes, or a control frame. Both readers hand
 * these to the same consumer (exec.ts), so the formats differ only on the wire.
 */
export type ExecEvent =
  | { type: 'stdout' | 'stderr'; bytes: Uint8Array }
  | { type: 'start'; pid: number }
  | { type: 'exit'; result: Json }
  | { type: 'error'; error: Json };

/** Thrown when the stream ends (or breaks) before its `exit` or `error` frame. */
export class StreamEndedError extends ProtocolError {
  override name = 'StreamEndedError';
}

function malformed(line: string, why: string): ProtocolError {
  return new ProtocolError('PROTOCOL_ERROR', `malformed exec stream frame (${why})`, { details: { line: line.slice(0, 500) } });
}

/** Validates one parsed line as an ExecFrame. */
export function parseFrame(line: string): ExecFrame {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    throw malformed(line, 'not JSON');
  }
  if (!isRecord(value)) throw malformed(line, 'not an object');
  switch (value.type) {
    case 'start':
      if (typeof value.pid !== 'number') throw malformed(line, 'start without pid');
      return { type: 'start', pid: value.pid };
    case 'stdout':
    case 'stderr':
      if (typeof value.data !== 'string') throw malformed(line, `${value.type} without data`);
      return { type: value.type, data: value.data };
    case 'exit':
      return { type: 'exit', result: value };
    case 'error':
      if (!isRecord(value.error)) throw malformed(line, 'error without error object');
      return { type: 'error', error: value.error };
    default:
      throw malformed(line, `unknown type ${JSON.stringify(value.type)}`);
  }
}

/**
 * The chunks of a response body. A consumer that stops early (break, error, abort) cancels
 * the body, which closes the connection; one that reads to the end leaves it reusable.
 */
export async function* bodyChunks(body: ReadableStream<Uint8Array>): AsyncGenerator<Uint8Array, void, undefined> {
  const reader = body.getReader();
  let finished = false;
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      yield value;
    }
    finished = true;
  } finally {
    if (!finished) await reader.cancel().catch(() => undefined);
    reader.releaseLock();
  }
}

/**
 * Splits a byte stream into lines on the newline byte (it never occurs inside a multi-byte
 * UTF-8 character) and yields each one as bytes, without decoding.
 */
export async function* readLineBytes(body: ReadableStream<Uint8Array>): AsyncGenerator<Uint8Array, void, undefined> {
  let pending: Uint8Array[] = [];
  const take = (last: Uint8Array): Uint8Array => {
    if (pending.length === 0) return last;
    pending.push(last);
    const line = concatBytes(pending);
    pending = [];
    return line;
  };
  for await (const value of bodyChunks(body)) {
    let start = 0;
    let newline = value.indexOf(NEWLINE);
    while (newline !== -1) {
      yield take(value.subarray(start, newline));
      start = newline + 1;
      newline = value.indexOf(NEWLINE, start);
    }
    if (start < value.length) pending.push(value.slice(start));
  }
  if (pending.length > 0) yield take(new Uint8Array(0));
}

/** The non-blank lines of a byte stream, each decoded as UTF-8 in one shot and trimmed. */
export async function* readLines(body: ReadableStream<Uint8Array>): AsyncGenerator<string, void, undefined> {
  const decoder = new TextDecoder('utf-8');
  for await (const bytes of readLineBytes(body)) {
    const line = decoder.decode(bytes).trim();
    if (line !== '') yield line;
  }
}

const OUTPUT_PREFIX = {
  stdout: new TextEncoder().encode('{"type":"stdout","data":"'),
  stderr: new TextEncoder().encode('{"type":"stderr","data":"'),
} as const;

function startsWith(line: Uint8Array, prefix: Uint8Array): boolean {
  if (line.length < prefix.length) return false;
  for (let i = 0; i < prefix.length; i++) if (line[i] !== prefix[i]) return false;
  return true;
}

/**
 * The fast path for the frames that carry output, in the exact form the daemon writes them
 * (`{"type":"stdout","data":"<base64>"}`): the bytes are decoded straight from the line,
 * with no UTF-8 decoding and no JSON.parse. Anything else (another spacing, key order,
 * escapes) returns undefined and goes through parseFrame.
 */
export function outputFrameOf(line: Uint8Array): { type: 'stdout' | 'stderr'; bytes: Uint8Array } | undefined {
  const n = line.length;
  if (n < OUTPUT_PREFIX.stdout.length + 2 || line[n - 1] !== 0x7d /* } */ || line[n - 2] !== 0x22 /* " */) return undefined;
  const type = startsWith(line, OUTPUT_PREFIX.stdout) ? 'stdout' : startsWith(line, OUTPUT_PREFIX.stderr) ? 'stderr' : undefined;
  if (type === undefined) return undefined;
  const bytes = base64BytesToBytes(line.subarray(OUTPUT_PREFIX[type].length, n - 2));
  return bytes === undefined ? undefined : { type, bytes };
}

/** The events of an NDJSON exec stream (output frames through the fast path when they can). */
export async function* readNdjsonEvents(body: ReadableStream<Uint8Array>): AsyncGenerator<ExecEvent, void, undefined> {
  const lineDecoder = new TextDecoder('utf-8');
  for await (const bytes of readLineBytes(body)) {
    const fast = outputFrameOf(bytes);
    if (fast !== undefined) {
      yield fast;
      continue;
    }
    const line = lineDecoder.decode(bytes).trim();
    if (line === '') continue;
    const frame = parseFrame(line);
    if (frame.type === 'stdout' || frame.type === 'stderr') yield { type: frame.type, bytes: base64ToBytes(frame.data) };
    else yield frame;
  }
}
