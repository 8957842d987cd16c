/** Reads the daemon's NDJSON exec stream and validates each line as a frame. */
import { ProtocolError } from './errors.js';
import { isRecord, type Json } from './wire.js';

/** The frames of `POST /v1/sandboxes/{id}/exec?stream=1`, a discriminated union on `type`. */
export type ExecFrame =
  | { type: 'start'; pid: number }
  | { type: 'stdout'; data: string }
  | { type: 'stderr'; data: string }
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
 * Splits a byte stream into lines (one streaming TextDecoder for the whole body, so a
 * multi-byte character split across reads stays intact) and yields each non-empty line.
 */
export async function* readLines(body: ReadableStream<Uint8Array>): AsyncGenerator<string, void, undefined> {
  const reader = body.getReader();
  const decoder = new TextDecoder('utf-8');
  let buffered = '';
  let finished = false;
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffered += decoder.decode(value, { stream: true });
      let newline = buffered.indexOf('\n');
      while (newline !== -1) {
        const line = buffered.slice(0, newline).trim();
        buffered = buffered.slice(newline + 1);
        if (line !== '') yield line;
        newline = buffered.indexOf('\n');
      }
    }
    buffered += decoder.decode();
    const last = buffered.trim();
    if (last !== '') yield last;
    finished = true;
  } finally {
    // A consumer that stops early (break, error, abort) closes the connection.
    if (!finished) await reader.cancel().catch(() => undefined);
    reader.releaseLock();
  }
}
