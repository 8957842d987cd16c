import { z } from 'zod';
import { ShellExecParams } from '../../../capabilities/shell-exec.js';
import { execResultFromIntent } from '../../../capabilities/exec-result.js';
import { errorOfResponse } from '../errors.js';
import { NdjsonExecStream } from '../ndjson.js';
import { QueryBool, route, type RouteSpec } from '../route.js';
import type { HttpServices } from '../services.js';
import { ExecResultShape } from '../shapes.js';

const ExecQuery = z.object({ stream: QueryBool.optional().describe('Answer with an NDJSON stream of frames (also: Accept: application/x-ndjson).') }).strict();

export function idempotencyKey(headers: Record<string, string | string[] | undefined>): string | undefined {
  const v = headers['idempotency-key'];
  return typeof v === 'string' && v.length > 0 ? v : undefined;
}

export function execRoutes(svc: HttpServices): RouteSpec[] {
  return [
    route<z.infer<typeof ExecQuery>, ShellExecParams>({
      method: 'POST', url: '/v1/sandboxes/:id/exec', operationId: 'exec', summary: 'Run a command (shell.exec.v1) in the sandbox.', tag: 'exec', auth: true,
      query: ExecQuery, body: ShellExecParams,
      responses: {
        200: { description: 'ExecResult (JSON), or NDJSON frames start/stdout/stderr/exit|error when streaming', schema: ExecResultShape },
      },
      handler: async ({ principal, params, query, body, signal, req, reply }) => {
        const wantsStream = query.stream === true || (req.headers.accept ?? '').includes('application/x-ndjson');
        const key = idempotencyKey(req.headers);
        const intent = {
          capability: 'shell.exec.v1',
          params: body,
          sandbox_prefs: { sandbox_id: params.id },
          ...(key ? { metadata: { idempotency_key: key } } : {}),
        };
        if (!wantsStream) {
          const resp = await svc.pipeline.execute(principal, intent, { signal });
          if (resp.result) return execResultFromIntent(resp.result);
          throw errorOfResponse(resp.error ?? { code: 'INTERNAL', message: 'no result', details: {}, retryable: false });
        }
        const ndjson = new NdjsonExecStream(reply, signal);
        const resp = await svc.pipeline.execute(principal, intent, { signal, listener: ndjson });
        if (resp.result) {
          const { stdout: _o, stderr: _e, ...rest } = execResultFromIntent(resp.result);
          ndjson.exit(rest);
          return reply;
        }
        const error = resp.error ?? { code: 'INTERNAL' as const, message: 'no result', details: {}, retryable: false };
        if (!ndjson.started) throw errorOfResponse(error);
        ndjson.error(error);
        return reply;
      },
    }),
  ];
}
