/** Every client command ends through here: `error: CODE: message` on stderr and a non-zero exit, never a stack. */
import { isErrorCode } from '@agentd/sdk';
import type { CliIo } from './io.js';

/** A wrong command line or local input (a missing local file, a bad K=V): INVALID_ARGUMENT. */
export class UsageError extends Error {
  override name = 'UsageError';
}

function describe(err: unknown): { code: string; message: string } {
  if (err instanceof UsageError) return { code: 'INVALID_ARGUMENT', message: err.message };
  if (typeof err === 'object' && err !== null) {
    const { code, message } = err as { code?: unknown; message?: unknown };
    if (isErrorCode(code) && typeof message === 'string') return { code, message };
    if (typeof message === 'string') return { code: 'INTERNAL', message };
  }
  return { code: 'INTERNAL', message: String(err) };
}

/** Reports `err` as one line; the exit status is `exitFor(err)` (default 1). */
export function reportError(io: CliIo, err: unknown, exitFor: (err: unknown) => number = () => 1): void {
  const { code, message } = describe(err);
  io.stderr.write(`error: ${code}: ${message}\n`);
  io.setExitCode(exitFor(err));
}

/** Wraps a command action so that any failure is reported as one line and an exit code (`exitFor`, default 1). */
export function guarded<A extends unknown[]>(io: CliIo, action: (...args: A) => Promise<void>, exitFor?: (err: unknown) => number): (...args: A) => Promise<void> {
  return async (...args: A) => {
    try {
      await action(...args);
    } catch (err) {
      reportError(io, err, exitFor);
    }
  };
}
