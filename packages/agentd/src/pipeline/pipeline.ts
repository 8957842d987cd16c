import type { Principal } from '../auth/types.js';
import type { CapabilityRegistry, OutputListener } from '../capabilities/index.js';
import type { ExecTap } from '../capabilities/types.js';
import { capabilityId } from '../capabilities/index.js';
import { AgentdError, toAgentdError } from '../core/errors.js';
import { IntentRequest, type IntentMetadata, type IntentResponse, type IntentStatus } from '../core/intent.js';
import type { ProfileName } from '../isolation/types.js';
import type { Lease } from '../sandbox/types.js';
import type { SandboxManager } from '../sandbox/manager.js';
import type { SessionManager } from '../sandbox/sessions.js';
import type { AuditRepo } from '../state/audit.js';
import type { IdempotencyRepo } from '../state/idempotency.js';
import { hashRequest } from '../state/json.js';
import type { Logger } from '../util/logger.js';
import { auditMetadata, auditOutcome, auditParams } from './audit.js';
import { newId } from '../sandbox/ids.js';
import { zodError } from './zod-error.js';
import { effectiveConstraints } from './constraints.js';
import { OperationGate } from './gate.js';
import type { PolicyHook } from './policy.js';
import { isAdmin } from '../auth/tenancy.js';

/** Metrics side of the pipeline (implemented by the HTTP adapter's metrics). */
export interface PipelineObserver {
  intentDone(capability: string, status: IntentStatus, code: string): void;
  execDone(seconds: number): void;
}

export interface PipelineDeps {
  capabilities: CapabilityRegistry;
  sandboxes: SandboxManager;
  sessions: SessionManager;
  policy: PolicyHook;
  audit: AuditRepo;
  idempotency: IdempotencyRepo;
  observer?: PipelineObserver;
  /** The daemon's profile (policy input). */
  profile: () => ProfileName;
  /** Daemon-wide caps (config `limits`): no intent gets more. */
  limits: () => DaemonLimits;
  logger: Logger;
  now?: () => number;
}

export interface DaemonLimits {
  maxExecTimeoutMs: number;
  maxOutputBytes: number;
  maxConcurrentExecs: number;
}

function capped(asked: number | undefined, cap: number): number {
  return asked === undefined ? cap : Math.min(asked, cap);
}

export interface ExecuteOptions {
  signal?: AbortSignal;
  /** Streams output of shell.exec while it runs. */
  listener?: OutputListener;
  /** Tracks a shell.exec as a durable command (commands/). */
  tap?: ExecTap;
  receivedAtMs?: number;
}

function statusOf(code: string): IntentStatus {
  switch (code) {
    case 'OK':
      return 'ok';
    case 'POLICY_DENIED':
    case 'PERMISSION_DENIED':
      return 'denied';
    case 'TIMEOUT':
      return 'expired';
    case 'CANCELLED':
      return 'cancelled';
    default:
      return 'error';
  }
}

/** Errors a retry may succeed on: their idempotency claim is released instead of completed. */
const TRANSIENT = new Set(['UNAVAILABLE', 'RESOURCE_EXHAUSTED', 'CANCELLED', 'BACKEND_UNAVAILABLE']);

/**
 * The one path every intent takes, whatever the transport: validate -> policy ->
 * idempotency -> acquire sandbox -> run -> sinks (reply, audit, metrics) with timing.
 * Authentication happened before (the adapter hands in the principal).
 */
export class IntentPipeline {
  /** The gate lifecycle operations pass (same policy hook, same audit log as intents). */
  readonly gate: OperationGate;
  private readonly now: () => number;
  private runningExecs = 0;

  constructor(private readonly deps: PipelineDeps) {
    this.now = deps.now ?? Date.now;
    this.gate = new OperationGate({ policy: deps.policy, audit: deps.audit, profile: deps.profile, logger: deps.logger });
  }

