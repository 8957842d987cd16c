/**
 * THE process-lifecycle helper: runs one command through a channel, races its exit against
 * a timeout and an AbortSignal (SIGTERM to the group, a grace period, then SIGKILL to the
 * whole tree), caps the output it keeps, and reports a non-zero exit as a result, not an
 * exception. `streamCommand` yields events as they happen; `runCommand` collects them.
 */
import { performance } from 'node:perf_hooks';
import { AgentdError } from '../core/errors.js';
import type { Logger } from '../util/logger.js';
import { silentLogger } from '../util/logger.js';
import type { Channel, ExecHandle, ExecRequest, ExitInfo, SignalScope } from './types.js';

export interface ResourceUsage {
  maxRssKib: number;
  userUsec: number;
  sysUsec: number;
  /** Bytes the command wrote to stdout and stderr, including any dropped over the cap. */
  outputBytes: number;
}

/** The outcome of a command that ran (whatever its exit code). */
export interface CommandSummary {
  /** null when killed by a signal. */
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  durationMs: number;
  /** The timeout fired first (the process was terminated because of it). */
  timedOut: boolean;
  /** The AbortSignal fired (or the stream's consumer stopped early) first. */
  canceled: boolean;
  /** Some output was dropped because of `maxOutputBytes`. */
  outputTruncated: boolean;
  resourceUsage: ResourceUsage;
}

export interface CommandResult extends CommandSummary {
  stdout: Buffer;
  stderr: Buffer;
}

export type CommandEvent =
  | { type: 'start'; pid: number }
  | { type: 'stdout' | 'stderr'; data: Buffer }
  | { type: 'exit'; result: CommandSummary };

export interface CommandOptions {
  /** Terminate the command after this long (undefined = no timeout). */
  timeoutMs?: number;
  /** Time between SIGTERM and SIGKILL when terminating (default 2000 ms). */
  graceMs?: number;
  /**
   * After the SIGKILL, how long the init gets to report the exit before the daemon kills
   * the command's processes itself from outside the sandbox, and then how long before the
   * run ends without the init's EXIT (default 2000 ms each). So a timeout is enforced
   * within about timeoutMs + graceMs + 2 × this even when the init is starved.
   */
  killWaitMs?: number;
  signal?: AbortSignal;
  /** Per stream: bytes kept (and yielded) at most; the rest is read and dropped (undefined = no cap). */
  maxOutputBytes?: number;
  /**
   * Written to the command's stdin, which is then closed. A stream (an async iterable, such
   * as `process.stdin`) is forwarded chunk by chunk as it arrives, each write waiting for the
   * init's OK (backpressure), and closed at its end.
   */
  stdin?: Buffer | string | AsyncIterable<Uint8Array | string>;
  /** Called for each output chunk that is kept. */
  onChunk?: (stream: 'stdout' | 'stderr', data: Buffer) => void;
  /** Called with the exec's handle as soon as it exists (durable commands: stdin, signals, resize by id). */
  onHandle?: (handle: ExecHandle) => void;
  logger?: Logger;
}

export interface CommandStream extends AsyncIterable<CommandEvent> {
  /** Resolves with the summary once the command exited, whether or not the events are consumed to the end. */
  readonly result: Promise<CommandSummary>;
}

type Reason = 'timeout' | 'canceled';

function noop(): void {}

/** One command's run: the shared core of streamCommand and runCommand. */
class CommandRun {
  readonly handle: ExecHandle;
  /** Settles when the events were consumed to the exit, or the stream was closed early. */
  readonly result: Promise<CommandSummary>;
  private settleResult!: (s: CommandSummary) => void;
  private failResult!: (e: unknown) => void;
  /** The exit as recorded the moment EXIT arrived. */
  private readonly exit: Promise<CommandSummary>;
  private readonly began = performance.now();
  private readonly logger: Logger;
  private readonly graceMs: number;
  private readonly cap: number;
  private reason: Reason | undefined;
  private summary: CommandSummary | undefined;
  private timeoutTimer: NodeJS.Timeout | undefined;
  private graceTimer: NodeJS.Timeout | undefined;
  private forceTimer: NodeJS.Timeout | undefined;
  private startTimer: NodeJS.Timeout | undefined;
  private readonly killWaitMs: number;
  private terminating = false;
  private killedTree = false;
  private truncated = false;
  private outputBytes = 0;
  private kept = { stdout: 0, stderr: 0 };
  private readingOutput = false;
  private readonly onAbort = (): void => this.terminate('canceled');

