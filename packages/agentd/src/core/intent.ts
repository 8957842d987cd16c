import { z } from 'zod';
import type { ErrorBody } from './errors.js';

/** Limits the caller asks for on one intent; policy may tighten them, never loosen. */
export const IntentConstraints = z
  .object({
    max_duration_ms: z.number().int().min(1).max(86_400_000).optional()
      .describe("Wall-clock limit for the whole intent; the command is killed (whole process tree) when it passes. Capped at the daemon's limits.max_exec_timeout_ms."),
    max_output_bytes: z.number().int().min(0).max(1 << 30).optional()
      .describe('Cap on stdout+stderr kept in the result; more is dropped and `output_truncated` is set.'),
    max_memory_bytes: z.number().int().min(1 << 20).optional()
      .describe(
        'Memory limit (bytes) of the sandbox the intent runs in, enforced by its cgroup; the command is OOM-killed past it (code RESOURCE_LIMITED). ' +
          "Without sandbox_id: a new sandbox (never a pooled one) is created with the lower of this and the profile's limit. " +
          'With sandbox_id: the sandbox must already have a memory limit at most this, else LIMIT_UNSUPPORTED (its limit is not changed for one intent). ' +
          'A backend that cannot enforce memory limits here refuses it with LIMIT_UNSUPPORTED. Policy may lower it, never raise it.',
      ),
    allow_network: z.boolean().optional().describe(
      'Whether the intent needs network access; policy may deny it. false: a new sandbox is created with network none (never a pooled one with network); with sandbox_id the sandbox must have network none, else POLICY_DENIED.',
    ),
    allow_writes: z.boolean().optional().describe('Whether the intent may modify files; false makes fs writes fail.'),
  })
  .strict();
export type IntentConstraints = z.infer<typeof IntentConstraints>;

export const IntentMetadata = z
  .object({
    trace_id: z.string().max(128).optional().describe('Distributed trace id, kept in the audit event (details.trace_id).'),
    span_id: z.string().max(128).optional().describe('Parent span id, kept in the audit event (details.span_id).'),
    idempotency_key: z.string().min(1).max(256).optional()
      .describe('A retried intent with the same key (per principal) returns the first result instead of running again.'),
    timestamp_ms: z.number().int().nonnegative().optional().describe('When the caller created the intent.'),
    priority: z.number().int().min(0).max(10).optional().describe(
      '0 (lowest) to 10 (highest); default 5. Applied to shell.exec as the CPU niceness of the command over the sandbox\'s own: ' +
        'each step below 5 adds 4, capped at 19 (4 -> +4, 3 -> +8, 2 -> +12, 1 -> +16, 0 -> 19). 5 and above run at the sandbox\'s normal priority: ' +
        'a sandbox cannot raise its own.',
    ),
    custom: z.record(z.string(), z.string().max(1024)).optional().describe('Free-form string labels, kept in the audit event (details.custom).'),
  })
  .strict();
export type IntentMetadata = z.infer<typeof IntentMetadata>;

export const SandboxPrefs = z
  .object({
    sandbox_id: z.string().min(1).max(128).optional().describe('Run in this existing sandbox.'),
    profile: z.enum(['workstation', 'server', 'paranoid', 'custom']).optional().describe('Security profile for a new sandbox.'),
    backend: z.string().min(1).max(64).optional().describe('Isolation backend name or alias for a new sandbox.'),
    require_fresh: z.boolean().optional().describe('Never reuse a sandbox: create (or take from the pool) a new one.'),
    persist: z.boolean().optional().describe('Keep a newly created sandbox after the intent instead of destroying it.'),
    labels: z.record(z.string(), z.string().max(256)).optional().describe('Labels for a new sandbox.'),
  })
  .strict();
export type SandboxPrefs = z.infer<typeof SandboxPrefs>;

export const IntentRequest = z
  .object({
    id: z.string().min(1).max(128).optional().describe('Caller-chosen id; generated when absent.'),
    capability: z.string().min(1).max(128).describe('Capability name, e.g. "shell.exec" or "shell.exec.v1".'),
    version: z.string().max(16).optional().describe('Capability version ("v1"), when not part of the name.'),
    params: z.record(z.string(), z.unknown()).default({}).describe("Capability parameters, validated against the capability's schema."),
    constraints: IntentConstraints.default({}),
    metadata: IntentMetadata.default({}),
    sandbox_prefs: SandboxPrefs.default({}),
  })
  .strict();
export type IntentRequest = z.infer<typeof IntentRequest>;

export type IntentStatus = 'ok' | 'denied' | 'error' | 'expired' | 'cancelled' | 'pending';

export interface ResourceUsage {
  /** Peak resident memory in bytes (cgroup peak where available, else the leader's max RSS). */
  max_memory_bytes?: number;
  cpu_user_ms?: number;
  cpu_system_ms?: number;
  /** Bytes of stdout+stderr produced (before truncation). */
  output_bytes?: number;
}

export interface IntentResult {
  /** shell.exec on a named sandbox through REST: the command's id (GET /v1/sandboxes/{id}/commands/{command_id}). */
  command_id?: string;
  exit_code?: number | null;
  signal?: string | null;
  stdout?: string;
  stderr?: string;
  /** Capability-specific structured output (file content, listing, stat...). */
  output?: unknown;
  artifacts?: Array<{ path: string; size: number }>;
  resource_usage?: ResourceUsage;
  timed_out?: boolean;
  output_truncated?: boolean;
}

export interface IntentTiming {
  received_at_ms: number;
  started_at_ms?: number;
  completed_at_ms?: number;
  queue_time_ms?: number;
  setup_time_ms?: number;
  exec_time_ms?: number;
  total_time_ms?: number;
}

export interface SandboxInfo {
  id: string;
  backend: string;
  profile: string;
  reused: boolean;
  from_pool?: boolean;
}

export interface IntentResponse {
  id: string;
  status: IntentStatus;
  /** Stable code: "OK" on success, else an ErrorCode. */
  code: string;
  message?: string;
  result?: IntentResult;
  error?: ErrorBody & { retry_after_ms?: number };
  timing: IntentTiming;
  sandbox_info?: SandboxInfo;
}
