import { z } from 'zod';
import { AgentdError } from '../core/errors.js';
import type { SessionRepo } from '../state/sessions.js';
import type { SessionRecord } from '../state/types.js';
import type { Logger } from '../util/logger.js';
import { newId } from './ids.js';
import type { Grantee } from './grants.js';
import type { SandboxManager } from './manager.js';
import { SandboxCreate } from './spec.js';

/** The label that marks a sandbox a session created (and so destroys when it closes). */
export const SESSION_LABEL = 'agentd.session';

const Timeout = z.number().int().min(0).max(30 * 24 * 3600 * 1000);

export const SessionCreate = z
  .object({
    sandbox: SandboxCreate.optional().describe('Spec of a new sandbox owned by the session (destroyed when the session closes).'),
    sandbox_id: z.string().min(1).max(128).optional().describe('Attach to an existing sandbox instead (kept when the session closes).'),
    idle_timeout_ms: Timeout.optional().describe('Attached with no activity this long -> detached (0 = never).'),
    detach_timeout_ms: Timeout.optional().describe('Detached or suspended this long -> closed; an owned sandbox is destroyed (0 = never).'),
    suspend_after_ms: Timeout.optional().describe('No activity this long -> the sandbox is suspended until the next attach (0 = never).'),
  })
  .strict()
  .refine((s) => !(s.sandbox !== undefined && s.sandbox_id !== undefined), { message: 'give `sandbox` or `sandbox_id`, not both' });
export type SessionCreate = z.infer<typeof SessionCreate>;

export interface SessionDefaults {
  idleTimeoutMs: number;
  detachTimeoutMs: number;
  suspendAfterMs: number;
}

/**
 * Client sessions on sandboxes. Times count from `last_active_ms` (the last exec, attach or
 * detach): attached and idle past idle_timeout -> detached; past suspend_after -> the
 * sandbox is frozen; detached/suspended past detach_timeout -> closed, and a sandbox the
 * session created is destroyed (its session row goes with it).
 */
export class SessionManager {
  private readonly now: () => number;

  constructor(
    private readonly repo: SessionRepo,
    private readonly sandboxes: SandboxManager,
    private defaults: SessionDefaults,
    private readonly logger: Logger,
    now?: () => number,
  ) {
    this.now = now ?? Date.now;
  }

  reconfigure(defaults: SessionDefaults): void {
    this.defaults = defaults;
  }

  /** `who` is the caller as grants.ts sees it (a new sandbox is checked against the config like POST /v1/sandboxes). */
  async create(tenant: string, req: SessionCreate, signal?: AbortSignal, who: Grantee = { admin: false }): Promise<SessionRecord> {
    this.sandboxes.assertReusable('a session (it keeps a sandbox for later requests)');
    const id = newId('ses');
    let sandboxId: string;
    if (req.sandbox_id !== undefined) {
      sandboxId = this.sandboxes.get(tenant, req.sandbox_id).id;
    } else {
      const spec = req.sandbox ?? {};
      const { record } = await this.sandboxes.create(tenant, { ...spec, labels: { ...spec.labels, [SESSION_LABEL]: id } }, signal, who);
      sandboxId = record.id;
    }
    return this.repo.insert({
      id,
      tenant,
      sandboxId,
      state: 'attached',
      idleTimeoutMs: req.idle_timeout_ms ?? this.defaults.idleTimeoutMs,
      detachTimeoutMs: req.detach_timeout_ms ?? this.defaults.detachTimeoutMs,
      suspendAfterMs: req.suspend_after_ms ?? this.defaults.suspendAfterMs,
    });
  }

  get(tenant: string, id: string): SessionRecord {
    const s = this.repo.getForTenant(id, tenant);
    if (!s) throw new AgentdError('NOT_FOUND', `no session '${id}'`, { details: { session_id: id } });
    return s;
  }

  list(tenant: string): SessionRecord[] {
    return this.repo.list({ tenant });
  }

  async attach(tenant: string, id: string): Promise<SessionRecord> {
    const s = this.get(tenant, id);
    if (s.state === 'closed') throw new AgentdError('CONFLICT', `session '${id}' is closed`, { details: { session_id: id } });
    if (s.state === 'suspended') await this.sandboxes.resumeById(s.sandboxId);
    return this.repo.update(id, { state: 'attached', lastActiveMs: this.now() }) ?? s;
  }

  detach(tenant: string, id: string): SessionRecord {
    const s = this.get(tenant, id);
    if (s.state === 'closed') throw new AgentdError('CONFLICT', `session '${id}' is closed`, { details: { session_id: id } });
    if (s.state === 'suspended') return this.repo.update(id, { lastActiveMs: this.now() }) ?? s;
    return this.repo.update(id, { state: 'detached', lastActiveMs: this.now() }) ?? s;
  }

  /** Ends the session; an owned sandbox is destroyed with it. */
  async close(tenant: string, id: string): Promise<void> {
    const s = this.get(tenant, id);
    await this.closeSession(s, false);
    this.repo.delete(id);
  }

  /** Whether a session that is not closed holds the sandbox. */
  holds(sandboxId: string): boolean {
    return this.repo.list({ sandboxId, states: ['attached', 'detached', 'suspended'] }).length > 0;
  }

  /** Records activity on a sandbox for the sessions bound to it. */
  touchSandbox(sandboxId: string): void {
    this.repo.touchSandbox(sandboxId, this.now());
  }

  /** Applies the idle / suspend / detach timeouts (called by the sweeper). */
  async sweep(): Promise<void> {
    const now = this.now();
    for (const s of this.repo.list({ states: ['attached', 'detached', 'suspended'] })) {
      const idle = now - s.lastActiveMs;
      try {
        if (s.state !== 'suspended' && s.suspendAfterMs > 0 && idle >= s.suspendAfterMs) {
          await this.sandboxes.suspendById(s.sandboxId);
          this.repo.update(s.id, { state: 'suspended' });
          this.logger.info({ session: s.id, sandbox: s.sandboxId }, 'session idle: sandbox suspended');
          continue;
        }
        if (s.state === 'attached' && s.idleTimeoutMs > 0 && idle >= s.idleTimeoutMs) {
          this.repo.update(s.id, { state: 'detached', lastActiveMs: now });
          this.logger.info({ session: s.id }, 'session idle: detached');
          continue;
        }
        if (s.state !== 'attached' && s.detachTimeoutMs > 0 && idle >= s.detachTimeoutMs) {
          this.logger.info({ session: s.id, sandbox: s.sandboxId }, 'session detach timeout: closing it');
          await this.closeSession(s, true);
        }
      } catch (err) {
        this.logger.warn({ session: s.id, err: (err as Error).message }, 'session timeout handling failed');
      }
    }
  }

  private async closeSession(s: SessionRecord, timedOut: boolean): Promise<void> {
    this.repo.update(s.id, { state: 'closed' });
    let owned = false;
    try {
      owned = this.sandboxes.get(s.tenant, s.sandboxId).labels[SESSION_LABEL] === s.id;
    } catch {
      owned = false;
    }
    if (!owned) return;
    if (timedOut) await this.sandboxes.destroyForTimeout(s.sandboxId);
    else await this.sandboxes.destroy(s.tenant, s.sandboxId);
  }
}
