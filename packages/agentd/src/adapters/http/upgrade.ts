import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import type { AuthRequest } from '../../auth/types.js';
import { AgentdError } from '../../core/errors.js';
import { toHttpError } from './errors.js';
import { proxiedHead } from './routes/ports.js';
import type { HttpServices } from './services.js';

const PROXY_PATH = /^\/v1\/sandboxes\/([^/?]+)\/ports\/(\d{1,5})\/proxy(\/[^?]*)?(\?.*)?$/;

/**
 * WebSocket (any HTTP upgrade) to a sandbox port through the daemon's own listener:
 * `GET /v1/sandboxes/{id}/ports/{port}/proxy/...` with `Upgrade:`. node:http hands upgrades
 * to this event, not to the routes, so the same steps run here: the auth chain on the
 * headers, the gate (policy, audit) as `sandbox.ports.proxy`, then the bytes pass untouched.
 */
export function attachUpgrades(server: Server, svc: HttpServices, others: (req: IncomingMessage, socket: Duplex, head: Buffer) => void): void {
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const m = PROXY_PATH.exec(req.url ?? '');
    // Every other upgrade (the commands WebSocket) is routed by the app like any request.
    if (!m) return others(req, socket, head);
    socket.on('error', () => undefined);
    if (!svc.network) return void refuse(socket, new AgentdError('NOT_FOUND', `no upgrade route for ${(req.url ?? '').slice(0, 200)}`));
    void upgrade(req, socket, head, m, svc).catch((err: unknown) => refuse(socket, err));
  });
}

async function upgrade(req: IncomingMessage, socket: Duplex, head: Buffer, m: RegExpExecArray, svc: HttpServices): Promise<void> {
  const net = svc.network;
  if (!net) throw new AgentdError('UNAVAILABLE', 'no network service');
  const peer = svc.peerOf(req.socket);
  const authReq: AuthRequest = {
    headers: req.headers, method: req.method ?? 'GET', path: req.url ?? '/',
    ...(peer ? { peer } : {}), ...(req.socket.remoteAddress ? { remoteAddress: req.socket.remoteAddress } : {}), transport: peer ? 'unix' : 'http',
  };
  const decided = await svc.auth().authenticateHeaders(authReq);
  const principal = decided === 'body' ? await svc.auth().authenticate(authReq) : decided;
  const id = decodeURIComponent(m[1] ?? '');
  const port = Number(m[2]);
  if (port < 1 || port > 65535) throw new AgentdError('INVALID_ARGUMENT', `port ${port} must be 1-65535`);
  const inner = await svc.pipeline.gate.run(principal, { name: 'sandbox.ports.proxy', sandboxId: id, target: { port: String(port) }, run: () => {
    const rec = svc.sandboxes.get(principal.tenant, id);
    return net.openPort(rec.id, port);
  } });
  const headers = { ...req.headers };
  let text = proxiedHead(req.method ?? 'GET', `${m[3] ?? '/'}${m[4] ?? ''}`, headers, port, 0);
  // An upgrade keeps its Upgrade and Connection headers (proxiedHead drops hop-by-hop ones for plain requests).
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
}

function refuse(socket: Duplex, err: unknown): void {
  const { status, body } = toHttpError(err);
  const json = JSON.stringify(body);
  socket.end(`HTTP/1.1 ${status} ${status === 401 ? 'Unauthorized' : 'Error'}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(json)}\r\nConnection: close\r\n\r\n${json}`);
}
