import { z } from 'zod';
import type { RouteSpec } from './route.js';
import { ErrorEnvelope } from './shapes.js';

const jsonSchema = (schema: z.ZodType, io: 'input' | 'output'): unknown => z.toJSONSchema(schema, { io, unrepresentable: 'any', target: 'draft-2020-12' });

/** `/v1/sandboxes/:id` -> `/v1/sandboxes/{id}` */
export function openApiPath(url: string): string {
  return url.replace(/:([A-Za-z0-9_]+)/g, '{$1}');
}

function queryParameters(schema: z.ZodType | undefined): unknown[] {
  if (!schema) return [];
  const js = jsonSchema(schema, 'input') as { properties?: Record<string, { description?: string }>; required?: string[] };
  return Object.entries(js.properties ?? {}).map(([name, s]) => ({
    name, in: 'query', required: js.required?.includes(name) ?? false, schema: { type: 'string' }, ...(s.description ? { description: s.description } : {}),
  }));
}

/** The OpenAPI 3.1 document of the routes, generated from the same specs fastify registers. */
export function buildOpenApi(routes: ReadonlyArray<RouteSpec>, version: string): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const r of routes) {
    const path = openApiPath(r.url);
    const pathParams = [...r.url.matchAll(/:([A-Za-z0-9_]+)/g)].map((m) => ({ name: m[1], in: 'path', required: true, schema: { type: 'string' } }));
    const responses: Record<string, unknown> = {};
    for (const [status, resp] of Object.entries(r.responses)) {
      const content = resp.contentType
        ? { [resp.contentType]: { schema: resp.contentType === 'application/json' && resp.schema ? jsonSchema(resp.schema, 'output') : {} } }
        : resp.schema
          ? { 'application/json': { schema: jsonSchema(resp.schema, 'output') } }
          : undefined;
      responses[status] = { description: resp.description, ...(content ? { content } : {}) };
    }
    responses.default = { description: 'Error envelope with a stable code', content: { 'application/json': { schema: jsonSchema(ErrorEnvelope, 'output') } } };
    const op: Record<string, unknown> = {
      operationId: r.operationId,
      summary: r.summary,
      tags: [r.tag],
      parameters: [...pathParams, ...queryParameters(r.query)],
      responses,
      ...(r.auth ? {} : { security: [] }),
      ...(r.websocket ? { 'x-websocket': true, description: r.websocket.description } : {}),
    };
    if (r.body) op.requestBody = { required: true, content: { 'application/json': { schema: jsonSchema(r.body, 'input') } } };
    if (r.rawBody) op.requestBody = { required: true, content: { 'application/octet-stream': { schema: { type: 'string', format: 'binary' } } } };
    (paths[path] ??= {})[r.method.toLowerCase()] = op;
  }
  return {
    openapi: '3.1.0',
    info: { title: 'agentd REST API', version },
    servers: [{ url: '/' }],
    components: {
      securitySchemes: {
        bearer: { type: 'http', scheme: 'bearer', description: 'An agentd API key or a JWT' },
        signature: { type: 'apiKey', in: 'header', name: 'X-Agentd-Signature', description: 'Ed25519 request signature (with X-Agentd-Key-Id and X-Agentd-Timestamp)' },
      },
    },
    security: [{ bearer: [] }, { signature: [] }],
    paths,
  };
}