  /** Runs one intent; never throws for a failed intent (the response says why), only for a bad request shape. */
  async execute(principal: Principal, body: unknown, opts: ExecuteOptions = {}): Promise<IntentResponse> {
    const receivedAt = opts.receivedAtMs ?? this.now();
    const parsed = IntentRequest.safeParse(body);
    if (!parsed.success) throw zodError(parsed.error, 'intent');
    const req = parsed.data;
    const id = req.id ?? newId('int');
    let capName = req.capability;
    try {
      const cap = this.deps.capabilities.resolve(req.capability, req.version);
      capName = capabilityId(cap);
      const params = cap.params.safeParse(req.params);
      if (!params.success) throw zodError(params.error, 'params');
      const decision = await this.gate.decide({
        kind: 'intent', principal, capability: capName, writes: cap.writes, params: params.data, constraints: req.constraints, sandboxPrefs: req.sandbox_prefs, profile: this.deps.profile(),
      });
      const limits = this.deps.limits();
      assertTimeoutWithin(params.data, limits.maxExecTimeoutMs);
      const decided = effectiveConstraints(req.constraints, decision.constraints);
      const constraints = {
        ...decided,
        max_duration_ms: capped(decided.max_duration_ms, limits.maxExecTimeoutMs),
        max_output_bytes: capped(decided.max_output_bytes, limits.maxOutputBytes),
      };
      const isExec = capName.startsWith('shell.exec');
      if (isExec && this.runningExecs >= limits.maxConcurrentExecs) {
        throw new AgentdError('RESOURCE_EXHAUSTED', `${limits.maxConcurrentExecs} commands are already running (limits.max_concurrent_execs)`, { retryAfterMs: 200 });
      }

      const key = req.metadata.idempotency_key;
      const scope = key === undefined ? undefined : { tenant: principal.tenant, subject: principal.subject, key };
      if (scope) {
        const claim = this.deps.idempotency.claim(scope, hashRequest({ capability: capName, params: req.params, prefs: req.sandbox_prefs, constraints: req.constraints }));
        if (claim.kind === 'completed') return claim.response as IntentResponse;
        if (claim.kind === 'in_flight') {
          throw new AgentdError('CONFLICT', 'an intent with this idempotency key is still running; retry later', { details: { idempotency_key: key, in_flight: true }, retryAfterMs: 500 });
        }
        if (claim.kind === 'interrupted') throw interruptedClaim(key ?? '', claim.interruptedAtMs);
      }
      let response: IntentResponse;
      if (isExec) this.runningExecs++;
      try {
        response = await this.run(principal, id, capName, cap, params.data, constraints, req, receivedAt, opts);
      } catch (err) {
        if (scope) this.deps.idempotency.release(scope);
        throw err;
      } finally {
        if (isExec) this.runningExecs--;
      }
      if (scope) {
        if (response.error && TRANSIENT.has(response.error.code)) this.deps.idempotency.release(scope);
        else this.deps.idempotency.complete(scope, response);
      }
      return response;
    } catch (err) {
      const e = toAgentdError(err);
      const response: IntentResponse = {
        id, status: statusOf(e.code), code: e.code, message: e.message, error: e.toJSON(),
        timing: { received_at_ms: receivedAt, completed_at_ms: this.now(), total_time_ms: this.now() - receivedAt },
      };
      this.sink(principal, capName, req.sandbox_prefs.sandbox_id, req.params, response, req.metadata);
      return response;
    }
  }

