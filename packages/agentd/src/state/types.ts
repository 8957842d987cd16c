/**
 * Row shapes of the state store, in camelCase. Times are Unix epoch milliseconds.
 * JSON columns (spec, labels, details, roles, responses) are parsed on read.
 * A `NewX` is its record without the fields the store fills in; where such a field stays
 * in `NewX` as optional, leaving it out means "the store decides" (the store clock for
 * `createdAtMs`, null or empty otherwise).
 */

/** `T` with the fields `K` optional. */
type WithOptional<T, K extends keyof T> = Omit<T, K> & Partial<Pick<T, K>>;

/** `destroying`: a destroy began and has not finished (a failed one stays so: DELETE again, or the next start finishes it). */
export type SandboxState = 'creating' | 'running' | 'suspended' | 'stopped' | 'destroying' | 'destroyed' | 'dead';

export interface SandboxRecord {
  id: string;
  tenant: string;
  backend: string;
  profile: string;
  state: SandboxState;
  /** The sandbox's creation spec as the daemon chose to store it (JSON-serialisable). */
  spec: unknown;
  labels: Record<string, string>;
  createdAtMs: number;
  updatedAtMs: number;
  expiresAtMs: number | null;
  lastError: string | null;
}

/** `updatedAtMs` starts at `createdAtMs`, `lastError` at null; labels default to `{}`, expiresAtMs to null (no TTL). */
export type NewSandbox = WithOptional<Omit<SandboxRecord, 'updatedAtMs' | 'lastError'>, 'labels' | 'createdAtMs' | 'expiresAtMs'>;

/** Fields of a sandbox that change after creation; absent fields are left as they are. */
export type SandboxPatch = Partial<Pick<SandboxRecord, 'state' | 'spec' | 'labels' | 'expiresAtMs' | 'lastError'>>;

/**
 * Filters for listing sandboxes. Every field narrows: undefined = no filter on it;
 * `labels: {}` = no filter; `labels: {k: v}` = only sandboxes having every listed label.
 * `states: []` matches nothing; `states: undefined` matches every state.
 */
export interface SandboxFilter {
  tenant?: string;
  states?: SandboxState[];
  backend?: string;
  labels?: Record<string, string>;
}

export type SessionState = 'attached' | 'detached' | 'suspended' | 'closed';

export interface SessionRecord {
  id: string;
  tenant: string;
  sandboxId: string;
  state: SessionState;
  idleTimeoutMs: number;
  detachTimeoutMs: number;
  suspendAfterMs: number;
  createdAtMs: number;
  lastActiveMs: number;
}

/** `lastActiveMs` defaults to `createdAtMs`. */
export type NewSession = WithOptional<SessionRecord, 'createdAtMs' | 'lastActiveMs'>;

/** Absent fields are left as they are. */
export type SessionPatch = Partial<Pick<SessionRecord, 'state' | 'lastActiveMs' | 'idleTimeoutMs' | 'detachTimeoutMs' | 'suspendAfterMs'>>;

export interface SessionFilter {
  tenant?: string;
  sandboxId?: string;
  states?: SessionState[];
}

export interface SnapshotRecord {
  id: string;
  sandboxId: string;
  tenant: string;
  name: string | null;
  /** Host path of the snapshot's copy. */
  path: string;
  sizeBytes: number;
  createdAtMs: number;
}

export type NewSnapshot = WithOptional<SnapshotRecord, 'name' | 'createdAtMs'>;

export interface SnapshotFilter {
  tenant?: string;
  sandboxId?: string;
}

/** What happened to an audited action. */
export type AuditStatus = 'ok' | 'denied' | 'error' | 'expired' | 'cancelled' | 'pending';

