import type { ApiKeyInfo } from '../../auth/api-key.js';
import type { AuditEvent, SandboxRecord, SessionRecord, SigningKeyRecord, SnapshotRecord } from '../../state/types.js';

/** State records as the JSON shapes of docs/api.md. */
export function sandboxView(r: SandboxRecord, usage?: { memory_bytes: number; memory_peak_bytes: number; cpu_ms: number; pids: number }): Record<string, unknown> {
  return {
    id: r.id,
    state: r.state,
    backend: r.backend,
    profile: r.profile,
    tenant: r.tenant,
    labels: r.labels,
    created_at_ms: r.createdAtMs,
    ...(r.expiresAtMs === null ? {} : { expires_at_ms: r.expiresAtMs }),
    ...(r.lastError === null ? {} : { last_error: r.lastError }),
    ...limitsView(r.spec),
    ...imageView(r.spec),
    ...(usage ? { usage } : {}),
  };
}

/** The image the sandbox runs on (docs/images.md): its name at create and the digest it keeps. */
function imageView(spec: unknown): { image?: { name: string; digest: string } } {
  const image = (spec as { image?: { name?: unknown; digest?: unknown } } | null)?.image;
  if (typeof image?.name !== 'string' || typeof image.digest !== 'string') return {};
  return { image: { name: image.name, digest: image.digest } };
}

/** The limits the sandbox runs under (from its stored spec), in the create body's names; nothing when none is known. */
function limitsView(spec: unknown): { limits?: Record<string, number> } {
  const limits = (spec as { limits?: Record<string, unknown> } | null)?.limits;
  if (typeof limits !== 'object' || limits === null) return {};
  const names: Record<string, string> = { memoryBytes: 'memory_bytes', pids: 'pids', cpus: 'cpus', openFiles: 'open_files', diskBytes: 'disk_bytes' };
  const out: Record<string, number> = {};
  for (const [k, name] of Object.entries(names)) {
    const v = limits[k];
    if (typeof v === 'number') out[name] = v;
  }
  return { limits: out };
}

export function sessionView(s: SessionRecord): Record<string, unknown> {
  return {
    id: s.id,
    sandbox_id: s.sandboxId,
    state: s.state,
    created_at_ms: s.createdAtMs,
    last_active_ms: s.lastActiveMs,
    idle_timeout_ms: s.idleTimeoutMs,
    detach_timeout_ms: s.detachTimeoutMs,
    suspend_after_ms: s.suspendAfterMs,
  };
}

export function snapshotView(s: SnapshotRecord): Record<string, unknown> {
  return { id: s.id, sandbox_id: s.sandboxId, ...(s.name === null ? {} : { name: s.name }), created_at_ms: s.createdAtMs, size_bytes: s.sizeBytes };
}

export function auditView(e: AuditEvent): Record<string, unknown> {
  return {
    id: e.id, ts_ms: e.tsMs, subject: e.subject, tenant: e.tenant, action: e.action, capability: e.capability, sandbox_id: e.sandboxId,
    intent_id: e.intentId, status: e.status, code: e.code, duration_ms: e.durationMs, details: e.details,
  };
}

export function apiKeyView(k: ApiKeyInfo): Record<string, unknown> {
  return {
    id: k.id, prefix: k.prefix, subject: k.subject, tenant: k.tenant, roles: k.roles, created_at_ms: k.createdAtMs, revoked_at_ms: k.revokedAtMs, last_used_ms: k.lastUsedMs,
  };
}

export function signingKeyView(k: SigningKeyRecord): Record<string, unknown> {
  return { id: k.id, public_key: k.publicKey, subject: k.subject, tenant: k.tenant, roles: k.roles, created_at_ms: k.createdAtMs, revoked_at_ms: k.revokedAtMs };
}
