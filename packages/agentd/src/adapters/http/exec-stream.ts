import { once } from 'node:events';
import type { ServerResponse } from 'node:http';
import type { FastifyReply } from 'fastify';
import type { OutputListener } from '../../capabilities/types.js';
import type { ErrorBody } from '../../core/errors.js';

/** The two encodings of a streamed exec (docs/api.md, "Exec streams"). */
export type ExecStreamFormat = 'ndjson' | 'frames';

export const NDJSON_CONTENT_TYPE = 'application/x-ndjson';
export const FRAMES_CONTENT_TYPE = 'application/vnd.agentd.exec-frames';

/** Frame kinds of the binary format: a JSON control frame, or raw output bytes. */
export const FRAME_KIND = { json: 0, stdout: 1, stderr: 2 } as const;
/** kind (u8) + payload length (u32, big-endian). */
export const FRAME_HEADER_BYTES = 5;

/**
 * The format a request asks for. `Accept: application/vnd.agentd.exec-frames` selects the
 * binary frames (the SDK's choice: no base64, no JSON per output piece); `?stream=1` or
 * `Accept: application/x-ndjson` the NDJSON lines. Undefined: not streamed.
 */
export function streamFormatOf(accept: string | undefined, streamQuery: boolean | undefined): ExecStreamFormat | undefined {
  const wanted = accept ?? '';
  if (wanted.includes(FRAMES_CONTENT_TYPE)) return 'frames';
  if (streamQuery === true || wanted.includes(NDJSON_CONTENT_TYPE)) return 'ndjson';
  return undefined;
}

/**
 * `{"type":"stdout","data":"<base64>"}\n` as bytes. The same text JSON.stringify gives (base64
 * needs no escaping), built without a JSON pass and handed to the stream as a Buffer.
 */
export function outputLine(stream: 'stdout' | 'stderr', data: Buffer): Buffer {
  return Buffer.from(`{"type":"${stream}","data":"${data.toString('base64')}"}\n`, 'latin1');
}

function frameHeader(kind: number, length: number): Buffer {
  const header = Buffer.allocUnsafe(FRAME_HEADER_BYTES);
  header.writeUInt8(kind, 0);
  header.writeUInt32BE(length, 1);
  return header;
}

/**
 * One binary output frame: its header, then the output bytes as they are. Two pieces, not
 * one: copying each chunk behind its header would cost a fresh buffer and a copy per chunk.
 */
export function outputFrame(stream: 'stdout' | 'stderr', data: Buffer): Buffer[] {
  return [frameHeader(FRAME_KIND[stream], data.length), data];
}

/** A control frame: the same JSON object an NDJSON line would carry, UTF-8, no newline. */
export function jsonFrame(value: Record<string, unknown>): Buffer {
  const payload = Buffer.from(JSON.stringify(value), 'utf8');
  return Buffer.concat([frameHeader(FRAME_KIND.json, payload.length), payload]);
}

interface Encoder {
  contentType: string;
  /** The pieces to write for one output chunk, in order. */
  output: (s: 'stdout' | 'stderr', d: Buffer) => Buffer[];
  json: (v: Record<string, unknown>) => Buffer | string;
}

const ENCODERS: Record<ExecStreamFormat, Encoder> = {
  ndjson: { contentType: NDJSON_CONTENT_TYPE, output: (s, d) => [outputLine(s, d)], json: (v) => `${JSON.stringify(v)}\n` },
  frames: { contentType: FRAMES_CONTENT_TYPE, output: outputFrame, json: jsonFrame },
};

/**
 * Output the response may hold before a chunk waits for the client: the socket's own
 * buffer (16 KiB) would make nearly every 64 KiB chunk wait for a `drain`.
 */
const MAX_UNSENT_BYTES = 256 * 1024;

/**
 * A streamed exec answer: `start`, output pieces, then `exit` or `error`, in either format.
 * Headers go out with the first frame, so a request that fails before the command starts
 * still gets a plain error answer with its HTTP status. Frames are written straight to the
 * response (the reply is hijacked: no stream between the exec and the socket), the output
 * chunks of one tick corked into one socket write. Output waits for the client (the
 * response's `drain`) once more than MAX_UNSENT_BYTES are unsent, which holds back the credit
 * the command's output needs.
 */
export class HttpExecStream implements OutputListener {
  private readonly encoder: Encoder;
  private res: ServerResponse | undefined;
  /** Fields added to the `start` frame (the command's id). */
  startFields: Record<string, unknown> = {};

  constructor(
    private readonly reply: FastifyReply,
    private readonly signal: AbortSignal,
    format: ExecStreamFormat,
  ) {
    this.encoder = ENCODERS[format];
  }

  /** The response is corked until the end of the tick (see onChunk). */
  private corked = false;
  private readonly flush = (): void => {
    this.corked = false;
    this.res?.uncork();
  };

  get started(): boolean {
    return this.res !== undefined;
  }

  onStart(pid: number): void {
    this.write([this.encoder.json({ type: 'start', pid, ...this.startFields })]);
  }

  /** A promise only when the chunk must wait for the client (no promise, no extra tick, per chunk otherwise). */
  onChunk(stream: 'stdout' | 'stderr', data: Buffer): Promise<void> | undefined {
    const res = this.begin();
    if (res.destroyed || res.writableEnded) return undefined;
    // Every chunk that arrives in this tick (one read from the init's pipe holds several
    // frames) goes out in one socket write when the tick ends: fewer syscalls, and fuller
    // TCP segments for the client to read.
    if (!this.corked) {
      this.corked = true;
      res.cork();
      process.nextTick(this.flush);
    }
    let room = true;
    for (const piece of this.encoder.output(stream, data)) room = res.write(piece);
    if (!room && res.writableLength > MAX_UNSENT_BYTES && !this.signal.aborted) {
      return once(res, 'drain', { signal: this.signal }).then(
        () => undefined,
        () => undefined,
      );
    }
    return undefined;
  }

  exit(result: Record<string, unknown>): void {
    this.end(this.encoder.json({ type: 'exit', ...result }));
  }

  error(error: ErrorBody): void {
    this.end(this.encoder.json({ type: 'error', error }));
  }

  /** Writes the pieces as one socket write; false when the response is over its buffer. */
  private write(pieces: Array<Buffer | string>): boolean {
    const res = this.begin();
    if (res.destroyed || res.writableEnded) return true;
    if (pieces.length === 1) return res.write(pieces[0]);
    res.cork();
    let room = true;
    for (const piece of pieces) room = res.write(piece);
    res.uncork();
    return room;
  }

  private end(last: Buffer | string): void {
    const res = this.begin();
    if (!res.destroyed && !res.writableEnded) res.end(last);
  }

  private begin(): ServerResponse {
    if (this.res !== undefined) return this.res;
    const reply = this.reply;
    reply.hijack();
    const res = reply.raw;
    for (const [name, value] of Object.entries(reply.getHeaders())) if (value !== undefined) res.setHeader(name, value);
    res.writeHead(200, { 'content-type': this.encoder.contentType, 'cache-control': 'no-store' });
    this.res = res;
    return res;
  }
}
