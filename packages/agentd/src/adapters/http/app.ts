import { EventEmitter } from 'node:events';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { AgentdError } from '../../core/errors.js';
import type { AuthRequest } from '../../auth/types.js';
import { zodError } from '../../pipeline/zod-error.js';
import { toHttpError } from './errors.js';
import { buildOpenApi, openApiPath } from './openapi.js';
import type { RouteSpec } from './route.js';
import type { HttpServices, HttpTimeouts } from './services.js';
import { systemRoutes } from './routes/system.js';
import { sandboxRoutes } from './routes/sandboxes.js';
import { execRoutes } from './routes/exec.js';
import { fileRoutes } from './routes/files.js';
import { intentRoutes } from './routes/intents.js';
import { sessionRoutes } from './routes/sessions.js';
import { adminRoutes } from './routes/admin.js';
import { commandRoutes } from './routes/commands.js';
import { registerWebSockets } from './ws.js';
import { watchRoutes } from './routes/watch.js';
import { McpHttp } from '../mcp/http.js';
import { networkRoutes } from './routes/network.js';
import { portRoutes } from './routes/ports.js';
import { attachUpgrades } from './upgrade.js';
import { imageRoutes } from './routes/images.js';
import { e2bRewriteUrl, registerE2b } from '../e2b/index.js';
import { follow } from '../../util/abort.js';

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
  const f = follow(stopping);
  reply.raw.once('close', () => {
    f.dispose();
    if (!reply.raw.writableFinished) f.controller.abort(new AgentdError('CANCELLED', 'the client went away'));
  });
  return f.signal;
}

/**
 * Largest body a request may send before it is authenticated: routes without auth (health,
 * metrics, OpenAPI), and the 404 answer. Authenticated routes take their full limit only
 * once the headers have authenticated the caller (or, for a signed request, named a known
 * key with a fresh timestamp: the signature covers the body, so it is checked after it).
 */
export const PREAUTH_BODY_LIMIT = 64 * 1024;

function notFoundBody(req: FastifyRequest): { error: ReturnType<AgentdError['toJSON']> } {
  return { error: new AgentdError('NOT_FOUND', `no route ${req.method} ${req.url.split('?')[0] ?? ''}`, { details: { reason: 'route' } }).toJSON() };
}

/** Whether the request still has body bytes on the wire. */
function hasBody(req: FastifyRequest): boolean {
  const length = req.headers['content-length'];
  return req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}

/**
 * A refusal before the body is read: the connection closes after the answer, so the body
 * the caller still sends is never read into the daemon.
 */
function closeAfterReply(req: FastifyRequest, reply: FastifyReply): void {
  if (hasBody(req)) void reply.header('connection', 'close');
}

function auditAuthFailure(req: FastifyRequest, svc: HttpServices, err: unknown): void {
  const e = err instanceof AgentdError ? err : undefined;
  if (e?.code === 'INTERNAL') return;
  const peer = svc.peerOf(req.raw.socket);
  svc.store.audit.recordAuthFailure({
    source: peer ? `unix:uid:${peer.uid}` : (req.socket.remoteAddress ?? 'unknown'),
    code: e?.code ?? 'UNAUTHENTICATED',
    reason: e?.message ?? 'authentication failed',
    method: req.method,
    route: req.routeOptions.url ?? 'unknown',
  });
}

/** Authentication on the headers, before any body byte is read (fastify onRequest). */
async function authenticateOnHeaders(req: FastifyRequest, reply: FastifyReply, svc: HttpServices): Promise<void> {
  try {
    const decided = await svc.auth().authenticateHeaders(authRequest(req, svc));
    if (decided === 'body') req.authPending = true;
    else req.principal = decided;
  } catch (err) {
    auditAuthFailure(req, svc, err);
    closeAfterReply(req, reply);
    throw err;
  }
}

/** The rest of a signed request's check, once its body is in (fastify preValidation). */
async function authenticateWithBody(req: FastifyRequest, reply: FastifyReply, svc: HttpServices): Promise<void> {
  try {
    req.principal = await svc.auth().authenticate(authRequest(req, svc));
    req.authPending = false;
  } catch (err) {
    auditAuthFailure(req, svc, err);
    closeAfterReply(req, reply);
    throw err;
  }
}

