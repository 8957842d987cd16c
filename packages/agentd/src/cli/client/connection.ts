/** The client flags every command accepts, and the SDK client built from them. */
import { lstatSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { AgentdClient, type ClientOptions, type FetchLike, type SigningOptions } from '@agentd/sdk';
import type { Command } from 'commander';
import { LOCAL_TOKEN_FILE } from '../../auth/local-token-file.js';
import { currentUid, defaultHome } from '../../config/home.js';

/** The socket's name in the home when the config names no other (config/parse.ts derives the same). */
const HOME_SOCKET = 'agentd.sock';
import { UsageError } from './errors.js';
import { lightFetch } from './light-fetch.js';

export interface ClientFlags {
  url?: string;
  socket?: string;
  apiKey?: string;
  signKey?: string;
  keyId?: string;
  json?: boolean;
}

/** Adds --url, --socket, --api-key, --sign-key, --key-id and --json to a command. */
export function withClientFlags(command: Command): Command {
  return command
    .option('--url <url>', 'daemon URL (env AGENTD_URL; default http://127.0.0.1:7070)')
    .option('--socket <path>', "daemon's Unix socket (env AGENTD_SOCKET)")
    .option('--api-key <key>', 'API key (env AGENTD_API_KEY)')
    .option('--sign-key <file>', 'sign every request with this Ed25519 private key, PKCS#8 PEM (env AGENTD_SIGN_KEY)')
    .option('--key-id <id>', 'the id the signing key is registered under (env AGENTD_SIGN_KEY_ID)')
    .option('--json', 'print data as JSON');
}

/** The socket a daemon on `home` listens on by default, when one is there. */
function homeSocket(home: string): string | undefined {
  const path = join(home, HOME_SOCKET);
  return lstatSync(path, { throwIfNoEntry: false })?.isSocket() === true ? path : undefined;
}

/**
 * Where to connect: a flag beats the environment, and within each a socket beats a URL.
 * `--url` given explicitly wins over AGENTD_SOCKET from the environment. With neither a flag
 * nor AGENTD_SOCKET / AGENTD_URL, the daemon of the home (AGENTD_HOME, else this user's
 * default home) is found by its socket `<home>/agentd.sock`; without one, the default URL.
 * Credentials: an API key or a signing key, never both; a flag of either kind beats both
 * environment variables. With none of them, the daemon's local token is sent: read from
 * `<AGENTD_HOME or the default home>/agentd.token` at each request, and only to a daemon on
 * this host (a loopback URL or the socket; the SDK decides, see its `localTokenFile`).
 */
export function clientOptions(flags: ClientFlags, env: NodeJS.ProcessEnv): ClientOptions {
  const auth = credentials(flags, env);
  const home = nonEmpty(env.AGENTD_HOME) ?? defaultHome(env, currentUid());
  const fallback = auth.apiKey === undefined && auth.signing === undefined ? { localTokenFile: join(home, LOCAL_TOKEN_FILE) } : {};
  const { url, socket } = endpoint(flags, env, home);
  // lightFetch: node:http without undici (faster start); anything it does not handle goes to the SDK's fetch.
  if (socket !== undefined) return { ...auth, ...fallback, baseUrl: 'http://localhost', fetch: lightFetch({ socketPath: socket }, socketFallback(socket)) };
  return { ...auth, ...fallback, baseUrl: url ?? 'http://127.0.0.1:7070' };
}

/** The SDK's fetch over the socket, for what lightFetch hands over (stream bodies...): loaded on use, as it loads node:http. */
function socketFallback(socket: string): FetchLike {
  return async (url, init) => (await import('@agentd/sdk/node')).unixSocketFetch(socket)(url, init);
}

/** The daemon's address from the flags and environment: its socket, or its URL (see clientOptions). */
export function endpoint(flags: ClientFlags, env: NodeJS.ProcessEnv, home = nonEmpty(env.AGENTD_HOME) ?? defaultHome(env, currentUid())): { url: string | undefined; socket: string | undefined } {
  const url = flags.url ?? nonEmpty(env.AGENTD_URL);
  const socket = flags.socket ?? (flags.url === undefined ? nonEmpty(env.AGENTD_SOCKET) ?? (url === undefined ? homeSocket(home) : undefined) : undefined);
  return { url, socket };
}

function credentials(flags: ClientFlags, env: NodeJS.ProcessEnv): Pick<ClientOptions, 'apiKey' | 'signing'> {
  if (flags.apiKey !== undefined && flags.signKey !== undefined) throw new UsageError('give --api-key or --sign-key, not both');
  const fromFlag = flags.apiKey !== undefined || flags.signKey !== undefined;
  const apiKey = nonEmpty(flags.apiKey ?? (fromFlag ? undefined : env.AGENTD_API_KEY));
  const signKey = nonEmpty(flags.signKey ?? (fromFlag ? undefined : env.AGENTD_SIGN_KEY));
  if (apiKey !== undefined && signKey !== undefined) throw new UsageError('AGENTD_API_KEY and AGENTD_SIGN_KEY are both set: unset one, or choose with --api-key or --sign-key');
  if (signKey !== undefined) return { signing: signingKey(signKey, flags.keyId ?? nonEmpty(env.AGENTD_SIGN_KEY_ID)) };
  if (flags.keyId !== undefined) throw new UsageError('--key-id names the key of --sign-key (or AGENTD_SIGN_KEY), which is not set');
  return apiKey === undefined ? {} : { apiKey };
}

function signingKey(file: string, keyId: string | undefined): SigningOptions {
  if (keyId === undefined) throw new UsageError('signing needs the key id the public key was registered under: --key-id or AGENTD_SIGN_KEY_ID');
  try {
    return { keyId, privateKey: readFileSync(file, 'utf8') };
  } catch (err) {
    throw new UsageError(`cannot read the signing key ${file}: ${(err as Error).message}`);
  }
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value;
}

export function connect(flags: ClientFlags, env: NodeJS.ProcessEnv): AgentdClient {
  const options = clientOptions(flags, env);
  // Over TCP too: plain http without undici; https and unusual bodies go to Node's fetch.
  return new AgentdClient(options.fetch === undefined ? { ...options, fetch: lightFetch({}, (url, init) => fetch(url, init)) } : options);
}
