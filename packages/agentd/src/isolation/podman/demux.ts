/**
 * The attach stream of a container without a TTY is multiplexed: each frame is an 8-byte
 * header (stream: 0 stdin, 1 stdout, 2 stderr; three zero bytes; payload length, 32-bit
 * big-endian) then the payload. Stdout payloads go on to `stdout` (the init's channel),
 * stderr payloads to `onStderr` (the init's log lines).
 */
import { PassThrough } from 'node:stream';
import type { Readable } from 'node:stream';

const HEADER = 8;

export class AttachDemux {
  /** The init's stdout, de-framed: what InitChannel reads. */
  readonly stdout = new PassThrough();
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  /** The current frame: its stream and the payload bytes still to come (0: a header is next). */
  private stream = 0;
  private left = 0;

  constructor(source: Readable, private readonly onStderr: (chunk: Buffer) => void) {
    source.on('data', (chunk: Buffer) => this.push(chunk));
    source.once('end', () => this.stdout.end());
    source.once('close', () => this.stdout.end());
    source.on('error', (err) => this.stdout.destroy(err));
    // Backpressure: a slow channel reader pauses the socket.
    this.stdout.on('drain', () => source.resume());
    this.source = source;
  }

  private readonly source: Readable;

  private push(chunk: Buffer): void {
    let buf = chunk;
    while (buf.length > 0) {
      if (this.left > 0) {
        const n = Math.min(this.left, buf.length);
        this.deliver(buf.subarray(0, n));
        this.left -= n;
        buf = buf.subarray(n);
        continue;
      }
      // A header, maybe split over reads.
      const need = HEADER - this.pendingBytes;
      const take = buf.subarray(0, need);
      this.pending.push(take);
      this.pendingBytes += take.length;
      buf = buf.subarray(take.length);
      if (this.pendingBytes < HEADER) return;
      const header = Buffer.concat(this.pending);
      this.pending = [];
      this.pendingBytes = 0;
      this.stream = header[0] ?? 0;
      this.left = header.readUInt32BE(4);
    }
  }

  private deliver(data: Buffer): void {
    if (this.stream === 2) this.onStderr(data);
    else if (this.stream === 1 && !this.stdout.write(data)) this.source.pause();
  }
}
