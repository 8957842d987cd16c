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

/**
 * Development only: every request is the same local principal (default `local`, tenant
 * `default`, role admin). Refused under the server and paranoid profiles (INVALID_CONFIG).
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
    authenticate: () => Promise.resolve({ ...principal, roles: [...principal.roles] }),
  };
}
