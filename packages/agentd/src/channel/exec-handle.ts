/**
 * One exec on an agentd-init channel: the state machine STARTED -> STDOUT/STDERR* -> EXIT,
 * the output queue, and credit returned to the init as the consumer pulls chunks.
 */
import { constants } from 'node:os';
import { AgentdError, SandboxOsError } from '../core/errors.js';
import { errnoName } from '../core/errno.js';
import { STREAM, type InitMessage } from './frames.js';
import type { ExecHandle, ExitInfo, OutputChunk, SignalScope } from './types.js';

/** What an exec needs from its channel. */
export interface ExecTransport {
  credit(execId: number, stream: 1 | 2, bytes: number): void;
  stdin(execId: number, data: Buffer): Promise<void>;
  signal(execId: number, signo: number, scope: SignalScope): Promise<void>;
  /** RESIZE of a PTY exec. */
  resize(execId: number, rows: number, cols: number): Promise<void>;
  /** The exec is finished (EXIT or failure): its id may be reused. */
  release(execId: number): void;
  /** Kills the exec's processes from outside the sandbox, without the init (undefined: not possible here). */
  forceKill?(execId: number, pids: { leader: number; shepherd: number }): Promise<void>;
}

const SIGNAL_NAMES = new Map<number, NodeJS.Signals>(
  Object.entries(constants.signals).map(([name, no]) => [no, name as NodeJS.Signals]),
);

export function signalNumber(sig: NodeJS.Signals | number): number {
  if (typeof sig === 'number') return sig;
  const no = (constants.signals as Record<string, number | undefined>)[sig];
  if (no === undefined) throw new AgentdError('INVALID_ARGUMENT', `unknown signal ${sig}`);
  return no;
}

function noop(): void {}

/** The init's output credit per stream when an EXEC asks for window 0 (docs/protocol.md). */
export const DEFAULT_WINDOW = 1024 * 1024;

export class InitExec implements ExecHandle {
  readonly started: Promise<{ pid: number }>;
  readonly exited: Promise<ExitInfo>;
  private resolveStarted!: (v: { pid: number }) => void;
  private rejectStarted!: (e: Error) => void;
  private resolveExited!: (v: ExitInfo) => void;
  private rejectExited!: (e: Error) => void;

  private readonly queue: OutputChunk[] = [];
  private head = 0;
  private waiter: ((r: IteratorResult<OutputChunk>) => void) | undefined;
  private waiterFail: ((e: Error) => void) | undefined;
  /** EXIT seen (or failure): no more chunks will be queued. */
  private done = false;
  private failure: Error | undefined;
  private hasStarted = false;
  /** The init's pids of the leader and of its shepherd (docs/protocol.md), from STARTED. */
  private pids: { leader: number; shepherd: number } | undefined;
  /** Settled by `abandon` before the init's EXIT: later frames are accepted and discarded. */
  private abandoned = false;
  private consumed = false;
  /** The consumer stopped early: output is discarded and credited so the process never blocks. */
  private discarding = false;
  private stdinTail: Promise<void> = Promise.resolve();
  /**
   * Consumed bytes not yet credited back, per stream. Credit goes back in batches of a
   * quarter window, not one CREDIT per chunk: the init always keeps at least three quarters
   * of its window once the consumer has caught up, so batching never stalls it, and a
   * 256 MiB stream costs ~1000 CREDIT frames instead of ~8000.
   */
  private readonly uncredited = { stdout: 0, stderr: 0 };
  private readonly creditBatch: number;
  /**
   * Bytes the init may still send per stream: the window plus every CREDIT sent, minus
   * what arrived. Output beyond it is a protocol violation (onMessage returns false): so
   * this exec never queues more than one window per stream, whatever the init does.
   */
  private readonly allowance: { stdout: number; stderr: number };

