import { once } from 'node:events';
import type { Writable } from 'node:stream';
import { streamCommand, type CommandSummary } from '../channel/lifecycle.js';
import { signalNumber } from '../channel/exec-handle.js';
import type { SandboxHandle } from '../isolation/types.js';
import { createTextLogger } from '../util/logger.js';
import { loadLocalConfig, type LocalFlags } from './local.js';
import { planSandbox, runProbeCache, startPlanned } from './run-sandbox.js';

export interface RunFlags extends LocalFlags {
  timeout?: number;
  env: Record<string, string>;
  cwd?: string;
  keep?: boolean;
  verbose?: boolean;
  /** false with --no-probe-cache: every probe runs for real. */
  probeCache?: boolean;
}

async function writeOut(stream: Writable, data: Buffer): Promise<void> {
  if (!stream.write(data)) await once(stream, 'drain');
}

/** Exit status like a shell's: the exit code, 128+N for a signal, 124 for a timeout (as timeout(1)). */
export function exitStatusOf(s: CommandSummary): number {
  if (s.timedOut) return 124;
  if (s.exitCode !== null) return s.exitCode;
  if (s.signal !== null) return 128 + signalNumber(s.signal);
  return 1;
}

export async function runInFreshSandbox(argv: string[], flags: RunFlags): Promise<number> {
  const config = await loadLocalConfig(flags);
  const logger = createTextLogger(flags.verbose ? 'debug' : 'warn');
  const cache = runProbeCache(config, logger, flags.probeCache);
  const planned = await planSandbox(config, logger, cache);
  const abort = new AbortController();
  const onSignal = (): void => abort.abort();
  process.on('SIGINT', onSignal).on('SIGTERM', onSignal);
  let sandbox: SandboxHandle | undefined;
  try {
    sandbox = await startPlanned(planned, config, logger, cache, abort.signal);
    const events = streamCommand(
      sandbox.channel,
      { argv, env: { ...sandbox.baseEnv, ...flags.env }, ...(flags.cwd === undefined ? {} : { cwd: flags.cwd }) },
      { signal: abort.signal, ...(flags.timeout === undefined ? {} : { timeoutMs: flags.timeout * 1000 }) },
    );
    let summary: CommandSummary | undefined;
    for await (const ev of events) {
      if (ev.type === 'stdout') await writeOut(process.stdout, ev.data);
      else if (ev.type === 'stderr') await writeOut(process.stderr, ev.data);
      else if (ev.type === 'exit') summary = ev.result;
    }
    if (summary === undefined) throw new Error('the command ended without an exit status');
    if (summary.timedOut) process.stderr.write(`agentd: command timed out after ${flags.timeout}s; its process tree was killed\n`);
    if (summary.canceled) process.stderr.write('agentd: interrupted; the command\'s process tree was killed\n');
    return exitStatusOf(summary);
  } finally {
    process.off('SIGINT', onSignal).off('SIGTERM', onSignal);
    await sandbox?.destroy({ keepFiles: flags.keep === true });
    if (flags.keep) process.stderr.write(`agentd: kept the sandbox's files in ${(sandbox?.spec ?? planned.spec).dirs.root}\n`);
  }
}
