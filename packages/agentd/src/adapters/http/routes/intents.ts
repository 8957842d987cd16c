import { ERROR_CODES } from '../../../core/codes.js';
import { IntentRequest } from '../../../core/intent.js';
import { isErrorCode } from '../../../core/codes.js';
import { route, type RouteSpec } from '../route.js';
import type { HttpServices } from '../services.js';
import { IntentResponseShape } from '../shapes.js';
import { idempotencyKey } from './exec.js';

export function intentRoutes(svc: HttpServices): RouteSpec[] {
  return [
    route<unknown, IntentRequest>({
      method: 'POST', url: '/v1/intents', operationId: 'submitIntent', summary: 'Run any capability as an intent.', tag: 'intents', auth: true,
      body: IntentRequest,
      responses: { 200: { description: 'IntentResponse (other statuses: the status of error.code, with the same body)', schema: IntentResponseShape } },
      handler: async ({ principal, body, req, signal, reply }) => {
        const key = idempotencyKey(req.headers);
        const intent = key && body.metadata.idempotency_key === undefined ? { ...body, metadata: { ...body.metadata, idempotency_key: key } } : body;
        const resp = await svc.pipeline.execute(principal, intent, { signal });
        const status = resp.status === 'ok' ? 200 : isErrorCode(resp.code) ? ERROR_CODES[resp.code].httpStatus : 500;
        void reply.code(status);
        return resp;
      },
    }),
  ];
}
