import { AgentdError } from '../core/errors.js';
import type { ProfileName } from '../isolation/types.js';
import { DEFAULT_TENANT, ROLE_ADMIN, type AuthProvider, type Principal } from './types.js';

export interface AllowAllOptions {
  subject?: string;
  tenant?: string;
  roles?: string[];
}

/** Profiles under which allow-all is refused: they demand real authentication. */
export const ALLOW_ALL_REFUSED_PROFILES: readonly ProfileName[] = ['server', 'paranoid'];

/** Whether a TCP peer address is the loopback interface (127.0.0.0/8, ::1, IPv4-mapped 127.x). */
export function isLoopbackAddress(address: string): boolean {
  const v4 = address.startsWith('::ffff:') ? address.slice('::ffff:'.length) : address;
  return v4.startsWith('127.') || address === '::1';
}

/**
 * Development only: every caller on the Unix socket is the same principal (default `local`,
 * tenant `default`, role admin). Never a TCP caller, loopback included: a command in a
 * sandbox with the host's network reaches 127.0.0.1 too, so TCP always needs a credential
 * (the local token, an API key...). The config only accepts allow-all with an owner-only
 * socket (mode 0600, config/rules.ts), so the kernel already limits the socket to the
 * daemon's user and root. Refused under the server and paranoid profiles (INVALID_CONFIG).
 */
export function allowAllProvider(profile: ProfileName, opts: AllowAllOptions = {}): AuthProvider {
  if (ALLOW_ALL_REFUSED_PROFILES.includes(profile)) {
    throw new AgentdError(
      'INVALID_CONFIG',
      `auth provider 'allow-all' is for development only and is refused under the '${profile}' profile; configure api-key, jwt, signature or peer-creds`,
      { details: { path: 'auth.providers', profile } },
    );
  }
  const principal: Principal = Object.freeze({
    subject: opts.subject ?? 'local',
    tenant: opts.tenant ?? DEFAULT_TENANT,
    roles: Object.freeze([...(opts.roles ?? [ROLE_ADMIN])]) as string[],
    provider: 'allow-all',
  });
  return {
    name: 'allow-all',
    async authenticate(req) {
      return req.transport === 'unix' ? { ...principal, roles: [...principal.roles] } : null;
    },
  };
}
