/**
 * The daemon's end of an agentd-init channel: request ids and correlation, READY, execs,
 * file operations, and the end of the channel (every pending operation then fails with
 * SANDBOX_DEAD).
 */
import type { Readable, Writable } from 'node:stream';
import { AgentdError, SandboxOsError, toAgentdError } from '../core/errors.js';
import { errnoName } from '../core/errno.js';
import type { Logger } from '../util/logger.js';
import { silentLogger } from '../util/logger.js';
import { InitExec, type ExecTransport } from './exec-handle.js';
import { EXEC_FLAGS, encodeMessage, FrameDecoder, MAX_CHUNK, MAX_ENTRY_NAME, MAX_ERROR_MESSAGE, MAX_LINK_TARGET, MAX_NICE, MAX_PTY_DIM, MAX_VERSION_STRING, PROTOCOL_VERSION, SCOPE, type InitMessage, type Message, type MessageName } from './frames.js';
import { InitFs, type RequestBody } from './sandbox-fs.js';
import { InitWatch, type WatchTransport } from './watch-handle.js';
import { DEFAULT_TERM, type Channel, type ExecHandle, type ExecRequest, type InitReady, type SandboxFs, type WatchHandle, type WatchOptions } from './types.js';

export interface InitChannelOptions {
  logger?: Logger;
  /**
   * Called once when the init violates the protocol (after the channel was closed): the
   * owner kills the sandbox. The init is not trusted (docs/protocol.md).
   */
  onViolation?: (err: AgentdError) => void;
  /** Kills an exec's processes from outside the sandbox (see host-kill.ts); absent: not possible. */
  forceKill?: (pids: { leader: number; shepherd: number }) => Promise<void>;
}

interface Pending {
  expect: MessageName;
  /** Checks an answer of the expected type against what was asked (a reason when it breaks the protocol). */
  check?: (msg: InitMessage) => string | undefined;
  what: string;
  errorCode: 'FS_ERROR' | 'EXEC_FAILED';
  resolve: (msg: InitMessage) => void;
  reject: (err: Error) => void;
}

const MAX_ID = 0xffffffff;

function noop(): void {}

export class InitChannel implements Channel {
  readonly ready: Promise<InitReady>;
  readonly closed: Promise<Error | undefined>;
  readonly fs: SandboxFs;

  private readonly logger: Logger;
  private readonly onViolation: ((err: AgentdError) => void) | undefined;
  /** Output frames spanning two socket reads are handed on as two views, not joined (issue 16). */
  private readonly decoder = new FrameDecoder<InitMessage>('init', { splitOutput: true });
  private readonly pending = new Map<number, Pending>();
  private readonly execs = new Map<number, InitExec>();
  private readonly watches = new Map<number, InitWatch>();
  private readonly transport: ExecTransport;
  private readonly watchTransport: WatchTransport;
  private nextId = 1;
  private closeError: Error | undefined;
  private isDone = false;
  private gotReady = false;
  private shuttingDown = false;
  private violated = false;
  private corked = false;
  private readonly waiting: Buffer[] = [];
  private resolveReady!: (r: InitReady) => void;
  private rejectReady!: (e: Error) => void;
  private resolveClosed!: (e: Error | undefined) => void;

