/**
 * The daemon's commands: every exec on a named sandbox gets an id and a record here, with
 * its output in a bounded ring (commands/ring.ts). A command runs through the intent
 * pipeline like any exec (auth, policy, limits, audit); this registry adds the id, the ring,
 * stdin/signal/resize by id, readers that come and go, retention after the exit, and the
 * record in the state database so a daemon restart lists it as `lost`, never forgets it.
 */
import type { Principal } from '../auth/types.js';
import type { ExecTap, OutputListener } from '../capabilities/types.js';
import type { ExecHandle } from '../channel/types.js';
import { AgentdError, toAgentdError } from '../core/errors.js';
import type { IntentResponse } from '../core/intent.js';
import type { IntentPipeline } from '../pipeline/pipeline.js';
import { newId } from '../sandbox/ids.js';
import type { CommandRepo, CommandState } from '../state/commands.js';
import type { Logger } from '../util/logger.js';
import { Command, type CommandExit } from './command.js';
import { decodeChunks, encodeChunks, OutputRing } from './ring.js';

/** Config `commands` (docs/configuration.md). */
export interface CommandSettings {
  ringBufferBytes: number;
  keepExitedMs: number;
  maxKept: number;
  persistedTailBytes: number;
}

/** A terminal for the command (agentd-init opens a PTY inside the sandbox). */
export interface PtySize {
  rows: number;
  cols: number;
  term?: string;
}

export interface TrackOptions {
  /** Keep stdin open as a pipe (interactive stdin, closed by the client). */
  stdinPipe?: boolean;
  /** Written to the open stdin as soon as the command started. */
  initialStdin?: Buffer;
  pty?: PtySize;
  /** false: the WebSocket route kills the command when its connection closes. Default true. */
  keepAliveOnDisconnect?: boolean;
}

export interface ExecuteTracked {
  signal: AbortSignal;
  listener?: OutputListener;
  track?: TrackOptions;
  /** Called once the command has its id and is running (its pid known). */
  onCommand?: (cmd: Command) => void;
}

export interface RegistryDeps {
  pipeline: IntentPipeline;
  repo: CommandRepo;
  settings: () => CommandSettings;
  /** Config `limits.max_exec_timeout_ms`: the default time limit of a background command or a terminal. */
  maxExecTimeoutMs: () => number;
  logger: Logger;
  now?: () => number;
}

function noop(): void {}

const SWEEP_MS = 1000;
/** How long a command's row may wait to be written (see flushSoon). */
const FLUSH_MS = 20;

export class CommandRegistry {
  private readonly commands = new Map<string, Command>();
  private readonly now: () => number;
  private timer: NodeJS.Timeout | undefined;
  /** Ids of the finished commands in `commands`, oldest end first (trim() drops from the front). */
  private readonly finished = new Set<string>();
  /** Saves and deletes not yet written (see `flushSoon`). */
  private readonly pendingSaves = new Map<string, Command>();
  private readonly pendingDeletes = new Set<string>();
  private flushQueued = false;

  constructor(private readonly deps: RegistryDeps) {
    this.now = deps.now ?? Date.now;
  }

  /**
   * Start-up: no command survives its daemon (agentd-init dies with it), so every record
   * still `running` becomes `lost`; the newest records come back with their saved tails.
   */
  start(): { lost: number } {
    const lost = this.deps.repo.markRunningLost(this.now());
    const s = this.deps.settings();
    for (const row of this.deps.repo.newest(s.maxKept)) {
      const chunks = decodeChunks(row.tail, 0);
      const ring = OutputRing.restore(Math.max(s.ringBufferBytes, row.tail.length), chunks, row.endOffset);
      this.commands.set(row.id, Command.fromRow(row, ring));
    }
    const ended = [...this.commands.values()].filter((c) => !c.running).sort((a, b) => (a.endedAtMs ?? 0) - (b.endedAtMs ?? 0));
    for (const c of ended) this.finished.add(c.id);
    this.timer = setInterval(() => this.sweep(), SWEEP_MS);
    this.timer.unref();
    return { lost };
  }

  /** Saves every running command's tail and stops the sweeper (daemon stop). */
  close(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    for (const c of this.commands.values()) if (c.dirty) this.persist(c);
    this.flush();
  }

