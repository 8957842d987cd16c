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
import { EXEC_FLAGS, encodeMessage, FrameDecoder, MAX_CHUNK, MAX_NICE, PROTOCOL_VERSION, SCOPE, type InitMessage, type Message, type MessageName, type ProtocolErrorEvent } from './frames.js';
import { InitFs, type RequestBody } from './sandbox-fs.js';
import type { Channel, ExecHandle, ExecRequest, InitReady, SandboxFs } from './types.js';

export interface InitChannelOptions {
  logger?: Logger;
}

interface Pending {
  expect: MessageName;
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
  private readonly decoder = new FrameDecoder<InitMessage>('init');
  private readonly pending = new Map<number, Pending>();
  private readonly execs = new Map<number, InitExec>();
  private readonly transport: ExecTransport;
  private nextId = 1;
  private closeError: Error | undefined;
  private isDone = false;
  private gotReady = false;
  private shuttingDown = false;
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
      release: (execId) => {
        this.execs.delete(execId);
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

  ping(signal?: AbortSignal): Promise<void> {
    return this.request({ type: 'PING' }, 'PONG', 'ping', 'EXEC_FAILED', signal).then(noop);
  }

  exec(req: ExecRequest): ExecHandle {
    const env: string[] = [];
    for (const key of Object.keys(req.env)) {
      if (key === '' || key.includes('=')) throw new AgentdError('INVALID_ARGUMENT', `invalid environment variable name ${JSON.stringify(key)}`);
      env.push(`${key}=${req.env[key]}`);
    }
    if (req.argv.length === 0) throw new AgentdError('INVALID_ARGUMENT', 'argv must not be empty');
    const window = req.window ?? 0;
    const nice = req.nice ?? 0;
    if (!Number.isInteger(nice) || nice < 0 || nice > MAX_NICE) throw new AgentdError('INVALID_ARGUMENT', `nice must be an integer from 0 to ${MAX_NICE} (got ${nice})`);
    const flags = (req.stdinPipe ? EXEC_FLAGS.STDIN_PIPE : 0) | (req.mergeStderr ? EXEC_FLAGS.MERGE_STDERR : 0);
    const id = this.isDone ? 0 : this.allocId();
    const frame = encodeMessage({ type: 'EXEC', id, flags, argv: req.argv, env, cwd: req.cwd ?? '', window, nice });
    const exec = new InitExec(id, this.transport, window);
    if (this.isDone) {
      exec.fail(this.deadError());
      return exec;
    }
    this.execs.set(id, exec);
    this.send(frame);
    return exec;
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
      if (!this.pending.has(id) && !this.execs.has(id)) return id;
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
      if (msg.type === 'PROTOCOL_ERROR') this.onProtocolError(msg);
      else this.dispatch(msg);
      if (this.isDone) return;
    }
  }

  private dispatch(msg: InitMessage): void {
    if (msg.type === 'READY') {
      this.onReady(msg);
      return;
    }
    if (msg.id === 0) {
      if (msg.type === 'ERROR') this.logger.warn({ errno: errnoName(msg.errno), message: msg.message }, 'agentd-init reported a protocol error');
      else this.logger.warn({ type: msg.type }, 'agentd-init sent an unexpected frame with id 0');
      return;
    }
    const exec = this.execs.get(msg.id);
    if (exec !== undefined) {
      if (!exec.onMessage(msg)) this.logger.warn({ id: msg.id, type: msg.type }, 'agentd-init sent a frame out of order for an exec');
      return;
    }
    const p = this.pending.get(msg.id);
    if (p === undefined) {
      this.logger.warn({ id: msg.id, type: msg.type }, 'agentd-init answered an unknown request id');
      return;
    }
    this.pending.delete(msg.id);
    if (msg.type === p.expect) p.resolve(msg);
    else if (msg.type === 'ERROR') {
      const name = errnoName(msg.errno);
      // The init's message already names the path; `what` ("read a/b") goes into the details.
      const op = p.what.split(' ', 1)[0] ?? p.what;
      p.reject(new SandboxOsError(p.errorCode, msg.errno, name, `${op} failed: ${msg.message} (${name})`, { operation: p.what }));
    } else p.reject(new AgentdError('PROTOCOL_ERROR', `agentd-init answered ${p.what} with ${msg.type}, expected ${p.expect}`));
  }

  private onReady(msg: Message<'READY'>): void {
    if (this.gotReady) {
      this.logger.warn('agentd-init sent READY twice');
      return;
    }
    this.gotReady = true;
    if (msg.protocolVersion !== PROTOCOL_VERSION) {
      this.close(new AgentdError('PROTOCOL_ERROR', `agentd-init speaks protocol version ${msg.protocolVersion}, the daemon speaks ${PROTOCOL_VERSION}`));
      return;
    }
    this.resolveReady({ protocolVersion: msg.protocolVersion, pid: msg.pid, version: msg.version });
  }

  private onProtocolError(ev: ProtocolErrorEvent): void {
    if (ev.fatal) {
      this.close(ev.error);
      return;
    }
    this.logger.error({ id: ev.id, err: ev.error.message }, 'malformed frame from agentd-init');
    const exec = this.execs.get(ev.id);
    if (exec !== undefined) {
      exec.fail(ev.error);
      return;
    }
    const p = this.pending.get(ev.id);
    if (p !== undefined) {
      this.pending.delete(ev.id);
      p.reject(ev.error);
    }
  }

  private deadError(): AgentdError {
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
    this.output.removeAllListeners('data');
    if (reason !== undefined) this.logger.debug({ err: reason.message }, 'agentd-init channel closed');
    this.resolveClosed(this.closeError);
  }
}

function cancelled(what: string, signal: AbortSignal): AgentdError {
  return new AgentdError('CANCELLED', `${what}: cancelled`, { cause: signal.reason });
}