  constructor(
    private readonly input: Writable,
    private readonly output: Readable,
    opts: InitChannelOptions = {},
  ) {
    this.logger = opts.logger ?? silentLogger;
    this.onViolation = opts.onViolation;
    this.ready = new Promise((resolve, reject) => {
      this.resolveReady = resolve;
      this.rejectReady = reject;
    });
    this.ready.catch(noop);
    this.closed = new Promise((resolve) => {
      this.resolveClosed = resolve;
    });
    this.fs = new InitFs((body, expect, what, signal) => this.request(body, expect, what, 'FS_ERROR', signal));
    this.transport = {
      credit: (execId, stream, bytes) => this.send(encodeMessage({ type: 'CREDIT', id: 0, execId, stream, bytes })),
      stdin: (execId, data) => this.stdin(execId, data),
      signal: async (execId, signo, scope) => {
        await this.request({ type: 'SIGNAL', execId, signo, scope: SCOPE[scope] }, 'OK', `signal exec ${execId}`, 'EXEC_FAILED');
      },
      resize: async (execId, rows, cols) => {
        checkPtySize(rows, cols);
        await this.request({ type: 'RESIZE', execId, rows, cols }, 'OK', `resize exec ${execId}`, 'EXEC_FAILED');
      },
      release: (execId) => {
        this.execs.delete(execId);
      },
      ...(opts.forceKill === undefined ? {} : { forceKill: (_execId: number, pids: { leader: number; shepherd: number }) => (opts.forceKill as NonNullable<InitChannelOptions['forceKill']>)(pids) }),
    };

    this.watchTransport = {
      credit: (watchId, events) => this.send(encodeMessage({ type: 'WATCH_CREDIT', id: 0, watchId, events })),
      unwatch: async (watchId) => {
        await this.request({ type: 'UNWATCH', watchId }, 'OK', `unwatch ${watchId}`, 'FS_ERROR');
      },
      release: (watchId) => {
        this.watches.delete(watchId);
      },
    };

    output.on('data', (chunk: Buffer) => this.onData(chunk));
    output.once('end', () => this.close(this.shuttingDown ? undefined : new AgentdError('SANDBOX_DEAD', 'agentd-init closed its output (the init exited)')));
    output.once('close', () => this.close(this.shuttingDown ? undefined : new AgentdError('SANDBOX_DEAD', 'agentd-init output closed')));
    output.on('error', (err) => this.close(new AgentdError('SANDBOX_DEAD', `agentd-init output failed: ${err.message}`, { cause: err })));
    input.on('error', (err) => this.close(new AgentdError('SANDBOX_DEAD', `agentd-init input failed: ${err.message}`, { cause: err })));
  }

  get isClosed(): boolean {
    return this.isDone;
  }

  netConnect(port: number, token: Buffer): Promise<void> {
    return this.request({ type: 'NET_CONNECT', port, token }, 'OK', `connect to port ${port}`, 'EXEC_FAILED').then(noop);
  }

  ping(signal?: AbortSignal): Promise<void> {
    return this.request({ type: 'PING' }, 'PONG', 'ping', 'EXEC_FAILED', signal).then(noop);
  }

  exec(req: ExecRequest): ExecHandle {
    const pty = req.pty;
    if (pty !== undefined) {
      checkPtySize(pty.rows, pty.cols);
      if (req.stdinPipe === true || req.mergeStderr === true) throw new AgentdError('INVALID_ARGUMENT', 'a PTY exec takes no stdinPipe or mergeStderr: the terminal is its stdin, stdout and stderr');
      if (pty.term !== undefined && (pty.term === '' || pty.term.includes('\0'))) throw new AgentdError('INVALID_ARGUMENT', 'pty.term must be a non-empty string without NUL');
    }
    const envVars = pty === undefined ? req.env : { ...req.env, TERM: pty.term ?? req.env.TERM ?? DEFAULT_TERM };
    const env: string[] = [];
    for (const key of Object.keys(envVars)) {
      if (key === '' || key.includes('=')) throw new AgentdError('INVALID_ARGUMENT', `invalid environment variable name ${JSON.stringify(key)}`);
      env.push(`${key}=${envVars[key]}`);
    }
    if (req.argv.length === 0) throw new AgentdError('INVALID_ARGUMENT', 'argv must not be empty');
    const window = req.window ?? 0;
    const nice = req.nice ?? 0;
    if (!Number.isInteger(nice) || nice < 0 || nice > MAX_NICE) throw new AgentdError('INVALID_ARGUMENT', `nice must be an integer from 0 to ${MAX_NICE} (got ${nice})`);
    const flags = pty !== undefined ? EXEC_FLAGS.PTY : (req.stdinPipe ? EXEC_FLAGS.STDIN_PIPE : 0) | (req.mergeStderr ? EXEC_FLAGS.MERGE_STDERR : 0);
    const id = this.isDone ? 0 : this.allocId();
    const frame = encodeMessage({ type: 'EXEC', id, flags, argv: req.argv, env, cwd: req.cwd ?? '', window, nice, rows: pty?.rows ?? 0, cols: pty?.cols ?? 0 });
    const exec = new InitExec(id, this.transport, window, pty !== undefined);
    if (this.isDone) {
      exec.fail(this.deadError());
      return exec;
    }
    this.execs.set(id, exec);
    this.send(frame);
    return exec;
  }

