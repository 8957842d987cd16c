import { ERROR_CODES, type ErrorCode } from './codes.js';

export interface AgentdErrorOptions extends ErrorOptions {
  details?: Record<string, unknown>;
  retryAfterMs?: number;
}

/** The root of every error agentd raises on purpose. `code` is stable (see codes.ts). */
export class AgentdError extends Error {
  readonly code: ErrorCode;
  readonly details: Record<string, unknown>;
  readonly retryAfterMs: number | undefined;

  constructor(code: ErrorCode, message: string, options: AgentdErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'AgentdError';
    this.code = code;
    this.details = options.details ?? {};
    this.retryAfterMs = options.retryAfterMs;
  }

  get httpStatus(): number {
    return ERROR_CODES[this.code].httpStatus;
  }

  get retryable(): boolean {
    return ERROR_CODES[this.code].retryable;
  }

  toJSON(): ErrorBody {
    return {
      code: this.code,
      message: this.message,
      details: this.details,
      retryable: this.retryable,
      ...(this.retryAfterMs === undefined ? {} : { retry_after_ms: this.retryAfterMs }),
    };
  }
}

export interface ErrorBody {
  code: ErrorCode;
  message: string;
  details: Record<string, unknown>;
  retryable: boolean;
  retry_after_ms?: number;
}

/** An errno reported by agentd-init for a file operation or an exec start. */
export class SandboxOsError extends AgentdError {
  readonly errno: number;
  readonly syscallCode: string;

  constructor(code: 'FS_ERROR' | 'EXEC_FAILED', errno: number, errnoName: string, message: string, details: Record<string, unknown> = {}) {
    super(code, message, { details: { errno: errnoName, ...details } });
    this.name = 'SandboxOsError';
    this.errno = errno;
    this.syscallCode = errnoName;
  }
}

/** Wraps anything thrown into an AgentdError without losing the original as `cause`. */
export function toAgentdError(err: unknown): AgentdError {
  if (err instanceof AgentdError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new AgentdError('INTERNAL', message, { cause: err });
}
