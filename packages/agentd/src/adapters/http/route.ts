import type { FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { Principal } from '../../auth/types.js';

export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'DELETE';

export interface RouteResponse {
  description: string;
  /** JSON answer shape (OpenAPI only). */
  schema?: z.ZodType;
  /** Other media types (NDJSON, octet-stream, Prometheus text). */
  contentType?: string;
}

export interface RouteContext<Q, B> {
  principal: Principal;
  params: Record<string, string>;
  query: Q;
  body: B;
  /** Raw body bytes (PUT files). */
  raw: Buffer | undefined;
  /** Aborted when the client goes away before the answer is complete. */
  signal: AbortSignal;
  req: FastifyRequest;
  reply: FastifyReply;
}

/** One REST route: the single source for registration, validation and the OpenAPI document. */
export interface RouteSpec<Q = unknown, B = unknown> {
  method: HttpMethod;
  /** Fastify path syntax: `/v1/sandboxes/:id`. */
  url: string;
  operationId: string;
  summary: string;
  tag: string;
  /** false for /healthz, /readyz, /metrics, /openapi.json. */
  auth: boolean;
  query?: z.ZodType<Q>;
  body?: z.ZodType<B>;
  /** The body is raw bytes (application/octet-stream). */
  rawBody?: boolean;
  bodyLimit?: number;
  responses: Record<number, RouteResponse>;
  /**
   * A WebSocket route (adapters/http/ws.ts registers it): in the OpenAPI document as a GET
   * with `x-websocket` and a 101 answer, never registered from this spec.
   */
  websocket?: { description: string };
  handler(ctx: RouteContext<Q, B>): Promise<unknown>;
}

export function route<Q = unknown, B = unknown>(spec: RouteSpec<Q, B>): RouteSpec<unknown, unknown> {
  return spec;
}

/** Query-string booleans: "true"/"1" and "false"/"0". */
export const QueryBool = z.enum(['true', 'false', '1', '0']).transform((v) => v === 'true' || v === '1');
/** Query-string non-negative integers. */
export const QueryInt = z.string().regex(/^\d{1,15}$/, 'must be a non-negative integer').transform(Number);