  /**
   * Watches a directory of the sandbox (docs/protocol.md, "Directory watches"): the path is
   * resolved by the init beneath its file root, never on the host.
   */
  watch(path: string, opts: WatchOptions = {}): WatchHandle {
    const window = opts.window ?? 0;
    if (!Number.isInteger(window) || window < 0 || window > 0xffffffff) throw new AgentdError('INVALID_ARGUMENT', `watch window must be a non-negative integer (got ${window})`);
    const id = this.isDone ? 0 : this.allocId();
    const frame = encodeMessage({ type: 'WATCH', id, path, recursive: opts.recursive === true ? 1 : 0, window });
    const w = new InitWatch(id, this.watchTransport, window);
    if (this.isDone) {
      w.fail(this.deadError());
      return w;
    }
    this.watches.set(id, w);
    this.sendFlow(frame);
    const signal = opts.signal;
    if (signal !== undefined) {
      const onAbort = (): void => void w.stop();
      if (signal.aborted) onAbort();
      else {
        signal.addEventListener('abort', onAbort, { once: true });
        void w.ended.finally(() => signal.removeEventListener('abort', onAbort)).catch(noop);
      }
    }
    return w;
  }

  async shutdown(): Promise<void> {
    if (this.isDone) return;
    this.shuttingDown = true;
    try {
      await this.request({ type: 'SHUTDOWN' }, 'OK', 'shutdown', 'EXEC_FAILED');
    } catch (err) {
      // The init may exit before its OK reaches us: a closed channel is what we asked for.
      if (!(err instanceof AgentdError && err.code === 'SANDBOX_DEAD')) throw err;
    }
  }

  /** Sends one request and resolves with its answer of type `expect`; ERROR answers become SandboxOsError(errorCode). */
  request<N extends MessageName>(body: RequestBody, expect: N, what: string, errorCode: 'FS_ERROR' | 'EXEC_FAILED', signal?: AbortSignal): Promise<Message<N>> {
    if (this.isDone) return Promise.reject(this.deadError());
    if (signal?.aborted) return Promise.reject(cancelled(what, signal));
    const id = this.allocId();
    let frame: Buffer;
    try {
      frame = encodeMessage({ ...body, id });
    } catch (err) {
      return Promise.reject(toAgentdError(err));
    }
    return new Promise<Message<N>>((resolve, reject) => {
      let onAbort: (() => void) | undefined;
      const settle = (): void => {
        if (onAbort) signal?.removeEventListener('abort', onAbort);
      };
      this.pending.set(id, {
        expect,
        check: answerCheck(body),
        what,
        errorCode,
        resolve: (msg) => {
          settle();
          resolve(msg as Message<N>);
        },
        reject: (err) => {
          settle();
          reject(err);
        },
      });
      if (signal) {
        // The id stays reserved until the init answers; only the caller stops waiting.
        onAbort = () => {
          const p = this.pending.get(id);
          if (p) {
            p.resolve = noop;
            p.reject = noop;
          }
          reject(cancelled(what, signal));
        };
        signal.addEventListener('abort', onAbort, { once: true });
      }
      this.sendFlow(frame);
    });
  }

  // ------------------------------------------------------------ internals

  private async stdin(execId: number, data: Buffer): Promise<void> {
    if (data.length === 0) {
      await this.request({ type: 'STDIN', execId, data }, 'OK', `close stdin of exec ${execId}`, 'EXEC_FAILED');
      return;
    }
    for (let off = 0; off < data.length; off += MAX_CHUNK) {
      await this.request({ type: 'STDIN', execId, data: data.subarray(off, off + MAX_CHUNK) }, 'OK', `write stdin of exec ${execId}`, 'EXEC_FAILED');
    }
  }

  private allocId(): number {
    for (;;) {
      const id = this.nextId;
      this.nextId = id >= MAX_ID ? 1 : id + 1;
      if (!this.pending.has(id) && !this.execs.has(id) && !this.watches.has(id)) return id;
    }
  }

