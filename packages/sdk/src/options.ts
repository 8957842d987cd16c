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
  /**
   * The daemon's local token file, used when no other credential is given (no apiKey, token,
   * signing, AGENTD_API_KEY) and the daemon is on this host (a loopback baseUrl; the Unix
   * socket fetch uses http://localhost). Default (Node only): `<AGENTD_HOME>/agentd.token`, or
   * the daemon's default home (`/var/lib/agentd` for root, `$XDG_DATA_HOME/agentd` or
   * `~/.local/share/agentd` otherwise). Read at every request (the daemon writes a new
   * token at every start); a missing file sends nothing. `false`: never.
   */
  localTokenFile?: string | false;
}

export const DEFAULT_BASE_URL = 'http://127.0.0.1:7070';

export interface ResolvedClientOptions {
  baseUrl: string;
  authorization: string | undefined;
  /** Signs each request (attempt) when `signing` was given. */
  signer: RequestSigner | undefined;
  /** The local token as an Authorization value, read when a request is sent (undefined: none). */
  localAuthorization: (() => string | undefined) | undefined;
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

interface NodeFs {
  readFileSync(path: string, encoding: 'utf8'): string;
}
interface NodeProcess {
  env?: Record<string, string | undefined>;
  getuid?: () => number;
  getBuiltinModule?: (id: string) => unknown;
}

/** Node's process object, or undefined in a browser. */
function nodeProcess(): NodeProcess | undefined {
  return (globalThis as { process?: NodeProcess }).process;
}

/** A Node built-in module (`node:fs/promises`...) where the runtime has one; undefined in a browser. */
export function nodeBuiltin(id: string): unknown {
  return nodeProcess()?.getBuiltinModule?.(id);
}

/** Where the daemon on this host keeps its local token (mirrors the daemon's default home). */
function defaultLocalTokenFile(): string | undefined {
  const proc = nodeProcess();
  if (proc?.getBuiltinModule === undefined) return undefined;
  const env = proc.env ?? {};
  const explicit = readEnv('AGENTD_HOME');
  let home: string | undefined;
  if (explicit !== undefined) home = explicit;
  else if (proc.getuid?.() === 0) home = '/var/lib/agentd';
  else if (env.XDG_DATA_HOME?.startsWith('/') === true) home = `${env.XDG_DATA_HOME}/agentd`;
  else {
    const os = proc.getBuiltinModule('node:os') as { homedir(): string } | undefined;
    const userHome = env.HOME?.startsWith('/') === true ? env.HOME : os?.homedir();
    home = userHome === undefined ? undefined : `${userHome}/.local/share/agentd`;
  }
  return home === undefined ? undefined : `${home.replace(/\/+$/, '')}/agentd.token`;
}

/** True for URLs of this host only (127.0.0.0/8, ::1, localhost). */
function isLoopbackUrl(url: string): boolean {
  let host: string;
  try {
    host = new URL(url).hostname;
  } catch {
    return false;
  }
  return host === 'localhost' || host === '[::1]' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

/** Reads the token file at each call (Node only); undefined when it is absent or unreadable. */
function localTokenReader(file: string): () => string | undefined {
  return () => {
    const fs = nodeProcess()?.getBuiltinModule?.('node:fs') as NodeFs | undefined;
    if (fs === undefined) return undefined;
    try {
      const token = fs.readFileSync(file, 'utf8').trim();
      return /^agdt_[A-Za-z0-9_-]{43}$/.test(token) ? `Bearer ${token}` : undefined;
    } catch {
      return undefined;
    }
  };
}

export function resolveClientOptions(options: ClientOptions = {}): ResolvedClientOptions {
  const baseUrl = (options.baseUrl ?? readEnv('AGENTD_URL') ?? DEFAULT_BASE_URL).replace(/\/+$/, '');
  if (options.signing !== undefined && (options.apiKey !== undefined || options.token !== undefined)) {
    throw createError('INVALID_ARGUMENT', 'pass either signing or a bearer credential (apiKey/token), not both: the daemon would pick one by its provider order');
  }
  const secret = options.signing !== undefined ? undefined : (options.token ?? options.apiKey ?? readEnv('AGENTD_API_KEY'));
  // The local token goes only to a daemon on this host: never to a remote baseUrl.
  const local = isLoopbackUrl(baseUrl);
  const tokenFile = options.localTokenFile === false ? undefined : (options.localTokenFile ?? defaultLocalTokenFile());
  const localAuthorization = options.signing === undefined && secret === undefined && local && tokenFile !== undefined ? localTokenReader(tokenFile) : undefined;
  const retry = options.retry === false ? { maxRetries: 0 } : (options.retry ?? {});
  const globalFetch: FetchLike = (url, init) => fetch(url, init);
  return {
    baseUrl,
    authorization: secret === undefined ? undefined : `Bearer ${secret}`,
    signer: options.signing === undefined ? undefined : new RequestSigner(options.signing),
    localAuthorization,
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
