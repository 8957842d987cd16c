/**
 * `agentd exec [OPTIONS] ID CMD [ARGS...]`: streams output, passes the exit code through.
 * Everything after the sandbox id is the command (a leading `--` is allowed and dropped);
 * options go before the id. Exit status: see ../exit-codes.ts.
 */
import type { AgentdClient, ExecResult } from '@agentd/sdk';
import { Command, Option } from 'commander';
import { EXIT_AGENTD_FAILED, EXIT_CODES_HELP, exitStatusOf, exitStatusOfError, signalExit } from '../exit-codes.js';
import { formatDuration } from '../../util/units.js';
import { connect, withClientFlags, type ClientFlags } from './connection.js';
import { guarded, reportError, UsageError } from './errors.js';
import { interactiveExec } from './interactive.js';
import { writeAll, type CliIo } from './io.js';
import { formatBytes, printJson } from './output.js';
import { collectKeyValue, parseDurationFlag, parseSizeFlag } from './parse.js';

interface ExecFlags extends ClientFlags {
  timeout?: number;
  env?: Record<string, string>;
  cwd?: string;
  workdir?: string;
  stdin?: boolean;
  shell?: boolean;
  maxOutput?: number;
  idempotencyKey?: string;
  tty?: boolean;
  user?: string;
}

/** --user: root, agent or a uid (the daemon says which a sandbox has). */
function userOf(text: string): 'root' | 'agent' | number {
  if (text === 'root' || text === 'agent') return text;
  if (/^\d{1,5}$/.test(text)) return Number(text);
  throw new UsageError(`--user ${text}: expected root, agent or a uid`);
}

/** The daemon's exec time limit when the request gives no `timeout_ms` (capabilities/shell-exec.ts DEFAULT_TIMEOUT_MS). */
const DAEMON_DEFAULT_TIMEOUT_MS = 60_000;

/** @deprecated name kept for callers: see exitStatusOf in ../exit-codes.ts. */
export const exitCodeOf = exitStatusOf;

function utf8(bytes: Uint8Array): boolean {
  try {
    new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    return true;
  } catch {
    return false;
  }
}

/** The REST ExecResult of docs/api.md, field for field (snake_case). */
export function jsonResult(r: ExecResult, droppedBytes: number): Record<string, unknown> {
  const text = utf8(r.stdoutBytes) && utf8(r.stderrBytes);
  const u = r.resourceUsage;
  return {
    ...(r.commandId === undefined ? {} : { command_id: r.commandId }),
    exit_code: r.exitCode,
    signal: r.signal,
    stdout: text ? r.stdout : Buffer.from(r.stdoutBytes).toString('base64'),
    stderr: text ? r.stderr : Buffer.from(r.stderrBytes).toString('base64'),
    encoding: text ? 'utf8' : 'base64',
    duration_ms: r.durationMs,
    timed_out: r.timedOut,
    canceled: r.canceled,
    output_truncated: r.outputTruncated,
    output_dropped_bytes: droppedBytes,
    resource_limited: r.resourceLimited,
    resource_usage: {
      ...(u.maxMemoryBytes === undefined ? {} : { max_memory_bytes: u.maxMemoryBytes }),
      ...(u.cpuUserMs === undefined ? {} : { cpu_user_ms: u.cpuUserMs }),
      ...(u.cpuSystemMs === undefined ? {} : { cpu_system_ms: u.cpuSystemMs }),
      ...(u.outputBytes === undefined ? {} : { output_bytes: u.outputBytes }),
    },
  };
}

/** The memory limit of a sandbox as its REST answer states it, for the OOM message (undefined when unknown). */
async function memoryLimit(client: AgentdClient, id: string): Promise<number | undefined> {
  try {
    const raw = (await client.transport.json({ method: 'GET', path: `/v1/sandboxes/${encodeURIComponent(id)}` })) as { limits?: { memory_bytes?: unknown } };
    return typeof raw.limits?.memory_bytes === 'number' && raw.limits.memory_bytes > 0 ? raw.limits.memory_bytes : undefined;
  } catch {
    return undefined;
  }
}

/** The lines on stderr that say why a command ended the way it did (timeout, cut output, OOM). */
async function explain(io: CliIo, client: AgentdClient, id: string, flags: ExecFlags, r: ExecResult, dropped: number): Promise<void> {
  if (r.timedOut) {
    const msg = flags.timeout === undefined
      ? `error: TIMEOUT: killed after ${formatDuration(Math.max(1, Math.round(r.durationMs / 1000)) * 1000)} by the daemon's exec time limit (${formatDuration(DAEMON_DEFAULT_TIMEOUT_MS)} when no --timeout is given, never more than the daemon's limits.max_exec_timeout_ms); give it more with --timeout DURATION (e.g. --timeout 10m)`
      : `error: TIMEOUT: killed: the command did not finish within --timeout ${formatDuration(flags.timeout)}`;
    await writeAll(io.stderr, `${msg}\n`);
  }
  if (r.outputTruncated) {
    const cap = flags.maxOutput === undefined ? "the daemon's limits.max_output_bytes" : `--max-output ${formatBytes(flags.maxOutput)}`;
    await writeAll(io.stderr, `agentd: output truncated: ${dropped} bytes dropped by the output cap (${cap}); raise it with --max-output SIZE, at most the daemon's limits.max_output_bytes\n`);
  }
  if (r.resourceLimited) {
    const limit = await memoryLimit(client, id);
    await writeAll(io.stderr, `agentd: killed: out of memory (limit ${limit === undefined ? 'of the sandbox' : formatBytes(limit)})\n`);
  }
}

