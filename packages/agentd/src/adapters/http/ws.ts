/**
 * The WebSocket route of commands (docs/api.md, "Commands over a WebSocket"): one connection
 * starts a command (a terminal too) or attaches to one; stdin in, output out, resize and
 * signals as control messages.
 *
 * @fastify/websocket (over `ws`) rather than `ws` alone: the upgrade request is routed by
 * fastify like any request, so the same onRequest/preValidation hooks authenticate it (API
 * key, JWT, signature, local token, Unix socket peer), the same 404 answers unknown paths,
 * and a refused upgrade gets the same error envelope with its HTTP status, before any
 * WebSocket exists. Then every action passes the same gate as REST: a start is a shell.exec
 * intent through the pipeline, an attach, stdin, resize, signal or kill a `command.*` operation.
 */
import type { EventEmitter } from 'node:events';
import type { Server } from 'node:http';
import fastifyWebsocket from '@fastify/websocket';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { RawData, WebSocket } from 'ws';
import { z } from 'zod';
import type { Principal } from '../../auth/types.js';
import type { Command, FollowEvent } from '../../commands/command.js';
import { AgentdError, toAgentdError } from '../../core/errors.js';
import { zodError } from '../../pipeline/zod-error.js';
import { commandIntent, CommandOptionsShape } from './routes/commands.js';
import { ShellExecParams } from '../../capabilities/shell-exec.js';
import type { HttpServices } from './services.js';

const StartMessage = ShellExecParams.safeExtend({
  ...CommandOptionsShape,
  type: z.literal('start'),
  keep_alive_on_disconnect: z.boolean().optional().describe('false: the command is killed when this connection closes. Default true (reattach later).'),
});
const AttachMessage = z.object({
  type: z.literal('attach'),
  command_id: z.string().min(1).max(64),
  from_offset: z.number().int().min(0).optional(),
}).strict();
const ControlMessage = z.discriminatedUnion('type', [
  z.object({ type: z.literal('stdin_close') }).strict(),
  z.object({ type: z.literal('resize'), rows: z.number().int().min(1).max(1000), cols: z.number().int().min(1).max(1000) }).strict(),
  z.object({ type: z.literal('signal'), signal: z.union([z.string().regex(/^SIG[A-Z0-9]+$/), z.number().int().min(1).max(64)]), scope: z.enum(['leader', 'group', 'tree']).optional() }).strict(),
  z.object({ type: z.literal('kill') }).strict(),
]);

/** Output kinds of a binary message. */
const KIND = { stdout: 1, stderr: 2, pty: 3 } as const;
/** Largest message a client may send (stdin pieces, control messages). */
const MAX_PAYLOAD = 1024 * 1024;
/** The socket's unsent bytes above which output waits (the command does not: its ring moves on). */
const HIGH_WATER = 1024 * 1024;

/** The app's own authentication hooks (adapters/http/app.ts), run on the upgrade request. */
export interface UpgradeAuth {
  onRequest(req: FastifyRequest, reply: FastifyReply): Promise<void>;
  preValidation(req: FastifyRequest, reply: FastifyReply): Promise<void>;
}

/**
 * `upgrades`: where the app's upgrade dispatcher (upgrade.ts) sends the upgrades that are not
 * a sandbox port's proxy path; @fastify/websocket listens there instead of on the server.
 */
export function registerWebSockets(app: FastifyInstance, svc: HttpServices, auth: UpgradeAuth, upgrades: EventEmitter): void {
  void app.register(async (inst) => {
    await inst.register(fastifyWebsocket, { options: { maxPayload: MAX_PAYLOAD, server: upgrades as unknown as Server } });
    inst.route({
      method: 'GET',
      url: '/v1/sandboxes/:id/commands/connect',
      onRequest: (req: FastifyRequest, reply: FastifyReply) => auth.onRequest(req, reply),
      preValidation: (req: FastifyRequest, reply: FastifyReply) => auth.preValidation(req, reply),
      // A plain GET (no upgrade): a clear error instead of a WebSocket.
      handler: async () => {
        throw new AgentdError('INVALID_ARGUMENT', 'this route is a WebSocket: send Connection: Upgrade, Upgrade: websocket', { details: { reason: 'websocket' } });
      },
      wsHandler: (socket: WebSocket, req: FastifyRequest) => {
        if (req.principal === undefined || req.authPending === true) {
          socket.close(1011, 'not authenticated');
          return;
        }
        new CommandSocket(socket, req.principal, (req.params as { id: string }).id, svc).run();
      },
    });
  });
}

