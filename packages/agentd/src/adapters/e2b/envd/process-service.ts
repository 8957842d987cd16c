/**
 * envd's `process.Process` service over agentd's durable commands (commands/): Start runs a
 * shell.exec.v1 intent through the pipeline (auth, policy, limits, audit) as a tracked
 * command; Connect follows one; List, SendInput, CloseStdin, SendSignal, Update act on one by
 * its pid (or tag) through the gate with the same `command.*` operation names as the REST
 * routes. The E2B pid is the command's pid inside the sandbox.
 */
import type { MessageInitShape } from '@bufbuild/protobuf';
import { Code, ConnectError, type HandlerContext, type ServiceImpl } from '@connectrpc/connect';
import type { Principal } from '../../../auth/types.js';
import type { Command, CommandExit, FollowEvent } from '../../../commands/command.js';
import type { PtySize } from '../../../commands/registry.js';
import { AgentdError } from '../../../core/errors.js';
import type { IntentResponse } from '../../../core/intent.js';
import { errorOfResponse } from '../../http/errors.js';
import type { HttpServices } from '../../http/services.js';
import { callerOf, execUserOf } from './caller.js';
import {
  Signal,
  type Process, type ProcessConfig, type ProcessEventSchema, type ProcessInput, type ProcessSelector,
} from './gen/process/process_pb.js';
import { keepaliveMsOf, withKeepalive } from './keepalive.js';
import { toConnectError } from './rpc-errors.js';

type EventInit = MessageInitShape<typeof ProcessEventSchema>;

/** What envd's List reports of a process: the config it was started with, and its tag. */
interface ProcessMeta {
  tag: string | undefined;
  config: { cmd: string; args: string[]; envs: Record<string, string>; cwd?: string };
}

const TERM_RE = /^[A-Za-z0-9._+-]{1,64}$/;
/** Output a Start stream holds for its reader before the command waits (backpressure, as agentd's streamed exec). */
const START_WINDOW_BYTES = 1024 * 1024;
/** E2B sets no output cap: a command's output is capped only by the schema's maximum (and the policy's constraints). */
const MAX_OUTPUT_BYTES = 1 << 30;
const PTY_MAX = 1000;

/** Go's names for the signals a command most often dies of (envd reports "signal: killed"). */
const SIGNAL_WORDS: Record<string, string> = {
  SIGKILL: 'killed', SIGTERM: 'terminated', SIGINT: 'interrupt', SIGHUP: 'hangup', SIGQUIT: 'quit',
  SIGABRT: 'aborted', SIGSEGV: 'segmentation fault', SIGPIPE: 'broken pipe', SIGBUS: 'bus error', SIGFPE: 'floating point exception',
};

/** The End event of a finished command, as envd words it. */
export function endEventOf(exit: CommandExit | null): EventInit {
  if (exit === null) return { event: { case: 'end', value: { exitCode: -1, exited: false, status: 'unknown', error: 'the command ended without a result' } } };
  if (exit.exit_code !== null) {
    const status = `exit status ${exit.exit_code}`;
    return { event: { case: 'end', value: { exitCode: exit.exit_code, exited: true, status, ...(exit.exit_code === 0 ? {} : { error: status }) } } };
  }
  if (exit.signal !== null) {
    const status = `signal: ${SIGNAL_WORDS[exit.signal] ?? exit.signal}`;
    const why = exit.timed_out ? ' (timed out)' : '';
    return { event: { case: 'end', value: { exitCode: -1, exited: false, status, error: `${status}${why}` } } };
  }
  const message = exit.error?.message ?? exit.code;
  return { event: { case: 'end', value: { exitCode: -1, exited: false, status: exit.code, error: message } } };
}

function ptyOf(size: { cols: number; rows: number } | undefined, envs: Record<string, string>): PtySize {
  if (size === undefined || size.cols < 1 || size.rows < 1 || size.cols > PTY_MAX || size.rows > PTY_MAX) {
    throw new AgentdError('INVALID_ARGUMENT', `a terminal needs 1..${PTY_MAX} columns and rows`, { details: { reason: 'pty' } });
  }
  const term = envs.TERM;
  return { rows: size.rows, cols: size.cols, ...(term !== undefined && TERM_RE.test(term) ? { term } : {}) };
}

