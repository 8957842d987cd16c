import { z } from 'zod';
import { MAX_NICE } from '../channel/frames.js';
import { AgentdError } from '../core/errors.js';
import { commandEnv } from '../isolation/exec-env.js';
import { minDefined } from '../util/numbers.js';
import type { ExecResultBody } from './exec-result.js';
import { execResultBody, MAX_RETURNABLE_OUTPUT_BYTES } from './exec-result.js';
import { runExec } from './exec-driver.js';
import { runAsUser } from '../images/exec-user.js';
import type { OutputBudget } from './output-budget.js';
import type { Capability, CapabilityOutcome } from './types.js';

/** Defaults when the params do not say otherwise (the constraints can only lower them). */
export const DEFAULT_TIMEOUT_MS = 60_000;
/**
 * Largest `timeout_ms` the schema takes: the largest `limits.max_exec_timeout_ms` a config may
 * set. The daemon's own maximum (that config key) is checked by the pipeline, which refuses
 * more with INVALID_ARGUMENT naming the key.
 */
export const TIMEOUT_SCHEMA_MAX_MS = 86_400_000;
const DEFAULT_MAX_OUTPUT_BYTES = 16 * 1024 * 1024;
/** `metadata.priority` when the intent gives none. */
export const DEFAULT_PRIORITY = 5;
/** Nice steps per priority step below the default. */
const NICE_PER_PRIORITY_STEP = 4;

/**
 * The CPU niceness a command runs at, over the sandbox's own, for an intent priority:
 * each step below the default 5 adds 4, capped at 19 (4 -> 4, 3 -> 8, 2 -> 12, 1 -> 16,
 * 0 -> 19). 5 and above run at the sandbox's normal priority: a sandbox never raises its
 * own (that needs CAP_SYS_NICE), so priority above 5 only says "do not lower it".
 */
export function niceForPriority(priority: number | undefined): number {
  const below = DEFAULT_PRIORITY - (priority ?? DEFAULT_PRIORITY);
  return Math.min(MAX_NICE, Math.max(0, below * NICE_PER_PRIORITY_STEP));
}

export const ShellExecParams = z
  .object({
    command: z.string().min(1).max(256 * 1024).optional().describe('A shell command line, run as `/bin/sh -c COMMAND`; `args` become $1, $2...'),
    argv: z.array(z.string().max(128 * 1024)).min(1).max(4096).optional().describe('Program and arguments, run without a shell (argv[0] searched in PATH).'),
    args: z.array(z.string().max(128 * 1024)).max(4096).optional().describe('Extra arguments appended to argv (or passed to the command as $1...).'),
    env: z.record(z.string().regex(/^[^=\0]+$/), z.string().max(128 * 1024)).optional()
      .describe("Environment added over the sandbox's env for this command (values never logged)."),
    cwd: z.string().min(1).max(4096).optional().describe("Working directory in the sandbox's view (default: the sandbox workdir)."),
    timeout_ms: z.number().int().min(1).max(TIMEOUT_SCHEMA_MAX_MS).optional()
      .describe("Wall-clock limit; the whole process tree is killed when it passes (default 60000). Above the daemon's limits.max_exec_timeout_ms (default 600000) -> INVALID_ARGUMENT."),
    stdin: z.string().max(64 * 1024 * 1024).optional().describe('Data fed to the command on stdin, then closed (default: /dev/null).'),
    stdin_encoding: z.enum(['utf8', 'base64']).optional().describe('Encoding of `stdin` (default utf8).'),
    output_encoding: z.enum(['utf8', 'base64']).optional().describe('Encoding of stdout/stderr in the result (default utf8; invalid UTF-8 is replaced).'),
    user: z.union([z.enum(['root', 'agent']), z.number().int().min(0).max(65535)]).optional()
      .describe("Who runs the command: 'agent' (uid 1000, the default) or, in a sandbox with an image, 'root' (uid 0 inside: only a user namespace's capabilities, seccomp as always; docs/images.md). A uid names one of those two."),
    max_output_bytes: z.number().int().min(0).max(1 << 30).optional().describe('Cap on stdout+stderr (default 16 MiB); the rest is dropped and output_truncated set. A non-streamed result keeps at most 64 MiB (its JSON must fit a string): asking more without streaming is INVALID_ARGUMENT.'),
  })
  .strict()
  .refine((p) => (p.command === undefined) !== (p.argv === undefined), { message: 'give exactly one of `command` or `argv`' });