function binaryOutput(ev: Extract<FollowEvent, { type: 'output' }>): Buffer {
  const h = Buffer.allocUnsafe(9);
  h.writeUInt8(KIND[ev.stream], 0);
  h.writeBigUInt64BE(BigInt(ev.offset), 1);
  return Buffer.concat([h, ev.data]);
}

/** One WebSocket connection's life: its first message, then output one way and input the other. */
class CommandSocket {
  private cmd: Command | undefined;
  /** This connection started the command (its keep_alive_on_disconnect applies). */
  private owner = false;
  private readonly closed = new AbortController();
  private stdinAllowed: Promise<void> | undefined;
  private inputTail: Promise<void> = Promise.resolve();
  private pendingInput = 0;

  constructor(
    private readonly ws: WebSocket,
    private readonly principal: Principal,
    private readonly sandboxId: string,
    private readonly svc: HttpServices,
  ) {}

  run(): void {
    this.ws.on('close', () => this.onClose());
    this.ws.on('error', () => this.closed.abort());
    this.ws.once('message', (data, isBinary) => {
      this.ws.on('message', (d, b) => this.onMessage(d, b));
      void this.begin(data, isBinary).catch((err: unknown) => this.fail(err));
    });
  }

  private async begin(data: RawData, isBinary: boolean): Promise<void> {
    if (isBinary) throw new AgentdError('INVALID_ARGUMENT', 'the first message must be a JSON text message: {"type":"start",...} or {"type":"attach",...}');
    const msg = parseJson(data);
    const type = (msg as { type?: unknown } | null)?.type;
    const reg = this.svc.commands;
    let from = 0;
    if (type === 'start') {
      const parsed = StartMessage.safeParse(msg);
      if (!parsed.success) throw zodError(parsed.error, 'message');
      const { type: _t, keep_alive_on_disconnect: keep, ...body } = parsed.data;
      const { intent, stdinPipe, initialStdin } = commandIntent(body, this.sandboxId, reg.defaultTimeoutMs());
      this.cmd = await reg.startBackground(this.principal, intent, {
        stdinPipe, ...(initialStdin ? { initialStdin } : {}), ...(body.pty ? { pty: body.pty } : {}), keepAliveOnDisconnect: keep ?? true,
      }, this.svc.stopping);
      this.owner = true;
      this.send({ type: 'started', command_id: this.cmd.id, pid: this.cmd.pid, pty: this.cmd.pty });
      // The client left while the command started: it still ends per keep_alive_on_disconnect.
      if (this.closed.signal.aborted) this.onClose();
    } else if (type === 'attach') {
      const parsed = AttachMessage.safeParse(msg);
      if (!parsed.success) throw zodError(parsed.error, 'message');
      const id = parsed.data.command_id;
      this.cmd = await this.svc.pipeline.gate.run(this.principal, {
        name: 'command.attach', sandboxId: this.sandboxId, target: { command_id: id }, run: () => reg.get(this.principal, this.sandboxId, id),
      });
      from = parsed.data.from_offset ?? 0;
      const v = this.cmd.view();
      this.send({ type: 'attached', command_id: v.id, state: v.state, pid: v.pid, pty: v.pty, from_offset: from, ...v.output });
    } else {
      throw new AgentdError('INVALID_ARGUMENT', 'the first message must be {"type":"start",...} or {"type":"attach",...}');
    }
    await this.pump(this.cmd, from);
  }

  /** Output to the client, at its pace; the end closes the socket. */
  private async pump(cmd: Command, from: number): Promise<void> {
    for await (const ev of cmd.follow(from, this.closed.signal)) {
      if (ev.type === 'output') await this.sendRaw(binaryOutput(ev));
      else if (ev.type === 'overflow') this.send(ev);
      else {
        this.send({ type: 'exit', state: ev.state, end_offset: ev.end_offset, ...(ev.exit ?? {}) });
        this.ws.close(1000, 'exited');
      }
    }
  }

