/** When a request may be retried, and how long to wait before the next try. */
import { CancelledError, type AgentdError } from './errors.js';
import type { RetryOptions } from './options.js';

/** Codes that say "try again later" without the request having had an effect. */
const RETRY_CODES: ReadonlySet<string> = new Set(['UNAVAILABLE', 'RESOURCE_EXHAUSTED']);

/**
 * A request is safe to repeat when repeating cannot run something twice: reads and deletes,
 * or any request carrying an Idempotency-Key (the daemon returns the first answer).
 */
export function isRetrySafe(method: string, hasIdempotencyKey: boolean): boolean {
  const m = method.toUpperCase();
  return m === 'GET' || m === 'HEAD' || m === 'DELETE' || hasIdempotencyKey;
}

/**
 * Whether an error answer (or a network failure, `error === 'network'`) warrants another try.
 * With an Idempotency-Key, a `409 CONFLICT` with `details.in_flight` (the first request is
 * still running) is worth retrying too: the retry then gets the first request's answer.
 */
export function isRetryableFailure(error: AgentdError | 'network', hasIdempotencyKey = false): boolean {
  if (error === 'network') return true;
  if (hasIdempotencyKey && error.code === 'CONFLICT' && error.details.in_flight === true) return true;
  return RETRY_CODES.has(error.code);
}

/**
 * Delay before retry number `attempt` (0-based): the server's retry_after_ms when it sent one,
 * else exponential backoff with jitter (between half and all of base * 2^attempt); both capped.
 */
export function backoffDelay(attempt: number, policy: Required<RetryOptions>, retryAfterMs?: number): number {
  if (retryAfterMs !== undefined && retryAfterMs >= 0) return Math.min(retryAfterMs, policy.maxDelayMs);
  const exp = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** attempt);
  return Math.round(exp / 2 + (exp / 2) * policy.random());
}

/** Waits `ms`, or rejects with CancelledError as soon as `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted === true) {
      reject(new CancelledError('CANCELLED', 'the request was aborted', { cause: signal.reason }));
      return;
    }
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(new CancelledError('CANCELLED', 'the request was aborted', { cause: signal?.reason }));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
