/**
 * One directory watch on an agentd-init channel: OK -> WATCH_EVENT* -> WATCH_END, events
 * queued for the consumer and credited back (in events) as it takes them.
 */
import { AgentdError, SandboxOsError } from '../core/errors.js';
import { errnoName } from '../core/errno.js';
import { DEFAULT_WATCH_WINDOW, WATCH_KIND, type InitMessage, type WireWatchEvent } from './frames.js';
import type { WatchEnd, WatchEvent, WatchEventType, WatchHandle } from './types.js';

export interface WatchTransport {
  credit(watchId: number, events: number): void;
  unwatch(watchId: number): Promise<void>;
  release(watchId: number): void;
}

const TYPE_BY_KIND = new Map<number, WatchEventType>(Object.entries(WATCH_KIND).map(([name, kind]) => [kind, name as WatchEventType]));

function noop(): void {}

export function toWatchEvent(e: WireWatchEvent): WatchEvent {
  const type = TYPE_BY_KIND.get(e.kind) as WatchEventType;
  const out: WatchEvent = { type, path: e.path, isDir: e.dir === 1 };
  if (type === 'rename') out.to = e.to;
  if (type === 'overflow') out.lost = e.count;
  if (type === 'unwatched') out.errno = errnoName(e.count);
  return out;
}

export class InitWatch implements WatchHandle {
  readonly started: Promise<void>;
  readonly ended: Promise<WatchEnd>;
  private resolveStarted!: () => void;
  private rejectStarted!: (e: Error) => void;
  private resolveEnded!: (v: WatchEnd) => void;
  private rejectEnded!: (e: Error) => void;
  private hasStarted = false;
  private done = false;
  private failure: Error | undefined;
  private readonly queue: WatchEvent[] = [];
  private waiter: ((r: IteratorResult<WatchEvent>) => void) | undefined;
  private waiterFail: ((e: Error) => void) | undefined;
  private consumed = false;
  private stopping: Promise<void> | undefined;
  /** Events the init may still send: the window plus credit returned, minus what arrived. */
  private allowance: number;
  private uncredited = 0;
  private readonly batch: number;

  constructor(
    readonly id: number,
    private readonly transport: WatchTransport,
    window = DEFAULT_WATCH_WINDOW,
  ) {
    const w = window > 0 ? window : DEFAULT_WATCH_WINDOW;
    this.allowance = w;
    this.batch = Math.max(1, Math.floor(w / 4));
    this.started = new Promise((resolve, reject) => {
      this.resolveStarted = resolve;
      this.rejectStarted = reject;
    });
    this.ended = new Promise((resolve, reject) => {
      this.resolveEnded = resolve;
      this.rejectEnded = reject;
    });
    this.started.catch(noop);
    this.ended.catch(noop);
  }

  /** Feeds one frame for this watch; false if it breaks the protocol. */
  onMessage(msg: InitMessage): boolean {
    switch (msg.type) {
      case 'OK':
        if (this.hasStarted || this.done) return false;
        this.hasStarted = true;
        this.resolveStarted();
        return true;
      case 'ERROR': {
        if (this.hasStarted || this.done) return false;
        const name = errnoName(msg.errno);
        this.fail(new SandboxOsError('FS_ERROR', msg.errno, name, `watch failed: ${msg.message} (${name})`, { operation: `watch` }));
        return true;
      }
      case 'WATCH_EVENT':
        if (!this.hasStarted || this.done) return false;
        if (msg.events.length > this.allowance) return false;
        this.allowance -= msg.events.length;
        for (const e of msg.events) this.push(toWatchEvent(e));
        return true;
      case 'WATCH_END':
        if (!this.hasStarted || this.done) return false;
        this.done = true;
        this.transport.release(this.id);
        this.resolveEnded({ reason: msg.errno === 0 ? 'stopped' : 'gone', message: msg.message });
        this.wake();
        return true;
      case 'READY':
      case 'PONG':
      case 'STARTED':
      case 'STDOUT':
      case 'STDERR':
      case 'EXIT':
      case 'FS_DATA':
      case 'FS_WRITTEN':
      case 'FS_STAT_RESULT':
      case 'FS_LIST_RESULT':
        return false;
    }
  }

  /** Ends the watch with an error (the channel closed or broke). */
  fail(err: Error): void {
    if (this.done) return;
    this.done = true;
    this.transport.release(this.id);
    if (!this.hasStarted) {
      this.failure = err;
      this.rejectStarted(err);
      this.rejectEnded(err);
    } else {
      // A started watch ends with its sandbox: that is an end, not an error.
      this.resolveEnded({ reason: 'closed', message: err.message });
    }
    this.wake();
  }

  events(): AsyncIterable<WatchEvent> {
    if (this.consumed) throw new AgentdError('INTERNAL', `events of watch ${this.id} are already being consumed`);
    this.consumed = true;
    const iterator: AsyncIterator<WatchEvent> = {
      next: () => this.next(),
      return: () => {
        void this.stop().catch(noop);
        return Promise.resolve({ done: true, value: undefined });
      },
    };
    return { [Symbol.asyncIterator]: () => iterator };
  }

  stop(): Promise<void> {
    if (this.done) return Promise.resolve();
    this.stopping ??= this.transport.unwatch(this.id).catch((err: unknown) => {
      // Ended meanwhile (ESRCH) or the channel is gone: either way it is stopped.
      if (!(err instanceof AgentdError)) throw err;
    });
    return this.stopping;
  }

  private push(e: WatchEvent): void {
    const waiter = this.waiter;
    if (waiter !== undefined) {
      this.waiter = undefined;
      this.waiterFail = undefined;
      this.credit(1);
      waiter({ done: false, value: e });
      return;
    }
    this.queue.push(e);
  }

  private next(): Promise<IteratorResult<WatchEvent>> {
    const e = this.queue.shift();
    if (e !== undefined) {
      this.credit(1);
      return Promise.resolve({ done: false, value: e });
    }
    if (this.done) return this.failure !== undefined ? Promise.reject(this.failure) : Promise.resolve({ done: true, value: undefined });
    return new Promise((resolve, reject) => {
      this.waiter = resolve;
      this.waiterFail = reject;
    });
  }

  private wake(): void {
    const waiter = this.waiter;
    const fail = this.waiterFail;
    this.waiter = undefined;
    this.waiterFail = undefined;
    if (waiter === undefined || fail === undefined) return;
    if (this.failure !== undefined) fail(this.failure);
    else waiter({ done: true, value: undefined });
  }

  private credit(n: number): void {
    if (this.done) return;
    this.uncredited += n;
    if (this.uncredited < this.batch) return;
    this.allowance += this.uncredited;
    this.transport.credit(this.id, this.uncredited);
    this.uncredited = 0;
  }
}
