/**
 * `GET /v1/sandboxes/{id}/files/watch`: a directory watch as an NDJSON stream (docs/api.md,
 * "Watching a directory"). The path is resolved by agentd-init inside the sandbox. The
 * operation passes the gate (`files.watch`: auth, policy, audit of its start and of every
 * refusal); the stream ends when the client goes away (the watch is removed), when the
 * watched directory goes, or when the sandbox ends.
 */
import { once } from 'node:events';
import { posix } from 'node:path';
import { PassThrough } from 'node:stream';
import { z } from 'zod';
import { SandboxPath } from '../../../capabilities/common.js';
import { AgentdError, SandboxOsError } from '../../../core/errors.js';
import { MAX_WATCH_DIRS, MAX_WATCHES } from '../../../channel/frames.js';
import type { WatchEvent, WatchHandle } from '../../../channel/types.js';
import { QueryBool, route, type RouteSpec } from '../route.js';
import type { HttpServices } from '../services.js';

export const NDJSON = 'application/x-ndjson';

const WatchQuery = z
  .object({
    path: SandboxPath,
    recursive: QueryBool.optional().describe('Watch every directory below the path too (new ones as they appear).'),
  })
  .strict();

/** One line of the stream (docs/api.md). */
export const WatchLineShape = z.object({
  type: z.enum(['ready', 'create', 'write', 'remove', 'rename', 'chmod', 'overflow', 'unwatched', 'end']),
  path: z.string().optional(),
  to: z.string().optional(),
  is_dir: z.boolean().optional(),
  lost: z.number().optional(),
  errno: z.string().optional(),
  recursive: z.boolean().optional(),
  reason: z.enum(['stopped', 'gone', 'closed']).optional(),
  message: z.string().optional(),
});

/** The path of an event as the caller named the watched directory ("" = the directory itself). */
function eventPath(base: string, rel: string): string {
  return rel === '' ? base : posix.join(base, rel);
}

export function watchLine(base: string, e: WatchEvent): Record<string, unknown> {
  if (e.type === 'overflow') return { type: 'overflow', lost: e.lost ?? 0 };
  const line: Record<string, unknown> = { type: e.type, path: eventPath(base, e.path), is_dir: e.isDir };
  if (e.type === 'rename') line.to = eventPath(base, e.to ?? '');
  if (e.type === 'unwatched') line.errno = e.errno;
  return line;
}

export function watchRoutes(svc: HttpServices): RouteSpec[] {
  const gate = svc.pipeline.gate;
  return [
    route<z.infer<typeof WatchQuery>>({
      method: 'GET', url: '/v1/sandboxes/:id/files/watch', operationId: 'watchFiles', tag: 'files', auth: true,
      summary: 'Watch a directory of the sandbox: NDJSON lines ready, then create/write/remove/rename/chmod/overflow/unwatched events, then end.',
      query: WatchQuery,
      responses: { 200: { description: 'NDJSON stream of watch lines (docs/api.md, "Watching a directory")', contentType: NDJSON, schema: WatchLineShape } },
      handler: async ({ principal, params, query, signal, reply }) => {
        const sandboxId = params.id ?? '';
        const watch = await gate.run(principal, {
          name: 'files.watch', sandboxId, input: query, target: { path: query.path },
          run: async (): Promise<WatchHandle> => {
            const handle = svc.sandboxes.handleOf(principal.tenant, sandboxId);
            const channel = handle.channel;
            if (channel.watch === undefined) throw new AgentdError('INTERNAL', `sandbox '${sandboxId}' cannot watch files`);
            const w = channel.watch(query.path, { recursive: query.recursive === true, signal });
            try {
              await w.started;
            } catch (err) {
              // Too many watches in this sandbox (16) or directories (8192): a quota, not a file error.
              if (err instanceof SandboxOsError && (err.syscallCode === 'EMFILE' || err.syscallCode === 'ENOSPC')) {
                throw new AgentdError('RESOURCE_EXHAUSTED', `${err.message}: a sandbox has at most ${MAX_WATCHES} watches of ${MAX_WATCH_DIRS} directories in all`, { cause: err });
              }
              throw err;
            }
            return w;
          },
        });
        const out = new PassThrough({ highWaterMark: 64 * 1024 });
        void reply.code(200).header('content-type', NDJSON).header('cache-control', 'no-store').send(out);
        const write = async (line: Record<string, unknown>): Promise<void> => {
          if (!out.write(`${JSON.stringify(line)}\n`) && !signal.aborted) {
            // The client is slow: stop taking events; the init queues them, then reports an overflow.
            await once(out, 'drain', { signal }).catch(() => undefined);
          }
        };
        await write({ type: 'ready', path: query.path, recursive: query.recursive === true });
        try {
          for await (const e of watch.events()) {
            if (signal.aborted) break;
            await write(watchLine(query.path, e));
          }
        } finally {
          if (signal.aborted) await watch.stop().catch(() => undefined);
        }
        const end = await watch.ended.catch((err: unknown) => ({ reason: 'closed' as const, message: (err as Error).message }));
        out.end(`${JSON.stringify({ type: 'end', reason: end.reason, message: end.message })}\n`);
        return reply;
      },
    }),
  ];
}