  /**
   * Runs one shell.exec intent on a named sandbox as a tracked command. Resolves with the
   * intent's response when the command ends; `onCommand` learns the command once it runs.
   */
  async execute(principal: Principal, intent: Record<string, unknown>, opts: ExecuteTracked): Promise<{ response: IntentResponse; command: Command | undefined }> {
    const track = opts.track ?? {};
    const abort = new AbortController();
    let cmd: Command | undefined;
    const argvOf = (): string[] => argvOfParams(intent.params);
    const tap: ExecTap = {
      // A terminal is the command's stdin already (agentd-init refuses a pipe besides it).
      ...(track.stdinPipe === true && track.pty === undefined ? { stdinPipe: true } : {}),
      ...(track.pty === undefined ? {} : { request: { pty: { rows: track.pty.rows, cols: track.pty.cols, ...(track.pty.term === undefined ? {} : { term: track.pty.term }) } } }),
      onHandle: (handle: ExecHandle, sandboxId: string) => {
        cmd = new Command({
          id: newId('cmd'), sandboxId, tenant: principal.tenant, subject: principal.subject, argv: argvOf(), pty: track.pty !== undefined,
          ringBytes: this.deps.settings().ringBufferBytes, startedAtMs: this.now(), keepAliveOnDisconnect: track.keepAliveOnDisconnect ?? true, abort,
        }, track.stdinPipe === true || track.pty !== undefined, handle);
        this.commands.set(cmd.id, cmd);
        this.persist(cmd);
      },
      onStart: (pid: number) => {
        if (cmd === undefined) return;
        cmd.started(pid);
        this.persist(cmd);
        if (track.initialStdin !== undefined && track.initialStdin.length > 0) cmd.writeStdin(track.initialStdin).catch(noop);
        opts.onCommand?.(cmd);
      },
      onChunk: (stream, data) => cmd?.append(track.pty === undefined ? stream : 'pty', data),
      commandId: () => cmd?.id,
    };
    // The command's own controller (kill by id) also follows the caller's signal.
    const onCallerAbort = (): void => abort.abort(opts.signal.reason);
    if (opts.signal.aborted) onCallerAbort();
    else opts.signal.addEventListener('abort', onCallerAbort, { once: true });
    const signal = abort.signal;
    let response: IntentResponse;
    try {
      response = await this.deps.pipeline.execute(principal, intent, { signal, tap, ...(opts.listener ? { listener: opts.listener } : {}) });
    } catch (err) {
      if (cmd !== undefined) this.end(cmd, 'failed', failedExit(toAgentdError(err).code, (err as Error).message));
      throw err;
    } finally {
      opts.signal.removeEventListener('abort', onCallerAbort);
    }
    if (cmd !== undefined) this.end(cmd, ...outcomeOf(response, cmd.pid !== null));
    return { response, command: cmd };
  }

  /**
   * Starts a command that outlives the request: resolves with it once it runs (or rejects
   * with the reason it did not start: auth, policy, limits, the sandbox, the exec itself).
   */
  startBackground(principal: Principal, intent: Record<string, unknown>, track: TrackOptions, stopping: AbortSignal): Promise<Command> {
    return new Promise((resolve, reject) => {
      let started = false;
      this.execute(principal, intent, {
        signal: stopping, track, listener: { onStart: noop, onChunk: noop },
        onCommand: (c) => {
          started = true;
          resolve(c);
        },
      }).then(({ response, command }) => {
        if (started) return;
        if (command !== undefined && command.pid !== null) resolve(command);
        else reject(responseError(response));
      }, (err: unknown) => {
        if (!started) reject(err instanceof Error ? err : new Error(String(err)));
      });
    });
  }

  /** One command of `sandboxId` as `principal` may see it: another tenant's is NOT_FOUND, as if it never existed. */
  /** A background command's or a terminal's time limit when it asks none: the daemon's maximum. */
  defaultTimeoutMs(): number {
    return this.deps.maxExecTimeoutMs();
  }

  get(principal: Principal, sandboxId: string, id: string): Command {
    const c = this.commands.get(id);
    if (c === undefined || c.tenant !== principal.tenant || c.sandboxId !== sandboxId) {
      throw new AgentdError('NOT_FOUND', `command ${id} not found`, { details: { id } });
    }
    return c;
  }

  list(principal: Principal, sandboxId: string): Command[] {
    return [...this.commands.values()].filter((c) => c.tenant === principal.tenant && c.sandboxId === sandboxId).sort((a, b) => a.startedAtMs - b.startedAtMs);
  }

  private end(cmd: Command, state: CommandState, exit: CommandExit): void {
    const wasRunning = cmd.running;
    cmd.finish(state, exit, this.now());
    if (wasRunning && !cmd.running) this.finished.add(cmd.id);
    this.persist(cmd);
    this.trim();
  }

