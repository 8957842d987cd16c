// Placeholder copy of e2b-a's contract (/work/notes/e2b-contract.md) so e2b-b builds alone;
// e2b-a owns this file: on merge, theirs wins.
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Principal } from '../../../auth/types.js';

export interface EnvdCaller {
  principal: Principal;
  sandboxId: string;
  user: string | undefined;
}

export interface EnvdRpcCall {
  service: 'process.Process' | 'filesystem.Filesystem';
  method: string;
  caller: EnvdCaller;
  body: Buffer;
  req: FastifyRequest;
  reply: FastifyReply;
  signal: AbortSignal;
}

export interface EnvdRpc {
  handle(call: EnvdRpcCall): Promise<void>;
  close(): Promise<void>;
}