  constructor(
    channel: Channel,
    req: ExecRequest,
    private readonly opts: CommandOptions,
  ) {
    this.logger = opts.logger ?? silentLogger;
    this.graceMs = opts.graceMs ?? 2000;
    this.killWaitMs = opts.killWaitMs ?? 2000;
    this.cap = opts.maxOutputBytes ?? Number.POSITIVE_INFINITY;
    this.result = new Promise((resolve, reject) => {
      this.settleResult = resolve;
      this.failResult = reject;
    });
    this.result.catch(noop);
    this.handle = channel.exec(opts.stdin === undefined ? req : { ...req, stdinPipe: true });
    opts.onHandle?.(this.handle);
    this.exit = this.handle.exited.then((info) => this.finish(info));
    this.exit.catch(noop);
    if (opts.timeoutMs !== undefined) this.timeoutTimer = setTimeout(() => this.terminate('timeout'), opts.timeoutMs);
    opts.signal?.addEventListener('abort', this.onAbort, { once: true });
    if (opts.stdin !== undefined) this.feedStdin(opts.stdin);
  }

  async *events(): AsyncGenerator<CommandEvent, void, undefined> {
    let settled = false;
    try {
      const { pid } = await this.handle.started;
      yield { type: 'start', pid };
      this.readingOutput = true;
      for await (const chunk of this.handle.output()) {
        const data = this.keep(chunk.stream, chunk.data);
        if (data === undefined) continue;
        this.opts.onChunk?.(chunk.stream, data);
        yield { type: chunk.stream, data };
      }
      const result = this.final(await this.exit);
      settled = true;
      this.settleResult(result);
      yield { type: 'exit', result };
    } catch (err) {
      settled = true;
      this.failResult(err);
      throw err;
    } finally {
      if (!settled) {
        await this.abandon();
        this.exit.then((s) => this.settleResult(this.final(s)), (e: unknown) => this.failResult(e));
      }
      this.cleanup();
    }
  }

  /** Counts a chunk and returns the part to keep (undefined if nothing of it is kept). */
  private keep(stream: 'stdout' | 'stderr', data: Buffer): Buffer | undefined {
    this.outputBytes += data.length;
    const room = this.cap - this.kept[stream];
    if (data.length <= room) {
      this.kept[stream] += data.length;
      return data;
    }
    this.truncated = true;
    if (room <= 0) return undefined;
    this.kept[stream] += room;
    return data.subarray(0, room);
  }

  private finish(info: ExitInfo): CommandSummary {
    this.summary = {
      exitCode: info.exitCode,
      signal: info.signal,
      durationMs: performance.now() - this.began,
      timedOut: this.reason === 'timeout',
      canceled: this.reason === 'canceled',
      outputTruncated: false,
      resourceUsage: { maxRssKib: info.maxRssKib, userUsec: info.userUsec, sysUsec: info.sysUsec, outputBytes: 0 },
    };
    // Background processes of a terminated command go too: the whole tree, now.
    if (this.terminating) this.killTree();
    this.cleanup();
    return this.summary;
  }

  /** The exit summary completed with the output accounting (all output precedes EXIT). */
  private final(summary: CommandSummary): CommandSummary {
    summary.outputTruncated = this.truncated;
    summary.resourceUsage.outputBytes = this.outputBytes;
    return summary;
  }

  /**
   * Timeout or abort: SIGTERM, then after the grace SIGKILL, both to the whole tree. The
   * polite signal goes to the tree, not only the group, while the leader still holds the
   * tree together: a setsid'd descendant whose parent dies of the SIGTERM is reparented
   * to the init and could no longer be found from this exec.
   */
  private terminate(reason: Reason): void {
    this.reason ??= reason;
    if (this.terminating || this.summary !== undefined) return;
    this.terminating = true;
    // An init too busy to even report the start cannot hold the run either.
    let started = false;
    this.handle.started.then(() => (started = true), noop);
    this.startTimer = setTimeout(() => {
      if (!started && this.summary === undefined) this.handle.abandon?.({ exitCode: null, signal: 'SIGKILL', maxRssKib: 0, userUsec: 0, sysUsec: 0 });
    }, Math.max(this.graceMs, 0) + 2 * this.killWaitMs);
    this.handle.started.then(
      () => {
        if (this.summary !== undefined) return;
        if (this.graceMs <= 0) {
          this.killTree();
          return;
        }
        this.sendSignal('SIGTERM', 'tree');
        this.graceTimer = setTimeout(() => this.killTree(), this.graceMs);
      },
      noop,
    );
  }

  private killTree(): void {
    clearTimeout(this.graceTimer);
    if (this.killedTree) return;
    this.killedTree = true;
    this.sendSignal('SIGKILL', 'tree');
    if (this.summary === undefined) this.forceTimer = setTimeout(() => void this.force(), this.killWaitMs);
  }

