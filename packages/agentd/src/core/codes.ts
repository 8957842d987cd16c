/**
 * The registry of stable error codes. A code never changes meaning once released;
 * transports map `httpStatus` (and later gRPC codes / NATS headers) from here only.
 */
export const ERROR_CODES = {
  INVALID_ARGUMENT: { httpStatus: 400, retryable: false, summary: 'The request or a parameter is malformed or out of range.' },
  INVALID_CONFIG: { httpStatus: 500, retryable: false, summary: 'The configuration failed validation.' },
  UNAUTHENTICATED: { httpStatus: 401, retryable: false, summary: 'No valid credentials were presented.' },
  PERMISSION_DENIED: { httpStatus: 403, retryable: false, summary: 'The principal may not perform this action.' },
  POLICY_DENIED: { httpStatus: 403, retryable: false, summary: 'Policy denied the intent.' },
  NOT_FOUND: { httpStatus: 404, retryable: false, summary: 'The resource does not exist (or belongs to another tenant).' },
  ALREADY_EXISTS: { httpStatus: 409, retryable: false, summary: 'The resource already exists.' },
  CONFLICT: { httpStatus: 409, retryable: false, summary: 'The resource is in a state that does not allow this operation.' },
  PAYLOAD_TOO_LARGE: { httpStatus: 413, retryable: false, summary: 'The request body or a field exceeds its size limit.' },
  UNKNOWN_CAPABILITY: { httpStatus: 404, retryable: false, summary: 'No capability with that name and version.' },
  UNKNOWN_BACKEND: { httpStatus: 400, retryable: false, summary: 'No isolation backend with that name or alias.' },
  BACKEND_UNAVAILABLE: { httpStatus: 503, retryable: false, summary: 'The isolation backend cannot run on this host.' },
  ISOLATION_REQUIRED: { httpStatus: 400, retryable: false, summary: 'The profile demands kernel isolation the backend cannot provide.' },
  LIMIT_UNSUPPORTED: { httpStatus: 400, retryable: false, summary: 'A requested resource limit cannot be enforced on this host.' },
  RESOURCE_EXHAUSTED: { httpStatus: 429, retryable: true, summary: 'A quota or capacity limit was reached.' },
  RESOURCE_LIMITED: { httpStatus: 200, retryable: false, summary: 'The command was stopped by a resource limit (memory, pids).' },
  TIMEOUT: { httpStatus: 504, retryable: true, summary: 'The operation did not finish in time.' },
  CANCELLED: { httpStatus: 499, retryable: true, summary: 'The operation was cancelled by the caller.' },
  SANDBOX_DEAD: { httpStatus: 409, retryable: false, summary: 'The sandbox init process is gone.' },
  SANDBOX_SUSPENDED: { httpStatus: 409, retryable: false, summary: 'The sandbox is suspended; resume it first.' },
  EXEC_FAILED: { httpStatus: 422, retryable: false, summary: 'The command could not be started (missing program, bad cwd...).' },
  FS_ERROR: { httpStatus: 422, retryable: false, summary: 'A file operation failed inside the sandbox.' },
  PROTOCOL_ERROR: { httpStatus: 502, retryable: false, summary: 'The in-sandbox agent sent something unexpected.' },
  UNAVAILABLE: { httpStatus: 503, retryable: true, summary: 'The service is starting, stopping or overloaded.' },
  INTERNAL: { httpStatus: 500, retryable: false, summary: 'An unexpected internal error.' },
} as const satisfies Record<string, { httpStatus: number; retryable: boolean; summary: string }>;

export type ErrorCode = keyof typeof ERROR_CODES;

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && Object.hasOwn(ERROR_CODES, value);
}
