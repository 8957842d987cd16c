/** `agentd exec ID [--timeout S] [--env K=V]... [--cwd D] -- CMD ARGS`: streams output, passes the exit code through. */
import { constants } from 'node:os';
import type { ExecResult } from '@agentd/sdk';
import { Command } from 'commander';
import { connect, withClientFlags, type ClientFlags } from './connection.js';
import { guarded, reportError } from './errors.js';
import { readAll, writeAll, type CliIo } from './io.js';
import { printJson } from './output.js';
import { collectKeyValue, parseInteger, parseSeconds } from './parse.js';

interface ExecFlags extends ClientFlags {
  timeout?: number;
  env?: Record<string, string>;
  cwd?: string;
  stdin?: boolean;
  shell?: boolean;
  maxOutput?: number;
  idempotencyKey?: string;
}

/** Exit code 124 for a timeout (like coreutils `timeout`). */
export const TIMEOUT_EXIT_CODE = 124;

/** The exit code the CLI passes on: the command's own, 128+N for signal N, 124 for a timeout. */
export function exitCodeOf(result: Pick<ExecResult, 'exitCode' | 'signal' | 'timedOut'>): number {
  if (result.timedOut) return TIMEOUT_EXIT_CODE;
  if (result.exitCode !== null) return result.exitCode;
  if (result.signal !== null) {
    const number = (constants.signals as Record<string, number | undefined>)[result.signal];
    return 128 + (number ?? 0);
  }
  return 1;
}

function jsonResult(r: ExecResult): Record<string, unknown> {
  const utf8 = (bytes: Uint8Array): boolean => {
    try {
      new TextDecoder('utf-8', { fatal: true }).decode(bytes);
      return true;
    } catch {
      return false;
    }
  };
  const text = utf8(r.stdoutBytes) && utf8(r.stderrBytes);
  return {
    exit_code: r.exitCode,
    signal: r.signal,
    stdout: text ? r.stdout : Buffer.from(r.stdoutBytes).toString('base64'),
    stderr: text ? r.stderr : Buffer.from(r.stderrBytes).toString('base64'),
    encoding: text ? 'utf8' : 'base64',
    duration_ms: r.durationMs,
    timed_out: r.timedOut,
    canceled: r.canceled,
    output_truncated: r.outputTruncated,
    resource_limited: r.resourceLimited,
    resource_usage: r.resourceUsage,
  };
}

export function execCommand(io: CliIo): Command {
  const command = withClientFlags(
    new Command('exec')
      .description('run a command in a sandbox, streaming its output; exits with its exit code (128+N for signal N, 124 on timeout)')
      .argument('<id>', 'sandbox id')
      .argument('<command...>', 'the command and its arguments (put them after --)')
      .option('--timeout <seconds>', 'kill the command (whole process tree) after this long', parseSeconds)
      .option('--env <K=V>', 'environment variable (repeatable)', collectKeyValue)
      .option('--cwd <dir>', 'working directory inside the sandbox')
      .option('-i, --stdin', "send this process's stdin to the command")
      .option('--shell', 'run the words as one /bin/sh -c script instead of an argv')
      .option('--max-output <bytes>', 'cap on output kept by the daemon', parseInteger)
      .option('--idempotency-key <key>', 'a retried exec with the same key runs once'),
  ).addHelpText('after', '\nExample:\n  agentd exec sbx_123 -- ls -la /workspace\n');

  command.action(
    guarded(io, async (id: string, words: string[], flags: ExecFlags) => {
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
          ...(flags.cwd === undefined ? {} : { cwd: flags.cwd }),
          ...(flags.maxOutput === undefined ? {} : { maxOutputBytes: flags.maxOutput }),
          ...(flags.idempotencyKey === undefined ? {} : { idempotencyKey: flags.idempotencyKey }),
          ...(flags.stdin === true ? { stdin: await readAll(io.stdin) } : {}),
          signal: controller.signal,
        };
        const cmd = flags.shell === true ? words.join(' ') : words;
        let result: ExecResult | undefined;
        for await (const chunk of client.execStream(id, cmd, options)) {
          if (chunk.type === 'stdout') {
            if (flags.json !== true) await writeAll(io.stdout, chunk.bytes);
          } else if (chunk.type === 'stderr') {
            if (flags.json !== true) await writeAll(io.stderr, chunk.bytes);
          } else if (chunk.type === 'exit') {
            result = chunk.result;
          }
        }
        if (result === undefined) return;
        if (flags.json === true) printJson(io, jsonResult(result));
        else if (result.timedOut) io.stderr.write(`error: TIMEOUT: the command did not finish within ${(flags.timeout ?? 0) / 1000}s and was killed\n`);
        else if (result.outputTruncated) io.stderr.write('warning: output was truncated by the daemon\n');
        io.setExitCode(exitCodeOf(result));
      } catch (err) {
        if (interrupted !== undefined) {
          const number = (constants.signals as Record<string, number | undefined>)[interrupted] ?? 2;
          io.stderr.write(`error: CANCELLED: interrupted by ${interrupted}\n`);
          io.setExitCode(128 + number);
          return;
        }
        reportError(io, err);
      } finally {
        unsubscribe();
      }
    }),
  );
  return command;
}
