import { z } from 'zod';
import { ERROR_CODES } from '../../core/codes.js';

/** Response shapes of docs/api.md, for the OpenAPI document (answers are built by the routes). */
export const ErrorEnvelope = z.object({
  error: z.object({
    code: z.enum(Object.keys(ERROR_CODES) as [string, ...string[]]),
    message: z.string(),
    details: z.record(z.string(), z.unknown()),
    retryable: z.boolean(),
    retry_after_ms: z.number().optional(),
  }),
});

export const SandboxShape = z.object({
  id: z.string(),
  state: z.enum(['creating', 'running', 'suspended', 'stopped', 'destroying', 'destroyed', 'dead']),
  backend: z.string(),
  profile: z.string(),
  tenant: z.string(),
  labels: z.record(z.string(), z.string()),
  created_at_ms: z.number(),
  expires_at_ms: z.number().optional(),
  last_error: z.string().optional(),
  image: z.object({ name: z.string(), digest: z.string() }).optional().describe('The image the sandbox runs on (docs/images.md).'),
  usage: z.object({ memory_bytes: z.number(), memory_peak_bytes: z.number(), cpu_ms: z.number(), pids: z.number() }).optional(),
});

export const SnapshotShape = z.object({
  id: z.string(), sandbox_id: z.string(), name: z.string().optional(), created_at_ms: z.number(), size_bytes: z.number(),
});

export const SessionShape = z.object({
  id: z.string(),
  sandbox_id: z.string(),
  state: z.enum(['attached', 'detached', 'suspended', 'closed']),
  created_at_ms: z.number(),
  last_active_ms: z.number(),
  idle_timeout_ms: z.number(),
  detach_timeout_ms: z.number(),
  suspend_after_ms: z.number(),
});

export const ExecResultShape = z.object({
  command_id: z.string().optional().describe("The command's id (GET /v1/sandboxes/{id}/commands/{command_id}): every exec on a named sandbox has one."),
  exit_code: z.number().nullable(),
  signal: z.string().nullable(),
  stdout: z.string(),
  stderr: z.string(),
  encoding: z.enum(['utf8', 'base64']),
  duration_ms: z.number(),
  timed_out: z.boolean(),
  canceled: z.boolean(),
  output_truncated: z.boolean(),
  resource_limited: z.boolean(),
  resource_usage: z.object({
    max_memory_bytes: z.number().optional(), cpu_user_ms: z.number().optional(), cpu_system_ms: z.number().optional(), output_bytes: z.number().optional(),
  }),
});

export const IntentResponseShape = z.object({
  id: z.string(),
  status: z.enum(['ok', 'denied', 'error', 'expired', 'cancelled', 'pending']),
  code: z.string(),
  message: z.string().optional(),
  result: z.record(z.string(), z.unknown()).optional(),
  error: ErrorEnvelope.shape.error.optional(),
  timing: z.record(z.string(), z.number()),
  sandbox_info: z.object({ id: z.string(), backend: z.string(), profile: z.string(), reused: z.boolean(), from_pool: z.boolean().optional() }).optional(),
});

export const AuditEventShape = z.object({
  id: z.number(), ts_ms: z.number(), subject: z.string().nullable(), tenant: z.string().nullable(), action: z.string(),
  capability: z.string().nullable(), sandbox_id: z.string().nullable(), intent_id: z.string().nullable(), status: z.string(),
  code: z.string().nullable(), duration_ms: z.number().nullable(), details: z.record(z.string(), z.unknown()),
});

export const ApiKeyShape = z.object({
  id: z.string(), prefix: z.string(), subject: z.string(), tenant: z.string(), roles: z.array(z.string()),
  created_at_ms: z.number(), revoked_at_ms: z.number().nullable(), last_used_ms: z.number().nullable(),
});

export const SigningKeyShape = z.object({
  id: z.string().describe('The key id clients send in X-Agentd-Key-Id.'),
  public_key: z.string().describe('The Ed25519 public key as registered (PEM or raw 32 bytes in base64).'),
  subject: z.string(), tenant: z.string(), roles: z.array(z.string()),
  created_at_ms: z.number(), revoked_at_ms: z.number().nullable(),
});
