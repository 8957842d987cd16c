/**
 * The MCP tools' calls into the daemon: each one is the same call the REST route makes (the
 * gate with the same operation name and schema, or the intent pipeline with the same
 * capability), so auth, validation, policy, limits and audit are the REST API's. Nothing here
 * decides anything on its own.
 */
import { z } from 'zod';
import { isAdmin } from '../../auth/tenancy.js';
import type { Principal } from '../../auth/types.js';
import { AgentdError } from '../../core/errors.js';
import type { IntentPipeline } from '../../pipeline/pipeline.js';
import type { SandboxManager } from '../../sandbox/manager.js';
import { SandboxCreate } from '../../sandbox/spec.js';
import type { SandboxRecord, SnapshotRecord } from '../../state/types.js';
import { zodError } from '../../pipeline/zod-error.js';
import { errorOfResponse } from '../http/errors.js';

/** What the MCP adapter works with (a part of the HTTP services). */
export interface McpDeps {
  pipeline: IntentPipeline;
  sandboxes: SandboxManager;
}

const SnapshotBody = z.object({ name: z.string().min(1).max(128).optional() }).strict();
const RestoreBody = z.object({ snapshot_id: z.string().min(1).max(128) }).strict();
const ForkBody = z.object({ snapshot_id: z.string().min(1).max(128).optional() }).strict();

export class McpOperations {
  constructor(private readonly deps: McpDeps) {}

  /** POST /v1/sandboxes. */
  async create(principal: Principal, body: unknown, signal: AbortSignal): Promise<SandboxRecord> {
    // As the REST route: the body is validated first, then the gate (which validates it again) sees its profile and backend.
    const parsed = SandboxCreate.safeParse(body);
    if (!parsed.success) throw zodError(parsed.error, 'arguments');
    const req = parsed.data;
    const { record } = await this.deps.pipeline.gate.run(principal, {
      name: 'sandbox.create', input: req, schema: SandboxCreate,
      sandboxPrefs: { ...(req.profile === undefined ? {} : { profile: req.profile }), ...(req.backend === undefined ? {} : { backend: req.backend }) },
      run: async (valid) => {
        const out = await this.deps.sandboxes.create(principal.tenant, valid, signal, { admin: isAdmin(principal) });
        return { ...out, id: out.record.id };
      },
    });
    return record;
  }

  /** GET /v1/sandboxes. */
  list(principal: Principal, state: SandboxRecord['state'] | undefined): Promise<SandboxRecord[]> {
    return this.deps.pipeline.gate.run(principal, {
      name: 'sandbox.list', input: state === undefined ? {} : { state },
      run: () => this.deps.sandboxes.list({ tenant: principal.tenant, ...(state === undefined ? {} : { states: [state] }), labels: {} }),
    });
  }

  /** DELETE /v1/sandboxes/{id}. */
  async destroy(principal: Principal, id: string): Promise<void> {
    await this.deps.pipeline.gate.run(principal, { name: 'sandbox.delete', sandboxId: id, input: {}, run: () => this.deps.sandboxes.destroy(principal.tenant, id, { keepFiles: false }) });
  }

  /** POST /v1/sandboxes/{id}/snapshot. */
  snapshot(principal: Principal, id: string, body: unknown, signal: AbortSignal): Promise<SnapshotRecord> {
    return this.deps.pipeline.gate.run(principal, { name: 'sandbox.snapshot', sandboxId: id, input: body, schema: SnapshotBody, run: (b) => this.deps.sandboxes.snapshot(principal.tenant, id, b.name, signal) });
  }

  /** POST /v1/sandboxes/{id}/restore. */
  restore(principal: Principal, id: string, body: unknown, signal: AbortSignal): Promise<SandboxRecord> {
    return this.deps.pipeline.gate.run(principal, { name: 'sandbox.restore', sandboxId: id, input: body, schema: RestoreBody, run: (b) => this.deps.sandboxes.restore(principal.tenant, id, b.snapshot_id, signal) });
  }

  /** POST /v1/sandboxes/{id}/fork. */
  fork(principal: Principal, id: string, body: unknown, signal: AbortSignal): Promise<SandboxRecord> {
    return this.deps.pipeline.gate.run(principal, {
      name: 'sandbox.fork', sandboxId: id, input: body, schema: ForkBody, run: (b) => this.deps.sandboxes.fork(principal.tenant, id, b.snapshot_id, signal, { admin: isAdmin(principal) }),
    });
  }

  /**
   * An intent on the sandbox (POST /v1/sandboxes/{id}/exec and the /files routes): the result
   * of a completed run (an exec that exited non-zero, timed out or hit a limit included), else
   * the intent's error thrown.
   */
  async intent(principal: Principal, sandboxId: string, capability: string, params: Record<string, unknown>, signal: AbortSignal): Promise<Record<string, unknown>> {
    const resp = await this.deps.pipeline.execute(principal, { capability, params, sandbox_prefs: { sandbox_id: sandboxId } }, { signal });
    if (resp.result) return resp.result as Record<string, unknown>;
    throw errorOfResponse(resp.error ?? new AgentdError('INTERNAL', 'no result').toJSON());
  }

  /** A file capability (the /files routes): its output, or the intent's error thrown. */
  async fs(principal: Principal, sandboxId: string, capability: string, params: Record<string, unknown>, signal: AbortSignal): Promise<Record<string, unknown>> {
    const resp = await this.deps.pipeline.execute(principal, { capability, params, sandbox_prefs: { sandbox_id: sandboxId } }, { signal });
    if (resp.status !== 'ok' || !resp.result) throw errorOfResponse(resp.error ?? new AgentdError('INTERNAL', 'no result').toJSON());
    return (resp.result.output ?? {}) as Record<string, unknown>;
  }
}
