/** Client options: where the daemon is and how to authenticate to it. */
import { createError } from './errors.js';
import { RequestSigner, type SigningOptions } from './signing.js';

/** The subset of `fetch` the SDK needs; a custom one (e.g. `unixSocketFetch`) can be passed. */
export type FetchLike = (url: string, init: RequestInit) => Promise<Response>;

export interface RequestInfo {
  method: string;
  url: string;
}

/** Extra headers per request, e.g. a freshly minted JWT or a request signature. */
export type HeadersHook = (request: RequestInfo) => Record<string, string> | Promise<Record<string, string>>;

export interface RetryOptions {
  /** How many times a safe request is retried after the first try (default 3; 0 disables). */
  maxRetries?: number;
  /** First backoff delay; doubles each retry (default 200 ms). */
  baseDelayMs?: number;
  /** Cap for one backoff delay and for a server's `retry_after_ms` (default 5000 ms). */
  maxDelayMs?: number;
  /** Source of randomness for jitter, in [0, 1) (tests pass a fixed one). */
  random?: () => number;
}

export interface ClientOptions {
  /** Daemon URL. Default: env AGENTD_URL (where a `process.env` exists), else http://127.0.0.1:7070. */
  baseUrl?: string;
  /** An agentd API key, sent as `Authorization: Bearer <key>`. Default: env AGENTD_API_KEY. */
  apiKey?: string;
  /** A bearer token (JWT), sent as `Authorization: Bearer <token>`. */
  token?: string;
  /**
   * Sign every request with an Ed25519 private key (the daemon's `signature` auth provider)
   * instead of sending a bearer secret. Not together with `apiKey` or `token`; with it,
   * AGENTD_API_KEY from the environment is not used.
   */
  signing?: SigningOptions;
  /** Static extra headers, or a hook called before every request (attempt). */
  headers?: Record<string, string> | HeadersHook;
  /** A fetch implementation; default: the global fetch. */
  fetch?: FetchLike;
  /** Retry policy for safe requests (GET/DELETE, or carrying an Idempotency-Key); `false` disables. */
  retry?: RetryOptions | false;
}

export const DEFAULT_BASE_URL = 'http://127.0.0.1:7070';

export interface ResolvedClientOptions {
  baseUrl: string;
  authorization: string | undefined;
  /** Signs each request (attempt) when `signing` was given. */
  signer: RequestSigner | undefined;
  headers: Record<string, string> | HeadersHook | undefined;
  fetch: FetchLike;
  retry: Required<RetryOptions>;
}

/** Reads an environment variable where one exists (Node, Deno, Bun), never failing in browsers. */
export function readEnv(name: string): string | undefined {
  const proc = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process;
  const value = proc?.env?.[name];
  return value === undefined || value === '' ? undefined : value;
}

export function resolveClientOptions(options: ClientOptions = {}): ResolvedClientOptions {
  const baseUrl = (options.baseUrl ?? readEnv('AGENTD_URL') ?? DEFAULT_BASE_URL).replace(/\/+$/, '');
  if (options.signing !== undefined && (options.apiKey !== undefined || options.token !== undefined)) {
    throw createError('INVALID_ARGUMENT', 'pass either signing or a bearer credential (apiKey/token), not both: the daemon would pick one by its provider order');
  }
  const secret = options.signing !== undefined ? undefined : (options.token ?? options.apiKey ?? readEnv('AGENTD_API_KEY'));
  const retry = options.retry === false ? { maxRetries: 0 } : (options.retry ?? {});
  const globalFetch: FetchLike = (url, init) => fetch(url, init);
  return {
    baseUrl,
    authorization: secret === undefined ? undefined : `Bearer ${secret}`,
    signer: options.signing === undefined ? undefined : new RequestSigner(options.signing),
    headers: options.headers,
    fetch: options.fetch ?? globalFetch,
    retry: {
      maxRetries: retry.maxRetries ?? 3,
      baseDelayMs: retry.baseDelayMs ?? 200,
      maxDelayMs: retry.maxDelayMs ?? 5000,
      random: retry.random ?? Math.random,
    },
  };
}
