import { once } from 'node:events';
import type { Writable } from 'node:stream';
import { streamCommand, type CommandSummary } from '../channel/lifecycle.js';
import { AgentdError } from '../core/errors.js';
import { formatDuration } from '../util/units.js';
import { formatBytes } from './client/output.js';
import { exitStatusOf as commandExitStatus } from './exit-codes.js';
import { commandEnv } from '../isolation/exec-env.js';
import type { SandboxHandle } from '../isolation/types.js';
import { createTextLogger } from '../util/logger.js';
import { loadLocalConfig, type LocalFlags } from './local.js';
import { planSandbox, runProbeCache, startPlanned } from './run-sandbox.js';
import { bindMountsOf, MOUNT_CWD_TARGET, type BindMountFlag } from './mount-flags.js';
import { parseExecUser, runAsUser } from '../images/exec-user.js';
import { runExec } from '../capabilities/exec-driver.js';

export interface RunFlags extends LocalFlags {
  /** Milliseconds (--timeout). */
  timeout?: number;
  tty?: boolean;
  /** -i: this process's stdin is streamed to the command's (without it the command's stdin is /dev/null, as with docker run). */
  interactive?: boolean;
  env: Record<string, string>;
  cwd?: string;
  keep?: boolean;
  verbose?: boolean;
  /** false with --no-probe-cache: every probe runs for real. */
  probeCache?: boolean;
  /** -v HOST[:SANDBOX][:ro], repeatable. */
  volume?: BindMountFlag[];
  /** --mount-cwd: the current directory at /workspace. */
  mountCwd?: boolean;
  /** --image NAME: the sandbox's root file system (docs/images.md). */
  image?: string;
  /** --user root|agent|UID. */
  user?: string;
  /** --template NAME: a template of the config (its image and defaults). */
  template?: string;
}

async function writeOut(stream: Writable, data: Buffer): Promise<void> {
  if (!stream.write(data)) await once(stream, 'drain');
}

/** Exit status like a shell's: the exit code, 128+N for a signal, 124 for a timeout (see exit-codes.ts). */
export function exitStatusOf(s: CommandSummary): number {
  return commandExitStatus(s);
}

/** A SIGKILL (or a shell's 137) that the sandbox's memory cgroup reports as its OOM kill. */
async function killedByOom(sandbox: SandboxHandle, s: CommandSummary): Promise<boolean> {
  if (s.timedOut || s.canceled || !(s.signal === 'SIGKILL' || s.exitCode === 137)) return false;
  return (await sandbox.usage().catch(() => undefined))?.oomKilled === true;
}

/** The template's start_command, as the agent user, before the command; a failure ends the run (EXEC_FAILED). */
async function runTemplateStart(sandbox: SandboxHandle, command: string, signal: AbortSignal): Promise<void> {
  const as = runAsUser(sandbox.spec, 'agent', ['/bin/sh', '-c', command], commandEnv(sandbox.baseEnv, undefined));
  const run = await runExec(sandbox, { argv: as.argv, env: as.env, timeoutMs: 10 * 60_000, maxOutputBytes: 64 * 1024, signal, ...(sandbox.spec.workdir === undefined ? {} : { cwd: sandbox.spec.workdir }) });
  if (run.exitCode !== 0) {
    throw new AgentdError('EXEC_FAILED', `the template's start_command failed (exit ${run.exitCode ?? run.signal ?? '?'}): ${run.stderr.toString('utf8').trim().split('\n').slice(-5).join('\n')}`);
  }
}

export async function runInFreshSandbox(argv: string[], flags: RunFlags): Promise<number> {
  if (flags.tty === true) throw new AgentdError('INVALID_ARGUMENT', '-t/--tty: a TTY is not supported yet (interactive processes come with a later release); run without -t');
  if (argv.length === 0) throw new AgentdError('INVALID_ARGUMENT', 'no command given');
  const config = await loadLocalConfig(flags);
  const logger = createTextLogger(flags.verbose ? 'debug' : 'warn');
  const cache = runProbeCache(config, logger, flags.probeCache);
  const user = flags.user === undefined ? undefined : parseExecUser(flags.user);
  const planned = await planSandbox(config, logger, cache, {
    bindMounts: bindMountsOf(flags),
    ...(flags.mountCwd === true ? { mountCwd: process.cwd() } : {}),
    ...(flags.image === undefined ? {} : { image: flags.image }),
    ...(flags.template === undefined ? {} : { template: flags.template }),
  });
  // --mount-cwd: the command runs in the mounted folder (host-direct, linux-native: the folder itself is the sandbox's workdir).
  const cwd = flags.cwd ?? (flags.mountCwd === true && planned.backend.name !== 'host-direct' && planned.backend.name !== 'linux-native' ? MOUNT_CWD_TARGET : undefined);
  const abort = new AbortController();
  const onSignal = (): void => abort.abort();
  process.on('SIGINT', onSignal).on('SIGTERM', onSignal);
  let sandbox: SandboxHandle | undefined;
  try {
    sandbox = await startPlanned(planned, config, logger, cache, abort.signal);
    if (planned.startCommand !== undefined) await runTemplateStart(sandbox, planned.startCommand, abort.signal);
    const as = runAsUser(sandbox.spec, user, argv, commandEnv(sandbox.baseEnv, flags.env));
    const events = streamCommand(
      sandbox.channel,
      { argv: as.argv, env: as.env, ...(cwd === undefined ? {} : { cwd }) },
      { signal: abort.signal, ...(flags.timeout === undefined ? {} : { timeoutMs: flags.timeout }), ...(flags.interactive === true ? { stdin: process.stdin } : {}) },
    );
    let summary: CommandSummary | undefined;
    for await (const ev of events) {
      if (ev.type === 'stdout') await writeOut(process.stdout, ev.data);
      else if (ev.type === 'stderr') await writeOut(process.stderr, ev.data);
      else if (ev.type === 'exit') summary = ev.result;
    }
    if (summary === undefined) throw new Error('the command ended without an exit status');
    if (summary.timedOut) process.stderr.write(`agentd: killed: the command did not finish within --timeout ${formatDuration(flags.timeout ?? 0)}; its process tree was killed\n`);
    if (summary.canceled) process.stderr.write('agentd: interrupted; the command\'s process tree was killed\n');
    if (await killedByOom(sandbox, summary)) {
      const limit = sandbox.spec.limits.memoryBytes;
      process.stderr.write(`agentd: killed: out of memory (limit ${limit === undefined ? 'of the sandbox' : formatBytes(limit)})\n`);
    }
    return exitStatusOf(summary);
  } finally {
    // The command is done: whatever is still coming on our stdin is not for it (and must not keep this process alive).
    if (flags.interactive === true) process.stdin.destroy();
    process.off('SIGINT', onSignal).off('SIGTERM', onSignal);
    await sandbox?.destroy({ keepFiles: flags.keep === true });
    if (flags.keep) process.stderr.write(`agentd: kept the sandbox's files in ${(sandbox?.spec ?? planned.spec).dirs.root}\n`);
  }
}