export function execCommand(io: CliIo): Command {
  const command = withClientFlags(
    new Command('exec')
      .description('run a command in a sandbox, streaming its output; exits with its exit code')
      .usage('[options] ID COMMAND [ARGS...]')
      .argument('<id>', 'sandbox id')
      .argument('<command...>', 'the command and its arguments: everything after the id (options go before the id)')
      .addOption(new Option('--timeout <duration>', 'kill the command (whole process tree) after this long: 30s, 10m, 1h, 500ms; a bare number is seconds (exit 124)').argParser(parseDurationFlag('s')))
      .option('-e, --env <K=V>', 'environment variable (repeatable)', collectKeyValue)
      .option('-w, --cwd <dir>', 'working directory inside the sandbox')
      .addOption(new Option('--workdir <dir>', 'old name of --cwd').hideHelp())
      .option('-i, --stdin', "stream this process's stdin to the command as it comes (EOF closes it)")
      .option('-t, --tty', 'run under a terminal (raw mode, size follows yours); with -i your keys go to it, as docker exec -it')
      .option('--shell', 'run the words as one /bin/sh -c script instead of an argv')
      .option('-u, --user <user>', 'agent (default) or root (a sandbox with an image only); or uid 1000 / 0')
      .addOption(new Option('--max-output <size>', 'cap on output kept by the daemon: 64k, 16m, or bytes').argParser(parseSizeFlag))
      .option('--idempotency-key <key>', 'a retried exec with the same key runs once')
      .passThroughOptions(),
  ).addHelpText('after', `\nExamples:\n  agentd exec sbx_123 ls -la /workspace\n  agentd exec --timeout 10m sbx_123 make test\n${EXIT_CODES_HELP}`);

  command.action(
    guarded(io, async (id: string, words: string[], flags: ExecFlags) => {
      const argv = words[0] === '--' ? words.slice(1) : words;
      if (argv.length === 0) throw new UsageError('no command given after the sandbox id');
      // A command never starts with '-': this is an option written after the id, where it would be the command's.
      if (words[0] !== '--' && words[0]?.startsWith('-') === true) {
        throw new UsageError(`'${words[0]}' after the sandbox id: options go before it (agentd exec [OPTIONS] ID COMMAND [ARGS...]); everything after the id is the command`);
      }
      const cwd = flags.cwd ?? flags.workdir;
      // -t or -i: the commands WebSocket (stdin streamed as typed, a terminal with -t).
      if (flags.tty === true || flags.stdin === true) {
        if (flags.json === true) throw new UsageError('--json cannot be combined with -i or -t (output is streamed as it comes)');
        if (flags.user !== undefined) throw new UsageError('--user cannot be combined with -i or -t yet (the commands WebSocket starts commands as the sandbox user)');
        await interactiveExec(io, id, flags.shell === true ? argv.join(' ') : argv, {
          ...flags, ...(cwd === undefined ? {} : { cwd }),
        });
        return;
      }
      const client = connect(flags, io.env);
      const controller = new AbortController();
      let interrupted: NodeJS.Signals | undefined;
      const unsubscribe = io.onInterrupt((signal) => {
        interrupted = signal;
        controller.abort();
      });
      try {
        const options = {
          ...(flags.timeout === undefined ? {} : { timeoutMs: flags.timeout }),
          ...(flags.env === undefined ? {} : { env: flags.env }),
          ...(cwd === undefined ? {} : { cwd }),
          ...(flags.maxOutput === undefined ? {} : { maxOutputBytes: flags.maxOutput }),
          ...(flags.idempotencyKey === undefined ? {} : { idempotencyKey: flags.idempotencyKey }),
          ...(flags.user === undefined ? {} : { user: userOf(flags.user) }),
          signal: controller.signal,
        };
        const cmd = flags.shell === true ? argv.join(' ') : argv;
        let result: ExecResult | undefined;
        let received = 0;
        for await (const chunk of client.execStream(id, cmd, options)) {
          if (chunk.type === 'stdout' || chunk.type === 'stderr') {
            received += chunk.bytes.length;
            if (flags.json !== true) await writeAll(chunk.type === 'stdout' ? io.stdout : io.stderr, chunk.bytes);
          } else if (chunk.type === 'exit') {
            result = chunk.result;
          }
        }
        if (result === undefined) {
          io.stderr.write('error: INTERNAL: the daemon ended the exec without an exit status\n');
          io.setExitCode(EXIT_AGENTD_FAILED);
          return;
        }
        const dropped = Math.max(0, (result.resourceUsage.outputBytes ?? received) - received);
        if (flags.json === true) printJson(io, jsonResult(result, dropped));
        await explain(io, client, id, flags, result, dropped);
        io.setExitCode(exitStatusOf(result));
      } catch (err) {
        if (interrupted !== undefined) {
          io.stderr.write(`error: CANCELLED: interrupted by ${interrupted}\n`);
          io.setExitCode(signalExit(interrupted));
          return;
        }
        reportError(io, err, exitStatusOfError);
      } finally {
        unsubscribe();
      }
    }, exitStatusOfError),
  );
  return command;
}
