/**
 * The caller of an envd RPC, as e2b-a's routing resolved it (X-Access-Token -> the sandbox and
 * the principal of the key that created it; Authorization: Basic -> the `user`), carried to
 * the Connect service implementations in their context values.
 */
import { createContextKey, type HandlerContext } from '@connectrpc/connect';
import { AgentdError } from '../../../core/errors.js';
import type { EnvdCaller } from './types.js';

export const CALLER = createContextKey<EnvdCaller | undefined>(undefined, { description: 'envd caller' });

export function callerOf(ctx: HandlerContext): EnvdCaller {
  const c = ctx.values.get(CALLER);
  if (c === undefined) throw new AgentdError('UNAUTHENTICATED', 'envd RPC without an authenticated caller');
  return c;
}

/**
 * The SDK's `user` as agentd's per-exec user: absent or "user" (E2B's default user) runs as
 * agentd's unprivileged agent (uid 1000), "root" as root (in a sandbox with an image; agentd
 * refuses it elsewhere). Any other name is refused: agentd has no other users to map it to.
 */
export function execUserOf(user: string | undefined): 'root' | undefined {
  if (user === undefined || user === '' || user === 'user') return undefined;
  if (user === 'root') return 'root';
  throw new AgentdError('INVALID_ARGUMENT', `user '${user.slice(0, 64)}' is not known here: agentd runs commands as 'user' (its agent, uid 1000) or 'root'`, {
    details: { reason: 'user' },
  });
}

/** Owner and group names as the SDK shows them: uid/gid 0 is root, agentd's agent (1000) is E2B's "user". */
export function nameOfId(id: number): string {
  if (id === 0) return 'root';
  if (id === 1000) return 'user';
  return String(id);
}
