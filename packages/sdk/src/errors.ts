import { ERROR_CODES, isErrorCode, type ErrorCode } from './codes.js';
import type { ExecResult } from './types.js';

export interface AgentdErrorOptions {
  cause?: unknown;
  details?: Record<string, unknown>;
  retryAfterMs?: number;
  /** HTTP status of the answer that carried the error, when there was one. */
  status?: number;
}

/** The root of every error the SDK throws on purpose; `code` is the daemon's stable code. */
export class AgentdError extends Error {
  readonly code: ErrorCode;
  readonly details: Record<string, unknown>;
  readonly retryAfterMs: number | undefined;
  readonly status: number | undefined;

  constructor(code: ErrorCode, message: string, options: AgentdErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'AgentdError';
    this.code = code;
    this.details = options.details ?? {};
    this.retryAfterMs = options.retryAfterMs;
    this.status = options.status;
  }

  get retryable(): boolean {
    return ERROR_CODES[this.code].retryable;
  }
}

/** The request itself is wrong: bad parameters, unknown backend, too large, unenforceable limits. */
export class InvalidArgumentError extends AgentdError {
  override name = 'InvalidArgumentError';
}
/** No valid credentials were presented. */
export class AuthenticationError extends AgentdError {
  override name = 'AuthenticationError';
}
/** The principal or the policy refused the action. */
export class PermissionDeniedError extends AgentdError {
  override name = 'PermissionDeniedError';
}
/** The sandbox, file, capability or other resource does not exist (or belongs to another tenant). */
export class NotFoundError extends AgentdError {
  override name = 'NotFoundError';
}
/** The resource exists but its state does not allow the operation (suspended, dead, duplicate). */
export class ConflictError extends AgentdError {
  override name = 'ConflictError';
}
/** A quota, capacity or resource limit was reached. */
export class ResourceExhaustedError extends AgentdError {
  override name = 'ResourceExhaustedError';
}
/** The operation did not finish in time. */
export class TimeoutError extends AgentdError {
  override name = 'TimeoutError';
}
/** The operation was cancelled (by an AbortSignal or by the daemon). */
export class CancelledError extends AgentdError {
  override name = 'CancelledError';
}
/** A command could not be started, or a file operation failed inside the sandbox. */
export class SandboxOperationError extends AgentdError {
  override name = 'SandboxOperationError';
  /** The errno name reported from inside the sandbox (`ENOENT`...), when there is one. */
  get errno(): string | undefined {
    const errno = this.details.errno;
    return typeof errno === 'string' ? errno : undefined;
  }
}
/** The daemon, its backend or the network is unavailable (also: the daemon could not be reached). */
export class UnavailableError extends AgentdError {
  override name = 'UnavailableError';
}
/** Something spoke the protocol wrongly: a malformed answer or a stream that ended early. */
export class ProtocolError extends AgentdError {
  override name = 'ProtocolError';
}
/** An unexpected error inside the daemon. */
export class InternalError extends AgentdError {
  override name = 'InternalError';
}

type ErrorClass = new (code: ErrorCode, message: string, options?: AgentdErrorOptions) => AgentdError;

/** Which class each code maps to. Typed as a total record, so a new code cannot be forgotten. */
export const ERROR_CLASS_BY_CODE: Readonly<Record<ErrorCode, ErrorClass>> = {
  INVALID_ARGUMENT: InvalidArgumentError,
  PAYLOAD_TOO_LARGE: InvalidArgumentError,
  UNKNOWN_BACKEND: InvalidArgumentError,
  ISOLATION_REQUIRED: InvalidArgumentError,
  LIMIT_UNSUPPORTED: InvalidArgumentError,
  UNAUTHENTICATED: AuthenticationError,
  PERMISSION_DENIED: PermissionDeniedError,
  POLICY_DENIED: PermissionDeniedError,
  NOT_FOUND: NotFoundError,
  UNKNOWN_CAPABILITY: NotFoundError,
  ALREADY_EXISTS: ConflictError,
  CONFLICT: ConflictError,
  SANDBOX_DEAD: ConflictError,
  SANDBOX_SUSPENDED: ConflictError,
  RESOURCE_EXHAUSTED: ResourceExhaustedError,
  RESOURCE_LIMITED: ResourceExhaustedError,
  TIMEOUT: TimeoutError,
  CANCELLED: CancelledError,
  EXEC_FAILED: SandboxOperationError,
  FS_ERROR: SandboxOperationError,
  BACKEND_UNAVAILABLE: UnavailableError,
  UNAVAILABLE: UnavailableError,
  PROTOCOL_ERROR: ProtocolError,
  INVALID_CONFIG: InternalError,
  INTERNAL: InternalError,
};

/** Builds the right error class for a code. */
export function createError(code: ErrorCode, message: string, options: AgentdErrorOptions = {}): AgentdError {
  return new ERROR_CLASS_BY_CODE[code](code, message, options);
}

/** The `{code, message, details, retryable, retry_after_ms?}` object of the daemon's error envelope. */
export interface ErrorBody {
  code: string;
  message: string;
  details?: Record<string, unknown>;
  retryable?: boolean;
  retry_after_ms?: number;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Maps the body of an error envelope back to its class. A code this SDK does not know
 * (a newer daemon) becomes an InternalError that keeps the original code in `details.code`.
 */
export function errorFromBody(body: unknown, status?: number): AgentdError {
  const inner = isRecord(body) && isRecord(body.error) ? body.error : body;
  if (!isRecord(inner) || typeof inner.message !== 'string') {
    return new ProtocolError('PROTOCOL_ERROR', `unexpected error answer${status === undefined ? '' : ` (HTTP ${status})`}`, {
      status,
      details: { body },
    });
  }
  const details = isRecord(inner.details) ? inner.details : {};
  const retryAfterMs = typeof inner.retry_after_ms === 'number' ? inner.retry_after_ms : undefined;
  if (!isErrorCode(inner.code)) {
    return new InternalError('INTERNAL', inner.message, { status, retryAfterMs, details: { ...details, code: inner.code } });
  }
  return createError(inner.code, inner.message, { status, details, retryAfterMs });
}

/** The result of a command that exited non-zero (or by a signal), thrown by `execOrThrow`. */
export class CommandExitError extends Error {
  override name = 'CommandExitError';
  readonly exitCode: number | null;
  readonly signal: string | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly result: ExecResult;

  constructor(result: ExecResult) {
    const how = result.timedOut
      ? 'timed out'
      : result.signal !== null
        ? `was killed by ${result.signal}`
        : `exited with code ${String(result.exitCode)}`;
    super(`command ${how}`);
    this.exitCode = result.exitCode;
    this.signal = result.signal;
    this.stdout = result.stdout;
    this.stderr = result.stderr;
    this.result = result;
  }
}
