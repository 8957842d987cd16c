/**
 * Starts an agentd-init (directly, or wrapped by bwrap & co: whatever `argv` says) whose
 * stdin/stdout become an InitChannel, and waits for its READY. Used by every backend.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { AgentdError } from '../core/errors.js';
import type { Logger } from '../util/logger.js';
import { silentLogger } from '../util/logger.js';
import { killExecFromHost, killTreeFromHost } from './host-kill.js';
import { InitChannel } from './init-channel.js';
import type { InitReady } from './types.js';

export interface SpawnInitOptions {
  cwd: string;
  /** The complete environment of the spawned process (nothing is inherited). */
  env: Record<string, string>;
  signal?: AbortSignal;
  logger?: Logger;
  /** How long to wait for READY (default 10 s). */
  readyTimeoutMs?: number;
  /** Open fds handed to the child as its fds 3, 4, ... (e.g. bwrap's `--seccomp 3`). */
  extraFds?: number[];
}

export interface SpawnedInit {
  child: ChildProcess;
  channel: InitChannel;
  ready: InitReady;
}

const STDERR_TAIL_BYTES = 4096;
/** A stderr line longer than this is logged in pieces (an init need not write newlines). */
const STDERR_LINE_BYTES = 4096;
/** Lines logged per sandbox before the rest is only kept in the tail (the init is not trusted). */
const STDERR_MAX_LINES = 1000;

/** Keeps the last few KiB of a stream's text and forwards it line by line. */
class StderrTail {
  private tail = '';
  private partial = '';
  private lines = 0;

  constructor(
    private readonly logger: Logger,
    private readonly pid: number | undefined,
  ) {}

  push(chunk: Buffer): void {
    const text = chunk.toString('utf8');
    this.tail = (this.tail + text).slice(-STDERR_TAIL_BYTES);
    const lines = (this.partial + text).split('\n');
    let rest = lines.pop() ?? '';
    while (rest.length > STDERR_LINE_BYTES) {
      lines.push(rest.slice(0, STDERR_LINE_BYTES));
      rest = rest.slice(STDERR_LINE_BYTES);
    }
    this.partial = rest;
    for (const line of lines) if (line !== '') this.log(line);
  }

  private log(line: string): void {
    this.lines++;
    if (this.lines < STDERR_MAX_LINES) this.logger.info({ source: 'agentd-init', pid: this.pid }, line.slice(0, STDERR_LINE_BYTES));
    else if (this.lines === STDERR_MAX_LINES) this.logger.warn({ source: 'agentd-init', pid: this.pid }, `agentd-init wrote more than ${STDERR_MAX_LINES} lines to stderr; the rest is not logged`);
  }

  flush(): void {
    if (this.partial !== '') this.log(this.partial);
    this.partial = '';
  }

  get text(): string {
    return this.tail.trim();
  }
}

/**
 * Spawns `argv` in its own process group with the channel on stdin/stdout and resolves
 * once the init said READY. If READY does not come (exit, timeout, abort, spawn failure)
 * the whole process group is killed and an AgentdError explains why, with the stderr tail.
 */
