import { once } from 'node:events';
import { PassThrough } from 'node:stream';
import type { FastifyReply } from 'fastify';
import type { OutputListener } from '../../capabilities/types.js';
import type { ErrorBody } from '../../core/errors.js';

/**
 * `{"type":"stdout","data":"<base64>"}\n` as bytes. The same text JSON.stringify gives (base64
 * needs no escaping), built without a JSON pass and handed to the stream as a Buffer: for
 * streamed output this is the daemon's hot path.
 */
export function outputLine(stream: 'stdout' | 'stderr', data: Buffer): Buffer {
  return Buffer.from(`{"type":"${stream}","data":"${data.toString('base64')}"}\n`, 'latin1');
}

/**
 * The NDJSON exec stream of docs/api.md: `start`, `stdout`/`stderr` (base64), then `exit` or
 * `error`. Headers go out with the first frame, so a request that fails before the command
 * starts still gets a plain error answer with its HTTP status.
 */
export class NdjsonExecStream implements OutputListener {
  private readonly stream = new PassThrough();
  private began = false;

  constructor(
    private readonly reply: FastifyReply,
    private readonly signal: AbortSignal,
  ) {}

  get started(): boolean {
    return this.began;
  }

  onStart(pid: number): void {
    this.begin();
    this.stream.write(`${JSON.stringify({ type: 'start', pid })}\n`);
  }

  async onChunk(stream: 'stdout' | 'stderr', data: Buffer): Promise<void> {
    this.begin();
    if (!this.stream.write(outputLine(stream, data)) && !this.signal.aborted) {
      await once(this.stream, 'drain', { signal: this.signal }).catch(() => undefined);
    }
  }

  exit(result: Record<string, unknown>): void {
    this.begin();
    this.stream.end(`${JSON.stringify({ type: 'exit', ...result })}\n`);
  }

  error(error: ErrorBody): void {
    this.begin();
    this.stream.end(`${JSON.stringify({ type: 'error', error })}\n`);
  }

  private begin(): void {
    if (this.began) return;
    this.began = true;
    void this.reply.code(200).header('content-type', 'application/x-ndjson').header('cache-control', 'no-store').send(this.stream);
  }
}
