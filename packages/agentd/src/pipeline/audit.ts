import type { Principal } from '../auth/types.js';
import type { IntentMetadata, IntentResponse } from '../core/intent.js';

/**
 * What the audit log keeps of one intent's params: where it acted and what it ran, never
 * the data or the secrets (no env values, stdin, file contents, edit strings).
 */
export function auditParams(capability: string, params: unknown): Record<string, unknown> {
  const p = (params ?? {}) as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  if (typeof p.path === 'string') out.path = p.path;
  if (capability.startsWith('shell.exec')) {
    if (typeof p.command === 'string') out.command = p.command.slice(0, 512);
    if (Array.isArray(p.argv)) out.argv = (p.argv as unknown[]).slice(0, 32).map((a) => String(a).slice(0, 256));
    if (Array.isArray(p.args)) out.args_count = p.args.length;
    if (typeof p.cwd === 'string') out.cwd = p.cwd;
    if (p.env !== null && typeof p.env === 'object') out.env_keys = Object.keys(p.env);
    if (typeof p.stdin === 'string') out.stdin_chars = p.stdin.length;
  }
  if (typeof p.content === 'string') out.content_chars = p.content.length;
  if (p.recursive === true) out.recursive = true;
  if (p.replace_all === true) out.replace_all = true;
  return out;
}

/** Result facts worth auditing (exit status, timing): never the output itself. */
export function auditOutcome(resp: IntentResponse): Record<string, unknown> {
  const r = resp.result;
  const out: Record<string, unknown> = {};
  if (r?.exit_code !== undefined) out.exit_code = r.exit_code;
  if (r?.signal) out.signal = r.signal;
  if (r?.timed_out) out.timed_out = true;
  if (resp.error) out.error = resp.error.message.slice(0, 512);
  if (resp.sandbox_info?.from_pool) out.from_pool = true;
  return out;
}

/** What the audit record keeps of an intent's metadata: the trace and span ids and the caller's `custom` labels (docs/api.md). */
export function auditMetadata(m: IntentMetadata): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (m.trace_id !== undefined) out.trace_id = m.trace_id;
  if (m.span_id !== undefined) out.span_id = m.span_id;
  if (m.custom !== undefined) out.custom = { ...m.custom };
  return out;
}

export function who(principal: Principal | undefined): { subject: string | null; tenant: string | null } {
  return { subject: principal?.subject ?? null, tenant: principal?.tenant ?? null };
}
