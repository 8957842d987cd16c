import type { z } from 'zod';
import type { IntentConstraints, IntentResult } from '../core/intent.js';
import type { ExecHandle, ExecRequest } from '../channel/types.js';
import type { SandboxHandle } from '../isolation/types.js';

/** Live output of a streaming capability (shell.exec.v1 with a stream asked for). */
export interface OutputListener {
  onStart(pid: number): void;
  /** May return a promise to apply backpressure (the command's output waits for it). */
  onChunk(stream: 'stdout' | 'stderr', data: Buffer): void | Promise<void>;
}

/**
 * A durable command's view of an exec (commands/): the handle for stdin, signals and resize
 * by id, and every output chunk for its ring buffer. Unlike a listener it never holds the
 * command back.
 */
export interface ExecTap {
  /** The command's stdin stays open as a pipe, written through the handle (interactive stdin). */
  stdinPipe?: boolean;
  /** Extra fields of the init's EXEC request (a terminal, when asked). */
  request?: Pick<ExecRequest, 'pty'>;
  onHandle(handle: ExecHandle, sandboxId: string): void;
  onStart(pid: number): void;
  onChunk(stream: 'stdout' | 'stderr', data: Buffer): void;
  /** The command's id once it has one (it goes into the result: a replayed answer names the same command). */
  commandId(): string | undefined;
}

export interface CapabilityContext {
  sandbox: SandboxHandle;
  /** Aborts the work (client gone, daemon stopping). */
  signal: AbortSignal;
  /** Effective constraints after policy. */
  constraints: IntentConstraints;
  /** The intent's `metadata.priority` (0 lowest .. 10 highest; undefined = the default 5). */
  priority?: number;
  /** Present when the caller asked for streamed output; the result then carries no stdout/stderr. */
  listener?: OutputListener;
  /** Present for an exec tracked as a command (every exec on a named sandbox through REST). */
  tap?: ExecTap;
}

/** What a runner returns: the intent result plus the code the intent ends with ("OK" or an ErrorCode). */
export interface CapabilityOutcome {
  result: IntentResult;
  /** "OK", or a code for a result that is not a plain success (RESOURCE_LIMITED, TIMEOUT). */
  code: 'OK' | 'RESOURCE_LIMITED' | 'TIMEOUT' | 'CANCELLED';
}

/**
 * One capability: a name, a version, a strict params schema (also served as JSON Schema) and
 * a runner that works through the sandbox's channel only.
 */
export interface Capability<P = unknown> {
  /** "shell.exec" */
  readonly name: string;
  /** "v1" */
  readonly version: string;
  readonly description: string;
  readonly params: z.ZodType<P>;
  /** true when the capability can change files (policy uses it for `allow_writes: false`). */
  readonly writes: boolean;
  run(params: P, ctx: CapabilityContext): Promise<CapabilityOutcome>;
}

export function capabilityId(cap: Pick<Capability, 'name' | 'version'>): string {
  return `${cap.name}.${cap.version}`;
}
