/**
 * Durable commands over REST (docs/api.md, "Commands"): start in the background, list, get,
 * stdin, signal, kill, resize, and a stream that reattaches from an offset. Starting goes
 * through the intent pipeline (shell.exec.v1: auth, policy, limits, audit); everything else
 * through the gate with a `command.*` operation name.
 */
import { once } from 'node:events';
import { PassThrough } from 'node:stream';
import { z } from 'zod';
import type { Principal } from '../../../auth/types.js';
import { ShellExecParams } from '../../../capabilities/shell-exec.js';
import type { Command, FollowEvent } from '../../../commands/command.js';
import { AgentdError } from '../../../core/errors.js';
import { NDJSON_CONTENT_TYPE } from '../exec-stream.js';
import { QueryBool, QueryInt, route, type RouteSpec } from '../route.js';
import type { HttpServices } from '../services.js';

export const PtyRequest = z.object({
  rows: z.number().int().min(1).max(1000).describe('Terminal rows.'),
  cols: z.number().int().min(1).max(1000).describe('Terminal columns.'),
  term: z.string().regex(/^[A-Za-z0-9._+-]{1,64}$/).optional().describe('TERM of the command (default xterm-256color).'),
}).strict();

/** Options of a tracked command besides the exec's own params. */
export const CommandOptionsShape = {
  keep_stdin_open: z.boolean().optional().describe('Keep stdin open as a pipe: write with POST .../stdin (or the WebSocket), close to send EOF. `stdin` is written first. Default false (stdin is /dev/null, or `stdin` then EOF).'),
  pty: PtyRequest.optional().describe('Run under a terminal (agentd-init opens a PTY in the sandbox): output is one `pty` stream, stdin goes to the terminal.'),
};

export const CommandStart = ShellExecParams.safeExtend(CommandOptionsShape);
export type CommandStart = z.infer<typeof CommandStart>;

const CommandExitShape = z.object({
  exit_code: z.number().nullable(), signal: z.string().nullable(), timed_out: z.boolean(), canceled: z.boolean(), code: z.string(),
  error: z.object({ code: z.string(), message: z.string() }).optional(),
});

export const CommandShape = z.object({
  id: z.string(),
  sandbox_id: z.string(),
  argv: z.array(z.string()),
  pid: z.number().nullable(),
  pty: z.boolean(),
  state: z.enum(['running', 'exited', 'failed', 'lost']),
  started_at_ms: z.number(),
  ended_at_ms: z.number().nullable(),
  exit: CommandExitShape.nullable(),
  output: z.object({ start_offset: z.number(), end_offset: z.number() }),
  stdin_open: z.boolean(),
});

const SignalBody = z.object({
  signal: z.union([z.string().regex(/^SIG[A-Z0-9]+$/), z.number().int().min(1).max(64)]).describe('A signal name ("SIGINT") or number.'),
  scope: z.enum(['leader', 'group', 'tree']).optional().describe("Who gets it: the command's process, its process group (default), or every process it started."),
}).strict();

const ResizeBody = PtyRequest.omit({ term: true });

const StdinQuery = z.object({
  close: QueryBool.optional().describe('Close stdin after writing the body (EOF).'),
}).strict();

const StreamQuery = z.object({
  from_offset: QueryInt.optional().describe('First byte wanted (default 0). Bytes no longer held are reported in an `overflow` frame with their count.'),
}).strict();

/** The start of a background command or a terminal: the exec's params as an intent, and its tracking. */
export function commandIntent(body: CommandStart, sandboxId: string, defaultTimeoutMs: number): {
  intent: Record<string, unknown>; stdinPipe: boolean; initialStdin: Buffer | undefined;
} {
  const { keep_stdin_open: keep, pty, ...params } = body;
  const stdinPipe = keep === true || pty !== undefined;
  let initialStdin: Buffer | undefined;
  if (stdinPipe && params.stdin !== undefined) {
    initialStdin = Buffer.from(params.stdin, params.stdin_encoding === 'base64' ? 'base64' : 'utf8');
    delete params.stdin;
    delete params.stdin_encoding;
  }
  return {
    intent: { capability: 'shell.exec.v1', params: { ...params, timeout_ms: params.timeout_ms ?? defaultTimeoutMs }, sandbox_prefs: { sandbox_id: sandboxId } },
    stdinPipe,
    initialStdin,
  };
}