export type ShellExecParams = z.infer<typeof ShellExecParams>;

/**
 * An exec's wall-clock limit: its `timeout_ms`, else the documented default of 60 s, never above
 * the intent's `max_duration_ms` (which the pipeline always sets, at most the config maximum).
 */
export function execTimeoutMs(timeoutMs: number | undefined, maxDurationMs: number | undefined): number {
  return minDefined(timeoutMs ?? DEFAULT_TIMEOUT_MS, maxDurationMs) ?? DEFAULT_TIMEOUT_MS;
}

function argvOf(p: ShellExecParams): string[] {
  const args = p.args ?? [];
  if (p.command !== undefined) return ['/bin/sh', '-c', p.command, 'sh', ...args];
  return [...(p.argv ?? []), ...args];
}

/** shell.exec.v1; `budget`: the daemon-wide budget of buffered (non-streamed) output. */
export function shellExecCapability(budget?: OutputBudget): Capability<ShellExecParams> {
  return {
    name: 'shell.exec',
    version: 'v1',
    description: 'Run a command (argv, or a shell command line) in the sandbox; output can be streamed.',
    params: ShellExecParams,
    writes: true,
    async run(params, { sandbox, signal, constraints, priority, listener, tap }): Promise<CapabilityOutcome> {
      if (listener === undefined && params.max_output_bytes !== undefined && params.max_output_bytes > MAX_RETURNABLE_OUTPUT_BYTES) {
        throw new AgentdError('INVALID_ARGUMENT', `max_output_bytes ${params.max_output_bytes} is more than a non-streamed result can hold (${MAX_RETURNABLE_OUTPUT_BYTES}); stream the output (?stream=1) or ask for less`, {
          details: { reason: 'max_output_bytes', max: MAX_RETURNABLE_OUTPUT_BYTES },
        });
      }
      // A non-streamed result never keeps more than its JSON answer can hold, whatever the daemon's cap says.
      const cap = minDefined(params.max_output_bytes, constraints.max_output_bytes) ?? DEFAULT_MAX_OUTPUT_BYTES;
      const stdin = params.stdin === undefined ? undefined : Buffer.from(params.stdin, params.stdin_encoding === 'base64' ? 'base64' : 'utf8');
      const as = runAsUser(sandbox.spec, params.user, argvOf(params), commandEnv(sandbox.baseEnv, params.env));
      const run = await runExec(sandbox, {
        argv: as.argv,
        env: as.env,
        ...(params.cwd === undefined ? (sandbox.spec.workdir === undefined ? {} : { cwd: sandbox.spec.workdir }) : { cwd: params.cwd }),
        ...(stdin === undefined ? {} : { stdin }),
        timeoutMs: execTimeoutMs(params.timeout_ms, constraints.max_duration_ms),
        maxOutputBytes: listener === undefined ? Math.min(cap, MAX_RETURNABLE_OUTPUT_BYTES) : cap,
        nice: niceForPriority(priority),
        signal,
        ...(listener === undefined ? {} : { listener }),
        ...(tap === undefined ? {} : { tap }),
        ...(budget === undefined ? {} : { budget }),
      });
      let body: ExecResultBody;
      try {
        body = execResultBody(run, params.output_encoding ?? 'utf8', listener !== undefined);
      } finally {
        if (listener === undefined) budget?.release(run.keptBytes);
      }
      const code: CapabilityOutcome['code'] = run.resourceLimited ? 'RESOURCE_LIMITED' : run.timedOut ? 'TIMEOUT' : run.canceled ? 'CANCELLED' : 'OK';
      return {
        code,
        result: {
          ...(tap?.commandId() === undefined ? {} : { command_id: tap.commandId() }),
          exit_code: body.exit_code,
          signal: body.signal,
          ...(listener === undefined ? { stdout: body.stdout, stderr: body.stderr } : {}),
          timed_out: body.timed_out,
          output_truncated: body.output_truncated,
          resource_usage: body.resource_usage,
          output: { encoding: body.encoding, duration_ms: body.duration_ms, canceled: body.canceled, resource_limited: body.resource_limited, dropped_bytes: body.output_dropped_bytes },
        },
      };
    },
  };
}

export const shellExec: Capability<ShellExecParams> = shellExecCapability();
