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
      const principal = await guarded(provider, () => provider.authenticate(req, signal));
      if (principal !== null) return Object.freeze({ ...principal, roles: [...principal.roles] });
    }
    throw this.noCredentials();
  }

  /**
   * The same decision on the headers alone, before any body byte is read (transports call
   * it first): the principal, or `'body'` when the deciding provider needs the body (a signed
   * request whose headers passed), or throws UNAUTHENTICATED. A `'body'` answer must be
   * followed by `authenticate` once the body is in.
   */
  async authenticateHeaders(req: AuthRequest, signal?: AbortSignal): Promise<Principal | 'body'> {
    const headersOnly: AuthRequest = { ...req };
    delete headersOnly.body;
    for (const provider of this.providers) {
      signal?.throwIfAborted();
      if (provider.checkHeaders !== undefined) {
        if ((await guarded(provider, async () => provider.checkHeaders?.(headersOnly) ?? null)) !== null) return 'body';
        continue;
      }
      const principal = await guarded(provider, () => provider.authenticate(headersOnly, signal));
      if (principal !== null) return Object.freeze({ ...principal, roles: [...principal.roles] });
    }
    throw this.noCredentials();
  }

  private noCredentials(): AgentdError {
    return new AgentdError('UNAUTHENTICATED', 'no valid credentials were presented', {
      details: { accepted: this.names },
    });
  }
}

/**
 * A provider failing unexpectedly (a bug, a broken database) is the server's fault: fail
 * closed, but say so (500), rather than telling the caller its credentials are bad.
 */
async function guarded<T>(provider: AuthProvider, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (err) {
    if (err instanceof AgentdError) throw err;
    throw new AgentdError('INTERNAL', `auth provider '${provider.name}' failed`, { cause: err, details: { provider: provider.name } });
  }
}

/** The error every provider throws for "credentials of my kind, but not valid". */
export function unauthenticated(message: string, provider: string, cause?: unknown): AgentdError {
  return new AgentdError('UNAUTHENTICATED', message, cause === undefined ? { details: { provider } } : { details: { provider }, cause });
}
