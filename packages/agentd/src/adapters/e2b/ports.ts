import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { AgentdError, toAgentdError } from '../../core/errors.js';
import { proxiedHead, relayAnswer } from '../http/routes/ports.js';
import type { HttpServices } from '../http/services.js';
import { PORT_PREFIX } from './constants.js';
import { authenticateEnvd, SandboxGone, type EnvdAuthDeps } from './envd/auth.js';
import type { EnvdCaller } from './envd/types.js';
import { sandboxTarget, type SandboxTarget } from './routing.js';

/** The E2B plane's own headers: never passed to the server in the sandbox. */
const E2B_HEADERS = ['x-access-token', 'e2b-traffic-access-token', 'e2b-sandbox-id', 'e2b-sandbox-port'];

function withoutE2bHeaders(h: IncomingMessage['headers']): IncomingMessage['headers'] {
  const out = { ...h };
  for (const k of E2B_HEADERS) delete out[k];
  return out;
}

async function open(svc: HttpServices, auth: EnvdAuthDeps, target: SandboxTarget, headers: IncomingMessage['headers']): Promise<Socket> {
  if (!svc.network) throw new AgentdError('UNAVAILABLE', 'this daemon runs without its network service: no port relay');
  if (target.port === 0) throw new AgentdError('INVALID_ARGUMENT', 'E2b-Sandbox-Port must be 1-65535');
  const caller: EnvdCaller = authenticateEnvd(auth, target.sandboxId, headers, { traffic: true });
  const net = svc.network;
  return svc.pipeline.gate.run(caller.principal, {
    name: 'sandbox.ports.proxy', sandboxId: caller.sandboxId, target: { port: String(target.port), via: 'e2b' },
    run: () => net.openPort(caller.sandboxId, target.port),
  });
}

function status(err: unknown): { status: number; text: string } {
  if (err instanceof SandboxGone) return { status: 502, text: err.message };
  const e = toAgentdError(err);
  return { status: e.httpStatus === 499 || e.httpStatus === 200 ? 400 : e.httpStatus, text: e.code === 'INTERNAL' ? 'internal error' : e.message };
}

/**
 * A port of the sandbox other than envd's (routing.ts rewrote the request to
 * `/e2b/port/<id>/<port>/...`): the request goes to that port inside the sandbox through
 * agentd's port relay (network/), the server's answer comes back as it sent it.
 */
export function registerPortRelay(app: FastifyInstance, svc: HttpServices, auth: EnvdAuthDeps): void {
  app.register(async (scope) => {
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));
    scope.setErrorHandler((err, _req, reply) => {
      if (reply.sent || reply.raw.headersSent) return;
      const s = status(err);
      void reply.code(s.status).type('application/json').send({ code: s.status, message: s.text });
    });
    // The caller is checked on the headers, before any body byte is read (and again when the relay opens).
    scope.addHook('onRequest', async (req, reply) => {
      const params = req.params as { sandboxId?: string };
      try {
        authenticateEnvd(auth, params.sandboxId ?? '', req.headers, { traffic: true });
      } catch (err) {
        if (err instanceof AgentdError && err.code === 'UNAUTHENTICATED') {
          svc.store.audit.recordAuthFailure({ source: req.socket.remoteAddress ?? 'unix', code: err.code, reason: err.message, method: req.method, route: req.routeOptions.url ?? 'unknown' });
        }
        if (req.headers['content-length'] !== undefined || req.headers['transfer-encoding'] !== undefined) void reply.header('connection', 'close');
        throw err;
      }
    });
    const handler = async (req: FastifyRequest, reply: FastifyReply): Promise<void> => {
      const params = req.params as { sandboxId?: string; port?: string; '*'?: string };
      const port = /^\d{1,5}$/.test(params.port ?? '') ? Number(params.port) : 0;
      const inner = await open(svc, auth, { sandboxId: params.sandboxId ?? '', port: port <= 65535 ? port : 0 }, req.headers);
      const q = req.url.indexOf('?');
      const path = `/${params['*'] ?? ''}${q >= 0 ? req.url.slice(q) : ''}`;
      const body = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
      inner.write(proxiedHead(req.method, path, withoutE2bHeaders(req.headers), port, body.length));
      if (body.length > 0) inner.write(body);
      relayAnswer(inner, reply);
    };
    scope.route({ method: ['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'HEAD', 'OPTIONS'], url: '/:sandboxId/:port', handler });
    scope.route({ method: ['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'HEAD', 'OPTIONS'], url: '/:sandboxId/:port/*', handler });
  }, { prefix: PORT_PREFIX });
}

/**
 * An HTTP upgrade (WebSocket) of the in-sandbox plane: relayed to the port the headers (or
 * Host) name. Returns false when the request is not the E2B plane's (the caller routes it).
 */
export function handleE2bUpgrade(svc: HttpServices, auth: EnvdAuthDeps, domain: string, req: IncomingMessage, socket: Duplex, head: Buffer): boolean {
  const target = sandboxTarget(req, domain);
  if (target === undefined) return false;
  socket.on('error', () => undefined);
  void (async () => {
    const inner = await open(svc, auth, target, req.headers);
    let text = proxiedHead(req.method ?? 'GET', req.url ?? '/', withoutE2bHeaders(req.headers), target.port, 0);
    text = text.replace('Content-Length: 0\r\nConnection: close\r\n', `Connection: Upgrade\r\nUpgrade: ${String(req.headers.upgrade ?? '').replace(/[\r\n]/g, '')}\r\n`);
    inner.write(text);
    if (head.length > 0) inner.write(head);
    inner.on('error', () => socket.destroy());
    socket.on('error', () => inner.destroy());
    inner.on('close', () => socket.destroy());
    socket.on('close', () => inner.destroy());
    inner.pipe(socket);
    socket.pipe(inner);
    inner.resume();
  })().catch((err: unknown) => {
    if (err instanceof AgentdError && err.code === 'UNAUTHENTICATED') {
      svc.store.audit.recordAuthFailure({ source: req.socket.remoteAddress ?? 'unix', code: err.code, reason: err.message, method: req.method ?? 'GET', route: '/e2b/port (upgrade)' });
    }
    const s = status(err);
    const json = JSON.stringify({ code: s.status, message: s.text });
    socket.end(`HTTP/1.1 ${s.status} Error\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(json)}\r\nConnection: close\r\n\r\n${json}`);
  });
  return true;
}
