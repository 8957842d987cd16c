import { z } from 'zod';
import { route, type RouteSpec } from '../route.js';
import type { HttpServices } from '../services.js';

export function systemRoutes(svc: HttpServices, openapi: () => Record<string, unknown>): RouteSpec[] {
  return [
    route({
      method: 'GET', url: '/healthz', operationId: 'health', summary: 'Liveness: the process answers.', tag: 'system', auth: false,
      responses: { 200: { description: 'Alive', schema: z.object({ status: z.literal('ok') }) } },
      handler: async () => ({ status: 'ok' }),
    }),
    route({
      method: 'GET', url: '/readyz', operationId: 'ready', summary: 'Readiness: backend and state usable.', tag: 'system', auth: false,
      responses: {
        200: { description: 'Ready', schema: z.object({ status: z.string(), checks: z.record(z.string(), z.string()) }) },
        503: { description: 'Not ready', schema: z.object({ status: z.string(), checks: z.record(z.string(), z.string()) }) },
      },
      handler: async ({ reply }) => {
        const r = await svc.ready();
        void reply.code(r.ready ? 200 : 503);
        return { status: r.ready ? 'ready' : 'not_ready', checks: r.checks };
      },
    }),
    route({
      method: 'GET', url: '/metrics', operationId: 'metrics', summary: 'Prometheus metrics.', tag: 'system', auth: false,
      responses: { 200: { description: 'Prometheus text format', contentType: 'text/plain' } },
      handler: async ({ reply }) => {
        void reply.type(svc.metrics.registry.contentType);
        return svc.metrics.registry.metrics();
      },
    }),
    route({
      method: 'GET', url: '/openapi.json', operationId: 'openapi', summary: 'This OpenAPI 3.1 document.', tag: 'system', auth: false,
      responses: { 200: { description: 'OpenAPI document', contentType: 'application/json' } },
      handler: async () => openapi(),
    }),
    route({
      method: 'GET', url: '/v1/capabilities', operationId: 'listCapabilities', summary: 'Capabilities with their params JSON Schemas.', tag: 'intents', auth: true,
      responses: {
        200: {
          description: 'Capabilities',
          schema: z.object({ capabilities: z.array(z.object({ name: z.string(), version: z.string(), description: z.string(), params_schema: z.unknown() })) }),
        },
      },
      handler: async () => ({ capabilities: svc.capabilities.describe() }),
    }),
  ];
}
