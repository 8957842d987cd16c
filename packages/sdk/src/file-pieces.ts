/** Cutting write content into pieces, and the small rules of a piecewise transfer. */
import { createError } from './errors.js';
import type { WriteContent } from './files.js';

const encoder = new TextEncoder();

function isBlob(value: unknown): value is Blob {
  return typeof Blob !== 'undefined' && value instanceof Blob;
}

function isReadableStream(value: unknown): value is ReadableStream<Uint8Array> {
  return typeof value === 'object' && value !== null && typeof (value as { getReader?: unknown }).getReader === 'function';
}

function isAsyncIterable(value: unknown): value is AsyncIterable<unknown> {
  return typeof value === 'object' && value !== null && typeof (value as { [Symbol.asyncIterator]?: unknown })[Symbol.asyncIterator] === 'function';
}

/** One part of a stream as bytes (text parts are UTF-8); anything else is refused. */
function partBytes(part: unknown): Uint8Array {
  if (part instanceof Uint8Array) return part;
  if (typeof part === 'string') return encoder.encode(part);
  if (part instanceof ArrayBuffer) return new Uint8Array(part);
  if (ArrayBuffer.isView(part)) return new Uint8Array(part.buffer, part.byteOffset, part.byteLength);
  throw createError('INVALID_ARGUMENT', `write: a stream gave a ${typeof part} part; expected bytes or text`);
}

/** The parts of a web stream, released (and cancelled when left early) at the end. */
async function* streamParts(stream: ReadableStream<Uint8Array>): AsyncGenerator<unknown, void, undefined> {
  const reader = stream.getReader();
  let finished = false;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) {
        finished = true;
        return;
      }
      yield value;
    }
  } finally {
    if (!finished) await reader.cancel().catch(() => undefined);
    reader.releaseLock();
  }
}

/**
 * The content in pieces of exactly `size` bytes (the last one shorter; empty content gives
 * one empty piece). Bytes in memory are sliced without a copy; streams are gathered into
 * fresh buffers, so only one piece is held at a time.
 */
export async function* pieces(content: WriteContent, size: number): AsyncGenerator<Uint8Array, void, undefined> {
  let whole: Uint8Array | undefined;
  if (typeof content === 'string') whole = encoder.encode(content);
  else if (content instanceof Uint8Array) whole = content;
  else if (content instanceof ArrayBuffer) whole = new Uint8Array(content);
  if (whole !== undefined) {
    let off = 0;
    do {
      yield whole.subarray(off, off + size);
      off += size;
    } while (off < whole.length);
    return;
  }
  let parts: AsyncIterable<unknown>;
  if (isBlob(content)) parts = streamParts(content.stream());
  else if (isReadableStream(content)) parts = streamParts(content);
  else if (isAsyncIterable(content)) parts = content;
  else throw createError('INVALID_ARGUMENT', 'write: content must be a string, bytes, a Blob, a ReadableStream or an async iterable of bytes');
  let buf = new Uint8Array(size);
  let fill = 0;
  let sent = false;
  for await (const part of parts) {
    let bytes = partBytes(part);
    while (bytes.length > 0) {
      const n = Math.min(size - fill, bytes.length);
      buf.set(bytes.subarray(0, n), fill);
      fill += n;
      bytes = bytes.subarray(n);
      if (fill === size) {
        yield buf;
        sent = true;
        buf = new Uint8Array(size);
        fill = 0;
      }
    }
  }
  if (fill > 0 || !sent) yield buf.subarray(0, fill);
}

/** Whether a read answer was the last piece of the file (by X-EOF, else X-File-Size, else a short piece). */
export function isLastPiece(piece: { bytes: Uint8Array; eof: boolean | undefined; fileSize: number | undefined }, offsetAfter: number, asked: number): boolean {
  if (piece.eof !== undefined) return piece.eof || piece.bytes.length === 0;
  if (piece.fileSize !== undefined) return offsetAfter >= piece.fileSize;
  return piece.bytes.length < asked;
}

export function randomHex(bytes: number): string {
  const b = new Uint8Array(bytes);
  globalThis.crypto.getRandomValues(b);
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
}

/** A fresh temporary name in the same directory as `path` (so the final rename stays on one file system). */
export function tempNameFor(path: string): string {
  const slash = path.lastIndexOf('/');
  const dir = path.slice(0, slash + 1);
  const base = path.slice(slash + 1);
  // Keep the name under NAME_MAX (255 bytes) whatever the original's length.
  const short = encoder.encode(base).length > 100 ? base.slice(0, 25) : base;
  return `${dir}.${short}.agentd-upload-${randomHex(8)}`;
}
