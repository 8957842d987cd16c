/**
 * What a tool call answers, shaped for a model's context: JSON text, long output clipped with
 * a note saying so, and errors as MCP tool errors (`isError: true`) that carry the agentd code
 * and what to do next.
 */
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import type { ErrorCode } from '../../core/codes.js';
import { toAgentdError } from '../../core/errors.js';

/** A tool's answer: any JSON object, sent as one text block. */
export type ToolOutput = Record<string, unknown>;

export function toolResult(out: ToolOutput): CallToolResult {
  // Compact: every character costs the model context.
  return { content: [{ type: 'text', text: JSON.stringify(out) }] };
}

/** What a model can do about an error, by code (the message says what happened). */
const HINTS: Partial<Record<ErrorCode, string>> = {
  INVALID_ARGUMENT: 'Fix the arguments named in the message and call again.',
  NOT_FOUND: 'Check the id (sandbox_list shows your sandboxes) or the path (sandbox_file_list shows a directory).',
  UNAUTHENTICATED: 'The MCP connection has no valid agentd credential; the user must configure one.',
  PERMISSION_DENIED: 'Your credential may not do this; do not retry.',
  POLICY_DENIED: 'The daemon\'s policy forbids this; do not retry the same call.',
  RESOURCE_EXHAUSTED: 'A limit or quota was reached; wait a moment or destroy sandboxes you no longer need.',
  TIMEOUT: 'It ran out of time; raise timeout_ms or run it in smaller steps.',
  EXEC_FAILED: 'The command could not start (program not found, or a bad cwd); check the name and the directory.',
  FS_ERROR: 'A file operation failed in the sandbox (see errno in the message); check the path and its kind.',
  PAYLOAD_TOO_LARGE: 'Send or ask for less at once (write in parts with append, read with offset/limit).',
  SANDBOX_SUSPENDED: 'The sandbox is suspended; it must be resumed before use.',
  SANDBOX_DEAD: 'The sandbox is gone; create a new one (or omit sandbox_id to use a fresh default sandbox).',
  CONFLICT: 'The sandbox is not in a state that allows this; sandbox_list shows its state.',
  LIMIT_UNSUPPORTED: 'This host cannot enforce that limit; ask without it or with a different value.',
  UNAVAILABLE: 'The daemon is busy, starting or stopping; retry shortly.',
};

/** Any error as a tool error: `CODE: message`, then a hint and the details when small. Never a stack. */
export function toolError(err: unknown): CallToolResult {
  const e = toAgentdError(err);
  const lines = [`${e.code}: ${e.code === 'INTERNAL' ? 'internal error (see the daemon log)' : e.message}`];
  const hint = HINTS[e.code];
  if (hint !== undefined) lines.push(`hint: ${hint}`);
  if (e.retryAfterMs !== undefined) lines.push(`retry_after_ms: ${e.retryAfterMs}`);
  const details = JSON.stringify(e.details);
  if (e.code !== 'INTERNAL' && details !== '{}' && details.length <= 2000) lines.push(`details: ${details}`);
  return { isError: true, content: [{ type: 'text', text: lines.join('\n') }] };
}

/** Default characters of stdout+stderr an exec result keeps (about 8k tokens). */
export const DEFAULT_OUTPUT_CHARS = 30_000;
/** Most an exec may ask for with max_output_chars. */
export const MAX_OUTPUT_CHARS = 400_000;

/** `text` cut to `max` characters: its head and tail kept, the middle replaced by a note. */
export function clip(text: string, max: number): { text: string; clipped: boolean } {
  if (text.length <= max) return { text, clipped: false };
  const head = Math.floor(max / 2);
  const tail = max - head;
  const omitted = text.length - head - tail;
  return {
    text: `${text.slice(0, head)}\n[... ${omitted} characters omitted: redirect the output to a file and read it with sandbox_file_read (offset, limit) ...]\n${text.slice(text.length - tail)}`,
    clipped: true,
  };
}

/** Shares `max` characters between stdout and stderr: a short one leaves its unused share to the other. */
export function clipPair(stdout: string, stderr: string, max: number): { stdout: ReturnType<typeof clip>; stderr: ReturnType<typeof clip> } {
  const half = Math.floor(max / 2);
  const errMax = stdout.length < half ? max - stdout.length : Math.max(half, max - stdout.length);
  const outMax = max - Math.min(stderr.length, errMax);
  return { stdout: clip(stdout, outMax), stderr: clip(stderr, errMax) };
}
