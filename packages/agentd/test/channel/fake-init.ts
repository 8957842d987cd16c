/**
 * A scripted stand-in for agentd-init, built on the reverse direction of the codec: the test
 * reads the daemon's requests and writes the init's answers by hand. Used for the channel's
 * protocol-level behaviour (correlation, credit, malformed frames, channel death).
 */
import { PassThrough } from 'node:stream';
import { encodeMessage, FrameDecoder, PROTOCOL_VERSION, type DaemonMessage, type InitMessage, type Message, type MessageName } from '../../src/channel/frames.js';

export class FakeInit {
  /** The daemon writes here (the init's stdin). */
  readonly stdin = new PassThrough();
  /** The daemon reads here (the init's stdout). */
  readonly stdout = new PassThrough();
  readonly received: DaemonMessage[] = [];
  private readonly decoder = new FrameDecoder<DaemonMessage>('daemon');
  private readonly waiters: Array<() => void> = [];

  constructor() {
    this.stdin.on('data', (chunk: Buffer) => {
      for (const m of this.decoder.push(chunk)) {
        if (m.type === 'PROTOCOL_ERROR') throw m.error;
        this.received.push(m);
      }
      for (const w of this.waiters.splice(0)) w();
    });
  }

  send(msg: InitMessage): void {
    this.stdout.write(encodeMessage(msg));
  }

  sendRaw(bytes: Buffer): void {
    this.stdout.write(bytes);
  }

  ready(version = PROTOCOL_VERSION): void {
    this.send({ type: 'READY', id: 0, protocolVersion: version, pid: 1, version: 'fake' });
  }

  /** Waits for the next not yet taken message of a type (in arrival order) and takes it. */
  async take<N extends MessageName>(type: N, timeoutMs = 2000): Promise<Message<N>> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const i = this.received.findIndex((m) => m.type === type);
      if (i >= 0) return this.received.splice(i, 1)[0] as unknown as Message<N>;
      if (Date.now() > deadline) throw new Error(`fake init: no ${type} within ${timeoutMs} ms (have ${this.received.map((m) => m.type).join(',')})`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, 20);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  /** All messages of a type received so far (taken out). */
  drain<N extends MessageName>(type: N): Array<Message<N>> {
    const out: Array<Message<N>> = [];
    for (let i = 0; i < this.received.length; ) {
      const m = this.received[i] as DaemonMessage;
      if (m.type === type) {
        out.push(m as unknown as Message<N>);
        this.received.splice(i, 1);
      } else i++;
    }
    return out;
  }

  die(): void {
    this.stdout.end();
  }
}