  /**
   * The init did not report the exit in time after the SIGKILL (a saturated sandbox starves
   * it): the daemon kills the command's processes itself, then, if the EXIT still does not
   * come, ends the run without it. Neither step waits for the init.
   */
  private async force(): Promise<void> {
    if (this.summary !== undefined) return;
    this.logger.warn({ exec: this.handle.id }, 'agentd-init did not report the exit after SIGKILL; killing the command from outside the sandbox');
    try {
      await this.handle.forceKill?.();
    } catch (err) {
      this.logger.warn({ exec: this.handle.id, err: (err as Error).message }, 'killing the command from outside the sandbox failed');
    }
    if (this.summary !== undefined) return;
    this.forceTimer = setTimeout(() => {
      if (this.summary !== undefined) return;
      this.logger.warn({ exec: this.handle.id }, 'agentd-init still did not report the exit; ending the run without it');
      this.handle.abandon?.({ exitCode: null, signal: 'SIGKILL', maxRssKib: 0, userUsec: 0, sysUsec: 0 });
    }, this.killWaitMs);
  }

  private sendSignal(sig: NodeJS.Signals, scope: SignalScope): void {
    this.handle.signal(sig, scope).catch((err: unknown) => {
      // ESRCH: already gone. Anything else is worth a line but changes nothing here.
      this.logger.debug({ exec: this.handle.id, sig, scope, err: (err as Error).message }, 'signal to command failed');
    });
  }

  /** The consumer stopped before the exit: kill the tree now and wait for the exit. */
  private async abandon(): Promise<void> {
    this.reason ??= 'canceled';
    this.terminating = true;
    try {
      await this.handle.started;
    } catch {
      return;
    }
    if (this.summary === undefined) this.killTree();
    // The EXIT waits until the output was credited: if the consumer left before the output
    // was ever read, discard it now (returning the iterator credits everything from here on).
    if (!this.readingOutput) {
      this.readingOutput = true;
      await this.handle.output()[Symbol.asyncIterator]().return?.();
    }
    await this.exit.catch(noop);
  }

  private feedStdin(data: Buffer | string | AsyncIterable<Uint8Array | string>): void {
    const h = this.handle;
    const write = async (): Promise<void> => {
      if (typeof data === 'string' || Buffer.isBuffer(data)) return h.writeStdin(data);
      for await (const chunk of data) await h.writeStdin(typeof chunk === 'string' ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength));
    };
    h.started
      .then(write)
      .then(() => h.closeStdin())
      .catch((err: unknown) => {
        // A command that exits without reading its stdin is not an error of the run.
        this.logger.debug({ exec: h.id, err: (err as Error).message }, 'could not deliver stdin');
      });
  }

  private cleanup(): void {
    clearTimeout(this.timeoutTimer);
    clearTimeout(this.startTimer);
    if (this.summary !== undefined) clearTimeout(this.forceTimer);
    this.opts.signal?.removeEventListener('abort', this.onAbort);
  }
}

/**
 * Runs a command and yields `start`, `stdout`/`stderr` chunks and `exit` as they happen.
 * Breaking out of the loop early kills the command's whole tree. Start failures
 * (SandboxOsError EXEC_FAILED) and a dead sandbox (SANDBOX_DEAD) are thrown.
 */
export function streamCommand(channel: Channel, req: ExecRequest, opts: CommandOptions = {}): CommandStream {
  if (opts.signal?.aborted) {
    const err = new AgentdError('CANCELLED', 'command cancelled before it started', { cause: opts.signal.reason });
    const rejected = Promise.reject(err);
    rejected.catch(noop);
    return {
      result: rejected,
      [Symbol.asyncIterator]: () => ({ next: () => Promise.reject(err) }),
    };
  }
  const run = new CommandRun(channel, req, opts);
  return {
    result: run.result,
    [Symbol.asyncIterator]: () => run.events(),
  };
}

/** Runs a command to its end and returns everything: a non-zero exit is a result, not an exception. */
export async function runCommand(channel: Channel, req: ExecRequest, opts: CommandOptions = {}): Promise<CommandResult> {
  const stdout: Buffer[] = [];
  const stderr: Buffer[] = [];
  let summary: CommandSummary | undefined;
  for await (const ev of streamCommand(channel, req, opts)) {
    if (ev.type === 'stdout') stdout.push(ev.data);
    else if (ev.type === 'stderr') stderr.push(ev.data);
    else if (ev.type === 'exit') summary = ev.result;
  }
  if (summary === undefined) throw new AgentdError('INTERNAL', 'command stream ended without an exit');
  return { ...summary, stdout: join(stdout), stderr: join(stderr) };
}

function join(parts: Buffer[]): Buffer {
  return parts.length === 1 ? (parts[0] as Buffer) : Buffer.concat(parts);
}
