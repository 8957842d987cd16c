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
import type { Command } from '../../commands/command.js';
import type { CommandRegistry } from '../../commands/registry.js';
import type { NetworkService } from '../../network/service.js';
import type { IntentPipeline } from '../../pipeline/pipeline.js';
import type { SandboxManager } from '../../sandbox/manager.js';
import { SandboxCreate } from '../../sandbox/spec.js';
import type { SandboxRecord, SnapshotRecord } from '../../state/types.js';
import { zodError } from '../../pipeline/zod-error.js';
import { errorOfResponse } from '../http/errors.js';
import { CommandStart, commandIntent } from '../http/routes/commands.js';

/** What the MCP adapter works with (a part of the HTTP services). */
export interface McpDeps {
  pipeline: IntentPipeline;
  sandboxes: SandboxManager;
  /** The durable commands (background exec), as the /commands routes use them. */
  commands: CommandRegistry;
  /** The network service (ports); absent in a daemon built without it, as for the /ports routes. */
  network?: NetworkService | undefined;
  /** The daemon stopping: a background command outlives its request, not the daemon (as POST /commands). */
  stopping: AbortSignal;
}

/** A port exposed on the host, as the /ports routes show it. */
export interface PortView { port: number; host: string; host_port: number; url: string }

const PortPublish = z.object({ publish: z.string().min(1).max(64) }).strict();
const portView = (p: { port: number; host: string; host_port: number }): PortView => ({ ...p, url: `http://${p.host.includes(':') ? `[${p.host}]` : p.host}:${p.host_port}/` });

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

  /** POST /v1/sandboxes/{id}/commands: shell.exec.v1 through the intent pipeline, tracked; resolves once it runs. */
  async commandStart(principal: Principal, sandboxId: string, body: unknown): Promise<Command> {
    const parsed = CommandStart.safeParse(body);
    if (!parsed.success) throw zodError(parsed.error, 'arguments');
    const reg = this.deps.commands;
    const { intent, stdinPipe, initialStdin } = commandIntent(parsed.data, sandboxId, reg.defaultTimeoutMs());
    return reg.startBackground(principal, intent, { stdinPipe, ...(initialStdin ? { initialStdin } : {}) }, this.deps.stopping);
  }

  /** GET /v1/sandboxes/{id}/commands. */
  commandList(principal: Principal, sandboxId: string): Promise<Command[]> {
    return this.deps.pipeline.gate.run(principal, {
      name: 'command.list', sandboxId, run: () => {
        const list = this.deps.commands.list(principal, sandboxId);
        // No command: the sandbox must still be the caller's, or this is NOT_FOUND like any other tenant's id.
        if (list.length === 0) this.deps.sandboxes.get(principal.tenant, sandboxId);
        return list;
      },
    });
  }

  /** GET /v1/sandboxes/{id}/commands/{cmd}/stream: the command, to read its output from an offset. */
  commandAttach(principal: Principal, sandboxId: string, commandId: string): Promise<Command> {
    return this.deps.pipeline.gate.run(principal, { name: 'command.attach', sandboxId, target: { command_id: commandId }, run: () => this.deps.commands.get(principal, sandboxId, commandId) });
  }

  /** POST /v1/sandboxes/{id}/commands/{cmd}/kill. */
  async commandKill(principal: Principal, sandboxId: string, commandId: string): Promise<Command> {
    return this.deps.pipeline.gate.run(principal, {
      name: 'command.kill', sandboxId, target: { command_id: commandId }, run: async () => {
        const cmd = this.deps.commands.get(principal, sandboxId, commandId);
        await cmd.kill();
        return cmd;
      },
    });
  }

  /** POST /v1/sandboxes/{id}/commands/{cmd}/stdin (`?close=1` as `close`). */
  commandStdin(principal: Principal, sandboxId: string, commandId: string, data: Buffer, close: boolean): Promise<{ written: number; stdin_open: boolean }> {
    return this.deps.pipeline.gate.run(principal, {
      name: 'command.stdin', sandboxId, target: { command_id: commandId }, run: async () => {
        const cmd = this.deps.commands.get(principal, sandboxId, commandId);
        if (data.length > 0) await cmd.writeStdin(data);
        if (close) await cmd.closeStdin();
        return { written: data.length, stdin_open: cmd.view().stdin_open };
      },
    });
  }

  private net(): NetworkService {
    if (!this.deps.network) throw new AgentdError('UNAVAILABLE', 'this daemon runs without its network service');
    return this.deps.network;
  }

  /** POST /v1/sandboxes/{id}/ports. */
  portAdd(principal: Principal, sandboxId: string, publish: string): Promise<PortView> {
    return this.deps.pipeline.gate.run(principal, {
      name: 'sandbox.ports.add', sandboxId, input: { publish }, schema: PortPublish, run: async (req) => {
        const rec = this.deps.sandboxes.get(principal.tenant, sandboxId);
        const e = await this.net().addPort(rec.id, req.publish);
        return portView({ port: e.port, host: e.host, host_port: e.hostPort });
      },
    });
  }

  /** GET /v1/sandboxes/{id}/ports. */
  portList(principal: Principal, sandboxId: string): Promise<PortView[]> {
    return this.deps.pipeline.gate.run(principal, {
      name: 'sandbox.ports.list', sandboxId, run: () => {
        const rec = this.deps.sandboxes.get(principal.tenant, sandboxId);
        return this.net().listPorts(rec.id).map(portView);
      },
    });
  }

  /** DELETE /v1/sandboxes/{id}/ports/{port}. */
  async portRemove(principal: Principal, sandboxId: string, port: number): Promise<void> {
    await this.deps.pipeline.gate.run(principal, {
      name: 'sandbox.ports.remove', sandboxId, target: { port: String(port) }, run: () => {
        const rec = this.deps.sandboxes.get(principal.tenant, sandboxId);
        this.net().removePort(rec.id, port);
      },
    });
  }
}
