import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { AgentdError } from '../../core/errors.js';
import type { AuthRequest } from '../../auth/types.js';
import { zodError } from '../../pipeline/zod-error.js';
import { toHttpError } from './errors.js';
import { buildOpenApi, openApiPath } from './openapi.js';
import type { RouteSpec } from './route.js';
import type { HttpServices } from './services.js';
import { systemRoutes } from './routes/system.js';
import { sandboxRoutes } from './routes/sandboxes.js';
import { execRoutes } from './routes/exec.js';
import { fileRoutes } from './routes/files.js';
import { intentRoutes } from './routes/intents.js';
import { sessionRoutes } from './routes/sessions.js';
import { adminRoutes } from './routes/admin.js';

export interface HttpApp {
  app: FastifyInstance;
  /** Every route registered with fastify ("GET /v1/sandboxes/{id}"), for the OpenAPI drift test. */
  registered: string[];
  /** The OpenAPI document (built on first use: converting every schema takes a while). */
  openapi(): Record<string, unknown>;
}

function authRequest(req: FastifyRequest, svc: HttpServices): AuthRequest {
  const peer = svc.peerOf(req.raw.socket);
  return {
    headers: req.headers,
    method: req.method,
    path: req.url,
    ...(req.rawBody && req.rawBody.length > 0 ? { body: req.rawBody } : {}),
    ...(peer ? { peer } : {}),
    ...(req.socket.remoteAddress ? { remoteAddress: req.socket.remoteAddress } : {}),
    transport: peer ? 'unix' : 'http',
  };
}

/** Aborted when the client goes away before the answer is complete, or when the daemon's stop grace ends. */
function requestSignal(reply: FastifyReply, stopping: AbortSignal): AbortSignal {
  const ac = new AbortController();
  reply.raw.once('close', () => {
    if (!reply.raw.writableFinished) ac.abort(new AgentdError('CANCELLED', 'the client went away'));
  });
  return AbortSignal.any([ac.signal, stopping]);
}

function register(app: FastifyInstance, spec: RouteSpec, svc: HttpServices): void {
  app.route({
    method: spec.method,
    url: spec.url,
    ...(spec.bodyLimit ? { bodyLimit: spec.bodyLimit } : {}),
    handler: async (req, reply) => {
      if (spec.auth) {
        try {
          req.principal = await svc.auth().authenticate(authRequest(req, svc));
        } catch (err) {
          svc.store.audit.append({ subject: null, tenant: null, action: 'auth', status: 'denied', code: 'UNAUTHENTICATED', details: { method: req.method, route: spec.url } });
          throw err;
        }
      }
      let query: unknown = req.query;
      if (spec.query) {
        const q = spec.query.safeParse(req.query ?? {});
        if (!q.success) throw zodError(q.error, 'query');
        query = q.data;
      }
      let body: unknown = req.body;
      if (spec.body) {
        if (req.body === undefined || Buffer.isBuffer(req.body)) {
          throw new AgentdError('INVALID_ARGUMENT', 'expected a JSON body (Content-Type: application/json)', { details: { reason: 'content_type' } });
        }
        const b = spec.body.safeParse(req.body);
        if (!b.success) throw zodError(b.error, 'body');
        body = b.data;
      }
      const principal = req.principal ?? { subject: 'anonymous', tenant: 'default', roles: [], provider: 'none' };
      return spec.handler({
        principal, params: req.params as Record<string, string>, query, body, raw: req.rawBody, signal: requestSignal(reply, svc.stopping), req, reply,
      });
    },
  });
}

/**
 * The REST API as a fastify app (listening is the runtime's job: TCP and the Unix socket
 * share this app). One error mapper, one auth step, one validation step per route.
 */
export function buildHttpApp(svc: HttpServices): HttpApp {
  const app = Fastify({
    logger: false,
    bodyLimit: svc.bodyLimit,
    exposeHeadRoutes: false,
    return503OnClosing: true,
    forceCloseConnections: 'idle',
  });
  app.decorateRequest('rawBody', undefined);
  app.decorateRequest('principal', undefined);
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (req, body, done) => {
    const buf = body as Buffer;
    req.rawBody = buf;
    if (buf.length === 0) {
      done(null, undefined);
      return;
    }
    try {
      done(null, JSON.parse(buf.toString('utf8')) as unknown);
    } catch (err) {
      done(err as Error, undefined);
    }
  });
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (req, body, done) => {
    req.rawBody = body as Buffer;
    done(null, body);
  });

  const registered: string[] = [];
  app.addHook('onRoute', (r) => {
    for (const m of [r.method].flat()) registered.push(`${m} ${openApiPath(r.url)}`);
  });
  app.setErrorHandler((err, req, reply) => {
    const { status, body } = toHttpError(err);
    if (status >= 500 && body.error.code === 'INTERNAL') svc.logger.error({ err: (err as Error).message, stack: (err as Error).stack, url: req.url }, 'internal error');
    if (body.error.retry_after_ms !== undefined) void reply.header('retry-after', Math.max(1, Math.ceil(body.error.retry_after_ms / 1000)));
    if (reply.sent || reply.raw.headersSent) return;
    void reply.code(status).type('application/json').send(body);
  });
  app.setNotFoundHandler((req, reply) => {
    void reply.code(404).type('application/json').send({
      error: new AgentdError('NOT_FOUND', `no route ${req.method} ${req.url.split('?')[0] ?? ''}`, { details: { reason: 'route' } }).toJSON(),
    });
  });

  const routes: RouteSpec[] = [
    ...sandboxRoutes(svc), ...execRoutes(svc), ...fileRoutes(svc), ...intentRoutes(svc), ...sessionRoutes(svc), ...adminRoutes(svc),
  ];
  let doc: Record<string, unknown> | undefined;
  const openapi = (): Record<string, unknown> => (doc ??= buildOpenApi(all, svc.version));
  const all: RouteSpec[] = [...systemRoutes(svc, openapi), ...routes];
  for (const r of all) register(app, r, svc);
  return { app, registered, openapi };
}