/**
 * The events of a command for the client that started it, with backpressure: the command's
 * output waits while this reader holds a window of unread bytes (the exec's credit stays with
 * the init), so a foreground run loses nothing however slow its reader. Once the reader is gone
 * (a disconnect, a deadline), output is no longer held: the command goes on, and its ring
 * (commands/) still has the recent output for a Connect.
 */
class StartStream {
  private items: FollowEvent[] = [];
  private pending = 0;
  private wake: (() => void) | undefined;
  private drained: (() => void) | undefined;
  private done = false;
  closed = false;

  constructor(private readonly signal: AbortSignal) {
    signal.addEventListener('abort', () => this.close(), { once: true });
  }

  push(ev: FollowEvent): Promise<void> | undefined {
    if (this.closed) return undefined;
    this.items.push(ev);
    if (ev.type === 'output') this.pending += ev.data.length;
    if (ev.type === 'end') this.done = true;
    this.wake?.();
    if (this.pending < START_WINDOW_BYTES) return undefined;
    return new Promise((resolve) => {
      this.drained = resolve;
    });
  }

  close(): void {
    this.closed = true;
    this.release();
    this.wake?.();
  }

  private release(): void {
    const d = this.drained;
    this.drained = undefined;
    d?.();
  }

  async *events(): AsyncGenerator<FollowEvent> {
    for (;;) {
      const ev = this.items.shift();
      if (ev !== undefined) {
        if (ev.type === 'output') {
          this.pending -= ev.data.length;
          if (this.pending < START_WINDOW_BYTES / 2) this.release();
        }
        yield ev;
        if (ev.type === 'end') return;
        continue;
      }
      if (this.closed || this.done || this.signal.aborted) return;
      await new Promise<void>((resolve) => {
        this.wake = resolve;
      });
      this.wake = undefined;
    }
  }
}

function startError(resp: IntentResponse): AgentdError {
  return errorOfResponse(resp.error ?? { code: 'INTERNAL', message: 'the command did not start', details: {}, retryable: false });
}

export interface ProcessService {
  impl: ServiceImpl<typeof Process>;
  /** The processes' tags and configs (gone with their commands). */
  meta: WeakMap<Command, ProcessMeta>;
}

