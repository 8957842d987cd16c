/** The durable state store (SQLite, WAL): sandboxes, sessions, snapshots, audit, idempotency keys, API keys. */
export { StateStore, openStateStore, STATE_DB_FILE } from './store.js';
export type { StateStoreOptions } from './store.js';
export { SandboxRepo } from './sandboxes.js';
export { SessionRepo } from './sessions.js';
export { SnapshotRepo } from './snapshots.js';
export { AuditRepo, AUDIT_DEFAULT_LIMIT, AUDIT_MAX_LIMIT } from './audit.js';
export { IdempotencyRepo, IDEMPOTENCY_DEFAULT_TTL_MS } from './idempotency.js';
export { ApiKeyRepo } from './api-keys.js';
export { SigningKeyRepo } from './signing-keys.js';
export { MIGRATIONS, migrate, latestVersion } from './migrations.js';
export type { Migration } from './migrations.js';
export { redact, redactDetails, REDACTED } from './redact.js';
export { hashRequest, canonicalJson } from './json.js';
export type {
  SandboxState,
  SandboxRecord,
  NewSandbox,
  SandboxPatch,
  SandboxFilter,
  SessionState,
  SessionRecord,
  NewSession,
  SessionPatch,
  SessionFilter,
  SnapshotRecord,
  NewSnapshot,
  SnapshotFilter,
  AuditStatus,
  AuditEventInput,
  AuditEvent,
  AuditQuery,
  IdempotencyScope,
  IdempotencyClaim,
  ApiKeyRecord,
  NewApiKey,
  ApiKeyFilter,
  SigningKeyRecord,
  NewSigningKey,
  RecoveryReport,
} from './types.js';
