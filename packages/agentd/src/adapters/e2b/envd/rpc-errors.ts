/**
 * agentd errors as Connect errors, with the codes the stock `e2b` SDK turns into its own
 * classes (not_found -> NotFoundError / FileNotFoundError, invalid_argument ->
 * InvalidArgumentError, unauthenticated -> AuthenticationError, deadline_exceeded ->
 * TimeoutError, unavailable -> "sandbox not running", already_exists -> makeDir's `false`,
 * resource_exhausted -> RateLimitError). The message keeps agentd's code in front so a
 * caller can tell a policy refusal from a missing file; never a stack trace.
 */
import { Code, ConnectError } from '@connectrpc/connect';
import { SandboxOsError, toAgentdError, type AgentdError } from '../../../core/errors.js';

const ERRNO_CODES: Record<string, Code> = {
  ENOENT: Code.NotFound,
  EEXIST: Code.AlreadyExists,
  EACCES: Code.PermissionDenied,
  EPERM: Code.PermissionDenied,
  EROFS: Code.PermissionDenied,
  ENOTDIR: Code.InvalidArgument,
  EISDIR: Code.InvalidArgument,
  EINVAL: Code.InvalidArgument,
  ENOTEMPTY: Code.FailedPrecondition,
  ELOOP: Code.InvalidArgument,
  ENAMETOOLONG: Code.InvalidArgument,
  EXDEV: Code.FailedPrecondition,
  ENOSPC: Code.ResourceExhausted,
  EDQUOT: Code.ResourceExhausted,
  EMFILE: Code.ResourceExhausted,
};

const AGENTD_CODES: Record<string, Code> = {
  INVALID_ARGUMENT: Code.InvalidArgument,
  UNAUTHENTICATED: Code.Unauthenticated,
  PERMISSION_DENIED: Code.PermissionDenied,
  POLICY_DENIED: Code.PermissionDenied,
  NOT_FOUND: Code.NotFound,
  UNKNOWN_CAPABILITY: Code.Unimplemented,
  ALREADY_EXISTS: Code.AlreadyExists,
  CONFLICT: Code.FailedPrecondition,
  // The SDK reads resource_exhausted as rate limiting: a too large request is a bad argument.
  PAYLOAD_TOO_LARGE: Code.InvalidArgument,
  RESOURCE_EXHAUSTED: Code.ResourceExhausted,
  LIMIT_UNSUPPORTED: Code.FailedPrecondition,
  ISOLATION_REQUIRED: Code.FailedPrecondition,
  UNKNOWN_BACKEND: Code.InvalidArgument,
  BACKEND_UNAVAILABLE: Code.Unavailable,
  TIMEOUT: Code.DeadlineExceeded,
  CANCELLED: Code.Canceled,
  SANDBOX_DEAD: Code.Unavailable,
  SANDBOX_SUSPENDED: Code.Unavailable,
  EXEC_FAILED: Code.FailedPrecondition,
  FS_ERROR: Code.Internal,
  PROTOCOL_ERROR: Code.Internal,
  UNAVAILABLE: Code.Unavailable,
  INTERNAL: Code.Internal,
};

/** The Connect code of an agentd error (a file error by its errno). */
export function connectCodeOf(err: AgentdError): Code {
  if (err instanceof SandboxOsError || err.code === 'FS_ERROR' || err.code === 'EXEC_FAILED') {
    const errno = err instanceof SandboxOsError ? err.syscallCode : (err.details.errno as string | undefined);
    const c = errno === undefined ? undefined : ERRNO_CODES[errno];
    if (c !== undefined) return c;
  }
  // A command that is no longer running is, to the SDK, a process that does not exist.
  if (err.code === 'CONFLICT' && err.details.reason === 'not_running') return Code.NotFound;
  return AGENTD_CODES[err.code] ?? Code.Internal;
}

/** Anything thrown in a handler, as the ConnectError the client gets. */
export function toConnectError(err: unknown): ConnectError {
  if (err instanceof ConnectError) return err;
  const e = toAgentdError(err);
  // INTERNAL may wrap anything: its message is generic, the original goes to the daemon's log.
  const message = e.code === 'INTERNAL' ? 'internal error' : e.message;
  return new ConnectError(`${e.code}: ${message}`, connectCodeOf(e));
}
