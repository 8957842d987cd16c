import { AgentdError, toAgentdError } from '../../../core/errors.js';
import type { ErrorCode } from '../../../core/codes.js';

/** Connect's error codes and the HTTP status each one travels with (the Connect protocol's table). */
const CONNECT_STATUS = {
  canceled: 499, unknown: 500, invalid_argument: 400, deadline_exceeded: 504, not_found: 404, already_exists: 409,
  permission_denied: 403, resource_exhausted: 429, failed_precondition: 400, aborted: 409, out_of_range: 400,
  unimplemented: 501, internal: 500, unavailable: 503, data_loss: 500, unauthenticated: 401,
} as const;
export type ConnectCode = keyof typeof CONNECT_STATUS;

const FROM_AGENTD: Record<ErrorCode, ConnectCode> = {
  INVALID_ARGUMENT: 'invalid_argument', INVALID_CONFIG: 'internal', UNAUTHENTICATED: 'unauthenticated', PERMISSION_DENIED: 'permission_denied',
  POLICY_DENIED: 'permission_denied', NOT_FOUND: 'not_found', ALREADY_EXISTS: 'already_exists', CONFLICT: 'failed_precondition',
  PAYLOAD_TOO_LARGE: 'resource_exhausted', UNKNOWN_CAPABILITY: 'unimplemented', UNKNOWN_BACKEND: 'invalid_argument',
  BACKEND_UNAVAILABLE: 'unavailable', ISOLATION_REQUIRED: 'failed_precondition', LIMIT_UNSUPPORTED: 'failed_precondition',
  RESOURCE_EXHAUSTED: 'resource_exhausted', RESOURCE_LIMITED: 'resource_exhausted', TIMEOUT: 'deadline_exceeded', CANCELLED: 'canceled',
  SANDBOX_DEAD: 'unavailable', SANDBOX_SUSPENDED: 'unavailable', EXEC_FAILED: 'failed_precondition', FS_ERROR: 'failed_precondition',
  PROTOCOL_ERROR: 'internal', UNAVAILABLE: 'unavailable', INTERNAL: 'internal',
};

/** An error as a Connect error: its code, the HTTP status of that code, and the JSON body `{code, message}`. */
export function connectError(err: unknown, code?: ConnectCode): { status: number; body: { code: ConnectCode; message: string } } {
  const e = err instanceof AgentdError ? err : toAgentdError(err);
  const c = code ?? FROM_AGENTD[e.code];
  const message = e.code === 'INTERNAL' && !(err instanceof AgentdError) ? 'internal error' : e.message;
  return { status: CONNECT_STATUS[c], body: { code: c, message } };
}
