import { AgentdError } from '../core/errors.js';
import type { AuthProvider, AuthRequest, Principal } from './types.js';

/**
 * Tries providers in order. The first that recognizes the request's credentials decides:
 * it returns the principal or throws UNAUTHENTICATED (the rest are not asked). When none
 * recognizes them, the request is UNAUTHENTICATED. An empty chain authenticates nobody.
 * A provider that throws anything but an AgentdError stops the chain with INTERNAL.
 */
export class AuthChain {
  readonly providers: readonly AuthProvider[];

  constructor(providers: readonly AuthProvider[]) {
    this.providers = [...providers];
  }

  get names(): string[] {
    return this.providers.map((p) => p.name);
  }

  async authenticate(req: AuthRequest, signal?: AbortSignal): Promise<Principal> {
    for (const provider of this.providers) {
      signal?.throwIfAborted();
      let principal: Principal | null;
      try {
        principal = await provider.authenticate(req, signal);
      } catch (err) {
        if (err instanceof AgentdError) throw err;
        // A provider failing unexpectedly (a bug, a broken database) is the server's fault:
        // fail closed, but say so (500), rather than telling the caller its credentials are bad.
        throw new AgentdError('INTERNAL', `auth provider '${provider.name}' failed`, { cause: err, details: { provider: provider.name } });
      }
      if (principal !== null) return Object.freeze({ ...principal, roles: [...principal.roles] });
    }
    throw new AgentdError('UNAUTHENTICATED', 'no valid credentials were presented', {
      details: { accepted: this.names },
    });
  }
}

/** The error every provider throws for "credentials of my kind, but not valid". */
export function unauthenticated(message: string, provider: string, cause?: unknown): AgentdError {
  return new AgentdError('UNAUTHENTICATED', message, cause === undefined ? { details: { provider } } : { details: { provider }, cause });
}
