import { AgentdError } from '../core/errors.js';
import type { AuthProviderConfig } from '../config/sections.js';
import type { ProfileName } from '../isolation/types.js';
import type { StateStore } from '../state/store.js';
import type { Logger } from '../util/logger.js';
import { allowAllProvider } from './allow-all.js';
import { ApiKeyService, apiKeyProvider } from './api-key.js';
import { AuthChain } from './chain.js';
import { jwtProvider } from './jwt.js';
import { localTokenProvider } from './local-token.js';
import { peerCredsProvider, type PeerIdentity } from './peer-creds.js';
import type { ReplayCache } from './replay-cache.js';
import { signatureProvider, type SigningKey } from './signature.js';
import { DEFAULT_TENANT, type AuthProvider } from './types.js';

/** The `auth` section of the resolved config (config/sections.ts), as the factory reads it. */
export interface AuthConfig {
  providers: readonly AuthProviderConfig[];
}

export interface AuthChainContext {
  profile: ProfileName;
  /** Needed by the api-key provider (keys live in state.db) and for signing keys stored there. */
  state?: StateStore;
  logger?: Logger;
  /** Clock in epoch ms (tests). */
  now?: () => number;
  /** The daemon's uid, for peer-creds defaults (default process.getuid()). */
  selfUid?: number;
  /** Signing keys by key id for the signature provider, when not stored in state.db. */
  signingKeys?: Record<string, SigningKey>;
  /**
   * The signature provider's replay cache. Pass the same one to every createAuthChain call of
   * a daemon (start and each SIGHUP reload): a fresh cache at reload would accept once more
   * a signature seen just before it. undefined: each chain gets its own.
   */
  replayCache?: ReplayCache;
  /** The daemon's current local token (auth/local-token.ts); undefined: none exists, every local token is refused. */
  localToken?: () => string | undefined;
}

/** Roles of a JWT principal whose token has no roles claim (config/sections.ts documents ["user"]). */
const JWT_DEFAULT_ROLES = ['user'];

/**
 * Builds the provider chain from the resolved config, in the configured order.
 * Refuses an empty list (nobody could authenticate) and allow-all under server/paranoid
 * (INVALID_CONFIG). Logs a warning when allow-all is active.
 */
export function createAuthChain(config: AuthConfig, ctx: AuthChainContext): AuthChain {
  if (config.providers.length === 0) {
    throw new AgentdError('INVALID_CONFIG', 'auth.providers is empty: no caller could ever authenticate', { details: { path: 'auth.providers' } });
  }
  const providers: AuthProvider[] = config.providers.map((p) => buildProvider(p, ctx));
  if (providers.some((p) => p.name === 'allow-all')) {
    ctx.logger?.warn({ profile: ctx.profile }, "auth provider 'allow-all' is active: every caller on the owner-only Unix socket is admin (development only)");
  }
  return new AuthChain(providers);
}

function buildProvider(p: AuthProviderConfig, ctx: AuthChainContext): AuthProvider {
  switch (p.type) {
    case 'api-key': {
      if (ctx.state === undefined) throw new AgentdError('INTERNAL', 'the api-key auth provider needs the state store');
      return apiKeyProvider(new ApiKeyService(ctx.state.apiKeys, ctx.now));
    }
    case 'jwt':
      return jwtProvider({
        issuer: p.issuer,
        audience: p.audience,
        algorithms: [...p.algorithms],
        leewaySeconds: p.leeway_s,
        ...(p.key === undefined ? {} : { key: typeof p.key === 'string' ? p.key : JSON.stringify(p.key) }),
        ...(p.jwks_url === undefined ? {} : { jwksUrl: p.jwks_url }),
        subjectClaim: p.subject_claim,
        tenantClaim: p.tenant_claim,
        rolesClaim: p.roles_claim,
        defaultTenant: DEFAULT_TENANT,
        defaultRoles: JWT_DEFAULT_ROLES,
        ...(ctx.now === undefined ? {} : { now: ctx.now }),
      });
    case 'signature': {
      return signatureProvider({
        keys: { ...(ctx.signingKeys ?? {}), ...configuredSigningKeys(p.keys) },
        windowSeconds: p.window_s,
        ...(ctx.replayCache === undefined ? {} : { replayCache: ctx.replayCache }),
        ...(ctx.state === undefined ? {} : { lookup: signingKeyLookup(ctx.state) }),
        ...(ctx.now === undefined ? {} : { now: ctx.now }),
      });
    }
    case 'peer-creds': {
      const uidMap: Record<string, PeerIdentity> | undefined = p.uid_map;
      return peerCredsProvider({
        uidMap: uidMap ?? {},
        trustRootAndSelf: uidMap === undefined,
        ...(ctx.selfUid === undefined ? {} : { selfUid: ctx.selfUid }),
      });
    }
    case 'local-token':
      return localTokenProvider(ctx.localToken ?? (() => undefined));
    case 'allow-all':
      return allowAllProvider(ctx.profile);
  }
}

/** The config's `[auth.providers.keys.<id>]` tables (snake_case, defaults applied) as the provider's keys. */
function configuredSigningKeys(keys: Extract<AuthProviderConfig, { type: 'signature' }>['keys']): Record<string, SigningKey> {
  return Object.fromEntries(
    Object.entries(keys ?? {}).map(([id, k]) => [id, { publicKey: k.public_key, subject: k.subject, tenant: k.tenant, roles: [...k.roles] }]),
  );
}

function signingKeyLookup(state: StateStore): (keyId: string) => SigningKey | undefined {
  return (keyId) => {
    const row = state.signingKeys.get(keyId);
    if (row === undefined || row.revokedAtMs !== null) return undefined;
    return { publicKey: row.publicKey, subject: row.subject, tenant: row.tenant, roles: row.roles };
  };
}
