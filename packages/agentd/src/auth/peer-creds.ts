import { AgentdError } from '../core/errors.js';
import { DEFAULT_TENANT, ROLE_ADMIN, type AuthProvider, type Principal } from './types.js';

export interface PeerIdentity {
  subject: string;
  tenant: string;
  roles: string[];
}

export interface PeerCredsProviderOptions {
  /** uid (decimal string) -> identity. `{}` = no uid (except the defaults below, when enabled). */
  uidMap: Record<string, PeerIdentity>;
  /**
   * Also map uid 0 (root) and the daemon's own uid to an admin principal (`uid:<n>`, tenant
   * "default", role admin) unless uidMap lists them: whoever can act as those users on the
   * host already controls the daemon (its files, its process). The factory turns this on
   * when the config has no uid_map (undefined), and off when uid_map is given (then exactly
   * the listed uids are accepted).
   */
  trustRootAndSelf?: boolean;
  /** The daemon's uid (default process.getuid()). */
  selfUid?: number;
}

/**
 * Unix-socket callers, identified by the kernel (SO_PEERCRED, read by the transport into
 * `req.peer`). Not for TCP requests (returns null). A uid with no mapping returns null too, so
 * a later provider (an API key sent over the socket) can still decide; with no such provider
 * the chain answers UNAUTHENTICATED.
 */
export function peerCredsProvider(opts: PeerCredsProviderOptions): AuthProvider {
  const map = new Map<number, PeerIdentity>();
  for (const [uidText, identity] of Object.entries(opts.uidMap)) {
    if (!/^\d+$/.test(uidText)) {
      throw new AgentdError('INVALID_CONFIG', `auth.providers peer-creds: uid_map key '${uidText}' is not a numeric uid`, { details: { path: 'auth.providers' } });
    }
    map.set(Number(uidText), { subject: identity.subject, tenant: identity.tenant, roles: [...identity.roles] });
  }
  if (opts.trustRootAndSelf ?? true) {
    const selfUid = opts.selfUid ?? process.getuid?.();
    for (const uid of [0, selfUid]) {
      if (uid !== undefined && !map.has(uid)) map.set(uid, { subject: `uid:${uid}`, tenant: DEFAULT_TENANT, roles: [ROLE_ADMIN] });
    }
  }
  return {
    name: 'peer-creds',
    async authenticate(req): Promise<Principal | null> {
      if (req.transport !== 'unix' || req.peer === undefined) return null;
      const identity = map.get(req.peer.uid);
      if (identity === undefined) return null;
      return { subject: identity.subject, tenant: identity.tenant, roles: [...identity.roles], provider: 'peer-creds' };
    },
  };
}
