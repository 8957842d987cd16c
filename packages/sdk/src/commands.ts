/**
 * Durable commands (docs/api.md, "Commands"): background commands, reattach from an offset,
 * list, stdin, signals, kill. Over plain HTTP (the stream route for output, POSTs for input),
 * so it works wherever the SDK does: browsers (whose WebSocket cannot send the Authorization
 * or signature headers the daemon authenticates with), Node 20 (no global WebSocket), and the
 * Unix socket transport of `@agentd/sdk/node`, with no dependency.
 */
import { base64ToBytes, bytesToBase64 } from './base64.js';
import { CancelledError, createError } from './errors.js';
import { isErrorCode } from './codes.js';
import { readLines, StreamEndedError } from './ndjson.js';
import type { HttpTransport } from './transport.js';
import type { Command } from './exec.js';

export type CommandState = 'running' | 'exited' | 'failed' | 'lost';

export interface CommandExit {
  exitCode: number | null;
  signal: string | null;
  timedOut: boolean;
  canceled: boolean;
  /** "OK", or why it ended otherwise (TIMEOUT, CANCELLED, EXEC_FAILED, UNAVAILABLE for a lost command). */
  code: string;
  error?: { code: string; message: string };
}

export interface CommandInfo {
  id: string;
  sandboxId: string;
  argv: string[];
  pid: number | null;
  pty: boolean;
  state: CommandState;
  startedAtMs: number;
  endedAtMs: number | null;
  exit: CommandExit | null;
  /** Output still held: [startOffset, endOffset). */
  output: { startOffset: number; endOffset: number };
  stdinOpen: boolean;
}

export interface CommandOutput {
  stream: 'stdout' | 'stderr' | 'pty';
  /** Offset of the first byte (all streams share one count). */
  offset: number;
  bytes: Uint8Array;
}

export interface FollowOptions {
  /** First byte wanted (default 0: everything still held). */
  fromOffset?: number;
  onData?: (chunk: CommandOutput) => void;
  onStdout?: (bytes: Uint8Array) => void;
  onStderr?: (bytes: Uint8Array) => void;
  /** Bytes the daemon no longer held (its ring buffer moved on): `lostBytes` of them, from `fromOffset`. */
  onOverflow?: (lostBytes: number) => void;
  signal?: AbortSignal;
}

export interface RunOptions extends Omit<FollowOptions, 'fromOffset'> {
  /** Must be true: a background command (for a synchronous one, use `sandbox.exec`). */
  background: true;
  env?: Record<string, string>;
  cwd?: string;
  timeoutMs?: number;
  /** Written to stdin first. */
  stdin?: string | Uint8Array;
  /** Keep stdin open for `sendStdin` (close = EOF). Default false. */
  keepStdinOpen?: boolean;
  /** Run under a terminal. */
  pty?: { rows: number; cols: number; term?: string };
}

function exitFromWire(v: unknown): CommandExit | null {
  if (v === null || typeof v !== 'object') return null;
  const o = v as Record<string, unknown>;
  return {
    exitCode: typeof o.exit_code === 'number' ? o.exit_code : null,
    signal: typeof o.signal === 'string' ? o.signal : null,
    timedOut: o.timed_out === true,
    canceled: o.canceled === true,
    code: typeof o.code === 'string' ? o.code : 'OK',
    ...(typeof o.error === 'object' && o.error !== null ? { error: o.error as { code: string; message: string } } : {}),
  };
}

export function commandFromWire(v: unknown): CommandInfo {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- the daemon's CommandShape (docs/api.md), read field by field with fallbacks
  const o = v as Record<string, any>;
  return {
    id: String(o.id), sandboxId: String(o.sandbox_id), argv: (o.argv as string[]) ?? [], pid: typeof o.pid === 'number' ? o.pid : null, pty: o.pty === true,
    state: o.state as CommandState, startedAtMs: Number(o.started_at_ms), endedAtMs: typeof o.ended_at_ms === 'number' ? o.ended_at_ms : null,
    exit: exitFromWire(o.exit), output: { startOffset: Number(o.output?.start_offset ?? 0), endOffset: Number(o.output?.end_offset ?? 0) }, stdinOpen: o.stdin_open === true,
  };
}

const enc = encodeURIComponent;

/**
 * One command followed from an offset: output goes to the callbacks as it comes; `wait()`
 * resolves with its exit. Disconnecting (`disconnect()`, `await using`, the signal) stops
 * following, never the command: connect again from `offset`.
 */
