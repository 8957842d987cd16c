import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { AgentdError, toAgentdError } from '../../core/errors.js';
import type { HttpServices } from '../http/services.js';
import { ENVD_PREFIX } from './constants.js';
import { authenticateEnvd, SandboxGone, type EnvdAuthDeps, type FileSignatureQuery } from './envd/auth.js';
import { connectError } from './envd/errors.js';
import type { EnvdCaller, EnvdRpc } from './envd/types.js';
import { downloadFile, fileErrorStatus, uploadFiles } from './files.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The in-sandbox caller (E2B plane), set by its onRequest hook. */
    envdCaller: EnvdCaller | undefined;
  }
}

function requestSignal(reply: FastifyReply, stopping: AbortSignal): AbortSignal {
  const ac = new AbortController();
  reply.raw.once('close', () => {
    if (!reply.raw.writableFinished) ac.abort(new AgentdError('CANCELLED', 'the client went away'));
  });
  return AbortSignal.any([ac.signal, stopping]);
}

function firstOf(v: unknown): string | undefined {
  return Array.isArray(v) ? (v[0] as string | undefined) : typeof v === 'string' ? v : undefined;
}

/** A presigned file URL's signature (GET/POST /files?signature=...), for the auth step. */
function signedFile(req: FastifyRequest): { signed?: FileSignatureQuery } {
  const q = req.query as Record<string, unknown>;
  const signature = firstOf(q.signature);
  if (signature === undefined || !/\/files$/.test(req.url.split('?')[0] ?? '')) return {};
  return { signed: { operation: req.method === 'GET' ? 'read' : 'write', path: firstOf(q.path) ?? '', username: firstOf(q.username), signature, expiration: firstOf(q.signature_expiration) } };
}

const RPC = /\/(process\.Process|filesystem\.Filesystem)\/[A-Za-z]+$/;

/**
 * The envd routes of the in-sandbox plane (requests rewritten by routing.ts to
 * `/e2b/envd/<id>/...`): health, the HTTP file routes, and the Connect-RPC services (envd/rpc.ts).
 * Every request is authenticated on its headers (envd/auth.ts) before its body is read.
 */
export function registerEnvdRoutes(app: FastifyInstance, svc: HttpServices, auth: EnvdAuthDeps, rpc: EnvdRpc): void {
  app.decorateRequest('envdCaller', undefined);
  app.register(async (scope) => {
    // Bodies stay streams here: uploads go to the sandbox piece by piece, RPC bodies are read by their route.
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', (_req, payload, done) => done(null, payload));

    scope.addHook('onRequest', async (req) => {
      const id = (req.params as { sandboxId?: string }).sandboxId ?? '';
      try {
        req.envdCaller = authenticateEnvd(auth, id, req.headers, { ...signedFile(req) });
      } catch (err) {
        if (!(err instanceof SandboxGone)) {
          svc.store.audit.recordAuthFailure({ source: req.socket.remoteAddress ?? 'unix', code: 'UNAUTHENTICATED', reason: (err as Error).message, method: req.method, route: req.routeOptions.url ?? 'unknown' });
        }
        throw err;
      }
    });

    scope.setErrorHandler((err, req, reply) => {
      if (reply.sent || reply.raw.headersSent) return;
      const connect = RPC.test(req.url.split('?')[0] ?? '');
      if (req.headers['content-length'] !== undefined || req.headers['transfer-encoding'] !== undefined) void reply.header('connection', 'close');
      if (err instanceof SandboxGone) {
        const body = connect ? { code: 'unavailable', message: err.message } : { code: 502, message: err.message };
        return void reply.code(502).type('application/json').send(body);
      }
      const e = toAgentdError(err);
      if (e.code === 'INTERNAL') svc.logger.error({ err: (err as Error).message, stack: (err as Error).stack, url: req.url }, 'e2b in-sandbox error');
      if (connect) {
        const c = connectError(err);
        return void reply.code(c.status).type('application/json').send(c.body);
      }
      const status = fileErrorStatus(e);
      return void reply.code(status).type('application/json').send({ code: status, message: e.code === 'INTERNAL' ? 'internal error' : e.message });
    });

    scope.get('/:sandboxId/health', async (_req, reply) => reply.code(204).send());

    scope.get('/:sandboxId/files', async (req, reply) => {
      const q = req.query as Record<string, unknown>;
      await downloadFile(svc, req.envdCaller as EnvdCaller, reply, { path: firstOf(q.path), username: firstOf(q.username) }, requestSignal(reply, svc.stopping));
    });

    scope.post('/:sandboxId/files', async (req, reply) => {
      const q = req.query as Record<string, unknown>;
      const out = await uploadFiles(svc, req.envdCaller as EnvdCaller, req, { path: firstOf(q.path), username: firstOf(q.username) }, requestSignal(reply, svc.stopping));
      return reply.code(200).type('application/json').send(out);
    });

    const rpcRoute = (service: 'process.Process' | 'filesystem.Filesystem') => async (req: FastifyRequest, reply: FastifyReply): Promise<void> => {
      const body = await readBody(req, svc.bodyLimit);
      const method = (req.params as { method?: string }).method ?? '';
      await rpc.handle({ service, method, caller: req.envdCaller as EnvdCaller, body, req, reply, signal: requestSignal(reply, svc.stopping) });
    };
    // envd's other routes (/envs, /init, /metrics) are not served: 501, at once.
    scope.route({ method: ['GET', 'POST', 'PUT', 'DELETE', 'PATCH'], url: '/:sandboxId/*', handler: async (req, reply) => {
      return reply.code(501).type('application/json').send({ code: 501, message: `agentd's E2B API does not serve the in-sandbox route ${req.method} /${(req.params as { '*'?: string })['*'] ?? ''}` });
    } });
    scope.post('/:sandboxId/process.Process/:method', rpcRoute('process.Process'));
    scope.post('/:sandboxId/filesystem.Filesystem/:method', rpcRoute('filesystem.Filesystem'));
  }, { prefix: ENVD_PREFIX });
  app.addHook('preClose', async () => rpc.close());
}

/** An RPC body, whole (they are small: unary JSON or a few Connect envelopes), at most `limit` bytes. */
async function readBody(req: FastifyRequest, limit: number): Promise<Buffer> {
  const stream = req.body as NodeJS.ReadableStream | undefined;
  if (stream === undefined || typeof (stream as { on?: unknown }).on !== 'function') return Buffer.alloc(0);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of stream) {
    const b = c as Buffer;
    size += b.length;
    if (size > limit) throw new AgentdError('PAYLOAD_TOO_LARGE', `the request body is larger than ${limit} bytes`);
    chunks.push(b);
  }
  return Buffer.concat(chunks);
}
