import type { SandboxHandle } from '../isolation/types.js';
import type { OutputListener } from './types.js';

export interface ExecDriverOptions {
  argv: string[];
  env: Record<string, string>;
  cwd?: string;
  stdin?: Buffer;
  timeoutMs: number;
  maxOutputBytes: number;
  signal: AbortSignal;
  listener?: OutputListener;
}

export interface ExecRun {
  exitCode: number | null;
  signal: string | null;
  stdout: Buffer;
  stderr: Buffer;
  durationMs: number;
  timedOut: boolean;
  canceled: boolean;
  outputTruncated: boolean;
  /** The sandbox's cgroup OOM killer fired during the command. */
  resourceLimited: boolean;
  outputBytes: number;
  maxRssKib: number;
  userUsec: number;
  sysUsec: number;
}

/** Time between SIGTERM and SIGKILL of the process tree on timeout or cancel. */
const KILL_GRACE_MS = 2000;

/**
 * Runs one command through the sandbox channel: output kept up to a cap (or streamed to the
 * listener), a wall-clock timeout and the caller's abort both kill the whole process tree
 * (SIGTERM, grace, SIGKILL), and the first termination reason wins.
 */
export async function runExec(sandbox: SandboxHandle, opts: ExecDriverOptions): Promise<ExecRun> {
  const startedAt = performance.now();
  const handle = sandbox.channel.exec({
    argv: opts.argv,
    env: opts.env,
    ...(opts.cwd === undefined ? {} : { cwd: opts.cwd }),
    stdinPipe: opts.stdin !== undefined,
  });
  const { pid } = await handle.started;
  opts.listener?.onStart(pid);

  let reason: 'timeout' | 'canceled' | undefined;
  let graceTimer: NodeJS.Timeout | undefined;
  const terminate = (why: 'timeout' | 'canceled'): void => {
    if (reason !== undefined) return;
    reason = why;
    handle.signal('SIGTERM', 'tree').catch(() => undefined);
    graceTimer = setTimeout(() => handle.signal('SIGKILL', 'tree').catch(() => undefined), KILL_GRACE_MS);
    graceTimer.unref();
  };
  const timer = setTimeout(() => terminate('timeout'), opts.timeoutMs);
  timer.unref();
  const onAbort = (): void => terminate('canceled');
  if (opts.signal.aborted) onAbort();
  else opts.signal.addEventListener('abort', onAbort, { once: true });

  try {
    if (opts.stdin !== undefined) {
      const stdin = opts.stdin;
      void (async () => {
        if (stdin.length > 0) await handle.writeStdin(stdin);
        await handle.closeStdin();
      })().catch(() => undefined);
    }
    const kept: Record<'stdout' | 'stderr', Buffer[]> = { stdout: [], stderr: [] };
    let keptBytes = 0;
    let outputBytes = 0;
    let truncated = false;
    for await (const chunk of handle.output()) {
      outputBytes += chunk.data.length;
      const room = opts.maxOutputBytes - keptBytes;
      const part = room >= chunk.data.length ? chunk.data : chunk.data.subarray(0, Math.max(0, room));
      if (part.length < chunk.data.length) truncated = true;
      if (part.length === 0) continue;
      keptBytes += part.length;
      if (opts.listener) await opts.listener.onChunk(chunk.stream, part);
      else kept[chunk.stream].push(part);
    }
    const exit = await handle.exited;
    const resourceLimited = exit.signal === 'SIGKILL' && reason === undefined ? await oomFired(sandbox) : false;
    return {
      exitCode: exit.exitCode,
      signal: exit.signal,
      stdout: Buffer.concat(kept.stdout),
      stderr: Buffer.concat(kept.stderr),
      durationMs: Math.round((performance.now() - startedAt) * 1000) / 1000,
      timedOut: reason === 'timeout',
      canceled: reason === 'canceled',
      outputTruncated: truncated,
      resourceLimited,
      outputBytes,
      maxRssKib: exit.maxRssKib,
      userUsec: exit.userUsec,
      sysUsec: exit.sysUsec,
    };
  } finally {
    clearTimeout(timer);
    if (graceTimer) clearTimeout(graceTimer);
    opts.signal.removeEventListener('abort', onAbort);
  }
}

async function oomFired(sandbox: SandboxHandle): Promise<boolean> {
  try {
    return (await sandbox.usage()).oomKilled === true;
  } catch {
    return false;
  }
}
