/**
 * Reads the daemon's binary exec stream (`application/vnd.agentd.exec-frames`, docs/api.md):
 * frames of kind (u8), payload length (u32, big-endian), payload. Kind 0 carries a JSON
 * control frame (the same object as an NDJSON line), kinds 1 and 2 raw stdout and stderr.
 */
import { concatBytes } from './base64.js';
import { ProtocolError } from './errors.js';
import { bodyChunks, parseFrame, StreamEndedError, type ExecEvent } from './ndjson.js';

export const FRAMES_CONTENT_TYPE = 'application/vnd.agentd.exec-frames';

const HEADER_BYTES = 5;
const KIND_JSON = 0;
const KIND_STDOUT = 1;
const KIND_STDERR = 2;
/** A control frame is a few hundred bytes; anything near this is a broken stream, not a frame to buffer. */
const MAX_JSON_FRAME = 1024 * 1024;

/**
 * Yields the stream's events. Output is handed on as it arrives, a frame's payload possibly
 * in several pieces (views into the received chunks, never copied); a JSON frame is
 * gathered whole, then validated like an NDJSON line. A stream that stops inside a frame
 * throws StreamEndedError; an unknown kind or an oversized control frame, ProtocolError.
 */
export async function* readBinaryEvents(body: ReadableStream<Uint8Array>): AsyncGenerator<ExecEvent, void, undefined> {
  const header = new Uint8Array(HEADER_BYTES);
  let headerBytes = 0;
  let kind = -1;
  let remaining = 0;
  let json: Uint8Array[] = [];
  const decoder = new TextDecoder('utf-8', { fatal: true });
  for await (const value of bodyChunks(body)) {
    let at = 0;
    while (at < value.length) {
      if (kind < 0) {
        const take = Math.min(HEADER_BYTES - headerBytes, value.length - at);
        header.set(value.subarray(at, at + take), headerBytes);
        headerBytes += take;
        at += take;
        if (headerBytes < HEADER_BYTES) break;
        headerBytes = 0;
        kind = header[0] as number;
        remaining = (((header[1] as number) << 24) >>> 0) + ((header[2] as number) << 16) + ((header[3] as number) << 8) + (header[4] as number);
        if (kind !== KIND_JSON && kind !== KIND_STDOUT && kind !== KIND_STDERR) {
          throw new ProtocolError('PROTOCOL_ERROR', `exec stream: unknown frame kind ${kind}`);
        }
        if (kind === KIND_JSON && (remaining === 0 || remaining > MAX_JSON_FRAME)) {
          throw new ProtocolError('PROTOCOL_ERROR', `exec stream: a control frame of ${remaining} bytes`);
        }
        if (remaining === 0) kind = -1;
        continue;
      }
      const take = Math.min(remaining, value.length - at);
      const piece = value.subarray(at, at + take);
      at += take;
      remaining -= take;
      if (kind === KIND_JSON) json.push(piece);
      else yield { type: kind === KIND_STDOUT ? 'stdout' : 'stderr', bytes: piece };
      if (remaining > 0) continue;
      if (kind === KIND_JSON) {
        const text = decodeJson(decoder, concatBytes(json));
        json = [];
        const frame = parseFrame(text);
        if (frame.type === 'stdout' || frame.type === 'stderr') {
          throw new ProtocolError('PROTOCOL_ERROR', `exec stream: a JSON ${frame.type} frame in the binary format`);
        }
        yield frame;
      }
      kind = -1;
    }
  }
  if (kind >= 0 || headerBytes > 0) throw new StreamEndedError('PROTOCOL_ERROR', 'the exec stream ended inside a frame');
}

function decodeJson(decoder: TextDecoder, bytes: Uint8Array): string {
  try {
    return decoder.decode(bytes);
  } catch {
    throw new ProtocolError('PROTOCOL_ERROR', 'exec stream: a control frame that is not UTF-8');
  }
}
