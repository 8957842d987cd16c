import type { z } from 'zod';
import type { Principal } from '../auth/types.js';
import { AgentdError, toAgentdError } from '../core/errors.js';
import { isReadOnly } from '../auth/tenancy.js';
import { ROLE_VIEWER } from '../auth/types.js';
import type { SandboxPrefs } from '../core/intent.js';
import type { ProfileName } from '../isolation/types.js';
import type { AuditRepo } from '../state/audit.js';
import type { AuditEventInput } from '../state/types.js';
import type { Logger } from '../util/logger.js';
import type { PolicyDecision, PolicyHook, PolicyInput } from './policy.js';
import { zodError } from './zod-error.js';

/**
 * Operation names the policy hook and the audit log see for everything that is not an
 * intent (an intent is named by its capability, "shell.exec.v1").
 */
export type OperationName =
  | 'sandbox.create' | 'sandbox.list' | 'sandbox.get' | 'sandbox.delete' | 'sandbox.start' | 'sandbox.suspend' | 'sandbox.resume'
  | 'sandbox.snapshot' | 'sandbox.restore' | 'sandbox.fork'
  | 'snapshot.list' | 'snapshot.delete'
  | 'session.create' | 'session.list' | 'session.get' | 'session.attach' | 'session.detach' | 'session.close'
  | 'keys.create' | 'keys.list' | 'keys.revoke' | 'signing-keys.register' | 'signing-keys.list' | 'signing-keys.revoke' | 'audit.list'
  | 'files.watch' | 'files.watcher.events' | 'files.watcher.remove'
  | 'sandbox.network.get' | 'sandbox.network.rules' | 'sandbox.network.verify' | 'sandbox.ports.list' | 'sandbox.ports.add' | 'sandbox.ports.remove' | 'sandbox.ports.proxy'
  | 'images.list' | 'images.inspect' | 'images.build' | 'images.import' | 'images.remove'
  | 'command.list' | 'command.get' | 'command.attach' | 'command.stdin' | 'command.signal' | 'command.kill' | 'command.resize'
  // The E2B plane (adapters/e2b): a sandbox's timeout set again.
  | 'sandbox.timeout';

/** Operations that only read: audited when refused, not on every success (the audit log stays about actions). */
const READS = new Set<OperationName>(['sandbox.list', 'sandbox.get', 'snapshot.list', 'session.list', 'session.get', 'keys.list', 'signing-keys.list', 'audit.list', 'files.watch', 'files.watcher.events', 'sandbox.network.get', 'sandbox.ports.list', 'images.list', 'images.inspect', 'command.list', 'command.get', 'command.attach']);
/** Reads audited on success too: they start something that lasts (a watch stream). */
const AUDITED_READS = new Set<OperationName>(['files.watch']);
/**
 * Writes audited only when refused, like reads: a command's stdin and terminal size change
 * with every keystroke and window drag (the command's start is audited as its intent).
 */
const QUIET_WRITES = new Set<OperationName>(['command.stdin', 'command.resize']);

export interface Operation<B, T> {
  name: OperationName;
  /** The sandbox acted on, when the operation names one. */
  sandboxId?: string | null;
  /** Ids it acts on besides the sandbox (snapshot_id, session_id, key_id): in the policy's params and in the audit event. */
  target?: Record<string, string>;
  /** The request body as received; validated with `schema` before anything else when given. */
  input?: unknown;
  schema?: z.ZodType<B>;
  /** What the policy sees of a new sandbox's profile/backend (create, session create). */
  sandboxPrefs?: SandboxPrefs;
  /** The work, with the validated input. Runs only when the policy allowed it. */
  run(input: B): Promise<T> | T;
}

export interface GateDeps {
  policy: PolicyHook;
  audit: AuditRepo;
  /** The daemon's profile (policy input). */
  profile: () => ProfileName;
  logger: Logger;
}

/**
 * The one gate every operation passes, whatever the adapter: the caller is authenticated
 * (the adapter hands in the principal; none -> UNAUTHENTICATED), the input is validated, the
 * policy hook decides (deny wins: POLICY_DENIED), the work runs, and the outcome is audited.
 * The intent pipeline uses the same `decide` and `record`, so intents and lifecycle
 * operations meet the same policy and land in the same audit log.
 */
export class OperationGate {
  constructor(private readonly deps: GateDeps) {
    deps.audit.onDeferredError = (err, rows) => deps.logger.error({ err: (err as Error).message, rows }, 'could not write audit events');
  }

  async run<B, T>(principal: Principal | undefined, op: Operation<B, T>): Promise<T> {
    if (principal === undefined) throw new AgentdError('UNAUTHENTICATED', `${op.name} needs an authenticated caller`);
    const t0 = performance.now();
    const sandboxId = op.sandboxId ?? null;
    const read = READS.has(op.name);
    const quiet = read || QUIET_WRITES.has(op.name);
    const audit = (status: 'ok' | 'error' | 'denied', code: string, extra: Record<string, unknown> = {}): void => {
      this.record({
        subject: principal.subject, tenant: principal.tenant, action: op.name, sandboxId, status, code,
        durationMs: Math.round(performance.now() - t0), details: { provider: principal.provider, ...op.target, ...extra },
      });
    };
    try {
      let input = op.input as B;
      if (op.schema) {
        const parsed = op.schema.safeParse(op.input);
        if (!parsed.success) throw zodError(parsed.error, 'body');
        input = parsed.data;
      }
      await this.decide({
        kind: 'operation', principal, capability: op.name, writes: !read, params: { ...op.target, ...(input ?? {}) }, constraints: {},
        sandboxPrefs: { ...op.sandboxPrefs, ...(sandboxId === null ? {} : { sandbox_id: sandboxId }) }, profile: this.deps.profile(),
      });
      const out = await op.run(input);
      if (!quiet || AUDITED_READS.has(op.name)) {
        const id = (out as { id?: unknown } | undefined)?.id;
        audit('ok', 'OK', sandboxId === null && typeof id === 'string' ? { id } : {});
      }
      return out;
    } catch (err) {
      const e = toAgentdError(err);
      const denied = e.code === 'PERMISSION_DENIED' || e.code === 'POLICY_DENIED';
      if (!quiet || denied) audit(denied ? 'denied' : 'error', e.code, denied ? { reason: e.message.slice(0, 512) } : {});
      throw err;
    }
  }

  /** Asks the policy hook; throws POLICY_DENIED when it denies. */
  async decide(input: PolicyInput): Promise<Extract<PolicyDecision, { allow: true }>> {
    if (input.writes && isReadOnly(input.principal)) {
      throw new AgentdError('PERMISSION_DENIED', `${input.capability} changes something, and the '${ROLE_VIEWER}' role may only read`, { details: { role: ROLE_VIEWER } });
    }
    const decision = await this.deps.policy.decide(input);
    if (!decision.allow) throw new AgentdError('POLICY_DENIED', decision.reason, { details: { rule: decision.rule, ...(input.kind === 'operation' ? { operation: input.capability } : {}) } });
    return decision;
  }

  /** Appends one audit event; a failing audit store is logged, never thrown to the caller. */
  record(event: AuditEventInput): void {
    try {
      // Written right after this turn of the event loop, once the reply is on its way (state/audit.ts).
      this.deps.audit.appendSoon(event);
    } catch (err) {
      this.deps.logger.error({ err: (err as Error).message, action: event.action }, 'could not write the audit event');
    }
  }
}