  constructor(
    readonly id: number,
    private readonly transport: ExecTransport,
    window = DEFAULT_WINDOW,
    /** Runs on a terminal: its output is one stream (STDOUT frames), STDERR is a violation. */
    readonly pty = false,
  ) {
    this.creditBatch = Math.max(1, Math.floor((window > 0 ? window : DEFAULT_WINDOW) / 4));
    const w = window > 0 ? window : DEFAULT_WINDOW;
    this.allowance = { stdout: w, stderr: w };
    this.started = new Promise((resolve, reject) => {
      this.resolveStarted = resolve;
      this.rejectStarted = reject;
    });
    this.exited = new Promise((resolve, reject) => {
      this.resolveExited = resolve;
      this.rejectExited = reject;
    });
    // A caller may await only one of them; the other must not become an unhandled rejection.
    this.started.catch(noop);
    this.exited.catch(noop);
  }

  /** Feeds one frame addressed to this exec. Returns false if the frame makes no sense here. */
  onMessage(msg: InitMessage): boolean {
    switch (msg.type) {
      case 'STARTED':
        if (this.hasStarted || this.done) return false;
        this.hasStarted = true;
        this.pids = { leader: msg.pid, shepherd: msg.shepherd };
        // Given up on before it even started: it must not run unsupervised.
        if (this.abandoned) void this.transport.signal(this.id, signalNumber('SIGKILL'), 'tree').catch(noop);
        else this.resolveStarted({ pid: msg.pid });
        return true;
      case 'STDOUT':
      case 'STDERR': {
        if (!this.hasStarted || this.done) return false;
        if (this.pty && msg.type === 'STDERR') return false;
        const stream = msg.type === 'STDOUT' ? 'stdout' : 'stderr';
        if (msg.data.length > this.allowance[stream]) return false;
        this.allowance[stream] -= msg.data.length;
        this.push({ stream, data: msg.data });
        return true;
      }
      case 'EXIT':
        if (!this.hasStarted || this.done) return false;
        if (this.abandoned) {
          this.done = true;
          this.transport.release(this.id);
          return true;
        }
        this.finish({
          exitCode: msg.signal === 0 ? msg.exitCode : null,
          signal: msg.signal === 0 ? null : (SIGNAL_NAMES.get(msg.signal) ?? null),
          maxRssKib: msg.maxRssKib,
          userUsec: msg.userUsec,
          sysUsec: msg.sysUsec,
        });
        return true;
      case 'ERROR': {
        if (this.hasStarted || this.done) return false;
        const name = errnoName(msg.errno);
        const err = new SandboxOsError('EXEC_FAILED', msg.errno, name, `could not start command: ${msg.message} (${name})`);
        this.fail(err);
        return true;
      }
      case 'READY':
      case 'PONG':
      case 'OK':
      case 'FS_DATA':
      case 'FS_WRITTEN':
      case 'FS_STAT_RESULT':
      case 'FS_LIST_RESULT':
      case 'WATCH_EVENT':
      case 'WATCH_END':
        return false;
    }
  }

  /** Ends the exec with an error (channel closed, protocol error, start failure). */
  fail(err: Error): void {
    if (this.done) return;
    this.done = true;
    this.failure = err;
    this.transport.release(this.id);
    if (!this.hasStarted) this.rejectStarted(err);
    this.rejectExited(err);
    this.wake();
  }

  output(): AsyncIterable<OutputChunk> {
    if (this.consumed) throw new AgentdError('INTERNAL', `output of exec ${this.id} is already being consumed`);
    this.consumed = true;
    const iterator: AsyncIterator<OutputChunk> = {
      next: () => this.next(),
      return: () => {
        this.stopConsuming();
        return Promise.resolve({ done: true, value: undefined });
      },
    };
    return { [Symbol.asyncIterator]: () => iterator };
  }

  writeStdin(data: Buffer | string): Promise<void> {
    const buf = typeof data === 'string' ? Buffer.from(data) : data;
    if (buf.length === 0) return this.stdinTail;
    return this.queueStdin(buf);
  }

  closeStdin(): Promise<void> {
    return this.queueStdin(Buffer.alloc(0));
  }

  /** Stdin writes go out one after the other, in call order, even when callers do not await. */
  private queueStdin(buf: Buffer): Promise<void> {
    const next = this.stdinTail.then(() => this.transport.stdin(this.id, buf));
    this.stdinTail = next.catch(noop);
    return next;
  }

  async signal(signo: NodeJS.Signals | number, scope: SignalScope): Promise<void> {
    await this.transport.signal(this.id, signalNumber(signo), scope);
  }