/** Follow events as NDJSON lines. */
export function followLine(ev: FollowEvent): string {
  switch (ev.type) {
    case 'output':
      return `{"type":"${ev.stream}","offset":${ev.offset},"data":"${ev.data.toString('base64')}"}\n`;
    case 'overflow':
      return `${JSON.stringify(ev)}\n`;
    case 'end':
      return `${JSON.stringify({ type: 'exit', state: ev.state, end_offset: ev.end_offset, ...(ev.exit ?? {}) })}\n`;
  }
}

const WS_DESCRIPTION = [
  'Upgrade with the same credentials as any request (Authorization header, signature headers, or the Unix socket peer).',
  'First client message (text JSON): {"type":"start", ...the POST /commands body, "keep_alive_on_disconnect": bool} or {"type":"attach","command_id":ID,"from_offset":N}.',
  'Server: text {"type":"started"|"attached",...}, binary output messages (byte 0: 1 stdout, 2 stderr, 3 pty; bytes 1-8: offset, u64 big-endian; then the bytes), text {"type":"overflow","lost_bytes":N,"next_offset":M}, text {"type":"exit",...} then close 1000; {"type":"error","error":{...}} then close.',
  'Client after the first message: binary = stdin bytes; text {"type":"stdin_close"} | {"type":"resize","rows":R,"cols":C} | {"type":"signal","signal":"SIGINT","scope":"group"} | {"type":"kill"}.',
].join(' ');

