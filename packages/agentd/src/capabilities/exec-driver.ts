import { streamCommand, type CommandSummary } from '../channel/lifecycle.js';
import type { ExecHandle } from '../channel/types.js';
import { AgentdError } from '../core/errors.js';
import type { SandboxHandle } from '../isolation/types.js';
import type { OutputBudget } from './output-budget.js';
import type { ExecTap, OutputListener } from './types.js';

/** The exit status a POSIX shell gives a command it ran that SIGKILL ended. */
const SHELL_SIGKILL_STATUS = 128 + 9;

export interface ExecDriverOptions {
  argv: string[];
  env: Record<string, string>;
  cwd?: string;
  stdin?: Buffer;
  timeoutMs: number;
  maxOutputBytes: number;
  /** How much lower than the sandbox's normal CPU priority the command runs (0..19; 0 = normal). */
  nice?: number;
  signal: AbortSignal;
  listener?: OutputListener;
  /** A durable command's tap (commands/): handle, start, every kept chunk. */
  tap?: ExecTap;
  /** The daemon-wide budget for buffered (non-streamed) output; the caller releases `keptBytes` of the run when done with it. */
  budget?: OutputBudget;
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
  /** Output bytes written by the command and not kept (per-exec cap, daemon-wide budget). */
  droppedBytes: number;
  /** Bytes of stdout+stderr kept (taken from the budget when one was given). */
  keptBytes: number;
  /** The sandbox's cgroup OOM killer fired during the command (which was SIGKILLed, or exited 137 as a shell whose child was). */
  resourceLimited: boolean;
  outputBytes: number;
  maxRssKib: number;
  userUsec: number;
  sysUsec: number;
}

/**
 * Runs one command through the sandbox channel with the channel's lifecycle helper
 * (timeout and abort kill the whole tree; the first reason wins). Output is kept up to a
 * total cap over both streams, or handed to the listener with backpressure.
 */
export async function runExec(sandbox: SandboxHandle, opts: ExecDriverOptions): Promise<ExecRun> {
  const events = streamCommand(
    sandbox.channel,
    {
      argv: opts.argv, env: opts.env, stdinPipe: opts.stdin !== undefined || opts.tap?.stdinPipe === true,
      ...(opts.cwd === undefined ? {} : { cwd: opts.cwd }),
      ...(opts.nice ? { nice: opts.nice } : {}),
      ...opts.tap?.request,
    },
    {
      timeoutMs: opts.timeoutMs, signal: opts.signal, maxOutputBytes: opts.maxOutputBytes, ...(opts.stdin === undefined ? {} : { stdin: opts.stdin }),
      ...(opts.tap === undefined ? {} : { onHandle: (h: ExecHandle) => opts.tap?.onHandle(h, sandbox.id) }),
    },
  );
  const kept: Record<'stdout' | 'stderr', Buffer[]> = { stdout: [], stderr: [] };
  let keptBytes = 0;
  let truncated = false;
  let summary: CommandSummary | undefined;
  const buffered = opts.budget !== undefined && opts.listener === undefined;
  try {
    for await (const ev of events) {
      if (ev.type === 'start') {
        opts.tap?.onStart(ev.pid);
        opts.listener?.onStart(ev.pid);
      } else if (ev.type === 'exit') {
        summary = ev.result;
      } else {
        const room = opts.maxOutputBytes - keptBytes;
        let part = room >= ev.data.length ? ev.data : ev.data.subarray(0, Math.max(0, room));
        if (!opts.listener && opts.budget && part.length > 0) part = part.subarray(0, opts.budget.take(part.length));
        if (part.length < ev.data.length) truncated = true;
        if (part.length === 0) continue;
        keptBytes += part.length;
        opts.tap?.onChunk(ev.type, part);
        if (opts.listener) {
          // Awaited only when the listener holds the command back: no extra tick per chunk otherwise.
          const wait = opts.listener.onChunk(ev.type, part);
          if (wait !== undefined) await wait;
        } else {
          kept[ev.type].push(part);
        }
      }
    }
    if (summary === undefined) throw new AgentdError('INTERNAL', 'command stream ended without an exit');
  } catch (err) {
    if (buffered) opts.budget?.release(keptBytes);
    throw err;
  }
  // Killed, or a shell reporting a child killed by SIGKILL (128 + 9: `a | b` under sh): ask the cgroup whether its OOM killer did it.
  const killed = (summary.signal === 'SIGKILL' || summary.exitCode === SHELL_SIGKILL_STATUS) && !summary.timedOut && !summary.canceled;
  return {
    exitCode: summary.exitCode,
    signal: summary.signal,
    stdout: Buffer.concat(kept.stdout),
    stderr: Buffer.concat(kept.stderr),
    durationMs: Math.round(summary.durationMs * 1000) / 1000,
    timedOut: summary.timedOut,
    canceled: summary.canceled,
    outputTruncated: truncated || summary.outputTruncated,
    droppedBytes: Math.max(0, summary.resourceUsage.outputBytes - keptBytes),
    keptBytes,
    resourceLimited: killed ? await oomFired(sandbox) : false,
    outputBytes: summary.resourceUsage.outputBytes,
    maxRssKib: summary.resourceUsage.maxRssKib,
    userUsec: summary.resourceUsage.userUsec,
    sysUsec: summary.resourceUsage.sysUsec,
  };
}

async function oomFired(sandbox: SandboxHandle): Promise<boolean> {
  try {
    return (await sandbox.usage()).oomKilled === true;
  } catch {
    return false;
  }
}
