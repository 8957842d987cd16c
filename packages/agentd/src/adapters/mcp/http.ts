/**
 * Streamable HTTP at /mcp on the daemon's listeners (TCP and the Unix socket). The routes are
 * ordinary authenticated routes of the HTTP app, so the caller passes the same auth chain as
 * any REST call before a byte of the body is read (no credential: 401 UNAUTHENTICATED, the
 * REST envelope) and the body limit is the API's. POST carries JSON-RPC (answered as JSON,
 * never SSE), DELETE ends the session; GET (a stream of server-initiated messages) answers
 * 405: this server sends none.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { isInitializeRequest } from '@modelcontextprotocol/sdk/types.js';
import type { Principal } from '../../auth/types.js';
import { AgentdError } from '../../core/errors.js';
import { route, type RouteSpec } from '../http/route.js';
import type { HttpServices } from '../http/services.js';
import { McpOperations } from './operations.js';
import { toolList } from './server.js';
import { McpSessions, type SessionLimits } from './sessions.js';
import { TOOLS, type ToolSpec } from './tools.js';

export const MCP_PATH = '/mcp';

function webHeaders(req: FastifyRequest): Headers {
  const h = new Headers();
  for (const [k, v] of Object.entries(req.headers)) {
    if (v === undefined) continue;
    for (const one of [v].flat()) h.append(k, one);
  }
  return h;
}

async function send(reply: FastifyReply, res: Response): Promise<FastifyReply> {
  void reply.code(res.status);
  res.headers.forEach((value, name) => {
    void reply.header(name, value);
  });
  const text = res.body === null ? '' : await res.text();
  return reply.send(text);
}

function sessionIdOf(req: FastifyRequest): string | undefined {
  const v = req.headers['mcp-session-id'];
  return typeof v === 'string' && v !== '' ? v : undefined;
}

export class McpHttp {
  readonly sessions: McpSessions;

  constructor(svc: HttpServices, opts: { tools?: readonly ToolSpec[]; limits?: SessionLimits } = {}) {
    const tools = opts.tools ?? TOOLS;
    this.sessions = new McpSessions({
      ops: new McpOperations({ pipeline: svc.pipeline, sandboxes: svc.sandboxes, commands: svc.commands, network: svc.network, stopping: svc.stopping }), tools, listed: toolList(tools), version: svc.version, stopping: svc.stopping, logger: svc.logger,
      ...(opts.limits ? { limits: opts.limits } : {}),
    });
  }

  private async handle(principal: Principal, req: FastifyRequest, reply: FastifyReply, body: unknown): Promise<FastifyReply> {
    const sid = sessionIdOf(req);
    let session;
    if (sid !== undefined) session = this.sessions.get(sid, principal);
    else if (req.method === 'POST' && isInitializeRequest(body)) session = await this.sessions.open(principal);
    else throw new AgentdError('INVALID_ARGUMENT', 'no Mcp-Session-Id header: start with an initialize request', { details: { reason: 'mcp_session' } });
    const request = new Request(`http://localhost${req.url}`, { method: req.method, headers: webHeaders(req) });
    const res = await session.transport.handleRequest(request, {
      parsedBody: body,
      authInfo: { token: '', clientId: principal.subject, scopes: principal.roles, extra: { principal } },
    });
    // DELETE answers once the session's default sandbox is gone.
    if (req.method === 'DELETE' && res.ok) await session.end();
    return send(reply, res);
  }

  routes(): RouteSpec[] {
    const summary = 'Model Context Protocol, streamable HTTP (docs/mcp.md).';
    return [
      route({
        method: 'POST', url: MCP_PATH, operationId: 'mcpPost', summary: `${summary} A JSON-RPC message; answered with JSON.`, tag: 'mcp', auth: true,
        responses: { 200: { description: 'JSON-RPC answer', contentType: 'application/json' }, 202: { description: 'Accepted (a notification)' } },
        handler: ({ principal, req, reply, body }) => this.handle(principal, req, reply, body),
      }),
      route({
        method: 'DELETE', url: MCP_PATH, operationId: 'mcpDelete', summary: `${summary} Ends the session (its default sandbox is destroyed).`, tag: 'mcp', auth: true,
        responses: { 200: { description: 'Session ended' } },
        handler: ({ principal, req, reply }) => this.handle(principal, req, reply, undefined),
      }),
      route({
        method: 'GET', url: MCP_PATH, operationId: 'mcpGet', summary: `${summary} No server-initiated stream: 405.`, tag: 'mcp', auth: true,
        responses: { 405: { description: 'This server sends no server-initiated messages' } },
        handler: async ({ reply }) => reply.code(405).header('allow', 'POST, DELETE').type('application/json')
          .send({ jsonrpc: '2.0', error: { code: -32000, message: 'Method not allowed: this server sends no server-initiated messages; use POST' }, id: null }),
      }),
    ];
  }

  close(): Promise<void> {
    return this.sessions.close();
  }
}