export function commandRoutes(svc: HttpServices): RouteSpec[] {
  const gate = svc.pipeline.gate;
  const reg = svc.commands;
  const one = (principal: Principal, params: Record<string, string>): Command => reg.get(principal, params.id ?? '', params.cmd ?? '');
  const target = (params: Record<string, string>): Record<string, string> => ({ command_id: params.cmd ?? '' });
  return [
    route({
      method: 'GET', url: '/v1/sandboxes/:id/commands/connect', operationId: 'connectCommand', tag: 'commands', auth: true,
      summary: 'WebSocket: start a command (a terminal too) or attach to one, with stdin in, output out, resize and signals as control messages.',
      websocket: { description: WS_DESCRIPTION },
      responses: { 101: { description: 'Switching Protocols: the WebSocket (messages in docs/api.md, "Commands over a WebSocket")' } },
      handler: () => Promise.reject(new AgentdError('INTERNAL', 'the WebSocket route is served by adapters/http/ws.ts')),
    }),
    route<unknown, CommandStart>({
      method: 'POST', url: '/v1/sandboxes/:id/commands', operationId: 'startCommand', tag: 'commands', auth: true,
      summary: 'Start a command in the background (shell.exec.v1 through the pipeline): it outlives this request; answers once it runs.',
      body: CommandStart, responses: { 201: { description: 'The running command', schema: CommandShape } },
      handler: async ({ principal, params, body, reply }) => {
        const { intent, stdinPipe, initialStdin } = commandIntent(body, params.id ?? '', reg.defaultTimeoutMs());
        const cmd = await reg.startBackground(principal, intent, {
          stdinPipe, ...(initialStdin ? { initialStdin } : {}), ...(body.pty ? { pty: body.pty } : {}),
        }, svc.stopping);
        void reply.code(201);
        return cmd.view();
      },
    }),
    route({
      method: 'GET', url: '/v1/sandboxes/:id/commands', operationId: 'listCommands', tag: 'commands', auth: true,
      summary: "The sandbox's commands: running, and finished ones for commands.keep_exited_ms (also `lost` ones from before a restart).",
      responses: { 200: { description: 'Commands, oldest first', schema: z.object({ commands: z.array(CommandShape) }) } },
      handler: ({ principal, params }) => gate.run(principal, {
        name: 'command.list', sandboxId: params.id ?? '', run: () => {
          const list = reg.list(principal, params.id ?? '');
          // No command: the sandbox must still be the caller's, or this is NOT_FOUND like any other tenant's id.
          if (list.length === 0) svc.sandboxes.get(principal.tenant, params.id ?? '');
          return { commands: list.map((c) => c.view()) };
        },
      }),
    }),
    route({
      method: 'GET', url: '/v1/sandboxes/:id/commands/:cmd', operationId: 'getCommand', tag: 'commands', auth: true,
      summary: 'One command.', responses: { 200: { description: 'The command', schema: CommandShape } },
      handler: ({ principal, params }) => gate.run(principal, { name: 'command.get', sandboxId: params.id ?? '', target: target(params), run: () => one(principal, params).view() }),
    }),
    route<z.infer<typeof StdinQuery>>({
      method: 'POST', url: '/v1/sandboxes/:id/commands/:cmd/stdin', operationId: 'commandStdin', tag: 'commands', auth: true,
      summary: "Write the raw body to the command's open stdin (answers once agentd-init took it); `?close=1` then sends EOF.",
      query: StdinQuery, rawBody: true,
      responses: { 200: { description: 'Written', schema: z.object({ written: z.number(), stdin_open: z.boolean() }) } },
      handler: ({ principal, params, query, raw }) => gate.run(principal, {
        name: 'command.stdin', sandboxId: params.id ?? '', target: target(params), run: async () => {
          const cmd = one(principal, params);
          const data = raw ?? Buffer.alloc(0);
          if (data.length > 0) await cmd.writeStdin(data);
          if (query.close === true) await cmd.closeStdin();
          return { written: data.length, stdin_open: cmd.view().stdin_open };
        },
      }),
    }),
    route<unknown, z.infer<typeof SignalBody>>({
      method: 'POST', url: '/v1/sandboxes/:id/commands/:cmd/signal', operationId: 'signalCommand', tag: 'commands', auth: true,
      summary: 'Send a signal to a running command.', body: SignalBody, responses: { 204: { description: 'Sent' } },
      handler: async ({ principal, params, body, reply }) => {
        await gate.run(principal, {
          name: 'command.signal', sandboxId: params.id ?? '', target: target(params), input: body, schema: SignalBody,
          run: (b) => one(principal, params).signal(b.signal as NodeJS.Signals | number, b.scope ?? 'group'),
        });
        void reply.code(204);
        return undefined;
      },
    }),
    route({
      method: 'POST', url: '/v1/sandboxes/:id/commands/:cmd/kill', operationId: 'killCommand', tag: 'commands', auth: true,
      summary: 'Kill a running command and every process it started (SIGKILL to the tree).', responses: { 204: { description: 'Killed' } },
      handler: async ({ principal, params, reply }) => {
        await gate.run(principal, { name: 'command.kill', sandboxId: params.id ?? '', target: target(params), run: () => one(principal, params).kill() });
        void reply.code(204);
        return undefined;
      },
    }),
    route<unknown, z.infer<typeof ResizeBody>>({
      method: 'POST', url: '/v1/sandboxes/:id/commands/:cmd/resize', operationId: 'resizeCommand', tag: 'commands', auth: true,
      summary: "Resize a command's terminal (TIOCSWINSZ; the foreground job gets SIGWINCH).", body: ResizeBody, responses: { 204: { description: 'Resized' } },
      handler: async ({ principal, params, body, reply }) => {
        await gate.run(principal, {
          name: 'command.resize', sandboxId: params.id ?? '', target: target(params), input: body, schema: ResizeBody,
          run: (b) => one(principal, params).resize(b.rows, b.cols),
        });
        void reply.code(204);
        return undefined;
      },
    }),
    route<z.infer<typeof StreamQuery>>({
      method: 'GET', url: '/v1/sandboxes/:id/commands/:cmd/stream', operationId: 'followCommand', tag: 'commands', auth: true,
      summary: "Reattach: the command's output from `from_offset` as NDJSON (attached, overflow?, stdout/stderr/pty with offsets, exit), live while it runs.",
      query: StreamQuery,
      responses: { 200: { description: 'NDJSON frames (docs/api.md, "Commands")' } },
      handler: async ({ principal, params, query, signal, reply }) => {
        const cmd = await gate.run(principal, { name: 'command.attach', sandboxId: params.id ?? '', target: target(params), run: () => one(principal, params) });
        const out = new PassThrough({ highWaterMark: 256 * 1024 });
        const v = cmd.view();
        void reply.code(200).header('content-type', NDJSON_CONTENT_TYPE).header('cache-control', 'no-store').send(out);
        out.write(`${JSON.stringify({ type: 'attached', command_id: cmd.id, state: v.state, pid: v.pid, pty: v.pty, from_offset: query.from_offset ?? 0, ...v.output })}\n`);
        try {
          for await (const ev of cmd.follow(query.from_offset ?? 0, signal)) {
            if (!out.write(followLine(ev)) && !signal.aborted) await once(out, 'drain', { signal }).catch(() => undefined);
          }
        } catch (err) {
          if (!(err instanceof AgentdError)) throw err;
          out.write(`${JSON.stringify({ type: 'error', error: err.toJSON() })}\n`);
        }
        out.end();
        return reply;
      },
    }),
  ];
}