export interface AuditEventInput {
  /** Defaults to the store clock. */
  tsMs?: number;
  /** Principal subject; `null` when authentication itself failed. */
  subject: string | null;
  tenant: string | null;
  /** What was attempted, e.g. "intent", "sandbox.create", "keys.revoke", "auth". */
  action: string;
  capability?: string | null;
  sandboxId?: string | null;
  intentId?: string | null;
  status: AuditStatus;
  /** "OK" or an ErrorCode. */
  code?: string | null;
  durationMs?: number | null;
  /** Free-form context. Redacted before it is written (see redact.ts): never put secrets here on purpose anyway. */
  details?: Record<string, unknown>;
}

export interface AuditEvent {
  id: number;
  tsMs: number;
  subject: string | null;
  tenant: string | null;
  action: string;
  capability: string | null;
  sandboxId: string | null;
  intentId: string | null;
  status: AuditStatus;
  code: string | null;
  durationMs: number | null;
  details: Record<string, unknown>;
}

/**
 * Audit query. `tenant: undefined` = all tenants (only for callers allowed to see them,
 * see auth/tenancy.ts); `sinceMs` is inclusive; `limit` defaults to 100 and is capped at 1000.
 * `order` defaults to 'desc' (newest first).
 */
export interface AuditQuery {
  tenant?: string;
  sinceMs?: number;
  untilMs?: number;
  sandboxId?: string;
  subject?: string;
  limit?: number;
  order?: 'asc' | 'desc';
}

/** Who an idempotency key belongs to: keys are scoped per tenant and principal. */
export interface IdempotencyScope {
  tenant: string;
  subject: string;
  key: string;
}

/**
 * The outcome of `idempotency.claim()`:
 * - `claimed`: the caller owns the key now and must run the request, then `complete()` (or `release()` on failure to let a retry run it);
 * - `in_flight`: another call with the same key and body is running; answer CONFLICT/retry later;
 * - `interrupted`: the first call was cut by a daemon stop or crash (its effects are unknown); answer CONFLICT, never run it again;
 * - `completed`: the first call finished; return `response` without running again.
 * A different request body under the same key throws AgentdError CONFLICT.
 */
export type IdempotencyClaim =
  | { kind: 'claimed' }
  | { kind: 'in_flight'; claimedAtMs: number }
  | { kind: 'interrupted'; claimedAtMs: number; interruptedAtMs: number }
  | { kind: 'completed'; response: unknown; completedAtMs: number };

export interface ApiKeyRecord {
  id: string;
  /** Displayable, non-secret beginning of the key: `agd_<id>`. */
  prefix: string;
  /** Stored verifier of the secret, `<scheme>$<salt>$<digest>`; never the key itself. */
  hash: string;
  subject: string;
  tenant: string;
  roles: string[];
  createdAtMs: number;
  revokedAtMs: number | null;
  lastUsedMs: number | null;
}

/** A new key is neither revoked nor used yet. */
export type NewApiKey = WithOptional<Omit<ApiKeyRecord, 'revokedAtMs' | 'lastUsedMs'>, 'createdAtMs'>;

export interface ApiKeyFilter {
  tenant?: string;
  /** Include revoked keys (default false). */
  includeRevoked?: boolean;
}

/** A registered Ed25519 public key for signed requests (no secret: only the public half is stored). */
export interface SigningKeyRecord {
  id: string;
  /** PEM (SPKI) or raw 32 bytes in base64. */
  publicKey: string;
  subject: string;
  tenant: string;
  roles: string[];
  createdAtMs: number;
  revokedAtMs: number | null;
}

export type NewSigningKey = WithOptional<Omit<SigningKeyRecord, 'revokedAtMs'>, 'createdAtMs'>;

/** What `markAllRunningAsStopped()` changed at start-up after a crash or stop. */
export interface RecoveryReport {
  /** Sandboxes that were creating/running/suspended and are now `stopped` (their processes are gone). */
  sandboxIds: string[];
  /** Sessions that were attached and are now detached. */
  sessionsDetached: number;
  /** In-flight idempotency claims marked interrupted (their requests died with the old process). */
  claimsInterrupted: number;
}