  /**
   * Writes a frame. Frames written in the same tick go out in one writev (cork until the
   * next tick), which keeps small control frames (CREDIT) from costing a syscall each.
   */
  private send(frame: Buffer): boolean {
    if (this.isDone) return false;
    if (!this.corked) {
      this.corked = true;
      this.input.cork();
      process.nextTick(() => {
        this.corked = false;
        this.input.uncork();
      });
    }
    return this.input.write(frame);
  }

  /**
   * Writes a request frame respecting the init stdin's backpressure: while the Writable
   * wants a 'drain', request frames wait in order (control frames such as CREDIT do not:
   * they are tiny and they are what lets the init make progress).
   */
  private sendFlow(frame: Buffer): void {
    if (this.waiting.length === 0 && !this.input.writableNeedDrain) {
      this.send(frame);
      return;
    }
    this.waiting.push(frame);
    if (this.waiting.length === 1) this.input.once('drain', this.flushWaiting);
  }

  private readonly flushWaiting = (): void => {
    while (this.waiting.length > 0 && !this.isDone) {
      if (this.input.writableNeedDrain) {
        this.input.once('drain', this.flushWaiting);
        return;
      }
      this.send(this.waiting.shift() as Buffer);
    }
  };

  private onData(chunk: Buffer): void {
    for (const msg of this.decoder.push(chunk)) {
      if (msg.type === 'PROTOCOL_ERROR') this.violation(msg.error.message.replace(/^agentd-init protocol error: /, ''));
      else this.dispatch(msg);
      if (this.isDone) return;
    }
  }

  /**
   * Every frame is checked against what the daemon asked for; anything else is a protocol
   * violation, which kills the sandbox (docs/protocol.md, "What the daemon enforces").
   */
  private dispatch(msg: InitMessage): void {
    if (msg.type === 'READY') {
      this.onReady(msg);
      return;
    }
    if (!this.gotReady) return this.violation(`${msg.type} before READY`);
    if (msg.id === 0) return this.violation(`${msg.type} with id 0${msg.type === 'ERROR' ? ` (${errnoName(msg.errno)}: ${msg.message.slice(0, 200)})` : ''}`);
    if (msg.type === 'ERROR' && Buffer.byteLength(msg.message) > MAX_ERROR_MESSAGE) return this.violation(`ERROR message of ${Buffer.byteLength(msg.message)} bytes (at most ${MAX_ERROR_MESSAGE})`);
    const watch = this.watches.get(msg.id);
    if (watch !== undefined) {
      if (!watch.onMessage(msg)) this.violation(`${msg.type} out of order or beyond the event credit for watch ${msg.id}`);
      return;
    }
    const exec = this.execs.get(msg.id);
    if (exec !== undefined) {
      if (!exec.onMessage(msg)) this.violation(`${msg.type} out of order or beyond the output credit for exec ${msg.id}`);
      return;
    }
    const p = this.pending.get(msg.id);
    if (p === undefined) return this.violation(`${msg.type} for unknown request id ${msg.id}`);
    if (msg.type !== p.expect && msg.type !== 'ERROR') return this.violation(`${p.what} answered with ${msg.type}, expected ${p.expect}`);
    const bad = msg.type === 'ERROR' ? undefined : (p.check?.(msg) ?? replyCheck(msg));
    if (bad !== undefined) return this.violation(`${p.what}: ${bad}`);
    this.pending.delete(msg.id);
    if (msg.type === p.expect) p.resolve(msg);
    else if (msg.type === 'ERROR') {
      const name = errnoName(msg.errno);
      // The init's message already names the path; `what` ("read a/b") goes into the details.
      const op = p.what.split(' ', 1)[0] ?? p.what;
      p.reject(new SandboxOsError(p.errorCode, msg.errno, name, `${op} failed: ${msg.message} (${name})`, { operation: p.what }));
    }
  }

  private onReady(msg: Message<'READY'>): void {
    if (this.gotReady) return this.violation('READY twice');
    if (Buffer.byteLength(msg.version) > MAX_VERSION_STRING) return this.violation(`READY version string of ${Buffer.byteLength(msg.version)} bytes`);
    this.gotReady = true;
    if (msg.protocolVersion !== PROTOCOL_VERSION) {
      this.close(new AgentdError('PROTOCOL_ERROR', `agentd-init speaks protocol version ${msg.protocolVersion}, the daemon speaks ${PROTOCOL_VERSION}`));
      return;
    }
    this.resolveReady({ protocolVersion: msg.protocolVersion, pid: msg.pid, version: msg.version });
  }