export async function spawnInit(argv: string[], opts: SpawnInitOptions): Promise<SpawnedInit> {
  const [file, ...args] = argv;
  if (file === undefined) throw new AgentdError('INVALID_ARGUMENT', 'spawnInit: empty argv');
  const logger = opts.logger ?? silentLogger;
  if (opts.signal?.aborted) throw new AgentdError('CANCELLED', 'sandbox start cancelled', { cause: opts.signal.reason });

  const child = spawn(file, args, { cwd: opts.cwd, env: opts.env, detached: true, stdio: ['pipe', 'pipe', 'pipe', ...(opts.extraFds ?? [])] });
  const stderr = new StderrTail(logger, child.pid);
  child.stderr?.on('data', (chunk: Buffer) => stderr.push(chunk));
  child.stderr?.on('end', () => stderr.flush());

  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; error?: Error }>((resolve) => {
    child.once('error', (error) => resolve({ code: null, signal: null, error }));
    child.once('close', (code, signal) => resolve({ code, signal }));
  });
  // Errors after startup (EPIPE on stdin...) are the channel's business; never let them throw.
  child.on('error', (err) => logger.debug({ err: err.message, argv0: file }, 'agentd-init process error'));

  const root = child.pid;
  const channel = new InitChannel(child.stdin as NonNullable<typeof child.stdin>, child.stdout as NonNullable<typeof child.stdout>, {
    logger,
    // The init is not trusted: a protocol violation kills the sandbox (the init, and so its
    // pid namespace, and the launcher's process group); the backend's cgroup goes on destroy.
    onViolation: () => killSandbox(child),
    ...(root === undefined ? {} : { forceKill: async (pids: { leader: number; shepherd: number }) => void (await killExecFromHost(root, pids)) }),
  });
  const timeoutMs = opts.readyTimeoutMs ?? 10_000;
  let timer: NodeJS.Timeout | undefined;
  let onAbort: (() => void) | undefined;
  const failure = new Promise<AgentdError>((resolve) => {
    timer = setTimeout(() => resolve(new AgentdError('TIMEOUT', `agentd-init did not say READY within ${timeoutMs} ms`)), timeoutMs);
    if (opts.signal) {
      const signal = opts.signal;
      onAbort = () => resolve(new AgentdError('CANCELLED', 'sandbox start cancelled', { cause: signal.reason }));
      signal.addEventListener('abort', onAbort, { once: true });
    }
  });

  try {
    const outcome = await Promise.race([
      channel.ready.then((ready) => ({ ready }), () => ({ ready: undefined })),
      exited.then(() => ({ ready: undefined })),
      failure.then((err) => ({ ready: undefined, err })),
    ]);
    if (outcome.ready !== undefined) return { child, channel, ready: outcome.ready };
    const err = 'err' in outcome ? outcome.err : undefined;
    killGroup(child);
    const exit = await exited;
    const closedBy = channel.isClosed ? await channel.closed : undefined;
    const detail = err ?? (closedBy instanceof AgentdError && closedBy.code === 'PROTOCOL_ERROR' ? closedBy : startFailure(file, exit));
    const tail = stderr.text;
    throw new AgentdError(detail.code, `${detail.message}${tail ? `; its stderr ends with: ${tail}` : ''}`, {
      details: { argv0: file, exitCode: exit.code, signal: exit.signal, stderrTail: tail },
      ...(detail.cause === undefined ? {} : { cause: detail.cause }),
    });
  } finally {
    clearTimeout(timer);
    if (onAbort) opts.signal?.removeEventListener('abort', onAbort);
  }
}

function startFailure(file: string, exit: { code: number | null; signal: NodeJS.Signals | null; error?: Error }): AgentdError {
  if (exit.error !== undefined) {
    return new AgentdError('BACKEND_UNAVAILABLE', `could not start ${file}: ${exit.error.message}`, { cause: exit.error });
  }
  const how = exit.signal !== null ? `was killed by ${exit.signal}` : `exited with code ${exit.code}`;
  return new AgentdError('SANDBOX_DEAD', `agentd-init (${file}) ${how} before it was READY`);
}

/**
 * Kills the whole sandbox from the host: the spawned process (bwrap or the init itself)
 * and every process below it, stopped first so none can fork away, then SIGKILLed (a
 * SIGKILL to the PID 1 of a pid namespace ends every process in it; a hostile init can
 * neither block it nor have cleared anything that matters), then its process group.
 */
function killSandbox(child: ChildProcess): void {
  const pid = child.pid;
  if (pid === undefined) return;
  void killTreeFromHost(pid).finally(() => killGroup(child));
}

function killGroup(child: ChildProcess): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, 'SIGKILL');
  } catch {
    try {
      child.kill('SIGKILL');
    } catch {
      // already gone
    }
  }
}
