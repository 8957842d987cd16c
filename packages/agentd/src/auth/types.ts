/** Who is calling, as decided by one auth provider. */
export interface Principal {
  /** Stable identity ("alice", "uid:1000", a JWT `sub`, an API key's subject). */
  subject: string;
  /** The tenant whose resources the principal sees; everything else answers 404. */
  tenant: string;
  /** Roles, e.g. ["admin"]; see tenancy.ts for what each one allows. */
  roles: string[];
  /** The provider that authenticated it ("api-key", "jwt", "signature", "peer-creds", "allow-all"). */
  provider: string;
}

/** The caller's process, read from the Unix socket (SO_PEERCRED). */
export interface PeerCredentials {
  uid: number;
  gid: number;
  pid: number;
}

/** What an auth provider sees of a request; transports (HTTP, Unix socket) fill it in. */
export interface AuthRequest {
  /** Header names lowercased (Node's IncomingHttpHeaders fits as is). */
  headers: Record<string, string | string[] | undefined>;
  /** HTTP method, upper case. */
  method: string;
  /** The request target as sent: path plus query string ("/v1/sandboxes/x/files?path=a"). Signed requests cover it. */
  path: string;
  /** The raw body bytes (signed requests cover them); absent or empty = no body. */
  body?: Uint8Array;
  /** Peer credentials of a Unix-socket caller. */
  peer?: PeerCredentials;
  remoteAddress?: string;
  transport: 'http' | 'unix';
}

/**
 * One way of authenticating. `authenticate` returns:
 * - a Principal when the request carries credentials of this provider's kind and they are valid;
 * - null when the request carries no credentials of its kind (not mine: the chain asks the next one);
 * - throws AgentdError UNAUTHENTICATED when they are of its kind but invalid (mine but bad: the chain stops).
 */
export interface AuthProvider {
  readonly name: string;
  authenticate(req: AuthRequest, signal?: AbortSignal): Promise<Principal | null>;
  /**
   * Only for providers whose check covers the body (signature). Called on the headers before
   * any body byte is read: null when the request is not this provider's; throws
   * UNAUTHENTICATED for what the headers already show to be bad (a missing header, a stale
   * timestamp, an unknown key id); true when only the body-covering check is left, which
   * `authenticate` does once the body is read.
   */
  checkHeaders?(req: AuthRequest): Promise<true | null>;
}

export const ROLE_ADMIN = 'admin';
/** Read-only: may list, get and follow (sandboxes, commands, files), never change anything (no exec, no stdin, no signal). */
export const ROLE_VIEWER = 'viewer';
export const DEFAULT_TENANT = 'default';