  /**
   * The init broke the protocol: it is not trusted any more. The channel closes (every
   * pending operation fails with PROTOCOL_ERROR), its streams are destroyed so nothing
   * more is buffered, and the owner kills the sandbox.
   */
  private violation(reason: string): void {
    if (this.isDone) return;
    const err = new AgentdError('PROTOCOL_ERROR', `agentd-init violated the protocol: ${reason}; the sandbox is killed`);
    this.logger.error({ err: err.message }, 'agentd-init protocol violation');
    this.violated = true;
    this.close(err);
    this.output.destroy();
    this.input.destroy();
    try {
      this.onViolation?.(err);
    } catch (e) {
      this.logger.error({ err: (e as Error).message }, 'killing the sandbox after a protocol violation failed');
    }
  }

  private deadError(): AgentdError {
    if (this.violated && this.closeError instanceof AgentdError) return this.closeError;
    return new AgentdError('SANDBOX_DEAD', 'the sandbox init process is gone', this.closeError ? { cause: this.closeError } : {});
  }

  /** Ends the channel once: rejects everything pending with SANDBOX_DEAD. */
  private close(reason: Error | undefined): void {
    if (this.isDone) return;
    this.isDone = true;
    this.closeError = reason;
    if (reason === undefined && this.decoder.midFrame) {
      this.closeError = new AgentdError('PROTOCOL_ERROR', 'agentd-init output ended inside a frame');
    }
    const dead = this.deadError();
    this.rejectReady(this.gotReady ? dead : new AgentdError('SANDBOX_DEAD', `agentd-init ended before READY${reason ? `: ${reason.message}` : ''}`, reason ? { cause: reason } : {}));
    for (const p of this.pending.values()) p.reject(dead);
    this.pending.clear();
    for (const exec of [...this.execs.values()]) exec.fail(dead);
    this.execs.clear();
    for (const w of [...this.watches.values()]) w.fail(dead);
    this.watches.clear();
    this.output.removeAllListeners('data');
    if (reason !== undefined) this.logger.debug({ err: reason.message }, 'agentd-init channel closed');
    this.resolveClosed(this.closeError);
  }
}

/** A check of the answer against the request itself (FS_READ: no more data than asked for). */
function answerCheck(body: RequestBody): ((msg: InitMessage) => string | undefined) | undefined {
  if (body.type !== 'FS_READ') return undefined;
  const limit = body.limit;
  return (msg) => (msg.type === 'FS_DATA' && msg.data.length > limit ? `FS_DATA of ${msg.data.length} bytes for a read of at most ${limit}` : undefined);
}

/** Size caps on answers, whatever the request. */
function replyCheck(msg: InitMessage): string | undefined {
  if (msg.type === 'FS_STAT_RESULT' && Buffer.byteLength(msg.linkTarget) > MAX_LINK_TARGET) return `symlink target of ${Buffer.byteLength(msg.linkTarget)} bytes`;
  if (msg.type === 'FS_LIST_RESULT') {
    for (const e of msg.entries) {
      const n = Buffer.byteLength(e.name);
      if (n === 0 || n > MAX_ENTRY_NAME || e.name.includes('/')) return `directory entry name of ${n} bytes${e.name.includes('/') ? ' with a /' : ''}`;
    }
    if (msg.more === 1 && msg.entries.length === 0) return 'FS_LIST_RESULT says more entries follow but returned none';
  }
  return undefined;
}

function checkPtySize(rows: number, cols: number): void {
  for (const [name, v] of [['rows', rows], ['cols', cols]] as const) {
    if (!Number.isInteger(v) || v < 1 || v > MAX_PTY_DIM) throw new AgentdError('INVALID_ARGUMENT', `pty ${name} must be an integer from 1 to ${MAX_PTY_DIM} (got ${v})`);
  }
}

function cancelled(what: string, signal: AbortSignal): AgentdError {
  return new AgentdError('CANCELLED', `${what}: cancelled`, { cause: signal.reason });
}

