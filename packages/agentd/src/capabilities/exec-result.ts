import type { IntentResult, ResourceUsage } from '../core/intent.js';
import type { ExecRun } from './exec-driver.js';

/**
 * The largest stdout+stderr a non-streamed exec result may keep (a larger max_output_bytes
 * param is refused, a larger daemon cap is lowered to it): the answer is one JSON string, where a control
 * byte becomes 6 characters (`\u0000`), and 6 x 64 MiB stays under V8's string limit
 * (2^29 - 24 characters). Larger outputs must be streamed.
 */
export const MAX_RETURNABLE_OUTPUT_BYTES = 64 * 1024 * 1024;

/** The REST `ExecResult` shape of docs/api.md. */
export interface ExecResultBody {
  /** The command's id (commands/), when the exec was tracked as one. */
  command_id?: string;
  exit_code: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
  encoding: 'utf8' | 'base64';
  duration_ms: number;
  timed_out: boolean;
  canceled: boolean;
  output_truncated: boolean;
  /** Output bytes the command wrote that are not in the result (per-exec cap or the daemon-wide budget). */
  output_dropped_bytes: number;
  resource_limited: boolean;
  resource_usage: ResourceUsage;
}

export function execResultBody(run: ExecRun, encoding: 'utf8' | 'base64', streamed: boolean): ExecResultBody {
  return {
    exit_code: run.exitCode,
    signal: run.signal,
    stdout: streamed ? '' : run.stdout.toString(encoding),
    stderr: streamed ? '' : run.stderr.toString(encoding),
    encoding,
    duration_ms: run.durationMs,
    timed_out: run.timedOut,
    canceled: run.canceled,
    output_truncated: run.outputTruncated,
    output_dropped_bytes: run.droppedBytes,
    resource_limited: run.resourceLimited,
    resource_usage: {
      max_memory_bytes: run.maxRssKib * 1024,
      cpu_user_ms: Math.round(run.userUsec / 1000),
      cpu_system_ms: Math.round(run.sysUsec / 1000),
      output_bytes: run.outputBytes,
    },
  };
}

/** Rebuilds the REST ExecResult from an intent result of shell.exec.v1 (the exec route is an intent underneath). */
export function execResultFromIntent(result: IntentResult): ExecResultBody {
  const extra = (result.output ?? {}) as { encoding?: 'utf8' | 'base64'; duration_ms?: number; canceled?: boolean; resource_limited?: boolean; dropped_bytes?: number };
  return {
    ...(typeof result.command_id === 'string' ? { command_id: result.command_id } : {}),
    exit_code: result.exit_code ?? null,
    signal: result.signal ?? null,
    stdout: result.stdout ?? '',
    stderr: result.stderr ?? '',
    encoding: extra.encoding ?? 'utf8',
    duration_ms: extra.duration_ms ?? 0,
    timed_out: result.timed_out ?? false,
    canceled: extra.canceled ?? false,
    output_truncated: result.output_truncated ?? false,
    output_dropped_bytes: extra.dropped_bytes ?? 0,
    resource_limited: extra.resource_limited ?? false,
    resource_usage: result.resource_usage ?? {},
  };
}
