import { z } from 'zod';
import { ShellExecParams } from '../../../capabilities/shell-exec.js';
import { execResultFromIntent } from '../../../capabilities/exec-result.js';
import { errorOfResponse } from '../errors.js';
import { HttpExecStream, streamFormatOf } from '../exec-stream.js';
import { QueryBool, QueryInt, route, type RouteSpec } from '../route.js';
import type { HttpServices } from '../services.js';
import { ExecResultShape } from '../shapes.js';

const ExecQuery = z.object({
  stream: QueryBool.optional().describe('Answer with an NDJSON stream of frames (also: Accept: application/x-ndjson; Accept: application/vnd.agentd.exec-frames streams binary frames instead).'),
  priority: QueryInt.pipe(z.number().max(10)).optional().describe("The intent's metadata.priority, 0 (lowest) to 10 (default 5): below 5 the command runs at a higher nice value."),
}).strict();

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
        200: { description: 'ExecResult (JSON); when streaming, frames start/stdout/stderr/exit|error as NDJSON or binary frames (docs/api.md)', schema: ExecResultShape },
      },
      handler: async ({ principal, params, query, body, signal, req, reply }) => {
        const format = streamFormatOf(req.headers.accept, query.stream);
        const key = idempotencyKey(req.headers);
        const intent = {
          capability: 'shell.exec.v1',
          params: body,
          sandbox_prefs: { sandbox_id: params.id },
          metadata: { ...(key ? { idempotency_key: key } : {}), ...(query.priority === undefined ? {} : { priority: query.priority }) },
        };
        // Tracked as a command (an id, listable, attachable, killable by id) but tied to this
        // request as before: the client going away cancels it (background commands do not).
        if (format === undefined) {
          const { response: resp } = await svc.commands.execute(principal, intent, { signal });
          if (resp.result) return execResultFromIntent(resp.result);
          throw errorOfResponse(resp.error ?? { code: 'INTERNAL', message: 'no result', details: {}, retryable: false });
        }
        const out = new HttpExecStream(reply, signal, format);
        const { response: resp } = await svc.commands.execute(principal, intent, {
          signal, listener: out, onCommand: (c) => (out.startFields = { command_id: c.id }),
        });
        if (resp.result) {
          const { stdout: _o, stderr: _e, ...rest } = execResultFromIntent(resp.result);
          out.exit(rest);
          return reply;
        }
        const error = resp.error ?? { code: 'INTERNAL' as const, message: 'no result', details: {}, retryable: false };
        if (!out.started) throw errorOfResponse(error);
        out.error(error);
        return reply;
      },
    }),
  ];
}