export class CommandHandle implements AsyncDisposable {
  /** Offset of the next byte this handle will deliver (where to reconnect from). */
  offset: number;
  /** Bytes between the asked offset and what the daemon still held, over this handle's life. */
  lostBytes = 0;
  /** The command's pid (from the daemon's first frame when not known before). */
  pid: number | null;
  /** Resolves once the daemon answered the attach (its first frame); rejects when it refused it. */
  readonly attached: Promise<void>;
  private markAttached!: () => void;
  private readonly ended: Promise<CommandExit & { state: CommandState }>;
  private readonly stop = new AbortController();

  constructor(
    protected readonly transport: HttpTransport,
    readonly sandboxId: string,
    readonly id: string,
    pid: number | null,
    private readonly opts: FollowOptions,
  ) {
    this.pid = pid;
    this.offset = opts.fromOffset ?? 0;
    let fail: (e: unknown) => void = () => undefined;
    this.attached = new Promise<void>((resolve, reject) => {
      this.markAttached = resolve;
      fail = reject;
    });
    this.attached.catch(() => undefined);
    this.ended = this.follow();
    this.ended.catch((err: unknown) => fail(err));
  }

  private get base(): string {
    return `/v1/sandboxes/${enc(this.sandboxId)}/commands/${enc(this.id)}`;
  }

  /** Resolves with the command's exit (or rejects: CancelledError when this handle was disconnected first). */
  wait(): Promise<CommandExit & { state: CommandState }> {
    return this.ended;
  }

  /** Writes to the command's open stdin; resolves once the sandbox took the bytes. */
  async sendStdin(data: string | Uint8Array): Promise<void> {
    await this.transport.request({ method: 'POST', path: `${this.base}/stdin`, body: typeof data === 'string' ? new TextEncoder().encode(data) : data });
  }

  /** Closes stdin: the command reads EOF. */
  async closeStdin(): Promise<void> {
    await this.transport.request({ method: 'POST', path: `${this.base}/stdin`, query: { close: 1 } });
  }

  async signal(signal: string | number, scope: 'leader' | 'group' | 'tree' = 'group'): Promise<void> {
    await this.transport.request({ method: 'POST', path: `${this.base}/signal`, json: { signal, scope } });
  }

  /** Resizes the command's terminal (a command started with `pty`). */
  async resize(rows: number, cols: number): Promise<void> {
    await this.transport.request({ method: 'POST', path: `${this.base}/resize`, json: { rows, cols } });
  }

  /** SIGKILL to the command and everything it started. */
  async kill(): Promise<void> {
    await this.transport.request({ method: 'POST', path: `${this.base}/kill` });
  }

  /** Stops following (the command keeps running). */
  disconnect(): void {
    this.stop.abort(new CancelledError('CANCELLED', 'disconnected from the command'));
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.disconnect();
    await this.ended.catch(() => undefined);
  }

  private async follow(): Promise<CommandExit & { state: CommandState }> {
    const signal = this.opts.signal === undefined ? this.stop.signal : AbortSignal.any([this.stop.signal, this.opts.signal]);
    const res = await this.transport.request({ method: 'GET', path: `${this.base}/stream`, query: { from_offset: this.offset }, signal });
    if (res.body === null) throw new StreamEndedError('PROTOCOL_ERROR', 'the command stream has no body');
    try {
      for await (const line of readLines(res.body)) {
        if (line === '') continue;
        // eslint-disable-next-line @typescript-eslint/no-explicit-any -- one NDJSON frame (docs/api.md), each field converted where used
        const f = JSON.parse(line) as Record<string, any>;
        if (f.type === 'attached') {
          if (typeof f.pid === 'number') this.pid = f.pid;
          this.markAttached();
        } else if (f.type === 'stdout' || f.type === 'stderr' || f.type === 'pty') {
          const bytes = base64ToBytes(String(f.data));
          this.offset = Number(f.offset) + bytes.length;
          this.opts.onData?.({ stream: f.type, offset: Number(f.offset), bytes });
          if (f.type === 'stderr') this.opts.onStderr?.(bytes);
          else this.opts.onStdout?.(bytes);
        } else if (f.type === 'overflow') {
          this.lostBytes += Number(f.lost_bytes);
          this.offset = Number(f.next_offset);
          this.opts.onOverflow?.(Number(f.lost_bytes));
        } else if (f.type === 'exit') {
          return { ...(exitFromWire(f) as CommandExit), state: f.state as CommandState };
        } else if (f.type === 'error') {
          const code = String(f.error?.code ?? 'INTERNAL');
          throw createError(isErrorCode(code) ? code : 'INTERNAL', String(f.error?.message ?? 'command stream failed'));
        }
      }
    } catch (err) {
      if (signal.aborted) throw new CancelledError('CANCELLED', 'disconnected from the command', { cause: err });
      throw err;
    }
    if (signal.aborted) throw new CancelledError('CANCELLED', 'disconnected from the command');
    throw new StreamEndedError('PROTOCOL_ERROR', 'the command stream ended before the command did');
  }
}