  /** The command's row is written after this turn of the event loop (flushSoon), as it is then. */
  private persist(cmd: Command): void {
    cmd.dirty = false;
    this.pendingSaves.set(cmd.id, cmd);
    this.flushSoon();
  }

  /**
   * Writes the pending saves and deletes at most FLUSH_MS later, all in one transaction: the
   * exec's answer is on its socket first, a command that starts, runs and ends within that
   * time costs one row write, not three, and execs in a row share one commit (a commit is
   * most of the cost: ~0.1 ms of daemon CPU each, measured with bench/cpu-per-op.js). A daemon
   * killed within that time loses those rows; `close()` writes them at once.
   */
  private flushSoon(): void {
    if (this.flushQueued) return;
    this.flushQueued = true;
    setTimeout(() => this.flush(), FLUSH_MS).unref();
  }

  private flush(): void {
    this.flushQueued = false;
    if (this.pendingSaves.size === 0 && this.pendingDeletes.size === 0) return;
    const keep = this.deps.settings().persistedTailBytes;
    const saves = [...this.pendingSaves.values()].map((cmd) => ({
      id: cmd.id, sandboxId: cmd.sandboxId, tenant: cmd.tenant, subject: cmd.subject, argv: cmd.argv, pty: cmd.pty, pid: cmd.pid, state: cmd.state,
      startedAtMs: cmd.startedAtMs, endedAtMs: cmd.endedAtMs, exitCode: cmd.exit?.exit_code ?? null, signal: cmd.exit?.signal ?? null,
      error: cmd.exit?.error?.message ?? null, endOffset: cmd.ring.end, tail: encodeChunks(cmd.tail(keep)),
    }));
    const deletes = [...this.pendingDeletes];
    this.pendingSaves.clear();
    this.pendingDeletes.clear();
    try {
      this.deps.repo.write(saves, deletes);
    } catch (err) {
      this.deps.logger.error({ err: (err as Error).message, saves: saves.length, deletes: deletes.length }, 'could not save the commands');
    }
  }

  /** Every second: running commands' new output saved, finished ones past their time dropped. */
  private sweep(): void {
    const now = this.now();
    const keep = this.deps.settings().keepExitedMs;
    for (const c of this.commands.values()) {
      if (c.running) {
        if (c.dirty) this.persist(c);
      } else if (c.endedAtMs !== null && c.endedAtMs + keep <= now) {
        this.drop(c);
      }
    }
    this.trim();
  }

  /** At most `max_kept` finished commands: the oldest go first. */
  private trim(): void {
    const max = this.deps.settings().maxKept;
    for (const id of this.finished) {
      if (this.finished.size <= max) return;
      const c = this.commands.get(id);
      if (c === undefined) this.finished.delete(id);
      else this.drop(c);
    }
  }

  private drop(c: Command): void {
    this.commands.delete(c.id);
    this.finished.delete(c.id);
    this.pendingSaves.delete(c.id);
    this.pendingDeletes.add(c.id);
    this.flushSoon();
  }
}

function argvOfParams(params: unknown): string[] {
  const p = (params ?? {}) as { command?: string; argv?: string[]; args?: string[] };
  const args = p.args ?? [];
  if (typeof p.command === 'string') return ['/bin/sh', '-c', p.command, 'sh', ...args];
  return [...(p.argv ?? []), ...args];
}

function failedExit(code: string, message: string): CommandExit {
  return { exit_code: null, signal: null, timed_out: false, canceled: false, code, error: { code, message } };
}

/** The command's end from its intent's response. */
function outcomeOf(resp: IntentResponse, ran: boolean): [CommandState, CommandExit] {
  const r = resp.result as { exit_code?: number | null; signal?: string | null; timed_out?: boolean; output?: { canceled?: boolean } } | undefined;
  if (r === undefined || !ran) {
    const e = resp.error ?? { code: resp.code, message: resp.message ?? resp.code };
    return ['failed', failedExit(e.code, e.message)];
  }
  return ['exited', {
    exit_code: r.exit_code ?? null, signal: r.signal ?? null, timed_out: r.timed_out === true, canceled: r.output?.canceled === true, code: resp.code,
  }];
}

function responseError(resp: IntentResponse): AgentdError {
  const e = resp.error;
  if (e === undefined) return new AgentdError('INTERNAL', 'the command did not start');
  return new AgentdError(e.code, e.message, { details: e.details ?? {}, ...(e.retry_after_ms === undefined ? {} : { retryAfterMs: e.retry_after_ms }) });
}
