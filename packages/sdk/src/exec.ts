/** Running a command in a sandbox: the awaitable result and the streaming iterator. */
import { bytesToBase64, concatBytes } from './base64.js';
import { AgentdError, CommandExitError, ProtocolError, errorFromBody } from './errors.js';
import { FRAMES_CONTENT_TYPE, readBinaryEvents } from './frames.js';
import { StreamEndedError, readNdjsonEvents, type ExecEvent } from './ndjson.js';
import { Utf8Pieces } from './utf8.js';
import { abortError, type HttpTransport } from './transport.js';
import type { ExecChunk, ExecResult } from './types.js';
import { execResultFromWire, type Json } from './wire.js';

/** A command: a string run by `/bin/sh -c`, or an argv array run directly. */
export type Command = string | readonly string[];

export interface ExecOptions {
  /** Extra arguments appended to argv (or passed as $1... to a shell command). */
  args?: readonly string[];
  env?: Record<string, string>;
  cwd?: string;
  /** Wall-clock limit in ms (default 60000, at most the daemon's limits.max_exec_timeout_ms, else INVALID_ARGUMENT); the whole process tree is killed when it passes. */
  timeoutMs?: number;
  /** Bytes or text written to the command's stdin (then closed). */
  stdin?: string | Uint8Array;
  /** Cap on stdout+stderr kept; more is dropped and `outputTruncated` is set. */
  maxOutputBytes?: number;
  /** Who runs it: 'agent' (uid 1000, default) or, in a sandbox with an image, 'root' (uid 0 inside, a user namespace's capabilities only). */
  user?: 'root' | 'agent' | number;
  /**
   * 0 (lowest) to 10 (highest), default 5. Below 5 the command runs at a higher nice value
   * (4 per step, at most 19); a sandbox cannot raise its own priority, so above 5 is 5.
   */
  priority?: number;
  /** Makes a retried exec return the first answer instead of running again (and lets the SDK retry it). */
  idempotencyKey?: string;
  signal?: AbortSignal;
  /**
   * Streamed execs only: also keep the output for the final result's `stdout`/`stderr`
   * (default true). Set false when you consume the chunks yourself and the output may be
   * large: the result's output is then empty, and memory stays flat however much streams by.
   */
  keepOutput?: boolean;
  /** Called with each stdout piece as it arrives (the exec is streamed when a callback is given). */
  onStdout?: (text: string, bytes: Uint8Array) => void;
  onStderr?: (text: string, bytes: Uint8Array) => void;
}

/** The `shell.exec.v1` params for a command and its options. */
export function execParams(command: Command, options: ExecOptions, outputEncoding: 'utf8' | 'base64'): Json {
  const params: Json = typeof command === 'string' ? { command } : { argv: [...command] };
  if (options.args !== undefined) params.args = [...options.args];
  if (options.env !== undefined) params.env = options.env;
  if (options.cwd !== undefined) params.cwd = options.cwd;
  if (options.timeoutMs !== undefined) params.timeout_ms = options.timeoutMs;
  if (options.maxOutputBytes !== undefined) params.max_output_bytes = options.maxOutputBytes;
  if (options.user !== undefined) params.user = options.user;
  if (typeof options.stdin === 'string') {
    params.stdin = options.stdin;
  } else if (options.stdin !== undefined) {
    params.stdin = bytesToBase64(options.stdin);
    params.stdin_encoding = 'base64';
  }
  params.output_encoding = outputEncoding;
  return params;
}

/**
 * Turns the stream's events into typed chunks: each output piece decoded as UTF-8 in order
 * (a character split across pieces is carried over) when its `text` is first read; the body
 * is read to its end after the `exit` frame (so the connection is released cleanly, not
 * cancelled), then the last text and the exit chunk are yielded with the final result; a
 * stream that ends without `exit` or `error` throws StreamEndedError.
 */
async function* chunksOf(events: AsyncIterable<ExecEvent>, signal: AbortSignal | undefined, keepOutput: boolean): AsyncGenerator<ExecChunk, ExecResult, undefined> {
  const decoders = { stdout: new Utf8Pieces(), stderr: new Utf8Pieces() };
  const collected: { stdout: Uint8Array[]; stderr: Uint8Array[] } = { stdout: [], stderr: [] };
  let exit: { result: Json } | undefined;
  const output = (type: 'stdout' | 'stderr', bytes: Uint8Array): ExecChunk => {
    if (keepOutput) collected[type].push(bytes);
    const text = decoders[type].next(bytes);
    // `text` is decoded when first read: a consumer of bytes alone pays no decoding.
    return {
      type,
      bytes,
      get text(): string {
        return text();
      },
    };
  };
  try {
    for await (const ev of events) {
      if (exit !== undefined) throw new ProtocolError('PROTOCOL_ERROR', `exec stream: a '${ev.type}' frame after the exit frame`);
      switch (ev.type) {
        case 'stdout':
        case 'stderr':
          if (ev.bytes.length > 0) yield output(ev.type, ev.bytes);
          break;
        case 'start':
          yield { type: 'start', pid: ev.pid };
          break;
        case 'exit':
          exit = { result: ev.result };
          break;
        case 'error':
          decoders.stdout.end();
          decoders.stderr.end();
          throw errorFromBody(ev.error);
      }
    }
  } catch (err) {
    if (err instanceof AgentdError) throw err;
    if (signal?.aborted === true) throw abortError(signal, err);
    throw new StreamEndedError('PROTOCOL_ERROR', 'the exec stream broke before its exit frame', { cause: err });
  }
  if (exit === undefined) throw new StreamEndedError('PROTOCOL_ERROR', 'the exec stream ended before its exit frame');
  const result = execResultFromWire(exit.result, {
    stdout: () => concatBytes(collected.stdout),
    stderr: () => concatBytes(collected.stderr),
  });
  for (const fd of ['stdout', 'stderr'] as const) {
    const tail = decoders[fd].end();
    if (tail !== '') yield { type: fd, text: tail, bytes: new Uint8Array(0) };
  }
  yield { type: 'exit', result };
  return result;
}

