import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { FastifyReply } from 'fastify';
import { z } from 'zod';
import { AgentdError } from '../../../core/errors.js';
import { route, type HttpMethod, type RouteSpec } from '../route.js';
import type { HttpServices } from '../services.js';

const PortShape = z.object({ port: z.number(), host: z.string(), host_port: z.number(), url: z.string() });
const Publish = z.object({ publish: z.string().min(1).max(64).describe("'8080' (any free host port), '9000:8080' or '127.0.0.1:9000:8080' (loopback only).") }).strict();

/** Headers never passed to the sandbox: the caller's credentials for the daemon, and hop-by-hop ones. */
const DROP = new Set(['authorization', 'connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'te', 'trailer', 'content-length', 'host', 'x-agentd-signature', 'x-agentd-key-id', 'x-agentd-timestamp', 'x-agentd-nonce']);

function net(svc: HttpServices): NonNullable<HttpServices['network']> {
  if (!svc.network) throw new AgentdError('UNAVAILABLE', 'this daemon runs without its network service');
  return svc.network;
}

const view = (p: { port: number; host: string; host_port: number }) => ({ ...p, url: `http://${p.host.includes(':') ? `[${p.host}]` : p.host}:${p.host_port}/` });

function portParam(s: string | undefined): number {
  const n = Number(s);
  if (!Number.isInteger(n) || n < 1 || n > 65535) throw new AgentdError('INVALID_ARGUMENT', `port '${s ?? ''}' must be 1-65535`);
  return n;
}

/** The HTTP request head sent to the sandbox's port for a proxied request (the path below `/proxy`). */
export function proxiedHead(method: string, path: string, headers: Record<string, string | string[] | undefined>, port: number, bodyLength: number): string {
  const lines = [`${method} ${path} HTTP/1.1`, `Host: 127.0.0.1:${port}`];
  for (const [k, v] of Object.entries(headers)) {
    if (DROP.has(k.toLowerCase()) || v === undefined) continue;
    for (const one of [v].flat()) if (!/[\r\n]/.test(one)) lines.push(`${k}: ${one}`);
  }
  lines.push(`Content-Length: ${bodyLength}`, 'Connection: close', '', '');
  return lines.join('\r\n');
}

/** The response head with its Connection header(s) replaced by `Connection: close` (not for a 101 upgrade). */
export function withConnectionClose(buf: Buffer, headEnd: number): Buffer {
  const head = buf.subarray(0, headEnd).toString('latin1');
  if (/^HTTP\/1\.\d 101 /.test(head)) return buf;
  const lines = head.split('\r\n').filter((l, i) => i === 0 || !/^connection\s*:/i.test(l));
  lines.push('Connection: close');
  return Buffer.concat([Buffer.from(lines.join('\r\n'), 'latin1'), buf.subarray(headEnd)]);
}

/**
 * Hands the sandbox server's answer on `inner` back to the client of `reply` byte for byte,
 * except that its head says the connection closes with it (one request per relayed
 * connection: a client must not send its next request on this one). Used by every port relay.
 */
export function relayAnswer(inner: Duplex, reply: FastifyReply): void {
  void reply.hijack();
  const client = reply.raw.socket;
  if (!client) return void inner.destroy();
  inner.on('error', () => client.destroy());
  inner.on('end', () => client.end());
  let head = Buffer.alloc(0);
  const onHead = (d: Buffer): void => {
    head = Buffer.concat([head, d]);
    const end = head.indexOf('\r\n\r\n');
    if (end < 0 && head.length < 65536) return;
    inner.off('data', onHead);
    client.write(end < 0 ? head : withConnectionClose(head, end));
    inner.pipe(client, { end: false });
  };
  inner.on('data', onHead);
  inner.resume();
  client.once('close', () => inner.destroy());
}

export function portRoutes(svc: HttpServices): RouteSpec[] {
  const gate = svc.pipeline.gate;
  const proxyMethods: HttpMethod[] = ['GET', 'POST', 'PUT', 'DELETE'];
  return [
    route({
      method: 'GET', url: '/v1/sandboxes/:id/ports', operationId: 'listSandboxPorts', summary: "A running sandbox's ports exposed on the host.", tag: 'network', auth: true,
      responses: { 200: { description: 'Ports', schema: z.object({ ports: z.array(PortShape) }) } },
      handler: ({ principal, params }) => gate.run(principal, { name: 'sandbox.ports.list', sandboxId: params.id ?? '', run: () => {
        const rec = svc.sandboxes.get(principal.tenant, params.id ?? '');
        return { ports: net(svc).listPorts(rec.id).map(view) };
      } }),
    }),
    route<unknown, z.infer<typeof Publish>>({
      method: 'POST', url: '/v1/sandboxes/:id/ports', operationId: 'addSandboxPort', summary: 'Expose a port of a running sandbox on the host (works with network none).', tag: 'network', auth: true,
      body: Publish, responses: { 201: { description: 'Exposed', schema: PortShape } },
      handler: async ({ principal, params, body, reply }) => {
        const out = await gate.run(principal, { name: 'sandbox.ports.add', sandboxId: params.id ?? '', input: body, schema: Publish, run: async (req) => {
          const rec = svc.sandboxes.get(principal.tenant, params.id ?? '');
          const e = await net(svc).addPort(rec.id, req.publish);
          return view({ port: e.port, host: e.host, host_port: e.hostPort });
        } });
        void reply.code(201);
        return out;
      },
    }),
    route({
      method: 'DELETE', url: '/v1/sandboxes/:id/ports/:port', operationId: 'removeSandboxPort', summary: 'Stop exposing a port.', tag: 'network', auth: true,
      responses: { 204: { description: 'Removed' } },
      handler: async ({ principal, params, reply }) => {
        await gate.run(principal, { name: 'sandbox.ports.remove', sandboxId: params.id ?? '', target: { port: params.port ?? '' }, run: () => {
          const rec = svc.sandboxes.get(principal.tenant, params.id ?? '');
          net(svc).removePort(rec.id, portParam(params.port));
        } });
        void reply.code(204);
        return undefined;
      },
    }),
    ...proxyMethods.map((method) => route({
      method, url: '/v1/sandboxes/:id/ports/:port/proxy/*', operationId: `proxySandboxPort${method}`, summary: "HTTP to a port inside a running sandbox, under the daemon's auth (the path after /proxy is passed on; the daemon's credentials are not).", tag: 'network', auth: true,
      rawBody: true,
      responses: { 200: { description: "The sandbox server's answer, as it sent it", contentType: '*/*' } },
      handler: async ({ principal, params, req, reply, raw }) => {
        const port = portParam(params.port);
        const inner: Socket = await gate.run(principal, { name: 'sandbox.ports.proxy', sandboxId: params.id ?? '', target: { port: String(port) }, run: () => {
          const rec = svc.sandboxes.get(principal.tenant, params.id ?? '');
          return net(svc).openPort(rec.id, port);
        } });
        const q = req.url.indexOf('?');
        const path = `/${params['*'] ?? ''}${q >= 0 ? req.url.slice(q) : ''}`;
        const body = raw ?? (Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0));
        inner.write(proxiedHead(method, path, req.headers, port, body.length));
        if (body.length > 0) inner.write(body);
        relayAnswer(inner, reply);
        return undefined;
      },
    })),
  ];
}
