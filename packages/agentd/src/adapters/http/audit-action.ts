import type { Principal } from '../../auth/types.js';
import { toAgentdError } from '../../core/errors.js';
import type { HttpServices } from './services.js';

/** Runs a non-intent action (sandbox lifecycle, sessions, keys) and records it in the audit log. */
export async function audited<T>(svc: HttpServices, principal: Principal, action: string, sandboxId: string | null, work: () => Promise<T> | T): Promise<T> {
  const t0 = performance.now();
  const record = (status: 'ok' | 'error' | 'denied', code: string, extra: Record<string, unknown> = {}): void => {
    try {
      svc.store.audit.append({
        subject: principal.subject, tenant: principal.tenant, action, sandboxId, status, code,
        durationMs: Math.round(performance.now() - t0), details: { provider: principal.provider, ...extra },
      });
    } catch (err) {
      svc.logger.error({ err: (err as Error).message, action }, 'could not write the audit event');
    }
  };
  try {
    const out = await work();
    const id = (out as { id?: unknown } | undefined)?.id;
    record('ok', 'OK', sandboxId === null && typeof id === 'string' ? { id } : {});
    return out;
  } catch (err) {
    const e = toAgentdError(err);
    record(e.code === 'PERMISSION_DENIED' || e.code === 'POLICY_DENIED' ? 'denied' : 'error', e.code);
    throw err;
  }
}