/** The two wire formats of a streamed exec (docs/api.md, "Exec streams"). */
export type ExecStreamFormat = 'ndjson' | 'frames';

export interface ExecChunksOptions {
  /** The body's wire format (default NDJSON). */
  format?: ExecStreamFormat;
  /** Keep the output for the final result (default true); see ExecOptions.keepOutput. */
  keepOutput?: boolean;
}

/** The typed chunks of a streamed exec body in either format. */
export function execChunks(body: ReadableStream<Uint8Array>, signal?: AbortSignal, options: ExecChunksOptions = {}): AsyncGenerator<ExecChunk, ExecResult, undefined> {
  const events = options.format === 'frames' ? readBinaryEvents(body) : readNdjsonEvents(body);
  return chunksOf(events, signal, options.keepOutput ?? true);
}

/** The format the daemon chose for its answer, from its Content-Type. */
function formatOf(res: Response): ExecStreamFormat {
  return (res.headers.get('content-type') ?? '').startsWith(FRAMES_CONTENT_TYPE) ? 'frames' : 'ndjson';
}

/**
 * A running, streamed command. Iterate it (`for await`) for typed chunks, or `await
 * stream.wait()` for the result; iterate at most once.
 */
export class ExecStream implements AsyncIterable<ExecChunk> {
  private readonly response: Promise<Response>;
  private readonly signal: AbortSignal | undefined;
  private readonly keepOutput: boolean;
  private consumed = false;

  constructor(response: Promise<Response>, signal?: AbortSignal, keepOutput = true) {
    this.response = response;
    this.signal = signal;
    this.keepOutput = keepOutput;
    // The caller may never iterate; keep an early rejection from being unhandled.
    response.catch(() => undefined);
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<ExecChunk, ExecResult, undefined> {
    if (this.consumed) throw new AgentdError('INVALID_ARGUMENT', 'an ExecStream can be iterated only once');
    this.consumed = true;
    const res = await this.response;
    if (res.body === null) throw new StreamEndedError('PROTOCOL_ERROR', 'the exec stream had no body');
    return yield* execChunks(res.body, this.signal, { format: formatOf(res), keepOutput: this.keepOutput });
  }

  /** Consumes the stream, calling the callbacks for each output piece, and returns the result. */
  async wait(callbacks: Pick<ExecOptions, 'onStdout' | 'onStderr'> = {}): Promise<ExecResult> {
    for await (const chunk of this) {
      if (chunk.type === 'stdout') callbacks.onStdout?.(chunk.text, chunk.bytes);
      else if (chunk.type === 'stderr') callbacks.onStderr?.(chunk.text, chunk.bytes);
      else if (chunk.type === 'exit') return chunk.result;
    }
    throw new StreamEndedError('PROTOCOL_ERROR', 'the exec stream ended before its exit frame');
  }
}

/** Sends an exec and returns the stream (the request starts at once). */
export function startExecStream(transport: HttpTransport, sandboxId: string, command: Command, options: ExecOptions): ExecStream {
  const response = transport.request({
    method: 'POST',
    path: `/v1/sandboxes/${encodeURIComponent(sandboxId)}/exec`,
    query: { stream: 1, priority: options.priority },
    // Binary frames when the daemon has them; an older one answers NDJSON (`stream=1`).
    headers: { accept: `${FRAMES_CONTENT_TYPE}, application/x-ndjson;q=0.5` },
    json: execParams(command, options, 'base64'),
    idempotencyKey: options.idempotencyKey,
    signal: options.signal,
  });
  return new ExecStream(response, options.signal, options.keepOutput ?? true);
}

/** Runs a command to completion (streamed when callbacks are given, one JSON answer otherwise). */
export async function runExec(transport: HttpTransport, sandboxId: string, command: Command, options: ExecOptions): Promise<ExecResult> {
  if (options.onStdout !== undefined || options.onStderr !== undefined) {
    return startExecStream(transport, sandboxId, command, options).wait(options);
  }
  const answer = await transport.json({
    method: 'POST',
    path: `/v1/sandboxes/${encodeURIComponent(sandboxId)}/exec`,
    query: { priority: options.priority },
    json: execParams(command, options, 'base64'),
    idempotencyKey: options.idempotencyKey,
    signal: options.signal,
  });
  return execResultFromWire(answer);
}

/** Throws CommandExitError unless the command exited 0. */
export function checkExit(result: ExecResult): ExecResult {
  if (result.exitCode === 0 && !result.timedOut) return result;
  throw new CommandExitError(result);
}