export function processService(svc: HttpServices): ProcessService {
  const reg = svc.commands;
  const gate = svc.pipeline.gate;
  const meta = new WeakMap<Command, ProcessMeta>();

  const selectorTarget = (sel: ProcessSelector | undefined): Record<string, string> => {
    switch (sel?.selector.case) {
      case 'pid':
        return { pid: String(sel.selector.value) };
      case 'tag':
        return { tag: sel.selector.value.slice(0, 256) };
      case undefined:
        return {};
    }
  };

  /** The command a selector names, among the caller's commands in this sandbox (a running one first). */
  const find = (principal: Principal, sandboxId: string, sel: ProcessSelector | undefined): Command => {
    const s = sel?.selector;
    if (s === undefined || s.case === undefined) throw new AgentdError('INVALID_ARGUMENT', 'a process selector (pid or tag) is required', { details: { reason: 'selector' } });
    const match = (c: Command): boolean => (s.case === 'pid' ? c.pid === s.value : meta.get(c)?.tag === s.value);
    const all = reg.list(principal, sandboxId).filter(match);
    const found = all.filter((c) => c.running).at(-1) ?? all.at(-1);
    if (found === undefined) {
      const what = s.case === 'pid' ? `pid ${s.value}` : `tag '${s.value.slice(0, 64)}'`;
      throw new AgentdError('NOT_FOUND', `process with ${what} not found`, { details: { [s.case]: s.value } });
    }
    return found;
  };

  /** A command's events (output, then its end) as envd's; keepalives between. */
  async function* follow(source: AsyncIterable<FollowEvent>, ctx: HandlerContext): AsyncGenerator<{ event: EventInit }> {
    const events = withKeepalive<FollowEvent | 'keepalive'>(source, keepaliveMsOf(ctx), () => 'keepalive');
    for await (const ev of events) {
      if (ev === 'keepalive') {
        yield { event: { event: { case: 'keepalive', value: {} } } };
        continue;
      }
      switch (ev.type) {
        case 'output':
          yield { event: { event: { case: 'data', value: { output: { case: ev.stream, value: ev.data } } } } };
          break;
        case 'overflow':
          // envd has no gap event: the bytes a slow reader missed are simply not sent.
          break;
        case 'end':
          yield { event: endEventOf(ev.exit) };
          return;
      }
    }
    // The reader went away or its deadline passed (the command itself goes on, or was timed out).
    const reason: unknown = ctx.signal.reason;
    if (reason instanceof ConnectError) throw reason;
    throw new ConnectError('the stream was cancelled', Code.Canceled);
  }

  const configOf = (cmd: Command): ProcessMeta['config'] => meta.get(cmd)?.config ?? { cmd: cmd.argv[0] ?? '', args: cmd.argv.slice(1), envs: {} };

  const wrap = <A extends unknown[], R>(fn: (...a: A) => Promise<R>) => async (...a: A): Promise<R> => {
    try {
      return await fn(...a);
    } catch (err) {
      throw toConnectError(err);
    }
  };

  const input = (principal: Principal, sandboxId: string, sel: ProcessSelector | undefined, data: ProcessInput | undefined): Promise<void> =>
    gate.run(principal, {
      name: 'command.stdin', sandboxId, target: selectorTarget(sel), run: async () => {
        const cmd = find(principal, sandboxId, sel);
        const i = data?.input;
        if (i === undefined || i.case === undefined) return;
        if (i.case === 'pty' && !cmd.pty) throw new AgentdError('INVALID_ARGUMENT', `process ${cmd.pid ?? ''} has no terminal: send stdin`, { details: { reason: 'no_pty' } });
        if (i.value.length > 0) await cmd.writeStdin(Buffer.from(i.value.buffer, i.value.byteOffset, i.value.byteLength));
      },
    });

  const impl: ServiceImpl<typeof Process> = {
    async *start(req, ctx) {
      let cmd: Command;
      let stream: StartStream | undefined;
      const config = req.process;
      try {
        const caller = callerOf(ctx);
        if (config === undefined || config.cmd === '') throw new AgentdError('INVALID_ARGUMENT', 'process.cmd is required', { details: { reason: 'cmd' } });
        const user = execUserOf(caller.user);
        const envs = { ...config.envs };
        // The SDK's timeoutMs is the stream's deadline: the command is killed when it passes (as envd does).
        // Without one (timeoutMs: 0), the daemon's limit for background commands applies.
        const remaining = ctx.timeoutMs();
        const timeoutMs = remaining === undefined ? reg.defaultTimeoutMs() : Math.max(1, remaining);
        const params: Record<string, unknown> = {
          argv: [config.cmd, ...config.args], timeout_ms: timeoutMs, max_output_bytes: MAX_OUTPUT_BYTES,
          ...(Object.keys(envs).length === 0 ? {} : { env: envs }),
          ...(config.cwd === undefined || config.cwd === '' ? {} : { cwd: config.cwd }),
          ...(user === undefined ? {} : { user }),
        };
        const pty = req.pty === undefined ? undefined : ptyOf(req.pty.size, envs);
        const intent = { capability: 'shell.exec.v1', params, sandbox_prefs: { sandbox_id: caller.sandboxId } };
        stream = new StartStream(ctx.signal);
        const live = stream;
        const isPty = pty !== undefined;
        cmd = await new Promise<Command>((resolve, reject) => {
          let started = false;
          reg.execute(caller.principal, intent, {
            // The command outlives this stream (a disconnect leaves it running): only the daemon's stop cancels it.
            signal: svc.stopping,
            track: { stdinPipe: req.stdin === true, ...(pty === undefined ? {} : { pty }) },
            listener: {
              onStart: () => undefined,
              onChunk: (s, data) => live.push({ type: 'output', stream: isPty ? 'pty' : s, offset: 0, data }),
            },
            onCommand: (c) => {
              started = true;
              meta.set(c, { tag: req.tag, config: configView(config) });
              resolve(c);
            },
          }).then(({ response, command }) => {
            if (started && command !== undefined) void live.push({ type: 'end', state: command.state, exit: command.exit, end_offset: command.ring.end });
            else if (command !== undefined && command.pid !== null) resolve(command);
            else reject(startError(response));
          }, (err: unknown) => {
            if (started) void live.push({ type: 'end', state: 'failed', exit: null, end_offset: 0 });
            else reject(err instanceof Error ? err : new Error(String(err)));
          });
        });
      } catch (err) {
        stream?.close();
        throw toConnectError(err);
      }
      yield { event: { event: { case: 'start', value: { pid: cmd.pid ?? 0 } } } };
      try {
        yield* follow(stream.events(), ctx);
      } finally {
        // This reader is gone: the command no longer waits for it.
        stream.close();
      }
    },

    async *connect(req, ctx) {
      let cmd: Command;
      let from: number;
      try {
        const { principal, sandboxId } = callerOf(ctx);
        cmd = await gate.run(principal, { name: 'command.attach', sandboxId, target: selectorTarget(req.process), run: () => find(principal, sandboxId, req.process) });
        if (!cmd.running) throw new AgentdError('NOT_FOUND', `process with pid ${cmd.pid ?? ''} not found (it has ended)`, { details: { reason: 'not_running' } });
        // Like envd: what the process writes from now on (agentd's REST stream can replay its ring).
        from = cmd.ring.end;
      } catch (err) {
        throw toConnectError(err);
      }
      yield { event: { event: { case: 'start', value: { pid: cmd.pid ?? 0 } } } };
      yield* follow(cmd.follow(from, ctx.signal), ctx);
    },

    list: wrap(async (_req, ctx: HandlerContext) => {
      const { principal, sandboxId } = callerOf(ctx);
      const cmds = await gate.run(principal, { name: 'command.list', sandboxId, run: () => reg.list(principal, sandboxId) });
      return {
        processes: cmds.filter((c) => c.running && c.pid !== null).map((c) => {
          const tag = meta.get(c)?.tag;
          return { pid: c.pid ?? 0, config: configOf(c), ...(tag === undefined ? {} : { tag }) };
        }),
      };
    }),

    sendInput: wrap(async (req, ctx: HandlerContext) => {
      const { principal, sandboxId } = callerOf(ctx);
      await input(principal, sandboxId, req.process, req.input);
      return {};
    }),

    streamInput: wrap(async (reqs, ctx: HandlerContext) => {
      const { principal, sandboxId } = callerOf(ctx);
      let sel: ProcessSelector | undefined;
      for await (const r of reqs) {
        switch (r.event.case) {
          case 'start':
            sel = r.event.value.process;
            // Fails now (NOT_FOUND) rather than at the first data.
            await gate.run(principal, { name: 'command.attach', sandboxId, target: selectorTarget(sel), run: () => find(principal, sandboxId, sel) });
            break;
          case 'data':
            if (sel === undefined) throw new AgentdError('INVALID_ARGUMENT', 'StreamInput: the first message must be a start naming the process', { details: { reason: 'selector' } });
            await input(principal, sandboxId, sel, r.event.value.input);
            break;
          case 'keepalive':
          case undefined:
            break;
        }
      }
      return {};
    }),

    closeStdin: wrap(async (req, ctx: HandlerContext) => {
      const { principal, sandboxId } = callerOf(ctx);
      await gate.run(principal, {
        name: 'command.stdin', sandboxId, target: selectorTarget(req.process),
        run: () => find(principal, sandboxId, req.process).closeStdin(),
      });
      return {};
    }),

    sendSignal: wrap(async (req, ctx: HandlerContext) => {
      const { principal, sandboxId } = callerOf(ctx);
      const target = selectorTarget(req.process);
      if (req.signal === Signal.SIGKILL) {
        await gate.run(principal, { name: 'command.kill', sandboxId, target, run: () => find(principal, sandboxId, req.process).kill() });
      } else if (req.signal === Signal.SIGTERM) {
        await gate.run(principal, {
          name: 'command.signal', sandboxId, target: { ...target, signal: 'SIGTERM' },
          run: () => find(principal, sandboxId, req.process).signal('SIGTERM', 'group'),
        });
      } else {
        throw new AgentdError('INVALID_ARGUMENT', `signal ${String(req.signal)} is not one envd sends (SIGTERM, SIGKILL)`, { details: { reason: 'signal' } });
      }
      return {};
    }),

    update: wrap(async (req, ctx: HandlerContext) => {
      const { principal, sandboxId } = callerOf(ctx);
      const size = req.pty?.size;
      if (size === undefined) return {};
      const pty = ptyOf(size, {});
      await gate.run(principal, {
        name: 'command.resize', sandboxId, target: selectorTarget(req.process),
        run: () => find(principal, sandboxId, req.process).resize(pty.rows, pty.cols),
      });
      return {};
    }),
  };
  return { impl, meta };
}

function configView(c: ProcessConfig): ProcessMeta['config'] {
  return { cmd: c.cmd, args: [...c.args], envs: { ...c.envs }, ...(c.cwd === undefined ? {} : { cwd: c.cwd }) };
}
