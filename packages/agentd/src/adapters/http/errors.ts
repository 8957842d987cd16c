import { AgentdError, toAgentdError, type ErrorBody } from '../../core/errors.js';
import { isErrorCode } from '../../core/codes.js';

interface FastifyLikeError {
  code?: string;
  statusCode?: number;
  message?: string;
}

/** Fastify's own errors (body parsing, limits, routing) in our codes. */
function fromFastify(err: FastifyLikeError): AgentdError | undefined {
  switch (err.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new AgentdError('PAYLOAD_TOO_LARGE', 'the request body is larger than the limit (adapters.http.body_limit_bytes, limits.max_request_bytes); send a large file in pieces (PUT .../files with append=true), as the SDK\'s files.write does', { details: { reason: 'body_limit' } });
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new AgentdError('INVALID_ARGUMENT', `unsupported content type: ${err.message ?? ''}`, { details: { reason: 'content_type' } });
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return new AgentdError('INVALID_ARGUMENT', 'the JSON body is empty', { details: { reason: 'json' } });
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return new AgentdError('INVALID_ARGUMENT', 'the Content-Length header does not match the body', { details: { reason: 'content_length' } });
    case undefined:
    default:
      break;
  }
  if (err.statusCode === 413) return new AgentdError('PAYLOAD_TOO_LARGE', err.message ?? 'the request body is too large');
  if (typeof err.statusCode === 'number' && err.statusCode >= 400 && err.statusCode < 500) {
    return new AgentdError('INVALID_ARGUMENT', err.message ?? 'bad request');
  }
  return undefined;
}

/**
 * THE error mapper of the HTTP transport: anything thrown -> (HTTP status, error envelope).
 * AgentdErrors keep their code; fastify's client errors become INVALID_ARGUMENT or
 * PAYLOAD_TOO_LARGE; everything else is INTERNAL (message hidden).
 */
export function toHttpError(err: unknown): { status: number; body: { error: ErrorBody } } {
  let e: AgentdError;
  if (err instanceof AgentdError) e = err;
  else if (err instanceof SyntaxError) e = new AgentdError('INVALID_ARGUMENT', `malformed JSON: ${err.message}`, { details: { reason: 'json' } });
  else {
    const fst = typeof err === 'object' && err !== null ? fromFastify(err) : undefined;
    e = fst ?? new AgentdError('INTERNAL', 'internal error', { cause: err });
  }
  return { status: e.httpStatus, body: { error: e.toJSON() } };
}

/** The error an IntentResponse carries, back as an AgentdError (REST convenience routes throw it). */
export function errorOfResponse(error: ErrorBody): AgentdError {
  const code = isErrorCode(error.code) ? error.code : 'INTERNAL';
  return new AgentdError(code, error.message, { details: error.details, ...(error.retry_after_ms === undefined ? {} : { retryAfterMs: error.retry_after_ms }) });
}

export { toAgentdError };
