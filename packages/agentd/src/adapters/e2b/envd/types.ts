import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Principal } from '../../../auth/types.js';

/** Who calls an in-sandbox route, once the access token checked out (envd/auth.ts). */
export interface EnvdCaller {
  /** The principal of the E2B key that created the sandbox (tenant-scoped). */
  principal: Principal;
  /** agentd's sandbox id, which is also the E2B sandboxID; the sandbox is running. */
  sandboxId: string;
  /** From `Authorization: Basic base64("<user>:")`; undefined = the SDK's default user. */
  user: string | undefined;
}

/** One Connect-RPC call of the process or filesystem service, handed to the envd RPC handler. */
export interface EnvdRpcCall {
  service: 'process.Process' | 'filesystem.Filesystem';
  /** 'Start', 'Connect', 'List', 'SendInput', 'Stat', 'WatchDir', ... */
  method: string;
  caller: EnvdCaller;
  /** The raw request body (unary JSON, or Connect envelopes). */
  body: Buffer;
  /** Headers: content-type, connect-protocol-version, connect-timeout-ms, keepalive-ping-interval. */
  req: FastifyRequest;
  /** Answer with it (reply.hijack() and reply.raw for streams). */
  reply: FastifyReply;
  /** Aborted when the client goes away or the daemon stops. */
  signal: AbortSignal;
}

/** The Connect-RPC services of the in-sandbox plane (envd/rpc.ts). */
export interface EnvdRpc {
  /** A thrown error before the reply is sent becomes a Connect error (errors.ts connectError). */
  handle(call: EnvdRpcCall): Promise<void>;
  close(): Promise<void>;
}