  private async run(
    principal: Principal, id: string, capName: string, cap: ReturnType<CapabilityRegistry['resolve']>, params: unknown,
    constraints: IntentRequest['constraints'], req: IntentRequest, receivedAt: number, opts: ExecuteOptions,
  ): Promise<IntentResponse> {
    const setupStart = performance.now();
    let lease: Lease | undefined;
    let response: IntentResponse;
    const startedAt = this.now();
    try {
      const needs = {
        ...(constraints.max_memory_bytes === undefined ? {} : { maxMemoryBytes: constraints.max_memory_bytes }),
        ...(constraints.allow_network === false ? { noNetwork: true } : {}),
        admin: isAdmin(principal),
      };
      lease = await this.deps.sandboxes.lease(principal.tenant, req.sandbox_prefs, opts.signal, needs);
      if (lease.reused) this.deps.sessions.touchSandbox(lease.id);
      const setupMs = performance.now() - setupStart;
      const execStart = performance.now();
      const signal = opts.signal ?? new AbortController().signal;
      try {
        const outcome = await cap.run(params, {
          sandbox: lease.handle, signal, constraints,
          ...(req.metadata.priority === undefined ? {} : { priority: req.metadata.priority }),
          ...(opts.listener ? { listener: opts.listener } : {}),
          ...(opts.tap ? { tap: opts.tap } : {}),
        });
        const execMs = performance.now() - execStart;
        if (capName.startsWith('shell.exec')) this.deps.observer?.execDone(execMs / 1000);
        const completedAt = this.now();
        const base = {
          id,
          status: statusOf(outcome.code),
          code: outcome.code,
          result: outcome.result,
          timing: this.timing(receivedAt, startedAt, completedAt, setupMs, execMs),
          sandbox_info: { id: lease.id, backend: lease.backend, profile: lease.profile, reused: lease.reused, from_pool: lease.fromPool },
        };
        response = outcome.code === 'OK' ? base : { ...base, error: new AgentdError(outcome.code, messageFor(outcome.code)).toJSON(), message: messageFor(outcome.code) };
      } catch (err) {
        const e = toAgentdError(err);
        const completedAt = this.now();
        response = {
          id, status: statusOf(e.code), code: e.code, message: e.message, error: e.toJSON(),
          timing: this.timing(receivedAt, startedAt, completedAt, setupMs, performance.now() - execStart),
          sandbox_info: { id: lease.id, backend: lease.backend, profile: lease.profile, reused: lease.reused, from_pool: lease.fromPool },
        };
      }
      this.deps.sessions.touchSandbox(lease.id);
    } finally {
      if (lease) await lease.release();
    }
    this.sink(principal, capName, response.sandbox_info?.id ?? req.sandbox_prefs.sandbox_id, params, response, req.metadata);
    return response;
  }

  private timing(receivedAt: number, startedAt: number, completedAt: number, setupMs: number, execMs: number): IntentResponse['timing'] {
    return {
      received_at_ms: receivedAt,
      started_at_ms: startedAt,
      completed_at_ms: completedAt,
      queue_time_ms: Math.max(0, startedAt - receivedAt),
      setup_time_ms: round(setupMs),
      exec_time_ms: round(execMs),
      total_time_ms: Math.max(0, completedAt - receivedAt),
    };
  }

  /** Output sinks besides the reply: the audit log and the metrics. */
  private sink(principal: Principal, capability: string, sandboxId: string | undefined, params: unknown, resp: IntentResponse, metadata: IntentMetadata): void {
    this.deps.observer?.intentDone(capability, resp.status, resp.code);
    this.gate.record({
      subject: principal.subject,
      tenant: principal.tenant,
      action: 'intent',
      capability,
      sandboxId: sandboxId ?? null,
      intentId: resp.id,
      status: resp.status,
      code: resp.code,
      durationMs: resp.timing.total_time_ms ?? null,
      details: { ...auditParams(capability, params), ...auditOutcome(resp), ...auditMetadata(metadata), provider: principal.provider },
    });
  }
}

/**
 * A `timeout_ms` param above config `limits.max_exec_timeout_ms` is refused (not silently
 * capped): the caller learns the ceiling and the key that sets it.
 */
function assertTimeoutWithin(params: unknown, maxMs: number): void {
  const asked = (params as { timeout_ms?: unknown } | null)?.timeout_ms;
  if (typeof asked === 'number' && asked > maxMs) {
    throw new AgentdError('INVALID_ARGUMENT', `params.timeout_ms ${asked} is above this daemon's maximum ${maxMs} (limits.max_exec_timeout_ms)`, {
      details: { field: 'timeout_ms', max: maxMs, key: 'limits.max_exec_timeout_ms' },
    });
  }
}

/** A retry of a key whose first run was cut by a daemon stop or crash: never run again silently. */
function interruptedClaim(key: string, interruptedAtMs: number): AgentdError {
  return new AgentdError(
    'CONFLICT',
    'the first attempt with this idempotency key was interrupted by a daemon restart; its effects are unknown, so it is not run again: check the sandbox, then retry with a new key',
    { details: { idempotency_key: key, interrupted: true, interrupted_at_ms: interruptedAtMs } },
  );
}

function round(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}

function messageFor(code: string): string {
  switch (code) {
    case 'RESOURCE_LIMITED':
      return 'the command was stopped by a resource limit (out of memory or pids)';
    case 'TIMEOUT':
      return 'the command ran past its time limit and was killed';
    case 'CANCELLED':
      return 'the command was cancelled';
    default:
      return code;
  }
}