/** `sandbox.commands`. */
export class SandboxCommands {
  constructor(
    private readonly transport: HttpTransport,
    readonly sandboxId: string,
  ) {}

  private get base(): string {
    return `/v1/sandboxes/${enc(this.sandboxId)}/commands`;
  }

  /** Starts a background command and follows its output from the start: it outlives this handle. */
  async run(command: Command, options: RunOptions): Promise<CommandHandle> {
    if (options.background !== true) throw createError('INVALID_ARGUMENT', 'commands.run takes { background: true }; for a synchronous command use sandbox.exec');
    const info = await this.start(command, options);
    return new CommandHandle(this.transport, this.sandboxId, info.id, info.pid, { ...options, fromOffset: 0 });
  }

  /** Starts a command (background) and returns its record without following it. */
  async start(command: Command, options: Omit<RunOptions, 'background' | 'onData' | 'onStdout' | 'onStderr' | 'onOverflow'> & { background?: true }): Promise<CommandInfo> {
    const stdin = options.stdin === undefined ? undefined : typeof options.stdin === 'string' ? { stdin: options.stdin } : { stdin: bytesToBase64(options.stdin), stdin_encoding: 'base64' };
    const body = {
      ...(typeof command === 'string' ? { command } : { argv: command }),
      ...(options.env ? { env: options.env } : {}),
      ...(options.cwd ? { cwd: options.cwd } : {}),
      ...(options.timeoutMs === undefined ? {} : { timeout_ms: options.timeoutMs }),
      ...(stdin ?? {}),
      ...(options.keepStdinOpen === true ? { keep_stdin_open: true } : {}),
      ...(options.pty ? { pty: options.pty } : {}),
    };
    return commandFromWire(await this.transport.json({ method: 'POST', path: this.base, json: body, signal: options.signal }));
  }

  /**
   * Follows a command (running or finished) from an offset: one request, resolved once the
   * daemon accepted it (NotFoundError for an unknown id, or another tenant's).
   */
  async connect(id: string, options: FollowOptions = {}): Promise<CommandHandle> {
    const h = new CommandHandle(this.transport, this.sandboxId, id, null, options);
    await h.attached;
    return h;
  }

  async list(options: { signal?: AbortSignal } = {}): Promise<CommandInfo[]> {
    const answer = (await this.transport.json({ method: 'GET', path: this.base, signal: options.signal })) as { commands: unknown[] };
    return answer.commands.map(commandFromWire);
  }

  async get(id: string, options: { signal?: AbortSignal } = {}): Promise<CommandInfo> {
    return commandFromWire(await this.transport.json({ method: 'GET', path: `${this.base}/${enc(id)}`, signal: options.signal }));
  }

  async sendStdin(id: string, data: string | Uint8Array, options: { close?: boolean; signal?: AbortSignal } = {}): Promise<void> {
    await this.transport.request({
      method: 'POST', path: `${this.base}/${enc(id)}/stdin`, body: typeof data === 'string' ? new TextEncoder().encode(data) : data,
      ...(options.close === true ? { query: { close: 1 } } : {}), signal: options.signal,
    });
  }

  async kill(id: string, options: { signal?: AbortSignal } = {}): Promise<void> {
    await this.transport.request({ method: 'POST', path: `${this.base}/${enc(id)}/kill`, signal: options.signal });
  }

  async signal(id: string, signal: string | number, options: { scope?: 'leader' | 'group' | 'tree'; signal?: AbortSignal } = {}): Promise<void> {
    await this.transport.request({ method: 'POST', path: `${this.base}/${enc(id)}/signal`, json: { signal, scope: options.scope ?? 'group' }, signal: options.signal });
  }
}
