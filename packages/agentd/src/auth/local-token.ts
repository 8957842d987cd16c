import { randomBytes, timingSafeEqual } from 'node:crypto';
import { lstat, readFile, rename, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { AgentdError } from '../core/errors.js';
import { unauthenticated } from './chain.js';
import { bearerToken } from './headers.js';
import { DEFAULT_TENANT, ROLE_ADMIN, type AuthProvider } from './types.js';
import { LOCAL_TOKEN_FILE } from './local-token-file.js';

/**
 * The daemon's local token (Jupyter's model): a random secret the daemon creates at every
 * start and writes owner-only (0600) to `<home>/agentd.token`; whoever can read that file
 * (the daemon's user and root, who own the daemon anyway) is an admin of the default
 * tenant. The CLI and the SDK read it by themselves and send it as `Authorization: Bearer`.
 * A sandbox never sees the file (the home is not in its mount view, and the file is 0600),
 * so a command that reaches the TCP port still gets 401.
 *
 * A new token at every start: a copy read while the daemon was down (say, by a process that
 * took its port and received a client's token) is useless against the next daemon.
 */
export { LOCAL_TOKEN_FILE };
const TOKEN_PREFIX = 'agdt_';
const TOKEN_PATTERN = /^agdt_[A-Za-z0-9_-]{43}$/;

export function localTokenPath(home: string): string {
  return join(home, LOCAL_TOKEN_FILE);
}

/** Whether a bearer token is shaped like a local token (so the local-token provider owns it). */
export function looksLikeLocalToken(token: string): boolean {
  return token.startsWith(TOKEN_PREFIX);
}

export function newLocalToken(): string {
  return `${TOKEN_PREFIX}${randomBytes(32).toString('base64url')}`;
}

/**
 * Writes the token owner-only: a fresh temporary file created 0600 with O_EXCL (never an
 * existing file or a planted link), then renamed over the final name.
 */
export async function writeLocalToken(home: string, token: string): Promise<string> {
  const path = localTokenPath(home);
  const tmp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  await writeFile(tmp, `${token}\n`, { mode: 0o600, flag: 'wx' });
  try {
    await rename(tmp, path);
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    throw new AgentdError('INTERNAL', `cannot write the local token ${path}: ${(err as Error).message}`, { cause: err });
  }
  return path;
}

/** Removes the token file if it still holds `token` (a later daemon's file is left alone). */
export async function removeLocalToken(home: string, token: string): Promise<void> {
  const path = localTokenPath(home);
  const st = await lstat(path).catch(() => undefined);
  if (!st?.isFile()) return;
  const text = await readFile(path, 'utf8').catch(() => '');
  if (text.trim() === token) await unlink(path).catch(() => undefined);
}

/**
 * `Authorization: Bearer agdt_...`: the daemon's local token, on TCP and the socket alike.
 * A token of this shape that is not the current one is UNAUTHENTICATED (a stale token of an
 * earlier start, or a guess); any other credential is not this provider's (null).
 */
export function localTokenProvider(current: () => string | undefined): AuthProvider {
  return {
    name: 'local-token',
    async authenticate(req) {
      const token = bearerToken(req);
      if (token === undefined || !looksLikeLocalToken(token)) return null;
      const expected = current();
      const ok = expected !== undefined && TOKEN_PATTERN.test(token)
        && timingSafeEqual(Buffer.from(token), Buffer.from(expected));
      if (!ok) throw unauthenticated('invalid local token (the daemon writes a new one to <home>/agentd.token at every start)', 'local-token');
      return { subject: 'local', tenant: DEFAULT_TENANT, roles: [ROLE_ADMIN], provider: 'local-token' };
    },
  };
}
