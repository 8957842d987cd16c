/**
 * One command (one exec) as the daemon keeps it: its record, its output ring, its live
 * handle while it runs (stdin, signals, resize by id), and the readers following it.
 */
import type { ExecHandle, SignalScope } from '../channel/types.js';
import { AgentdError } from '../core/errors.js';
import type { CommandRow, CommandState } from '../state/commands.js';
import { OutputRing, type OutputStream, type RingChunk } from './ring.js';

export interface CommandExit {
  exit_code: number | null;
  signal: string | null;
  timed_out: boolean;
  canceled: boolean;
  /** The intent's error code when the command did not end normally (TIMEOUT, CANCELLED, ...). */
  code: string;
  /** Set when the command never started, or was lost with its daemon. */
  error?: { code: string; message: string };
}

/** What `GET .../commands` lists (docs/api.md, "Commands"). */
export interface CommandView {
  id: string;
  sandbox_id: string;
  argv: string[];
  pid: number | null;
  pty: boolean;
  state: CommandState;
  started_at_ms: number;
  ended_at_ms: number | null;
  exit: CommandExit | null;
  /** Offsets of the output still held: [start, end). end = bytes written in all. */
  output: { start_offset: number; end_offset: number };
  stdin_open: boolean;
}

/** What a reader gets, in order: output from its offset (after a gap report), then the end. */
export type FollowEvent =
  | { type: 'overflow'; lost_bytes: number; next_offset: number }
  | { type: 'output'; stream: OutputStream; offset: number; data: Buffer }
  | { type: 'end'; state: CommandState; exit: CommandExit | null; end_offset: number };

export interface CommandInit {
  id: string;
  sandboxId: string;
  tenant: string;
  subject: string;
  argv: string[];
  pty: boolean;
  ringBytes: number;
  startedAtMs: number;
  /** Kills on client disconnect (the WebSocket route acts on it). */
  keepAliveOnDisconnect: boolean;
  /** Aborts the exec's run: the lifecycle helper's SIGTERM, grace, SIGKILL of the whole tree. */
  abort: AbortController;
}

function noop(): void {}

export class Command {
  readonly id: string;
  readonly sandboxId: string;
  readonly tenant: string;
  readonly subject: string;
  readonly argv: string[];
  readonly pty: boolean;
  readonly startedAtMs: number;
  readonly keepAliveOnDisconnect: boolean;
  ring: OutputRing;
  pid: number | null = null;
  state: CommandState = 'running';
  endedAtMs: number | null = null;
  exit: CommandExit | null = null;
  /** Output changed since the tail was last persisted. */
  dirty = false;
  private handle: ExecHandle | undefined;
  private stdinOpen: boolean;
  private readonly abort: AbortController | undefined;
  private waiters = new Set<() => void>();

  constructor(init: CommandInit, stdinPipe: boolean, handle?: ExecHandle) {
    this.id = init.id;
    this.sandboxId = init.sandboxId;
    this.tenant = init.tenant;
    this.subject = init.subject;
    this.argv = init.argv;
    this.pty = init.pty;
    this.startedAtMs = init.startedAtMs;
    this.keepAliveOnDisconnect = init.keepAliveOnDisconnect;
    this.ring = new OutputRing(init.ringBytes);
    this.abort = init.abort;
    this.handle = handle;
    this.stdinOpen = stdinPipe;
  }

  /** A record read back after a restart (`lost`) or kept from before: output from its persisted tail. */
  static fromRow(row: CommandRow, ring: OutputRing): Command {
    const c = new Command({
      id: row.id, sandboxId: row.sandboxId, tenant: row.tenant, subject: row.subject, argv: row.argv, pty: row.pty, ringBytes: ring.capacity,
      startedAtMs: row.startedAtMs, keepAliveOnDisconnect: true, abort: new AbortController(),
    }, false);
    c.ring = ring;
    c.pid = row.pid;
    c.state = row.state;
    c.endedAtMs = row.endedAtMs;
    c.exit = row.state === 'running' ? null : {
      exit_code: row.exitCode, signal: row.signal, timed_out: false, canceled: false, code: row.state === 'lost' ? 'UNAVAILABLE' : 'OK',
      ...(row.error === null ? {} : { error: { code: row.state === 'lost' ? 'UNAVAILABLE' : 'EXEC_FAILED', message: row.error } }),
    };
    return c;
  }

  get running(): boolean {
    return this.state === 'running';
  }

  setHandle(handle: ExecHandle): void {
    this.handle = handle;
  }

  started(pid: number): void {
    this.pid = pid;
    this.notify();
  }

  append(stream: OutputStream, data: Buffer): void {
    this.ring.append(stream, data);
    this.dirty = true;
    this.notify();
  }