  private onMessage(data: RawData, isBinary: boolean): void {
    const cmd = this.cmd;
    if (cmd === undefined) {
      this.fail(new AgentdError('INVALID_ARGUMENT', 'wait for "started" or "attached" before sending input'));
      return;
    }
    if (isBinary) {
      const bytes = toBuffer(data);
      this.pendingInput++;
      // Backpressure: the client's socket is not read while stdin waits for agentd-init.
      if (this.pendingInput > 8) this.ws.pause();
      this.chain(async () => {
        await this.allowStdin(cmd);
        await cmd.writeStdin(bytes);
      }, () => {
        if (--this.pendingInput <= 8) this.ws.resume();
      });
      return;
    }
    const parsed = ControlMessage.safeParse(parseJson(data));
    if (!parsed.success) {
      this.fail(zodError(parsed.error, 'message'));
      return;
    }
    const m = parsed.data;
    const gate = this.svc.pipeline.gate;
    const op = { sandboxId: this.sandboxId, target: { command_id: cmd.id } };
    switch (m.type) {
      case 'stdin_close':
        this.chain(async () => {
          await this.allowStdin(cmd);
          await cmd.closeStdin();
        });
        return;
      case 'resize':
        this.chain(() => gate.run(this.principal, { name: 'command.resize', ...op, run: () => cmd.resize(m.rows, m.cols) }));
        return;
      case 'signal':
        this.chain(() => gate.run(this.principal, { name: 'command.signal', ...op, run: () => cmd.signal(m.signal as NodeJS.Signals | number, m.scope ?? 'group') }));
        return;
      case 'kill':
        this.chain(() => gate.run(this.principal, { name: 'command.kill', ...op, run: () => cmd.kill() }));
        return;
    }
  }

  /** The policy's word on this connection's stdin, asked once (stdin is not audited per keystroke). */
  private allowStdin(cmd: Command): Promise<void> {
    this.stdinAllowed ??= this.svc.pipeline.gate.run(this.principal, {
      name: 'command.stdin', sandboxId: this.sandboxId, target: { command_id: cmd.id }, run: () => undefined,
    });
    return this.stdinAllowed;
  }

  /** Input actions run one after the other, in arrival order; a failure is reported and ends the connection. */
  private chain(fn: () => Promise<unknown>, after?: () => void): void {
    this.inputTail = this.inputTail.then(fn).then(() => after?.(), (err: unknown) => {
      after?.();
      this.fail(err);
    });
  }

  private onClose(): void {
    this.closed.abort();
    const cmd = this.cmd;
    if (cmd !== undefined && this.owner && !cmd.keepAliveOnDisconnect && cmd.running) void cmd.kill().catch(() => undefined);
  }

  private fail(err: unknown): void {
    const e = toAgentdError(err);
    if (e.code === 'INTERNAL') this.svc.logger.error({ err: (err as Error).message }, 'command WebSocket failed');
    this.send({ type: 'error', error: e.toJSON() });
    this.ws.close(e.code === 'PERMISSION_DENIED' || e.code === 'POLICY_DENIED' || e.code === 'NOT_FOUND' ? 1008 : e.code === 'INTERNAL' ? 1011 : 4000, e.code);
  }

  private send(v: Record<string, unknown>): void {
    if (this.ws.readyState === this.ws.OPEN) this.ws.send(JSON.stringify(v));
  }

  private sendRaw(b: Buffer): Promise<void> {
    if (this.ws.readyState !== this.ws.OPEN) return Promise.resolve();
    if (this.ws.bufferedAmount < HIGH_WATER) {
      this.ws.send(b);
      return Promise.resolve();
    }
    return new Promise((resolve) => this.ws.send(b, () => resolve()));
  }
}

function toBuffer(data: RawData): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (Array.isArray(data)) return Buffer.concat(data);
  return Buffer.from(data);
}

function parseJson(data: RawData): unknown {
  try {
    return JSON.parse(toBuffer(data).toString('utf8')) as unknown;
  } catch {
    throw new AgentdError('INVALID_ARGUMENT', 'a text message must be JSON');
  }
}