function register(app: FastifyInstance, spec: RouteSpec, svc: HttpServices): void {
  app.route({
    method: spec.method,
    url: spec.url,
    bodyLimit: spec.auth ? (spec.bodyLimit ?? svc.bodyLimit) : Math.min(PREAUTH_BODY_LIMIT, spec.bodyLimit ?? svc.bodyLimit),
    ...(spec.auth ? {
      onRequest: async (req: FastifyRequest, reply: FastifyReply) => authenticateOnHeaders(req, reply, svc),
      preValidation: async (req: FastifyRequest, reply: FastifyReply) => {
        if (req.authPending === true) await authenticateWithBody(req, reply, svc);
      },
    } : {}),
    handler: async (req, reply) => {
      if (spec.auth && (req.principal === undefined || req.authPending === true)) {
        throw new AgentdError('INTERNAL', 'route reached without authentication');
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

/** How often node:http checks request and header timeouts: a quarter of the shortest, 250 ms to 30 s. */
export function connectionsCheckingInterval(t: HttpTimeouts): number {
  return Math.max(250, Math.min(30_000, Math.floor(Math.min(t.requestTimeoutMs, t.headersTimeoutMs) / 4)));
}

/**
 * The REST API as a fastify app (listening is the runtime's job: TCP and the Unix socket
 * share this app). One error mapper, one auth step, one validation step per route.
 */
export function buildHttpApp(svc: HttpServices): HttpApp {
  const t = svc.timeouts;
  const app = Fastify({
    logger: false,
    bodyLimit: svc.bodyLimit,
    exposeHeadRoutes: false,
    return503OnClosing: true,
    forceCloseConnections: 'idle',
    // A stalled caller cannot hold a connection and its buffers forever (node:http: 408 and close).
    requestTimeout: t.requestTimeoutMs,
    keepAliveTimeout: t.keepAliveTimeoutMs,
    http: { headersTimeout: t.headersTimeoutMs, connectionsCheckingInterval: connectionsCheckingInterval(t) },
    // The E2B in-sandbox plane is routed by headers (E2b-Sandbox-Id) or Host: rewritten to its own routes (adapters/e2b).
    ...(svc.e2b ? { rewriteUrl: e2bRewriteUrl(svc.e2b.domain) } : {}),
  });
  app.decorateRequest('rawBody', undefined);
  app.decorateRequest('principal', undefined);
  app.decorateRequest('authPending', false);
  // An unknown route answers 404 before its body is read (and closes if one is on the way).
  app.addHook('onRequest', async (req, reply) => {
    if (!req.is404) return undefined;
    closeAfterReply(req, reply);
    return reply.code(404).type('application/json').send(notFoundBody(req));
  });
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
    // The E2B API is E2B's wire format, documented in docs/e2b.md, not in agentd's OpenAPI.
    if (r.url.startsWith('/e2b/') || r.url === '/e2b') return;
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
    void reply.code(404).type('application/json').send(notFoundBody(req));
  });

  // MCP over streamable HTTP (adapters/mcp): authenticated routes like the others; its sessions end when the app closes.
  const mcp = new McpHttp(svc);
  app.addHook('preClose', async () => mcp.close());
  const routes: RouteSpec[] = [
    ...sandboxRoutes(svc), ...execRoutes(svc), ...fileRoutes(svc), ...intentRoutes(svc), ...sessionRoutes(svc), ...adminRoutes(svc), ...commandRoutes(svc), ...watchRoutes(svc), ...mcp.routes(), ...networkRoutes(svc), ...portRoutes(svc), ...imageRoutes(svc),
  ];
  let doc: Record<string, unknown> | undefined;
  const openapi = (): Record<string, unknown> => (doc ??= buildOpenApi(all, svc.version));
  const all: RouteSpec[] = [...systemRoutes(svc, openapi), ...routes];
  for (const r of all) if (r.websocket === undefined) register(app, r, svc);
  // One 'upgrade' listener for the listener (TCP and, forwarded, the Unix socket): a sandbox port's
  // proxy path goes to the port relay (upgrade.ts); every other upgrade to the WebSocket routes (ws.ts).
  const wsUpgrades = new EventEmitter();
  const e2b = svc.e2b ? registerE2b(app, svc, svc.e2b) : undefined;
  attachUpgrades(app.server, svc, (req, socket, head) => e2b?.upgrade(req, socket, head) === true || wsUpgrades.emit('upgrade', req, socket, head));
  registerWebSockets(app, svc, {
    onRequest: async (req, reply) => authenticateOnHeaders(req, reply, svc),
    preValidation: async (req, reply) => {
      if (req.authPending === true) await authenticateWithBody(req, reply, svc);
    },
  }, wsUpgrades);
  return { app, registered, openapi };
}