  async resize(rows: number, cols: number): Promise<void> {
    if (!this.pty) throw new AgentdError('INVALID_ARGUMENT', `exec ${this.id} has no terminal to resize`);
    await this.transport.resize(this.id, rows, cols);
  }

  /**
   * Kills every process of the exec from outside the sandbox (the daemon, through /proc,
   * not the init): for an init that does not act on a SIGNAL in time. false when this
   * channel has no such means or the exec never started.
   */
  async forceKill(): Promise<boolean> {
    if (this.transport.forceKill === undefined || this.pids === undefined || this.done) return false;
    await this.transport.forceKill(this.id, this.pids);
    return true;
  }

  /**
   * Settles `exited` with `info` without waiting for the init's EXIT (which may never come
   * from an init that no longer answers). Output still arriving is credited and dropped;
   * the real EXIT, if it comes, only frees the id.
   */
  abandon(info: ExitInfo): void {
    if (this.done || this.abandoned) return;
    this.abandoned = true;
    this.stopConsuming();
    if (!this.hasStarted) this.rejectStarted(new AgentdError('TIMEOUT', `exec ${this.id}: the sandbox did not even start the command in time`));
    this.resolveExited(info);
    this.wakeDone();
  }

  private push(chunk: OutputChunk): void {
    if (this.discarding) {
      this.credit(chunk);
      return;
    }
    const waiter = this.waiter;
    if (waiter !== undefined) {
      this.waiter = undefined;
      this.waiterFail = undefined;
      this.credit(chunk);
      waiter({ done: false, value: chunk });
      return;
    }
    this.queue.push(chunk);
  }

  private finish(info: ExitInfo): void {
    this.done = true;
    this.transport.release(this.id);
    this.resolveExited(info);
    this.wake();
  }

  /** Ends a waiting output iterator (abandoned: no more chunks will be yielded). */
  private wakeDone(): void {
    const waiter = this.waiter;
    this.waiter = undefined;
    this.waiterFail = undefined;
    waiter?.({ done: true, value: undefined });
  }

  private wake(): void {
    const waiter = this.waiter;
    const fail = this.waiterFail;
    if (waiter === undefined || fail === undefined) return;
    this.waiter = undefined;
    this.waiterFail = undefined;
    if (this.failure !== undefined) fail(this.failure);
    else waiter({ done: true, value: undefined });
  }

  private next(): Promise<IteratorResult<OutputChunk>> {
    if (this.head < this.queue.length) {
      const chunk = this.queue[this.head] as OutputChunk;
      this.queue[this.head++] = undefined as unknown as OutputChunk;
      if (this.head === this.queue.length) {
        this.queue.length = 0;
        this.head = 0;
      }
      this.credit(chunk);
      return Promise.resolve({ done: false, value: chunk });
    }
    if (this.done || this.abandoned) {
      return this.failure !== undefined ? Promise.reject(this.failure) : Promise.resolve({ done: true, value: undefined });
    }
    return new Promise((resolve, reject) => {
      this.waiter = resolve;
      this.waiterFail = reject;
    });
  }

  /** Credit is returned only while the init may still send (before EXIT), a batch at a time. */
  private credit(chunk: OutputChunk, flush = false): void {
    if (this.done) return;
    const owed = this.uncredited[chunk.stream] + chunk.data.length;
    if (owed === 0 || (owed < this.creditBatch && !flush)) {
      this.uncredited[chunk.stream] = owed;
      return;
    }
    this.uncredited[chunk.stream] = 0;
    this.allowance[chunk.stream] += owed;
    this.transport.credit(this.id, chunk.stream === 'stdout' ? STREAM.stdout : STREAM.stderr, owed);
  }

  private stopConsuming(): void {
    this.discarding = true;
    for (let i = this.head; i < this.queue.length; i++) this.credit(this.queue[i] as OutputChunk);
    this.queue.length = 0;
    this.head = 0;
    // From now on everything is discarded: nothing may stay owed, or the init could block.
    for (const stream of ['stdout', 'stderr'] as const) this.credit({ stream, data: Buffer.alloc(0) }, true);
  }
}