  finish(state: CommandState, exit: CommandExit, nowMs: number): void {
    if (!this.running) return;
    this.state = state;
    this.exit = exit;
    this.endedAtMs = nowMs;
    this.stdinOpen = false;
    this.handle = undefined;
    this.dirty = true;
    this.notify();
  }

  view(): CommandView {
    return {
      id: this.id, sandbox_id: this.sandboxId, argv: this.argv, pid: this.pid, pty: this.pty, state: this.state,
      started_at_ms: this.startedAtMs, ended_at_ms: this.endedAtMs, exit: this.exit,
      output: { start_offset: this.ring.start, end_offset: this.ring.end }, stdin_open: this.stdinOpen,
    };
  }

  /** Writes to the command's stdin; resolves once agentd-init took the bytes (backpressure). */
  async writeStdin(data: Buffer): Promise<void> {
    const h = this.liveHandle('stdin');
    if (!this.stdinOpen) throw new AgentdError('CONFLICT', `command ${this.id} has no open stdin (start it with keep_stdin_open, or it was closed)`, { details: { reason: 'stdin_closed' } });
    await h.writeStdin(data);
  }

  /** Closes stdin: the command reads EOF. */
  async closeStdin(): Promise<void> {
    const h = this.liveHandle('stdin');
    if (!this.stdinOpen) return;
    this.stdinOpen = false;
    await h.closeStdin();
  }

  async signal(sig: NodeJS.Signals | number, scope: SignalScope): Promise<void> {
    await this.liveHandle('signal').signal(sig, scope);
  }

  /** SIGKILL to the whole tree now, and the run aborted (the lifecycle helper kills from the host if the init does not act). */
  async kill(): Promise<void> {
    const h = this.liveHandle('kill');
    this.abort?.abort(new AgentdError('CANCELLED', `command ${this.id} was killed`));
    await h.signal('SIGKILL', 'tree').catch(noop);
  }

  async resize(rows: number, cols: number): Promise<void> {
    const h = this.liveHandle('resize') as ExecHandle & { resize?: (rows: number, cols: number) => Promise<void> };
    if (!this.pty || h.resize === undefined) throw new AgentdError('CONFLICT', `command ${this.id} has no terminal to resize`, { details: { reason: 'no_pty' } });
    await h.resize(rows, cols);
  }

  /**
   * Output from `fromOffset` (a gap first if those bytes are gone), live while the command
   * runs, then its end. The caller's own pace: nothing here waits for a slow reader (the
   * ring moves on; the reader learns what it lost).
   */
  async *follow(fromOffset: number, signal: AbortSignal): AsyncGenerator<FollowEvent> {
    let offset = fromOffset;
    // One listener for the whole follow (one per wait piled up on a long-lived signal: a
    // terminal session waits once per keystroke's echo).
    const aborted = new Promise<void>((resolve) => {
      if (signal.aborted) resolve();
      else signal.addEventListener('abort', () => resolve(), { once: true });
    });
    for (;;) {
      const changed = this.changed();
      const r = this.ring.readFrom(offset, 256 * 1024);
      if (r.lost > 0) yield { type: 'overflow', lost_bytes: r.lost, next_offset: offset + r.lost };
      for (const c of r.chunks) yield { type: 'output', stream: c.stream, offset: c.offset, data: c.data };
      offset = r.next;
      if (r.chunks.length > 0) continue;
      if (!this.running && offset >= this.ring.end) {
        yield { type: 'end', state: this.state, exit: this.exit, end_offset: this.ring.end };
        return;
      }
      if (signal.aborted) return;
      await Promise.race([changed.promise, aborted]);
      changed.cancel();
      if (signal.aborted) return;
    }
  }

  /** The last `bytes` of output, for persistence. */
  tail(bytes: number): RingChunk[] {
    return bytes > 0 ? this.ring.tail(bytes) : [];
  }

  private changed(): { promise: Promise<void>; cancel: () => void } {
    let done: () => void = noop;
    const promise = new Promise<void>((resolve) => {
      done = resolve;
    });
    this.waiters.add(done);
    return { promise, cancel: () => this.waiters.delete(done) };
  }

  private notify(): void {
    const ws = this.waiters;
    if (ws.size === 0) return;
    this.waiters = new Set();
    for (const w of ws) w();
  }

  private liveHandle(what: string): ExecHandle {
    if (!this.running) throw new AgentdError('CONFLICT', `command ${this.id} is not running (${this.state}): no ${what}`, { details: { reason: 'not_running', state: this.state } });
    if (this.handle === undefined) throw new AgentdError('UNAVAILABLE', `command ${this.id} is starting; retry`, { retryAfterMs: 50 });
    return this.handle;
  }
}
