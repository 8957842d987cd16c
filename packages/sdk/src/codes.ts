/**
 * The daemon's stable error codes, copied as data from packages/agentd/src/core/codes.ts
 * (the SDK has no dependency on the daemon package). A test compares both lists so they
 * cannot drift apart.
 */
export const ERROR_CODES = {
  INVALID_ARGUMENT: { httpStatus: 400, retryable: false },
  INVALID_CONFIG: { httpStatus: 500, retryable: false },
  UNAUTHENTICATED: { httpStatus: 401, retryable: false },
  PERMISSION_DENIED: { httpStatus: 403, retryable: false },
  POLICY_DENIED: { httpStatus: 403, retryable: false },
  NOT_FOUND: { httpStatus: 404, retryable: false },
  ALREADY_EXISTS: { httpStatus: 409, retryable: false },
  CONFLICT: { httpStatus: 409, retryable: false },
  PAYLOAD_TOO_LARGE: { httpStatus: 413, retryable: false },
  UNKNOWN_CAPABILITY: { httpStatus: 404, retryable: false },
  UNKNOWN_BACKEND: { httpStatus: 400, retryable: false },
  BACKEND_UNAVAILABLE: { httpStatus: 503, retryable: false },
  ISOLATION_REQUIRED: { httpStatus: 400, retryable: false },
  LIMIT_UNSUPPORTED: { httpStatus: 400, retryable: false },
  RESOURCE_EXHAUSTED: { httpStatus: 429, retryable: true },
  RESOURCE_LIMITED: { httpStatus: 200, retryable: false },
  TIMEOUT: { httpStatus: 504, retryable: true },
  CANCELLED: { httpStatus: 499, retryable: true },
  SANDBOX_DEAD: { httpStatus: 409, retryable: false },
  SANDBOX_SUSPENDED: { httpStatus: 409, retryable: false },
  EXEC_FAILED: { httpStatus: 422, retryable: false },
  FS_ERROR: { httpStatus: 422, retryable: false },
  PROTOCOL_ERROR: { httpStatus: 502, retryable: false },
  UNAVAILABLE: { httpStatus: 503, retryable: true },
  INTERNAL: { httpStatus: 500, retryable: false },
} as const satisfies Record<string, { httpStatus: number; retryable: boolean }>;

export type ErrorCode = keyof typeof ERROR_CODES;

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && Object.hasOwn(ERROR_CODES, value);
}
